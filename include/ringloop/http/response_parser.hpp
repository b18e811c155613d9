#pragma once
// ResponseParser: an incremental HTTP/1.1 response parser. It works on whatever bytes arrived so
// far (a response may come one byte at a time), copies only the status line and headers, and
// hands body bytes back as views into the caller's input.
//
// It is strict where request smuggling and response splitting live (RFC 9112): it rejects
// obs-fold header lines, a bare LF in a chunk-size line, Content-Length together with
// Transfer-Encoding, several or conflicting Content-Length values, chunk sizes that overflow,
// a status line that is not HTTP/1.x, control bytes in header fields. Bodies are framed by
// Content-Length, chunked coding (extensions ignored, trailers kept), or the end of the
// connection; HEAD, 1xx, 204 and 304 responses have none. 1xx responses are skipped.
//
//   ResponseParser parser;  parser.start(/*head_request=*/false);
//   for (;;) {
//     auto step = parser.feed(input);  input = input.subspan(step.consumed);
//     if (step.event == ParseEvent::need_more) { ...read more into input, or on EOF:
//                                                parser.finish(); ... }
//     if (step.event == ParseEvent::body) consume(step.body);
//     if (step.event == ParseEvent::complete) break;
//   }
//
// Errors: ProtocolError / LimitExceededError whose message gives the offset in the response and
// a short, escaped excerpt. After an error the parser must be start()ed again.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include <ringloop/http/headers.hpp>

namespace ringloop::http {

/// Limits that bound what a response may make the client store.
struct ParserLimits {
  /// Status line plus all header lines, CRLFs included (per response; the skipped 1xx responses
  /// before it and its trailers count too, so a server cannot make the client store more).
  std::size_t max_header_bytes = 64 * 1024;
  std::size_t max_header_count = 128;  ///< header fields (skipped 1xx's and trailers count too)
  std::uint64_t max_body_bytes = std::uint64_t{1} << 32;  ///< decoded body bytes (4 GiB)
};

/// What feed() stopped at.
enum class ParseEvent {
  need_more,         ///< every byte given was consumed; give more (or finish() at end of stream)
  headers_complete,  ///< status(), headers() and the framing are known
  body,              ///< step.body holds the next piece of the body
  complete,          ///< the response is complete (trailers, if any, in trailers())
};

/// How the body's end is known.
enum class BodyFraming {
  none,            ///< no body (HEAD, 1xx, 204, 304, or Content-Length: 0)
  content_length,  ///< exactly content_length() bytes
  chunked,         ///< Transfer-Encoding: chunked
  until_close,     ///< everything until the server closes (no framing headers, HTTP/1.0 style)
};

/// One step of parsing.
struct ParseStep {
  ParseEvent event = ParseEvent::need_more;
  std::size_t consumed = 0;         ///< bytes of the input this step used
  std::span<const char> body = {};  ///< for ParseEvent::body: a view into the input
};

/// Parses one response at a time; reusable across the responses of a keep-alive connection.
class ResponseParser {
 public:
  explicit ResponseParser(ParserLimits limits = {});

  /// Begins a new response to a request; `head_request` means the response has no body whatever
  /// its headers say.
  void start(bool head_request);
  /// Parses from the front of `input` until the next event. Throws ProtocolError or
  /// LimitExceededError. May return need_more with consumed < input.size() only when no further
  /// byte can be used before more arrive (never, in practice: it buffers partial lines itself).
  ParseStep feed(std::span<const char> input);
  /// The server closed the connection: completes an until_close body (returns complete), or
  /// throws ProtocolError saying what was cut short ("connection closed after 10 of 20 body
  /// bytes", "... before the status line", "... inside chunk 3").
  ParseStep finish();

  /// Whether the current response is complete.
  [[nodiscard]] bool is_complete() const noexcept;
  /// Whether headers_complete has been reached for the current response.
  [[nodiscard]] bool has_headers() const noexcept;
  /// Whether any byte of the current response has been fed since start(): a connection that
  /// closes with this false died before the server answered (a stale keep-alive connection).
  [[nodiscard]] bool received_any() const noexcept { return offset_ > 0; }

  /// The status code (100..999 as received; 1xx never seen here since they are skipped).
  [[nodiscard]] int status() const noexcept { return status_; }
  /// The reason phrase (may be empty).
  [[nodiscard]] const std::string& reason() const noexcept { return reason_; }
  /// 0 for HTTP/1.0, 1 for HTTP/1.1.
  [[nodiscard]] int minor_version() const noexcept { return minor_version_; }
  [[nodiscard]] const Headers& headers() const noexcept { return headers_; }
  /// Trailer fields of a chunked body (available at complete).
  [[nodiscard]] const Headers& trailers() const noexcept { return trailers_; }
  [[nodiscard]] BodyFraming framing() const noexcept { return framing_; }
  /// The declared Content-Length, once the headers are in (also for a HEAD, 204 or 304 response,
  /// whose framing is none whatever it declares).
  [[nodiscard]] std::optional<std::uint64_t> content_length() const noexcept;
  /// Body bytes delivered so far.
  [[nodiscard]] std::uint64_t body_bytes() const noexcept { return body_bytes_; }
  /// Whether the connection may carry another request after this response: HTTP/1.1 without
  /// "Connection: close", or HTTP/1.0 with "Connection: keep-alive", and a framed body.
  [[nodiscard]] bool keep_alive() const noexcept;
  /// The server's "Keep-Alive: timeout=N" in seconds, if it sent one.
  [[nodiscard]] std::optional<unsigned> keep_alive_timeout_seconds() const noexcept;

 private:
  // Implementation (http/response_parser.cpp).
  enum class Stage : std::uint8_t;
  struct Line {
    std::string_view text;  // without its CRLF
    std::uint64_t offset;   // of its first byte in the response
  };

  std::optional<Line> take_line(std::span<const char> input, std::size_t& position,
                                std::size_t max_length);
  void parse_status_line(const Line& line);
  void parse_field_line(const Line& line, Headers& into);
  void interpret_field(const Line& line, std::string_view name, std::string_view value);
  void reset_head();
  bool end_of_head(const Line& blank_line);
  void parse_chunk_size_line(const Line& line);
  void check_body_limit(std::uint64_t arriving);
  [[noreturn]] void fail(const std::string& problem, std::uint64_t at, std::string_view excerpt);
  [[noreturn]] void fail(const std::string& problem, std::uint64_t at);
  [[noreturn]] void fail_closed(const std::string& problem);
  [[noreturn]] void fail_limit(const std::string& problem, std::uint64_t at);

  ParserLimits limits_;
  Stage stage_{};
  bool head_request_ = false;
  bool has_headers_ = false;
  bool interim_skipped_ = false;  // a 1xx response came before this one
  int status_ = 0;
  int minor_version_ = 1;
  std::string reason_;
  Headers headers_;
  Headers trailers_;
  BodyFraming framing_ = BodyFraming::none;
  std::optional<std::uint64_t> declared_length_;
  bool transfer_encoding_chunked_ = false;
  std::uint64_t remaining_ = 0;  // in the current chunk, or of the Content-Length body
  std::uint64_t chunk_size_ = 0;
  std::uint64_t chunk_index_ = 0;
  std::uint64_t body_bytes_ = 0;
  std::uint64_t offset_ = 0;  // bytes of this response consumed, for messages
  std::size_t header_bytes_ = 0;
  std::size_t header_count_ = 0;
  std::string line_;  // a partial line carried over between feeds
  std::optional<unsigned> keep_alive_timeout_;
  bool connection_close_ = false;
  bool connection_keep_alive_ = false;
};

}  // namespace ringloop::http
