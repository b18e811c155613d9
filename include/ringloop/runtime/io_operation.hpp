#pragma once
// Awaitable backend operations on file descriptors: the bridge from tasks to io/. The operation
// record lives in the awaiter, inside the suspended coroutine frame, and the task resumes only
// when the backend has delivered its completion — so a cancelled read cannot write into freed
// memory (DESIGN.md rule 1): cancellation asks the backend, then waits for its answer.

#include <fcntl.h>

#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <span>

#include <ringloop/io/operation.hpp>
#include <ringloop/runtime/clock.hpp>
#include <ringloop/runtime/future.hpp>

namespace ringloop {

class Loop;

/// One awaitable operation. co_await gives the result (bytes moved, new descriptor, poll events)
/// or throws std::system_error naming the operation and descriptor. Interrupted operations
/// (-EINTR, -EAGAIN) are resubmitted. If the awaiting task is cancelled, the operation is
/// cancelled in the backend and CancelledError is raised once the backend confirms; if the
/// operation finished first, its result is returned and the cancellation waits for the next await.
class [[nodiscard]] IoOperation final : public detail::Suspension {
 public:
  explicit IoOperation(io::OpCode code) noexcept { operation_.code = code; }
  /// Moves a not-yet-awaited operation (factories return by value; never move one in flight).
  IoOperation(IoOperation&& other) noexcept
      : operation_(other.operation_), return_errors_(other.return_errors_) {}
  IoOperation(const IoOperation&) = delete;
  IoOperation& operator=(const IoOperation&) = delete;
  IoOperation& operator=(IoOperation&&) = delete;

  /// The record to fill before awaiting.
  io::Operation& operation() noexcept { return operation_; }
  /// Makes co_await give a failure as its negative errno instead of throwing std::system_error
  /// (CancelledError is still thrown): for callers that branch on the errno (EMFILE, EAGAIN...).
  void return_errors() noexcept { return_errors_ = true; }

  bool await_ready() const noexcept { return false; }
  bool await_suspend(std::coroutine_handle<> awaiting);
  std::int32_t await_resume();
  void cancel_wait() override;

 private:
  static void on_complete(io::Operation& operation, std::int32_t result);

  io::Operation operation_;
  Loop* loop_ = nullptr;
  detail::TaskStateBase* task_ = nullptr;
  std::int32_t result_ = 0;
  bool suspended_ = false;
  bool return_errors_ = false;
};

/// Descriptor operations as awaitables (the layer sockets/ and files build on).
namespace ops {

/// read(2) (or pread(2) when `offset` is given) into `buffer`; 0 means end of file.
[[nodiscard]] IoOperation read(int fd, std::span<std::byte> buffer,
                               std::uint64_t offset = static_cast<std::uint64_t>(-1)) noexcept;
/// write(2) (or pwrite(2)) from `buffer`; may write less than asked.
[[nodiscard]] IoOperation write(int fd, std::span<const std::byte> buffer,
                                std::uint64_t offset = static_cast<std::uint64_t>(-1)) noexcept;
/// recv(2); 0 means the peer closed its side.
[[nodiscard]] IoOperation recv(int fd, std::span<std::byte> buffer, int flags = 0) noexcept;
/// send(2) with MSG_NOSIGNAL: a closed peer gives EPIPE, never SIGPIPE.
[[nodiscard]] IoOperation send(int fd, std::span<const std::byte> buffer, int flags = 0) noexcept;
/// accept4(2) with SOCK_CLOEXEC|SOCK_NONBLOCK; `peer` may be null.
[[nodiscard]] IoOperation accept(int fd, sockaddr* peer = nullptr,
                                 socklen_t peer_length = 0) noexcept;
/// recvmsg(2) into `message` (which, with its iovecs and name buffer, must outlive the await).
[[nodiscard]] IoOperation recvmsg(int fd, msghdr* message, int flags = 0) noexcept;
/// sendmsg(2) of `message` with MSG_NOSIGNAL (it must outlive the await).
[[nodiscard]] IoOperation sendmsg(int fd, msghdr* message, int flags = 0) noexcept;
/// connect(2) on a non-blocking socket, completing when connected. `address` must outlive it.
[[nodiscard]] IoOperation connect(int fd, const sockaddr* address, socklen_t length) noexcept;
/// Waits until `events` (POLLIN, POLLOUT...) are ready; gives the events that fired.
[[nodiscard]] IoOperation poll(int fd, std::uint32_t events) noexcept;
/// close(2). With epoll, operations still waiting on `fd` complete with ECANCELED.
[[nodiscard]] IoOperation close(int fd) noexcept;
/// openat(2) of `path` relative to `directory` (AT_FDCWD: the working directory); gives the new
/// descriptor. `path` must stay valid until the await ends. Native on io_uring only: the epoll
/// backend answers EOPNOTSUPP (see io::Backend::native_file_io()).
[[nodiscard]] IoOperation openat(const char* path, int flags, mode_t mode,
                                 int directory = AT_FDCWD) noexcept;
/// fsync(2), or fdatasync(2) when `data_only`. Native on io_uring only (epoll: EOPNOTSUPP).
[[nodiscard]] IoOperation fsync(int fd, bool data_only = false) noexcept;
/// A backend timer (IORING_OP_TIMEOUT / the epoll backend's timeout list); gives 0 when it expires.
[[nodiscard]] IoOperation timeout(Duration duration) noexcept;
/// timeout() with any std::chrono duration; one beyond the clock's range expires never.
template <class Rep, class Period>
[[nodiscard]] IoOperation timeout(std::chrono::duration<Rep, Period> duration) noexcept {
  return timeout(detail::saturating_duration(duration));
}
/// Completes with 0 through the backend; measures the machinery itself.
[[nodiscard]] IoOperation nop() noexcept;

}  // namespace ops
}  // namespace ringloop
