#pragma once
// sleep(duration) and yield_now() (asyncio.sleep(d) and asyncio.sleep(0)).

#include <coroutine>

#include <ringloop/detail/task_state.hpp>
#include <ringloop/detail/timer_heap.hpp>
#include <ringloop/runtime/clock.hpp>

namespace ringloop {
class Loop;
}

namespace ringloop::detail {

/// Gives the loop a turn: the task runs again in the next iteration. Allocates nothing.
class [[nodiscard]] YieldAwaiter {
 public:
  bool await_ready() const noexcept { return false; }
  bool await_suspend(std::coroutine_handle<> awaiting) const {
    TaskStateBase& task = require_running_task("yield_now()");
    if (task.cancel_requested()) return false;
    task.suspend(nullptr, awaiting);
    task.wake();
    return true;
  }
  void await_resume() const { running_task->throw_if_cancel_requested(); }
};

/// Parks the task on a timer embedded in the awaiter (no allocation). Cancelling the task removes
/// the timer and resumes it with CancelledError.
class [[nodiscard]] SleepAwaiter final : public TimerEntry, public Suspension {
 public:
  explicit SleepAwaiter(Duration delay) noexcept : delay_(delay) {}
  /// Before it is awaited only (a combinator taking it into a task of its own).
  SleepAwaiter(SleepAwaiter&& other) noexcept : TimerEntry(), Suspension(), delay_(other.delay_) {}
  SleepAwaiter(const SleepAwaiter&) = delete;
  SleepAwaiter& operator=(const SleepAwaiter&) = delete;
  ~SleepAwaiter();

  bool await_ready() const noexcept { return false; }
  bool await_suspend(std::coroutine_handle<> awaiting);
  void await_resume() const { running_task->throw_if_cancel_requested(); }

  void fire() override;
  void cancel_wait() override;

 private:
  Duration delay_;
  Loop* loop_ = nullptr;
  TaskStateBase* task_ = nullptr;
};

}  // namespace ringloop::detail

namespace ringloop {

/// Suspends the running task for `delay` (asyncio.sleep). A delay of zero or less yields once; a
/// delay beyond the clock's range (hours::max(), Duration::max()) sleeps until cancelled.
template <class Rep, class Period>
[[nodiscard]] detail::SleepAwaiter sleep(std::chrono::duration<Rep, Period> delay) noexcept {
  return detail::SleepAwaiter(detail::saturating_duration(delay));
}

/// Lets every other ready task and callback run once before this task continues (asyncio.sleep(0)).
[[nodiscard]] inline detail::YieldAwaiter yield_now() noexcept {
  return {};
}

}  // namespace ringloop
