// gather(): variadic and range forms, typed results in argument order, the first failure
// propagating, cancellation of every child, and the return_exceptions forms.

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

class CombinatorGatherTest : public CombinatorTest {};

Task<std::tuple<int, std::string, std::monostate, int>> gather_mixed_arguments() {
  TaskHandle<int> running = spawn(value_after(1ms, 4));
  auto results =
      co_await gather(value_after(30ms, 1), text_after(10ms, "two"), pause(20ms), running);
  co_return results;
}

TEST_P(CombinatorGatherTest, VariadicGivesTypedResultsInArgumentOrderNotFinishingOrder) {
  const auto [first, second, third, fourth] = run(gather_mixed_arguments());
  EXPECT_EQ(first, 1);
  EXPECT_EQ(second, "two");
  EXPECT_EQ(third, std::monostate{});
  EXPECT_EQ(fourth, 4);
}

Task<std::vector<int>> gather_range_of_tasks() {
  std::vector<Task<int>> tasks;
  tasks.push_back(value_after(30ms, 0));
  tasks.push_back(value_after(10ms, 1));
  tasks.push_back(value_after(20ms, 2));
  auto values = co_await gather(std::move(tasks));
  co_return values;
}

TEST_P(CombinatorGatherTest, RangeGivesResultsInInputOrder) {
  EXPECT_EQ(run(gather_range_of_tasks()), (std::vector<int>{0, 1, 2}));
}

Task<bool> gather_range_of_handles() {
  std::vector<TaskHandle<std::string>> handles{spawn(text_after(5ms, "a")),
                                               spawn(text_after(1ms, "b"))};
  auto values = co_await gather(handles);
  // The handles' own results are still there: gather copied them.
  co_return values == std::vector<std::string>{"a", "b"} && handles[0].result() == "a" &&
      handles[1].result() == "b";
}

TEST_P(CombinatorGatherTest, RangeOfHandlesCopiesResultsAndLeavesThemReadable) {
  EXPECT_TRUE(run(gather_range_of_handles()));
}

Task<std::size_t> gather_nothing() {
  auto values = co_await gather(std::vector<Task<int>>{});
  co_return values.size();
}

TEST_P(CombinatorGatherTest, EmptyRangeGivesAnEmptyVector) {
  EXPECT_EQ(run(gather_nothing()), 0u);
}

Task<Log> gather_failing_fast() {
  Log log;
  TaskHandle<int> slow = spawn(value_after(30ms, 7));
  try {
    co_await gather(fail_after(1ms, "boom"), slow);
    log.push_back("no failure");
  } catch (const std::runtime_error& error) {
    log.push_back(std::string("caught ") + error.what());
    log.push_back(slow.done() ? "slow task done" : "slow task still running");
  }
  const int late = co_await slow;
  log.push_back("slow task gave " + std::to_string(late));
  co_return log;
}

TEST_P(CombinatorGatherTest, FirstFailurePropagatesAtOnceWhileTheOthersKeepRunning) {
  EXPECT_EQ(run(gather_failing_fast()),
            (Log{"caught boom", "slow task still running", "slow task gave 7"}));
}

Task<std::string> gather_two_failures() {
  std::string caught;
  try {
    co_await gather(fail_after(1ms, "first"), fail_after(10ms, "second"));
  } catch (const std::runtime_error& error) {
    caught = error.what();
  }
  co_await sleep(30ms);  // the second failure happens meanwhile, unawaited
  co_return caught;
}

TEST_P(CombinatorGatherTest, LaterFailuresOfSiblingsAreRetrievedNotReported) {
  EXPECT_EQ(run(gather_two_failures()), "first");
  EXPECT_TRUE(reports.empty()) << "asyncio's gather marks the failures it did not raise retrieved";
}

Task<> gather_then_log_cancellation(Log* log) {
  try {
    co_await gather(slow_to_cancel(20ms, log, "child"), sleep_forever());
  } catch (const CancelledError&) {
    log->push_back("gather raised CancelledError");
    throw;
  }
}

TEST_P(CombinatorGatherTest, CancellingTheAwaiterCancelsEveryChildAndWaitsForThemAll) {
  Log log;
  TaskHandle<> outer = loop().spawn(gather_then_log_cancellation(&log));
  EXPECT_TRUE(run(cancel_after(outer, 5ms)));
  EXPECT_EQ(log, (Log{"child cancelled", "child finished", "gather raised CancelledError"}));
}

Task<bool> gather_with_cancellation_pending(std::vector<TaskHandle<>> children) {
  current_task().cancel();
  try {
    co_await gather(children);
  } catch (const CancelledError&) {
    co_return children[0].cancelled() && children[1].cancelled();
  }
  co_return false;
}

TEST_P(CombinatorGatherTest, CancellationPendingWhenItStartsStillCancelsEveryChild) {
  std::vector<TaskHandle<>> children{loop().spawn(sleep_forever()), loop().spawn(sleep_forever())};
  EXPECT_TRUE(run(gather_with_cancellation_pending(children)));
}

Task<std::string> gather_with_child_cancelled_elsewhere() {
  TaskHandle<> doomed = spawn(sleep_forever());
  TaskHandle<int> other = spawn(value_after(20ms, 3));
  TaskHandle<bool> canceller = spawn(cancel_after(doomed, 1ms));
  std::string outcome;
  try {
    co_await gather(doomed, other);
    outcome = "no error";
  } catch (const CancelledError&) {
    outcome = "CancelledError";
  }
  const int value = co_await other;
  co_await canceller;
  co_return outcome + (other.cancelled() ? "" : ", other gave " + std::to_string(value));
}

TEST_P(CombinatorGatherTest, ChildCancelledBySomeoneElseRaisesCancelledErrorButCancelsNoSibling) {
  EXPECT_EQ(run(gather_with_child_cancelled_elsewhere()), "CancelledError, other gave 3");
}

Task<std::tuple<Outcome<int>, Outcome<int>, Outcome<int>, Outcome<void>>> gather_settled_mixed() {
  TaskHandle<int> doomed = spawn(value_after(1h, 0), "doomed");
  doomed.cancel();
  auto outcomes = co_await gather(return_exceptions, value_after(10ms, 1), fail_after(1ms, "bad"),
                                  doomed, pause(5ms));
  co_return outcomes;
}

TEST_P(CombinatorGatherTest, ReturnExceptionsGivesEveryValueFailureAndCancellation) {
  auto [ok, failed, cancelled, nothing] = run(gather_settled_mixed());
  ASSERT_TRUE(ok.has_value()) << "a failure must not stop the others";
  EXPECT_EQ(ok.value(), 1);
  EXPECT_EQ(ok.error(), nullptr);
  ASSERT_FALSE(failed.has_value());
  EXPECT_FALSE(failed.cancelled());
  EXPECT_EQ(message_of(failed.error()), "bad");
  EXPECT_THROW(failed.value(), std::runtime_error);
  ASSERT_FALSE(cancelled.has_value());
  EXPECT_TRUE(cancelled.cancelled());
  EXPECT_THROW(cancelled.value(), CancelledError);
  EXPECT_TRUE(nothing.has_value());
}

Task<std::vector<Outcome<int>>> gather_settled_range() {
  std::vector<Task<int>> tasks;
  tasks.push_back(value_after(5ms, 1));
  tasks.push_back(fail_after(1ms, "second failed"));
  tasks.push_back(value_after(10ms, 3));
  auto outcomes = co_await gather(return_exceptions, std::move(tasks));
  co_return outcomes;
}

TEST_P(CombinatorGatherTest, ReturnExceptionsRangeFormKeepsInputOrder) {
  std::vector<Outcome<int>> outcomes = run(gather_settled_range());
  ASSERT_EQ(outcomes.size(), 3u);
  EXPECT_EQ(outcomes[0].value(), 1);
  EXPECT_EQ(message_of(outcomes[1].error()), "second failed");
  EXPECT_EQ(outcomes[2].value(), 3);
}

TEST_P(CombinatorGatherTest, ReturnExceptionsFormCancelledCancelsEveryChild) {
  std::vector<TaskHandle<>> children{loop().spawn(sleep_forever()), loop().spawn(sleep_forever())};
  TaskHandle<std::vector<Outcome<void>>> outer = loop().spawn(gather(return_exceptions, children));
  EXPECT_TRUE(run(cancel_after(outer, 5ms)));
  EXPECT_TRUE(children[0].cancelled());
  EXPECT_TRUE(children[1].cancelled());
}

RINGLOOP_ON_BOTH_BACKENDS(CombinatorGatherTest);

}  // namespace
}  // namespace ringloop::testing
