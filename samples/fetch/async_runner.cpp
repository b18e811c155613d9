// The async mode: one http::Client on the loop and one task per request, at most K of them past
// the semaphore at once (aiohttp's ClientSession with asyncio.gather, bounded by a Semaphore).

#include <chrono>
#include <cstdio>
#include <optional>
#include <string>

#include <ringloop/http.hpp>
#include <ringloop/ringloop.hpp>

#include "runners.hpp"

namespace fetch {
namespace {

using Clock = std::chrono::steady_clock;

ringloop::Task<Outcome> fetch_one(ringloop::http::Client* client, ringloop::Semaphore* limit,
                                  std::string url) {
  auto acquiring = limit->scoped();
  ringloop::SemaphoreGuard permit = co_await acquiring;
  Outcome outcome;
  const Clock::time_point start = Clock::now();
  try {
    auto sending = client->get(url);
    ringloop::http::Response response = co_await sending;
    auto reading = response.text();
    const std::string body = co_await reading;
    outcome.bytes = body.size();
    outcome.ok = true;
    outcome.status = response.status();
  } catch (const std::exception&) {
    outcome.error = describe_failure(url, std::current_exception());
  }
  outcome.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  co_return outcome;
}

ringloop::Task<std::vector<Outcome>> fetch_all(std::vector<std::string> urls,
                                               std::size_t concurrency,
                                               std::optional<std::chrono::milliseconds> timeout) {
  // A slower loop must never pass for a fast one: say so when io_uring could not run here.
  if (!ringloop::Loop::current().backend_fallback_reason().empty()) {
    std::fprintf(stderr, "fetch: backend: %s\n",
                 ringloop::Loop::current().backend_description().c_str());
  }
  ringloop::http::ClientOptions options;
  options.max_connections = concurrency;
  if (timeout) {
    options.timeouts.connect = timeout;
    options.timeouts.total = timeout;
    options.timeouts.idle_read = timeout;
  }
  ringloop::http::Client client(std::move(options));
  ringloop::Semaphore limit(static_cast<std::ptrdiff_t>(concurrency));
  std::vector<ringloop::Task<Outcome>> requests;
  requests.reserve(urls.size());
  for (const std::string& url : urls)
    requests.push_back(fetch_one(&client, &limit, url));
  auto gathering = ringloop::gather(std::move(requests));
  std::vector<Outcome> outcomes = co_await gathering;
  co_return outcomes;
}

}  // namespace

std::vector<Outcome> run_async(const std::vector<std::string>& urls, const RunOptions& options) {
  ringloop::LoopOptions loop_options;
  loop_options.backend = options.backend;
  const std::size_t concurrency = options.concurrency == 0 ? urls.size() : options.concurrency;
  return ringloop::run(fetch_all(urls, std::max<std::size_t>(concurrency, 1), options.timeout),
                       std::move(loop_options));
}

}  // namespace fetch
