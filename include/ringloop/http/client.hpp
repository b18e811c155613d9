#pragma once
// Client: an HTTP/1.1 client on the loop (aiohttp.ClientSession's model): a connection pool per
// origin with keep-alive, a global and a per-host connection limit with a FIFO of waiting
// requests, timeouts per phase, redirects on request, bodies read whole or streamed.
//
//   http::Client client;
//   http::Response response = co_await client.get("http://127.0.0.1:8080/index.html");
//   std::string body = co_await response.text();
//
// A connection goes back to the pool only once its response body was read completely; a
// Response destroyed (or a read cancelled) before that closes it instead. A request that fails on
// a reused idle connection before any response byte arrived is sent once more on a fresh
// connection when its method is idempotent (the server closed the idle connection meanwhile: the
// race every pooled client meets). No pipelining. Loop thread only; the Client must stay alive
// while its requests run (Responses keep the pool alive themselves).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include <ringloop/http/errors.hpp>
#include <ringloop/http/headers.hpp>
#include <ringloop/http/request.hpp>
#include <ringloop/http/response_parser.hpp>
#include <ringloop/http/url.hpp>
#include <ringloop/runtime/task.hpp>

namespace ringloop::http {

namespace detail {
class ConnectionPool;
class ResponseBody;
}  // namespace detail

/// Settings of a Client.
struct ClientOptions {
  /// Connections open at once over all origins (aiohttp's limit); 0 = unlimited.
  std::size_t max_connections = 100;
  /// Connections open at once to one origin; 0 = only the global limit.
  std::size_t max_connections_per_host = 0;
  /// An idle pooled connection is closed after this long: shorter than common servers' keep-alive
  /// (Apache's 5 s, nginx's 75 s), and never longer than the server's own Keep-Alive: timeout=.
  std::chrono::milliseconds idle_timeout = std::chrono::seconds(4);
  Timeouts timeouts;
  /// Follow 301/302/303/307/308 (GET/HEAD only) up to max_redirects times.
  bool follow_redirects = false;
  unsigned max_redirects = 10;
  ParserLimits limits;
  std::string user_agent = std::string(default_user_agent);
};

/// A response whose headers have arrived; the body is read from it (whole or in pieces).
class Response {
 public:
  Response(Response&&) noexcept;
  Response& operator=(Response&&) noexcept;
  /// Returns the connection to the pool if the body was read completely, else closes it.
  ~Response();

  [[nodiscard]] int status() const noexcept { return status_; }
  [[nodiscard]] const std::string& reason() const noexcept { return reason_; }
  [[nodiscard]] const Headers& headers() const noexcept { return headers_; }
  /// The URL that answered (after redirects).
  [[nodiscard]] const Url& url() const noexcept { return url_; }
  /// Redirects followed to get here.
  [[nodiscard]] unsigned redirects() const noexcept { return redirects_; }
  /// Whether the connection that carried it was reused from the pool.
  [[nodiscard]] bool reused_connection() const noexcept { return reused_connection_; }

  /// The next piece of the body (a view into the connection's buffer, valid until the next call),
  /// empty at the end; the connection goes back to the pool when the empty end is returned. Throws
  /// ProtocolError (truncated or malformed body), LimitExceededError, TimeoutError (idle_read).
  [[nodiscard]] Task<std::span<const char>> read_chunk();
  /// The rest of the body as one string.
  [[nodiscard]] Task<std::string> text();
  /// Reads and discards the rest of the body (so the connection can be reused); returns its size.
  [[nodiscard]] Task<std::uint64_t> discard();
  /// Whether the whole body has been read.
  [[nodiscard]] bool body_complete() const noexcept;
  /// Trailer fields of a chunked body (once the body is complete).
  [[nodiscard]] const Headers& trailers() const noexcept;

 private:
  friend class Client;
  Response() = default;
  int status_ = 0;
  std::string reason_;
  Headers headers_;
  Url url_;
  unsigned redirects_ = 0;
  bool reused_connection_ = false;
  std::unique_ptr<detail::ResponseBody> body_;
};

/// Counters of a Client's pool (for tests and tuning).
struct ClientStats {
  std::uint64_t connections_opened = 0;  ///< TCP connections made
  std::uint64_t connections_reused = 0;  ///< requests sent on a pooled connection
  std::uint64_t retries = 0;             ///< stale-connection retries on a fresh connection
  std::size_t idle_connections = 0;      ///< in the pool now
  std::size_t active_connections = 0;    ///< carrying a request now
  std::size_t waiting_requests = 0;      ///< queued for a connection slot now
};

/// An HTTP/1.1 client with a connection pool. Move-only.
class Client {
 public:
  explicit Client(ClientOptions options = {});
  Client(Client&&) noexcept;
  Client& operator=(Client&&) noexcept;
  /// Closes idle connections; connections of live Responses close when those go.
  ~Client();

  /// Sends `request` and waits for its response's headers (following redirects if the options
  /// say so). Throws UrlError, ResolveError, std::system_error (connect/send/receive, naming the
  /// URL), ProtocolError, LimitExceededError, RedirectError, TimeoutError. Cancellable: a
  /// cancelled request's connection is closed, never pooled.
  [[nodiscard]] Task<Response> send(Request request);
  /// send() of a GET of `url` with `headers`.
  [[nodiscard]] Task<Response> get(std::string url, Headers headers = {});
  /// send() of a HEAD of `url`.
  [[nodiscard]] Task<Response> head(std::string url, Headers headers = {});

  /// Closes every idle connection now.
  void close_idle_connections();
  [[nodiscard]] ClientStats stats() const noexcept;
  [[nodiscard]] const ClientOptions& options() const noexcept;

 private:
  static Task<Response> perform(std::shared_ptr<detail::ConnectionPool> pool, Request request);
  static Task<Response> perform_url(std::shared_ptr<detail::ConnectionPool> pool,
                                    std::string method, std::string url, Headers headers);
  static Task<Response> exchange(std::shared_ptr<detail::ConnectionPool> pool,
                                 const Request* request);

  std::shared_ptr<detail::ConnectionPool> pool_;
};

}  // namespace ringloop::http
