// Offload: offload_round_trip/<backend>  one task awaits offload() of an empty function in a loop
// (the loop's default pool, 2 workers); items are round trips. bench/offload_benchmark.cpp has
// the latency percentiles, throughput and pinned variants.

#include <cstdint>
#include <vector>

#include <ringloop/runtime/offload.hpp>
#include <ringloop/runtime/task_handle.hpp>

#include "common.hpp"

namespace micro {
namespace {

std::int64_t empty_function(std::int64_t value) {
  return value;
}

ringloop::Task<> offload_kernel(std::int64_t operations, std::int64_t* sum) {
  for (std::int64_t i = 0; i < operations; ++i) {
    const std::int64_t value = co_await ringloop::offload(empty_function, i);
    *sum += value;
  }
}

void offload_round_trip(benchmark::State& state, BackendKind backend) {
  std::optional<ringloop::Loop> loop;
  ringloop::LoopOptions options;
  options.offload_threads = 2;
  if (!make_loop(state, backend, loop, options)) return;
  std::int64_t sum = 0;
  std::int64_t batches = 0;
  loop->run_until_complete(drive_batches(&state, kBatch, [&sum, &batches](std::int64_t operations) {
    ++batches;
    return offload_kernel(operations, &sum);
  }));
  check(sum == batches * (kBatch * (kBatch - 1) / 2), "offload_round_trip: every result came back");
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

}  // namespace

void register_offload_benchmarks(std::vector<CallgrindCase>& /*cases*/) {
  for (benchmark::internal::Benchmark* registered :
       register_on_both_backends("offload_round_trip", offload_round_trip)) {
    registered->UseRealTime();
  }
}

}  // namespace micro
