// The modes built on BlockingClient: sequential, threads, executor.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <optional>
#include <thread>

#include <ringloop/http.hpp>
#include <ringloop/ringloop.hpp>

#include "runners.hpp"

namespace fetch {
namespace {

using Clock = std::chrono::steady_clock;

// Python's ThreadPoolExecutor default, min(32, cpus + 4): what run_in_executor(None, ...) in the
// texts ran on when no --concurrency is given.
unsigned default_executor_threads() {
  return std::min(32u, std::max(1u, std::thread::hardware_concurrency()) + 4u);
}

/// The job offload() runs: a request with this worker thread's own client (a BlockingClient is
/// not thread-safe; one per thread keeps its connection between the jobs it runs).
Outcome fetch_on_worker(std::string url, const ringloop::http::BlockingClientOptions* options) {
  thread_local std::optional<ringloop::http::BlockingClient> client;
  if (!client) client.emplace(*options);
  return fetch_blocking(*client, url);
}

ringloop::Task<Outcome> fetch_offloaded(ringloop::Semaphore* limit, std::string url,
                                        const ringloop::http::BlockingClientOptions* options) {
  auto acquiring = limit->scoped();
  ringloop::SemaphoreGuard permit = co_await acquiring;
  auto running = ringloop::offload(&fetch_on_worker, std::move(url), options);
  Outcome outcome = co_await running;
  co_return outcome;
}

ringloop::Task<std::vector<Outcome>> run_offloaded(std::vector<std::string> urls,
                                                   std::size_t concurrency,
                                                   ringloop::http::BlockingClientOptions options) {
  ringloop::Semaphore limit(static_cast<std::ptrdiff_t>(concurrency));
  std::vector<ringloop::Task<Outcome>> requests;
  requests.reserve(urls.size());
  for (std::string& url : urls)
    requests.push_back(fetch_offloaded(&limit, url, &options));
  auto gathering = ringloop::gather(std::move(requests));
  std::vector<Outcome> outcomes = co_await gathering;
  co_return outcomes;
}

}  // namespace

ringloop::http::BlockingClientOptions blocking_options(const RunOptions& options) {
  ringloop::http::BlockingClientOptions result;
  if (options.timeout) {
    result.timeouts.connect = options.timeout;
    result.timeouts.total = options.timeout;
  }
  return result;
}

Outcome fetch_blocking(ringloop::http::BlockingClient& client, const std::string& url) {
  Outcome outcome;
  const Clock::time_point start = Clock::now();
  try {
    const ringloop::http::BlockingResponse response = client.get(url);
    outcome.ok = true;
    outcome.status = response.status;
    outcome.bytes = response.body.size();
  } catch (const std::exception&) {
    outcome.error = describe_failure(url, std::current_exception());
  }
  outcome.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return outcome;
}

std::vector<Outcome> run_sequential(const std::vector<std::string>& urls,
                                    const RunOptions& options) {
  ringloop::http::BlockingClient client(blocking_options(options));
  std::vector<Outcome> outcomes;
  outcomes.reserve(urls.size());
  for (const std::string& url : urls)
    outcomes.push_back(fetch_blocking(client, url));
  return outcomes;
}

std::vector<Outcome> run_threads(const std::vector<std::string>& urls, const RunOptions& options) {
  std::vector<Outcome> outcomes(urls.size());
  std::atomic<std::size_t> next{0};
  const ringloop::http::BlockingClientOptions client_options = blocking_options(options);
  const auto work = [&] {
    ringloop::http::BlockingClient client(client_options);
    for (std::size_t i = next++; i < urls.size(); i = next++) {
      outcomes[i] = fetch_blocking(client, urls[i]);
    }
  };
  const std::size_t wanted = options.concurrency == 0 ? urls.size() : options.concurrency;
  std::vector<std::thread> threads;
  threads.reserve(std::min(wanted, urls.size()));
  for (std::size_t i = 0; i < std::min(wanted, urls.size()); ++i)
    threads.emplace_back(work);
  for (std::thread& thread : threads)
    thread.join();
  return outcomes;
}

std::vector<Outcome> run_executor(const std::vector<std::string>& urls, const RunOptions& options) {
  ringloop::LoopOptions loop_options;
  loop_options.backend = options.backend;
  loop_options.offload_threads = options.concurrency == 0
                                     ? default_executor_threads()
                                     : static_cast<unsigned>(options.concurrency);
  const std::size_t concurrency = options.concurrency == 0 ? urls.size() : options.concurrency;
  return ringloop::run(
      run_offloaded(urls, std::max<std::size_t>(concurrency, 1), blocking_options(options)),
      std::move(loop_options));
}

std::vector<Outcome> run_mode(Mode mode, const std::vector<std::string>& urls,
                              const RunOptions& options) {
  switch (mode) {
    case Mode::async:
      return run_async(urls, options);
    case Mode::threads:
      return run_threads(urls, options);
    case Mode::sequential:
      return run_sequential(urls, options);
    case Mode::executor:
      return run_executor(urls, options);
  }
  return {};
}

}  // namespace fetch
