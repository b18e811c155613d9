// Url: parsing an absolute http:// URL and resolving a redirect's reference against one
// (RFC 3986 3 and 5.2). resolve() composes the target URL's text and parses it again, so every
// URL the client uses went through the same validation.

#include <ringloop/http/url.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <charconv>
#include <string>

#include <ringloop/http/errors.hpp>

#include "http/syntax.hpp"

namespace ringloop::http {
namespace {

[[noreturn]] void fail(std::string_view url, std::string_view problem) {
  throw UrlError("invalid URL " + detail::quote_excerpt(url, 200) + ": " + std::string(problem));
}

bool is_alpha(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/// The scheme of `text` ("ALPHA *( ALPHA / DIGIT / + / - / . )" before ':'), or empty when
/// `text` does not start with one (a relative reference).
std::string_view scheme_of(std::string_view text) noexcept {
  if (text.empty() || !is_alpha(text.front())) return {};
  for (std::size_t i = 1; i < text.size(); ++i) {
    const char c = text[i];
    if (c == ':') return text.substr(0, i);
    if (!is_alpha(c) && !detail::is_digit(c) && c != '+' && c != '-' && c != '.') return {};
  }
  return {};
}

/// reg-name characters without percent-encoding (unreserved, sub-delims): what a host name may
/// hold; a resolver has no use for "%41".
bool is_host_name_char(char c) noexcept {
  return is_alpha(c) || detail::is_digit(c) ||
         std::string_view("-._~!$&'()*+,;=").find(c) != std::string_view::npos;
}

std::string lower_ascii(std::string_view text) {
  std::string lowered(text);
  for (char& c : lowered)
    c = detail::to_lower_ascii(c);
  return lowered;
}

/// Splits "host[:port]" or "[v6][:port]" into `url`; `text` is the whole URL, for messages.
void parse_authority(std::string_view authority, std::string_view text, Url& url) {
  if (authority.find('@') != std::string_view::npos) {
    fail(text, "user info (\"user@\") is not supported");
  }
  std::string_view host;
  std::string_view after_host;
  if (!authority.empty() && authority.front() == '[') {
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos) fail(text, "unbalanced '[' in the host");
    host = authority.substr(1, close - 1);
    after_host = authority.substr(close + 1);
    in6_addr address{};
    if (host.find_first_of("[]") != std::string_view::npos ||
        inet_pton(AF_INET6, std::string(host).c_str(), &address) != 1) {
      fail(text, "invalid IPv6 address " + detail::quote_excerpt(host));
    }
    if (!after_host.empty() && after_host.front() != ':') {
      fail(text, "unexpected text after the IPv6 address");
    }
  } else {
    if (authority.find_first_of("[]") != std::string_view::npos) {
      fail(text, "unbalanced brackets in the host (an IPv6 address is written \"[::1]\")");
    }
    const std::size_t colon = authority.find(':');
    if (colon != std::string_view::npos &&
        authority.find(':', colon + 1) != std::string_view::npos) {
      fail(text, "an IPv6 address must be in brackets (\"[::1]\")");
    }
    host = authority.substr(0, colon);
    after_host = colon == std::string_view::npos ? std::string_view() : authority.substr(colon);
    if (host.empty()) fail(text, "empty host");
    for (const char c : host) {
      if (!is_host_name_char(c)) {
        fail(text, "invalid character " + detail::quote_excerpt(std::string_view(&c, 1)) +
                       " in the host");
      }
    }
  }
  if (host.empty()) fail(text, "empty host");
  url.host = lower_ascii(host);
  if (after_host.size() <= 1) return;  // no port, or an empty one (RFC 3986 3.2.3: the default)
  const std::string_view port_text = after_host.substr(1);
  unsigned port = 0;
  const auto [end, error] =
      std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  const bool all_digits = port_text.find_first_not_of("0123456789") == std::string_view::npos;
  if (!all_digits || error != std::errc() || end != port_text.data() + port_text.size() ||
      port == 0 || port > 65535) {
    fail(text, "invalid port " + detail::quote_excerpt(port_text) + " (expected 1 to 65535)");
  }
  url.port = static_cast<std::uint16_t>(port);
  url.explicit_port = true;
}

/// RFC 3986 5.2.4: the path without its "." and ".." segments.
std::string remove_dot_segments(std::string_view input) {
  std::string output;
  while (!input.empty()) {
    if (input.starts_with("../")) {
      input.remove_prefix(3);
    } else if (input.starts_with("./")) {
      input.remove_prefix(2);
    } else if (input.starts_with("/./")) {
      input.remove_prefix(2);
    } else if (input == "/.") {
      input = "/";
    } else if (input.starts_with("/../") || input == "/..") {
      input = input.size() == 3 ? std::string_view("/") : input.substr(3);
      const std::size_t last_slash = output.rfind('/');
      output.erase(last_slash == std::string::npos ? 0 : last_slash);
    } else if (input == "." || input == "..") {
      input = {};
    } else {
      const std::size_t next_slash = input.find('/', 1);
      output.append(input.substr(0, next_slash));
      input = next_slash == std::string_view::npos ? std::string_view() : input.substr(next_slash);
    }
  }
  return output;
}

/// A target ("path?query") split at its first '?'; query keeps the '?' (empty: none).
struct PathAndQuery {
  std::string_view path;
  std::string_view query;
};

PathAndQuery split_target(std::string_view target) noexcept {
  const std::size_t question = target.find('?');
  if (question == std::string_view::npos) return {target, {}};
  return {target.substr(0, question), target.substr(question)};
}

}  // namespace

namespace {

// Built by appending rather than with operator+: g++ 12 at -O3 warns falsely (-Wrestrict) on
// "/" + std::string(...) and ":" + std::to_string(...) in this file.
std::string with_leading_slash(std::string_view path) {
  std::string result;
  result.reserve(path.size() + 1);
  if (!path.starts_with('/')) result.push_back('/');
  result.append(path);
  return result;
}

}  // namespace

Url Url::parse(std::string_view text) {
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte <= 0x20 || byte == 0x7f) fail(text, "spaces and control characters are not allowed");
  }
  const std::string_view scheme = scheme_of(text);
  if (scheme.empty()) fail(text, "not an absolute URL (expected \"http://host/...\")");
  Url url;
  url.scheme = lower_ascii(scheme);
  if (url.scheme == "https") fail(text, "TLS is not supported (https); use http://");
  if (url.scheme != "http") fail(text, "unsupported scheme \"" + url.scheme + "\" (only http)");
  std::string_view rest = text.substr(scheme.size() + 1);
  if (!rest.starts_with("//")) fail(text, "expected \"//\" after \"" + url.scheme + ":\"");
  rest.remove_prefix(2);
  rest = rest.substr(0, rest.find('#'));  // the fragment never leaves the client
  const std::size_t authority_end = rest.find_first_of("/?");
  parse_authority(rest.substr(0, authority_end), text, url);
  const std::string_view target =
      authority_end == std::string_view::npos ? std::string_view() : rest.substr(authority_end);
  url.target = with_leading_slash(target);
  return url;
}

Url Url::resolve(std::string_view location) const {
  location = location.substr(0, location.find('#'));
  if (!scheme_of(location).empty() || location.starts_with("//")) {
    // An absolute reference (or a network-path one, taking our scheme): its own authority, its
    // path without dot segments.
    Url target = parse(location.starts_with("//") ? scheme + ":" + std::string(location)
                                                  : std::string(location));
    const PathAndQuery parts = split_target(target.target);
    target.target = remove_dot_segments(parts.path) + std::string(parts.query);
    target.target = with_leading_slash(target.target);
    return target;
  }
  const PathAndQuery base = split_target(target);
  const PathAndQuery reference = split_target(location);
  std::string path;
  std::string_view query = reference.query;
  if (reference.path.empty()) {
    path = base.path;
    if (location.find('?') == std::string_view::npos) query = base.query;
  } else if (reference.path.starts_with('/')) {
    path = remove_dot_segments(reference.path);
  } else {
    // RFC 3986 5.2.3's merge: the base path up to its last '/', then the reference.
    const std::size_t last_slash = base.path.rfind('/');
    const std::string merged =
        (last_slash == std::string_view::npos ? std::string("/")
                                              : std::string(base.path.substr(0, last_slash + 1))) +
        std::string(reference.path);
    path = remove_dot_segments(merged);
  }
  return parse(scheme + "://" + authority() + path + std::string(query));
}

std::string Url::authority() const {
  std::string text;
  if (host.find(':') == std::string::npos) {
    text = host;
  } else {
    text.reserve(host.size() + 2);
    text.push_back('[');
    text.append(host);
    text.push_back(']');
  }
  if (port != 80) {
    text.push_back(':');
    text.append(std::to_string(port));
  }
  return text;
}

std::string Url::to_string() const {
  return scheme + "://" + authority() + target;
}

bool Url::same_origin(const Url& other) const noexcept {
  return scheme == other.scheme && host == other.host && port == other.port;
}

}  // namespace ringloop::http
