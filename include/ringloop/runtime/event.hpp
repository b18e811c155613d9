#pragma once
// Event (asyncio.Event): a flag tasks can wait for. set() wakes every waiter, in the order they
// started waiting.

#include <ringloop/detail/grant_awaiter.hpp>
#include <ringloop/detail/wait_list.hpp>

namespace ringloop {

/// A flag that tasks wait on until another task (or a callback) sets it. Not copyable or movable:
/// parked waiters point at it, so it must outlive them. Loop thread only.
class Event {
 public:
  Event() = default;
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;

  /// `co_await event.wait()`: returns at once if the flag is set, else waits until set() is called.
  /// A waiter woken by set() returns even if clear() runs before it resumes.
  [[nodiscard]] detail::GrantAwaiter<Event> wait() noexcept {
    return detail::GrantAwaiter<Event>(*this, "Event::wait()");
  }

  /// Sets the flag and wakes every waiter (in arrival order); later wait()s return at once.
  void set() noexcept {
    if (set_) return;
    set_ = true;
    waiters_.grant_all();
  }
  /// Resets the flag: later wait()s block until the next set().
  void clear() noexcept { set_ = false; }
  /// Whether the flag is set.
  [[nodiscard]] bool is_set() const noexcept { return set_; }

 private:
  template <class, class>
  friend class detail::GrantAwaiter;
  // Waiting does not consume the flag: every waiter passes while it is set.
  bool try_take() const noexcept { return set_; }

  bool set_ = false;
  detail::WaitList waiters_;
};

}  // namespace ringloop
