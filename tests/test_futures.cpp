// Futures: set_result / set_exception / cancel, result() and exception() in every state, several
// awaiters, done callbacks, misuse errors and never-retrieved exception reports.

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "support/exceptions.hpp"
#include "support/loop_fixture.hpp"
#include "support/loop_steps.hpp"

namespace ringloop::testing {
namespace {

class FutureTest : public LoopTest {};

std::exception_ptr runtime_error(const char* message) {
  return std::make_exception_ptr(std::runtime_error(message));
}

// ---- coroutines used by the tests ------------------------------------------------------------

Task<int> await_int(Future<int> future) {
  const int value = co_await future;
  co_return value;
}

Task<> await_void(Future<> future, int* resumed) {
  co_await future;
  ++*resumed;
}

Task<std::string> await_int_describing(Future<int> future) {
  try {
    const int value = co_await future;
    co_return "value " + std::to_string(value);
  } catch (const std::runtime_error& error) {
    co_return std::string("error ") + error.what();
  }
}

/// Three tasks await one future; the result is set once they are all parked on it.
Task<std::vector<int>> three_awaiters_get_the_value(Future<int> future) {
  auto a = spawn(await_int(future));
  auto b = spawn(await_int(future));
  auto c = spawn(await_int(future));
  co_await yield_now();  // all three are parked on the future
  future.set_result(17);
  std::vector<int> values;
  const int first = co_await a;
  values.push_back(first);
  const int second = co_await b;
  values.push_back(second);
  const int third = co_await c;
  values.push_back(third);
  co_return values;
}

Task<std::vector<std::string>> three_awaiters_get_the_exception(Future<int> future) {
  auto a = spawn(await_int_describing(future));
  auto b = spawn(await_int_describing(future));
  auto c = spawn(await_int_describing(future));
  co_await yield_now();
  future.set_exception(runtime_error("shared failure"));
  std::vector<std::string> outcomes;
  std::string first = co_await a;
  outcomes.push_back(first);
  std::string second = co_await b;
  outcomes.push_back(second);
  std::string third = co_await c;
  outcomes.push_back(third);
  co_return outcomes;
}

Task<int> cancel_future_under_two_awaiters(Future<int> future, TaskHandle<int>* first,
                                           TaskHandle<int>* second) {
  *first = spawn(await_int(future));
  *second = spawn(await_int(future));
  co_await yield_now();
  future.cancel();
  int cancelled = 0;
  try {
    co_await *first;
  } catch (const CancelledError&) {
    ++cancelled;
  }
  try {
    co_await *second;
  } catch (const CancelledError&) {
    ++cancelled;
  }
  co_return cancelled;
}

Task<int> void_future_wakes_awaiters(Future<> future, int* resumed) {
  auto a = spawn(await_void(future, resumed));
  auto b = spawn(await_void(future, resumed));
  co_await yield_now();
  const int before = *resumed;
  future.set_result();
  co_await a;
  co_await b;
  co_return before;
}

Task<int> await_box(Future<std::unique_ptr<int>> future) {
  std::unique_ptr<int> box = co_await future;
  co_return box ? *box : -1;
}

Task<int> await_done_future(Future<int> future) {
  const int value = co_await future;
  co_return value;
}

// ---- states --------------------------------------------------------------------------------

TEST_P(FutureTest, PendingFutureRaisesInvalidStateErrorFromResultAndException) {
  Future<int> future(loop());
  EXPECT_FALSE(future.done());
  EXPECT_FALSE(future.cancelled());
  EXPECT_THROW(future.result(), InvalidStateError);
  EXPECT_THROW(future.exception(), InvalidStateError);

  Future<> nothing(loop());
  EXPECT_FALSE(nothing.done());
  EXPECT_THROW(nothing.result(), InvalidStateError);
  EXPECT_THROW(nothing.exception(), InvalidStateError);
}

TEST_P(FutureTest, FinishedFutureGivesItsValueAndNoException) {
  Future<int> future(loop());
  future.set_result(5);
  EXPECT_TRUE(future.done());
  EXPECT_FALSE(future.cancelled());
  EXPECT_EQ(future.result(), 5);
  EXPECT_EQ(future.result(), 5);  // result() can be read again
  EXPECT_EQ(future.exception(), nullptr);

  Future<> nothing(loop());
  nothing.set_result();
  EXPECT_TRUE(nothing.done());
  EXPECT_NO_THROW(nothing.result());
  EXPECT_EQ(nothing.exception(), nullptr);
}

TEST_P(FutureTest, FailedFutureRethrowsFromResultAndGivesTheException) {
  Future<int> future(loop());
  future.set_exception(runtime_error("failed future"));
  EXPECT_TRUE(future.done());
  EXPECT_FALSE(future.cancelled());
  EXPECT_THROW(future.result(), std::runtime_error);
  EXPECT_EQ(message_of(future.exception()), "failed future");

  Future<> nothing(loop());
  nothing.set_exception(runtime_error("failed void future"));
  EXPECT_THROW(nothing.result(), std::runtime_error);
  EXPECT_EQ(message_of(nothing.exception()), "failed void future");
}

TEST_P(FutureTest, CancelledFutureRaisesCancelledErrorFromResultAndException) {
  Future<int> future(loop());
  EXPECT_TRUE(future.cancel());
  EXPECT_TRUE(future.done());
  EXPECT_TRUE(future.cancelled());
  EXPECT_THROW(future.result(), CancelledError);
  EXPECT_THROW(future.exception(), CancelledError);
  EXPECT_FALSE(future.cancel()) << "a second cancel() finds it done";

  Future<> nothing(loop());
  EXPECT_TRUE(nothing.cancel());
  EXPECT_TRUE(nothing.cancelled());
  EXPECT_THROW(nothing.result(), CancelledError);
  EXPECT_THROW(nothing.exception(), CancelledError);
}

TEST_P(FutureTest, CancelOnAFinishedFutureReturnsFalseAndKeepsTheValue) {
  Future<int> future(loop());
  future.set_result(3);
  EXPECT_FALSE(future.cancel());
  EXPECT_FALSE(future.cancelled());
  EXPECT_EQ(future.result(), 3);
}

TEST_P(FutureTest, CopiesShareOneState) {
  Future<int> future(loop());
  Future<int> copy = future;
  copy.set_result(8);
  EXPECT_TRUE(future.done());
  EXPECT_EQ(future.result(), 8);
}

// ---- misuse --------------------------------------------------------------------------------

TEST_P(FutureTest, SetResultTwiceRaisesInvalidStateError) {
  Future<int> future(loop());
  future.set_result(1);
  EXPECT_THROW(future.set_result(2), InvalidStateError);
  EXPECT_EQ(future.result(), 1);

  Future<> nothing(loop());
  nothing.set_result();
  EXPECT_THROW(nothing.set_result(), InvalidStateError);
}

TEST_P(FutureTest, SettingADoneFutureAgainRaisesInvalidStateError) {
  Future<int> finished(loop());
  finished.set_result(1);
  EXPECT_THROW(finished.set_exception(runtime_error("late")), InvalidStateError);

  Future<int> failed(loop());
  failed.set_exception(runtime_error("first"));
  EXPECT_THROW(failed.set_result(2), InvalidStateError);
  EXPECT_THROW(failed.set_exception(runtime_error("second")), InvalidStateError);
  EXPECT_EQ(message_of(failed.exception()), "first");

  Future<int> cancelled(loop());
  cancelled.cancel();
  EXPECT_THROW(cancelled.set_result(3), InvalidStateError);
  EXPECT_THROW(cancelled.set_exception(runtime_error("after cancel")), InvalidStateError);
}

TEST_P(FutureTest, SetExceptionWithNullRaisesInvalidArgumentAndLeavesItPending) {
  Future<int> future(loop());
  EXPECT_THROW(future.set_exception(nullptr), std::invalid_argument);
  EXPECT_FALSE(future.done());
  future.set_result(4);
  EXPECT_EQ(future.result(), 4);

  Future<> nothing(loop());
  EXPECT_THROW(nothing.set_exception(std::exception_ptr()), std::invalid_argument);
  EXPECT_FALSE(nothing.done());
}

// ---- awaiting ------------------------------------------------------------------------------

TEST_P(FutureTest, EveryAwaitingTaskGetsTheValue) {
  Future<int> future(loop());
  EXPECT_EQ(run(three_awaiters_get_the_value(future)), (std::vector<int>{17, 17, 17}));
}

TEST_P(FutureTest, EveryAwaitingTaskGetsTheException) {
  Future<int> future(loop());
  const std::vector<std::string> expected(3, "error shared failure");
  EXPECT_EQ(run(three_awaiters_get_the_exception(future)), expected);
}

TEST_P(FutureTest, CancellingAFutureCancelsTheTasksAwaitingIt) {
  Future<int> future(loop());
  TaskHandle<int> first;
  TaskHandle<int> second;
  EXPECT_EQ(run(cancel_future_under_two_awaiters(future, &first, &second)), 2);
  EXPECT_TRUE(first.cancelled());
  EXPECT_TRUE(second.cancelled());
}

TEST_P(FutureTest, VoidFutureWakesEveryAwaiterOnlyOnceSet) {
  Future<> future(loop());
  int resumed = 0;
  EXPECT_EQ(run(void_future_wakes_awaiters(future, &resumed)), 0);
  EXPECT_EQ(resumed, 2);
}

TEST_P(FutureTest, AwaitingADoneFutureGivesItsValueAtOnce) {
  Future<int> future(loop());
  future.set_result(21);
  EXPECT_EQ(run(await_done_future(future)), 21);
}

TEST_P(FutureTest, MoveOnlyValueIsMovedToTheAwaiter) {
  Future<std::unique_ptr<int>> future(loop());
  future.set_result(std::make_unique<int>(12));
  EXPECT_EQ(run(await_box(future)), 12);
  EXPECT_EQ(future.result(), nullptr) << "the awaiter did not take the value";
}

// ---- done callbacks ------------------------------------------------------------------------

TEST_P(FutureTest, DoneCallbackRunsThroughTheLoopAfterSetResult) {
  Future<int> future(loop());
  int calls = 0;
  int seen = 0;
  future.add_done_callback([&](Future<int>& done) {
    ++calls;
    seen = done.result();
  });
  run_one_iteration(loop());
  EXPECT_EQ(calls, 0) << "ran before the future was done";
  future.set_result(31);
  EXPECT_EQ(calls, 0) << "ran inside set_result() instead of through the loop";
  run_one_iteration(loop());
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(seen, 31);
  run_one_iteration(loop());
  EXPECT_EQ(calls, 1) << "ran twice";
}

TEST_P(FutureTest, DoneCallbacksRunInRegistrationOrder) {
  Future<> future(loop());
  std::vector<int> order;
  for (int i = 0; i < 5; ++i)
    future.add_done_callback([&order, i](Future<>&) { order.push_back(i); });
  future.set_result();
  run_one_iteration(loop());
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4}));
}

TEST_P(FutureTest, DoneCallbackAddedToADoneFutureRunsInTheNextIteration) {
  Future<int> future(loop());
  future.set_result(2);
  int calls = 0;
  future.add_done_callback([&](Future<int>&) { ++calls; });
  EXPECT_EQ(calls, 0);
  run_one_iteration(loop());
  EXPECT_EQ(calls, 1);
}

TEST_P(FutureTest, DoneCallbacksSeeFailureAndCancellation) {
  Future<int> failed(loop());
  Future<int> cancelled(loop());
  std::string failed_seen;
  bool cancelled_seen = false;
  failed.add_done_callback(
      [&](Future<int>& future) { failed_seen = message_of(future.exception()); });
  cancelled.add_done_callback([&](Future<int>& future) { cancelled_seen = future.cancelled(); });
  failed.set_exception(runtime_error("callback sees this"));
  cancelled.cancel();
  run_one_iteration(loop());
  EXPECT_EQ(failed_seen, "callback sees this");
  EXPECT_TRUE(cancelled_seen);
}

// ---- never-retrieved exceptions ------------------------------------------------------------

TEST_P(FutureTest, UnretrievedFutureExceptionIsReportedOnceWhenTheFutureGoes) {
  {
    Future<int> future(loop());
    future.set_exception(runtime_error("never looked at"));
    EXPECT_TRUE(reports.empty()) << "reported while the future could still be read";
  }
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_EQ(reports[0].message, "Future exception was never retrieved");
  EXPECT_EQ(message_of(reports[0].exception), "never looked at");
  reports.clear();
}

TEST_P(FutureTest, RetrievedFutureExceptionsAreNotReported) {
  {
    Future<int> by_result(loop());
    Future<int> by_exception(loop());
    Future<int> by_await(loop());
    by_result.set_exception(runtime_error("by result"));
    by_exception.set_exception(runtime_error("by exception"));
    by_await.set_exception(runtime_error("by await"));
    EXPECT_THROW(by_result.result(), std::runtime_error);
    EXPECT_EQ(message_of(by_exception.exception()), "by exception");
    EXPECT_EQ(run(await_int_describing(by_await)), "error by await");
  }
  EXPECT_TRUE(reports.empty());
}

TEST_P(FutureTest, CancelledFutureIsNotReported) {
  {
    Future<int> future(loop());
    future.cancel();
  }
  EXPECT_TRUE(reports.empty());
}

RINGLOOP_ON_BOTH_BACKENDS(FutureTest);

}  // namespace
}  // namespace ringloop::testing
