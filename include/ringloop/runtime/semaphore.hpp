#pragma once
// Semaphore and BoundedSemaphore (asyncio's): a counter of permits; acquire() takes one, waiting
// first come, first served while none is left; release() gives one back.

#include <cstddef>
#include <stdexcept>
#include <string>

#include <ringloop/detail/grant_awaiter.hpp>
#include <ringloop/detail/wait_list.hpp>
#include <ringloop/runtime/errors.hpp>

namespace ringloop {

class Semaphore;

/// Holds one permit of a Semaphore and releases it when destroyed:
/// `auto permit = co_await semaphore.scoped();`. Move-only.
using SemaphoreGuard = detail::HeldGuard<Semaphore>;

/// Limits how many tasks hold a permit at once. Fair: release() hands the permit straight to the
/// first waiter, so a later acquire() cannot overtake it. Not copyable or movable (parked waiters
/// point at it); it must outlive its waiters.
class Semaphore {
 public:
  /// `value` permits to start with; std::invalid_argument if negative.
  explicit Semaphore(std::ptrdiff_t value = 1) : Semaphore(value, false) {}
  Semaphore(const Semaphore&) = delete;
  Semaphore& operator=(const Semaphore&) = delete;

  /// `co_await semaphore.acquire()`: takes a permit, waiting in line if none is left. Cancelled
  /// while waiting: CancelledError and no permit is consumed. Granted and then cancelled before
  /// resuming: returns normally holding the permit (cancellation comes at the next await).
  [[nodiscard]] detail::GrantAwaiter<Semaphore> acquire() noexcept {
    return detail::GrantAwaiter<Semaphore>(*this, "Semaphore::acquire()");
  }
  /// `auto permit = co_await semaphore.scoped();`: acquire() returning a SemaphoreGuard.
  [[nodiscard]] detail::GrantAwaiter<Semaphore, SemaphoreGuard> scoped() noexcept {
    return detail::GrantAwaiter<Semaphore, SemaphoreGuard>(*this, "Semaphore::scoped()");
  }

  /// Gives a permit back: to the first waiter if there is one, else to the counter. A plain
  /// Semaphore may be released more often than acquired (asyncio allows it); a BoundedSemaphore
  /// throws InvalidStateError instead of going above its initial value.
  void release() {
    if (bounded_ && value_ >= bound_) {
      throw InvalidStateError("BoundedSemaphore released too many times (initial value " +
                              std::to_string(bound_) + ")");
    }
    // Handing the permit over directly keeps the counter at zero, so nobody overtakes the waiter.
    if (!waiters_.grant_first()) ++value_;
  }

  /// Whether acquire() would have to wait.
  [[nodiscard]] bool locked() const noexcept { return value_ == 0; }
  /// Permits available now.
  [[nodiscard]] std::size_t value() const noexcept { return value_; }

 protected:
  Semaphore(std::ptrdiff_t value, bool bounded)
      : value_(checked(value)), bound_(value_), bounded_(bounded) {}

 private:
  template <class, class>
  friend class detail::GrantAwaiter;

  static std::size_t checked(std::ptrdiff_t value) {
    if (value < 0) {
      throw std::invalid_argument("Semaphore initial value must be >= 0, got " +
                                  std::to_string(value));
    }
    return static_cast<std::size_t>(value);
  }
  // Waiters exist only while the counter is zero, so a free permit has nobody to overtake.
  bool try_take() noexcept {
    if (value_ == 0) return false;
    --value_;
    return true;
  }

  std::size_t value_;
  std::size_t bound_;
  bool bounded_;
  detail::WaitList waiters_;
};

/// A Semaphore that refuses to be released above its initial value (asyncio.BoundedSemaphore):
/// such a release() throws InvalidStateError ("released too many times"), catching the bug of a
/// permit released twice.
class BoundedSemaphore : public Semaphore {
 public:
  /// `value` permits, which is also the most it will ever hold; std::invalid_argument if negative.
  explicit BoundedSemaphore(std::ptrdiff_t value = 1) : Semaphore(value, true) {}
};

}  // namespace ringloop
