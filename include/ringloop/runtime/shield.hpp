#pragma once
// shield(): await a task without passing a cancellation on to it (asyncio.shield).
//
//   int saved = co_await shield(save_to_disk(data));
//
// If the awaiting task is cancelled, it gets CancelledError at once while the shielded task
// keeps running to completion. Nobody awaits that task any more: if it then fails, its failure
// reaches the loop's exception handler ("Task exception was never retrieved"), never lost. A
// Task argument is spawned right away (even if the shield is never awaited, as in asyncio).

#include <coroutine>
#include <utility>

#include <ringloop/detail/task_like.hpp>
#include <ringloop/detail/task_state.hpp>
#include <ringloop/runtime/future.hpp>
#include <ringloop/runtime/task.hpp>
#include <ringloop/runtime/task_handle.hpp>

namespace ringloop::detail {

/// co_await on a task handle, except that cancelling the awaiting task only wakes it (with
/// CancelledError) instead of cancelling the awaited task. Wraps the usual FutureAwaiter and
/// takes over its task's suspension, so no allocation is needed.
template <class T>
class [[nodiscard]] ShieldAwaiter final : public Suspension {
 public:
  explicit ShieldAwaiter(TaskHandle<T> inner)
      : inner_(std::move(inner)), awaiter_(inner_.operator co_await()) {}
  /// Before it is awaited only (a combinator taking it into a task of its own).
  ShieldAwaiter(ShieldAwaiter&& other) : ShieldAwaiter(std::move(other.inner_)) {}
  ShieldAwaiter(const ShieldAwaiter&) = delete;
  ShieldAwaiter& operator=(const ShieldAwaiter&) = delete;

  [[nodiscard]] bool await_ready() const noexcept { return awaiter_.await_ready(); }
  bool await_suspend(std::coroutine_handle<> awaiting) {
    TaskStateBase& task = require_running_task("co_await shield()");
    if (task.cancel_requested()) {
      refused_ = true;  // raised by await_resume; the inner task is not told
      return false;
    }
    awaiter_.await_suspend(awaiting);  // parks the task on the inner task's completion...
    task_ = &task;
    task.suspend(this, awaiting);  // ...but cancellation now comes here
    return true;
  }
  T await_resume() {
    if (refused_) running_task->throw_if_cancel_requested();
    return awaiter_.await_resume();  // CancelledError if our task was cancelled while waiting
  }
  /// The awaiting task was cancelled: wake it; its waiter unlinks itself when this awaiter dies.
  void cancel_wait() override { task_->wake(); }

 private:
  TaskHandle<T> inner_;
  FutureAwaiter<T> awaiter_;
  TaskStateBase* task_ = nullptr;
  bool refused_ = false;
};

}  // namespace ringloop::detail

namespace ringloop {

/// co_await: the value of `work`, which a cancellation of the awaiting task does not reach.
template <class T>
[[nodiscard]] detail::ShieldAwaiter<T> shield(TaskHandle<T> work) {
  return detail::ShieldAwaiter<T>(std::move(work));
}

/// Spawns `work` and shields it (see above).
template <class T>
[[nodiscard]] detail::ShieldAwaiter<T> shield(Task<T> work) {
  return detail::ShieldAwaiter<T>(spawn(std::move(work)));
}

/// Shields any other awaitable (a Future, offload(...), Queue::get()...): it runs in a task of
/// its own, which a cancellation of the awaiting task does not reach.
template <detail::WrappedAwaitable A>
detail::ShieldAwaiter<detail::await_result_t<A>> shield(A work) {
  return detail::ShieldAwaiter<detail::await_result_t<A>>(
      spawn(detail::await_as_task(std::move(work))));
}

}  // namespace ringloop
