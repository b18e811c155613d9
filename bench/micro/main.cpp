// micro_benchmarks: the per-operation costs of ringloop (issue 12), every benchmark on the
// io_uring and epoll backends. One executable for all groups (tasks.cpp, sync.cpp, callbacks.cpp,
// timers.cpp, offload.cpp, tcp.cpp): one build, one run and one JSON file for bench/run_micro.py,
// and one program for bench/callgrind_micro.py to filter.
//
//   micro_benchmarks [Google Benchmark flags]       e.g. --benchmark_filter=call_soon
//   micro_benchmarks --callgrind=<case> --operations=<N> [--backend=uring|epoll]
//       runs exactly N operations of one hot path outside Google Benchmark (for valgrind
//       --tool=callgrind; the set-up cost cancels out of Ir(2N) - Ir(N)); --list-callgrind prints
//       the cases.

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <ringloop/runtime/loop.hpp>

#include "common.hpp"

namespace {

std::optional<std::string_view> flag_value(std::string_view argument, std::string_view flag) {
  if (argument.size() <= flag.size() || argument.substr(0, flag.size()) != flag ||
      argument[flag.size()] != '=') {
    return std::nullopt;
  }
  return argument.substr(flag.size() + 1);
}

int run_callgrind_case(const std::vector<micro::CallgrindCase>& cases, std::string_view name,
                       std::int64_t operations, ringloop::io::BackendKind backend) {
  for (const micro::CallgrindCase& entry : cases) {
    if (name != entry.name) continue;
    ringloop::LoopOptions options;
    options.backend = backend;
    ringloop::Loop loop(options);
    entry.run(loop, operations);
    return 0;
  }
  std::fprintf(stderr, "micro_benchmarks: no callgrind case '%.*s' (see --list-callgrind)\n",
               static_cast<int>(name.size()), name.data());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<micro::CallgrindCase> cases;
  micro::register_task_benchmarks(cases);
  micro::register_sync_benchmarks(cases);
  micro::register_callback_benchmarks(cases);
  micro::register_timer_benchmarks(cases);
  micro::register_offload_benchmarks(cases);
  micro::register_tcp_benchmarks(cases);

  std::optional<std::string_view> callgrind;
  std::int64_t operations = 1000;
  ringloop::io::BackendKind backend = ringloop::io::BackendKind::epoll;
  for (int i = 1; i < argc; ++i) {
    const std::string_view argument = argv[i];
    if (argument == "--list-callgrind") {
      for (const micro::CallgrindCase& entry : cases)
        std::printf("%s\t%s\n", entry.name, entry.what);
      return 0;
    }
    if (const auto value = flag_value(argument, "--callgrind")) callgrind = value;
    if (const auto value = flag_value(argument, "--operations")) {
      operations = std::stoll(std::string(*value));
    }
    if (const auto value = flag_value(argument, "--backend")) {
      backend = ringloop::io::parse_backend_kind(*value);
    }
  }
  if (callgrind) {
    try {
      return run_callgrind_case(cases, *callgrind, operations, backend);
    } catch (const std::exception& error) {
      std::fprintf(stderr, "micro_benchmarks: %s\n", error.what());
      return 1;
    }
  }

  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
