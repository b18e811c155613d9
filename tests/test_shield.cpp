// shield(): the inner task keeps running when its awaiter is cancelled, outcomes pass through,
// and a failure after the awaiter left reaches the exception handler.

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

class CombinatorShieldTest : public CombinatorTest {};

Task<int> await_shielded(TaskHandle<int> inner) {
  const int value = co_await shield(inner);
  co_return value;
}

Task<std::string> cancel_shield_awaiter(Future<int> release) {
  TaskHandle<int> inner = spawn(value_of(release));
  TaskHandle<int> outer = spawn(await_shielded(inner));
  co_await yield_now();
  co_await yield_now();  // outer is now waiting on the shield
  outer.cancel();
  const bool outer_cancelled = co_await ends_cancelled(outer);
  std::string outcome = outer_cancelled ? "outer cancelled" : "outer not cancelled";
  outcome += inner.done() || inner.cancelling() ? ", inner touched" : ", inner untouched";
  release.set_result(5);
  const int value = co_await inner;
  co_return outcome + ", inner gave " + std::to_string(value);
}

TEST_P(CombinatorShieldTest, InnerTaskKeepsRunningWhenTheAwaiterIsCancelled) {
  EXPECT_EQ(run(cancel_shield_awaiter(Future<int>(loop()))),
            "outer cancelled, inner untouched, inner gave 5");
}

Task<std::string> shield_passes_outcomes() {
  const int value = co_await shield(value_after(1ms, 3));
  std::string outcome = "value " + std::to_string(value);
  try {
    co_await shield(fail_after(1ms, "bad"));
  } catch (const std::runtime_error& error) {
    outcome += std::string(", error ") + error.what();
  }
  TaskHandle<int> done = spawn(value_after(1ms, 4));
  co_await done;
  const int ready = co_await shield(done);
  co_return outcome + ", done " + std::to_string(ready);
}

TEST_P(CombinatorShieldTest, PassesTheValueAndTheFailureThrough) {
  EXPECT_EQ(run(shield_passes_outcomes()), "value 3, error bad, done 4");
}

Task<std::string> shield_with_cancellation_pending(TaskHandle<int> inner) {
  current_task().cancel();
  std::string outcome;
  try {
    co_await shield(inner);
    outcome = "no CancelledError";
  } catch (const CancelledError&) {
    outcome = "CancelledError";
  }
  outcome += inner.cancelling() || inner.done() ? ", inner touched" : ", inner untouched";
  const int value = co_await inner;
  co_return outcome + ", inner gave " + std::to_string(value);
}

TEST_P(CombinatorShieldTest, CancellationPendingAtTheAwaitLeavesTheInnerTaskAlone) {
  TaskHandle<int> inner = loop().spawn(value_after(5ms, 6));
  EXPECT_EQ(run(shield_with_cancellation_pending(inner)),
            "CancelledError, inner untouched, inner gave 6");
}

TEST_P(CombinatorShieldTest, InnerTaskCancelledDirectlyRaisesCancelledErrorInTheAwaiter) {
  TaskHandle<int> inner = loop().spawn(value_after(1h, 0));
  TaskHandle<int> outer = loop().spawn(await_shielded(inner));
  EXPECT_TRUE(run(cancel_after(inner, 5ms)));
  EXPECT_TRUE(run(ends_cancelled(outer)));
}

Task<> await_shielded_failure() {
  co_await shield(fail_after(10ms, "late failure"));
}

TEST_P(CombinatorShieldTest, FailureAfterTheAwaiterLeftReachesTheExceptionHandler) {
  TaskHandle<> outer = loop().spawn(await_shielded_failure());
  EXPECT_TRUE(run(cancel_after(outer, 1ms)));
  run(pause(30ms));  // the shielded task fails meanwhile, with nobody awaiting it
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_EQ(reports[0].message, "Task exception was never retrieved");
  EXPECT_EQ(message_of(reports[0].exception), "late failure");
  reports.clear();
}

RINGLOOP_ON_BOTH_BACKENDS(CombinatorShieldTest);

}  // namespace
}  // namespace ringloop::testing
