#pragma once
// What each kind of operation is, in one table the backends read: its name, the io_uring opcode
// the probe must find, the readiness the epoll backend waits for and how it runs it. Adding an
// OpCode means one row here, one case in UringBackend::prepare() and, for a kind epoll performs
// after readiness, one case in EpollBackend::attempt().

#include <linux/io_uring.h>  // IORING_OP_* numbers: the kernel's header, no liburing needed
#include <sys/epoll.h>

#include <array>
#include <cstdint>

#include <ringloop/io/operation.hpp>

namespace ringloop::io {

/// How the epoll backend runs an operation kind.
enum class EpollMethod : std::uint8_t {
  attempt_then_wait,  ///< try the system call; if it would block, wait for `epoll_interest`
  close,              ///< close(2) after failing the operations parked on the descriptor
  timer,              ///< the backend's own deadline heap
  unsupported,        ///< answered with -EOPNOTSUPP (regular files, multishot: see Backend)
};

/// One kind of operation.
struct OperationTraits {
  OpCode code;
  const char* name;
  int uring_opcode;              ///< what UringBackend submits; the probe checks the kernel has it
  std::uint32_t epoll_interest;  ///< readiness awaited by attempt_then_wait (poll: poll_events)
  EpollMethod epoll_method;
  bool produces_descriptor;       ///< a result >= 0 is a new descriptor (closed if nobody takes it)
  bool retried_when_interrupted;  ///< -EINTR/-EAGAIN are resubmitted (never close: see below)
};

// close(2) is never repeated: Linux releases the number even when it answers EINTR, and a second
// close could hit a descriptor opened meanwhile under the same number.
inline constexpr std::array<OperationTraits, 16> operation_traits{{
    {OpCode::nop, "nop", IORING_OP_NOP, 0, EpollMethod::attempt_then_wait, false, true},
    {OpCode::read, "read", IORING_OP_READ, EPOLLIN, EpollMethod::attempt_then_wait, false, true},
    {OpCode::write, "write", IORING_OP_WRITE, EPOLLOUT, EpollMethod::attempt_then_wait, false,
     true},
    {OpCode::recv, "recv", IORING_OP_RECV, EPOLLIN, EpollMethod::attempt_then_wait, false, true},
    {OpCode::send, "send", IORING_OP_SEND, EPOLLOUT, EpollMethod::attempt_then_wait, false, true},
    {OpCode::accept, "accept", IORING_OP_ACCEPT, EPOLLIN, EpollMethod::attempt_then_wait, true,
     true},
    {OpCode::connect, "connect", IORING_OP_CONNECT, EPOLLOUT, EpollMethod::attempt_then_wait, false,
     true},
    {OpCode::poll, "poll", IORING_OP_POLL_ADD, 0, EpollMethod::attempt_then_wait, false, true},
    {OpCode::close, "close", IORING_OP_CLOSE, 0, EpollMethod::close, false, false},
    {OpCode::timeout, "timeout", IORING_OP_TIMEOUT, 0, EpollMethod::timer, false, true},
    {OpCode::openat, "openat", IORING_OP_OPENAT, 0, EpollMethod::unsupported, true, true},
    {OpCode::fsync, "fsync", IORING_OP_FSYNC, 0, EpollMethod::unsupported, false, true},
    {OpCode::recvmsg, "recvmsg", IORING_OP_RECVMSG, EPOLLIN, EpollMethod::attempt_then_wait, false,
     true},
    {OpCode::sendmsg, "sendmsg", IORING_OP_SENDMSG, EPOLLOUT, EpollMethod::attempt_then_wait, false,
     true},
    {OpCode::accept_multishot, "accept (multishot)", IORING_OP_ACCEPT, 0, EpollMethod::unsupported,
     true, true},
    {OpCode::recv_multishot, "recv (multishot)", IORING_OP_RECV, 0, EpollMethod::unsupported, false,
     true},
}};

/// The row of `code`.
constexpr const OperationTraits& traits_of(OpCode code) noexcept {
  return operation_traits[static_cast<std::size_t>(code)];
}

// Rows are indexed by OpCode: each row must sit at its code's place.
constexpr bool rows_in_code_order() {
  for (std::size_t i = 0; i < operation_traits.size(); ++i) {
    if (static_cast<std::size_t>(operation_traits[i].code) != i) return false;
  }
  return true;
}
static_assert(rows_in_code_order(), "operation_traits rows must follow OpCode's order");
static_assert(operation_traits.size() == static_cast<std::size_t>(OpCode::recv_multishot) + 1,
              "every OpCode needs a row in operation_traits");

}  // namespace ringloop::io
