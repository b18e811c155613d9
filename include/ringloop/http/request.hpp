#pragma once
// Request: what the client sends, and its serialization (shared by Client and BlockingClient).

#include <chrono>
#include <optional>
#include <string>

#include <ringloop/http/headers.hpp>
#include <ringloop/http/url.hpp>

namespace ringloop::http {

/// How long each phase of a request may take; an unset one never times out. Each ends the
/// request with ringloop::TimeoutError naming the phase and the URL, and closes its connection.
struct Timeouts {
  /// Resolving the host and connecting (every address tried counts against it).
  std::optional<std::chrono::milliseconds> connect = std::chrono::seconds(10);
  /// From the request sent until the first byte of the response.
  std::optional<std::chrono::milliseconds> first_byte;
  /// Between two reads that deliver bytes, while the response (its body too) arrives.
  std::optional<std::chrono::milliseconds> idle_read = std::chrono::seconds(30);
  /// The whole request, redirects included, until the response's headers are in. (Reading a
  /// body is bounded by idle_read, or by the caller's own wait_for.)
  std::optional<std::chrono::milliseconds> total;
};

/// One request. GET and HEAD are what the client speaks (no request bodies).
struct Request {
  std::string method = "GET";  ///< "GET" or "HEAD" (else std::invalid_argument when sent)
  Url url;
  /// Extra fields; these replace the defaults of the same name (Host, User-Agent,
  /// Accept-Encoding: identity).
  Headers headers;
};

/// Whether `method` is idempotent (RFC 9110 9.2.2): a request that died on a reused connection
/// before any response byte may be sent again.
[[nodiscard]] bool is_idempotent(std::string_view method) noexcept;

/// The request's bytes: request line, Host, User-Agent (`user_agent` unless the request sets
/// one), Accept-Encoding: identity, the request's headers, blank line. Throws
/// std::invalid_argument for a method other than GET/HEAD, or a header name or value holding
/// CR, LF or NUL (header injection).
[[nodiscard]] std::string serialize_request(const Request& request, std::string_view user_agent);

/// The User-Agent sent when the caller names none.
inline constexpr std::string_view default_user_agent = "ringloop-http/0.1";

}  // namespace ringloop::http
