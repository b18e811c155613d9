#include "common.hpp"

#include <stdexcept>
#include <utility>

namespace micro {

bool make_loop(benchmark::State& state, BackendKind backend, std::optional<ringloop::Loop>& loop,
               ringloop::LoopOptions options) {
  std::string why;
  if (backend == BackendKind::uring && !ringloop::io::uring_available(&why)) {
    state.SkipWithError(("io_uring unavailable: " + why).c_str());
    return false;
  }
  options.backend = backend;
  loop.emplace(std::move(options));
  return true;
}

std::vector<benchmark::internal::Benchmark*> register_on_both_backends(const std::string& name,
                                                                       BenchmarkBody body) {
  std::vector<benchmark::internal::Benchmark*> registered;
  for (const BackendKind kind : {BackendKind::uring, BackendKind::epoll}) {
    const std::string full = name + "/" + std::string(ringloop::io::backend_name(kind));
    registered.push_back(benchmark::RegisterBenchmark(full.c_str(), body, kind));
  }
  return registered;
}

void check(bool ok, const char* what) {
  if (!ok) throw std::logic_error(std::string("micro benchmark check failed: ") + what);
}

}  // namespace micro
