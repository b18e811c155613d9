// Misuse fails loudly (issue 9): a Task awaited twice or spawned while awaited or after it ran,
// empty task handles, and done callbacks that throw.

#include <chrono>
#include <stdexcept>
#include <string>

#include "support/loop_fixture.hpp"

namespace ringloop::testing {
namespace {

using namespace std::chrono_literals;

class Misuse : public LoopTest {};

/// The message of the InvalidStateError `work` raises, or a note that it raised none.
template <class F>
std::string invalid_state_message(F&& work) {
  try {
    work();
  } catch (const InvalidStateError& error) {
    return error.what();
  }
  return "<no InvalidStateError>";
}

// ---- coroutines used by the tests ------------------------------------------------------------

/// A Task kept outside any coroutine frame, so that several tasks can reach it.
struct SharedTask {
  Task<int> work;
};

Task<int> seven_later() {
  co_await sleep(10ms);
  co_return 7;
}

Task<int> await_shared(SharedTask* shared) {
  const int value = co_await shared->work;
  co_return value;
}

Task<std::string> second_awaiter_error(SharedTask* shared) {
  TaskHandle<int> first = spawn(await_shared(shared), "first");
  co_await yield_now();  // `first` is now inside shared->work, waiting on its sleep
  TaskHandle<int> second = spawn(await_shared(shared), "second");
  std::string message = "<no InvalidStateError>";
  try {
    co_await second;
  } catch (const InvalidStateError& error) {
    message = error.what();
  }
  const int value = co_await first;  // the first awaiter still gets its value
  EXPECT_EQ(value, 7);
  co_return message;
}

Task<std::string> spawn_while_awaited(SharedTask* shared) {
  TaskHandle<int> first = spawn(await_shared(shared), "first");
  co_await yield_now();
  const std::string message =
      invalid_state_message([&] { (void)spawn(std::move(shared->work), "thief"); });
  EXPECT_TRUE(shared->work.valid()) << "a refused Task stays with its owner";
  const int value = co_await first;
  EXPECT_EQ(value, 7);
  co_return message;
}

Task<std::string> spawn_after_it_ran(SharedTask* shared) {
  const int value = co_await shared->work;
  EXPECT_EQ(value, 7);
  co_return invalid_state_message([&] { (void)spawn(std::move(shared->work), "again"); });
}

Task<std::string> await_after_it_ran(SharedTask* shared) {
  const int first = co_await shared->work;
  EXPECT_EQ(first, 7);
  try {
    const int again = co_await shared->work;
    ADD_FAILURE() << "awaited twice: " << again;
  } catch (const InvalidStateError& error) {
    co_return error.what();
  }
  co_return "<no InvalidStateError>";
}

Task<std::string> await_empty_handle() {
  TaskHandle<int> empty;
  try {
    const int value = co_await empty;
    ADD_FAILURE() << "awaited an empty handle: " << value;
  } catch (const InvalidStateError& error) {
    co_return error.what();
  }
  co_return "<no InvalidStateError>";
}

Task<> fail_soon() {
  co_await yield_now();
  throw std::runtime_error("boom");
}

// ---- one Task, one awaiter --------------------------------------------------------------------

TEST_P(Misuse, SecondAwaiterOfOneTaskRaisesNamingBothTasks) {
  SharedTask shared{seven_later()};
  EXPECT_EQ(run(second_awaiter_error(&shared)),
            "co_await on a ringloop::Task that task 'first' is already awaiting (second awaiter: "
            "task 'second'); a Task has one awaiter: spawn() it and co_await the TaskHandle "
            "instead");
}

TEST_P(Misuse, SpawnOfAnAwaitedTaskRaisesAndLeavesItRunning) {
  SharedTask shared{seven_later()};
  EXPECT_EQ(run(spawn_while_awaited(&shared)),
            "spawn() of a ringloop::Task that task 'first' is awaiting (spawned as 'thief')");
}

TEST_P(Misuse, SpawnOfAFinishedTaskRaises) {
  SharedTask shared{seven_later()};
  EXPECT_EQ(run(spawn_after_it_ran(&shared)),
            "spawn() of a ringloop::Task that already ran (spawned as 'again')");
}

TEST_P(Misuse, SpawnOfAFinishedTaskWithoutANameRaises) {
  SharedTask shared{seven_later()};
  EXPECT_EQ(
      run(await_after_it_ran(&shared)).rfind("co_await on a ringloop::Task that already ran", 0),
      0u);
  EXPECT_EQ(invalid_state_message([&] { (void)loop().spawn(std::move(shared.work)); }),
            "spawn() of a ringloop::Task that already ran");
}

TEST_P(Misuse, SecondAwaitAfterTheTaskRanNamesTheAwaitingTask) {
  SharedTask shared{seven_later()};
  TaskHandle<std::string> awaiting = loop().spawn(await_after_it_ran(&shared), "reader");
  EXPECT_EQ(loop().run_until_complete(awaiting),
            "co_await on a ringloop::Task that already ran (in task 'reader')");
}

// ---- empty handles ----------------------------------------------------------------------------

TEST_P(Misuse, EmptyHandleQueriesAnswerForNoTask) {
  TaskHandle<int> handle;
  TaskRef ref;
  EXPECT_FALSE(handle);
  EXPECT_FALSE(handle.done());
  EXPECT_FALSE(handle.cancelled());
  EXPECT_FALSE(handle.cancelling());
  EXPECT_EQ(handle.name(), "");
  EXPECT_FALSE(handle.cancel());
  EXPECT_FALSE(ref.done());
  EXPECT_FALSE(ref.cancelled());
  EXPECT_FALSE(ref.cancelling());
  EXPECT_EQ(ref.name(), "");
  EXPECT_FALSE(ref.cancel());
  EXPECT_TRUE(handle == ref);
}

TEST_P(Misuse, EmptyHandleOperationsThatNeedATaskRaise) {
  TaskHandle<int> handle;
  TaskRef ref;
  const std::string tail =
      " on an empty handle (default-constructed or moved-from): it refers to no task";
  EXPECT_EQ(invalid_state_message([&] { (void)handle.result(); }), "TaskHandle::result()" + tail);
  EXPECT_EQ(invalid_state_message([&] { (void)ref.exception(); }), "TaskRef::exception()" + tail);
  EXPECT_EQ(invalid_state_message([&] { ref.add_done_callback([](TaskRef&) {}); }),
            "TaskRef::add_done_callback()" + tail);
  EXPECT_EQ(invalid_state_message([&] { handle.add_done_callback([](TaskHandle<int>&) {}); }),
            "TaskHandle::add_done_callback()" + tail);
  EXPECT_EQ(run(await_empty_handle()), "co_await on a TaskHandle" + tail);
}

TEST_P(Misuse, MovedFromHandleIsEmpty) {
  TaskHandle<int> handle = loop().spawn(seven_later(), "moved");
  TaskHandle<int> other = std::move(handle);
  EXPECT_FALSE(handle.done());  // NOLINT(bugprone-use-after-move): the documented empty state
  EXPECT_EQ(handle.name(), "");
  EXPECT_EQ(loop().run_until_complete(other), 7);
}

// ---- done callbacks that throw ----------------------------------------------------------------

TEST_P(Misuse, ThrowingDoneCallbackIsReportedWithTheTaskName) {
  TaskHandle<int> task = loop().spawn(seven_later(), "fetch");
  task.add_done_callback([](TaskHandle<int>&) { throw std::runtime_error("callback failed"); });
  EXPECT_EQ(loop().run_until_complete(task), 7);
  loop().stop();
  loop().run_forever();  // the callback runs after the task's waiters
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_EQ(reports[0].message, "done callback of task 'fetch' raised");
  EXPECT_EQ(reports[0].task_name, "fetch");
  EXPECT_EQ(describe_exception(reports[0].exception), "std::runtime_error: callback failed");
  reports.clear();
}

TEST_P(Misuse, ThrowingDoneCallbackOfAFailedTaskRefIsReported) {
  TaskRef task = loop().spawn(fail_soon(), "worker");
  task.add_done_callback([](TaskRef& done) {
    (void)done.exception();  // retrieved here, so only the callback's failure is reported
    throw std::logic_error("bad callback");
  });
  for (int turn = 0; turn < 3; ++turn) {  // the task fails, then its callback runs
    loop().stop();
    loop().run_forever();
  }
  EXPECT_TRUE(task.done());
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_EQ(reports[0].message, "done callback of task 'worker' raised");
  EXPECT_EQ(reports[0].task_name, "worker");
  reports.clear();
}

TEST_P(Misuse, ThrowingDoneCallbackOfAFutureIsReported) {
  Future<int> future(loop());
  future.add_done_callback([](Future<int>&) { throw std::runtime_error("nope"); });
  future.set_result(1);
  loop().stop();
  loop().run_forever();
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_EQ(reports[0].message, "done callback of future raised");
  EXPECT_EQ(reports[0].task_name, "");
  reports.clear();
}

RINGLOOP_ON_BOTH_BACKENDS(Misuse);

}  // namespace
}  // namespace ringloop::testing
