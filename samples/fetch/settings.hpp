#pragma once
// fetch's command line: what to fetch, how (mode, concurrency, backend, timeout), and what to
// print.

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include <ringloop/io/backend.hpp>

namespace fetch {

/// How the requests are made (the course texts' versions of the same download loop).
enum class Mode {
  async,       ///< ringloop's http::Client, one task per request (aiohttp + asyncio.gather)
  threads,     ///< BlockingClient on K std::threads (requests + ThreadPoolExecutor)
  sequential,  ///< one BlockingClient, one request after another (requests in a for loop)
  executor,    ///< BlockingClient through offload() from the loop (loop.run_in_executor)
};

/// The name --mode spells for `mode`.
const char* mode_name(Mode mode) noexcept;

/// Everything the flags say.
struct Settings {
  std::vector<std::string> urls;
  Mode mode = Mode::async;
  std::size_t count = 1;        ///< fetches of each URL
  std::size_t concurrency = 0;  ///< requests in flight at most; 0: all at once
  std::optional<ringloop::io::BackendKind> backend;
  std::optional<std::chrono::milliseconds> timeout;  ///< connect and total timeouts
  bool quiet = false;
  std::vector<std::size_t> compare;  ///< --compare's frequencies (empty: a plain run)
  std::string plot;                  ///< --plot's PNG file (empty: none)
};

/// Parses argv. Answers --help itself (usage on stdout, exit 0); a bad flag exits 2 with a
/// message and the usage on stderr.
Settings parse_flags(int argc, char** argv);

}  // namespace fetch
