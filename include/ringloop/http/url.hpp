#pragma once
// Url: an absolute http:// URL split into what a request needs (RFC 3986 syntax, the subset
// HTTP/1.1 clients use): scheme, host (IPv6 literals in brackets), port, and the request
// target (path and query; the fragment is dropped, as browsers and curl drop it).

#include <cstdint>
#include <string>
#include <string_view>

namespace ringloop::http {

/// An absolute URL. Parse with Url::parse; every field is already validated.
struct Url {
  std::string scheme;          ///< lower-case: "http" (parse rejects "https": TLS not supported)
  std::string host;            ///< lower-case name or address, IPv6 without its brackets
  std::uint16_t port = 80;     ///< explicit or the scheme's default
  bool explicit_port = false;  ///< whether the URL spelled the port
  std::string target = "/";    ///< path and "?query"; "/" when the URL has no path

  /// Parses `text` ("http://host[:port][/path][?query][#fragment]", host a name, an IPv4
  /// address or "[IPv6]"). Throws UrlError naming the URL and what is wrong with it; for
  /// "https://..." the message says TLS is not supported. User info ("user@") is rejected.
  static Url parse(std::string_view text);

  /// The URL a redirect's Location names, relative to this one (RFC 3986 5.2: absolute URL,
  /// "//host/...", "/path", "path", "?query"). Throws UrlError as parse() does.
  [[nodiscard]] Url resolve(std::string_view location) const;

  /// The Host header's value: host (bracketed if IPv6) plus ":port" when not the default.
  [[nodiscard]] std::string authority() const;
  /// "scheme://authority/target".
  [[nodiscard]] std::string to_string() const;
  /// Whether `other` has the same scheme, host and port (the connection pool's key).
  [[nodiscard]] bool same_origin(const Url& other) const noexcept;
};

}  // namespace ringloop::http
