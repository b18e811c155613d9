#pragma once
// Futures: a result that will be set later, awaitable by any number of tasks, with done callbacks
// (asyncio.Future). FutureBase is shared by Future<T> and spawned tasks.

#include <coroutine>
#include <cstdint>
#include <exception>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

#include <ringloop/detail/intrusive_list.hpp>
#include <ringloop/detail/ready_queue.hpp>
#include <ringloop/detail/ref_counted.hpp>
#include <ringloop/runtime/errors.hpp>
#include <ringloop/runtime/handle.hpp>

namespace ringloop {
class Loop;
}

namespace ringloop::detail {

class TaskStateBase;
class FutureBase;
extern constinit thread_local TaskStateBase* running_task;

/// What a suspended task is waiting on. The task's cancel() calls cancel_wait(), which must make
/// sure the task is woken (now, or when the backend confirms the cancellation).
class Suspension {
 public:
  virtual void cancel_wait() = 0;

 protected:
  ~Suspension() = default;
};

[[noreturn]] void throw_no_running_task(const char* what);
/// The running task, or LoopError naming `what` was awaited outside a ringloop task.
inline TaskStateBase& require_running_task(const char* what) {
  TaskStateBase* task = running_task;
  if (task == nullptr) [[unlikely]]
    throw_no_running_task(what);
  return *task;
}

/// A task waiting for a future; lives in the awaiting coroutine's frame.
class FutureWaiter final : public Suspension {
 public:
  FutureWaiter() = default;
  FutureWaiter(const FutureWaiter&) = delete;
  FutureWaiter& operator=(const FutureWaiter&) = delete;
  ~FutureWaiter();
  void cancel_wait() override;

  FutureBase* future = nullptr;
  TaskStateBase* task = nullptr;
  [[no_unique_address]] IntrusiveListHook<FutureWaiter> hook;  // in the future's waiters until done
  std::uint32_t order = 0;  // registration order among the future's waiters and callbacks
};

/// State shared by a future's handles and its awaiters. Single-threaded: its loop's thread only.
class FutureBase : public RefCounted {
 public:
  enum class Status : std::uint8_t { pending, finished, failed, cancelled };

 private:
  // The small fields first, so they fill the bytes after RefCounted's count (its tail padding)
  // instead of 8 bytes each further down: 24 bytes less per future and per task.
  std::uint32_t next_order_ = 0;  // registration order of the next waiter or done callback
  Status status_ = Status::pending;

 protected:
  bool retrieved_ = false;

 public:
  explicit FutureBase(Loop& loop);
  ~FutureBase() override;

  [[nodiscard]] Status status() const noexcept { return status_; }
  [[nodiscard]] bool done() const noexcept { return status_ != Status::pending; }
  [[nodiscard]] bool cancelled() const noexcept { return status_ == Status::cancelled; }
  [[nodiscard]] Loop* loop() const noexcept { return loop_; }

  /// Future: cancels it and wakes its waiters. Task: asks it to stop (see TaskStateBase).
  virtual bool cancel();
  /// Stores a failure; InvalidStateError when already done.
  void set_exception(std::exception_ptr error);
  /// The stored failure (null when finished); CancelledError / InvalidStateError otherwise.
  std::exception_ptr exception();
  /// Throws what result() would throw for a non-successful state; marks the outcome retrieved.
  void check_result();
  /// Runs `callback` (holding one reference, which this takes) via the loop once done.
  void add_done_callback(CallbackBase* callback);

  /// Wakes `waiter` when the future completes, in turn with the other waiters and callbacks.
  void add_waiter(FutureWaiter& waiter) noexcept;
  /// Forgets `waiter` (its frame is going away); nothing happens if it was woken already.
  void remove_waiter(FutureWaiter& waiter) noexcept;
  /// For error messages and the exception handler: "future" or "task 'name'".
  [[nodiscard]] virtual std::string describe_owner() const;
  /// The task's name for the exception handler; empty for a plain future.
  [[nodiscard]] virtual std::string task_name() const { return {}; }

 protected:
  /// Marks the outcome, wakes every waiter and schedules the done callbacks.
  void complete(Status status);
  /// Marks a future whose loop is closing as cancelled without waking anything.
  void abandon_outcome() noexcept;
  void require_pending(const char* operation) const;
  std::exception_ptr error_;

 private:
  friend class ringloop::Loop;
  friend struct LoopAccess;
  Loop* loop_;
  IntrusiveList<FutureWaiter, &FutureWaiter::hook> waiters_;  // in the order they came
  // Done callbacks with their registration order: asyncio resumes awaiters and runs callbacks
  // in the one order they were registered, and so do we.
  struct DoneCallback {
    CallbackBase* callback;
    std::uint32_t order;
  };
  std::vector<DoneCallback> callbacks_;
  // In the loop's list of live futures, so a closing loop can detach the ones that outlive it.
  IntrusiveListHook<FutureBase> live_hook_;
};

/// Storage for a future's value; empty for void.
template <class T>
struct ValueSlot {
  std::optional<T> value;
  /// The value for an awaiter: copied when T is copyable (several awaiters may read it), else
  /// moved.
  T take_for_awaiter() {
    if constexpr (std::is_copy_constructible_v<T>) {
      return *value;
    } else {
      return std::move(*value);
    }
  }
};
template <>
struct ValueSlot<void> {
  void take_for_awaiter() const noexcept {}
};

/// A done callback of a future or task. Reported by what it belongs to ("done callback of task
/// 'fetch' raised"), not by its lambda's type, whose demangled name runs to hundreds of
/// characters. `function` holds a handle to `owner`, which keeps it alive.
template <class F>
class CompletionCallback final : public CallbackBase {
 public:
  CompletionCallback(const FutureBase& owner, F&& function)
      : CallbackBase(owner.loop()), owner_(&owner), function_(std::move(function)) {}
  [[nodiscard]] std::string describe() const override {
    std::string text = "done callback of ";  // appended: g++ 12 -Wrestrict bug
    text += owner_->describe_owner();
    return text;
  }

 private:
  void invoke() override { function_(); }
  [[nodiscard]] std::string failure_message() const override { return describe() + " raised"; }
  [[nodiscard]] std::string failure_task_name() const override { return owner_->task_name(); }
  const FutureBase* owner_;
  F function_;
};

/// A done callback for `owner` running `function`.
template <class F>
CallbackBase* make_done_callback(const FutureBase& owner, F&& function) {
  return new CompletionCallback<std::decay_t<F>>(owner, std::forward<F>(function));
}

/// co_await on a future or a task handle. A done future gives its outcome without suspending;
/// otherwise the awaiting task waits, and cancelling it cancels the awaited future or task
/// (asyncio semantics; use shield() to protect it).
template <class T>
class [[nodiscard]] FutureAwaiter {
 public:
  FutureAwaiter(FutureBase* future, ValueSlot<T>* slot) noexcept : future_(future), slot_(slot) {}
  bool await_ready() const noexcept { return future_->done(); }
  bool await_suspend(std::coroutine_handle<> awaiting);
  T await_resume();

 private:
  FutureBase* future_;
  ValueSlot<T>* slot_;
  FutureWaiter waiter_;
  bool waited_ = false;
};

}  // namespace ringloop::detail

namespace ringloop {

/// A value that becomes available later (asyncio.Future): set_result / set_exception / cancel on
/// one side, co_await / result() / add_done_callback on the other. Copies share one state.
/// The default constructor (the current loop's future) is defined in
/// <ringloop/runtime/task_handle.hpp>, where Loop is complete.
template <class T = void>
class Future {
 public:
  /// A pending future on the current thread's loop.
  Future();
  /// A pending future on `loop`.
  explicit Future(Loop& loop);

  [[nodiscard]] bool done() const noexcept { return state_->done(); }
  [[nodiscard]] bool cancelled() const noexcept { return state_->cancelled(); }
  /// Cancels a pending future, waking its awaiters with CancelledError. False if already done.
  bool cancel() { return state_->cancel(); }

  template <class U = T>
  requires(!std::is_void_v<U>) void set_result(U value) {
    state_->require_pending("set_result");
    state_->value.emplace(std::move(value));
    state_->finish();
  }
  template <class U = T>
  requires std::is_void_v<U>
  void set_result() {
    state_->require_pending("set_result");
    state_->finish();
  }
  /// Fails the future; InvalidStateError when already done.
  void set_exception(std::exception_ptr error) { state_->set_exception(std::move(error)); }

  /// The value; rethrows the failure, CancelledError if cancelled, InvalidStateError if pending.
  std::add_lvalue_reference_t<T> result() {
    state_->check_result();
    if constexpr (!std::is_void_v<T>) return *state_->value;
  }
  /// The failure (null if it finished), CancelledError if cancelled, InvalidStateError if pending.
  std::exception_ptr exception() { return state_->exception(); }

  /// Calls `callback(Future<T>&)` through the loop once the future is done (at once if it is).
  template <class F>
  void add_done_callback(F&& callback);

  detail::FutureAwaiter<T> operator co_await() const noexcept {
    return detail::FutureAwaiter<T>(state_.get(), state_.get());
  }

 private:
  struct State final : detail::FutureBase, detail::ValueSlot<T> {
    using FutureBase::FutureBase;
    using FutureBase::require_pending;
    void finish() { complete(Status::finished); }
  };
  detail::IntrusivePtr<State> state_;
};

}  // namespace ringloop
