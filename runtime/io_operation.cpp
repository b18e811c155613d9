#include <ringloop/runtime/io_operation.hpp>

#include <cerrno>
#include <string>
#include <system_error>

#include <ringloop/detail/task_state.hpp>
#include <ringloop/runtime/loop.hpp>

#include "runtime/system_error.hpp"

namespace ringloop {

bool IoOperation::await_suspend(std::coroutine_handle<> awaiting) {
  detail::TaskStateBase& task = detail::require_running_task("an I/O operation");
  if (task.cancel_requested()) return false;
  task_ = &task;
  loop_ = task.loop();
  operation_.on_complete = &IoOperation::on_complete;
  operation_.user_data = this;
  loop_->backend().submit(operation_);
  suspended_ = true;
  task.suspend(this, awaiting);
  return true;
}

// Interrupted operations never get here: the backend resubmits them (io::Backend::deliver).
void IoOperation::on_complete(io::Operation& operation, std::int32_t result) {
  auto* self = static_cast<IoOperation*>(operation.user_data);
  self->result_ = result;
  self->task_->wake();
}

void IoOperation::cancel_wait() {
  // The task stays parked: it resumes from on_complete, once the backend is done with the buffer.
  loop_->backend().cancel(operation_);
}

std::int32_t IoOperation::await_resume() {
  detail::TaskStateBase& task = *detail::running_task;
  if (!suspended_) task.throw_if_cancel_requested();
  const std::int32_t result = result_;
  if (result == -ECANCELED && task.cancel_requested()) task.throw_if_cancel_requested();
  if (result >= 0) return result;
  if (operation_.code == io::OpCode::timeout && result == -ETIME) return 0;
  if (return_errors_) return result;
  detail::throw_operation_error(-result, io::op_name(operation_.code), operation_.fd);
}

namespace ops {
namespace {

IoOperation& with_buffer(IoOperation& awaiter, int fd, const void* data, std::size_t size,
                         std::uint64_t offset) noexcept {
  io::Operation& operation = awaiter.operation();
  operation.fd = fd;
  operation.buffer = const_cast<void*>(data);
  operation.length = static_cast<std::uint32_t>(std::min(size, io::max_transfer_bytes));
  operation.offset = offset;
  return awaiter;
}

IoOperation with_message(io::OpCode code, int fd, msghdr* message, int flags) noexcept {
  IoOperation awaiter(code);
  awaiter.operation().fd = fd;
  awaiter.operation().message = message;
  awaiter.operation().flags = flags;
  return awaiter;
}

}  // namespace

IoOperation read(int fd, std::span<std::byte> buffer, std::uint64_t offset) noexcept {
  IoOperation awaiter(io::OpCode::read);
  with_buffer(awaiter, fd, buffer.data(), buffer.size(), offset);
  return awaiter;
}

IoOperation write(int fd, std::span<const std::byte> buffer, std::uint64_t offset) noexcept {
  IoOperation awaiter(io::OpCode::write);
  with_buffer(awaiter, fd, buffer.data(), buffer.size(), offset);
  return awaiter;
}

IoOperation recv(int fd, std::span<std::byte> buffer, int flags) noexcept {
  IoOperation awaiter(io::OpCode::recv);
  with_buffer(awaiter, fd, buffer.data(), buffer.size(), 0).operation().flags = flags;
  return awaiter;
}

IoOperation recvmsg(int fd, msghdr* message, int flags) noexcept {
  return with_message(io::OpCode::recvmsg, fd, message, flags);
}

IoOperation sendmsg(int fd, msghdr* message, int flags) noexcept {
  return with_message(io::OpCode::sendmsg, fd, message, flags);
}

IoOperation send(int fd, std::span<const std::byte> buffer, int flags) noexcept {
  IoOperation awaiter(io::OpCode::send);
  with_buffer(awaiter, fd, buffer.data(), buffer.size(), 0).operation().flags = flags;
  return awaiter;
}

IoOperation accept(int fd, sockaddr* peer, socklen_t peer_length) noexcept {
  IoOperation awaiter(io::OpCode::accept);
  io::Operation& operation = awaiter.operation();
  operation.fd = fd;
  operation.address = peer;
  operation.address_length = peer_length;
  operation.flags = SOCK_CLOEXEC | SOCK_NONBLOCK;
  return awaiter;
}

IoOperation connect(int fd, const sockaddr* address, socklen_t length) noexcept {
  IoOperation awaiter(io::OpCode::connect);
  io::Operation& operation = awaiter.operation();
  operation.fd = fd;
  operation.address = const_cast<sockaddr*>(address);
  operation.address_length = length;
  return awaiter;
}

IoOperation poll(int fd, std::uint32_t events) noexcept {
  IoOperation awaiter(io::OpCode::poll);
  awaiter.operation().fd = fd;
  awaiter.operation().poll_events = events;
  return awaiter;
}

IoOperation close(int fd) noexcept {
  IoOperation awaiter(io::OpCode::close);
  awaiter.operation().fd = fd;
  return awaiter;
}

IoOperation openat(const char* path, int flags, mode_t mode, int directory) noexcept {
  IoOperation awaiter(io::OpCode::openat);
  io::Operation& operation = awaiter.operation();
  operation.fd = directory;
  operation.path = path;
  operation.flags = flags;
  operation.mode = mode;
  return awaiter;
}

IoOperation fsync(int fd, bool data_only) noexcept {
  IoOperation awaiter(io::OpCode::fsync);
  awaiter.operation().fd = fd;
  awaiter.operation().flags = data_only ? 1 : 0;  // IORING_FSYNC_DATASYNC
  return awaiter;
}

IoOperation timeout(Duration duration) noexcept {
  IoOperation awaiter(io::OpCode::timeout);
  const auto nanoseconds = std::max<std::int64_t>(
      0, std::chrono::duration_cast<std::chrono::nanoseconds>(duration).count());
  awaiter.operation().timeout.tv_sec = nanoseconds / 1'000'000'000;
  awaiter.operation().timeout.tv_nsec = nanoseconds % 1'000'000'000;
  return awaiter;
}

IoOperation nop() noexcept {
  return IoOperation(io::OpCode::nop);
}

}  // namespace ops
}  // namespace ringloop
