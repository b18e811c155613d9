// Cancellation at every kind of suspension point (not started, yield_now, sleep, future, awaited
// task, I/O), tasks that handle it, repeated and late cancellation, and nested await chains.

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "support/cancellation.hpp"
#include "support/loop_fixture.hpp"

namespace ringloop::testing {
namespace {

using namespace std::chrono_literals;

class CancellationTest : public LoopTest {};

/// A non-blocking pipe, closed at the end of the test.
struct Pipe {
  Pipe() {
    int descriptors[2];
    if (::pipe2(descriptors, O_NONBLOCK | O_CLOEXEC) == 0) {
      read_end = descriptors[0];
      write_end = descriptors[1];
    }
  }
  ~Pipe() {
    if (read_end >= 0) ::close(read_end);
    if (write_end >= 0) ::close(write_end);
  }
  Pipe(const Pipe&) = delete;
  Pipe& operator=(const Pipe&) = delete;
  int read_end = -1;
  int write_end = -1;
};

// ---- coroutines used by the tests ------------------------------------------------------------

Task<> set_flag(bool* flag) {
  *flag = true;
  co_return;
}

Task<> yield_forever(int* steps, bool* saw_cancel) {
  try {
    for (;;) {
      co_await yield_now();
      ++*steps;
    }
  } catch (const CancelledError&) {
    *saw_cancel = true;
    throw;
  }
}

Task<> sleep_long(bool* saw_cancel) {
  try {
    co_await sleep(1h);
  } catch (const CancelledError&) {
    *saw_cancel = true;
    throw;
  }
}

Task<> sleep_then_log(Duration duration, std::string label, std::vector<std::string>* log) {
  co_await sleep(duration);
  log->push_back(label);
}

Task<int> await_future(Future<int> future) {
  const int value = co_await future;
  co_return value;
}

Task<> await_handle(TaskHandle<> inner) {
  co_await inner;
}

Task<std::int32_t> read_pipe(int fd) {
  std::array<std::byte, 64> buffer{};
  const std::int32_t count = co_await ops::read(fd, buffer);
  co_return count;
}

Task<int> stubborn(bool* cleaned) {
  bool cancelled = false;
  try {
    co_await sleep(1h);
  } catch (const CancelledError&) {
    cancelled = true;
  }
  if (!cancelled) co_return 0;
  co_await yield_now();  // cleanup can still await
  *cleaned = true;
  co_return 7;
}

Task<int> count_cancellations(int* cancellations) {
  int value = 0;
  try {
    co_await sleep(1h);
  } catch (const CancelledError&) {
    ++*cancellations;
    value = 1;
  }
  try {
    co_await yield_now();  // a second cancel() of the same request must not land here
    co_await yield_now();
    value += 10;
  } catch (const CancelledError&) {
    ++*cancellations;
  }
  co_return value;
}

Task<int> cancel_self_in_last_step() {
  co_await yield_now();
  TaskRef self = current_task();
  self.cancel();
  co_return 5;  // no suspension after the request
}

Task<int> cancel_self_then_yield(bool* resumed_after) {
  co_await yield_now();
  TaskRef self = current_task();
  self.cancel();
  co_await yield_now();  // the request is delivered here
  *resumed_after = true;
  co_return 5;
}

Task<> chain_level(int level, std::vector<std::string>* log) {
  try {
    if (level == 0) {
      co_await sleep(1h);
    } else {
      co_await chain_level(level - 1, log);
    }
  } catch (const CancelledError&) {
    log->push_back("level " + std::to_string(level));
    throw;
  }
}

Task<> yield_times(int count) {
  for (int i = 0; i < count; ++i)
    co_await yield_now();
}

Task<std::vector<std::string>> cancel_sleeper_before_sibling(TaskHandle<> sleeper,
                                                             TaskHandle<> sibling,
                                                             std::vector<std::string>* log) {
  co_await yield_now();  // both have started sleeping
  sleeper.cancel();
  const bool cancelled = co_await ends_cancelled(sleeper);
  log->push_back(cancelled ? "sleeper cancelled" : "sleeper not cancelled");
  co_await sibling;
  co_return *log;
}

Task<std::size_t> cancel_pipe_reader(Loop* loop, TaskHandle<std::int32_t> reader,
                                     std::size_t* in_flight_before) {
  co_await yield_now();  // the reader has submitted its read
  co_await yield_now();
  *in_flight_before = loop->backend().in_flight();
  reader.cancel();
  co_await ends_cancelled(reader);
  co_return loop->backend().in_flight();
}

Task<std::int32_t> read_after_cancelled_read(int read_end, int write_end) {
  auto first = spawn(read_pipe(read_end));
  co_await yield_now();
  co_await yield_now();
  first.cancel();
  co_await ends_cancelled(first);
  const char data[] = "hello";
  if (::write(write_end, data, 5) != 5) co_return -1;
  const std::int32_t count = co_await read_pipe(read_end);
  co_return count;
}

// ---- before the first step -------------------------------------------------------------------

TEST_P(CancellationTest, CancelBeforeTheTaskStartsNeverRunsItsBody) {
  bool ran = false;
  auto task = loop().spawn(set_flag(&ran));
  EXPECT_TRUE(task.cancel());
  EXPECT_TRUE(task.cancelling());
  EXPECT_FALSE(task.done());
  EXPECT_THROW(loop().run_until_complete(task), CancelledError);
  EXPECT_FALSE(ran);
  EXPECT_TRUE(task.done());
  EXPECT_TRUE(task.cancelled());
  EXPECT_FALSE(task.cancelling());
  EXPECT_THROW(task.result(), CancelledError);
  EXPECT_THROW(task.exception(), CancelledError);
}

// ---- at each kind of suspension ----------------------------------------------------------------

TEST_P(CancellationTest, CancelWhileYieldingRaisesCancelledErrorAtTheYield) {
  int steps = 0;
  bool saw_cancel = false;
  auto task = loop().spawn(yield_forever(&steps, &saw_cancel));
  run(yield_times(3));
  EXPECT_GT(steps, 0);
  EXPECT_TRUE(task.cancel());
  EXPECT_THROW(loop().run_until_complete(task), CancelledError);
  EXPECT_TRUE(saw_cancel);
  EXPECT_TRUE(task.cancelled());
}

TEST_P(CancellationTest, CancelWhileSleepingRemovesTheTimer) {
  // The sleeper would sleep an hour; once cancelled it must end before a sibling sleeping 200 ms.
  bool saw_cancel = false;
  std::vector<std::string> log;
  auto sleeper = loop().spawn(sleep_long(&saw_cancel), "sleeper");
  auto sibling = loop().spawn(sleep_then_log(200ms, "sibling woke", &log), "sibling");
  const std::vector<std::string> order = run(cancel_sleeper_before_sibling(sleeper, sibling, &log));
  EXPECT_EQ(order, (std::vector<std::string>{"sleeper cancelled", "sibling woke"}));
  EXPECT_TRUE(saw_cancel);
  EXPECT_TRUE(sleeper.cancelled());
  EXPECT_TRUE(loop().all_tasks().empty());
}

TEST_P(CancellationTest, CancelWhileAwaitingAFutureCancelsTheFuture) {
  Future<int> future(loop());
  auto task = loop().spawn(await_future(future));
  run(yield_times(2));
  EXPECT_FALSE(future.done());
  EXPECT_TRUE(task.cancel());
  EXPECT_TRUE(run(ends_cancelled(task)));
  EXPECT_TRUE(task.cancelled());
  EXPECT_TRUE(future.cancelled()) << "asyncio cancels the future a cancelled task awaited";
}

TEST_P(CancellationTest, CancelWhileAwaitingATaskCancelsTheInnerTask) {
  bool inner_saw_cancel = false;
  auto inner = loop().spawn(sleep_long(&inner_saw_cancel), "inner");
  auto outer = loop().spawn(await_handle(inner), "outer");
  run(yield_times(2));
  EXPECT_TRUE(outer.cancel());
  EXPECT_TRUE(run(ends_cancelled(outer)));
  EXPECT_TRUE(outer.cancelled());
  EXPECT_TRUE(inner.done());
  EXPECT_TRUE(inner.cancelled());
  EXPECT_TRUE(inner_saw_cancel);
}

TEST_P(CancellationTest, CancelWhileReadingAnEmptyPipeEndsCancelledWithNothingInFlight) {
  Pipe pipe;
  ASSERT_GE(pipe.read_end, 0);
  auto reader = loop().spawn(read_pipe(pipe.read_end), "reader");
  std::size_t in_flight_before = 0;
  const std::size_t in_flight_after = run(cancel_pipe_reader(&loop(), reader, &in_flight_before));
  EXPECT_EQ(in_flight_before, 1u) << "the read was not in flight when cancelled";
  EXPECT_EQ(in_flight_after, 0u);
  EXPECT_TRUE(reader.cancelled());
  EXPECT_EQ(loop().backend().in_flight(), 0u);
}

TEST_P(CancellationTest, ReadAfterACancelledReadGetsTheData) {
  Pipe pipe;
  ASSERT_GE(pipe.read_end, 0);
  EXPECT_EQ(run(read_after_cancelled_read(pipe.read_end, pipe.write_end)), 5);
  EXPECT_EQ(loop().backend().in_flight(), 0u);
}

// ---- tasks that handle cancellation ------------------------------------------------------------

TEST_P(CancellationTest, TaskThatCatchesCancelledErrorCanCleanUpAndReturnAValue) {
  bool cleaned = false;
  auto task = loop().spawn(stubborn(&cleaned));
  run(yield_times(2));
  EXPECT_TRUE(task.cancel());
  EXPECT_EQ(loop().run_until_complete(task), 7);
  EXPECT_TRUE(cleaned);
  EXPECT_FALSE(task.cancelled());
}

TEST_P(CancellationTest, CancelOnADoneTaskReturnsFalseAndChangesNothing) {
  bool cleaned = false;
  auto task = loop().spawn(stubborn(&cleaned));
  run(yield_times(2));
  task.cancel();
  loop().run_until_complete(task);
  EXPECT_FALSE(task.cancel());
  EXPECT_FALSE(task.cancelled());
  EXPECT_FALSE(task.cancelling());
  EXPECT_EQ(task.result(), 7);
}

TEST_P(CancellationTest, CancellingTwiceDeliversOneCancelledError) {
  int cancellations = 0;
  auto task = loop().spawn(count_cancellations(&cancellations));
  run(yield_times(2));
  EXPECT_TRUE(task.cancel());
  EXPECT_TRUE(task.cancel()) << "still pending, so cancel() succeeds again";
  EXPECT_EQ(loop().run_until_complete(task), 11);
  EXPECT_EQ(cancellations, 1);
}

TEST_P(CancellationTest, CancellingTwiceBeforeTheStartStillEndsCancelled) {
  bool ran = false;
  auto task = loop().spawn(set_flag(&ran));
  EXPECT_TRUE(task.cancel());
  EXPECT_TRUE(task.cancel());
  EXPECT_THROW(loop().run_until_complete(task), CancelledError);
  EXPECT_FALSE(ran);
  EXPECT_TRUE(task.cancelled());
}

TEST_P(CancellationTest, TaskCancelledDuringItsLastStepFinishesWithItsValue) {
  // Deliberately unlike asyncio (see TaskStateBase::cancel): a body that returns without reaching
  // another suspension finishes with its value; the late request is dropped.
  auto task = loop().spawn(cancel_self_in_last_step());
  EXPECT_EQ(loop().run_until_complete(task), 5);
  EXPECT_FALSE(task.cancelled());
  EXPECT_FALSE(task.cancelling());
  EXPECT_FALSE(task.cancel()) << "done tasks refuse cancel()";
}

TEST_P(CancellationTest, CancelDuringAStepIsDeliveredAtTheNextSuspension) {
  bool resumed_after = false;
  auto task = loop().spawn(cancel_self_then_yield(&resumed_after));
  EXPECT_THROW(loop().run_until_complete(task), CancelledError);
  EXPECT_FALSE(resumed_after);
  EXPECT_TRUE(task.cancelled());
  EXPECT_THROW(task.result(), CancelledError);
}

TEST_P(CancellationTest, CancellationReachesTheInnermostAwaitOfANestedChain) {
  std::vector<std::string> log;
  auto task = loop().spawn(chain_level(3, &log));
  run(yield_times(2));
  EXPECT_TRUE(task.cancel());
  EXPECT_THROW(loop().run_until_complete(task), CancelledError);
  EXPECT_EQ(log, (std::vector<std::string>{"level 0", "level 1", "level 2", "level 3"}));
  EXPECT_TRUE(task.cancelled());
}

RINGLOOP_ON_BOTH_BACKENDS(CancellationTest);

}  // namespace
}  // namespace ringloop::testing
