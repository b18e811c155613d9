// The offload pool on both backends, with real worker threads (also run under ThreadSanitizer):
// every job completes exactly once, exceptions come back intact, cancellation before and during a
// job, shutdown with pending jobs, backpressure from a tiny queue, offloads beside timers.

#include <atomic>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "support/loop_fixture.hpp"

namespace ringloop::testing {
namespace {

using namespace std::chrono_literals;

class OffloadTest : public TwoOffloadWorkersLoopTest {};

std::int64_t square(std::int64_t value) {
  return value * value;
}

Task<> offload_many(std::int64_t first, std::int64_t count, std::int64_t* sum,
                    std::vector<std::uint8_t>* seen) {
  for (std::int64_t value = first; value < first + count; ++value) {
    const std::int64_t result = co_await offload(square, value);
    *sum += result;
    ++(*seen)[static_cast<std::size_t>(value)];
  }
}

Task<> million_jobs(std::int64_t jobs, std::int64_t* sum, std::vector<std::uint8_t>* seen) {
  constexpr std::int64_t kAwaiters = 16;
  std::vector<TaskHandle<>> awaiters;
  for (std::int64_t i = 0; i < kAwaiters; ++i) {
    awaiters.push_back(spawn(offload_many(i * (jobs / kAwaiters), jobs / kAwaiters, sum, seen)));
  }
  for (auto& awaiter : awaiters)
    co_await awaiter;
}

TEST_P(OffloadTest, EveryOffloadedJobCompletesExactlyOnce) {
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
  const std::int64_t jobs = 100'000;  // the sanitizers make each job ~20x slower
#else
  const std::int64_t jobs = 1'000'000;
#endif
  std::int64_t sum = 0;
  std::vector<std::uint8_t> seen(static_cast<std::size_t>(jobs), 0);
  run(million_jobs(jobs, &sum, &seen));
  std::int64_t expected = 0;
  for (std::int64_t value = 0; value < jobs; ++value)
    expected += value * value;
  EXPECT_EQ(sum, expected);
  std::size_t wrong = 0;
  for (std::uint8_t times : seen)
    wrong += times != 1;
  EXPECT_EQ(wrong, 0u);
  EXPECT_EQ(loop().default_offload_pool().stats().executed, static_cast<std::uint64_t>(jobs));
  // Results are posted back in batches: far fewer wake-ups than results.
  EXPECT_LT(loop().stats().remote_wakeups, static_cast<std::uint64_t>(jobs));
}

struct CustomError : std::runtime_error {
  explicit CustomError(int code)
      : std::runtime_error("custom failure " + std::to_string(code)), code(code) {}
  int code;
};

int throw_custom(int code) {
  throw CustomError(code);
}

Task<> exception_crosses_back() {
  try {
    co_await offload(throw_custom, 7);
    ADD_FAILURE() << "expected CustomError";
  } catch (const CustomError& error) {
    EXPECT_EQ(error.code, 7);
    EXPECT_STREQ(error.what(), "custom failure 7");
  }
}

TEST_P(OffloadTest, ExceptionsCrossBackIntactWithTheirType) {
  run(exception_crosses_back());
}

std::unique_ptr<std::string> join_words(std::unique_ptr<std::string> first, std::string second) {
  *first += " " + second;
  return first;
}

Task<> move_only_arguments_and_results() {
  // Built before the co_await: g++ 12 mishandles temporaries and capturing lambdas inside a
  // co_await full-expression (PITFALLS.md section 13).
  auto joining = offload(join_words, std::make_unique<std::string>("hello"), std::string("pool"));
  auto words = co_await joining;
  EXPECT_EQ(*words, "hello pool");
  auto owned = std::make_unique<int>(41);
  auto increment = [value = std::move(owned)]() { return *value + 1; };
  auto incrementing = offload(std::move(increment));
  const int incremented = co_await incrementing;
  EXPECT_EQ(incremented, 42);
  auto nothing = to_thread([] {});
  co_await nothing;
}

TEST_P(OffloadTest, MoveOnlyCallablesArgumentsAndResultsWork) {
  run(move_only_arguments_and_results());
}

void wait_for_flag(std::atomic<bool>* release, std::atomic<int>* started) {
  started->fetch_add(1);
  while (!release->load())
    std::this_thread::sleep_for(100us);
}

int record_run(std::atomic<int>* runs) {
  runs->fetch_add(1);
  return 1;
}

Task<int> offload_record(OffloadPool* pool, std::atomic<int>* runs) {
  co_return co_await offload_to(*pool, record_run, runs);
}

Task<> offload_wait(OffloadPool* pool, std::atomic<bool>* release, std::atomic<int>* started) {
  co_await offload_to(*pool, wait_for_flag, release, started);
}

Task<> cancel_before_and_during(OffloadPool* pool) {
  std::atomic<bool> release{false};
  std::atomic<int> started{0};
  std::atomic<int> runs{0};
  // The only worker is held by a job; the next job stays queued.
  auto busy = spawn(offload_wait(pool, &release, &started));
  while (started.load() == 0)
    co_await sleep(1ms);
  auto queued = spawn(offload_record(pool, &runs));
  co_await yield_now();
  queued.cancel();
  co_await yield_now();
  EXPECT_TRUE(queued.cancelled()) << "a job not yet started is taken off the queue at once";
  EXPECT_EQ(pool->stats().cancelled_queued, 1u);
  // Cancelling the task whose job is running: CancelledError at once, the job runs on.
  busy.cancel();
  co_await yield_now();
  EXPECT_TRUE(busy.cancelled()) << "the awaiting task must not wait for the running job";
  release.store(true);
  // The worker is free again; the cancelled queued job never ran.
  const int value = co_await offload_to(*pool, record_run, &runs);
  EXPECT_EQ(value, 1);
  EXPECT_EQ(runs.load(), 1);
}

TEST_P(OffloadTest, CancellationBeforeAndDuringAJob) {
  OffloadPool pool(1, 8);
  run(cancel_before_and_during(&pool));
}

Task<> tiny_queue_backpressure(OffloadPool* pool, std::atomic<int>* runs) {
  // Hold both workers so that the queue (limit 1) is certainly full while the jobs arrive.
  std::atomic<bool> release{false};
  std::atomic<int> started{0};
  auto first_busy = spawn(offload_wait(pool, &release, &started));
  auto second_busy = spawn(offload_wait(pool, &release, &started));
  while (started.load() < 2)
    co_await sleep(1ms);
  const std::uint64_t waited_before = pool->stats().waited_for_room;
  std::vector<TaskHandle<int>> tasks;
  for (int i = 0; i < 200; ++i)
    tasks.push_back(spawn(offload_record(pool, runs)));
  co_await yield_now();  // every task has submitted its job by now
  const OffloadPoolStats held = pool->stats();
  EXPECT_EQ(held.max_queued, 1u);
  EXPECT_EQ(held.waited_for_room - waited_before, 199u) << "all but one job must wait for room";
  EXPECT_EQ(runs->load(), 0);
  release.store(true);
  int total = 0;
  for (auto& task : tasks)
    total += co_await task;
  co_await first_busy;
  co_await second_busy;
  EXPECT_EQ(total, 200);
}

TEST_P(OffloadTest, TinyQueueMakesOffloadWaitAndLosesNothing) {
  OffloadPool pool(2, 1);
  std::atomic<int> runs{0};
  run(tiny_queue_backpressure(&pool, &runs));
  EXPECT_EQ(runs.load(), 200);
  EXPECT_LE(pool.stats().max_queued, 1u);
}

Task<> offload_expecting_rejection(OffloadPool* pool, std::atomic<bool>* release,
                                   std::atomic<int>* started, std::atomic<int>* runs,
                                   int* rejected) {
  auto busy = spawn(offload_wait(pool, release, started));
  while (started->load() == 0)
    co_await sleep(1ms);
  std::vector<TaskHandle<int>> pending;
  for (int i = 0; i < 5; ++i)
    pending.push_back(spawn(offload_record(pool, runs)));
  co_await yield_now();
  // Shut down from another thread (it joins the busy worker, which we release afterwards).
  std::thread closer([pool] { pool->shutdown(PendingJobs::reject); });
  while (true) {
    bool all_done = true;
    for (auto& task : pending)
      all_done = all_done && task.done();
    if (all_done) break;
    co_await sleep(1ms);
  }
  for (auto& task : pending) {
    try {
      task.result();
    } catch (const PoolClosedError& error) {
      ++*rejected;
      EXPECT_NE(std::string(error.what()).find("shut down"), std::string::npos);
    }
  }
  release->store(true);
  co_await busy;
  closer.join();
  try {
    co_await offload_to(*pool, record_run, runs);
    ADD_FAILURE() << "offload on a closed pool must throw";
  } catch (const PoolClosedError&) {
  }
}

TEST_P(OffloadTest, ShutdownRejectingPendingJobsFailsThemAndLaterOffloads) {
  OffloadPool pool(1, 16);
  std::atomic<bool> release{false};
  std::atomic<int> started{0};
  std::atomic<int> runs{0};
  int rejected = 0;
  run(offload_expecting_rejection(&pool, &release, &started, &runs, &rejected));
  EXPECT_EQ(rejected, 5);
  EXPECT_EQ(runs.load(), 0);
}

Task<> offload_then_count(OffloadPool* pool, std::atomic<int>* runs, int* finished) {
  co_await offload_to(*pool, record_run, runs);
  ++*finished;
}

TEST_P(OffloadTest, ShutdownFinishingPendingJobsRunsThemAll) {
  OffloadPool pool(1, 16);
  std::atomic<int> runs{0};
  int finished = 0;
  std::vector<TaskHandle<>> tasks;
  for (int i = 0; i < 10; ++i)
    tasks.push_back(loop().spawn(offload_then_count(&pool, &runs, &finished)));
  std::thread closer;
  loop().call_soon(
      [&pool, &closer] { closer = std::thread([&pool] { pool.shutdown(PendingJobs::finish); }); });
  for (auto& task : tasks)
    loop().run_until_complete(task);
  closer.join();
  EXPECT_EQ(finished, 10);
  EXPECT_EQ(runs.load(), 10);
}

int slow_identity(int value) {
  std::this_thread::sleep_for(200us);
  return value;
}

Task<int> offload_identity(int value) {
  co_return co_await offload(slow_identity, value);
}

Task<> count_ticks(int* ticks) {
  for (;;) {
    co_await sleep(1ms);
    ++*ticks;
  }
}

Task<> offloads_beside_timers() {
  int ticks = 0;
  std::vector<TaskHandle<int>> jobs;
  for (int i = 0; i < 200; ++i)
    jobs.push_back(spawn(offload_identity(i)));
  auto tick_task = spawn(count_ticks(&ticks));
  int sum = 0;
  for (auto& job : jobs)
    sum += co_await job;
  tick_task.cancel();
  EXPECT_EQ(sum, 199 * 200 / 2);
  EXPECT_GT(ticks, 0) << "timers kept firing while jobs were offloaded";
}

TEST_P(OffloadTest, ManyTasksOffloadWhileTimersRun) {
  run(offloads_beside_timers());
}

Task<> abandoned_running_job(std::atomic<bool>* release, std::atomic<int>* started) {
  co_await offload(wait_for_flag, release, started);
}

TEST_P(OffloadTest, LoopClosedWithAJobRunningWaitsForItSafely) {
  std::atomic<bool> release{false};
  std::atomic<int> started{0};
  auto task = loop().spawn(abandoned_running_job(&release, &started));
  while (started.load() == 0) {
    loop().call_soon([this] { loop().stop(); });
    loop().run_forever();
  }
  std::thread releaser([&release] {
    std::this_thread::sleep_for(20ms);
    release.store(true);
  });
  // TearDown destroys the loop with the task pending: it must wait for the job, not crash.
  close_loop();
  releaser.join();
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_EQ(reports[0].message, "Task was destroyed but it is pending");
  reports.clear();
  EXPECT_TRUE(task.cancelled());
}

void raise_flag(std::atomic<bool>* flag) {
  flag->store(true);
}

Task<> offload_raise_flag(std::atomic<bool>* flag) {
  co_await offload(raise_flag, flag);
}

// Parked workers are woken for a step's jobs when its iteration ends (one wake-up per batch):
// that must happen even when the loop stops after that iteration and does not run again.
TEST_P(OffloadTest, AJobQueuedInTheLastIterationBeforeTheLoopStopsStillStarts) {
  std::atomic<bool> ran{false};
  auto task = loop().spawn(offload_raise_flag(&ran));
  loop().call_soon([this] { loop().stop(); });
  loop().run_forever();  // one iteration: the task queues its job, then the loop stops
  // The loop is not running now; only a woken worker can raise the flag.
  for (int i = 0; i < 10'000 && !ran.load(); ++i)
    std::this_thread::sleep_for(1ms);
  EXPECT_TRUE(ran.load()) << "the job never started while the loop was stopped";
  while (!task.done()) {
    loop().call_soon([this] { loop().stop(); });
    loop().run_forever();
  }
}

Task<> watch_flag_for_a_while(std::atomic<bool>* flag, bool* raised_meanwhile) {
  // Busy for 50 ms inside one step: a worker woken at once would have run the job by then.
  const auto until = std::chrono::steady_clock::now() + 50ms;
  while (std::chrono::steady_clock::now() < until && !flag->load()) {
  }
  *raised_meanwhile = flag->load();
  co_return;
}

Task<> queue_then_watch(std::atomic<bool>* flag, bool* raised_meanwhile) {
  auto offloading = spawn(offload_raise_flag(flag), "offloading");
  auto watching = spawn(watch_flag_for_a_while(flag, raised_meanwhile), "watching");
  co_await offloading;
  co_await watching;
}

// The batching itself: a job queued by one step waits for the end of that iteration (the other
// steps queue theirs meanwhile) instead of waking a worker that would preempt the loop thread.
TEST_P(OffloadTest, AJobQueuedByAStepStartsOnlyAfterItsIterationEnds) {
  std::atomic<bool> warm_up{false};
  run(offload_raise_flag(&warm_up));  // the pool's workers exist...
  for (int i = 0; i < 10'000 && loop().default_offload_pool().stats().parked_workers < 2; ++i)
    std::this_thread::sleep_for(1ms);
  ASSERT_EQ(loop().default_offload_pool().stats().parked_workers, 2u);  // ...and sleep
  std::atomic<bool> flag{false};
  bool raised_meanwhile = true;
  run(queue_then_watch(&flag, &raised_meanwhile));
  EXPECT_FALSE(raised_meanwhile) << "the job ran while its iteration was still running steps";
  EXPECT_TRUE(flag.load());
}

RINGLOOP_ON_BOTH_BACKENDS(OffloadTest);

}  // namespace
}  // namespace ringloop::testing
