// Callbacks:
//   call_soon/<backend>               the loop's task queues kBatch call_soon() callbacks, then
//       yields so they run; items are callbacks run
//   call_soon_threadsafe/<backend>/threads:<T>  T std::threads post kPostsPerBatch callbacks in
//       all per batch through call_soon_threadsafe(); the loop's task waits (on a Future the last
//       callback sets) until all ran; items are posts. wakes_per_1000: posts that had to wake the
//       sleeping loop (loop.stats().remote_wakeups, one eventfd write or ring message each);
//       backend_calls_per_1000: io_uring_enter / epoll_wait calls (backend().stats()).
//   call_soon_threadsafe_batch/<backend>/threads:<T>  the same, each thread posting through a
//       CallbackBatch of kCallbacksPerBatchPost callbacks (one atomic operation and at most one
//       wake-up per batch post)

#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

#include <ringloop/runtime/callback_batch.hpp>
#include <ringloop/runtime/future.hpp>
#include <ringloop/runtime/sleep.hpp>
#include <ringloop/runtime/task_handle.hpp>

#include "common.hpp"

namespace micro {
namespace {

ringloop::Task<> call_soon_kernel(ringloop::Loop* loop, std::int64_t operations,
                                  std::int64_t* runs) {
  const std::int64_t before = *runs;
  for (std::int64_t i = 0; i < operations; ++i) {
    loop->call_soon([runs] { ++*runs; });
  }
  // The callbacks were queued before this task's next step: they all run before it resumes.
  ringloop::detail::YieldAwaiter turn = ringloop::yield_now();
  co_await turn;
  check(*runs - before == operations, "call_soon: every callback ran");
}

void call_soon(benchmark::State& state, BackendKind backend) {
  std::optional<ringloop::Loop> loop;
  if (!make_loop(state, backend, loop)) return;
  ringloop::Loop* loop_pointer = &*loop;
  std::int64_t runs = 0;
  loop->run_until_complete(
      drive_batches(&state, kBatch, [loop_pointer, &runs](std::int64_t operations) {
        return call_soon_kernel(loop_pointer, operations, &runs);
      }));
  check(runs == static_cast<std::int64_t>(state.iterations()), "call_soon: every callback ran");
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

constexpr std::int64_t kPostsPerBatch = 4000;  // divisible by 1 and 4 posting threads
// Callbacks per CallbackBatch::post() in the batch benchmark (divides kPostsPerBatch / 4).
constexpr std::int64_t kCallbacksPerBatchPost = 50;

// The loop-side tally of one batch of posts.
struct Tally {
  std::int64_t ran = 0;
  std::int64_t target = 0;
  std::optional<ringloop::Future<>> all_ran;
};

// Posting threads that wait for a batch number, post their share of the batch, and wait again.
class Posters {
 public:
  Posters(ringloop::Loop& loop, unsigned threads, Tally* tally, bool batched = false)
      : loop_(&loop), tally_(tally), batched_(batched) {
    for (unsigned i = 0; i < threads; ++i)
      threads_.emplace_back([this] { post_batches(); });
  }
  Posters(const Posters&) = delete;
  Posters& operator=(const Posters&) = delete;
  ~Posters() {
    stop_.store(true, std::memory_order_release);
    batch_.fetch_add(1, std::memory_order_release);
    batch_.notify_all();
    for (std::thread& thread : threads_)
      thread.join();
  }

  /// Lets every thread post `posts / threads` callbacks (the loop thread calls it).
  void start_batch(std::int64_t posts) {
    per_thread_.store(posts / static_cast<std::int64_t>(threads_.size()),
                      std::memory_order_relaxed);
    batch_.fetch_add(1, std::memory_order_release);
    batch_.notify_all();
  }

 private:
  void post_batches() {
    std::uint64_t seen = 0;
    for (;;) {
      batch_.wait(seen, std::memory_order_acquire);
      seen = batch_.load(std::memory_order_acquire);
      if (stop_.load(std::memory_order_acquire)) return;
      const std::int64_t posts = per_thread_.load(std::memory_order_relaxed);
      if (batched_) {
        post_in_batches(posts);
      } else {
        post_one_by_one(posts);
      }
    }
  }

  void post_one_by_one(std::int64_t posts) {
    Tally* tally = tally_;
    for (std::int64_t i = 0; i < posts; ++i) {
      loop_->call_soon_threadsafe([tally] {
        if (++tally->ran == tally->target) tally->all_ran->set_result();
      });
    }
  }

  void post_in_batches(std::int64_t posts) {
    Tally* tally = tally_;
    ringloop::CallbackBatch batch(*loop_);
    for (std::int64_t i = 0; i < posts; ++i) {
      batch.add([tally] {
        if (++tally->ran == tally->target) tally->all_ran->set_result();
      });
      if (static_cast<std::int64_t>(batch.size()) == kCallbacksPerBatchPost) batch.post();
    }
  }

  ringloop::Loop* loop_;
  Tally* tally_;
  bool batched_;
  std::vector<std::thread> threads_;
  std::atomic<std::uint64_t> batch_{0};
  std::atomic<std::int64_t> per_thread_{0};
  std::atomic<bool> stop_{false};
};

ringloop::Task<> threadsafe_kernel(ringloop::Loop* loop, Posters* posters, Tally* tally,
                                   std::int64_t operations) {
  ringloop::Future<> all_ran(*loop);
  tally->all_ran = all_ran;
  tally->ran = 0;
  tally->target = operations;
  posters->start_batch(operations);
  co_await all_ran;
  check(tally->ran == operations, "call_soon_threadsafe: every post ran");
}

void measure_threadsafe_posts(benchmark::State& state, BackendKind backend, bool batched) {
  std::optional<ringloop::Loop> loop;
  if (!make_loop(state, backend, loop)) return;
  ringloop::Loop* loop_pointer = &*loop;
  Tally tally;
  std::int64_t total = 0;
  const ringloop::LoopStats loop_before = loop->stats();
  const std::uint64_t calls_before = loop->backend().stats().system_calls;
  {
    Posters posters(*loop, static_cast<unsigned>(state.range(0)), &tally, batched);
    loop->run_until_complete(drive_batches(
        &state, kPostsPerBatch, [loop_pointer, &posters, &tally, &total](std::int64_t operations) {
          total += operations;
          return threadsafe_kernel(loop_pointer, &posters, &tally, operations);
        }));
  }
  const ringloop::LoopStats loop_after = loop->stats();
  const std::uint64_t calls_after = loop->backend().stats().system_calls;
  check(static_cast<std::int64_t>(loop_after.remote_callbacks - loop_before.remote_callbacks) ==
            total,
        "call_soon_threadsafe: the loop took every post");
  state.SetItemsProcessed(total);
  const double per_1000 = 1000.0 / static_cast<double>(total);
  state.counters["wakes_per_1000"] =
      static_cast<double>(loop_after.remote_wakeups - loop_before.remote_wakeups) * per_1000;
  state.counters["backend_calls_per_1000"] =
      static_cast<double>(calls_after - calls_before) * per_1000;
}

void call_soon_threadsafe(benchmark::State& state, BackendKind backend) {
  measure_threadsafe_posts(state, backend, false);
}

void call_soon_threadsafe_batch(benchmark::State& state, BackendKind backend) {
  measure_threadsafe_posts(state, backend, true);
}

void callgrind_call_soon(ringloop::Loop& loop, std::int64_t operations) {
  std::int64_t runs = 0;
  loop.run_until_complete(call_soon_kernel(&loop, operations, &runs));
}

void callgrind_call_soon_threadsafe(ringloop::Loop& loop, std::int64_t operations) {
  Tally tally;
  Posters posters(loop, 1, &tally);
  if (operations == 0) return;
  loop.run_until_complete(threadsafe_kernel(&loop, &posters, &tally, operations));
}

}  // namespace

void register_callback_benchmarks(std::vector<CallgrindCase>& cases) {
  register_on_both_backends("call_soon", call_soon);
  for (benchmark::internal::Benchmark* registered :
       register_on_both_backends("call_soon_threadsafe", call_soon_threadsafe)) {
    registered->ArgName("threads")->Arg(1)->Arg(4)->UseRealTime();
  }
  for (benchmark::internal::Benchmark* registered :
       register_on_both_backends("call_soon_threadsafe_batch", call_soon_threadsafe_batch)) {
    registered->ArgName("threads")->Arg(1)->Arg(4)->UseRealTime();
  }
  cases.push_back({"call_soon", "call_soon() callback queued and run", callgrind_call_soon});
  cases.push_back(
      {"call_soon_threadsafe",
       "call_soon_threadsafe() from 1 thread, callback run (both threads' instructions)",
       callgrind_call_soon_threadsafe});
}

}  // namespace micro
