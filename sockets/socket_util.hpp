#pragma once
// Small helpers shared by the socket classes (not part of the public API).

#include <string>

#include <ringloop/runtime/io_operation.hpp>
#include <ringloop/runtime/loop.hpp>
#include <ringloop/sockets/socket_address.hpp>

#include "runtime/system_error.hpp"

namespace ringloop::detail {

/// A non-blocking, close-on-exec socket. Throws std::system_error naming `address`.
int open_socket(const SocketAddress& address, int type);

/// getsockname(2)/getpeername(2) as a SocketAddress.
SocketAddress socket_name(int descriptor, bool peer);

/// Asks the backend to cancel `awaiting` if it is in flight (closing a socket with a pending
/// operation in another task: that operation then completes and its task sees the close).
inline void cancel_pending(IoOperation* awaiting) noexcept {
  if (awaiting && awaiting->operation().in_flight()) {
    Loop::current().backend().cancel(awaiting->operation());
  }
}

/// Publishes an operation in `slot` while it is awaited, so close() can cancel it; clears the
/// slot however the await ends (result, error or CancelledError).
class PendingOperation {
 public:
  PendingOperation(IoOperation*& slot, IoOperation& operation) noexcept
      : slot_(slot), operation_(&operation) {
    slot_ = operation_;
  }
  PendingOperation(const PendingOperation&) = delete;
  PendingOperation& operator=(const PendingOperation&) = delete;
  ~PendingOperation() {
    if (slot_ == operation_) slot_ = nullptr;
  }

 private:
  IoOperation*& slot_;
  IoOperation* operation_;
};

}  // namespace ringloop::detail
