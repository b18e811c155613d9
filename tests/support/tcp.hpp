#pragma once
// What the TCP tests share (test_tcp.cpp, test_tcp_cancellation.cpp): a deadline for one test,
// a pattern to fill streams with, a port nobody listens on, a listener whose backlog is full (a
// connect that hangs), and the tasks that echo and compare.

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "loop_fixture.hpp"
#include "sockets.hpp"

namespace ringloop::testing {

using namespace std::chrono_literals;

/// Upper bound for one test's coroutine: a hang becomes a TimeoutError (a failure), not a stuck
/// test run. Every test normally finishes far sooner.
inline constexpr Duration test_deadline = 10s;

inline constexpr std::size_t KiB = 1024;
inline constexpr std::size_t MiB = 1024 * KiB;

/// The byte at `offset` of a test stream: a hash of the offset (not periodic, not zero at offset
/// 0), so a zero-filled, lost, repeated or reordered chunk of any size shows.
inline std::byte pattern_byte(std::size_t offset) {
  std::uint64_t mixed = (static_cast<std::uint64_t>(offset) + 1) * 0x9E3779B97F4A7C15ull;
  mixed ^= mixed >> 29;
  return static_cast<std::byte>(mixed >> 24);
}

inline std::vector<std::byte> make_pattern(std::size_t size) {
  std::vector<std::byte> bytes(size);
  for (std::size_t i = 0; i < size; ++i)
    bytes[i] = pattern_byte(i);
  return bytes;
}

/// Offset of the first byte of `received` that differs from the pattern, or SIZE_MAX.
inline std::size_t first_pattern_mismatch(std::span<const std::byte> received) {
  for (std::size_t i = 0; i < received.size(); ++i) {
    if (received[i] != pattern_byte(i)) return i;
  }
  return SIZE_MAX;
}

/// Operations a listener may keep in flight between accepts: on io_uring its multishot accept
/// stays armed for the next connection; elsewhere each accept is its own operation.
inline std::size_t armed_accepts() {
  return Loop::current().backend().multishot_accept() ? 1 : 0;
}

/// Closes `listener` and lets the backend confirm the cancellation of its multishot accept.
inline Task<> close_listener_and_settle(TcpListener* listener) {
  co_await listener->close();
  for (int i = 0; i < 100 && in_flight_now() != 0; ++i)
    co_await yield_now();
}

inline bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

inline int socket_option(int descriptor, int level, int name) {
  int value = -1;
  socklen_t length = sizeof value;
  if (::getsockopt(descriptor, level, name, &value, &length) != 0) return -1;
  return value;
}

/// Reads `stream` to its end into `received`.
inline Task<> read_to_end(StreamSocket* stream, std::vector<std::byte>* received) {
  std::vector<std::byte> buffer(64 * KiB);
  for (;;) {
    const std::size_t got = co_await stream->read_some(buffer);
    if (got == 0) break;
    received->insert(received->end(), buffer.begin(), buffer.begin() + static_cast<long>(got));
  }
}

inline Task<> write_all_bytes(StreamSocket* stream, const std::vector<std::byte>* bytes) {
  co_await stream->write_all(*bytes);
}

inline Task<> write_all_then_shutdown(StreamSocket* stream, const std::vector<std::byte>* bytes) {
  co_await stream->write_all(*bytes);
  co_await stream->shutdown_write();
}

/// A TCP port on 127.0.0.1 (or ::1) that nobody listens on: a socket bound to it without
/// listen(), held open so no other process takes the port meanwhile. A SYN to it gets a reset.
class UnlistenedPort {
 public:
  explicit UnlistenedPort(bool ipv6 = false) {
    const SocketAddress any_port = SocketAddress::loopback(0, ipv6);
    descriptor_ = ::socket(any_port.family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (descriptor_ < 0 || ::bind(descriptor_, any_port.native(), any_port.native_length()) != 0) {
      throw std::system_error(errno, std::system_category(), "binding " + any_port.to_string());
    }
    sockaddr_storage storage{};
    socklen_t length = sizeof storage;
    ::getsockname(descriptor_, reinterpret_cast<sockaddr*>(&storage), &length);
    address_ = SocketAddress::from_native(reinterpret_cast<sockaddr*>(&storage), length);
  }
  UnlistenedPort(const UnlistenedPort&) = delete;
  UnlistenedPort& operator=(const UnlistenedPort&) = delete;
  ~UnlistenedPort() {
    if (descriptor_ >= 0) ::close(descriptor_);
  }
  [[nodiscard]] const SocketAddress& address() const noexcept { return address_; }

 private:
  int descriptor_ = -1;
  SocketAddress address_;
};

/// A listener (backlog 0) that never accepts, with its one queue slot taken by a connection:
/// Linux drops the SYNs of any further connect to it, which then stays pending (see the top of
/// test_tcp.cpp). Built outside the loop; hangs() says whether a probe connect really stayed
/// pending.
class FullListener {
 public:
  FullListener() : listener_(TcpListener::bind(SocketAddress::loopback(0), 0)) {
    address_ = listener_.local_address();
    queued_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (queued_ >= 0 && ::connect(queued_, address_.native(), address_.native_length()) == 0) {
      hangs_ = probe_hangs();
    }
  }
  FullListener(const FullListener&) = delete;
  FullListener& operator=(const FullListener&) = delete;
  ~FullListener() {
    if (queued_ >= 0) ::close(queued_);
  }

  [[nodiscard]] bool hangs() const noexcept { return hangs_; }
  [[nodiscard]] const SocketAddress& address() const noexcept { return address_; }

 private:
  [[nodiscard]] bool probe_hangs() const {
    const int probe = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (probe < 0) return false;
    bool pending = false;
    if (::connect(probe, address_.native(), address_.native_length()) != 0 &&
        errno == EINPROGRESS) {
      pollfd waiting{probe, POLLOUT, 0};
      pending = ::poll(&waiting, 1, 100) == 0;
    }
    ::close(probe);
    return pending;
  }

  TcpListener listener_;
  SocketAddress address_;
  int queued_ = -1;
  bool hangs_ = false;
};

inline constexpr const char* no_hanging_connect =
    "no connect hangs here (a full backlog-0 listener did not hold a probe connect pending)";

inline bool ipv6_loopback_available() {
  const int probe = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (probe < 0) return false;
  const SocketAddress address = SocketAddress::loopback(0, true);
  const bool bound = ::bind(probe, address.native(), address.native_length()) == 0;
  ::close(probe);
  return bound;
}

}  // namespace ringloop::testing
