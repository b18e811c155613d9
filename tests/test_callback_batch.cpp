// CallbackBatch and the loop's lock-free inbox, on both backends: batches from several threads run
// every callback once, in order, on the loop thread; a batch to a sleeping loop costs exactly one
// wake-up; an empty batch posts nothing; a dropped batch still posts; a posted callback that throws
// reaches the exception handler by name; posts a loop never took are freed with it. Also run under
// ThreadSanitizer (label "threads").

#include <atomic>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <thread>
#include <vector>

#include "support/loop_fixture.hpp"
#include "support/sleeping_thread.hpp"

namespace ringloop::testing {
namespace {

class CallbackBatchTest : public LoopTest {};

constexpr int kThreads = 4;
constexpr int kBatchesPerThread = 500;
constexpr int kBatchSize = 100;
constexpr int kPerThread = kBatchesPerThread * kBatchSize;

/// What the posted callbacks saw; touched only on the loop thread.
struct OrderTally {
  std::thread::id loop_thread;
  std::vector<int> last_seen = std::vector<int>(kThreads, -1);
  int count = 0;
  int out_of_order = 0;
  int off_loop_thread = 0;
};

void record(OrderTally* tally, int thread, int sequence) {
  if (std::this_thread::get_id() != tally->loop_thread) ++tally->off_loop_thread;
  if (sequence != tally->last_seen[static_cast<std::size_t>(thread)] + 1) ++tally->out_of_order;
  tally->last_seen[static_cast<std::size_t>(thread)] = sequence;
  ++tally->count;
}

TEST_P(CallbackBatchTest, BatchesFromFourThreadsRunEveryCallbackOnceInOrderOnTheLoopThread) {
  OrderTally tally;
  tally.loop_thread = std::this_thread::get_id();
  Loop* const target = &loop();
  std::thread coordinator([target, &tally] {
    std::vector<std::thread> posters;
    for (int t = 0; t < kThreads; ++t) {
      posters.emplace_back([target, &tally, t] {
        CallbackBatch batch(*target);
        for (int sequence = 0; sequence < kPerThread; ++sequence) {
          OrderTally* shared = &tally;
          batch.add([shared, t, sequence] { record(shared, t, sequence); });
          if (batch.size() == kBatchSize) batch.post();
        }
      });
    }
    for (std::thread& poster : posters)
      poster.join();
    target->call_soon_threadsafe([target] { target->stop(); });
  });
  loop().run_forever();
  coordinator.join();
  EXPECT_EQ(tally.count, kThreads * kPerThread);
  EXPECT_EQ(tally.out_of_order, 0) << "a thread's callbacks ran out of the order it added them";
  EXPECT_EQ(tally.off_loop_thread, 0);
  EXPECT_EQ(loop().stats().remote_callbacks, std::uint64_t{kThreads * kPerThread} + 1);
  EXPECT_LE(loop().stats().remote_wakeups, std::uint64_t{kThreads * kBatchesPerThread} + 1)
      << "more wake-ups than posts";
}

TEST_P(CallbackBatchTest, ABatchToASleepingLoopWakesItExactlyOnce) {
  constexpr int kCallbacks = 1000;
  Loop* const target = &loop();
  int ran = 0;
  const pid_t loop_thread = current_thread_id();
  std::atomic<bool> saw_sleep{false};
  std::thread poster([target, &ran, &saw_sleep, loop_thread] {
    saw_sleep.store(wait_until_sleeping(loop_thread));
    CallbackBatch batch(*target);
    for (int i = 0; i < kCallbacks; ++i)
      batch.add([&ran] { ++ran; });
    batch.add([target] { target->stop(); });
    batch.post();
  });
  const LoopStats before = loop().stats();
  loop().run_forever();
  poster.join();
  ASSERT_TRUE(saw_sleep.load()) << "the loop was never seen asleep";
  EXPECT_EQ(ran, kCallbacks);
  EXPECT_EQ(loop().stats().remote_wakeups - before.remote_wakeups, 1u);
  EXPECT_EQ(loop().stats().remote_callbacks - before.remote_callbacks, kCallbacks + 1u);
}

TEST_P(CallbackBatchTest, AnEmptyBatchPostsNothing) {
  const LoopStats before = loop().stats();
  {
    CallbackBatch batch(loop());
    EXPECT_TRUE(batch.empty());
    batch.post();
  }
  loop().call_soon([this] { loop().stop(); });
  loop().run_forever();
  EXPECT_EQ(loop().stats().remote_callbacks, before.remote_callbacks);
  EXPECT_EQ(loop().stats().remote_wakeups, before.remote_wakeups);
}

TEST_P(CallbackBatchTest, ADroppedBatchPostsWhatItHeld) {
  Loop* const target = &loop();
  std::vector<int> order;
  std::thread poster([target, &order] {
    CallbackBatch batch(*target);
    for (int i = 0; i < 3; ++i)
      batch.add([&order, i] { order.push_back(i); });
    batch.add([target] { target->stop(); });
  });  // no post(): the destructor posts
  loop().run_forever();
  poster.join();
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2}));
}

TEST_P(CallbackBatchTest, ABatchIsEmptyAfterPostAndCanBeFilledAgain) {
  std::vector<int> order;
  CallbackBatch batch(loop());
  batch.add([&order] { order.push_back(1); });
  batch.add([&order] { order.push_back(2); });
  EXPECT_EQ(batch.size(), 2u);
  batch.post();
  EXPECT_TRUE(batch.empty());
  batch.add([&order] { order.push_back(3); });
  batch.add([this] { loop().stop(); });
  batch.post();
  loop().run_forever();
  EXPECT_EQ(order, (std::vector<int>{1, 2, 3}));
}

struct Boom : std::runtime_error {
  Boom() : std::runtime_error("boom from a posted callback") {}
};

/// A named callable, so the report can name it.
struct ThrowBoom {
  void operator()() const { throw Boom(); }
};

TEST_P(CallbackBatchTest, APostedCallbackThatThrowsReachesTheExceptionHandlerAndTheLoopGoesOn) {
  Loop* const target = &loop();
  bool later_ran = false;
  std::thread poster([target, &later_ran] {
    target->call_soon_threadsafe(ThrowBoom{});
    CallbackBatch batch(*target);
    batch.add(ThrowBoom{});
    batch.add([target, &later_ran] {
      later_ran = true;
      target->stop();
    });
  });
  loop().run_forever();
  poster.join();
  EXPECT_TRUE(later_ran);
  ASSERT_EQ(reports.size(), 2u);
  for (const ExceptionContext& report : reports) {
    EXPECT_EQ(report.message.rfind("Exception in callback ", 0), 0u) << report.message;
    EXPECT_NE(report.message.find("ThrowBoom"), std::string::npos) << report.message;
    EXPECT_NE(describe_exception(report.exception).find("boom from a posted callback"),
              std::string::npos);
  }
  reports.clear();
}

TEST_P(CallbackBatchTest, PostsTheLoopNeverTookAreFreedWithItAndNeverRun) {
  auto witness = std::make_shared<int>(0);
  Loop* const target = &loop();
  std::thread poster([target, witness] {
    target->call_soon_threadsafe([witness] { ++*witness; });
    CallbackBatch batch(*target);
    batch.add([witness] { ++*witness; });
    batch.add([witness] { ++*witness; });
  });
  poster.join();
  EXPECT_EQ(witness.use_count(), 4);
  close_loop();
  EXPECT_EQ(witness.use_count(), 1) << "a posted callback outlived its loop";
  EXPECT_EQ(*witness, 0);
}

// Batches racing with the loop going to sleep, with no pause between them: none may be stranded
// (a lost wake-up leaves the loop asleep forever and the test hangs).
TEST_P(CallbackBatchTest, BatchesRacingWithTheLoopFallingAsleepAreNeverStranded) {
  constexpr int kRounds = 2000;
  Loop* const target = &loop();
  int stops = 0;
  for (int round = 0; round < kRounds; ++round) {
    std::thread poster([target, &stops] {
      CallbackBatch batch(*target);
      batch.add([] {});
      batch.add([target, &stops] {
        ++stops;
        target->stop();
      });
    });
    target->run_forever();
    poster.join();
  }
  EXPECT_EQ(stops, kRounds);
}

}  // namespace

RINGLOOP_ON_BOTH_BACKENDS(CallbackBatchTest);

}  // namespace ringloop::testing
