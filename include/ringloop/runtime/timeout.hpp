#pragma once
// Deadlines: wait_for() for one piece of work, timeout() for a block of awaits (asyncio.wait_for
// and asyncio.timeout).
//
//   int value = co_await wait_for(fetch(), 2s);        // TimeoutError after 2 s
//
//   {
//     auto scope = timeout(2s);                       // covers the block until `scope` dies
//     try {
//       co_await connect();
//       co_await handshake();
//     } catch (const CancelledError&) {
//       scope.raise_if_expired();                     // TimeoutError if the deadline did it
//       throw;                                        // a real cancellation goes on
//     }
//   }
//
// A scope works as asyncio's does: at the deadline it cancels the running task, whose current
// await raises CancelledError; raise_if_expired() turns that CancelledError into TimeoutError
// when the scope caused it and nobody else cancelled the task meanwhile (a C++ destructor cannot
// change the exception in flight, hence the catch). A cancellation from anywhere else always
// stays a cancellation.

#include <chrono>
#include <cstdint>
#include <optional>
#include <type_traits>
#include <utility>

#include <ringloop/detail/task_like.hpp>
#include <ringloop/detail/task_state.hpp>
#include <ringloop/runtime/clock.hpp>
#include <ringloop/runtime/deadline_timer.hpp>
#include <ringloop/runtime/errors.hpp>
#include <ringloop/runtime/task.hpp>

namespace ringloop {

/// A deadline over whatever the running task awaits until the scope is destroyed (asyncio's
/// Timeout). Create it with timeout() or timeout_at() inside a task; it stays in that task's
/// frame (neither copyable nor movable). Destroying it disarms the deadline and withdraws a
/// cancellation it requested that was not delivered yet, so nothing leaks past the scope.
class [[nodiscard]] TimeoutScope final : private detail::DeadlineTimer {
 public:
  /// A scope for the running task ending at `deadline` (none: no deadline until reschedule()).
  explicit TimeoutScope(std::optional<TimePoint> deadline);
  ~TimeoutScope();
  TimeoutScope(const TimeoutScope&) = delete;
  TimeoutScope& operator=(const TimeoutScope&) = delete;

  /// Whether the deadline passed and the scope cancelled the task.
  [[nodiscard]] bool expired() const noexcept { return expired_; }
  /// The deadline, if any.
  [[nodiscard]] std::optional<TimePoint> when() const noexcept { return when_; }
  /// Moves the deadline (none: no deadline); InvalidStateError once expired().
  void reschedule(std::optional<TimePoint> deadline);
  /// Call in `catch (const CancelledError&)` (or after the block): throws TimeoutError if the
  /// deadline cancelled the task and nobody else did; otherwise returns, and the caller rethrows.
  void raise_if_expired();

 private:
  void fire() override;
  /// Withdraws the cancellation the deadline requested; whether it was the only one since the
  /// scope began (then the CancelledError in flight, if any, is this scope's).
  bool retire_own_request() noexcept;

  detail::TaskStateBase* task_;
  std::optional<TimePoint> when_;
  TimePoint started_;                 // for the TimeoutError message
  std::uint32_t cancels_before_ = 0;  // the task's cancel_count() when the scope began
  bool expired_ = false;
  bool settled_ = false;  // raise_if_expired() has dealt with the expiry
};

/// A timeout scope for the running task, ending `delay` from now (none: no deadline yet).
inline TimeoutScope timeout(std::optional<Duration> delay) {
  return TimeoutScope(delay ? std::optional<TimePoint>(detail::deadline_after(Clock::now(), *delay))
                            : std::nullopt);
}

/// A timeout scope ending `delay` from now; a delay beyond the clock's range never expires.
template <class Rep, class Period>
TimeoutScope timeout(std::chrono::duration<Rep, Period> delay) {
  return TimeoutScope(detail::deadline_after(Clock::now(), delay));
}

/// A timeout scope for the running task, ending at loop time `deadline`.
inline TimeoutScope timeout_at(std::optional<TimePoint> deadline) {
  return TimeoutScope(deadline);
}

/// Awaits `work` for at most `timeout` (none: no limit) and gives its value (asyncio.wait_for).
/// On expiry the work is cancelled and TimeoutError is raised once it has finished: a task slow
/// to honour the cancellation delays the TimeoutError until it ends, and a value it produces after
/// the deadline is dropped. A Task runs inline, in the awaiting task (nothing is spawned); a
/// TaskHandle's task is cancelled through the await. If the awaiting task is cancelled, the work
/// is cancelled too and CancelledError propagates.
template <detail::TaskLike Awaitable>
Task<detail::task_value_t<Awaitable>> wait_for(Awaitable work, std::optional<Duration> timeout) {
  TimeoutScope scope = ringloop::timeout(timeout);
  try {
    if constexpr (std::is_void_v<detail::task_value_t<Awaitable>>) {
      co_await work;
      scope.raise_if_expired();  // the work absorbed the cancellation: still a timeout
    } else {
      detail::task_value_t<Awaitable> value = co_await work;
      scope.raise_if_expired();
      co_return value;
    }
  } catch (const CancelledError&) {
    scope.raise_if_expired();
    throw;
  }
}

/// wait_for() with any std::chrono duration; one beyond the clock's range means no limit (the
/// conversion to Duration would otherwise overflow into a short or negative timeout).
template <detail::TaskLike Awaitable, class Rep, class Period>
Task<detail::task_value_t<Awaitable>> wait_for(Awaitable work,
                                               std::chrono::duration<Rep, Period> timeout) {
  return wait_for(std::move(work), std::optional<Duration>(detail::saturating_duration(timeout)));
}

}  // namespace ringloop
