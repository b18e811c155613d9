// Durations at the edge of their range (issue 9): deadlines saturate, so "forever"
// (Duration::max(), hours::max(), years(1000)...) waits until cancelled instead of overflowing into
// "at once" or hanging the loop, and other timers keep firing meanwhile.

#include <chrono>
#include <cstdint>
#include <limits>

#include "support/loop_fixture.hpp"

namespace ringloop::testing {
namespace {

using namespace std::chrono_literals;

using years = std::chrono::duration<std::int64_t, std::ratio<31'556'952>>;

class DurationLimits : public LoopTest {};

// ---- the saturating arithmetic ----------------------------------------------------------------

static_assert(detail::saturating_duration(std::chrono::hours::max()) == Duration::max());
static_assert(detail::saturating_duration(std::chrono::seconds::max()) == Duration::max());
static_assert(detail::saturating_duration(years(1000)) == Duration::max());
static_assert(detail::saturating_duration(std::chrono::hours::min()) == Duration::min());
static_assert(detail::saturating_duration(std::chrono::duration<double>(
                  std::numeric_limits<double>::infinity())) == Duration::max());
static_assert(detail::saturating_duration(2s) == std::chrono::nanoseconds(2'000'000'000));
static_assert(detail::saturating_duration(Duration::max()) == Duration::max());
static_assert(detail::saturating_duration(std::chrono::duration<double, std::milli>(1.5)) ==
              1'500us);

constexpr TimePoint some_time = TimePoint(1000h);
static_assert(detail::deadline_after(some_time, Duration::max()) == TimePoint::max());
static_assert(detail::deadline_after(some_time, std::chrono::hours::max()) == TimePoint::max());
static_assert(detail::deadline_after(some_time, 5s) == some_time + 5s);
static_assert(detail::deadline_after(some_time, -5s) == some_time - 5s);
static_assert(detail::deadline_after(TimePoint(-1000h), Duration::min()) == TimePoint::min());
static_assert(detail::time_until(TimePoint::max(), some_time) == TimePoint::max() - some_time);
static_assert(detail::time_until(TimePoint::min(), some_time) == Duration::min());
static_assert(detail::time_until(some_time + 3s, some_time) == 3s);

// ---- coroutines used by the tests ------------------------------------------------------------

template <class Delay>
Task<> sleep_then_flag(Delay delay, bool* woke) {
  co_await sleep(delay);
  *woke = true;
}

Task<> nap(Duration delay) {
  co_await sleep(delay);
}

Task<int> seven_soon() {
  co_await sleep(5ms);
  co_return 7;
}

template <class Delay>
Task<int> wait_for_seven(Delay limit) {
  const int value = co_await wait_for(seven_soon(), limit);
  co_return value;
}

template <class Delay>
Task<bool> timeout_scope_expired(Delay limit) {
  auto scope = timeout(limit);
  co_await sleep(5ms);
  co_return scope.expired();
}

template <class Delay>
Task<> backend_timer_then_flag(Delay delay, bool* expired) {
  const std::int32_t result = co_await ops::timeout(delay);
  EXPECT_EQ(result, 0);
  *expired = true;
}

/// Spawns `waiter`, lets another 50 ms timer run to its end meanwhile, checks `waiter` is still
/// waiting, then cancels it and checks it ends cancelled.
void expect_waits_until_cancelled(Loop& loop, Task<> waiter, const bool& flag) {
  TaskHandle<> waiting = loop.spawn(std::move(waiter), "forever");
  loop.run_until_complete(nap(50ms));
  EXPECT_FALSE(flag) << "a wait beyond the clock's range ended";
  EXPECT_FALSE(waiting.done());
  EXPECT_TRUE(waiting.cancel());
  EXPECT_THROW(loop.run_until_complete(waiting), CancelledError);
}

// ---- sleep ------------------------------------------------------------------------------------

TEST_P(DurationLimits, SleepOfDurationMaxWaitsUntilCancelled) {
  bool woke = false;
  expect_waits_until_cancelled(loop(), sleep_then_flag(Duration::max(), &woke), woke);
}

TEST_P(DurationLimits, SleepOfHoursMaxWaitsUntilCancelled) {
  bool woke = false;
  expect_waits_until_cancelled(loop(), sleep_then_flag(std::chrono::hours::max(), &woke), woke);
}

TEST_P(DurationLimits, SleepOfSecondsMaxWaitsUntilCancelled) {
  bool woke = false;
  expect_waits_until_cancelled(loop(), sleep_then_flag(std::chrono::seconds::max(), &woke), woke);
}

TEST_P(DurationLimits, SleepOfAThousandYearsWaitsUntilCancelled) {
  bool woke = false;
  expect_waits_until_cancelled(loop(), sleep_then_flag(years(1000), &woke), woke);
}

TEST_P(DurationLimits, SleepOfInfiniteFloatingSecondsWaitsUntilCancelled) {
  bool woke = false;
  expect_waits_until_cancelled(
      loop(),
      sleep_then_flag(std::chrono::duration<double>(std::numeric_limits<double>::infinity()),
                      &woke),
      woke);
}

TEST_P(DurationLimits, SleepOfHoursMinIsOneTurn) {
  bool woke = false;
  loop().run_until_complete(sleep_then_flag(std::chrono::hours::min(), &woke));
  EXPECT_TRUE(woke);
}

// ---- wait_for, timeout, call_later, ops::timeout ----------------------------------------------

TEST_P(DurationLimits, WaitForWithAHugeTimeoutGivesTheValue) {
  EXPECT_EQ(run(wait_for_seven(Duration::max())), 7);
  EXPECT_EQ(run(wait_for_seven(std::chrono::hours::max())), 7);
  EXPECT_EQ(run(wait_for_seven(years(1000))), 7);
  EXPECT_EQ(run(wait_for_seven(std::optional<Duration>(Duration::max()))), 7);
}

TEST_P(DurationLimits, TimeoutScopeWithAHugeDelayNeverExpires) {
  EXPECT_FALSE(run(timeout_scope_expired(Duration::max())));
  EXPECT_FALSE(run(timeout_scope_expired(std::chrono::hours::max())));
  EXPECT_FALSE(run(timeout_scope_expired(std::optional<Duration>(Duration::max()))));
}

TEST_P(DurationLimits, CallLaterWithAHugeDelayNeverFires) {
  bool fired_max = false;
  bool fired_hours = false;
  Handle at_max = loop().call_later(Duration::max(), [&] { fired_max = true; });
  Handle at_hours = loop().call_later(std::chrono::hours::max(), [&] { fired_hours = true; });
  EXPECT_EQ(at_max.when(), TimePoint::max());
  EXPECT_EQ(at_hours.when(), TimePoint::max());
  loop().run_until_complete(nap(50ms));
  EXPECT_FALSE(fired_max);
  EXPECT_FALSE(fired_hours);
  at_max.cancel();
  at_hours.cancel();
}

TEST_P(DurationLimits, BackendTimeoutOfDurationMaxWaitsUntilCancelled) {
  bool expired = false;
  expect_waits_until_cancelled(loop(), backend_timer_then_flag(Duration::max(), &expired), expired);
}

TEST_P(DurationLimits, BackendTimeoutOfHoursMaxWaitsUntilCancelled) {
  bool expired = false;
  expect_waits_until_cancelled(loop(), backend_timer_then_flag(std::chrono::hours::max(), &expired),
                               expired);
}

RINGLOOP_ON_BOTH_BACKENDS(DurationLimits);

}  // namespace
}  // namespace ringloop::testing
