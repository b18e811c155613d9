// The asyncio-style combinators: gather, wait, as_completed, wait_for, timeout scopes, shield
// and TaskGroup, each on its success, failure and cancellation paths. Every test ends with no
// task left in the loop (checked at teardown).

#include <chrono>
#include <cstddef>
#include <memory>
#include <stdexcept>
#include <string>
#include <tuple>
#include <variant>
#include <vector>

#include "support/cancellation.hpp"
#include "support/exceptions.hpp"
#include "support/loop_fixture.hpp"

namespace ringloop::testing {
namespace {

using namespace std::chrono_literals;
using Log = std::vector<std::string>;

/// LoopTest that also fails a test leaving any task behind in the loop.
class CombinatorTest : public LoopTest {
 protected:
  void TearDown() override {
    if (!IsSkipped()) {
      for (TaskRef& task : loop().all_tasks()) {
        ADD_FAILURE() << "task left running: " << task.name();
      }
    }
    LoopTest::TearDown();
  }
};

class CombinatorGatherTest : public CombinatorTest {};
class CombinatorWaitTest : public CombinatorTest {};
class CombinatorAsCompletedTest : public CombinatorTest {};
class CombinatorWaitForTest : public CombinatorTest {};
class CombinatorTimeoutTest : public CombinatorTest {};
class CombinatorShieldTest : public CombinatorTest {};
class CombinatorTaskGroupTest : public CombinatorTest {};

// ---- coroutines shared by the tests ------------------------------------------------------------

Task<int> value_after(std::chrono::milliseconds delay, int value) {
  co_await sleep(delay);
  co_return value;
}

Task<std::string> text_after(std::chrono::milliseconds delay, std::string text) {
  co_await sleep(delay);
  co_return text;
}

Task<> pause(std::chrono::milliseconds delay) {
  co_await sleep(delay);
}

Task<int> fail_after(std::chrono::milliseconds delay, std::string message) {
  co_await sleep(delay);
  throw std::runtime_error(message);
}

Task<> sleep_forever() {
  co_await sleep(1h);
}

Task<int> value_of(Future<int> future) {
  const int value = co_await future;
  co_return value;
}

Task<> fail_when_set(Future<> trigger, std::string message) {
  co_await trigger;
  throw std::runtime_error(message);
}

/// Catches its cancellation, goes on for `linger`, then ends cancelled; logs both steps.
Task<> slow_to_cancel(std::chrono::milliseconds linger, Log* log, std::string name) {
  try {
    co_await sleep(1h);
  } catch (const CancelledError&) {
    log->push_back(name + " cancelled");
  }
  co_await sleep(linger);
  log->push_back(name + " finished");
  throw CancelledError{};
}

/// Catches its cancellation, goes on for `linger`, then returns 7.
Task<int> ignore_cancellation_for(std::chrono::milliseconds linger, bool* finished) {
  try {
    co_await sleep(1h);
  } catch (const CancelledError&) {
  }
  co_await sleep(linger);
  *finished = true;
  co_return 7;
}

// ---- gather
// --------------------------------------------------------------------------------------

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

// ---- wait
// ----------------------------------------------------------------------------------------

template <class Handle>
std::vector<int> values_of(std::vector<Handle>& tasks) {
  std::vector<int> values;
  for (Handle& task : tasks) {
    values.push_back(task.result());
  }
  return values;
}

Task<std::string> wait_first_completed() {
  std::vector<TaskHandle<int>> tasks{spawn(value_after(1h, 1)), spawn(value_after(5ms, 2)),
                                     spawn(value_after(1h, 3))};
  auto result = co_await wait(tasks, ReturnWhen::first_completed);
  std::string outcome = std::to_string(result.done.size()) + " done, " +
                        std::to_string(result.pending.size()) + " pending, first gave " +
                        std::to_string(result.done.at(0).result());
  for (TaskHandle<int>& task : result.pending) {
    if (task.done() || task.cancelling()) outcome += ", a pending task was touched";
  }
  co_await cancel_all(result.pending);
  co_return outcome;
}

TEST_P(CombinatorWaitTest, FirstCompletedReturnsAsSoonAsOneTaskIsDone) {
  EXPECT_EQ(run(wait_first_completed()), "1 done, 2 pending, first gave 2");
}

Task<std::string> wait_first_exception() {
  std::vector<TaskHandle<int>> tasks{spawn(value_after(1ms, 1)), spawn(fail_after(10ms, "bad")),
                                     spawn(value_after(1h, 3))};
  auto result = co_await wait(tasks, ReturnWhen::first_exception);
  std::string outcome = std::to_string(result.done.size()) + " done, " +
                        std::to_string(result.pending.size()) + " pending";
  if (result.pending.size() == 1 && result.pending[0] == tasks[2]) outcome += ", the sleeper";
  if (tasks[1].done()) outcome += ", failure: " + message_of(tasks[1].exception());
  co_await cancel_all(result.pending);
  co_return outcome;
}

TEST_P(CombinatorWaitTest, FirstExceptionReturnsAtTheFirstFailure) {
  EXPECT_EQ(run(wait_first_exception()), "2 done, 1 pending, the sleeper, failure: bad");
}

Task<std::size_t> wait_first_exception_without_failure() {
  TaskHandle<int> cancelled = spawn(value_after(1h, 0));
  cancelled.cancel();  // a cancellation is not an exception for wait()
  std::vector<TaskHandle<int>> tasks{spawn(value_after(1ms, 1)), cancelled,
                                     spawn(value_after(10ms, 2))};
  auto result = co_await wait(tasks, ReturnWhen::first_exception);
  co_return result.pending.empty() ? result.done.size() : 0;
}

TEST_P(CombinatorWaitTest, FirstExceptionWithoutAnyFailureWaitsForEveryTask) {
  EXPECT_EQ(run(wait_first_exception_without_failure()), 3u);
}

Task<std::vector<int>> wait_all_completed() {
  std::vector<TaskHandle<int>> tasks{spawn(value_after(20ms, 1)), spawn(value_after(1ms, 2)),
                                     spawn(value_after(10ms, 3))};
  auto result = co_await wait(tasks);
  if (!result.pending.empty()) co_return std::vector<int>{};
  co_return values_of(result.done);
}

TEST_P(CombinatorWaitTest, AllCompletedWaitsForEveryTaskAndKeepsInputOrder) {
  EXPECT_EQ(run(wait_all_completed()), (std::vector<int>{1, 2, 3}));
}

Task<std::string> wait_with_timeout() {
  std::vector<TaskHandle<int>> tasks{spawn(value_after(1h, 1)), spawn(value_after(1ms, 2)),
                                     spawn(value_after(1h, 3))};
  auto result = co_await wait(tasks, ReturnWhen::all_completed, 20ms);
  std::string outcome = std::to_string(result.done.size()) + " done, " +
                        std::to_string(result.pending.size()) + " pending";
  for (TaskHandle<int>& task : result.pending) {
    if (task.done() || task.cancelling()) outcome += ", a pending task was cancelled";
  }
  co_await cancel_all(result.pending);
  co_return outcome;
}

TEST_P(CombinatorWaitTest, TimeoutReturnsThePendingTasksWithoutCancellingThem) {
  EXPECT_EQ(run(wait_with_timeout()), "1 done, 2 pending");
}

Task<> wait_forever_on(std::vector<TaskHandle<int>> tasks) {
  co_await wait(tasks);
}

Task<std::string> cancel_waiter_then_finish(TaskHandle<int> task) {
  TaskHandle<> waiter = spawn(wait_forever_on({task}));
  const bool cancelled = co_await cancel_after(waiter, 5ms);
  std::string outcome = cancelled ? "waiter cancelled" : "waiter not cancelled";
  if (task.cancelling() || task.done()) outcome += ", task touched";
  const int value = co_await task;
  co_return outcome + ", task gave " + std::to_string(value);
}

TEST_P(CombinatorWaitTest, CancellingTheWaiterLeavesTheTasksRunning) {
  TaskHandle<int> task = loop().spawn(value_after(30ms, 9));
  EXPECT_EQ(run(cancel_waiter_then_finish(task)), "waiter cancelled, task gave 9");
}

Task<std::vector<int>> wait_on_spawned_tasks() {
  std::vector<Task<int>> tasks;
  tasks.push_back(value_after(5ms, 1));
  tasks.push_back(value_after(1ms, 2));
  auto result = co_await wait(std::move(tasks));
  co_return values_of(result.done);  // TaskHandle<int> each
}

TEST_P(CombinatorWaitTest, SpawnsTasksAndHandsBackTheirTypedHandles) {
  EXPECT_EQ(run(wait_on_spawned_tasks()), (std::vector<int>{1, 2}));
}

Task<std::size_t> wait_on_task_refs() {
  std::vector<TaskRef> tasks{TaskRef(spawn(pause(1ms))), TaskRef(spawn(pause(2ms)))};
  auto result = co_await wait(tasks);
  co_return result.done.size();
}

TEST_P(CombinatorWaitTest, AcceptsUntypedTaskRefs) {
  EXPECT_EQ(run(wait_on_task_refs()), 2u);
}

Task<std::size_t> wait_on_nothing() {
  auto result = co_await wait(std::vector<TaskRef>{}, ReturnWhen::first_completed);
  co_return result.done.size() + result.pending.size();
}

TEST_P(CombinatorWaitTest, EmptyRangeReturnsAtOnce) {
  EXPECT_EQ(run(wait_on_nothing()), 0u);
}

// ---- as_completed ------------------------------------------------------------------------------

Task<std::vector<int>> values_in_completion_order() {
  std::vector<TaskHandle<int>> tasks{spawn(value_after(30ms, 30)), spawn(value_after(10ms, 10)),
                                     spawn(value_after(20ms, 20))};
  auto completed = as_completed(tasks);
  std::vector<int> values;
  while (completed.remaining() > 0) {
    TaskHandle<int> next = co_await completed.next();
    values.push_back(next.result());
  }
  co_return values;
}

TEST_P(CombinatorAsCompletedTest, HandsTasksBackInTheOrderTheyFinish) {
  EXPECT_EQ(run(values_in_completion_order()), (std::vector<int>{10, 20, 30}));
}

Task<std::string> as_completed_with_timeout() {
  std::vector<Task<int>> tasks;
  tasks.push_back(value_after(1h, 1));
  tasks.push_back(value_after(1ms, 2));
  auto completed = as_completed(std::move(tasks), 20ms);
  std::string outcome;
  TaskHandle<int> first = co_await completed.next();
  outcome = "first gave " + std::to_string(first.result());
  try {
    co_await completed.next();
    outcome += ", then another";
  } catch (const TimeoutError&) {
    outcome += ", then TimeoutError";
  }
  outcome += ", " + std::to_string(completed.remaining()) + " remaining";
  co_return outcome;
}

TEST_P(CombinatorAsCompletedTest, TimeoutRaisesTimeoutErrorAndLeavesTheRestRunning) {
  EXPECT_EQ(run(as_completed_with_timeout()), "first gave 2, then TimeoutError, 1 remaining");
  std::vector<TaskRef> left = loop().all_tasks();
  ASSERT_EQ(left.size(), 1u) << "the sleeper must still run";
  EXPECT_FALSE(left[0].cancelling());
  left[0].cancel();
  run(pause(1ms));  // lets it finish cancelled
}

Task<> take_one_completed(std::vector<TaskHandle<int>> tasks) {
  auto completed = as_completed(tasks);
  co_await completed.next();
}

Task<std::string> cancel_as_completed_caller(TaskHandle<int> task) {
  TaskHandle<> caller = spawn(take_one_completed({task}));
  const bool cancelled = co_await cancel_after(caller, 5ms);
  const int value = co_await task;
  co_return std::string(cancelled ? "caller cancelled" : "caller not cancelled") + ", task gave " +
      std::to_string(value);
}

TEST_P(CombinatorAsCompletedTest, CancellingTheCallerLeavesTheTasksRunning) {
  TaskHandle<int> task = loop().spawn(value_after(30ms, 4));
  EXPECT_EQ(run(cancel_as_completed_caller(task)), "caller cancelled, task gave 4");
}

Task<bool> next_after_the_last() {
  auto completed = as_completed(std::vector<TaskHandle<int>>{spawn(value_after(1ms, 1))});
  co_await completed.next();
  try {
    co_await completed.next();
  } catch (const InvalidStateError&) {
    co_return true;
  }
  co_return false;
}

TEST_P(CombinatorAsCompletedTest, NextAfterEveryTaskWasHandedOutThrowsInvalidStateError) {
  EXPECT_TRUE(run(next_after_the_last()));
}

// ---- wait_for
// ------------------------------------------------------------------------------------

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

// ---- timeout scopes
// ------------------------------------------------------------------------------

Task<std::string> sleep_in_scope(std::chrono::milliseconds deadline,
                                 std::chrono::milliseconds work) {
  std::string outcome;
  try {
    auto scope = timeout(deadline);
    try {
      co_await sleep(work);
    } catch (const CancelledError&) {
      outcome = scope.expired() ? "expired; " : "not expired; ";
      scope.raise_if_expired();
      throw;
    }
    outcome = scope.expired() ? "completed although expired" : "completed";
  } catch (const TimeoutError&) {
    outcome += "TimeoutError";
  }
  co_await sleep(1ms);  // raises CancelledError if the scope leaked its cancellation
  co_return outcome;
}

TEST_P(CombinatorTimeoutTest, ScopeTurnsTheCancellationItCausedIntoTimeoutError) {
  EXPECT_EQ(run(sleep_in_scope(10ms, 1h)), "expired; TimeoutError");
}

TEST_P(CombinatorTimeoutTest, ScopeWhoseDeadlineDoesNotPassChangesNothing) {
  EXPECT_EQ(run(sleep_in_scope(1h, 1ms)), "completed");
}

Task<std::string> scope_then_sleep_past_its_deadline() {
  {
    auto scope = timeout(10ms);
    co_await sleep(1ms);
  }
  co_await sleep(30ms);  // CancelledError if the destroyed scope still fired
  co_return "not cancelled";
}

TEST_P(CombinatorTimeoutTest, DestroyedScopeIsDisarmed) {
  EXPECT_EQ(run(scope_then_sleep_past_its_deadline()), "not cancelled");
}

Task<Log> reschedule_scopes(Loop* loop) {
  Log log;
  {
    auto scope = timeout(10ms);
    scope.reschedule(loop->time() + 1h);
    co_await sleep(30ms);
    log.push_back(scope.expired() ? "later deadline expired" : "later deadline kept");
  }
  {
    auto scope = timeout(std::nullopt);
    EXPECT_FALSE(scope.when().has_value());
    scope.reschedule(loop->time() + 5ms);
    try {
      co_await sleep(1h);
    } catch (const CancelledError&) {
      log.push_back("earlier deadline cancelled the sleep");
      try {
        scope.raise_if_expired();
      } catch (const TimeoutError&) {
        log.push_back("TimeoutError");
      }
    }
    try {
      scope.reschedule(std::nullopt);
    } catch (const InvalidStateError&) {
      log.push_back("no reschedule after expiry");
    }
  }
  {
    auto scope = timeout(5ms);
    scope.reschedule(std::nullopt);
    co_await sleep(20ms);
    log.push_back(scope.expired() ? "disarmed scope expired" : "disarmed scope kept quiet");
  }
  co_return log;
}

TEST_P(CombinatorTimeoutTest, RescheduleMovesOrRemovesTheDeadline) {
  EXPECT_EQ(run(reschedule_scopes(&loop())),
            (Log{"later deadline kept", "earlier deadline cancelled the sleep", "TimeoutError",
                 "no reschedule after expiry", "disarmed scope kept quiet"}));
}

Task<std::string> inner_scope_expires_then_outer_scope() {
  std::string outcome;
  try {
    auto outer = timeout(30ms);
    try {
      try {
        auto inner = timeout(5ms);
        try {
          co_await sleep(1h);
        } catch (const CancelledError&) {
          inner.raise_if_expired();
          throw;
        }
      } catch (const TimeoutError&) {
        outcome = "inner TimeoutError; ";
      }
      co_await sleep(1h);
    } catch (const CancelledError&) {
      outer.raise_if_expired();  // the inner scope's cancellation, retired, must not confuse it
      throw;
    }
  } catch (const TimeoutError&) {
    outcome += "outer TimeoutError";
  }
  co_return outcome;
}

TEST_P(CombinatorTimeoutTest, NestedScopesEachRecognizeTheirOwnExpiry) {
  EXPECT_EQ(run(inner_scope_expires_then_outer_scope()), "inner TimeoutError; outer TimeoutError");
}

Task<std::string> outer_scope_expires_inside_inner_scope() {
  std::string outcome;
  try {
    auto outer = timeout(5ms);
    try {
      auto inner = timeout(1h);
      try {
        co_await sleep(1h);
      } catch (const CancelledError&) {
        outcome = inner.expired() ? "inner expired; " : "inner passes it on; ";
        inner.raise_if_expired();
        throw;
      }
    } catch (const CancelledError&) {
      outer.raise_if_expired();
      throw;
    }
  } catch (const TimeoutError&) {
    outcome += "outer TimeoutError";
  }
  co_return outcome;
}

TEST_P(CombinatorTimeoutTest, OuterScopeExpiringInsideAnInnerScopeRaisesItsOwnTimeout) {
  EXPECT_EQ(run(outer_scope_expires_inside_inner_scope()),
            "inner passes it on; outer TimeoutError");
}

Task<> sleep_in_long_scope(Log* log) {
  auto scope = timeout(1h);
  try {
    co_await sleep(1h);
  } catch (const CancelledError&) {
    log->push_back(scope.expired() ? "expired" : "not expired");
    scope.raise_if_expired();
    throw;
  }
}

TEST_P(CombinatorTimeoutTest, CancellationFromOutsideStaysACancellation) {
  Log log;
  TaskHandle<> task = loop().spawn(sleep_in_long_scope(&log));
  EXPECT_TRUE(run(cancel_after(task, 5ms)));
  EXPECT_EQ(log, (Log{"not expired"}));
}

Task<> scope_cancelled_right_after_its_deadline(Loop* loop, Log* log) {
  const TimePoint deadline = loop->time() + 10ms;
  TaskRef self = current_task();
  // Same deadline, scheduled first: this callback runs after the scope's timer has fired but
  // before the task resumes, so both cancellations land on one pending request.
  loop->call_at(deadline, [self]() mutable { self.cancel(); });
  auto scope = timeout_at(deadline);
  try {
    co_await sleep(1h);
  } catch (const CancelledError&) {
    log->push_back(scope.expired() ? "expired" : "not expired");
    scope.raise_if_expired();
    log->push_back("kept as a cancellation");
    throw;
  }
}

TEST_P(CombinatorTimeoutTest, CancellationArrivingJustAfterTheDeadlineIsNotSwallowed) {
  Log log;
  TaskHandle<> task = loop().spawn(scope_cancelled_right_after_its_deadline(&loop(), &log));
  EXPECT_TRUE(run(ends_cancelled(task)));
  EXPECT_EQ(log, (Log{"expired", "kept as a cancellation"}));
}

/// Parks on a WaitList; when granted, returns even if a cancellation arrived meanwhile.
struct GrantAwaiter {
  detail::WaitList* list;
  detail::ParkedTask node{};
  bool await_ready() const noexcept { return false; }
  bool await_suspend(std::coroutine_handle<> awaiting) {
    return list->park(node, awaiting, "GrantAwaiter");
  }
  void await_resume() const { node.resume_or_throw(); }
};

Task<std::string> deadline_after_a_grant(Loop* loop, bool raise_after_block) {
  detail::WaitList list;
  std::string outcome;
  {
    auto scope = timeout(1h);
    TimeoutScope* scope_pointer = &scope;
    // Grants the wait, then moves the deadline to now: the scope's timer fires in the next
    // iteration, before the granted task resumes, and its cancellation is never delivered.
    loop->call_later(5ms, [&list, scope_pointer, loop] {
      list.grant_first();
      scope_pointer->reschedule(loop->time());
    });
    co_await GrantAwaiter{&list};
    outcome = scope.expired() ? "expired" : "not expired";
    if (raise_after_block) {
      try {
        scope.raise_if_expired();
      } catch (const TimeoutError&) {
        outcome += ", TimeoutError";
      }
    }
  }
  co_await sleep(1ms);  // raises CancelledError if the scope's request leaked past it
  co_return outcome + ", nothing leaked";
}

TEST_P(CombinatorTimeoutTest, UndeliveredCancellationIsWithdrawnWhenTheScopeEnds) {
  EXPECT_EQ(run(deadline_after_a_grant(&loop(), false)), "expired, nothing leaked");
}

TEST_P(CombinatorTimeoutTest, RaiseIfExpiredAfterTheBlockWithdrawsTheUndeliveredCancellation) {
  EXPECT_EQ(run(deadline_after_a_grant(&loop(), true)), "expired, TimeoutError, nothing leaked");
}

TEST_P(CombinatorTimeoutTest, ScopeOutsideATaskIsALoopError) {
  EXPECT_THROW({ auto scope = timeout(1s); }, LoopError);
}

// ---- shield
// --------------------------------------------------------------------------------------

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

// ---- TaskGroup
// -----------------------------------------------------------------------------------

Task<std::string> record_after(std::chrono::milliseconds delay, Log* log, std::string text) {
  co_await sleep(delay);
  log->push_back(text);
  co_return text;
}

Task<Log> join_three_children() {
  Log log;
  TaskGroup group;
  TaskHandle<std::string> slow = group.spawn(record_after(20ms, &log, "slow"), "slow");
  group.spawn(record_after(1ms, &log, "fast"));
  group.spawn(record_after(10ms, &log, "middle"));
  co_await group.join();
  log.push_back("joined; slow gave " + slow.result());
  co_return log;
}

TEST_P(CombinatorTaskGroupTest, JoinWaitsForEveryChild) {
  EXPECT_EQ(run(join_three_children()), (Log{"fast", "middle", "slow", "joined; slow gave slow"}));
}

Task<std::string> thousand_children_one_failure() {
  TaskGroup group;
  std::vector<TaskHandle<>> siblings;
  for (int index = 0; index < 1000; ++index) {
    if (index == 500) {
      group.spawn(fail_after(5ms, "the one failure"));
    } else {
      siblings.push_back(group.spawn(sleep_forever()));
    }
  }
  std::string outcome;
  try {
    co_await group.join();
    outcome = "no ExceptionGroup";
  } catch (const ExceptionGroup& errors) {
    outcome = std::to_string(errors.exceptions().size()) + " failure(s)";
    for (const std::exception_ptr& error : errors.exceptions()) {
      outcome += ": " + message_of(error);
    }
  }
  std::size_t cancelled = 0;
  for (TaskHandle<>& sibling : siblings) {
    cancelled += sibling.cancelled() ? 1 : 0;
  }
  co_return outcome + ", " + std::to_string(cancelled) + " siblings cancelled";
}

TEST_P(CombinatorTaskGroupTest, FirstFailureCancelsAThousandSiblingsAndIsTheOnlyOneReported) {
  EXPECT_EQ(run(thousand_children_one_failure()),
            "1 failure(s): the one failure, 999 siblings cancelled");
}

Task<std::string> two_failures_in_one_iteration(Future<> trigger) {
  TaskGroup group;
  group.spawn(fail_when_set(trigger, "first"));
  group.spawn(fail_when_set(trigger, "second"));
  TaskHandle<> sleeper = group.spawn(sleep_forever());
  co_await yield_now();  // both children wait on the trigger now
  trigger.set_result();
  std::string outcome;
  try {
    co_await group.join();
  } catch (const ExceptionGroup& errors) {
    for (const std::exception_ptr& error : errors.exceptions()) {
      outcome += message_of(error) + " ";
    }
    outcome += errors.what();
  }
  co_return outcome + (sleeper.cancelled() ? "; sleeper cancelled" : "; sleeper not cancelled");
}

TEST_P(CombinatorTaskGroupTest, EveryFailureIsCollectedButCancellationsAreNot) {
  EXPECT_EQ(run(two_failures_in_one_iteration(Future<>(loop()))),
            "first second 2 child tasks failed; first: std::runtime_error: first; sleeper "
            "cancelled");
}

Task<> join_group_with_slow_child(Log* log) {
  TaskGroup group;
  group.spawn(slow_to_cancel(10ms, log, "child"));
  group.spawn(sleep_forever());
  try {
    co_await group.join();
  } catch (const CancelledError&) {
    log->push_back("join raised CancelledError");
    throw;
  }
}

TEST_P(CombinatorTaskGroupTest, CancellingTheJoinerCancelsTheChildrenAndWaitsForThem) {
  Log log;
  TaskHandle<> parent = loop().spawn(join_group_with_slow_child(&log));
  EXPECT_TRUE(run(cancel_after(parent, 5ms)));
  EXPECT_EQ(log, (Log{"child cancelled", "child finished", "join raised CancelledError"}));
}

Task<std::vector<TaskHandle<>>> leave_group_unjoined() {
  TaskGroup group;
  std::vector<TaskHandle<>> children{group.spawn(sleep_forever()), group.spawn(sleep_forever())};
  co_await yield_now();
  co_return children;  // the group dies here, its children still running
}

Task<std::size_t> children_cancelled_with_their_group() {
  std::vector<TaskHandle<>> children = co_await leave_group_unjoined();
  std::size_t cancelled = 0;
  for (TaskHandle<>& child : children) {
    const bool ended_cancelled = co_await ends_cancelled(child);
    cancelled += ended_cancelled ? 1 : 0;
  }
  co_return cancelled;
}

TEST_P(CombinatorTaskGroupTest, DestroyingTheGroupCancelsItsRunningChildren) {
  EXPECT_EQ(run(children_cancelled_with_their_group()), 2u);
}

Task<> spawn_sibling_later(TaskGroup* group, Log* log) {
  co_await sleep(5ms);
  group->spawn(record_after(10ms, log, "late sibling done"));
  log->push_back("first child done");
}

Task<Log> child_spawns_a_sibling() {
  Log log;
  TaskGroup group;
  group.spawn(spawn_sibling_later(&group, &log));
  co_await group.join();
  log.push_back("joined");
  co_return log;
}

TEST_P(CombinatorTaskGroupTest, JoinAlsoWaitsForChildrenSpawnedWhileItWaits) {
  EXPECT_EQ(run(child_spawns_a_sibling()),
            (Log{"first child done", "late sibling done", "joined"}));
}

Task<std::string> spawn_after_join() {
  TaskGroup group;
  group.spawn(pause(1ms));
  co_await group.join();
  try {
    group.spawn(pause(1ms));
  } catch (const InvalidStateError&) {
    co_return "spawn refused";
  }
  co_return "spawn accepted";
}

TEST_P(CombinatorTaskGroupTest, SpawnAfterJoinThrowsInvalidStateError) {
  EXPECT_EQ(run(spawn_after_join()), "spawn refused");
}

Task<std::string> spawn_while_shutting_down() {
  TaskGroup group;
  group.spawn(fail_after(1ms, "bad"));
  group.spawn(sleep_forever());
  co_await sleep(10ms);  // the failure has cancelled the sibling by now
  std::string outcome;
  try {
    group.spawn(pause(1ms));
    outcome = "spawn accepted";
  } catch (const InvalidStateError&) {
    outcome = "spawn refused";
  }
  try {
    co_await group.join();
  } catch (const ExceptionGroup&) {
    outcome += ", ExceptionGroup";
  }
  co_return outcome;
}

TEST_P(CombinatorTaskGroupTest, SpawnAfterAFailureThrowsInvalidStateError) {
  EXPECT_EQ(run(spawn_while_shutting_down()), "spawn refused, ExceptionGroup");
}

Task<std::size_t> abandon_group_after_failure() {
  TaskGroup group;
  group.spawn(fail_after(1ms, "never joined"));
  while (group.running() > 0)
    co_await sleep(1ms);
  co_return group.running();
}

TEST_P(CombinatorTaskGroupTest, FailureThatJoinNeverDeliveredIsReportedWhenTheGroupDies) {
  EXPECT_EQ(run(abandon_group_after_failure()), 0u);
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_EQ(reports[0].message,
            "TaskGroup destroyed before join() reported a child task's failure");
  EXPECT_EQ(message_of(reports[0].exception), "never joined");
  reports.clear();
}

Task<bool> join_empty_group() {
  TaskGroup group;
  co_await group.join();
  co_return group.running() == 0;
}

TEST_P(CombinatorTaskGroupTest, JoinOfAnEmptyGroupReturnsAtOnce) {
  EXPECT_TRUE(run(join_empty_group()));
}

// ---- a loop closing while combinators wait
// -------------------------------------------------------

class CombinatorTeardownTest : public CombinatorTest {};

Task<> join_sleepers() {
  TaskGroup group;
  group.spawn(sleep_forever());
  group.spawn(sleep_forever());
  co_await group.join();
}

Task<> gather_sleepers() {
  co_await gather(sleep_forever(), sleep_forever());
}

Task<> wait_for_sleeper_in_scope() {
  auto scope = timeout(1h);
  co_await wait_for(sleep_forever(), 1h);
}

Task<> shield_sleeper() {
  co_await shield(sleep_forever());
}

Task<> next_of_sleepers() {
  std::vector<Task<>> tasks;
  tasks.push_back(sleep_forever());
  auto completed = as_completed(std::move(tasks), 1h);
  co_await completed.next();
}

TEST_P(CombinatorTeardownTest, ClosingTheLoopWhileEveryCombinatorWaitsFreesEverything) {
  Log messages;
  {
    LoopOptions options;
    options.backend = GetParam();
    Loop local(options);  // the fixture's loop is not touched
    local.set_exception_handler([&messages](Loop&, const ExceptionContext& context) {
      messages.push_back(context.message);
    });
    local.spawn(join_sleepers());
    local.spawn(gather_sleepers());
    local.spawn(wait_for_sleeper_in_scope());
    local.spawn(shield_sleeper());
    local.spawn(next_of_sleepers());
    local.run_until_complete(pause(5ms));
    EXPECT_EQ(local.all_tasks().size(), 11u);
  }
  // Each pending task is reported once; nothing else (ASan checks that nothing leaks).
  EXPECT_EQ(messages, Log(11, "Task was destroyed but it is pending"));
}

RINGLOOP_ON_BOTH_BACKENDS(CombinatorTeardownTest);
RINGLOOP_ON_BOTH_BACKENDS(CombinatorGatherTest);
RINGLOOP_ON_BOTH_BACKENDS(CombinatorWaitTest);
RINGLOOP_ON_BOTH_BACKENDS(CombinatorAsCompletedTest);
RINGLOOP_ON_BOTH_BACKENDS(CombinatorWaitForTest);
RINGLOOP_ON_BOTH_BACKENDS(CombinatorTimeoutTest);
RINGLOOP_ON_BOTH_BACKENDS(CombinatorShieldTest);
RINGLOOP_ON_BOTH_BACKENDS(CombinatorTaskGroupTest);

}  // namespace
}  // namespace ringloop::testing
