#pragma once
// Condition (asyncio.Condition): tasks wait, holding a Lock, until another task holding the same
// lock notifies them. wait() releases the lock while waiting and holds it again when it returns,
// whether it returns normally or with CancelledError.

#include <concepts>
#include <coroutine>
#include <cstddef>
#include <string>
#include <type_traits>

#include <ringloop/detail/grant_awaiter.hpp>
#include <ringloop/detail/wait_list.hpp>
#include <ringloop/runtime/errors.hpp>
#include <ringloop/runtime/lock.hpp>
#include <ringloop/runtime/task.hpp>

namespace ringloop {

class Condition;

namespace detail {

/// co_await on Condition::wait(). The task is parked first on the condition; notify() (or a
/// cancellation) moves it straight into the lock's queue, so it resumes only once it holds the
/// lock again: one suspension, and two list nodes in this awaiter instead of an allocation.
class [[nodiscard]] ConditionWaitAwaiter final : public Suspension {
 public:
  explicit ConditionWaitAwaiter(Condition& condition) noexcept : condition_(&condition) {}
  ConditionWaitAwaiter(const ConditionWaitAwaiter&) = delete;
  ConditionWaitAwaiter& operator=(const ConditionWaitAwaiter&) = delete;

  bool await_ready() const;
  bool await_suspend(std::coroutine_handle<> awaiting);
  // Always resumed holding the lock. Notified: return normally even if a cancellation came after
  // the notification (it is delivered at the next await), so the notification is acted on, not
  // lost; asyncio 3.13 raises instead and passes the notification on, a spurious wakeup for
  // someone else. Not notified: the task was cancelled; it raises CancelledError now, as asyncio.
  void await_resume() const {
    if (!notified_) running_task->throw_if_cancel_requested();
  }

  /// Cancelled while waiting for a notification: stop waiting for it, but queue for the lock
  /// first. Cancelled while queued for the lock: nothing to do, the lock must be re-acquired
  /// anyway (asyncio's wait() re-acquires it uninterruptibly too).
  void cancel_wait() override;
  /// Called by notify() after unlinking this waiter from the condition.
  void notify() noexcept {
    notified_ = true;
    queue_for_lock();
  }

 private:
  void queue_for_lock() noexcept;

  Condition* condition_;
  TaskStateBase* task_ = nullptr;
  ParkedTask condition_node_;  // in Condition::waiters_ until notified or cancelled
  ParkedTask lock_node_;       // then in the lock's queue until it is handed the lock
  bool notified_ = false;
};

}  // namespace detail

/// A condition variable for tasks, bound to a Lock it owns or borrows. Every wait() and notify()
/// must be made holding that lock (InvalidStateError otherwise). Not copyable or movable; it (and
/// a borrowed lock) must outlive its waiters.
class Condition {
 public:
  /// A condition with a lock of its own.
  Condition() noexcept : lock_(&own_lock_) {}
  /// A condition using `lock`, which several conditions may share.
  explicit Condition(Lock& lock) noexcept : lock_(&lock) {}
  Condition(const Condition&) = delete;
  Condition& operator=(const Condition&) = delete;

  /// The underlying lock.
  [[nodiscard]] Lock& lock() const noexcept { return *lock_; }
  /// `co_await cond.acquire()`: acquires the underlying lock (see Lock::acquire()).
  [[nodiscard]] detail::GrantAwaiter<Lock> acquire() noexcept { return lock_->acquire(); }
  /// `auto guard = co_await cond.scoped();`: acquires the underlying lock as a LockGuard.
  [[nodiscard]] detail::GrantAwaiter<Lock, LockGuard> scoped() noexcept { return lock_->scoped(); }
  /// Releases the underlying lock (see Lock::release()).
  void release() { lock_->release(); }
  /// Whether the underlying lock is held.
  [[nodiscard]] bool locked() const noexcept { return lock_->locked(); }

  /// `co_await cond.wait()`: releases the lock, waits for notify(), re-acquires the lock and
  /// returns. Cancelled while waiting: re-acquires the lock, then raises CancelledError. Notified
  /// and then cancelled before resuming: returns normally (the cancellation comes at the next
  /// await). InvalidStateError if the lock is not held.
  [[nodiscard]] detail::ConditionWaitAwaiter wait() noexcept {
    return detail::ConditionWaitAwaiter(*this);
  }

  /// `co_await cond.wait_for(predicate)`: waits until `predicate()` is true (checked holding the
  /// lock, first before waiting at all) and returns its last value. The predicate runs in this
  /// task, so it may refer to the caller's locals: the caller's frame outlives the wait.
  template <std::invocable Predicate>
  Task<std::decay_t<std::invoke_result_t<Predicate&>>> wait_for(Predicate predicate) {
    require_locked("Condition::wait_for()");
    auto result = predicate();
    while (!result) {
      co_await wait();
      result = predicate();
    }
    co_return result;
  }

  /// Wakes up to `n` waiters, first come first served; each returns from wait() once it gets the
  /// lock, after the caller releases it. InvalidStateError if the lock is not held.
  void notify(std::size_t n = 1) {
    require_locked("Condition::notify()");
    wake(n);
  }
  /// Wakes every waiter. InvalidStateError if the lock is not held.
  void notify_all() {
    require_locked("Condition::notify_all()");
    wake(waiters_.size());
  }

 private:
  friend class detail::ConditionWaitAwaiter;

  // Moves the first `n` waiters into the lock's queue (behind the notifier, who holds the lock).
  void wake(std::size_t n) noexcept {
    for (; n > 0 && !waiters_.empty(); --n) {
      detail::ParkedTask& node = *waiters_.front();
      waiters_.remove(node);
      static_cast<detail::ConditionWaitAwaiter*>(node.context)->notify();
    }
  }

  // Like asyncio, "held" means locked by some task: Lock does not track its owner.
  void require_locked(const char* operation) const {
    if (!lock_->locked()) {
      throw InvalidStateError(std::string(operation) +
                              " called without holding the condition's lock");
    }
  }

  Lock own_lock_;
  Lock* lock_;
  detail::WaitList waiters_;
};

namespace detail {

inline bool ConditionWaitAwaiter::await_ready() const {
  condition_->require_locked("Condition::wait()");
  return false;
}

inline bool ConditionWaitAwaiter::await_suspend(std::coroutine_handle<> awaiting) {
  TaskStateBase& task = require_running_task("Condition::wait()");
  // A cancellation already pending is delivered at once, the lock still held: the same outcome as
  // releasing and re-acquiring it, without letting anyone in between.
  if (task.cancel_requested()) return false;
  task_ = &task;
  condition_node_.task = &task;
  condition_node_.context = this;
  lock_node_.task = &task;
  condition_->waiters_.push_back(condition_node_);
  condition_->lock_->release();  // may hand the lock to its first waiter
  task.suspend(this, awaiting);
  return true;
}

inline void ConditionWaitAwaiter::cancel_wait() {
  if (!condition_node_.linked()) return;  // already queued for the lock
  condition_->waiters_.remove(condition_node_);
  queue_for_lock();
}

inline void ConditionWaitAwaiter::queue_for_lock() noexcept {
  Lock& lock = *condition_->lock_;
  if (lock.try_take()) {
    task_->wake();  // a free lock has no waiters to overtake: take it now
  } else {
    lock.waiters_.push_back(lock_node_);  // Lock::release() grants it and wakes the task
  }
}

}  // namespace detail

}  // namespace ringloop
