#pragma once
// Shared by the micro benchmarks (bench/micro/*.cpp, one executable: micro_benchmarks): the two
// backends, building a loop on one of them (skipping io_uring where it cannot run), registration
// of a benchmark once per backend, and the hot-path table of the --callgrind mode.

#include <benchmark/benchmark.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <ringloop/io/backend.hpp>
#include <ringloop/runtime/loop.hpp>
#include <ringloop/runtime/task.hpp>

namespace micro {

using ringloop::io::BackendKind;

/// A benchmark body: the state and the backend it runs on.
using BenchmarkBody = void (*)(benchmark::State&, BackendKind);

/// Builds the loop on `backend`; false (and the benchmark skipped) when it cannot run here.
bool make_loop(benchmark::State& state, BackendKind backend, std::optional<ringloop::Loop>& loop,
               ringloop::LoopOptions options = {});

/// Registers `body` as "<name>/<backend>" for both backends; returns the two registrations so the
/// caller can add arguments, units and timing modes to both.
std::vector<benchmark::internal::Benchmark*> register_on_both_backends(const std::string& name,
                                                                       BenchmarkBody body);

/// Items per benchmark iteration batch for the benchmarks whose driver coroutine runs a kernel of
/// n operations per KeepRunningBatch() call.
constexpr std::int64_t kBatch = 100;

/// The driver coroutine of most benchmarks: while Google Benchmark wants more iterations, awaits
/// `kernel(batch)`, a Task that performs `batch` operations (the same kernels the --callgrind mode
/// runs). `kernel` is a plain callable (not a coroutine) returning that Task.
template <class Kernel>
ringloop::Task<> drive_batches(benchmark::State* state, std::int64_t batch, Kernel kernel) {
  while (state->KeepRunningBatch(batch)) {
    ringloop::Task<> step = kernel(batch);
    co_await step;
  }
}

/// A hot path the --callgrind mode can run: exactly `operations` operations on `loop` (set-up
/// included, so a caller subtracts two runs to cancel it).
struct CallgrindCase {
  const char* name;
  const char* what;
  void (*run)(ringloop::Loop& loop, std::int64_t operations);
};

/// Each file's benchmarks and hot paths (registered from main()).
void register_task_benchmarks(std::vector<CallgrindCase>& cases);
void register_sync_benchmarks(std::vector<CallgrindCase>& cases);
void register_callback_benchmarks(std::vector<CallgrindCase>& cases);
void register_timer_benchmarks(std::vector<CallgrindCase>& cases);
void register_offload_benchmarks(std::vector<CallgrindCase>& cases);
void register_tcp_benchmarks(std::vector<CallgrindCase>& cases);

/// Throws std::logic_error with `what` when `ok` is false: a benchmark whose operation did not
/// happen as many times as it should fails loudly instead of reporting a time.
void check(bool ok, const char* what);

}  // namespace micro
