// wait_for(): the value in time, expiry cancelling the work and raising TimeoutError (only after
// work that ignores cancellation finished), and cancellation of the caller.

#include <chrono>
#include <cstddef>
#include <memory>
#include <stdexcept>
#include <string>
#include <tuple>
#include <variant>
#include <vector>

#include "support/cancellation.hpp"
#include "support/combinators.hpp"
#include "support/exceptions.hpp"
#include "support/loop_fixture.hpp"

namespace ringloop::testing {
namespace {

using namespace std::chrono_literals;

class CombinatorWaitForTest : public CombinatorTest {};

Task<std::vector<int>> wait_for_in_time() {
  std::vector<int> values;
  const int inline_value = co_await wait_for(value_after(1ms, 1), 1h);
  values.push_back(inline_value);
  TaskHandle<int> handle = spawn(value_after(1ms, 2));
  const int handle_value = co_await wait_for(handle, 1h);
  values.push_back(handle_value);
  co_await wait_for(pause(1ms), 1h);
  const int unlimited = co_await wait_for(value_after(1ms, 3), std::nullopt);
  values.push_back(unlimited);
  co_return values;
}

TEST_P(CombinatorWaitForTest, GivesTheValueWhenTheWorkEndsBeforeTheDeadline) {
  EXPECT_EQ(run(wait_for_in_time()), (std::vector<int>{1, 2, 3}));
}

Task<std::string> wait_for_expiring_handle() {
  TaskHandle<int> inner = spawn(value_after(1h, 0));
  std::string outcome;
  try {
    co_await wait_for(inner, 10ms);
    outcome = "no timeout";
  } catch (const TimeoutError&) {
    outcome = inner.cancelled() ? "TimeoutError, inner cancelled" : "TimeoutError, inner alive";
  }
  co_await sleep(1ms);  // raises CancelledError if the timeout's cancellation leaked out
  co_return outcome + ", caller fine";
}

TEST_P(CombinatorWaitForTest, ExpiryCancelsTheTaskAndRaisesTimeoutError) {
  EXPECT_EQ(run(wait_for_expiring_handle()), "TimeoutError, inner cancelled, caller fine");
}

Task<std::string> wait_for_stubborn_handle() {
  bool finished = false;
  TaskHandle<int> inner = spawn(ignore_cancellation_for(20ms, &finished));
  try {
    co_await wait_for(inner, 5ms);
    co_return "no timeout";
  } catch (const TimeoutError&) {
  }
  co_return finished&& inner.done() ? "TimeoutError after the task finished"
                                    : "TimeoutError before the task finished";
}

TEST_P(CombinatorWaitForTest, TimeoutErrorArrivesOnlyAfterAHandleIgnoringCancellationFinished) {
  EXPECT_EQ(run(wait_for_stubborn_handle()), "TimeoutError after the task finished");
}

Task<std::string> wait_for_stubborn_task() {
  bool finished = false;
  try {
    co_await wait_for(ignore_cancellation_for(20ms, &finished), 5ms);
    co_return "no timeout";
  } catch (const TimeoutError&) {
  }
  co_return finished ? "TimeoutError after the task finished"
                     : "TimeoutError before the task finished";
}

TEST_P(CombinatorWaitForTest, TimeoutErrorArrivesOnlyAfterATaskIgnoringCancellationFinished) {
  EXPECT_EQ(run(wait_for_stubborn_task()), "TimeoutError after the task finished");
}

Task<int> wait_for_handle_forever(TaskHandle<int> inner) {
  const int value = co_await wait_for(inner, 1h);
  co_return value;
}

TEST_P(CombinatorWaitForTest, CancellingTheCallerCancelsTheTaskAndRaisesCancelledError) {
  TaskHandle<int> inner = loop().spawn(value_after(1h, 0));
  TaskHandle<int> caller = loop().spawn(wait_for_handle_forever(inner));
  EXPECT_TRUE(run(cancel_after(caller, 5ms))) << "CancelledError, not TimeoutError";
  EXPECT_TRUE(inner.cancelled());
}

Task<> wait_for_inline_forever(Log* log) {
  co_await wait_for(slow_to_cancel(10ms, log, "inner"), 1h);
}

TEST_P(CombinatorWaitForTest, CancellingTheCallerCancelsInlineWorkAndWaitsForIt) {
  Log log;
  TaskHandle<> caller = loop().spawn(wait_for_inline_forever(&log));
  EXPECT_TRUE(run(cancel_after(caller, 5ms)));
  EXPECT_EQ(log, (Log{"inner cancelled", "inner finished"}));
}

Task<std::string> wait_for_failing_work() {
  try {
    co_await wait_for(fail_after(1ms, "bad"), 1h);
  } catch (const std::runtime_error& error) {
    co_return error.what();
  }
  co_return "no error";
}

TEST_P(CombinatorWaitForTest, FailureOfTheWorkPropagates) {
  EXPECT_EQ(run(wait_for_failing_work()), "bad");
}

Task<bool> wait_for_with_cancellation_pending(TaskHandle<int> inner) {
  current_task().cancel();
  try {
    co_await wait_for(inner, 1h);
  } catch (const CancelledError&) {
    co_return inner.done() && inner.cancelled();
  }
  co_return false;
}

TEST_P(CombinatorWaitForTest, CancellationPendingAtTheAwaitCancelsTheTaskAndWaitsForIt) {
  TaskHandle<int> inner = loop().spawn(value_after(1h, 0));
  EXPECT_TRUE(run(wait_for_with_cancellation_pending(inner)));
}

RINGLOOP_ON_BOTH_BACKENDS(CombinatorWaitForTest);

}  // namespace
}  // namespace ringloop::testing
