// call_soon_threadsafe(), the loop's one door for other threads, on both backends: every posted
// callback runs exactly once on the loop thread, a loop asleep with nothing to do is woken, and a
// burst of posts costs far fewer wake-ups than posts. Also run under ThreadSanitizer (label
// "threads").

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "support/loop_fixture.hpp"
#include "support/sleeping_thread.hpp"

namespace ringloop::testing {
namespace {

using namespace std::chrono_literals;

class ThreadsafeTest : public LoopTest {};

constexpr std::uint32_t kThreads = 4;
constexpr std::uint32_t kPostsPerThread = 100'000;
constexpr std::uint32_t kPosts = kThreads * kPostsPerThread;

/// What the posted callbacks saw; touched only on the loop thread (checked by `loop_thread`).
struct Tally {
  std::thread::id loop_thread;
  std::vector<std::uint8_t> seen = std::vector<std::uint8_t>(kPosts, 0);
  std::uint64_t count = 0;
  std::uint64_t sum = 0;
  std::uint64_t duplicates = 0;
  std::uint64_t off_loop_thread = 0;
  std::uint64_t count_when_stopped = 0;
};

void record(Tally* tally, std::uint32_t value) {
  if (std::this_thread::get_id() != tally->loop_thread) ++tally->off_loop_thread;
  if (tally->seen[value]++ != 0) ++tally->duplicates;
  ++tally->count;
  tally->sum += value;
}

/// Starts kThreads threads posting kPostsPerThread callbacks each, joins them, then posts the
/// callback that stops the loop; returns the thread doing all that.
std::thread post_from_threads(Loop* loop, Tally* tally) {
  return std::thread([loop, tally] {
    std::vector<std::thread> posters;
    for (std::uint32_t t = 0; t < kThreads; ++t) {
      posters.emplace_back([loop, tally, t] {
        for (std::uint32_t i = 0; i < kPostsPerThread; ++i) {
          const std::uint32_t value = t * kPostsPerThread + i;
          loop->call_soon_threadsafe([tally, value] { record(tally, value); });
        }
      });
    }
    for (std::thread& poster : posters)
      poster.join();
    // Posted after every other post has returned, so it runs after all of them.
    loop->call_soon_threadsafe([loop, tally] {
      tally->count_when_stopped = tally->count;
      loop->stop();
    });
  });
}

void run_posting_threads(Loop& loop, Tally& tally) {
  tally.loop_thread = std::this_thread::get_id();
  std::thread coordinator = post_from_threads(&loop, &tally);
  try {
    loop.run_forever();
  } catch (...) {
    coordinator.join();
    throw;
  }
  coordinator.join();
}

TEST_P(ThreadsafeTest, FourThreadsPostingHundredThousandEachRunEveryCallbackOnceOnTheLoopThread) {
  Tally tally;
  run_posting_threads(loop(), tally);
  EXPECT_EQ(tally.count, kPosts);
  EXPECT_EQ(tally.count_when_stopped, kPosts) << "the final post overtook earlier ones";
  EXPECT_EQ(tally.duplicates, 0u);
  EXPECT_EQ(tally.off_loop_thread, 0u);
  const std::uint64_t expected_sum = std::uint64_t{kPosts} * (kPosts - 1) / 2;
  EXPECT_EQ(tally.sum, expected_sum);
  EXPECT_EQ(loop().stats().remote_callbacks, std::uint64_t{kPosts} + 1);
}

TEST_P(ThreadsafeTest, WakeupsFromConcurrentPostersAreCoalesced) {
  Tally tally;
  run_posting_threads(loop(), tally);
  ASSERT_EQ(tally.count, kPosts);
  const LoopStats stats = loop().stats();
  // One wake-up per post would be kPosts + 1; a poster only wakes a loop it finds asleep.
  EXPECT_LT(stats.remote_wakeups, std::uint64_t{kPosts}) << "wake-ups were not coalesced";
  std::printf("[          ] %llu posts, %llu wake-ups, %llu loop iterations\n",
              static_cast<unsigned long long>(kPosts + 1),
              static_cast<unsigned long long>(stats.remote_wakeups),
              static_cast<unsigned long long>(stats.iterations));
}

// ---- a sleeping loop -------------------------------------------------------------------------

struct WakeRecord {
  std::thread::id ran_on;
  int runs = 0;
};

/// Runs the loop with nothing to do; another thread waits until the loop sleeps, then posts a
/// callback that stops it. Returns whether the loop was seen asleep before the post.
bool wake_sleeping_loop_once(Loop& loop, WakeRecord& record) {
  const pid_t loop_tid = current_thread_id();
  std::atomic<bool> saw_sleep{false};
  std::thread poster([&loop, &record, &saw_sleep, loop_tid] {
    saw_sleep.store(wait_until_sleeping(loop_tid));
    loop.call_soon_threadsafe([&loop, &record] {
      record.ran_on = std::this_thread::get_id();
      ++record.runs;
      loop.stop();
    });
  });
  try {
    loop.run_forever();
  } catch (...) {
    poster.join();
    throw;
  }
  poster.join();
  return saw_sleep.load();
}

TEST_P(ThreadsafeTest, LoopSleepingForeverIsWokenByCallSoonThreadsafe) {
  WakeRecord record;
  int slept = 0;
  for (int round = 0; round < 5; ++round) {
    if (wake_sleeping_loop_once(loop(), record)) ++slept;
  }
  EXPECT_EQ(record.runs, 5);
  EXPECT_EQ(record.ran_on, std::this_thread::get_id());
  // Each round the loop was seen asleep needed a real wake-up.
  EXPECT_GE(loop().stats().remote_wakeups, static_cast<std::uint64_t>(slept));
  if (slept == 0) std::printf("[          ] note: the loop was never observed asleep\n");
}

TEST_P(ThreadsafeTest, LoopSleepingUntilADistantTimerIsWokenByCallSoonThreadsafe) {
  bool timer_fired = false;
  Handle distant = loop().call_later(1h, [&timer_fired] { timer_fired = true; });
  WakeRecord record;
  wake_sleeping_loop_once(loop(), record);
  EXPECT_EQ(record.runs, 1);
  EXPECT_FALSE(timer_fired);
  distant.cancel();
}

// Posts racing with the loop going to sleep, with no pause between them: none may be stranded
// (a lost wake-up leaves the loop asleep forever and the test hangs).
TEST_P(ThreadsafeTest, PostsRacingWithTheLoopFallingAsleepAreNeverStranded) {
  constexpr int kRounds = 2000;
  Loop* const target = &loop();
  std::atomic<int> stops{0};
  for (int round = 0; round < kRounds; ++round) {
    std::thread poster([target, &stops] {
      target->call_soon_threadsafe([target, &stops] {
        ++stops;
        target->stop();
      });
    });
    target->run_forever();
    poster.join();
  }
  EXPECT_EQ(stops.load(), kRounds);
}

RINGLOOP_ON_BOTH_BACKENDS(ThreadsafeTest);

}  // namespace
}  // namespace ringloop::testing
