#include <ringloop/http/client.hpp>

#include <algorithm>
#include <exception>
#include <stdexcept>
#include <system_error>
#include <utility>

#include <ringloop/runtime/errors.hpp>
#include <ringloop/runtime/timeout.hpp>
#include <ringloop/sockets/server.hpp>

#include "http/connection_pool.hpp"

namespace ringloop::http {

namespace {

using detail::ConnectionLease;
using detail::ConnectionPool;
using detail::PooledConnection;

std::optional<Duration> to_duration(std::optional<std::chrono::milliseconds> limit) {
  if (!limit) return std::nullopt;
  return std::chrono::duration_cast<Duration>(*limit);
}

// Called inside `catch (const CancelledError&)`: turns the scope's own expiry into a TimeoutError
// naming the phase and the request, and otherwise returns so the caller rethrows.
void raise_if_timed_out(TimeoutScope& scope, std::string_view phase,
                        std::optional<std::chrono::milliseconds> limit,
                        const std::string& description) {
  try {
    scope.raise_if_expired();
  } catch (const TimeoutError&) {
    throw TimeoutError(description + ": " + std::string(phase) + " timeout after " +
                       ringloop::detail::describe_duration(*to_duration(limit)));
  }
}

bool is_redirect(int status) noexcept {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

std::string origin_key(const Url& url) {
  return url.host + ":" + std::to_string(url.port);
}

std::span<const char> unread(const PooledConnection& connection) noexcept {
  return {connection.buffer.data() + connection.unread_begin,
          connection.unread_end - connection.unread_begin};
}

// Receives into the connection's (drained) buffer; 0 at the end of the stream.
Task<std::size_t> receive(PooledConnection* connection,
                          std::optional<std::chrono::milliseconds> limit, const char* phase,
                          const std::string* description) {
  connection->unread_begin = connection->unread_end = 0;
  TimeoutScope scope = timeout(to_duration(limit));
  try {
    const std::size_t received = co_await connection->stream.read_some(
        std::as_writable_bytes(std::span(connection->buffer)));
    connection->unread_end = received;
    co_return received;
  } catch (const CancelledError&) {
    raise_if_timed_out(scope, phase, limit, *description);
    throw;
  } catch (const std::system_error& error) {
    throw std::system_error(error.code(), *description + ": receive");
  }
}

Task<TcpStream> connect_to(Url url, std::optional<std::chrono::milliseconds> limit,
                           std::string description) {
  TimeoutScope scope = timeout(to_duration(limit));
  try {
    TcpStream stream = co_await open_connection(url.host, url.port);
    stream.set_nodelay(true);
    co_return stream;
  } catch (const CancelledError&) {
    raise_if_timed_out(scope, "connect", limit, description);
    throw;
  } catch (const std::system_error& error) {
    throw std::system_error(error.code(), description + ": connect to " + url.authority());
  }
}

}  // namespace

namespace detail {

/// The body half of a Response: the connection it arrives on (whose parser is past the headers)
/// and what reading it has found so far.
class ResponseBody {
 public:
  ResponseBody(ConnectionLease lease, std::string description, const ClientOptions& options)
      : lease_(std::move(lease)),
        description_(std::move(description)),
        idle_read_(options.timeouts.idle_read),
        idle_timeout_(options.idle_timeout) {}

  Task<std::span<const char>> next();
  Task<std::string> read_all();
  Task<std::uint64_t> discard_all();
  /// For responses that have no body: completes at once without I/O.
  void complete_if_bodiless();

  [[nodiscard]] bool complete() const noexcept { return complete_; }
  [[nodiscard]] const Headers& trailers() const noexcept { return trailers_; }

 private:
  void finish();
  PooledConnection& connection() const noexcept { return *lease_.connection(); }
  // Cancelled, timed out, reset or malformed: nothing more can be read from this connection.
  void give_up() noexcept {
    reading_ = false;
    failed_ = true;
    lease_.close();
  }
  // The parser says what and at which byte; the request says where (once).
  std::string with_request(std::string_view message) const {
    if (message.starts_with(description_)) return std::string(message);
    return description_ + ": " + std::string(message);
  }

  ConnectionLease lease_;
  std::string description_;
  std::optional<std::chrono::milliseconds> idle_read_;
  std::chrono::milliseconds idle_timeout_;
  Headers trailers_;
  bool complete_ = false;
  bool failed_ = false;
  bool reading_ = false;
};

void ResponseBody::complete_if_bodiless() {
  if (connection().parser.framing() != BodyFraming::none) return;
  const ParseStep step = connection().parser.feed(unread(connection()));
  connection().unread_begin += step.consumed;
  if (step.event == ParseEvent::complete) finish();
}

void ResponseBody::finish() {
  complete_ = true;
  PooledConnection& connection = this->connection();
  trailers_ = connection.parser.trailers();
  ++connection.responses;
  // Leftover bytes after a complete response mean the server sent more than it framed: the
  // connection cannot be trusted with another request.
  if (!connection.parser.keep_alive() || connection.unread_begin != connection.unread_end) {
    return lease_.close();
  }
  Duration idle_for = idle_timeout_;
  if (std::optional<unsigned> server = connection.parser.keep_alive_timeout_seconds()) {
    // Leave a margin so the pool gives a connection up before the server does.
    const Duration server_limit = std::chrono::seconds(*server);
    idle_for = std::min(idle_for, server_limit > std::chrono::seconds(1)
                                      ? server_limit - std::chrono::seconds(1)
                                      : server_limit / 2);
  }
  if (idle_for <= Duration::zero()) return lease_.close();
  lease_.keep_alive(idle_for);
}

Task<std::span<const char>> ResponseBody::next() {
  if (complete_) co_return std::span<const char>{};
  if (reading_)
    throw InvalidStateError("Response::read_chunk(): another read of " + description_ +
                            " is pending");
  if (failed_) {
    throw ProtocolError(description_ + ": the body cannot be read after an earlier error");
  }
  reading_ = true;
  try {
    for (;;) {
      PooledConnection& connection = this->connection();
      // Fed even when nothing is buffered: a body whose last byte was already delivered completes
      // without another byte.
      const ParseStep step = connection.parser.feed(unread(connection));
      connection.unread_begin += step.consumed;
      if (step.event == ParseEvent::body && !step.body.empty()) {
        reading_ = false;
        co_return step.body;
      }
      if (step.event == ParseEvent::complete) {
        finish();
        break;
      }
      if (connection.unread_begin != connection.unread_end) continue;
      const std::size_t received =
          co_await receive(&connection, idle_read_, "idle-read", &description_);
      if (received > 0) continue;
      const ParseStep last = connection.parser.finish();
      if (last.event != ParseEvent::complete) {
        throw ProtocolError(description_ + ": connection closed before the body ended");
      }
      finish();
      break;
    }
  } catch (const LimitExceededError& error) {
    give_up();
    throw LimitExceededError(with_request(error.what()));
  } catch (const ProtocolError& error) {
    give_up();
    throw ProtocolError(with_request(error.what()));
  } catch (...) {
    give_up();
    throw;
  }
  reading_ = false;
  co_return std::span<const char>{};
}

Task<std::string> ResponseBody::read_all() {
  std::string body;
  if (!complete_) {
    if (std::optional<std::uint64_t> length = connection().parser.content_length()) {
      body.reserve(static_cast<std::size_t>(*length));
    }
  }
  for (;;) {
    const std::span<const char> chunk = co_await next();
    if (chunk.empty()) break;
    body.append(chunk.data(), chunk.size());
  }
  co_return body;
}

Task<std::uint64_t> ResponseBody::discard_all() {
  std::uint64_t discarded = 0;
  for (;;) {
    const std::span<const char> chunk = co_await next();
    if (chunk.empty()) break;
    discarded += chunk.size();
  }
  co_return discarded;
}

}  // namespace detail

// ---- Response ----

Response::Response(Response&&) noexcept = default;
Response& Response::operator=(Response&&) noexcept = default;
Response::~Response() = default;

Task<std::span<const char>> Response::read_chunk() {
  return body_->next();
}
Task<std::string> Response::text() {
  return body_->read_all();
}
Task<std::uint64_t> Response::discard() {
  return body_->discard_all();
}
bool Response::body_complete() const noexcept {
  return !body_ || body_->complete();
}
const Headers& Response::trailers() const noexcept {
  static const Headers none;
  return body_ ? body_->trailers() : none;
}

// ---- Client ----

// One request on one connection (a retry on a fresh one for a stale reused connection), up to
// the response's headers.
Task<Response> Client::exchange(std::shared_ptr<ConnectionPool> pool, const Request* request) {
  const ClientOptions& options = pool->options();
  const std::string bytes = serialize_request(*request, options.user_agent);
  const std::string description = request->method + " " + request->url.to_string();
  const bool head = request->method == "HEAD";
  for (int attempt = 0;; ++attempt) {
    ConnectionLease lease = co_await pool->acquire(origin_key(request->url));
    // The retry goes to a fresh connection: another idle one has likely gone stale the same way.
    while (attempt > 0 && lease.reused()) {
      lease.close();
      ConnectionLease next = co_await pool->acquire(origin_key(request->url));
      lease = std::move(next);
    }
    const bool reused = lease.reused();
    if (reused) {
      pool->count_reuse();
    } else {
      TcpStream stream = co_await connect_to(request->url, options.timeouts.connect, description);
      lease.attach(std::move(stream));
    }
    PooledConnection& connection = *lease.connection();
    bool any_byte = false;
    bool stale = false;
    try {
      try {
        co_await connection.stream.write_all(std::string_view(bytes));
      } catch (const std::system_error& error) {
        throw std::system_error(error.code(), description + ": send");
      }
      connection.parser.start(head);
      // Without a first-byte timeout the idle-read one bounds the wait for the first byte too.
      std::optional<std::chrono::milliseconds> limit =
          options.timeouts.first_byte ? options.timeouts.first_byte : options.timeouts.idle_read;
      const char* phase = options.timeouts.first_byte ? "first-byte" : "idle-read";
      for (bool headers = false; !headers;) {
        if (connection.unread_begin == connection.unread_end) {
          const std::size_t received = co_await receive(&connection, limit, phase, &description);
          if (received == 0) {
            connection.parser.finish();  // throws: the headers were cut short
            throw ProtocolError(description + ": connection closed before the response headers");
          }
          any_byte = true;
          limit = options.timeouts.idle_read;
          phase = "idle-read";
          continue;
        }
        const ParseStep step = connection.parser.feed(unread(connection));
        connection.unread_begin += step.consumed;
        headers = step.event == ParseEvent::headers_complete;
      }
    } catch (const std::system_error&) {
      if (!(attempt == 0 && reused && !any_byte && is_idempotent(request->method))) throw;
      stale = true;
    } catch (const LimitExceededError& error) {
      throw LimitExceededError(description + ": " + error.what());
    } catch (const ProtocolError& error) {
      if (!(attempt == 0 && reused && !any_byte && is_idempotent(request->method))) {
        // The parser says what and at which byte; the request says where (once).
        const std::string_view message = error.what();
        if (message.starts_with(description)) throw;
        throw ProtocolError(description + ": " + std::string(message));
      }
      stale = true;
    }
    if (stale) {
      // The server closed the idle connection while it sat in the pool: send once more on a
      // fresh one.
      pool->count_retry();
      lease.close();
      continue;
    }
    Response response;
    response.status_ = connection.parser.status();
    response.reason_ = connection.parser.reason();
    response.headers_ = connection.parser.headers();
    response.url_ = request->url;
    response.reused_connection_ = reused;
    response.body_ = std::make_unique<detail::ResponseBody>(std::move(lease), description, options);
    response.body_->complete_if_bodiless();
    co_return response;
  }
}

Task<Response> Client::perform(std::shared_ptr<detail::ConnectionPool> pool, Request request) {
  const ClientOptions& options = pool->options();
  const std::string description = request.method + " " + request.url.to_string();
  TimeoutScope total = timeout(to_duration(options.timeouts.total));
  try {
    for (unsigned redirects = 0;; ++redirects) {
      Response response = co_await exchange(pool, &request);
      response.redirects_ = redirects;
      if (!options.follow_redirects || !is_redirect(response.status_)) co_return response;
      const std::optional<std::string_view> location = response.headers_.get("Location");
      if (!location || location->empty()) {
        throw RedirectError(description + ": " + std::to_string(response.status_) +
                            " redirect without a Location header");
      }
      if (redirects == options.max_redirects) {
        throw RedirectError(description + ": more than " + std::to_string(options.max_redirects) +
                            " redirects (the last to " + std::string(*location) + ")");
      }
      Url next = request.url.resolve(*location);
      co_await response.discard();  // so its connection can carry the next request
      if (!next.same_origin(request.url)) {
        // Credentials and a caller's Host stay with the origin they were meant for.
        request.headers.remove("Host");
        request.headers.remove("Authorization");
        request.headers.remove("Cookie");
      }
      if (response.status_ == 303) request.method = request.method == "HEAD" ? "HEAD" : "GET";
      request.url = std::move(next);
    }
  } catch (const CancelledError&) {
    raise_if_timed_out(total, "total", options.timeouts.total, description);
    throw;
  }
}

Task<Response> Client::perform_url(std::shared_ptr<detail::ConnectionPool> pool, std::string method,
                                   std::string url, Headers headers) {
  Request request;
  request.method = std::move(method);
  request.url = Url::parse(url);
  request.headers = std::move(headers);
  Response response = co_await perform(std::move(pool), std::move(request));
  co_return response;
}

Client::Client(ClientOptions options)
    : pool_(std::make_shared<detail::ConnectionPool>(std::move(options))) {}
Client::Client(Client&&) noexcept = default;
Client& Client::operator=(Client&&) noexcept = default;
Client::~Client() {
  if (pool_) pool_->close_idle_connections();
}

Task<Response> Client::send(Request request) {
  return perform(pool_, std::move(request));
}
Task<Response> Client::get(std::string url, Headers headers) {
  return perform_url(pool_, "GET", std::move(url), std::move(headers));
}
Task<Response> Client::head(std::string url, Headers headers) {
  return perform_url(pool_, "HEAD", std::move(url), std::move(headers));
}

void Client::close_idle_connections() {
  pool_->close_idle_connections();
}
ClientStats Client::stats() const noexcept {
  return pool_->stats();
}
const ClientOptions& Client::options() const noexcept {
  return pool_->options();
}

}  // namespace ringloop::http
