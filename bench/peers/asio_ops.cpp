// Asio peer of bench/micro/ (issue 12), run by bench/run_micro_peers.py: the per-operation costs
// that micro_benchmarks measures for ringloop, on standalone Asio 1.22 (one io_context run by one
// thread, concurrency hint 1) with C++20 coroutines (awaitable, co_spawn, use_awaitable).
//
//   ./asio_ops [--ops N] [--only OPERATION]
//
// Prints one JSON object per operation per line: peer, operation, ns_per_op, items_per_s, clock
// ("wall" or "cpu": the clock ringloop's benchmark of that operation uses) and counters.
//
// How each ringloop benchmark is mapped:
//   call_soon_threadsafe threads:T  T std::threads asio::post(io_context, fn) N callbacks in
//       batches of 4,000 (each thread posting 4,000/T per batch after waiting for the batch to
//       start, as bench/micro/callbacks.cpp); the last callback of a batch starts the next one
//       from the loop thread. Wall time.
//   spawn_await  one driver coroutine does co_await co_spawn(executor, empty(), use_awaitable)
//       N times. Thread CPU time.
//   spawn_many 1000000  N co_spawn(executor, empty(), handler) (eager: the coroutine is queued at
//       once), then all awaited: the handler counts completions and the last one cancels a
//       steady_timer the driver co_awaits (Asio 1.22 has no awaitable join of N spawned
//       coroutines outside experimental). bytes_per_task: heap growth (mallinfo2 uordblks +
//       hblkhd) while all N are pending; rss_bytes_per_task: RSS growth over the first batch.
//       Batches repeat until 0.5 s of CPU time, as Google Benchmark does. Thread CPU time.
//   timers_fire_1M  N asio::steady_timer (a reserved std::vector) each constructed with a random
//       expiry of 1-1000 ms and async_wait'ed, then io_context::run() until all fired. Wall time;
//       arm_ns_per_timer, cpu_ns_per_timer, bytes_per_timer (heap growth over arming),
//       rss_bytes_per_timer, late_ms_max as ringloop's benchmark.
//   timer_add_cancel live:L  with L steady_timers waiting 1-2 hours away, one steady_timer is
//       expires_after (1-2 hours, a table of 4,096) + async_wait + cancel() N times. Asio always
//       runs a cancelled wait's handler (with operation_aborted), so io_context::poll() runs them
//       after every 100 (ringloop's batch): that cost is part of Asio's cancel. Thread CPU time.

#include <malloc.h>
#include <time.h>
#include <unistd.h>

#include <asio.hpp>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

using std::chrono::milliseconds;

const char* only = nullptr;
std::int64_t operations = 1'000'000;

bool wanted(const std::string& operation) {
  return only == nullptr || operation == only;
}

double thread_cpu_ns() {
  timespec now{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) * 1e9 + static_cast<double>(now.tv_nsec);
}

double wall_ns() {
  return static_cast<double>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                 std::chrono::steady_clock::now().time_since_epoch())
                                 .count());
}

double heap_in_use() {
  const struct mallinfo2 info = mallinfo2();
  return static_cast<double>(info.uordblks + info.hblkhd);
}

double resident_bytes() {
  long pages_total = 0;
  long pages_resident = 0;
  std::FILE* statm = std::fopen("/proc/self/statm", "r");
  if (statm == nullptr) return 0;
  const int fields = std::fscanf(statm, "%ld %ld", &pages_total, &pages_resident);
  std::fclose(statm);
  if (fields != 2) return 0;
  return static_cast<double>(pages_resident) * static_cast<double>(::sysconf(_SC_PAGESIZE));
}

void check(bool ok, const char* what) {
  if (!ok) throw std::logic_error(std::string("asio_ops check failed: ") + what);
}

void report(const std::string& operation, double ns_per_op, const char* clock,
            const std::string& extra = "") {
  std::printf(
      "{\"peer\": \"asio\", \"operation\": \"%s\", \"ns_per_op\": %.3f, \"items_per_s\": %.1f, "
      "\"clock\": \"%s\"%s%s}\n",
      operation.c_str(), ns_per_op, 1e9 / ns_per_op, clock, extra.empty() ? "" : ", ",
      extra.c_str());
  std::fflush(stdout);
}

// ---- call_soon_threadsafe: asio::post from other threads ----

constexpr std::int64_t kPostsPerBatch = 4000;

struct PostState {
  asio::io_context* context = nullptr;
  std::atomic<std::uint64_t> batch{0};
  std::atomic<std::int64_t> per_thread{0};
  std::atomic<bool> stop{false};
  std::int64_t threads = 1;
  std::int64_t ran = 0;  // loop thread only
  std::int64_t done = 0;
  std::int64_t total = 0;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;

  void start_batch() {
    per_thread.store(kPostsPerBatch / threads, std::memory_order_relaxed);
    batch.fetch_add(1, std::memory_order_release);
    batch.notify_all();
  }

  void posted() {
    if (++ran != kPostsPerBatch) return;
    done += kPostsPerBatch;
    ran = 0;
    if (done < total) {
      start_batch();
    } else {
      work.reset();
    }
  }

  void post_batches() {
    std::uint64_t seen = 0;
    for (;;) {
      batch.wait(seen, std::memory_order_acquire);
      seen = batch.load(std::memory_order_acquire);
      if (stop.load(std::memory_order_acquire)) return;
      const std::int64_t posts = per_thread.load(std::memory_order_relaxed);
      for (std::int64_t i = 0; i < posts; ++i) {
        asio::post(*context, [this] { posted(); });
      }
    }
  }
};

void run_post(int threads) {
  const std::string operation = "call_soon_threadsafe threads:" + std::to_string(threads);
  if (!wanted(operation)) return;
  asio::io_context context(1);
  PostState state;
  state.context = &context;
  state.threads = threads;
  state.total = (operations + kPostsPerBatch - 1) / kPostsPerBatch * kPostsPerBatch;
  state.work.emplace(context.get_executor());
  std::vector<std::thread> posters;
  for (int i = 0; i < threads; ++i)
    posters.emplace_back([&state] { state.post_batches(); });
  const double start = wall_ns();
  state.start_batch();
  context.run();
  const double elapsed = wall_ns() - start;
  state.stop.store(true, std::memory_order_release);
  state.batch.fetch_add(1, std::memory_order_release);
  state.batch.notify_all();
  for (std::thread& thread : posters)
    thread.join();
  check(state.done == state.total, "call_soon_threadsafe: every post ran");
  report(operation, elapsed / static_cast<double>(state.total), "wall",
         "\"posts\": " + std::to_string(state.total));
}

// ---- spawn_await and spawn_many ----

asio::awaitable<void> empty_task(std::int64_t* runs) {
  ++*runs;
  co_return;
}

asio::awaitable<void> spawn_await_driver(std::int64_t count, std::int64_t* runs) {
  const asio::any_io_executor executor = co_await asio::this_coro::executor;
  for (std::int64_t i = 0; i < count; ++i) {
    co_await asio::co_spawn(executor, empty_task(runs), asio::use_awaitable);
  }
}

void run_spawn_await() {
  if (!wanted("spawn_await")) return;
  asio::io_context context(1);
  std::int64_t runs = 0;
  asio::co_spawn(context, spawn_await_driver(operations, &runs), asio::detached);
  const double start = thread_cpu_ns();
  context.run();
  const double elapsed = thread_cpu_ns() - start;
  check(runs == operations, "spawn_await: every task ran");
  report("spawn_await", elapsed / static_cast<double>(operations), "cpu");
}

struct SpawnMany {
  std::int64_t runs = 0;
  std::int64_t completed = 0;
  double heap_bytes_per_task = 0;  // the largest over the batches
  double rss_bytes_per_task = 0;   // first batch
  double cpu_ns = 0;
  std::int64_t batches = 0;
};

asio::awaitable<void> spawn_many_driver(std::int64_t tasks, SpawnMany* result) {
  const asio::any_io_executor executor = co_await asio::this_coro::executor;
  asio::steady_timer all_done(executor);
  while (result->batches == 0 || result->cpu_ns < 0.5e9) {
    const double start = thread_cpu_ns();
    all_done.expires_at(asio::steady_timer::time_point::max());
    result->completed = 0;
    const double heap_before = heap_in_use();
    const double rss_before = resident_bytes();
    for (std::int64_t i = 0; i < tasks; ++i) {
      asio::co_spawn(executor, empty_task(&result->runs),
                     [result, tasks, &all_done](const std::exception_ptr&) {
                       if (++result->completed == tasks) all_done.cancel();
                     });
    }
    const double per_task = (heap_in_use() - heap_before) / static_cast<double>(tasks);
    const double rss_per_task = (resident_bytes() - rss_before) / static_cast<double>(tasks);
    if (per_task > result->heap_bytes_per_task) result->heap_bytes_per_task = per_task;
    if (result->batches == 0) result->rss_bytes_per_task = rss_per_task;
    asio::error_code error;
    co_await all_done.async_wait(asio::redirect_error(asio::use_awaitable, error));
    check(result->completed == tasks, "spawn_many: every task completed");
    result->cpu_ns += thread_cpu_ns() - start;
    ++result->batches;
  }
}

void run_spawn_many() {
  if (!wanted("spawn_many 1000000")) return;
  asio::io_context context(1);
  SpawnMany result;
  asio::co_spawn(context, spawn_many_driver(operations, &result), asio::detached);
  context.run();
  check(result.runs == result.batches * operations, "spawn_many: every task ran");
  const double tasks = static_cast<double>(result.batches * operations);
  report("spawn_many 1000000", result.cpu_ns / tasks, "cpu",
         "\"tasks\": " + std::to_string(operations) +
             ", \"batches\": " + std::to_string(result.batches) +
             ", \"bytes_per_task\": " + std::to_string(result.heap_bytes_per_task) +
             ", \"rss_bytes_per_task\": " + std::to_string(result.rss_bytes_per_task));
}

// ---- timers_fire_1M ----

void run_timers_fire() {
  if (!wanted("timers_fire_1M")) return;
  asio::io_context context(1);
  const std::int64_t count = operations;
  std::mt19937 random(3);
  std::uniform_int_distribution<std::int64_t> spread(1, 1000);
  std::vector<milliseconds> delays(static_cast<std::size_t>(count));
  for (milliseconds& delay : delays)
    delay = milliseconds(spread(random));
  std::vector<asio::steady_timer> timers;
  std::int64_t fired = 0;
  asio::steady_timer::duration latest{0};
  const double heap_before = heap_in_use();
  const double rss_before = resident_bytes();
  const double cpu_start = thread_cpu_ns();
  const double start = wall_ns();
  timers.reserve(static_cast<std::size_t>(count));
  for (const milliseconds delay : delays) {
    asio::steady_timer& timer = timers.emplace_back(context, delay);
    const asio::steady_timer::time_point deadline = timer.expiry();
    timer.async_wait([&fired, &latest, deadline](const asio::error_code& error) {
      if (error) return;
      const asio::steady_timer::duration late = asio::steady_timer::clock_type::now() - deadline;
      if (late > latest) latest = late;
      ++fired;
    });
  }
  const double armed = wall_ns();
  const double heap_after = heap_in_use();
  const double rss_after = resident_bytes();
  context.run();
  const double end = wall_ns();
  const double cpu_ns = thread_cpu_ns() - cpu_start;
  check(fired == count, "timers_fire_1M: every timer fired");
  const double n = static_cast<double>(count);
  char extra[320];
  std::snprintf(extra, sizeof extra,
                "\"timers\": %lld, \"total_s\": %.3f, \"arm_ns_per_timer\": %.1f, "
                "\"cpu_ns_per_timer\": %.1f, \"bytes_per_timer\": %.1f, "
                "\"rss_bytes_per_timer\": %.1f, \"late_ms_max\": %.1f",
                static_cast<long long>(count), (end - start) / 1e9, (armed - start) / n, cpu_ns / n,
                (heap_after - heap_before) / n, (rss_after - rss_before) / n,
                std::chrono::duration<double, std::milli>(latest).count());
  report("timers_fire_1M", (end - start) / n, "wall", extra);
}

// ---- timer_add_cancel ----

std::vector<milliseconds> far_delays(std::size_t count, unsigned seed) {
  std::mt19937 random(seed);
  std::uniform_int_distribution<std::int64_t> spread(3'600'000, 7'200'000);
  std::vector<milliseconds> delays(count);
  for (milliseconds& delay : delays)
    delay = milliseconds(spread(random));
  return delays;
}

constexpr std::size_t kDelayTable = 4096;
constexpr std::int64_t kBatch = 100;

void run_add_cancel(std::int64_t live) {
  const std::string operation = "timer_add_cancel live:" + std::to_string(live);
  if (!wanted(operation)) return;
  asio::io_context context(1);
  std::int64_t fired = 0;
  std::int64_t aborted = 0;
  std::vector<asio::steady_timer> armed;
  armed.reserve(static_cast<std::size_t>(live));
  for (const milliseconds delay : far_delays(static_cast<std::size_t>(live), 1)) {
    armed.emplace_back(context, delay).async_wait([&fired, &aborted](const asio::error_code& e) {
      ++(e ? aborted : fired);
    });
  }
  const std::vector<milliseconds> delays = far_delays(kDelayTable, 2);
  asio::steady_timer timer(context);
  const double start = thread_cpu_ns();
  for (std::int64_t i = 0; i < operations; ++i) {
    timer.expires_after(delays[static_cast<std::size_t>(i) & (kDelayTable - 1)]);
    timer.async_wait(
        [&fired, &aborted](const asio::error_code& error) { ++(error ? aborted : fired); });
    timer.cancel();
    if ((i + 1) % kBatch == 0) context.poll();
  }
  context.poll();
  const double elapsed = thread_cpu_ns() - start;
  check(aborted == operations && fired == 0, "timer_add_cancel: every wait aborted, none fired");
  for (asio::steady_timer& far : armed)
    far.cancel();
  context.run();
  report(operation, elapsed / static_cast<double>(operations), "cpu");
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--ops") == 0 && i + 1 < argc) {
      operations = std::atoll(argv[++i]);
    } else if (std::strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
      only = argv[++i];
    } else {
      std::fprintf(stderr, "usage: asio_ops [--ops N] [--only OPERATION]\n");
      return 2;
    }
  }
  if (operations < 1) operations = 1;
  try {
    run_post(1);
    run_post(4);
    run_spawn_await();
    run_spawn_many();
    run_timers_fire();
    run_add_cancel(1);
    run_add_cancel(1000);
    run_add_cancel(1'000'000);
  } catch (const std::exception& error) {
    std::fprintf(stderr, "asio_ops: %s\n", error.what());
    return 1;
  }
  return 0;
}
