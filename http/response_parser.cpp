// ResponseParser: a state machine over lines (status, headers, chunk sizes, trailers) and byte
// runs (bodies). A line that arrives in pieces is collected in line_ and judged only once its LF
// is in, so every verdict depends on the bytes alone, never on how they were split; body bytes
// are never copied or looked at, only counted.

#include <ringloop/http/response_parser.hpp>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>

#include <ringloop/http/errors.hpp>

#include "http/syntax.hpp"

namespace ringloop::http {

enum class ResponseParser::Stage : std::uint8_t {
  status_line,
  header_lines,
  content_length_body,
  chunk_size_line,
  chunk_data,
  chunk_data_cr,  // the CR that must follow a chunk's data
  chunk_data_lf,
  trailer_lines,
  until_close_body,
  complete,
  failed,  // until start()
};

namespace {

/// A chunk-size line is a hex number and extensions nobody needs; this bounds what a server can
/// make the parser buffer for one (it is body framing, outside max_header_bytes).
constexpr std::size_t max_chunk_size_line_bytes = 4096;

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool all_digits(std::string_view text) noexcept {
  return !text.empty() && std::all_of(text.begin(), text.end(), detail::is_digit);
}

/// "timeout=N" out of a Keep-Alive value ("timeout=5, max=100"); nullopt when absent or
/// malformed, since the value is only a hint for the pool.
std::optional<unsigned> parse_keep_alive_timeout(std::string_view value) {
  while (!value.empty()) {
    const std::size_t comma = value.find(',');
    const std::string_view element = value.substr(0, comma);
    value = comma == std::string_view::npos ? std::string_view() : value.substr(comma + 1);
    const std::size_t equals = element.find('=');
    if (equals == std::string_view::npos) continue;
    if (!equals_ignoring_case(detail::trim_ows(element.substr(0, equals)), "timeout")) continue;
    std::string_view number = detail::trim_ows(element.substr(equals + 1));
    if (number.size() >= 2 && number.front() == '"' && number.back() == '"') {
      number = number.substr(1, number.size() - 2);
    }
    unsigned seconds = 0;
    const auto [end, error] =
        std::from_chars(number.data(), number.data() + number.size(), seconds);
    if (error == std::errc() && end == number.data() + number.size() && all_digits(number)) {
      return seconds;
    }
  }
  return std::nullopt;
}

}  // namespace

ResponseParser::ResponseParser(ParserLimits limits) : limits_(limits) {
  start(false);
}

void ResponseParser::start(bool head_request) {
  stage_ = Stage::status_line;
  head_request_ = head_request;
  has_headers_ = false;
  interim_skipped_ = false;
  status_ = 0;
  minor_version_ = 1;
  reason_.clear();
  reset_head();
  trailers_.clear();
  framing_ = BodyFraming::none;
  remaining_ = 0;
  chunk_size_ = 0;
  chunk_index_ = 0;
  body_bytes_ = 0;
  offset_ = 0;
  header_bytes_ = 0;
  header_count_ = 0;
  line_.clear();
}

void ResponseParser::reset_head() {
  headers_.clear();
  declared_length_.reset();
  transfer_encoding_chunked_ = false;
  keep_alive_timeout_.reset();
  connection_close_ = false;
  connection_keep_alive_ = false;
}

ParseStep ResponseParser::feed(std::span<const char> input) {
  std::size_t position = 0;
  while (true) {
    switch (stage_) {
      case Stage::status_line:
      case Stage::header_lines:
      case Stage::trailer_lines: {
        const auto line = take_line(input, position, limits_.max_header_bytes - header_bytes_);
        if (!line) return {ParseEvent::need_more, position};
        header_bytes_ += line->text.size() + 2;
        ParseEvent event = ParseEvent::need_more;
        if (stage_ == Stage::status_line) {
          parse_status_line(*line);
          stage_ = Stage::header_lines;
        } else if (!line->text.empty()) {
          parse_field_line(*line, stage_ == Stage::header_lines ? headers_ : trailers_);
        } else if (stage_ == Stage::trailer_lines) {
          stage_ = Stage::complete;
          event = ParseEvent::complete;
        } else if (end_of_head(*line)) {
          event = ParseEvent::headers_complete;
        }
        line_.clear();
        if (event != ParseEvent::need_more) return {event, position};
        break;
      }
      case Stage::chunk_size_line: {
        const auto line = take_line(input, position, max_chunk_size_line_bytes);
        if (!line) return {ParseEvent::need_more, position};
        parse_chunk_size_line(*line);
        line_.clear();
        break;
      }
      case Stage::content_length_body:
      case Stage::chunk_data:
      case Stage::until_close_body: {
        const std::size_t available = input.size() - position;
        if (available == 0) return {ParseEvent::need_more, position};
        std::size_t piece = available;
        if (stage_ != Stage::until_close_body && remaining_ < available) {
          piece = static_cast<std::size_t>(remaining_);
        }
        check_body_limit(piece);
        body_bytes_ += piece;
        offset_ += piece;
        if (stage_ != Stage::until_close_body) {
          remaining_ -= piece;
          if (remaining_ == 0) {
            stage_ = stage_ == Stage::chunk_data ? Stage::chunk_data_cr : Stage::complete;
          }
        }
        return {ParseEvent::body, position + piece, input.subspan(position, piece)};
      }
      case Stage::chunk_data_cr:
      case Stage::chunk_data_lf: {
        if (position == input.size()) return {ParseEvent::need_more, position};
        const char expected = stage_ == Stage::chunk_data_cr ? '\r' : '\n';
        if (input[position] != expected) {
          // Only the offending byte is quoted: what follows it depends on how the input was split.
          fail("missing CRLF after the data of chunk " + std::to_string(chunk_index_) + ", found",
               offset_, std::string_view(input.data() + position, 1));
        }
        ++position;
        ++offset_;
        stage_ = stage_ == Stage::chunk_data_cr ? Stage::chunk_data_lf : Stage::chunk_size_line;
        break;
      }
      case Stage::complete:
        return {ParseEvent::complete, position};
      case Stage::failed:
        throw std::logic_error("ResponseParser::feed() after an error: call start() first");
    }
  }
}

std::optional<ResponseParser::Line> ResponseParser::take_line(std::span<const char> input,
                                                              std::size_t& position,
                                                              std::size_t max_length) {
  const char* begin = input.data() + position;
  const std::size_t available = input.size() - position;
  const void* newline = available == 0 ? nullptr : std::memchr(begin, '\n', available);
  const std::size_t piece =
      newline == nullptr ? available : static_cast<const char*>(newline) - begin + 1;
  const std::uint64_t line_offset = offset_ - line_.size();
  if (line_.size() + piece > max_length) {
    if (stage_ == Stage::chunk_size_line) {
      fail_limit(
          "chunk-size line longer than " + std::to_string(max_chunk_size_line_bytes) + " bytes",
          line_offset + max_length);
    }
    fail_limit("response header section exceeds max_header_bytes (" +
                   std::to_string(limits_.max_header_bytes) + ")",
               line_offset + max_length);
  }
  position += piece;
  offset_ += piece;
  if (newline == nullptr) {
    line_.append(begin, piece);
    return std::nullopt;
  }
  std::string_view text(begin, piece);
  if (!line_.empty()) {
    line_.append(begin, piece);
    text = line_;
  }
  if (text.size() < 2 || text[text.size() - 2] != '\r') {
    text.remove_suffix(1);
    fail("bare LF (lines must end in CRLF) after", line_offset + text.size(), text);
  }
  text.remove_suffix(2);
  return Line{text, line_offset};
}

void ResponseParser::parse_status_line(const Line& line) {
  // status-line = HTTP-version SP status-code SP [ reason-phrase ]; the last SP may be missing.
  const std::string_view text = line.text;
  const bool valid = text.size() >= 12 && text.starts_with("HTTP/1.") &&
                     detail::is_digit(text[7]) && text[8] == ' ' && detail::is_digit(text[9]) &&
                     text[9] != '0' && detail::is_digit(text[10]) && detail::is_digit(text[11]) &&
                     (text.size() == 12 || text[12] == ' ');
  if (!valid) {
    fail("invalid status line (expected \"HTTP/1.x NNN reason\")", line.offset, text);
  }
  const std::string_view reason = text.size() > 13 ? text.substr(13) : std::string_view();
  for (std::size_t i = 0; i < reason.size(); ++i) {
    if (detail::is_forbidden_control(reason[i])) {
      fail("control character in the status line", line.offset + 13 + i, text);
    }
  }
  status_ = (text[9] - '0') * 100 + (text[10] - '0') * 10 + (text[11] - '0');
  if (status_ == 101) fail("101 Switching Protocols is not supported", line.offset, text);
  minor_version_ = text[7] == '0' ? 0 : 1;  // 1.x above 1.1 is spoken as 1.1 (RFC 9110 2.5)
  reason_.assign(reason);
}

void ResponseParser::parse_field_line(const Line& line, Headers& into) {
  const std::string_view text = line.text;
  if (detail::is_ows(text.front())) {
    fail("obs-fold (a header line starting with whitespace) is not allowed:", line.offset, text);
  }
  const std::size_t colon = text.find(':');
  if (colon == std::string_view::npos) fail("header line without a colon", line.offset, text);
  const std::string_view name = text.substr(0, colon);
  if (name.empty()) fail("header line with an empty name", line.offset, text);
  if (detail::is_ows(name.back())) {
    fail("whitespace between the header name and the colon in", line.offset, text);
  }
  if (!detail::is_token(name)) fail("invalid header name in", line.offset, text);
  const std::string_view value = detail::trim_ows(text.substr(colon + 1));
  for (std::size_t i = colon + 1; i < text.size(); ++i) {
    if (detail::is_forbidden_control(text[i])) {
      fail("control character in the header line", line.offset + i, text);
    }
  }
  if (++header_count_ > limits_.max_header_count) {
    fail_limit("more header fields than max_header_count (" +
                   std::to_string(limits_.max_header_count) + ")",
               line.offset);
  }
  if (&into == &headers_) interpret_field(line, name, value);
  into.add(std::string(name), std::string(value));
}

void ResponseParser::interpret_field(const Line& line, std::string_view name,
                                     std::string_view value) {
  if (equals_ignoring_case(name, "Content-Length")) {
    // Two lengths, even equal ones, mean two parsers on the path may frame differently.
    if (declared_length_) fail("a second Content-Length field", line.offset, line.text);
    if (value.find(',') != std::string_view::npos) {
      fail("several Content-Length values in", line.offset, line.text);
    }
    std::uint64_t length = 0;
    const auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), length);
    if (!all_digits(value) || end != value.data() + value.size()) {
      fail("invalid Content-Length", line.offset, line.text);
    }
    if (error != std::errc()) fail("Content-Length out of range", line.offset, line.text);
    declared_length_ = length;
  } else if (equals_ignoring_case(name, "Transfer-Encoding")) {
    // Only chunked, exactly once: the client asked for no other coding, and any other list
    // leaves a body whose end another parser could see elsewhere.
    std::string_view codings = value;
    std::string_view last;
    while (!codings.empty()) {
      const std::size_t comma = codings.find(',');
      const std::string_view coding = detail::trim_ows(codings.substr(0, comma));
      codings = comma == std::string_view::npos ? std::string_view() : codings.substr(comma + 1);
      if (!coding.empty()) last = coding;
    }
    if (last.empty()) fail("empty Transfer-Encoding", line.offset, line.text);
    if (!equals_ignoring_case(last, "chunked")) {
      fail("Transfer-Encoding whose last coding is not chunked:", line.offset, line.text);
    }
    if (transfer_encoding_chunked_ || !equals_ignoring_case(detail::trim_ows(value), "chunked")) {
      fail("unsupported Transfer-Encoding (only a single \"chunked\")", line.offset, line.text);
    }
    transfer_encoding_chunked_ = true;
  } else if (equals_ignoring_case(name, "Connection")) {
    connection_close_ = connection_close_ || list_contains_token(value, "close");
    connection_keep_alive_ = connection_keep_alive_ || list_contains_token(value, "keep-alive");
  } else if (equals_ignoring_case(name, "Keep-Alive")) {
    keep_alive_timeout_ = parse_keep_alive_timeout(value);
  }
}

bool ResponseParser::end_of_head(const Line& blank_line) {
  if (status_ < 200) {
    // An interim response (100 Continue, 103 Early Hints): forget it, read the next status line.
    // Its bytes still count against the header limits, so a stream of them stays bounded.
    interim_skipped_ = true;
    reset_head();
    stage_ = Stage::status_line;
    return false;
  }
  has_headers_ = true;
  if (declared_length_ && transfer_encoding_chunked_) {
    fail("both Content-Length and Transfer-Encoding in one response", blank_line.offset);
  }
  if (head_request_ || status_ == 204 || status_ == 304) {
    framing_ = BodyFraming::none;
    stage_ = Stage::complete;
  } else if (transfer_encoding_chunked_) {
    framing_ = BodyFraming::chunked;
    stage_ = Stage::chunk_size_line;
  } else if (declared_length_ && *declared_length_ == 0) {
    framing_ = BodyFraming::none;
    stage_ = Stage::complete;
  } else if (declared_length_) {
    if (*declared_length_ > limits_.max_body_bytes) {
      fail_limit("Content-Length " + std::to_string(*declared_length_) +
                     " exceeds max_body_bytes (" + std::to_string(limits_.max_body_bytes) + ")",
                 blank_line.offset);
    }
    framing_ = BodyFraming::content_length;
    remaining_ = *declared_length_;
    stage_ = Stage::content_length_body;
  } else {
    framing_ = BodyFraming::until_close;
    stage_ = Stage::until_close_body;
  }
  return true;
}

void ResponseParser::parse_chunk_size_line(const Line& line) {
  // chunk-size [ BWS ";" chunk-ext ] CRLF; extensions are checked for control bytes, then ignored.
  const std::string_view text = line.text;
  std::size_t i = 0;
  std::uint64_t size = 0;
  for (; i < text.size() && hex_value(text[i]) >= 0; ++i) {
    if (size > (std::numeric_limits<std::uint64_t>::max() >> 4)) {
      fail("chunk size overflows 64 bits:", line.offset, text);
    }
    size = (size << 4) | static_cast<std::uint64_t>(hex_value(text[i]));
  }
  std::size_t extension = i;
  while (extension < text.size() && detail::is_ows(text[extension]))
    ++extension;
  const bool valid = i > 0 && (extension == text.size() ? extension == i : text[extension] == ';');
  if (!valid) fail("invalid chunk size", line.offset, text);
  for (std::size_t k = extension; k < text.size(); ++k) {
    if (detail::is_forbidden_control(text[k])) {
      fail("control character in a chunk extension", line.offset + k, text);
    }
  }
  ++chunk_index_;
  chunk_size_ = size;
  remaining_ = size;
  stage_ = size == 0 ? Stage::trailer_lines : Stage::chunk_data;
}

void ResponseParser::check_body_limit(std::uint64_t arriving) {
  if (arriving > limits_.max_body_bytes - body_bytes_) {
    fail_limit("body exceeds max_body_bytes (" + std::to_string(limits_.max_body_bytes) + ")",
               offset_ + (limits_.max_body_bytes - body_bytes_));
  }
}

ParseStep ResponseParser::finish() {
  const std::string at = " at byte " + std::to_string(offset_);
  switch (stage_) {
    case Stage::until_close_body:
      stage_ = Stage::complete;
      [[fallthrough]];
    case Stage::complete:
      return {ParseEvent::complete, 0};
    case Stage::failed:
      throw std::logic_error("ResponseParser::finish() after an error: call start() first");
    case Stage::status_line:
      if (offset_ == 0) fail_closed("connection closed before any response byte");
      if (line_.empty()) {
        fail_closed(
            "connection closed before the status line of the final response (after a "
            "1xx response)" +
            at);
      }
      fail_closed("connection closed inside the status line " + detail::quote_excerpt(line_) + at);
    case Stage::header_lines:
      fail_closed("connection closed inside the headers" + at);
    case Stage::content_length_body:
      fail_closed("connection closed after " + std::to_string(body_bytes_) + " of " +
                  std::to_string(*declared_length_) + " body bytes" + at);
    case Stage::chunk_size_line:
      fail_closed("connection closed inside the size line of chunk " +
                  std::to_string(chunk_index_ + 1) + at);
    case Stage::chunk_data:
      fail_closed("connection closed inside chunk " + std::to_string(chunk_index_) + " (after " +
                  std::to_string(chunk_size_ - remaining_) + " of " + std::to_string(chunk_size_) +
                  " bytes)" + at);
    case Stage::chunk_data_cr:
    case Stage::chunk_data_lf:
      fail_closed("connection closed after the data of chunk " + std::to_string(chunk_index_) +
                  ", before its CRLF" + at);
    case Stage::trailer_lines:
      fail_closed("connection closed inside the trailers" + at);
  }
  fail_closed("connection closed" + at);
}

bool ResponseParser::is_complete() const noexcept {
  return stage_ == Stage::complete;
}

bool ResponseParser::has_headers() const noexcept {
  return has_headers_;
}

std::optional<std::uint64_t> ResponseParser::content_length() const noexcept {
  return has_headers_ ? declared_length_ : std::nullopt;
}

bool ResponseParser::keep_alive() const noexcept {
  if (!has_headers_ || framing_ == BodyFraming::until_close || connection_close_) return false;
  // HTTP/1.0 with Transfer-Encoding has faulty framing (RFC 9112 6.1): close after it.
  if (minor_version_ == 0) return connection_keep_alive_ && !transfer_encoding_chunked_;
  return true;
}

std::optional<unsigned> ResponseParser::keep_alive_timeout_seconds() const noexcept {
  return keep_alive_timeout_;
}

void ResponseParser::fail(const std::string& problem, std::uint64_t at, std::string_view excerpt) {
  fail(problem + " " + detail::quote_excerpt(excerpt), at);
}

void ResponseParser::fail(const std::string& problem, std::uint64_t at) {
  stage_ = Stage::failed;
  throw ProtocolError(problem + " at byte " + std::to_string(at));
}

void ResponseParser::fail_limit(const std::string& problem, std::uint64_t at) {
  stage_ = Stage::failed;
  throw LimitExceededError(problem + " at byte " + std::to_string(at));
}

void ResponseParser::fail_closed(const std::string& problem) {
  stage_ = Stage::failed;
  throw ProtocolError(problem);
}

}  // namespace ringloop::http
