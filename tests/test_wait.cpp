// wait() with FIRST_COMPLETED / FIRST_EXCEPTION / ALL_COMPLETED and a timeout, and as_completed():
// completion order, timeouts, and callers cancelled without cancelling the tasks.

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

class CombinatorWaitTest : public CombinatorTest {};
class CombinatorAsCompletedTest : public CombinatorTest {};

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
  } catch (const TimeoutError& error) {
    outcome += std::string(", then ") + error.what();
  }
  outcome += ", " + std::to_string(completed.remaining()) + " remaining";
  co_return outcome;
}

TEST_P(CombinatorAsCompletedTest, TimeoutRaisesTimeoutErrorAndLeavesTheRestRunning) {
  EXPECT_EQ(run(as_completed_with_timeout()),
            "first gave 2, then as_completed(): timed out after 20 ms with 1 task(s) unfinished, 1 "
            "remaining");
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

RINGLOOP_ON_BOTH_BACKENDS(CombinatorWaitTest);
RINGLOOP_ON_BOTH_BACKENDS(CombinatorAsCompletedTest);

}  // namespace
}  // namespace ringloop::testing
