// BlockingClient: one request at a time over a plain socket kept alive between requests to the
// same origin. The steps of a request: pick a connection (the kept one if it is still usable,
// else a new one), send, read the response through ResponseParser, keep or close the connection;
// around them the stale-connection retry and the redirects.

#include <ringloop/http/blocking_client.hpp>

#include <array>
#include <cstring>
#include <string_view>
#include <system_error>
#include <utility>

#include "http/blocking_socket.hpp"

namespace ringloop::http {
namespace {

using detail::Deadline;
using detail::SocketFd;
using detail::SteadyClock;

constexpr std::size_t kReceiveBufferBytes = 64 * 1024;

bool is_redirect(int status) noexcept {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

/// A send or receive failed on a reused connection before the server answered anything: the
/// server closed the idle connection while the request was on its way (the race of every pooled
/// client). Thrown only where a fresh connection may be tried instead.
struct StaleConnection {};

/// The request that follows a redirect from `request` to `location` (RFC 9110 15.4): 303 turns
/// a GET into a GET and keeps a HEAD; credentials and a caller's Host stay with their origin.
Request redirected_request(const Request& request, int status, std::string_view location) {
  Request next = request;
  next.url = request.url.resolve(location);
  if (status == 303 && request.method != "HEAD") next.method = "GET";
  if (!next.url.same_origin(request.url)) {
    next.headers.remove("Host");
    next.headers.remove("Authorization");
    next.headers.remove("Cookie");
  }
  return next;
}

/// One request and its response on one connection; `send()` drives these.
class BlockingExchange {
 public:
  BlockingExchange(const BlockingClientOptions& options, const Request& request,
                   SteadyClock::time_point start)
      : options_(options),
        request_(request),
        url_text_(request.url.to_string()),
        total_(Deadline::after(start, options.timeouts.total, "total")),
        parser_(options.limits) {}

  /// Connects to the request's origin within the connect and total timeouts.
  SocketFd connect() const {
    const Deadline deadline =
        Deadline::after(SteadyClock::now(), options_.timeouts.connect, "connect").earliest(total_);
    return detail::connect_to(request_.url, url_text_, deadline);
  }

  /// Sends the request on `fd` and reads the whole response. On a `reused` connection, a failure
  /// before any response byte throws StaleConnection instead of the error itself.
  BlockingResponse run(int fd, bool reused) {
    const std::string bytes = serialize_request(request_, options_.user_agent);
    try {
      detail::send_all(fd, bytes, url_text_, idle_deadline().earliest(total_));
      return read_response(fd);
    } catch (const std::system_error&) {
      if (reused && received_ == 0) throw StaleConnection{};
      throw;
    } catch (const ProtocolError&) {
      if (reused && received_ == 0) throw StaleConnection{};
      throw;
    }
  }

  /// Whether the connection may carry the next request.
  [[nodiscard]] bool keep_alive() const noexcept { return keep_alive_; }

 private:
  [[nodiscard]] Deadline idle_deadline() const {
    return Deadline::after(SteadyClock::now(), options_.timeouts.idle_read, "idle_read");
  }

  /// The receive deadline of the phase the response is in: first byte, headers, then body
  /// (which only idle_read bounds, as the timeouts' documentation says).
  [[nodiscard]] Deadline receive_deadline() const {
    Deadline deadline = idle_deadline();
    if (parser_.has_headers()) return deadline;
    if (received_ == 0) deadline = deadline.earliest(first_byte_);
    return deadline.earliest(total_);
  }

  [[nodiscard]] const char* phase() const noexcept {
    if (parser_.has_headers()) return "reading the response body";
    return received_ == 0 ? "waiting for the response" : "reading the response headers";
  }

  BlockingResponse read_response(int fd) {
    parser_.start(request_.method == "HEAD");
    first_byte_ = Deadline::after(SteadyClock::now(), options_.timeouts.first_byte, "first_byte");
    BlockingResponse response;
    std::array<char, kReceiveBufferBytes> buffer;
    std::size_t begin = 0;  // unparsed bytes are buffer[begin, end)
    std::size_t end = 0;
    for (;;) {
      if (begin == end) begin = end = 0;
      if (end == buffer.size()) {  // the parser left bytes it cannot use yet: make room
        std::memmove(buffer.data(), buffer.data() + begin, end - begin);
        end -= begin;
        begin = 0;
      }
      const std::size_t got = detail::receive_some(fd, std::span<char>(buffer).subspan(end),
                                                   url_text_, receive_deadline(), phase());
      if (got == 0) {
        // The server closed: the end of an until-close body, or a response cut short (finish()
        // throws ProtocolError saying where).
        parser_.finish();
        keep_alive_ = false;
        return finished(std::move(response));
      }
      received_ += got;
      end += got;
      if (feed(buffer.data(), begin, end, response)) {
        // Bytes after the response were never asked for (no pipelining): do not trust the
        // connection with another request.
        keep_alive_ = parser_.keep_alive() && begin == end;
        return finished(std::move(response));
      }
    }
  }

  /// Feeds buffer[begin, end) to the parser until it needs more; whether the response is
  /// complete.
  bool feed(const char* data, std::size_t& begin, std::size_t end, BlockingResponse& response) {
    for (;;) {
      const ParseStep step = parser_.feed(std::span<const char>(data + begin, end - begin));
      begin += step.consumed;
      switch (step.event) {
        case ParseEvent::complete:
          return true;
        case ParseEvent::need_more:
          return parser_.is_complete();
        case ParseEvent::body:
          response.body.append(step.body.data(), step.body.size());
          break;
        case ParseEvent::headers_complete:
          if (const auto length = parser_.content_length()) {
            response.body.reserve(static_cast<std::size_t>(*length));
          }
          break;
      }
    }
  }

  BlockingResponse finished(BlockingResponse response) const {
    response.status = parser_.status();
    response.reason = parser_.reason();
    response.headers = parser_.headers();
    response.url = request_.url;
    return response;
  }

  const BlockingClientOptions& options_;
  const Request& request_;
  const std::string url_text_;
  const Deadline total_;
  Deadline first_byte_;
  ResponseParser parser_;
  std::uint64_t received_ = 0;  // response bytes received (any, parsed or not)
  bool keep_alive_ = false;
};

/// One request without redirects. `descriptor` and `origin` are the client's kept connection:
/// taken for the request (closed on any error), given back only when the response allows it.
BlockingResponse send_once(const BlockingClientOptions& options, int& descriptor,
                           std::optional<Url>& origin, const Request& request,
                           SteadyClock::time_point start) {
  SocketFd fd(std::exchange(descriptor, -1));
  const bool same_origin = origin && origin->same_origin(request.url);
  origin.reset();
  if (fd && (!same_origin || !detail::idle_connection_usable(fd.get()))) fd.reset();

  for (;;) {
    BlockingExchange exchange(options, request, start);
    const bool reused = static_cast<bool>(fd);
    if (!reused) fd = exchange.connect();
    try {
      BlockingResponse response = exchange.run(fd.get(), reused && is_idempotent(request.method));
      if (exchange.keep_alive()) {
        descriptor = fd.release();
        origin = request.url;
      }
      return response;
    } catch (const StaleConnection&) {
      fd.reset();  // and once more on a fresh connection: `reused` is false next time round
    }
  }
}

}  // namespace

BlockingClient::BlockingClient(BlockingClientOptions options) : options_(std::move(options)) {}

BlockingClient::BlockingClient(BlockingClient&& other) noexcept
    : options_(std::move(other.options_)),
      descriptor_(std::exchange(other.descriptor_, -1)),
      connected_origin_(std::exchange(other.connected_origin_, std::nullopt)) {}

BlockingClient& BlockingClient::operator=(BlockingClient&& other) noexcept {
  if (this != &other) {
    SocketFd(descriptor_).reset();
    options_ = std::move(other.options_);
    descriptor_ = std::exchange(other.descriptor_, -1);
    connected_origin_ = std::exchange(other.connected_origin_, std::nullopt);
  }
  return *this;
}

BlockingClient::~BlockingClient() {
  SocketFd closing(descriptor_);
}

BlockingResponse BlockingClient::get(const std::string& url, Headers headers) {
  Request request;
  request.url = Url::parse(url);
  request.headers = std::move(headers);
  return send(request);
}

BlockingResponse BlockingClient::send(const Request& request) {
  const SteadyClock::time_point start = SteadyClock::now();
  Request current = request;
  for (unsigned redirects = 0;; ++redirects) {
    BlockingResponse response = send_once(options_, descriptor_, connected_origin_, current, start);
    if (!options_.follow_redirects || !is_redirect(response.status)) return response;
    const auto location = response.headers.get("Location");
    if (!location) {
      throw RedirectError(current.url.to_string() + ": " + std::to_string(response.status) +
                          " redirect without a Location header");
    }
    if (redirects == options_.max_redirects) {
      throw RedirectError(request.url.to_string() + ": more than " +
                          std::to_string(options_.max_redirects) + " redirects (the last to " +
                          std::string(*location) + ")");
    }
    current = redirected_request(current, response.status, *location);
  }
}

}  // namespace ringloop::http
