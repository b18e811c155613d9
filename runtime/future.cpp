#include <ringloop/runtime/future.hpp>

#include <ringloop/runtime/loop.hpp>

#include "loop_access.hpp"

namespace ringloop::detail {

FutureWaiter::~FutureWaiter() {
  if (hook.linked()) future->remove_waiter(*this);
}

// asyncio semantics: cancelling a task that awaits a future cancels the future; for an awaited
// task this requests its cancellation. Either way this waiter is woken when it completes.
void FutureWaiter::cancel_wait() {
  future->cancel();
}

FutureBase::FutureBase(Loop& loop) : loop_(&loop) {
  LoopAccess::link_future(loop, *this);
}

FutureBase::~FutureBase() {
  Loop* const owner = loop_;  // unlink_future() clears loop_; the report below still needs it
  if (owner) LoopAccess::unlink_future(*owner, *this);
  for (DoneCallback& entry : callbacks_)
    entry.callback->release();
  if (status_ == Status::failed && !retrieved_) {
    ExceptionContext context{"Future exception was never retrieved", error_, {}};
    if (owner) {
      owner->call_exception_handler(context);
    } else {
      Loop::default_exception_handler(context);
    }
  }
}

void FutureBase::require_pending(const char* operation) const {
  if (done()) {
    throw InvalidStateError(std::string(operation) + "() on a " + describe_owner() +
                            " that is already done");
  }
  if (!loop_)
    throw LoopError(std::string(operation) + "() on a " + describe_owner() +
                    " whose loop is closed");
}

std::string FutureBase::describe_owner() const {
  return "future";
}

bool FutureBase::cancel() {
  if (done()) return false;
  complete(Status::cancelled);
  return true;
}

void FutureBase::set_exception(std::exception_ptr error) {
  require_pending("set_exception");
  if (!error) throw std::invalid_argument("set_exception() needs a non-null exception_ptr");
  error_ = std::move(error);
  complete(Status::failed);
}

std::exception_ptr FutureBase::exception() {
  if (status_ == Status::pending) {
    throw InvalidStateError("exception() on a " + describe_owner() + " that is not done");
  }
  if (status_ == Status::cancelled) throw CancelledError{};
  retrieved_ = true;
  return error_;
}

void FutureBase::check_result() {
  switch (status_) {
    case Status::pending:
      throw InvalidStateError("result() on a " + describe_owner() + " that is not done");
    case Status::cancelled:
      throw CancelledError{};
    case Status::failed:
      retrieved_ = true;
      std::rethrow_exception(error_);
    case Status::finished:
      return;
  }
}

void FutureBase::add_done_callback(CallbackBase* callback) {
  callback->add_ref();
  if (!loop_) {
    callback->release();
    throw LoopError("add_done_callback() on a " + describe_owner() + " whose loop is closed");
  }
  if (done()) {
    LoopAccess::ready(*loop_).push(callback);
  } else {
    callbacks_.push_back({callback, next_order_++});
  }
}

void FutureBase::add_waiter(FutureWaiter& waiter) noexcept {
  waiters_.push_back(waiter);
  waiter.order = next_order_++;
}

void FutureBase::remove_waiter(FutureWaiter& waiter) noexcept {
  waiters_.remove(waiter);
}

void FutureBase::complete(Status status) {
  status_ = status;
  // Awaiters and callbacks go to the ready queue in the order they were registered.
  ReadyQueue& ready = LoopAccess::ready(*loop_);
  std::size_t next_callback = 0;
  while (FutureWaiter* waiter = waiters_.pop_front()) {
    for (; next_callback < callbacks_.size() && callbacks_[next_callback].order < waiter->order;
         ++next_callback) {
      ready.push(callbacks_[next_callback].callback);  // our reference moves along
    }
    waiter->task->wake();
  }
  for (; next_callback < callbacks_.size(); ++next_callback) {
    ready.push(callbacks_[next_callback].callback);
  }
  callbacks_.clear();
}

void FutureBase::abandon_outcome() noexcept {
  status_ = Status::cancelled;
  for (DoneCallback& entry : callbacks_)
    entry.callback->release();
  callbacks_.clear();
}

}  // namespace ringloop::detail
