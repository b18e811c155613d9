// Tasks: spawn + await of an empty task, one at a time; N tasks spawned then all awaited (with the
// memory each costs); a yield round.
//   spawn_await/<backend>           one driver task spawns an empty task and awaits it, in a loop
//   spawn_many/<backend>/<N>        N empty tasks spawned, then all awaited; bytes_per_task is the
//       heap growth (mallinfo2 uordblks + hblkhd) while all N are pending, divided by N (the frame
//       cache keeps up to 1,024 freed frames per size, so only N=1M gives the true figure);
//       rss_bytes_per_task is the RSS growth over the first batch (RSS does not shrink back)
//   yield/<backend>/tasks:<T>       T tasks each co_await yield_now(); items are yields

#include <malloc.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <vector>

#include <ringloop/runtime/sleep.hpp>
#include <ringloop/runtime/task_handle.hpp>

#include "common.hpp"

namespace micro {
namespace {

ringloop::Task<> empty_task(std::int64_t* runs) {
  ++*runs;
  co_return;
}

ringloop::Task<> spawn_await_kernel(std::int64_t operations, std::int64_t* runs) {
  for (std::int64_t i = 0; i < operations; ++i) {
    ringloop::TaskHandle<> child = ringloop::spawn(empty_task(runs));
    co_await child;
  }
}

void spawn_await(benchmark::State& state, BackendKind backend) {
  std::optional<ringloop::Loop> loop;
  if (!make_loop(state, backend, loop)) return;
  std::int64_t runs = 0;
  loop->run_until_complete(drive_batches(&state, kBatch, [&runs](std::int64_t operations) {
    return spawn_await_kernel(operations, &runs);
  }));
  check(runs == static_cast<std::int64_t>(state.iterations()), "spawn_await: every task ran");
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

// Small chunks and mmapped ones: a queue or vector grown past glibc's mmap threshold (128 KiB) is
// mmapped, and uordblks alone would miss it.
std::size_t heap_in_use() {
  const struct mallinfo2 info = mallinfo2();
  return info.uordblks + info.hblkhd;
}

std::size_t resident_bytes() {
  long pages_total = 0;
  long pages_resident = 0;
  std::FILE* statm = std::fopen("/proc/self/statm", "r");
  if (statm == nullptr) return 0;
  const int fields = std::fscanf(statm, "%ld %ld", &pages_total, &pages_resident);
  std::fclose(statm);
  if (fields != 2) return 0;
  return static_cast<std::size_t>(pages_resident) *
         static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
}

struct SpawnManyResult {
  std::int64_t runs = 0;
  double heap_bytes_per_task = 0;  // the largest seen over the batches
  double rss_bytes_per_task = 0;   // first batch only
  bool first = true;
};

ringloop::Task<> spawn_many_driver(benchmark::State* state, std::int64_t tasks,
                                   SpawnManyResult* result) {
  std::vector<ringloop::TaskHandle<>> children;
  children.reserve(static_cast<std::size_t>(tasks));
  for (auto _ : *state) {
    const std::size_t heap_before = heap_in_use();
    const std::size_t rss_before = resident_bytes();
    for (std::int64_t i = 0; i < tasks; ++i) {
      children.push_back(ringloop::spawn(empty_task(&result->runs)));
    }
    const std::size_t heap_after = heap_in_use();
    const std::size_t rss_after = resident_bytes();
    const double per_task = (static_cast<double>(heap_after) - static_cast<double>(heap_before)) /
                            static_cast<double>(tasks);
    if (per_task > result->heap_bytes_per_task) result->heap_bytes_per_task = per_task;
    if (result->first) {
      result->rss_bytes_per_task =
          (static_cast<double>(rss_after) - static_cast<double>(rss_before)) /
          static_cast<double>(tasks);
      result->first = false;
    }
    for (ringloop::TaskHandle<>& child : children) {
      co_await child;
    }
    children.clear();
  }
}

void spawn_many(benchmark::State& state, BackendKind backend) {
  std::optional<ringloop::Loop> loop;
  if (!make_loop(state, backend, loop)) return;
  const std::int64_t tasks = state.range(0);
  SpawnManyResult result;
  loop->run_until_complete(spawn_many_driver(&state, tasks, &result));
  const std::int64_t total = static_cast<std::int64_t>(state.iterations()) * tasks;
  check(result.runs == total, "spawn_many: every task ran");
  state.SetItemsProcessed(total);
  state.counters["bytes_per_task"] = result.heap_bytes_per_task;
  state.counters["rss_bytes_per_task"] = result.rss_bytes_per_task;
}

ringloop::Task<> yield_kernel(std::int64_t yields, std::int64_t* count) {
  for (std::int64_t i = 0; i < yields; ++i) {
    ringloop::detail::YieldAwaiter turn = ringloop::yield_now();
    co_await turn;
    ++*count;
  }
}

// T tasks yield `per_task` times each, concurrently (T=1: every yield is a loop iteration).
ringloop::Task<> yield_round(std::int64_t yielders, std::int64_t per_task, std::int64_t* count) {
  std::vector<ringloop::TaskHandle<>> children;
  children.reserve(static_cast<std::size_t>(yielders));
  for (std::int64_t i = 0; i < yielders; ++i) {
    children.push_back(ringloop::spawn(yield_kernel(per_task, count)));
  }
  for (ringloop::TaskHandle<>& child : children) {
    co_await child;
  }
}

void yield(benchmark::State& state, BackendKind backend) {
  std::optional<ringloop::Loop> loop;
  if (!make_loop(state, backend, loop)) return;
  const std::int64_t yielders = state.range(0);
  std::int64_t count = 0;
  // One batch: every task yields kBatch times; Google Benchmark counts yielders * kBatch items.
  loop->run_until_complete(
      drive_batches(&state, yielders * kBatch, [yielders, &count](std::int64_t operations) {
        return yield_round(yielders, operations / yielders, &count);
      }));
  check(count == static_cast<std::int64_t>(state.iterations()), "yield: every yield resumed");
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

void callgrind_spawn_await(ringloop::Loop& loop, std::int64_t operations) {
  std::int64_t runs = 0;
  loop.run_until_complete(spawn_await_kernel(operations, &runs));
  check(runs == operations, "spawn_await: every task ran");
}

}  // namespace

void register_task_benchmarks(std::vector<CallgrindCase>& cases) {
  register_on_both_backends("spawn_await", spawn_await);
  for (benchmark::internal::Benchmark* registered :
       register_on_both_backends("spawn_many", spawn_many)) {
    registered->Arg(1000)->Arg(1000000)->Unit(benchmark::kMillisecond);
  }
  for (benchmark::internal::Benchmark* registered : register_on_both_backends("yield", yield)) {
    registered->ArgName("tasks")->Arg(1)->Arg(100);
  }
  cases.push_back({"spawn_await", "spawn + await of an empty task", callgrind_spawn_await});
}

}  // namespace micro
