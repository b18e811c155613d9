#pragma once
// Plain-socket helpers of BlockingClient (private to ringloop::http): an owning descriptor,
// deadlines that name the timeout they come from, connect over every resolved address, and
// send/receive bounded by a deadline. The socket stays non-blocking and every wait is a poll(),
// so a deadline is met to the millisecond whatever the kernel's buffers do, without
// SO_RCVTIMEO's per-call (not per-request) semantics.

#include <chrono>
#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include <ringloop/http/url.hpp>

namespace ringloop::http::detail {

using SteadyClock = std::chrono::steady_clock;

/// Owns a descriptor; closes it when destroyed unless released.
class SocketFd {
 public:
  SocketFd() = default;
  explicit SocketFd(int fd) noexcept : fd_(fd) {}
  SocketFd(SocketFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  SocketFd& operator=(SocketFd&& other) noexcept;
  SocketFd(const SocketFd&) = delete;
  SocketFd& operator=(const SocketFd&) = delete;
  ~SocketFd() { reset(); }

  [[nodiscard]] int get() const noexcept { return fd_; }
  [[nodiscard]] explicit operator bool() const noexcept { return fd_ >= 0; }
  /// Gives the descriptor up without closing it.
  int release() noexcept { return std::exchange(fd_, -1); }
  /// Closes the descriptor (if any) and takes `fd`.
  void reset(int fd = -1) noexcept;

 private:
  int fd_ = -1;
};

/// When a wait must end, and which timeout says so (for the TimeoutError's message).
struct Deadline {
  std::optional<SteadyClock::time_point> at;  ///< unset: no limit
  const char* name = "";                      ///< "connect", "total", "first_byte", "idle_read"
  std::chrono::milliseconds length{0};        ///< the configured timeout

  /// A deadline `timeout` from `start` (none when `timeout` is unset).
  static Deadline after(SteadyClock::time_point start,
                        std::optional<std::chrono::milliseconds> timeout, const char* name);
  /// Whichever of the two ends first.
  [[nodiscard]] Deadline earliest(const Deadline& other) const;
};

/// Throws ringloop::TimeoutError: "<url>: <name> timeout (<length> ms) expired while <doing>".
[[noreturn]] void throw_timeout(const std::string& url, const Deadline& deadline,
                                std::string_view doing);

/// Resolves `url`'s host and connects to its addresses in turn until one answers, all within
/// `deadline`. Throws ResolveError, std::system_error ("<url>: connect: <cause>", the last
/// address's), or TimeoutError. The socket is non-blocking, close-on-exec, with TCP_NODELAY.
SocketFd connect_to(const Url& url, const std::string& url_text, const Deadline& deadline);

/// Sends all of `data` (MSG_NOSIGNAL). Throws std::system_error ("<url>: send: ...") or
/// TimeoutError.
void send_all(int fd, std::string_view data, const std::string& url_text, const Deadline& deadline);

/// Receives what is there (waiting for something first), at most `buffer.size()` bytes; 0 at the
/// end of the stream. Throws std::system_error ("<url>: receive: ...") or TimeoutError.
std::size_t receive_some(int fd, std::span<char> buffer, const std::string& url_text,
                         const Deadline& deadline, std::string_view doing);

/// Whether an idle keep-alive connection is still usable: nothing to read (no EOF, no stray
/// bytes, no error) right now.
[[nodiscard]] bool idle_connection_usable(int fd) noexcept;

}  // namespace ringloop::http::detail
