// Tasks: Task<T> values and exceptions through nested awaits, deep await chains, spawn() and
// TaskHandle queries, done callbacks, current_task()/all_tasks(), many concurrent tasks,
// never-retrieved exception reports, ringloop::run(), and awaiting with no running task.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
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

class TaskTest : public LoopTest {};

/// The N of a default "Task-N" name, or -1.
std::int64_t task_number(const std::string& name) {
  if (name.rfind("Task-", 0) != 0) return -1;
  return std::stoll(name.substr(5));
}

// ---- coroutines used by the tests ------------------------------------------------------------

Task<int> forty_two() {
  co_await yield_now();
  co_return 42;
}

Task<> set_flag(bool* flag) {
  co_await yield_now();
  *flag = true;
}

Task<std::unique_ptr<int>> make_box(int value) {
  co_await yield_now();
  co_return std::make_unique<int>(value);
}

Task<int> open_box(int value) {
  std::unique_ptr<int> box = co_await make_box(value);
  co_return *box + 1;
}

Task<int> await_box_handle(TaskHandle<std::unique_ptr<int>> handle) {
  std::unique_ptr<int> box = co_await handle;
  co_return box ? *box : -1;
}

/// Throws std::runtime_error(message) after one yield (when `message` is not empty).
Task<int> fail_after_yield(std::string message) {
  co_await yield_now();
  if (!message.empty()) throw std::runtime_error(message);
  co_return 0;
}

/// Throws before its first suspension.
Task<int> fail_at_once(std::string message) {
  if (!message.empty()) throw std::runtime_error(message);
  co_await yield_now();
  co_return 0;
}

Task<int> add_one_to(std::string message) {
  const int value = co_await fail_after_yield(message);
  co_return value + 1;
}

Task<int> add_two_to(std::string message) {
  const int value = co_await add_one_to(message);
  co_return value + 2;
}

/// Catches the failure two awaits down and goes on awaiting afterwards.
Task<std::string> catch_two_levels_down(std::string message) {
  std::string caught;
  try {
    const int value = co_await add_two_to(message);
    caught = "no exception, value " + std::to_string(value);
  } catch (const std::runtime_error& error) {
    caught = error.what();
  }
  const int after = co_await forty_two();
  co_return caught + " then " + std::to_string(after);
}

Task<int> depth(int n) {
  if (n == 0) co_return 0;
  const int below = co_await depth(n - 1);
  co_return below + 1;
}

Task<int> depth_then_throw(int n) {
  if (n == 0) throw std::runtime_error("bottom of the chain");
  const int below = co_await depth_then_throw(n - 1);
  co_return below + 1;
}

Task<std::string> await_failing_handle(TaskHandle<int> handle) {
  try {
    const int value = co_await handle;
    co_return "value " + std::to_string(value);
  } catch (const std::runtime_error& error) {
    co_return error.what();
  }
}

Task<int> wait_for_gate(Future<int> gate) {
  const int value = co_await gate;
  co_return value + 1;
}

Task<int> open_gate_and_check_pending(Future<int> gate, TaskHandle<int> waiter,
                                      bool* threw_while_pending) {
  co_await yield_now();  // the waiter has started and is parked on the gate
  try {
    waiter.result();
  } catch (const InvalidStateError&) {
    *threw_while_pending = true;
  }
  gate.set_result(5);
  const int value = co_await waiter;
  co_return value;
}

Task<std::string> own_name() {
  co_return current_task().name();
}

Task<> record_after(TaskHandle<int> target, std::string label, std::vector<std::string>* log) {
  co_await target;
  log->push_back(label);
}

Task<> register_in_order(TaskHandle<int> target, Future<int> gate, std::vector<std::string>* log) {
  // Registration order on `target`: A (awaiter), cb1, B (awaiter), cb2, then this task.
  auto first = spawn(record_after(target, "A", log));
  co_await yield_now();  // A starts and parks on target
  target.add_done_callback([log](TaskHandle<int>&) { log->push_back("cb1"); });
  auto second = spawn(record_after(target, "B", log));
  co_await yield_now();  // B starts and parks on target
  target.add_done_callback([log](TaskHandle<int>&) { log->push_back("cb2"); });
  gate.set_result(1);
  co_await target;
  log->push_back("main");
  co_await first;
  co_await second;
}

Task<int> inner_current(TaskRef* seen) {
  co_await yield_now();
  *seen = current_task();
  co_return 1;
}

Task<int> outer_current(TaskRef* seen_outer, TaskRef* seen_inner) {
  *seen_outer = current_task();
  const int value = co_await inner_current(seen_inner);
  co_return value;
}

Task<> sleep_for(Duration duration) {
  co_await sleep(duration);
}

Task<> list_tasks_while_children_sleep(std::vector<std::string>* during,
                                       std::vector<std::string>* after) {
  auto a = spawn(sleep_for(20ms), "sleeper-a");
  auto b = spawn(sleep_for(20ms), "sleeper-b");
  co_await yield_now();
  for (TaskRef& task : all_tasks())
    during->push_back(task.name());
  co_await a;
  co_await b;
  for (TaskRef& task : all_tasks())
    after->push_back(task.name());
}

Task<> sleep_and_count(Duration duration, int* completed) {
  co_await sleep(duration);
  ++*completed;
}

Task<> spawn_many_sleepers(int count, int* completed, std::size_t* peak_tasks) {
  std::vector<TaskHandle<>> handles;
  handles.reserve(static_cast<std::size_t>(count));
  for (int i = 0; i < count; ++i) {
    handles.push_back(spawn(sleep_and_count(std::chrono::milliseconds(1 + i % 5), completed)));
  }
  co_await yield_now();  // every sleeper has started and is parked on its timer
  *peak_tasks = Loop::current().all_tasks().size();
  for (TaskHandle<>& handle : handles)
    co_await handle;
}

Task<> yield_times(int count) {
  for (int i = 0; i < count; ++i)
    co_await yield_now();
}

Task<std::string> retrieve_by_await(TaskHandle<int> handle) {
  try {
    co_await handle;
  } catch (const std::runtime_error& error) {
    co_return error.what();
  }
  co_return "no exception";
}

Task<> leftover_cleans_up(bool* saw_cancel, bool* cleaned) {
  bool cancelled = false;
  try {
    co_await sleep(1h);
  } catch (const CancelledError&) {
    cancelled = true;
  }
  if (cancelled) {
    *saw_cancel = true;
    co_await sleep(1ms);  // cleanup may still await while run() shuts down
    *cleaned = true;
    throw CancelledError{};
  }
}

Task<int> main_with_leftover(bool* saw_cancel, bool* cleaned) {
  auto leftover = spawn(leftover_cleans_up(saw_cancel, cleaned), "leftover");
  co_await yield_now();  // the leftover starts and parks on its sleep
  co_return 42;
}

Task<int> main_throws_with_leftover(bool* saw_cancel, bool* cleaned) {
  auto leftover = spawn(leftover_cleans_up(saw_cancel, cleaned), "leftover");
  co_await yield_now();
  throw std::runtime_error("main failed");
}

Task<> leftover_fails_on_cancel() {
  bool cancelled = false;
  try {
    co_await sleep(1h);
  } catch (const CancelledError&) {
    cancelled = true;
  }
  if (cancelled) throw std::runtime_error("cleanup failed");
}

Task<int> main_capturing_reports(std::vector<ExceptionContext>* out) {
  Loop::current().set_exception_handler(
      [out](Loop&, const ExceptionContext& context) { out->push_back(context); });
  auto leftover = spawn(leftover_fails_on_cancel(), "fails-on-cancel");
  co_await yield_now();
  co_return 1;
}

Task<int> await_future_anywhere(Future<int> future) {
  const int value = co_await future;
  co_return value;
}

Task<int> await_nested_task_catching_loop_error(Future<int> future) {
  try {
    const int value = co_await await_future_anywhere(future);
    co_return value;
  } catch (const LoopError&) {
    co_return -1;
  }
}

Task<std::string> await_same_task_twice() {
  Task<int> task = forty_two();
  const int first = co_await task;
  try {
    const int second = co_await task;
    co_return "second await gave " + std::to_string(second);
  } catch (const InvalidStateError&) {
    co_return "InvalidStateError after " + std::to_string(first);
  }
}

Task<std::string> await_empty_task() {
  Task<int> empty;
  try {
    co_await empty;
  } catch (const InvalidStateError&) {
    co_return "InvalidStateError";
  }
  co_return "no exception";
}

// ---- Task<T> values --------------------------------------------------------------------------

TEST_P(TaskTest, TaskOfIntGivesItsValue) {
  EXPECT_EQ(run(forty_two()), 42);
}

TEST_P(TaskTest, TaskOfVoidRunsItsBodyToTheEnd) {
  bool flag = false;
  run(set_flag(&flag));
  EXPECT_TRUE(flag);
}

TEST_P(TaskTest, MoveOnlyResultTravelsThroughCoAwait) {
  EXPECT_EQ(run(open_box(6)), 7);
}

TEST_P(TaskTest, MoveOnlyResultTravelsThroughRunUntilCompleteAndHandleAwait) {
  std::unique_ptr<int> box = run(make_box(9));
  ASSERT_TRUE(box);
  EXPECT_EQ(*box, 9);

  auto handle = loop().spawn(make_box(11));
  EXPECT_EQ(run(await_box_handle(handle)), 11);
  EXPECT_TRUE(handle.done());
}

// ---- exceptions ----------------------------------------------------------------------------

TEST_P(TaskTest, ExceptionPropagatesThroughNestedAwaitsToRunUntilComplete) {
  try {
    run(add_two_to("deep failure"));
    ADD_FAILURE() << "no exception";
  } catch (const std::runtime_error& error) {
    EXPECT_STREQ(error.what(), "deep failure");
  }
}

TEST_P(TaskTest, ExceptionThrownBeforeTheFirstSuspensionPropagates) {
  EXPECT_THROW(run(fail_at_once("at once")), std::runtime_error);
}

TEST_P(TaskTest, ExceptionCaughtTwoAwaitsUpLetsTheTaskContinue) {
  EXPECT_EQ(run(catch_two_levels_down("caught me")), "caught me then 42");
  EXPECT_EQ(run(catch_two_levels_down("")), "no exception, value 3 then 42");
}

TEST_P(TaskTest, SpawnedTaskExceptionIsRethrownByResultAndGivenByException) {
  auto handle = loop().spawn(fail_after_yield("spawned failure"));
  EXPECT_THROW(loop().run_until_complete(handle), std::runtime_error);
  EXPECT_TRUE(handle.done());
  EXPECT_FALSE(handle.cancelled());
  EXPECT_THROW(handle.result(), std::runtime_error);  // rethrown every time
  std::exception_ptr error = handle.exception();
  ASSERT_TRUE(error);
  EXPECT_EQ(message_of(error), "spawned failure");
}

TEST_P(TaskTest, AwaitingAFailedTaskHandleRethrowsItsException) {
  auto failing = loop().spawn(fail_after_yield("awaited failure"));
  EXPECT_EQ(run(await_failing_handle(failing)), "awaited failure");
  EXPECT_TRUE(failing.done());
}

// ---- deep chains -----------------------------------------------------------------------------

TEST_P(TaskTest, HundredThousandNestedAwaitsDoNotOverflowTheStack) {
  EXPECT_EQ(run(depth(100'000)), 100'000);
}

TEST_P(TaskTest, ExceptionCrossesHundredThousandNestedAwaits) {
  try {
    run(depth_then_throw(100'000));
    ADD_FAILURE() << "no exception";
  } catch (const std::runtime_error& error) {
    EXPECT_STREQ(error.what(), "bottom of the chain");
  }
}

// ---- TaskHandle queries ----------------------------------------------------------------------

TEST_P(TaskTest, HandleReportsPendingThenDoneWithItsResult) {
  Future<int> gate(loop());
  auto waiter = loop().spawn(wait_for_gate(gate));
  EXPECT_FALSE(waiter.done());
  EXPECT_FALSE(waiter.cancelled());
  EXPECT_THROW(waiter.result(), InvalidStateError);
  EXPECT_THROW(waiter.exception(), InvalidStateError);

  bool threw_while_pending = false;
  EXPECT_EQ(run(open_gate_and_check_pending(gate, waiter, &threw_while_pending)), 6);
  EXPECT_TRUE(threw_while_pending);
  EXPECT_TRUE(waiter.done());
  EXPECT_FALSE(waiter.cancelled());
  EXPECT_EQ(waiter.result(), 6);
  EXPECT_EQ(waiter.exception(), nullptr);
}

TEST_P(TaskTest, DefaultNamesAreTaskNumbersThatIncrement) {
  auto first = loop().spawn(forty_two());
  auto second = loop().spawn(forty_two());
  const std::int64_t first_number = task_number(first.name());
  ASSERT_GT(first_number, 0) << first.name();
  EXPECT_EQ(task_number(second.name()), first_number + 1) << second.name();
  EXPECT_EQ(loop().run_until_complete(second), 42);
  EXPECT_TRUE(first.done());
  EXPECT_EQ(first.result(), 42);
}

TEST_P(TaskTest, CustomNameIsKeptAndSeenFromInsideTheTask) {
  auto handle = loop().spawn(own_name(), "worker");
  EXPECT_EQ(handle.name(), "worker");
  EXPECT_EQ(loop().run_until_complete(handle), "worker");
}

TEST_P(TaskTest, DoneCallbackRunsThroughTheLoopAfterCompletion) {
  auto handle = loop().spawn(forty_two());
  bool called = false;
  bool done_when_called = false;
  int result_when_called = 0;
  handle.add_done_callback([&](TaskHandle<int>& task) {
    called = true;
    done_when_called = task.done();
    result_when_called = task.result();
  });
  EXPECT_FALSE(called);
  EXPECT_EQ(loop().run_until_complete(handle), 42);
  EXPECT_TRUE(called);
  EXPECT_TRUE(done_when_called);
  EXPECT_EQ(result_when_called, 42);
}

TEST_P(TaskTest, DoneCallbackAddedToAFinishedTaskRunsInTheNextIterationNotAtOnce) {
  auto handle = loop().spawn(forty_two());
  loop().run_until_complete(handle);
  int calls = 0;
  handle.add_done_callback([&](TaskHandle<int>&) { ++calls; });
  EXPECT_EQ(calls, 0);
  run_one_iteration(loop());
  EXPECT_EQ(calls, 1);
}

TEST_P(TaskTest, DoneCallbacksRunInRegistrationOrder) {
  auto handle = loop().spawn(forty_two());
  std::vector<int> order;
  for (int i = 0; i < 5; ++i) {
    handle.add_done_callback([&order, i](TaskHandle<int>&) { order.push_back(i); });
  }
  loop().run_until_complete(handle);
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4}));
}

TEST_P(TaskTest, DoneCallbacksAndAwaitersResumeInOneRegistrationOrder) {
  Future<int> gate(loop());
  auto target = loop().spawn(wait_for_gate(gate), "target");
  std::vector<std::string> log;
  run(register_in_order(target, gate, &log));
  EXPECT_EQ(log, (std::vector<std::string>{"A", "cb1", "B", "cb2", "main"}));
}

TEST_P(TaskTest, CurrentTaskIsTheSpawnedTaskInsideAndEmptyOutside) {
  EXPECT_FALSE(current_task());
  TaskRef seen_outer;
  TaskRef seen_inner;
  auto handle = loop().spawn(outer_current(&seen_outer, &seen_inner), "outer");
  loop().run_until_complete(handle);
  ASSERT_TRUE(seen_outer);
  EXPECT_TRUE(seen_outer == handle);
  EXPECT_TRUE(seen_inner == handle) << "a co_awaited Task runs inside the spawned task";
  EXPECT_EQ(seen_outer.name(), "outer");
  EXPECT_FALSE(current_task());
}

TEST_P(TaskTest, AllTasksListsPendingTasksAndIsEmptyAfterTheyFinish) {
  std::vector<std::string> during;
  std::vector<std::string> after;
  auto main_task = loop().spawn(list_tasks_while_children_sleep(&during, &after), "main");
  loop().run_until_complete(main_task);
  std::sort(during.begin(), during.end());
  EXPECT_EQ(during, (std::vector<std::string>{"main", "sleeper-a", "sleeper-b"}));
  EXPECT_EQ(after, (std::vector<std::string>{"main"}));
  EXPECT_TRUE(loop().all_tasks().empty());
  EXPECT_TRUE(all_tasks().empty());
}

TEST_P(TaskTest, HundredThousandConcurrentSleepingTasksAllComplete) {
  constexpr int kCount = 100'000;
  int completed = 0;
  std::size_t peak_tasks = 0;
  run(spawn_many_sleepers(kCount, &completed, &peak_tasks));
  EXPECT_EQ(completed, kCount);
  EXPECT_EQ(peak_tasks, static_cast<std::size_t>(kCount) + 1);  // the sleepers and main
  EXPECT_TRUE(loop().all_tasks().empty());
}

// ---- never-retrieved exceptions ----------------------------------------------------------------

TEST_P(TaskTest, DroppedFailingTaskReportsNeverRetrievedExactlyOnce) {
  loop().spawn(fail_after_yield("nobody looked"), "doomed");  // handle dropped at once
  run(yield_times(3));
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_EQ(reports[0].message, "Task exception was never retrieved");
  EXPECT_EQ(reports[0].task_name, "doomed");
  EXPECT_EQ(message_of(reports[0].exception), "nobody looked");
  reports.clear();
}

TEST_P(TaskTest, NeverRetrievedReportNamesADefaultNamedTask) {
  std::string name;
  {
    auto handle = loop().spawn(fail_after_yield("unnamed failure"));
    name = handle.name();
  }
  run(yield_times(3));
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_EQ(reports[0].message, "Task exception was never retrieved");
  EXPECT_EQ(reports[0].task_name, name);
  reports.clear();
}

TEST_P(TaskTest, FailureHeldByAHandleIsReportedWhenTheLastHandleGoes) {
  {
    auto handle = loop().spawn(fail_after_yield("held"), "held");
    run(yield_times(3));
    EXPECT_TRUE(handle.done());
    EXPECT_TRUE(reports.empty()) << "reported while a handle could still retrieve it";
  }
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_EQ(reports[0].task_name, "held");
  reports.clear();
}

TEST_P(TaskTest, RetrievedTaskExceptionsAreNotReported) {
  {
    auto by_result = loop().spawn(fail_after_yield("by result"));
    auto by_exception = loop().spawn(fail_after_yield("by exception"));
    auto by_await = loop().spawn(fail_after_yield("by await"));
    EXPECT_EQ(run(retrieve_by_await(by_await)), "by await");
    run(yield_times(2));
    EXPECT_THROW(by_result.result(), std::runtime_error);
    EXPECT_EQ(message_of(by_exception.exception()), "by exception");
  }
  EXPECT_TRUE(reports.empty());
}

// ---- ringloop::run() -----------------------------------------------------------------------

TEST_P(TaskTest, RunReturnsTheValueOfMain) {
  EXPECT_EQ(ringloop::run(forty_two(), options()), 42);
}

TEST_P(TaskTest, RunRethrowsTheExceptionOfMain) {
  try {
    ringloop::run(add_two_to("main failed"), options());
    ADD_FAILURE() << "no exception";
  } catch (const std::runtime_error& error) {
    EXPECT_STREQ(error.what(), "main failed");
  }
}

TEST_P(TaskTest, RunCancelsLeftoverTasksWhichMayCleanUp) {
  bool saw_cancel = false;
  bool cleaned = false;
  EXPECT_EQ(ringloop::run(main_with_leftover(&saw_cancel, &cleaned), options()), 42);
  EXPECT_TRUE(saw_cancel);
  EXPECT_TRUE(cleaned);
}

TEST_P(TaskTest, RunCancelsLeftoverTasksWhenMainThrows) {
  bool saw_cancel = false;
  bool cleaned = false;
  EXPECT_THROW(ringloop::run(main_throws_with_leftover(&saw_cancel, &cleaned), options()),
               std::runtime_error);
  EXPECT_TRUE(saw_cancel);
  EXPECT_TRUE(cleaned);
}

TEST_P(TaskTest, RunReportsALeftoverThatFailsWhileBeingCancelled) {
  std::vector<ExceptionContext> run_reports;
  EXPECT_EQ(ringloop::run(main_capturing_reports(&run_reports), options()), 1);
  ASSERT_EQ(run_reports.size(), 1u);
  EXPECT_EQ(run_reports[0].task_name, "fails-on-cancel");
  EXPECT_EQ(message_of(run_reports[0].exception), "cleanup failed");
}

TEST_P(TaskTest, RunLeavesTheOuterLoopCurrentAfterwards) {
  EXPECT_EQ(ringloop::run(forty_two(), options()), 42);
  EXPECT_EQ(&Loop::current(), &loop());
}

// ---- misuse --------------------------------------------------------------------------------

TEST_P(TaskTest, YieldInATaskDrivenOutsideAnyLoopTaskRaisesLoopError) {
  Task<int> task = forty_two();
  task.coroutine().resume();  // driven by hand: no running ringloop task
  ASSERT_TRUE(task.coroutine().done());
  EXPECT_THROW(task.coroutine().promise().take_result(), LoopError);
}

TEST_P(TaskTest, NestedTaskAwaitingAFutureOutsideAnyLoopTaskRaisesLoopError) {
  Future<int> future(loop());
  Task<int> task = await_nested_task_catching_loop_error(future);
  task.coroutine().resume();
  ASSERT_TRUE(task.coroutine().done());
  EXPECT_EQ(task.coroutine().promise().take_result(), -1);
  EXPECT_FALSE(future.done());
}

TEST_P(TaskTest, SpawnWithoutALoopOnTheThreadRaisesLoopError) {
  bool threw = false;
  std::thread thread([&threw] {
    try {
      spawn(forty_two());
    } catch (const LoopError&) {
      threw = true;
    }
  });
  thread.join();
  EXPECT_TRUE(threw);
}

TEST_P(TaskTest, AwaitingATaskTwiceRaisesInvalidStateError) {
  EXPECT_EQ(run(await_same_task_twice()), "InvalidStateError after 42");
}

TEST_P(TaskTest, AwaitingAnEmptyTaskRaisesInvalidStateError) {
  EXPECT_EQ(run(await_empty_task()), "InvalidStateError");
}

TEST_P(TaskTest, SpawningAnEmptyTaskRaisesInvalidStateError) {
  EXPECT_THROW(loop().spawn(Task<int>()), InvalidStateError);
  EXPECT_TRUE(loop().all_tasks().empty());
}

RINGLOOP_ON_BOTH_BACKENDS(TaskTest);

}  // namespace
}  // namespace ringloop::testing
