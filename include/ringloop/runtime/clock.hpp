#pragma once
// The loop's clock: monotonic, like asyncio's loop.time(), and the saturating arithmetic every
// deadline goes through.

#include <chrono>
#include <string>
#include <type_traits>

namespace ringloop {

using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;
using Duration = Clock::duration;

}  // namespace ringloop

namespace ringloop::detail {

/// "20 ms", "1.5 s", "250 us": three significant digits in the unit a person would pick, for
/// TimeoutError messages.
std::string describe_duration(Duration duration);

/// `delay` in the loop's units, clamped to Duration's range: hours::max() or years(1000) become
/// Duration::max() ("forever") instead of wrapping around to a short or negative delay.
template <class Rep, class Period>
constexpr Duration saturating_duration(std::chrono::duration<Rep, Period> delay) noexcept {
  // Compared in long double: the integer cast itself is what overflows (hours::max() in
  // nanoseconds), and long double holds every 64-bit count exactly on the targets we build for.
  using Wide = std::chrono::duration<long double, Duration::period>;
  const long double wide = std::chrono::duration_cast<Wide>(delay).count();
  constexpr auto most = static_cast<long double>(Duration::max().count());
  constexpr auto least = static_cast<long double>(Duration::min().count());
  if (!(wide < most)) return Duration::max();  // also NaN: no sensible deadline but "never"
  if (wide <= least) return Duration::min();
  return Duration(static_cast<Duration::rep>(wide));
}

/// `now + delay`, saturating at TimePoint::max() (a deadline that never comes) and
/// TimePoint::min(). Every deadline in ringloop is computed through this.
template <class Rep, class Period>
constexpr TimePoint deadline_after(TimePoint now,
                                   std::chrono::duration<Rep, Period> delay) noexcept {
  const Duration step = saturating_duration(delay);
  const Duration since_epoch = now.time_since_epoch();
  if (step > Duration::zero() && since_epoch > Duration::max() - step) return TimePoint::max();
  if (step < Duration::zero() && since_epoch < Duration::min() - step) return TimePoint::min();
  return now + step;
}

/// `deadline - now`, saturating instead of overflowing (a deadline of TimePoint::max() is about
/// 292 years away, never a negative wait).
constexpr Duration time_until(TimePoint deadline, TimePoint now) noexcept {
  const Duration to = deadline.time_since_epoch();
  const Duration from = now.time_since_epoch();
  if (from < Duration::zero() && to > Duration::max() + from) return Duration::max();
  if (from > Duration::zero() && to < Duration::min() + from) return Duration::min();
  return to - from;
}

}  // namespace ringloop::detail
