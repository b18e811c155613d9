#pragma once
// BlockingClient: the same HTTP/1.1 client over plain blocking sockets, for threads (the
// texts' requests + ThreadPoolExecutor) or offload() from a loop (run_in_executor). One
// keep-alive connection per client object, reused while the origin stays the same; one object
// per thread.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include <ringloop/http/errors.hpp>
#include <ringloop/http/headers.hpp>
#include <ringloop/http/request.hpp>
#include <ringloop/http/response_parser.hpp>
#include <ringloop/http/url.hpp>

namespace ringloop::http {

/// A whole response, body included.
struct BlockingResponse {
  int status = 0;
  std::string reason;
  Headers headers;
  std::string body;
  Url url;  ///< the URL that answered (after redirects)
};

/// Settings of a BlockingClient (connect and idle_read of Timeouts apply; first_byte and total
/// are folded into the receive timeout).
struct BlockingClientOptions {
  Timeouts timeouts;
  bool follow_redirects = false;
  unsigned max_redirects = 10;
  ParserLimits limits;
  std::string user_agent = std::string(default_user_agent);
};

/// A blocking HTTP/1.1 client. Not thread-safe: one per thread. Move-only.
class BlockingClient {
 public:
  explicit BlockingClient(BlockingClientOptions options = {});
  BlockingClient(BlockingClient&&) noexcept;
  BlockingClient& operator=(BlockingClient&&) noexcept;
  ~BlockingClient();

  /// Sends `request` and reads the whole response. Throws the same errors as Client::send
  /// (timeouts as ringloop::TimeoutError).
  BlockingResponse send(const Request& request);
  /// send() of a GET of `url`.
  BlockingResponse get(const std::string& url, Headers headers = {});

 private:
  BlockingClientOptions options_;
  int descriptor_ = -1;
  std::optional<Url> connected_origin_;
};

}  // namespace ringloop::http
