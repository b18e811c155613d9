#include <ringloop/runtime/deadline_timer.hpp>

#include <ringloop/runtime/loop.hpp>

#include "loop_access.hpp"

namespace ringloop::detail {

void DeadlineTimer::arm(Loop& loop, TimePoint when) {
  disarm();
  loop_ = &loop;
  LoopAccess::timers(loop).add(*this, when);
}

void DeadlineTimer::disarm() noexcept {
  if (in_heap()) LoopAccess::timers(*loop_).remove(*this);
}

}  // namespace ringloop::detail
