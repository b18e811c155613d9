// Request serialization. Everything that goes on the wire is checked here, since a header value
// holding CRLF would let whoever chose it write a second request (header injection).

#include <ringloop/http/request.hpp>

#include <array>
#include <stdexcept>
#include <string>

#include "http/syntax.hpp"

namespace ringloop::http {
namespace {

void check_field(const Header& field) {
  if (!detail::is_token(field.name)) {
    throw std::invalid_argument("HTTP request: header name " + detail::quote_excerpt(field.name) +
                                " is not a token (RFC 9110 5.1)");
  }
  if (field.value.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos) {
    throw std::invalid_argument("HTTP request: the value of header " +
                                detail::quote_excerpt(field.name) +
                                " holds CR, LF or NUL: " + detail::quote_excerpt(field.value));
  }
}

/// The request target goes into the request line unquoted: no space or control byte in it.
void check_target(const Url& url) {
  bool valid = url.target.starts_with('/');
  for (const char c : url.target) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte <= 0x20 || byte == 0x7f) valid = false;
  }
  if (!valid) {
    throw std::invalid_argument("HTTP request: invalid request target " +
                                detail::quote_excerpt(url.target));
  }
}

void append_field(std::string& out, std::string_view name, std::string_view value) {
  out.append(name).append(": ").append(value).append("\r\n");
}

}  // namespace

bool is_idempotent(std::string_view method) noexcept {
  // Methods are case-sensitive (RFC 9110 9.1): "get" is not GET.
  static constexpr std::array<std::string_view, 6> idempotent = {"GET",    "HEAD",    "PUT",
                                                                 "DELETE", "OPTIONS", "TRACE"};
  for (const std::string_view candidate : idempotent) {
    if (method == candidate) return true;
  }
  return false;
}

std::string serialize_request(const Request& request, std::string_view user_agent) {
  if (request.method != "GET" && request.method != "HEAD") {
    throw std::invalid_argument("HTTP request: unsupported method " +
                                detail::quote_excerpt(request.method) + " (only GET and HEAD)");
  }
  check_target(request.url);
  for (const Header& field : request.headers)
    check_field(field);
  const Header user_agent_field{"User-Agent", std::string(user_agent)};
  check_field(user_agent_field);

  const std::string authority = request.url.authority();
  const std::array<Header, 3> defaults = {Header{"Host", authority}, user_agent_field,
                                          Header{"Accept-Encoding", "identity"}};
  std::string out;
  out.reserve(128 + request.url.target.size());
  out.append(request.method).append(" ").append(request.url.target).append(" HTTP/1.1\r\n");
  // A default the request overrides is written where the default would be (Host stays first, as
  // RFC 9112 3.2 asks), with the request's own value(s).
  for (const Header& field : defaults) {
    const auto overrides = request.headers.get_all(field.name);
    if (overrides.empty()) append_field(out, field.name, field.value);
    for (const std::string_view value : overrides)
      append_field(out, field.name, value);
  }
  for (const Header& field : request.headers) {
    bool is_default = false;
    for (const Header& default_field : defaults) {
      is_default = is_default || equals_ignoring_case(field.name, default_field.name);
    }
    if (!is_default) append_field(out, field.name, field.value);
  }
  out.append("\r\n");
  return out;
}

}  // namespace ringloop::http
