#pragma once
// Errors of the HTTP client. Every what() names what went wrong and where: the URL, or the
// response's byte offset and the offending text (cut short, control bytes escaped).
// Timeouts are ringloop::TimeoutError, naming which timeout fired and the URL.

#include <stdexcept>
#include <string>

namespace ringloop::http {

/// The base of every HTTP-layer error (system_error, ResolveError and TimeoutError come from the
/// layers below, unchanged).
class HttpError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A URL the client cannot use: malformed, or a scheme other than http (https included, until
/// TLS exists: "TLS is not supported").
class UrlError : public HttpError {
 public:
  using HttpError::HttpError;
};

/// A response that breaks HTTP/1.1's grammar or framing (RFC 9112), or a connection that ended
/// before the response did. Nothing after it on that connection can be trusted: the client
/// closes the connection.
class ProtocolError : public HttpError {
 public:
  using HttpError::HttpError;
};

/// A response larger than a configured limit (header bytes, header count, body bytes).
class LimitExceededError : public ProtocolError {
 public:
  using ProtocolError::ProtocolError;
};

/// More redirects than the configured limit, or a redirect without a usable Location.
class RedirectError : public HttpError {
 public:
  using HttpError::HttpError;
};

}  // namespace ringloop::http
