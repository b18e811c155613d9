// The loop's scheduling: call_soon order and iteration boundaries, call_later/call_at ordering,
// Handle cancellation, loop time, sleep()/yield_now(), run_forever()/stop(), misuse errors,
// callback exception reports and debug-mode slow-step warnings.

#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "support/exceptions.hpp"
#include "support/loop_fixture.hpp"
#include "support/loop_steps.hpp"

namespace ringloop::testing {
namespace {

using namespace std::chrono_literals;

class TimerTest : public LoopTest {};

void busy_wait(Duration duration) {
  const TimePoint until = Clock::now() + duration;
  while (Clock::now() < until) {
  }
}

// ---- coroutines used by the tests ------------------------------------------------------------

Task<> measure_sleep(Duration duration, Duration* elapsed) {
  const TimePoint start = Clock::now();
  co_await sleep(duration);
  *elapsed = Clock::now() - start;
}

Task<> nap(Duration duration) {
  co_await sleep(duration);
}

Task<> measure_fractional_sleep(Duration* elapsed) {
  const TimePoint start = Clock::now();
  co_await sleep(std::chrono::duration<double>(0.004));
  *elapsed = Clock::now() - start;
}

Task<> log_and_yield(char label, int rounds, std::string* log) {
  for (int i = 0; i < rounds; ++i) {
    log->push_back(label);
    co_await yield_now();
  }
}

Task<> log_and_sleep(char label, int rounds, Duration each, std::string* log) {
  for (int i = 0; i < rounds; ++i) {
    log->push_back(label);
    co_await sleep(each);
  }
}

Task<> run_two(Task<> first, Task<> second) {
  auto a = spawn(std::move(first));
  auto b = spawn(std::move(second));
  co_await a;
  co_await b;
}

Task<std::int64_t> time_advances_across_a_sleep() {
  Loop& loop = Loop::current();
  const TimePoint before = loop.time();
  co_await sleep(3ms);
  const TimePoint after = loop.time();
  co_return std::chrono::duration_cast<std::chrono::microseconds>(after - before).count();
}

Task<int> answer_after_yield() {
  co_await yield_now();
  co_return 42;
}

/// Calls run_until_complete on the loop that runs this task, then keeps working for a while.
Task<int> nested_run_until_complete(Loop* loop, bool* threw) {
  try {
    loop->run_until_complete(answer_after_yield());
  } catch (const LoopError&) {
    *threw = true;
  }
  co_await sleep(20ms);
  co_return 7;
}

Task<int> nested_run_until_complete_on_handle(Loop* loop, TaskHandle<int> other, bool* threw) {
  try {
    loop->run_until_complete(other);
  } catch (const LoopError&) {
    *threw = true;
  }
  co_await sleep(20ms);
  const int value = co_await other;
  co_return value;
}

Task<> nested_run_forever(Loop* loop, bool* threw) {
  try {
    loop->run_forever();
  } catch (const LoopError&) {
    *threw = true;
  }
  co_await yield_now();
}

Task<> busy_step(Duration duration) {
  busy_wait(duration);
  co_return;
}

// ---- call_soon -------------------------------------------------------------------------------

TEST_P(TimerTest, CallSoonRunsCallbacksInFifoOrder) {
  std::vector<int> order;
  for (int i = 0; i < 10; ++i)
    loop().call_soon([&order, i] { order.push_back(i); });
  run_one_iteration(loop());
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
}

TEST_P(TimerTest, WhatBecomesReadyDuringAnIterationRunsInTheNext) {
  std::vector<std::string> order;
  std::uint64_t first_iteration = 0;
  std::uint64_t late_iteration = 0;
  loop().call_soon([&] {
    order.push_back("first");
    first_iteration = loop().stats().iterations;
    loop().call_soon([&] {
      order.push_back("scheduled by first");
      late_iteration = loop().stats().iterations;
      loop().stop();
    });
  });
  loop().call_soon([&] { order.push_back("second"); });
  loop().call_soon([&] { order.push_back("third"); });
  loop().run_forever();
  EXPECT_EQ(order, (std::vector<std::string>{"first", "second", "third", "scheduled by first"}));
  EXPECT_EQ(late_iteration, first_iteration + 1);
}

TEST_P(TimerTest, StopBeforeRunForeverRunsExactlyOneIteration) {
  bool first_ran = false;
  bool later_ran = false;
  loop().call_soon([&] {
    first_ran = true;
    loop().call_soon([&] { later_ran = true; });
  });
  const std::uint64_t iterations = loop().stats().iterations;
  loop().stop();
  loop().run_forever();
  EXPECT_TRUE(first_ran);
  EXPECT_FALSE(later_ran);
  EXPECT_EQ(loop().stats().iterations, iterations + 1);
  EXPECT_FALSE(loop().is_running());
  run_one_iteration(loop());
  EXPECT_TRUE(later_ran);
}

TEST_P(TimerTest, RunForeverRunsUntilStopAndReportsRunningMeanwhile) {
  int ticks = 0;
  bool running_inside = false;
  // Re-arms itself each iteration; stops on the fifth run.
  struct Ticker {
    Loop* loop;
    int* ticks;
    bool* running_inside;
    void operator()() const {
      *running_inside = loop->is_running();
      if (++*ticks == 5) {
        loop->stop();
      } else {
        loop->call_soon(*this);
      }
    }
  };
  loop().call_soon(Ticker{&loop(), &ticks, &running_inside});
  EXPECT_FALSE(loop().is_running());
  loop().run_forever();
  EXPECT_EQ(ticks, 5);
  EXPECT_TRUE(running_inside);
  EXPECT_FALSE(loop().is_running());
  // The loop can run again after a stop.
  bool again = false;
  loop().call_soon([&] {
    again = true;
    loop().stop();
  });
  loop().run_forever();
  EXPECT_TRUE(again);
}

TEST_P(TimerTest, CancelledCallSoonHandleNeverRuns) {
  bool ran = false;
  Handle handle = loop().call_soon([&] { ran = true; });
  EXPECT_FALSE(handle.cancelled());
  handle.cancel();
  EXPECT_TRUE(handle.cancelled());
  handle.cancel();  // idempotent
  run_one_iteration(loop());
  EXPECT_FALSE(ran);
}

TEST_P(TimerTest, CallSoonCancelledByAnEarlierCallbackOfTheSameIterationNeverRuns) {
  bool ran = false;
  Handle victim;
  loop().call_soon([&] { victim.cancel(); });
  victim = loop().call_soon([&] { ran = true; });
  run_one_iteration(loop());
  EXPECT_FALSE(ran);
  EXPECT_TRUE(victim.cancelled());
}

TEST_P(TimerTest, DroppingAHandleDoesNotCancelTheCallback) {
  bool ran = false;
  {
    loop().call_later(1ms, [&] { ran = true; });
  }
  loop().call_later(10ms, [&] { loop().stop(); });
  loop().run_forever();
  EXPECT_TRUE(ran);
}

// ---- call_later / call_at --------------------------------------------------------------------

TEST_P(TimerTest, CallLaterFiresInDeadlineOrder) {
  std::vector<int> order;
  loop().call_later(30ms, [&] {
    order.push_back(3);
    loop().stop();
  });
  loop().call_later(10ms, [&] { order.push_back(1); });
  loop().call_later(20ms, [&] { order.push_back(2); });
  loop().call_later(1ms, [&] { order.push_back(0); });
  loop().run_forever();
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3}));
}

TEST_P(TimerTest, CallAtFiresInDeadlineOrderEvenWhenAllAreDueTogether) {
  std::vector<int> order;
  const TimePoint now = loop().time();
  // All due before the loop looks: they still fire earliest deadline first.
  loop().call_at(now - 1ms, [&] { order.push_back(3); });
  loop().call_at(now - 3ms, [&] { order.push_back(1); });
  loop().call_at(now - 2ms, [&] { order.push_back(2); });
  loop().call_at(now - 4ms, [&] { order.push_back(0); });
  loop().call_later(5ms, [&] { loop().stop(); });
  loop().run_forever();
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3}));
}

TEST_P(TimerTest, EqualDeadlinesFireInSchedulingOrder) {
  std::vector<int> order;
  const TimePoint when = loop().time() + 5ms;
  for (int i = 0; i < 20; ++i)
    loop().call_at(when, [&order, i] { order.push_back(i); });
  loop().call_at(when, [&] { loop().stop(); });
  loop().run_forever();
  std::vector<int> expected;
  for (int i = 0; i < 20; ++i)
    expected.push_back(i);
  EXPECT_EQ(order, expected);
}

TEST_P(TimerTest, CallLaterAndCallAtInterleaveByDeadline) {
  std::vector<std::string> order;
  const TimePoint now = loop().time();
  loop().call_at(now + 40ms, [&] { order.push_back("at+40"); });
  loop().call_later(10ms, [&] { order.push_back("later+10"); });
  loop().call_at(now + 5ms, [&] { order.push_back("at+5"); });
  loop().call_later(60ms, [&] {
    order.push_back("later+60");
    loop().stop();
  });
  loop().run_forever();
  EXPECT_EQ(order, (std::vector<std::string>{"at+5", "later+10", "at+40", "later+60"}));
}

TEST_P(TimerTest, TimerFiresNoEarlierThanItsDeadline) {
  TimePoint fired_at{};
  const TimePoint deadline = loop().time() + 15ms;
  Handle handle = loop().call_at(deadline, [&] {
    fired_at = loop().time();
    loop().stop();
  });
  EXPECT_EQ(handle.when(), deadline);
  loop().run_forever();
  EXPECT_GE(fired_at, deadline);
}

TEST_P(TimerTest, CancelledTimerNeverFires) {
  bool fired = false;
  Handle handle = loop().call_later(5ms, [&] { fired = true; });
  handle.cancel();
  EXPECT_TRUE(handle.cancelled());
  loop().call_later(30ms, [&] { loop().stop(); });
  loop().run_forever();
  EXPECT_FALSE(fired);
}

TEST_P(TimerTest, OnlyTheUncancelledTimersOfABatchFire) {
  std::vector<int> fired;
  std::vector<Handle> handles;
  for (int i = 0; i < 10; ++i) {
    handles.push_back(
        loop().call_later(std::chrono::milliseconds(1 + i), [&fired, i] { fired.push_back(i); }));
  }
  for (int i = 0; i < 10; i += 2)
    handles[static_cast<std::size_t>(i)].cancel();
  loop().call_later(30ms, [&] { loop().stop(); });
  loop().run_forever();
  EXPECT_EQ(fired, (std::vector<int>{1, 3, 5, 7, 9}));
}

TEST_P(TimerTest, TimerCancelledAfterReachingTheReadyQueueNeverRuns) {
  // Both are due together, so both move to the ready queue in one iteration; the first then
  // cancels the second before it runs.
  bool victim_ran = false;
  Handle victim;
  const TimePoint when = loop().time() + 2ms;
  loop().call_at(when, [&] { victim.cancel(); });
  victim = loop().call_at(when, [&] { victim_ran = true; });
  loop().call_at(when, [&] { loop().stop(); });
  loop().run_forever();
  EXPECT_TRUE(victim.cancelled());
  EXPECT_FALSE(victim_ran);
}

TEST_P(TimerTest, CancellingAFiredTimerIsHarmless) {
  int runs = 0;
  Handle handle = loop().call_later(1ms, [&] {
    ++runs;
    loop().stop();
  });
  loop().run_forever();
  handle.cancel();
  run_one_iteration(loop());
  EXPECT_EQ(runs, 1);
}

TEST_P(TimerTest, EqualDeadlinesFireInSchedulingOrderAroundCancellations) {
  std::vector<int> fired;
  std::vector<Handle> handles;
  const TimePoint when = loop().time() + 3ms;
  for (int i = 0; i < 30; ++i) {
    // A few earlier and later deadlines among the tied ones.
    const TimePoint deadline = i % 7 == 6 ? when + std::chrono::milliseconds(i % 2 ? 1 : -1) : when;
    handles.push_back(loop().call_at(deadline, [&fired, i] { fired.push_back(i); }));
  }
  for (int i = 0; i < 30; i += 4)
    handles[static_cast<std::size_t>(i)].cancel();  // the first tied one among them
  loop().call_at(when + 10ms, [&] { loop().stop(); });
  loop().run_forever();
  // The uncancelled ones due at when-1ms, then the tied ones in scheduling order, then when+1ms.
  const auto cancelled = [](int i) { return i % 4 == 0; };
  std::vector<int> expected;
  for (int i = 6; i < 30; i += 14) {
    if (!cancelled(i)) expected.push_back(i);
  }
  for (int i = 0; i < 30; ++i) {
    if (i % 7 != 6 && !cancelled(i)) expected.push_back(i);
  }
  for (int i = 13; i < 30; i += 14) {
    if (!cancelled(i)) expected.push_back(i);
  }
  EXPECT_EQ(fired, expected);
}

TEST_P(TimerTest, CancellingTheEarliestTimerLetsTheNextFireAtItsTime) {
  std::vector<std::string> order;
  Handle earliest = loop().call_later(1ms, [&] { order.push_back("cancelled"); });
  Handle next = loop().call_later(15ms, [&] { order.push_back("next"); });
  TimePoint next_ran_at{};
  loop().call_later(15ms, [&] { next_ran_at = loop().time(); });
  loop().call_later(25ms, [&] {
    order.push_back("last");
    loop().stop();
  });
  earliest.cancel();
  loop().run_forever();
  EXPECT_EQ(order, (std::vector<std::string>{"next", "last"}));
  EXPECT_GE(next_ran_at, next.when());
  EXPECT_TRUE(earliest.cancelled());
}

// With only cancelled timers, the loop has no deadline to wake for: a sleep of 40 ms takes a
// handful of iterations, not one per cancelled timer (their deadlines spread over those 40 ms).
TEST_P(TimerTest, CancelledTimersDoNotWakeTheLoop) {
  std::vector<Handle> handles;
  for (int i = 0; i < 200; ++i) {
    handles.push_back(loop().call_later(std::chrono::microseconds(200 * (i + 1)), [] {}));
  }
  for (Handle& handle : handles)
    handle.cancel();
  const std::uint64_t before = loop().stats().iterations;
  loop().run_until_complete(nap(40ms));
  EXPECT_LT(loop().stats().iterations - before, 20u);
}

TEST_P(TimerTest, WhenAnswersWhileArmedAfterFiringAndAfterCancelling) {
  const TimePoint now = loop().time();
  Handle fired = loop().call_at(now + 2ms, [] {});
  Handle cancelled = loop().call_at(now + 3ms, [] {});
  EXPECT_EQ(fired.when(), now + 2ms);
  EXPECT_EQ(cancelled.when(), now + 3ms);
  cancelled.cancel();
  loop().run_until_complete(nap(5ms));
  EXPECT_EQ(fired.when(), now + 2ms);
  EXPECT_EQ(cancelled.when(), now + 3ms);
  EXPECT_EQ(loop().call_soon([] {}).when(), TimePoint{});
}

TEST_P(TimerTest, ManyCancelledTimersAmongAFewLiveOnesFireInOrder) {
  std::vector<int> fired;
  std::vector<Handle> live;
  for (int i = 0; i < 3; ++i) {
    live.push_back(
        loop().call_later(std::chrono::milliseconds(2 + i), [&fired, i] { fired.push_back(i); }));
  }
  for (int i = 0; i < 100'000; ++i) {
    loop()
        .call_later(std::chrono::microseconds(i % 5000), [&fired] { fired.push_back(-1); })
        .cancel();
  }
  loop().call_later(10ms, [&] { loop().stop(); });
  loop().run_forever();
  EXPECT_EQ(fired, (std::vector<int>{0, 1, 2}));
}

// ---- loop time and sleep ---------------------------------------------------------------------

TEST_P(TimerTest, LoopTimeNeverGoesBackwards) {
  TimePoint previous = loop().time();
  for (int i = 0; i < 10'000; ++i) {
    const TimePoint now = loop().time();
    ASSERT_GE(now, previous);
    previous = now;
  }
}

TEST_P(TimerTest, LoopTimeAdvancesAcrossASleep) {
  EXPECT_GE(run(time_advances_across_a_sleep()), 3000);
}

TEST_P(TimerTest, SleepLastsAtLeastTheRequestedDuration) {
  for (Duration requested : {Duration(1ms), Duration(5ms), Duration(20ms)}) {
    Duration elapsed{};
    run(measure_sleep(requested, &elapsed));
    EXPECT_GE(elapsed, requested);
  }
}

TEST_P(TimerTest, SleepAcceptsFractionalSeconds) {
  Duration elapsed{};
  run(measure_fractional_sleep(&elapsed));
  EXPECT_GE(elapsed, 4ms);
}

TEST_P(TimerTest, YieldNowInterleavesTwoTasksAlternately) {
  std::string log;
  run(run_two(log_and_yield('A', 4, &log), log_and_yield('B', 4, &log)));
  EXPECT_EQ(log, "ABABABAB");
}

TEST_P(TimerTest, SleepZeroYieldsLikeYieldNow) {
  // If sleep(0) went through the timer heap, the sleeper would fall behind the yielding task.
  std::string log;
  run(run_two(log_and_sleep('A', 4, 0ms, &log), log_and_yield('B', 4, &log)));
  EXPECT_EQ(log, "ABABABAB");
}

TEST_P(TimerTest, NegativeSleepYieldsLikeYieldNow) {
  std::string log;
  run(run_two(log_and_sleep('A', 4, -5ms, &log), log_and_yield('B', 4, &log)));
  EXPECT_EQ(log, "ABABABAB");
}

// ---- misuse ----------------------------------------------------------------------------------

TEST_P(TimerTest, RunUntilCompleteOnTheRunningLoopRaisesLoopError) {
  bool threw = false;
  EXPECT_EQ(run(nested_run_until_complete(&loop(), &threw)), 7);
  EXPECT_TRUE(threw);
  EXPECT_TRUE(loop().all_tasks().empty()) << "the refused task was spawned anyway";
}

TEST_P(TimerTest, RunUntilCompleteOfAHandleOnTheRunningLoopRaisesLoopError) {
  bool threw = false;
  auto other = loop().spawn(answer_after_yield());
  EXPECT_EQ(run(nested_run_until_complete_on_handle(&loop(), other, &threw)), 42);
  EXPECT_TRUE(threw);
}

TEST_P(TimerTest, RunForeverOnTheRunningLoopRaisesLoopError) {
  bool threw = false;
  run(nested_run_forever(&loop(), &threw));
  EXPECT_TRUE(threw);
}

TEST_P(TimerTest, CurrentLoopIsThisThreadsLoop) {
  EXPECT_EQ(&Loop::current(), &loop());
  EXPECT_EQ(Loop::current_or_null(), &loop());
}

TEST_P(TimerTest, CurrentWithNoLoopOnTheThreadRaisesLoopError) {
  bool threw = false;
  bool null_without_loop = false;
  std::thread thread([&] {
    try {
      Loop::current();
    } catch (const LoopError&) {
      threw = true;
    }
    null_without_loop = Loop::current_or_null() == nullptr;
  });
  thread.join();
  EXPECT_TRUE(threw);
  EXPECT_TRUE(null_without_loop);
}

// ---- errors in callbacks -----------------------------------------------------------------------

TEST_P(TimerTest, ExceptionFromACallbackIsReportedAndTheLoopGoesOn) {
  bool later_ran = false;
  loop().call_soon([] { throw std::runtime_error("callback failed"); });
  loop().call_soon([&] { later_ran = true; });
  run_one_iteration(loop());
  EXPECT_TRUE(later_ran);
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_EQ(reports[0].message.rfind("Exception in callback", 0), 0u) << reports[0].message;
  EXPECT_EQ(message_of(reports[0].exception), "callback failed");
  reports.clear();
}

TEST_P(TimerTest, ExceptionFromATimerCallbackIsReported) {
  loop().call_later(1ms, [] { throw std::runtime_error("timer failed"); });
  loop().call_later(10ms, [&] { loop().stop(); });
  loop().run_forever();
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_EQ(reports[0].message.rfind("Exception in callback", 0), 0u) << reports[0].message;
  EXPECT_EQ(message_of(reports[0].exception), "timer failed");
  reports.clear();
}

// ---- debug mode ------------------------------------------------------------------------------

class DebugTimerTest : public TimerTest {
 protected:
  LoopOptions options() const override {
    LoopOptions result = LoopTest::options();
    result.debug = true;
    result.slow_callback_duration = 10ms;
    return result;
  }
};

bool has_report_containing(const std::vector<ExceptionContext>& reports, const std::string& a,
                           const std::string& b) {
  for (const ExceptionContext& report : reports) {
    if (report.message.find(a) != std::string::npos &&
        report.message.find(b) != std::string::npos) {
      return true;
    }
  }
  return false;
}

TEST_P(DebugTimerTest, DebugOptionTurnsDebugModeOn) {
  EXPECT_TRUE(loop().debug());
}

TEST_P(DebugTimerTest, SlowTaskStepIsReportedWithTheTaskName) {
  auto slow = loop().spawn(busy_step(30ms), "slow");
  loop().run_until_complete(slow);
  EXPECT_TRUE(has_report_containing(reports, "took", "task 'slow'"))
      << "reports: " << reports.size();
  for (const ExceptionContext& report : reports)
    EXPECT_EQ(report.exception, nullptr);
  reports.clear();
}

TEST_P(DebugTimerTest, SlowCallbackIsReported) {
  loop().call_soon([] { busy_wait(30ms); });
  run_one_iteration(loop());
  EXPECT_TRUE(has_report_containing(reports, "took", "callback")) << "reports: " << reports.size();
  reports.clear();
}

TEST_P(DebugTimerTest, ExceptionFromACallbackIsStillReportedInDebugMode) {
  loop().call_soon([] { throw std::runtime_error("debug callback failed"); });
  run_one_iteration(loop());
  bool found = false;
  for (const ExceptionContext& report : reports) {
    if (report.message.rfind("Exception in callback", 0) == 0 &&
        message_of(report.exception) == "debug callback failed") {
      found = true;
    }
  }
  EXPECT_TRUE(found);
  reports.clear();
}

RINGLOOP_ON_BOTH_BACKENDS(TimerTest);
RINGLOOP_ON_BOTH_BACKENDS(DebugTimerTest);

}  // namespace
}  // namespace ringloop::testing
