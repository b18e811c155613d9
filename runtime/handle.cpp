#include <ringloop/runtime/handle.hpp>

#include <ringloop/runtime/loop.hpp>

#include "loop_access.hpp"

namespace ringloop::detail {

void CallbackBase::run() {
  IntrusivePtr<CallbackBase> self(this);
  release();  // the ready queue's reference; `self` keeps the callback alive while it runs
  if (cancelled_) return;
  try {
    invoke();
  } catch (...) {
    loop_->call_exception_handler(
        {failure_message(), std::current_exception(), failure_task_name()});
  }
}

void CallbackBase::fire() {
  LoopAccess::ready(*loop_).push(this);
}  // heap's reference moves on

TimePoint CallbackBase::when() const noexcept {
  // While armed the deadline is in the heap slot; the loop is alive then (its heap holds us).
  return in_heap() ? LoopAccess::timers(*loop_).deadline_of(*this) : last_deadline();
}

void CallbackBase::cancel() noexcept {
  if (cancelled_) return;
  cancelled_ = true;
  if (in_heap()) {
    LoopAccess::timers(*loop_).remove(*this);
    release();  // the heap's reference; the caller's Handle still holds one
  }
}

}  // namespace ringloop::detail
