// Offload-pool benchmarks (Google Benchmark), each on the io_uring and epoll backends, with the
// default pool of 2 worker threads and with 1 (the pinned case, where both share one CPU):
//   round_trip/<backend>/threads:<n>  one task awaits offload(trivial_job) in a loop; each round
//       trip is timed with steady_clock and reported as p50_us / p99_us (time/iteration = mean).
//   throughput/<backend>/threads:<n>  16 tasks each await trivial jobs in a loop; jobs_per_s.
//   reference/futex_ping_pong  no ringloop: two threads pass a token back and forth with raw
//       futex wait/wake (per round trip: 2 wakes, 2 waits, 2 context switches when they share a
//       CPU), what a hand-off to a sleeping thread and back costs on this machine right now;
//       p50_us / p99_us. (An offload round trip can beat it: when the woken worker runs at once
//       on the loop's CPU, it hands the result back before the loop sleeps, with no second wake.)
// The ringloop benchmarks report, per 1M results posted back: wakeups_per_1M
// (loop.stats().remote_wakeups: posts that had to wake the sleeping backend, i.e. one eventfd write
// each), backend_syscalls_per_1M (io_uring_enter / epoll_wait calls) and iterations_per_1M (loop
// iterations).
//
//   cmake -S . -B build-offload-bench -DCMAKE_BUILD_TYPE=Release -DRINGLOOP_BUILD_TESTS=OFF
//   cmake --build build-offload-bench -j2 --target offload_benchmark
//   taskset -c 0 build-offload-bench/bench/offload_benchmark --benchmark_repetitions=5
//   bench/run_offload.py --build build-offload-bench   (pinned and unpinned, with Python beside)

#include <benchmark/benchmark.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <ringloop/io/backend.hpp>
#include <ringloop/runtime/loop.hpp>
#include <ringloop/runtime/offload.hpp>
#include <ringloop/runtime/offload_pool.hpp>
#include <ringloop/runtime/task.hpp>
#include <ringloop/runtime/task_handle.hpp>

namespace {

using SteadyClock = std::chrono::steady_clock;

constexpr int kAwaiters = 16;
constexpr std::int64_t kJobsPerAwaiterPerIteration = 1024;
constexpr std::int64_t kWarmUpJobs = 2000;

// The offloaded call: as small as a job can be, so the pool's hand-offs are all that is measured.
std::int64_t trivial_job(std::int64_t value) {
  return value + 1;
}

// Loop-side counters sampled before and after the timed part.
struct LoopCounters {
  std::uint64_t wakeups = 0;
  std::uint64_t backend_calls = 0;
  std::uint64_t iterations = 0;
  std::uint64_t results = 0;  // items posted back by other threads (here: offload results)

  static LoopCounters sample(ringloop::Loop& loop) {
    const ringloop::LoopStats stats = loop.stats();
    return {stats.remote_wakeups, loop.backend().stats().system_calls, stats.iterations,
            stats.remote_callbacks};
  }
};

// Wake-ups, backend system calls and iterations per 1M results posted back to the loop.
void report_per_million(benchmark::State& state, const LoopCounters& before,
                        const LoopCounters& after) {
  const std::uint64_t results = after.results - before.results;
  if (results == 0) return;
  const double scale = 1e6 / static_cast<double>(results);
  state.counters["wakeups_per_1M"] = static_cast<double>(after.wakeups - before.wakeups) * scale;
  state.counters["backend_syscalls_per_1M"] =
      static_cast<double>(after.backend_calls - before.backend_calls) * scale;
  state.counters["iterations_per_1M"] =
      static_cast<double>(after.iterations - before.iterations) * scale;
}

// Coroutines are free functions with by-value parameters and pointers for shared state
// (g++ 12: no capturing lambda coroutines, no co_await inside complex full-expressions).

ringloop::Task<> offload_jobs(std::int64_t jobs, std::int64_t* sink) {
  for (std::int64_t i = 0; i < jobs; ++i) {
    const std::int64_t value = co_await ringloop::offload(trivial_job, i);
    *sink += value;
  }
}

ringloop::Task<> timed_round_trips(benchmark::State* state, std::vector<std::int64_t>* latencies,
                                   std::int64_t* sink) {
  for (auto _ : *state) {
    const SteadyClock::time_point started = SteadyClock::now();
    const std::int64_t value = co_await ringloop::offload(trivial_job, *sink);
    const SteadyClock::time_point finished = SteadyClock::now();
    *sink += value;
    latencies->push_back(
        std::chrono::duration_cast<std::chrono::nanoseconds>(finished - started).count());
  }
}

ringloop::Task<> timed_fan_out(benchmark::State* state, std::int64_t* sink) {
  std::vector<ringloop::TaskHandle<>> awaiters;
  awaiters.reserve(kAwaiters);
  for (auto _ : *state) {
    awaiters.clear();
    for (int i = 0; i < kAwaiters; ++i) {
      awaiters.push_back(ringloop::spawn(offload_jobs(kJobsPerAwaiterPerIteration, sink)));
    }
    for (ringloop::TaskHandle<>& awaiter : awaiters) {
      co_await awaiter;
    }
  }
}

ringloop::Task<> warm_up(std::int64_t* sink) {
  // Starts every worker and touches the allocator before the clock runs.
  std::vector<ringloop::TaskHandle<>> awaiters;
  for (int i = 0; i < kAwaiters; ++i) {
    awaiters.push_back(ringloop::spawn(offload_jobs(kWarmUpJobs / kAwaiters, sink)));
  }
  for (ringloop::TaskHandle<>& awaiter : awaiters) {
    co_await awaiter;
  }
}

double percentile_us(std::vector<std::int64_t>& samples, double fraction) {
  if (samples.empty()) return 0.0;
  const auto rank = static_cast<std::size_t>(fraction * static_cast<double>(samples.size() - 1));
  std::nth_element(samples.begin(), samples.begin() + static_cast<std::ptrdiff_t>(rank),
                   samples.end());
  return static_cast<double>(samples[rank]) / 1000.0;
}

// Builds the loop on the chosen backend; false (and the benchmark skipped) when it cannot run here.
bool make_loop(benchmark::State& state, ringloop::io::BackendKind backend, unsigned threads,
               std::optional<ringloop::Loop>& loop) {
  std::string why;
  if (backend == ringloop::io::BackendKind::uring && !ringloop::io::uring_available(&why)) {
    state.SkipWithError(("io_uring unavailable: " + why).c_str());
    return false;
  }
  ringloop::LoopOptions options;
  options.backend = backend;
  options.offload_threads = threads;
  loop.emplace(options);
  return true;
}

void round_trip(benchmark::State& state, ringloop::io::BackendKind backend, unsigned threads) {
  std::optional<ringloop::Loop> loop;
  if (!make_loop(state, backend, threads, loop)) return;
  std::int64_t sink = 0;
  loop->run_until_complete(warm_up(&sink));
  std::vector<std::int64_t> latencies;
  latencies.reserve(std::size_t{1} << 21);
  const LoopCounters before = LoopCounters::sample(*loop);
  loop->run_until_complete(timed_round_trips(&state, &latencies, &sink));
  const LoopCounters after = LoopCounters::sample(*loop);
  benchmark::DoNotOptimize(sink);
  state.counters["p50_us"] = percentile_us(latencies, 0.50);
  state.counters["p99_us"] = percentile_us(latencies, 0.99);
  report_per_million(state, before, after);
  state.SetLabel(std::string(loop->backend_name()));
}

void throughput(benchmark::State& state, ringloop::io::BackendKind backend, unsigned threads) {
  std::optional<ringloop::Loop> loop;
  if (!make_loop(state, backend, threads, loop)) return;
  std::int64_t sink = 0;
  loop->run_until_complete(warm_up(&sink));
  const LoopCounters before = LoopCounters::sample(*loop);
  loop->run_until_complete(timed_fan_out(&state, &sink));
  const LoopCounters after = LoopCounters::sample(*loop);
  benchmark::DoNotOptimize(sink);
  const std::int64_t jobs =
      static_cast<std::int64_t>(state.iterations()) * kAwaiters * kJobsPerAwaiterPerIteration;
  state.counters["jobs_per_s"] =
      benchmark::Counter(static_cast<double>(jobs), benchmark::Counter::kIsRate);
  report_per_million(state, before, after);
  state.SetLabel(std::string(loop->backend_name()));
}

// Reference: a token passed between two threads through futex words, with no spinning, so each
// hop is the wake-up of a sleeping thread.
void futex_wait_until(std::atomic<std::uint32_t>& word, std::uint32_t wanted) {
  for (;;) {
    const std::uint32_t seen = word.load(std::memory_order_acquire);
    if (seen == wanted) return;
    ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), FUTEX_WAIT_PRIVATE, seen, nullptr,
              nullptr, 0);
  }
}

void futex_set_and_wake(std::atomic<std::uint32_t>& word, std::uint32_t value) {
  word.store(value, std::memory_order_release);
  ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), FUTEX_WAKE_PRIVATE, 1, nullptr,
            nullptr, 0);
}

void futex_ping_pong(benchmark::State& state) {
  static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t));
  constexpr std::uint32_t kStop = 0xffffffffu;
  std::atomic<std::uint32_t> to_worker{0};
  std::atomic<std::uint32_t> to_caller{0};
  std::thread worker([&to_worker, &to_caller] {
    for (std::uint32_t round = 1;; ++round) {
      for (;;) {  // wait for `round` or kStop
        const std::uint32_t seen = to_worker.load(std::memory_order_acquire);
        if (seen == kStop) return;
        if (seen == round) break;
        ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&to_worker), FUTEX_WAIT_PRIVATE, seen,
                  nullptr, nullptr, 0);
      }
      futex_set_and_wake(to_caller, round);
    }
  });
  std::vector<std::int64_t> latencies;
  latencies.reserve(std::size_t{1} << 21);
  std::uint32_t round = 0;
  for (auto _ : state) {
    ++round;
    const SteadyClock::time_point started = SteadyClock::now();
    futex_set_and_wake(to_worker, round);
    futex_wait_until(to_caller, round);
    const SteadyClock::time_point finished = SteadyClock::now();
    latencies.push_back(
        std::chrono::duration_cast<std::chrono::nanoseconds>(finished - started).count());
  }
  futex_set_and_wake(to_worker, kStop);
  worker.join();
  state.counters["p50_us"] = percentile_us(latencies, 0.50);
  state.counters["p99_us"] = percentile_us(latencies, 0.99);
}

void register_all() {
  benchmark::RegisterBenchmark("reference/futex_ping_pong", futex_ping_pong)
      ->UseRealTime()
      ->Unit(benchmark::kMicrosecond);
  const std::pair<const char*, ringloop::io::BackendKind> backends[] = {
      {"uring", ringloop::io::BackendKind::uring}, {"epoll", ringloop::io::BackendKind::epoll}};
  for (const unsigned threads : {2u, 1u}) {
    for (const auto& [name, kind] : backends) {
      const std::string suffix = std::string(name) + "/threads:" + std::to_string(threads);
      benchmark::RegisterBenchmark(("round_trip/" + suffix).c_str(), round_trip, kind, threads)
          ->UseRealTime()
          ->Unit(benchmark::kMicrosecond);
      benchmark::RegisterBenchmark(("throughput/" + suffix).c_str(), throughput, kind, threads)
          ->UseRealTime()
          ->Unit(benchmark::kMillisecond);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  register_all();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
