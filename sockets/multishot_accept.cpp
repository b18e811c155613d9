#include "multishot_accept.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

namespace ringloop::detail {

MultishotAccept::MultishotAccept(int listening_descriptor) noexcept {
  operation_.code = io::OpCode::accept_multishot;
  operation_.fd = listening_descriptor;
  operation_.flags = SOCK_NONBLOCK | SOCK_CLOEXEC;
  operation_.on_complete = &MultishotAccept::on_complete;
  operation_.on_teardown = &MultishotAccept::on_teardown;
  operation_.user_data = this;
}

MultishotAccept::~MultishotAccept() {
  for (const int descriptor : queue_)
    ::close(descriptor);
}

void MultishotAccept::arm(io::Backend& backend) {
  if (operation_.in_flight() || orphaned_) return;
  backend_ = &backend;
  backend.submit(operation_);
}

int MultishotAccept::take_descriptor() noexcept {
  if (queue_.empty()) return -1;
  const int descriptor = queue_.front();
  queue_.pop_front();
  return descriptor;
}

void MultishotAccept::orphan() noexcept {
  orphaned_ = true;
  for (const int descriptor : queue_)
    ::close(descriptor);
  queue_.clear();
  if (!operation_.in_flight()) {
    delete this;
    return;
  }
  if (operation_.state == io::OpState::in_flight) backend_->cancel(operation_);
}

void MultishotAccept::on_complete(io::Operation& operation, std::int32_t result) {
  static_cast<MultishotAccept*>(operation.user_data)->receive(result, true);
}

// The loop is going away: keep or close what arrives, but wake nobody and submit nothing.
void MultishotAccept::on_teardown(io::Operation& operation, std::int32_t result) {
  static_cast<MultishotAccept*>(operation.user_data)->receive(result, false);
}

void MultishotAccept::receive(std::int32_t result, bool loop_running) {
  if (orphaned_) {
    if (result >= 0) ::close(result);
    if (!operation_.in_flight()) delete this;  // the kernel's last word: nothing refers to us
    return;
  }
  if (result >= 0) {
    queue_.push_back(result);
    if (loop_running && queue_.size() >= kQueueLimit &&
        operation_.state == io::OpState::in_flight) {
      backend_->cancel(operation_);  // nobody is taking them: leave the rest in the backlog
    }
  } else if (result == -EINVAL) {
    // A kernel older than 5.19 refuses the multishot flag (so does a socket that does not
    // listen: the one-by-one accept the listener falls back to reports that properly).
    unsupported_ = true;
  } else if (result != -ECANCELED) {
    error_ = -result;  // EMFILE and the like end the operation: accept() decides what follows
  }
  if (loop_running) arrived_.set();
}

}  // namespace ringloop::detail
