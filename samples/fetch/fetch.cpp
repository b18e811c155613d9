// fetch: downloads URLs with ringloop's HTTP client in one of four ways, the course texts'
// comparison of a download loop written sequentially, with threads, through an executor, and
// with asyncio (here: http::Client on the loop).
//
//   ./fetch [--mode async|threads|sequential|executor] [--count N] [--concurrency K]
//           [--backend uring|epoll] [--timeout MS] [--quiet] URL [URL...]
//   ./fetch --compare 1,10,50,100,500 [--plot chart.png] URL
//
// One line per request on stdout ("status=200 bytes=1024 ms=1.23 url=..."), in the order the
// requests were listed; a failed request prints "fetch: <url>: <cause>" on stderr instead and
// the others go on. The last stdout line is always the summary "seconds=S ok=K failed=F"
// (bench scripts parse it). Exit status: 0 when every request got a response (any status), 1
// when one failed, 2 for bad flags.

#include <chrono>
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include <ringloop/http.hpp>

#include "compare.hpp"
#include "runners.hpp"
#include "settings.hpp"

namespace fetch {
namespace {

using Clock = std::chrono::steady_clock;

Totals run_plain(const Settings& settings) {
  std::vector<std::string> urls;
  urls.reserve(settings.urls.size() * settings.count);
  for (const std::string& url : settings.urls)
    urls.insert(urls.end(), settings.count, url);
  RunOptions options;
  options.concurrency = settings.concurrency;
  options.backend = settings.backend;
  options.timeout = settings.timeout;
  const std::vector<Outcome> outcomes = run_mode(settings.mode, urls, options);
  Totals totals;
  for (std::size_t i = 0; i < outcomes.size(); ++i) {
    const Outcome& outcome = outcomes[i];
    if (!outcome.ok) {
      ++totals.failed;
      std::fprintf(stderr, "fetch: %s\n", outcome.error.c_str());
      continue;
    }
    ++totals.ok;
    if (!settings.quiet) {
      std::printf("status=%d bytes=%llu ms=%.2f url=%s\n", outcome.status,
                  static_cast<unsigned long long>(outcome.bytes), outcome.seconds * 1000.0,
                  urls[i].c_str());
    }
  }
  return totals;
}

}  // namespace

std::string describe_failure(const std::string& url, const std::exception_ptr& error) {
  std::string cause;
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& exception) {
    cause = exception.what();
  } catch (...) {
    cause = "unknown error";
  }
  // The client's messages name the URL as it normalized it ("http://host/" for "http://host").
  std::string named = url;
  try {
    named = ringloop::http::Url::parse(url).to_string();
  } catch (const std::exception&) {
    // Not a URL: the cause says why, next to the text as given.
  }
  if (cause.find(named) != std::string::npos || cause.find(url) != std::string::npos) {
    return cause;
  }
  return url + ": " + cause;
}

}  // namespace fetch

int main(int argc, char** argv) {
  const fetch::Settings settings = fetch::parse_flags(argc, argv);
  const auto start = std::chrono::steady_clock::now();
  fetch::Totals totals;
  try {
    totals = settings.compare.empty() ? fetch::run_plain(settings) : fetch::run_compare(settings);
  } catch (const std::exception& error) {
    // The loop itself could not run (a forced io_uring that is unavailable, no threads left).
    std::fprintf(stderr, "fetch: %s\n", error.what());
    totals.failed = totals.failed == 0 ? 1 : totals.failed;
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("seconds=%.3f ok=%zu failed=%zu\n", seconds, totals.ok, totals.failed);
  std::fflush(stdout);
  return totals.failed == 0 ? 0 : 1;
}
