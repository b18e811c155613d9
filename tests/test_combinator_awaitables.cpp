// The combinators take any awaitable, as asyncio's do: a Future, offload(...), Queue::get(),
// Event::wait(), shield(...) and sleep(...) beside Task and TaskHandle, each run as a task.

#include <chrono>
#include <string>
#include <tuple>
#include <variant>
#include <vector>

#include "support/loop_fixture.hpp"

namespace ringloop::testing {
namespace {

using namespace std::chrono_literals;

using CombinatorAwaitableTest = LoopTest;

int forty_two() {
  return 42;
}

Task<int> offloaded_within_a_deadline() {
  co_return co_await wait_for(offload(forty_two), 5s);
}

TEST_P(CombinatorAwaitableTest, WaitForTakesAnOffloadedCall) {
  EXPECT_EQ(run(offloaded_within_a_deadline()), 42);
}

Task<std::string> future_nobody_sets(Future<int> future) {
  try {
    co_await wait_for(future, 20ms);
  } catch (const TimeoutError&) {
    // As asyncio.wait_for does to a future: the timeout cancels it.
    co_return future.cancelled() ? "timeout, future cancelled" : "timeout, future pending";
  }
  co_return "no timeout";
}

TEST_P(CombinatorAwaitableTest, WaitForAFutureNobodySetsRaisesTimeoutError) {
  EXPECT_EQ(run(future_nobody_sets(Future<int>(loop()))), "timeout, future cancelled");
}

Task<int> item_put_later(Queue<int>* queue) {
  Loop::current().call_later(10ms, [queue] { queue->try_put(5); });
  co_return co_await wait_for(queue->get(), 5s);
}

TEST_P(CombinatorAwaitableTest, WaitForQueueGetGivesTheItemPutLater) {
  Queue<int> queue;
  EXPECT_EQ(run(item_put_later(&queue)), 5);
  EXPECT_EQ(queue.size(), 0u);
}

Task<int> doubled(int x) {
  co_await yield_now();
  co_return 2 * x;
}

Task<std::string> gather_of_every_kind(Event* event) {
  Future<std::string> future;
  Loop::current().call_later(5ms, [event, future]() mutable {
    event->set();
    future.set_result("future");
  });
  auto [task_value, offloaded, slept, waited, from_future, shielded] = co_await gather(
      doubled(4), offload(forty_two), sleep(1ms), event->wait(), future, shield(doubled(5)));
  static_assert(std::is_same_v<decltype(slept), std::monostate>);
  static_assert(std::is_same_v<decltype(waited), std::monostate>);
  co_return std::to_string(task_value) + " " + std::to_string(offloaded) + " " + from_future + " " +
      std::to_string(shielded);
}

TEST_P(CombinatorAwaitableTest, GatherRunsTasksAndOtherAwaitablesTogether) {
  Event event;
  EXPECT_EQ(run(gather_of_every_kind(&event)), "8 42 future 10");
}

Task<std::vector<int>> gather_of_futures(std::vector<Future<int>> futures) {
  for (std::size_t i = 0; i < futures.size(); ++i) {
    Loop::current().call_later(
        std::chrono::milliseconds(10 - 3 * static_cast<int>(i)),
        [future = futures[i], i]() mutable { future.set_result(static_cast<int>(i) * 10); });
  }
  co_return co_await gather(futures);
}

TEST_P(CombinatorAwaitableTest, GatherOfAVectorOfFuturesKeepsTheVectorsOrder) {
  std::vector<Future<int>> futures{Future<int>(loop()), Future<int>(loop()), Future<int>(loop())};
  EXPECT_EQ(run(gather_of_futures(futures)), (std::vector<int>{0, 10, 20}));
}

Task<std::vector<int>> futures_as_they_complete(std::vector<Future<int>> futures) {
  // Set in reverse order: the last future finishes first.
  for (std::size_t i = 0; i < futures.size(); ++i) {
    Loop::current().call_later(
        std::chrono::milliseconds(30 - 10 * static_cast<int>(i)),
        [future = futures[i], i]() mutable { future.set_result(static_cast<int>(i)); });
  }
  std::vector<int> order;
  for (auto finishing = as_completed(futures); finishing;) {
    auto finished = co_await finishing.next();
    order.push_back(finished.result());
  }
  co_return order;
}

TEST_P(CombinatorAwaitableTest, AsCompletedHandsFuturesBackInTheOrderTheyFinish) {
  std::vector<Future<int>> futures{Future<int>(loop()), Future<int>(loop()), Future<int>(loop())};
  EXPECT_EQ(run(futures_as_they_complete(futures)), (std::vector<int>{2, 1, 0}));
}

Task<std::size_t> first_of_two_events(Event* early, Event* never) {
  Loop::current().call_later(5ms, [early] { early->set(); });
  std::vector<detail::GrantAwaiter<Event>> waits;
  waits.push_back(early->wait());
  waits.push_back(never->wait());
  auto result = co_await wait(std::move(waits), ReturnWhen::first_completed);
  const std::size_t done = result.done.size();
  for (auto& pending : result.pending)
    pending.cancel();
  for (auto& pending : result.pending) {
    try {
      co_await pending;
    } catch (const CancelledError&) {
    }
  }
  co_return done;
}

TEST_P(CombinatorAwaitableTest, WaitFirstCompletedOverEventWaitsGivesTheOneThatWasSet) {
  Event early;
  Event never;
  EXPECT_EQ(run(first_of_two_events(&early, &never)), 1u);
}

Task<std::string> cancelled_gather_of_awaitables(Event* never) {
  auto gathering = spawn(gather(sleep(1h), never->wait(), offload(forty_two)), "gathering");
  co_await sleep(10ms);
  gathering.cancel();
  try {
    co_await gathering;
  } catch (const CancelledError&) {
    co_return "cancelled";
  }
  co_return "finished";
}

TEST_P(CombinatorAwaitableTest, CancellingAGatherOfAwaitablesCancelsEachOfThem) {
  Event never;
  EXPECT_EQ(run(cancelled_gather_of_awaitables(&never)), "cancelled");
  EXPECT_TRUE(loop().all_tasks().empty()) << "a wrapping task outlived the gather";
}

Task<int> slow_double(int x) {
  co_await sleep(30ms);
  co_return 2 * x;
}

Task<std::string> shielded_work_outlives_its_deadline() {
  auto work = spawn(slow_double(21), "shielded");
  bool timed_out = false;
  try {
    co_await wait_for(shield(work), 5ms);
  } catch (const TimeoutError&) {
    timed_out = true;
  }
  co_await wait_for(shield(sleep(1ms)), 5s);  // shield() of any awaitable
  const int value = co_await work;
  co_return std::string(timed_out ? "timeout" : "no timeout") + "; work gives " +
      std::to_string(value);
}

TEST_P(CombinatorAwaitableTest, WaitForOfAShieldRaisesTimeoutErrorAndLeavesTheWorkAlone) {
  EXPECT_EQ(run(shielded_work_outlives_its_deadline()), "timeout; work gives 42");
}

Task<std::string> timeout_messages() {
  std::string messages;
  try {
    co_await wait_for(sleep(1h), 20ms);
  } catch (const TimeoutError& error) {
    messages += error.what();
  }
  messages += "; ";
  {
    auto scope = timeout(1500ms);
    try {
      co_await sleep(1h);
    } catch (const CancelledError&) {
      try {
        scope.raise_if_expired();
      } catch (const TimeoutError& error) {
        messages += error.what();
      }
    }
  }
  co_return messages;
}

TEST_P(CombinatorAwaitableTest, TimeoutErrorSaysHowLongItWaited) {
  EXPECT_EQ(run(timeout_messages()), "timed out after 20 ms; timed out after 1.5 s");
}

RINGLOOP_ON_BOTH_BACKENDS(CombinatorAwaitableTest);

}  // namespace
}  // namespace ringloop::testing
