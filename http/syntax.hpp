#pragma once
// The character classes of HTTP's grammar (RFC 9110 5.6) that the parser, the request
// serializer and the URL parser share, plus the escaping every error message uses for the
// text it quotes.

#include <cstddef>
#include <string>
#include <string_view>

namespace ringloop::http::detail {

/// tchar: the characters of a token (a header name, a method, a transfer coding).
[[nodiscard]] constexpr bool is_token_char(char c) noexcept {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

/// Whether `text` is a non-empty token.
[[nodiscard]] constexpr bool is_token(std::string_view text) noexcept {
  if (text.empty()) return false;
  for (const char c : text) {
    if (!is_token_char(c)) return false;
  }
  return true;
}

/// OWS: optional whitespace around values and list elements.
[[nodiscard]] constexpr bool is_ows(char c) noexcept {
  return c == ' ' || c == '\t';
}

/// A control character that may not appear in a field value or a reason phrase: every CTL but
/// HTAB (obs-text, bytes 0x80 and up, stays allowed).
[[nodiscard]] constexpr bool is_forbidden_control(char c) noexcept {
  const auto byte = static_cast<unsigned char>(c);
  return (byte < 0x20 && c != '\t') || byte == 0x7f;
}

[[nodiscard]] constexpr bool is_digit(char c) noexcept {
  return c >= '0' && c <= '9';
}

[[nodiscard]] constexpr char to_lower_ascii(char c) noexcept {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

/// `text` without leading and trailing OWS.
[[nodiscard]] constexpr std::string_view trim_ows(std::string_view text) noexcept {
  while (!text.empty() && is_ows(text.front()))
    text.remove_prefix(1);
  while (!text.empty() && is_ows(text.back()))
    text.remove_suffix(1);
  return text;
}

/// `text` quoted for an error message: printable ASCII as is, everything else escaped (\r, \n,
/// \t, \xNN), cut after `max_length` input bytes with "..." so a message stays one short line.
[[nodiscard]] inline std::string quote_excerpt(std::string_view text, std::size_t max_length = 40) {
  static constexpr char hex_digits[] = "0123456789abcdef";
  std::string quoted = "\"";
  for (std::size_t i = 0; i < text.size() && i < max_length; ++i) {
    const auto byte = static_cast<unsigned char>(text[i]);
    if (byte == '\r') {
      quoted += "\\r";
    } else if (byte == '\n') {
      quoted += "\\n";
    } else if (byte == '\t') {
      quoted += "\\t";
    } else if (byte == '"' || byte == '\\') {
      quoted += '\\';
      quoted += static_cast<char>(byte);
    } else if (byte < 0x20 || byte >= 0x7f) {
      quoted += "\\x";
      quoted += hex_digits[byte >> 4];
      quoted += hex_digits[byte & 0xf];
    } else {
      quoted += static_cast<char>(byte);
    }
  }
  if (text.size() > max_length) quoted += "...";
  quoted += '"';
  return quoted;
}

}  // namespace ringloop::http::detail
