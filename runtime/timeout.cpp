#include <ringloop/runtime/timeout.hpp>

#include <ringloop/runtime/loop.hpp>

#include <cstdio>
#include <string>

namespace ringloop {
namespace detail {

std::string describe_duration(Duration duration) {
  const double seconds = std::chrono::duration<double>(duration).count();
  char text[48];
  if (seconds >= 1.0) {
    std::snprintf(text, sizeof text, "%.3g s", seconds);
  } else if (seconds >= 1e-3) {
    std::snprintf(text, sizeof text, "%.3g ms", seconds * 1e3);
  } else {
    std::snprintf(text, sizeof text, "%.3g us", seconds * 1e6);
  }
  return text;
}

}  // namespace detail

TimeoutScope::TimeoutScope(std::optional<TimePoint> deadline)
    : task_(&detail::require_running_task("timeout()")),
      when_(deadline),
      started_(Clock::now()),
      cancels_before_(task_->cancel_count()) {
  if (deadline) arm(*task_->loop(), *deadline);
}

TimeoutScope::~TimeoutScope() {
  // The deadline cancelled the task but no CancelledError reached raise_if_expired(): the block
  // ended first, or absorbed it. A request still undelivered would hit the task's next await,
  // after the scope: take it back unless someone else asked for a cancellation too.
  if (expired_ && !settled_ && retire_own_request()) task_->withdraw_cancel_request();
}

void TimeoutScope::reschedule(std::optional<TimePoint> deadline) {
  if (expired_) throw InvalidStateError("TimeoutScope::reschedule() after the deadline passed");
  when_ = deadline;
  if (deadline) {
    arm(*task_->loop(), *deadline);
  } else {
    disarm();
  }
}

void TimeoutScope::raise_if_expired() {
  if (!expired_ || settled_) return;
  settled_ = true;
  if (!retire_own_request()) return;
  task_->withdraw_cancel_request();  // in case it was not delivered yet
  // The deadline the scope had when it fired, counted from the scope's start: the duration
  // given to timeout() or wait_for().
  const Duration waited = when_ ? *when_ - started_ : Duration::zero();
  throw TimeoutError("timed out after " +
                     detail::describe_duration(std::max(waited, Duration::zero())));
}

void TimeoutScope::fire() {
  expired_ = true;
  task_->cancel();  // the task runs this scope, so it is not done: the request counts
}

bool TimeoutScope::retire_own_request() noexcept {
  // asyncio's `task.uncancel() <= cancelling-at-entry`: withdrawing our request (so that an outer
  // scope can recognize its own later) leaves no other request made since the scope began.
  return task_->uncancel() <= cancels_before_;
}

}  // namespace ringloop
