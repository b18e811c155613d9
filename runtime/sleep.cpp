#include <ringloop/runtime/sleep.hpp>

#include <ringloop/runtime/loop.hpp>

#include "loop_access.hpp"

namespace ringloop::detail {

bool SleepAwaiter::await_suspend(std::coroutine_handle<> awaiting) {
  TaskStateBase& task = require_running_task("sleep()");
  if (task.cancel_requested()) return false;
  task_ = &task;
  if (delay_ <= Duration::zero()) {
    task.suspend(nullptr, awaiting);  // asyncio.sleep(0): one turn of the loop
    task.wake();
    return true;
  }
  loop_ = task.loop();
  LoopAccess::timers(*loop_).add(*this, deadline_after(loop_->time(), delay_));
  task.suspend(this, awaiting);
  return true;
}

SleepAwaiter::~SleepAwaiter() {
  // The task was destroyed while asleep (its loop is closing): take the timer out of the heap.
  if (in_heap()) LoopAccess::timers(*loop_).remove(*this);
}

void SleepAwaiter::fire() {
  task_->wake();
}

void SleepAwaiter::cancel_wait() {
  LoopAccess::timers(*loop_).remove(*this);
  task_->wake();
}

}  // namespace ringloop::detail
