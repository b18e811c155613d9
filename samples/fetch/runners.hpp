#pragma once
// The four ways fetch makes its requests. Each takes the list of URLs to fetch (one entry per
// request) and gives one Outcome per entry, in the same order; none throws for a failed request.

#include <cstddef>
#include <cstdint>
#include <exception>
#include <optional>
#include <string>
#include <vector>

#include <ringloop/http/blocking_client.hpp>

#include "settings.hpp"

namespace fetch {

/// How one request ended.
struct Outcome {
  bool ok = false;          ///< a response arrived (any status)
  int status = 0;           ///< its status
  std::uint64_t bytes = 0;  ///< its body's size
  double seconds = 0.0;     ///< from the start of the request to the end of the body
  std::string error;        ///< when not ok: "<url>: <cause>"
};

/// What a run needs besides the URLs.
struct RunOptions {
  std::size_t concurrency = 0;  ///< requests in flight at most; 0: all at once
  std::optional<ringloop::io::BackendKind> backend;
  std::optional<std::chrono::milliseconds> timeout;
};

/// "<url>: <cause>" for a request of `url` that ended with `error` (the URL only once when the
/// error's message names it already).
std::string describe_failure(const std::string& url, const std::exception_ptr& error);

/// The BlockingClient settings every blocking mode uses.
ringloop::http::BlockingClientOptions blocking_options(const RunOptions& options);

/// One GET of `url` with `client`, timed.
Outcome fetch_blocking(ringloop::http::BlockingClient& client, const std::string& url);

/// One BlockingClient, one request after another.
std::vector<Outcome> run_sequential(const std::vector<std::string>& urls,
                                    const RunOptions& options);
/// K threads (the concurrency, or one per request), each with its own BlockingClient, taking
/// the next request from a shared counter.
std::vector<Outcome> run_threads(const std::vector<std::string>& urls, const RunOptions& options);
/// One task per request on a loop, each awaiting offload() of a BlockingClient request (one
/// client per worker thread).
std::vector<Outcome> run_executor(const std::vector<std::string>& urls, const RunOptions& options);
/// One http::Client on a loop, one task per request.
std::vector<Outcome> run_async(const std::vector<std::string>& urls, const RunOptions& options);

/// Runs `mode`.
std::vector<Outcome> run_mode(Mode mode, const std::vector<std::string>& urls,
                              const RunOptions& options);

}  // namespace fetch
