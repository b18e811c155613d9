#pragma once
// Lock (asyncio.Lock): mutual exclusion between tasks of one loop, strictly first come, first
// served: release() hands the lock straight to the first waiter.

#include <ringloop/detail/grant_awaiter.hpp>
#include <ringloop/detail/wait_list.hpp>
#include <ringloop/runtime/errors.hpp>

namespace ringloop {

class Lock;

namespace detail {
class ConditionWaitAwaiter;
}

/// Holds a Lock and releases it when destroyed: `auto guard = co_await lock.scoped();`.
/// Move-only; `guard.release()` unlocks early.
using LockGuard = detail::HeldGuard<Lock>;

/// A mutual-exclusion lock for tasks (not threads). Fair: waiters get the lock in the order they
/// asked for it, and a task calling acquire() after a release() cannot overtake them. Not
/// copyable or movable (parked waiters point at it); it must outlive its waiters.
class Lock {
 public:
  Lock() = default;
  Lock(const Lock&) = delete;
  Lock& operator=(const Lock&) = delete;

  /// `co_await lock.acquire()`: takes the lock, waiting in line if it is held. Cancelled while
  /// waiting: CancelledError, and the lock goes to the next waiter. Granted the lock and then
  /// cancelled before resuming: returns normally holding it (the cancellation is delivered at the
  /// next await), so the lock is never lost.
  [[nodiscard]] detail::GrantAwaiter<Lock> acquire() noexcept {
    return detail::GrantAwaiter<Lock>(*this, "Lock::acquire()");
  }
  /// `auto guard = co_await lock.scoped();`: acquire() returning a LockGuard.
  [[nodiscard]] detail::GrantAwaiter<Lock, LockGuard> scoped() noexcept {
    return detail::GrantAwaiter<Lock, LockGuard>(*this, "Lock::scoped()");
  }

  /// Unlocks, or hands the lock to the first waiter. InvalidStateError if it is not locked.
  void release() {
    if (!locked_) throw InvalidStateError("Lock::release() called on a lock that is not locked");
    // Handing over directly (the lock stays locked) is what makes the lock fair: nobody can take
    // it between this release and the moment the woken waiter runs.
    if (!waiters_.grant_first()) locked_ = false;
  }

  /// Whether some task holds the lock.
  [[nodiscard]] bool locked() const noexcept { return locked_; }

 private:
  template <class, class>
  friend class detail::GrantAwaiter;
  friend class detail::ConditionWaitAwaiter;  // re-acquires on behalf of Condition::wait()

  // Waiters exist only while the lock is held, so a free lock has nobody to overtake.
  bool try_take() noexcept {
    if (locked_) return false;
    locked_ = true;
    return true;
  }

  bool locked_ = false;
  detail::WaitList waiters_;
};

}  // namespace ringloop
