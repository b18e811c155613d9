#pragma once
// A loop timer embedded in the object that waits on it (an awaiter, a timeout scope), as
// SleepAwaiter embeds its own: arming it allocates nothing, and the owner's destructor takes it
// out of the loop's heap, so a timer can never fire into a destroyed frame.

#include <ringloop/detail/timer_heap.hpp>
#include <ringloop/runtime/clock.hpp>

namespace ringloop {
class Loop;
}

namespace ringloop::detail {

/// Base for an object needing one timer: arm() puts it in the loop's heap, the owner's fire()
/// override runs when it is due (already out of the heap), disarm() and destruction remove it.
class DeadlineTimer : public TimerEntry {
 public:
  DeadlineTimer() = default;
  DeadlineTimer(const DeadlineTimer&) = delete;
  DeadlineTimer& operator=(const DeadlineTimer&) = delete;

  /// (Re)arms the timer for `when` on `loop`; a time already past fires in the next iteration.
  void arm(Loop& loop, TimePoint when);
  /// Takes the timer out of the heap if it is there.
  void disarm() noexcept;
  [[nodiscard]] bool armed() const noexcept { return in_heap(); }

 protected:
  ~DeadlineTimer() { disarm(); }

 private:
  Loop* loop_ = nullptr;
};

}  // namespace ringloop::detail
