#pragma once
// Spawned tasks as users see them (asyncio.Task): spawn(), TaskHandle<T>, TaskRef, current_task(),
// all_tasks(), and the loop members that need them.

#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <ringloop/detail/task_state.hpp>
#include <ringloop/runtime/future.hpp>
#include <ringloop/runtime/loop.hpp>
#include <ringloop/runtime/task.hpp>

namespace ringloop {

/// A spawned task of any result type: name, state, cancellation. Copies refer to the same task.
/// An empty handle (default-constructed or moved-from) refers to no task: its queries answer as
/// for nothing there (done(), cancelled(), cancelling() and cancel() false, name() empty), while
/// what needs a task (exception(), add_done_callback(), result(), co_await) raises
/// InvalidStateError.
class TaskRef {
 public:
  TaskRef() = default;
  explicit TaskRef(detail::TaskStateBase* state) : state_(state) {}

  /// Whether this handle refers to a task.
  explicit operator bool() const noexcept { return static_cast<bool>(state_); }
  /// The name given to spawn(), or "Task-N"; empty for an empty handle.
  [[nodiscard]] std::string name() const { return state_ ? state_->name() : std::string(); }
  /// Whether the task finished, failed or was cancelled; false for an empty handle.
  [[nodiscard]] bool done() const noexcept { return state_ && state_->done(); }
  /// Whether the task ended cancelled; false for an empty handle.
  [[nodiscard]] bool cancelled() const noexcept { return state_ && state_->cancelled(); }
  /// Requests cancellation (see TaskStateBase::cancel); false if the task is already done or the
  /// handle is empty (like Handle::cancel(), a no-op on nothing).
  bool cancel() { return state_ && state_->cancel(); }
  /// Whether cancel() was called and CancelledError has not been raised in the task yet.
  [[nodiscard]] bool cancelling() const noexcept { return state_ && state_->cancel_requested(); }
  /// The task's failure (null if it succeeded); CancelledError if cancelled, InvalidStateError
  /// if still pending or the handle is empty. Marks the failure as retrieved.
  std::exception_ptr exception() { return require_task("TaskRef::exception()").exception(); }
  /// Calls `callback(TaskRef&)` through the loop once the task is done; a callback that throws is
  /// reported as "done callback of task 'name' raised". InvalidStateError on an empty handle.
  template <class F>
  void add_done_callback(F&& callback) {
    detail::TaskStateBase& task = require_task("TaskRef::add_done_callback()");
    task.add_done_callback(detail::make_done_callback(
        task, [self = *this, callback = std::forward<F>(callback)]() mutable { callback(self); }));
  }
  friend bool operator==(const TaskRef& a, const TaskRef& b) noexcept {
    return a.state_ == b.state_;
  }

 protected:
  /// The task; InvalidStateError naming `operation` when the handle is empty.
  detail::TaskStateBase& require_task(const char* operation) const {
    if (!state_) [[unlikely]]
      detail::throw_empty_task_handle(operation);
    return *state_;
  }

  detail::IntrusivePtr<detail::TaskStateBase> state_;
};

/// A spawned task producing T: everything TaskRef offers plus result() and co_await.
template <class T = void>
class TaskHandle : public TaskRef {
 public:
  TaskHandle() = default;
  explicit TaskHandle(detail::TaskState<T>* state) : TaskRef(state), typed_(state) {}

  /// The value; rethrows the task's exception, CancelledError if it was cancelled,
  /// InvalidStateError if it is still running or the handle is empty.
  std::add_lvalue_reference_t<T> result() {
    require_task("TaskHandle::result()");
    typed_->check_result();
    if constexpr (!std::is_void_v<T>) return *typed_->value;
  }
  /// Calls `callback(TaskHandle<T>&)` through the loop once the task is done; a callback that
  /// throws is reported as "done callback of task 'name' raised". InvalidStateError if empty.
  template <class F>
  void add_done_callback(F&& callback) {
    detail::TaskStateBase& task = require_task("TaskHandle::add_done_callback()");
    task.add_done_callback(detail::make_done_callback(
        task, [self = *this, callback = std::forward<F>(callback)]() mutable { callback(self); }));
  }
  /// Waits for the task; gives its value or rethrows. Cancelling the awaiting task cancels this
  /// one. InvalidStateError on an empty handle.
  detail::FutureAwaiter<T> operator co_await() const {
    require_task("co_await on a TaskHandle");
    return detail::FutureAwaiter<T>(typed_, typed_);
  }

 private:
  detail::TaskState<T>* typed_ = nullptr;  // same object as state_
};

/// Spawns `task` on the current thread's loop (asyncio.create_task).
template <class T>
TaskHandle<T> spawn(Task<T>&& task, std::string name = {}) {
  return Loop::current().spawn(std::move(task), std::move(name));
}

/// The task running now on this thread; empty outside a task.
TaskRef current_task() noexcept;
/// Pending tasks of the current thread's loop.
std::vector<TaskRef> all_tasks();

template <class T>
TaskHandle<T> Loop::spawn(Task<T>&& task, std::string name) {
  return TaskHandle<T>(new detail::TaskState<T>(*this, std::move(name), std::move(task)));
}

template <class T>
T Loop::run_until_complete(TaskHandle<T> task) {
  check_not_running();  // before the callback: it would stop the loop that is running
  task.add_done_callback([this](TaskHandle<T>&) { stop(); });
  run_forever();
  if (!task.done()) {
    throw LoopError("event loop stopped before the task '" + task.name() + "' completed");
  }
  if constexpr (std::is_void_v<T>) {
    task.result();
  } else {
    return std::move(task.result());
  }
}

template <class T>
T Loop::run_until_complete(Task<T>&& task) {
  check_not_running();  // before spawning: a refused task must not be left behind
  return run_until_complete(spawn(std::move(task)));
}

/// Creates a loop, runs `main` to completion, cancels the tasks left over and closes the loop;
/// returns main's value or rethrows its exception (asyncio.run).
template <class T>
T run(Task<T> main, LoopOptions options = {}) {
  Loop loop(std::move(options));
  struct ShutdownAtExit {
    Loop& loop;
    ~ShutdownAtExit() { loop.shutdown_tasks(); }
  } shutdown{loop};
  return loop.run_until_complete(std::move(main));
}

// Future members that need the loop's definition.
template <class T>
Future<T>::Future() : Future(Loop::current()) {}

template <class T>
Future<T>::Future(Loop& loop) : state_(new State(loop)) {}

template <class T>
template <class F>
void Future<T>::add_done_callback(F&& callback) {
  state_->add_done_callback(detail::make_done_callback(
      *state_, [self = *this, callback = std::forward<F>(callback)]() mutable { callback(self); }));
}

}  // namespace ringloop

namespace ringloop::detail {

template <class T>
bool FutureAwaiter<T>::await_suspend(std::coroutine_handle<> awaiting) {
  TaskStateBase& task = require_running_task("co_await on a future or task");
  waited_ = true;
  if (task.cancel_requested()) {
    // A cancellation pending when the wait begins cancels what is awaited, as one arriving during
    // the wait does (asyncio); otherwise an awaited task would be left running with no owner.
    future_->cancel();
    if (future_->done()) return false;
  }
  waiter_.future = future_;
  waiter_.task = &task;
  future_->add_waiter(waiter_);
  task.suspend(&waiter_, awaiting);
  return true;
}

template <class T>
T FutureAwaiter<T>::await_resume() {
  if (waited_) running_task->throw_if_cancel_requested();
  future_->check_result();
  return slot_->take_for_awaiter();
}

}  // namespace ringloop::detail
