// ResponseParser without a loop. Every valid response is fed whole, split in two at every byte
// boundary and one byte at a time, and must give the same status, headers, body, trailers and
// leftover each way; every rejected one must fail with the same exception type and message each
// way. Covers the framings (Content-Length, chunked with extensions and trailers, until close,
// none for HEAD/204/304), skipped 1xx responses, keep-alive rules, two responses on one
// connection, every request-smuggling shape RFC 9112 warns about, every limit, and what finish()
// says about a connection cut short.

#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <typeinfo>
#include <utility>
#include <vector>

#include <ringloop/http/errors.hpp>
#include <ringloop/http/response_parser.hpp>

namespace ringloop::http {
namespace {

using Fields = std::vector<std::pair<std::string, std::string>>;

/// Everything a parse produced, comparable across the ways of feeding it.
struct Parsed {
  int status = 0;
  std::string reason;
  int minor_version = 0;
  Fields headers;
  Fields trailers;
  std::string body;
  BodyFraming framing = BodyFraming::none;
  std::optional<std::uint64_t> content_length;
  bool keep_alive = false;
  std::optional<unsigned> keep_alive_timeout;
  std::string leftover;  // input after the response: the next response's bytes
  bool operator==(const Parsed&) const = default;
};

Fields fields_of(const Headers& headers) {
  Fields fields;
  for (const Header& field : headers)
    fields.emplace_back(field.name, field.value);
  return fields;
}

/// Feeds `pieces` in order until the response completes (finish() after the last piece if it
/// has not), checking the step contract on the way.
Parsed parse_pieces(ResponseParser& parser, const std::vector<std::string_view>& pieces) {
  Parsed parsed;
  bool complete = false;
  for (const std::string_view piece : pieces) {
    std::span<const char> input(piece.data(), piece.size());
    while (!complete) {
      const ParseStep step = parser.feed(input);
      EXPECT_LE(step.consumed, input.size());
      if (step.event == ParseEvent::body) {
        EXPECT_FALSE(step.body.empty());
        // A view into the input, ending where the step's consumption does.
        EXPECT_EQ(step.body.data() + step.body.size(), input.data() + step.consumed);
        parsed.body.append(step.body.data(), step.body.size());
      }
      input = input.subspan(step.consumed);
      if (step.event == ParseEvent::complete) complete = true;
      if (step.event == ParseEvent::need_more) {
        EXPECT_TRUE(input.empty()) << "need_more left bytes unconsumed";
        break;
      }
    }
    if (complete) parsed.leftover.append(input.data(), input.size());
  }
  if (!complete) {
    EXPECT_EQ(parser.finish().event, ParseEvent::complete);
  }
  EXPECT_TRUE(parser.is_complete());
  EXPECT_EQ(parser.body_bytes(), parsed.body.size());
  parsed.status = parser.status();
  parsed.reason = parser.reason();
  parsed.minor_version = parser.minor_version();
  parsed.headers = fields_of(parser.headers());
  parsed.trailers = fields_of(parser.trailers());
  parsed.framing = parser.framing();
  parsed.content_length = parser.content_length();
  parsed.keep_alive = parser.keep_alive();
  parsed.keep_alive_timeout = parser.keep_alive_timeout_seconds();
  return parsed;
}

Parsed parse_pieces(const std::vector<std::string_view>& pieces, bool head_request,
                    ParserLimits limits) {
  ResponseParser parser(limits);
  parser.start(head_request);
  return parse_pieces(parser, pieces);
}

std::vector<std::string_view> bytes_of(std::string_view text) {
  std::vector<std::string_view> bytes;
  for (std::size_t i = 0; i < text.size(); ++i)
    bytes.push_back(text.substr(i, 1));
  return bytes;
}

/// Parses `text` whole, and checks every 2-way split and 1-byte-at-a-time feeding agree.
Parsed parse(std::string_view text, bool head_request = false, ParserLimits limits = {}) {
  const Parsed whole = parse_pieces({text}, head_request, limits);
  for (std::size_t split = 0; split <= text.size(); ++split) {
    EXPECT_EQ(parse_pieces({text.substr(0, split), text.substr(split)}, head_request, limits),
              whole)
        << "split at byte " << split;
  }
  EXPECT_EQ(parse_pieces(bytes_of(text), head_request, limits), whole) << "byte by byte";
  return whole;
}

/// Feeds `pieces` and returns the message of the exception; fails unless it is exactly `Error`.
template <class Error>
std::string failure_of(const std::vector<std::string_view>& pieces, bool head_request,
                       ParserLimits limits) {
  try {
    (void)parse_pieces(pieces, head_request, limits);
    ADD_FAILURE() << "accepted";
  } catch (const HttpError& error) {
    EXPECT_EQ(typeid(error), typeid(Error)) << error.what();
    return error.what();
  }
  return {};
}

/// The message `text` is rejected with, checked to be the same exception and message however
/// the text is split, and to contain `expected`.
template <class Error = ProtocolError>
std::string rejection(std::string_view text, std::string_view expected, bool head_request = false,
                      ParserLimits limits = {}) {
  const std::string whole = failure_of<Error>({text}, head_request, limits);
  EXPECT_NE(whole.find(expected), std::string::npos) << whole;
  for (std::size_t split = 0; split <= text.size(); ++split) {
    EXPECT_EQ(failure_of<Error>({text.substr(0, split), text.substr(split)}, head_request, limits),
              whole)
        << "split at byte " << split;
  }
  EXPECT_EQ(failure_of<Error>(bytes_of(text), head_request, limits), whole) << "byte by byte";
  return whole;
}

// ---- framing ---------------------------------------------------------------------------------

TEST(HttpResponseParser, content_length_body) {
  const Parsed parsed = parse(
      "HTTP/1.1 200 OK\r\nServer: nginx/1.24.0\r\nContent-Type: text/plain\r\n"
      "Content-Length: 5\r\n\r\nhello");
  EXPECT_EQ(parsed.status, 200);
  EXPECT_EQ(parsed.reason, "OK");
  EXPECT_EQ(parsed.minor_version, 1);
  EXPECT_EQ(parsed.headers, (Fields{{"Server", "nginx/1.24.0"},
                                    {"Content-Type", "text/plain"},
                                    {"Content-Length", "5"}}));
  EXPECT_EQ(parsed.body, "hello");
  EXPECT_EQ(parsed.framing, BodyFraming::content_length);
  EXPECT_EQ(parsed.content_length, 5u);
  EXPECT_TRUE(parsed.keep_alive);
}

TEST(HttpResponseParser, content_length_zero_has_no_body) {
  const Parsed parsed = parse("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(parsed.framing, BodyFraming::none);
  EXPECT_EQ(parsed.content_length, 0u);
  EXPECT_EQ(parsed.body, "");
  EXPECT_TRUE(parsed.keep_alive);
}

TEST(HttpResponseParser, large_body_comes_back_in_one_view_without_copying) {
  const std::string head = "HTTP/1.1 200 OK\r\nContent-Length: 4000000\r\n\r\n";
  const std::string response = head + std::string(4'000'000, 'x');
  ResponseParser parser;
  std::span<const char> input(response.data(), response.size());
  ParseStep step = parser.feed(input);
  ASSERT_EQ(step.event, ParseEvent::headers_complete);
  EXPECT_EQ(step.consumed, head.size());
  input = input.subspan(step.consumed);
  step = parser.feed(input);
  ASSERT_EQ(step.event, ParseEvent::body);
  EXPECT_EQ(step.body.data(), response.data() + head.size());
  EXPECT_EQ(step.body.size(), 4'000'000u);
  EXPECT_EQ(parser.feed(input.subspan(step.consumed)).event, ParseEvent::complete);
  EXPECT_EQ(parser.body_bytes(), 4'000'000u);
}

TEST(HttpResponseParser, chunked_with_extensions_and_trailers) {
  const Parsed parsed = parse(
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5;name=value\r\nhello\r\n"
      "1 ; a ; b=\"q\"\r\n \r\n"
      "A\r\n0123456789\r\n"
      "0\r\nExpires: never\r\nX-Checksum: abc\r\n\r\n");
  EXPECT_EQ(parsed.body, "hello 0123456789");
  EXPECT_EQ(parsed.framing, BodyFraming::chunked);
  EXPECT_EQ(parsed.trailers, (Fields{{"Expires", "never"}, {"X-Checksum", "abc"}}));
  EXPECT_FALSE(parsed.content_length.has_value());
  EXPECT_TRUE(parsed.keep_alive);
}

TEST(HttpResponseParser, chunked_sizes_are_hex_of_either_case_with_leading_zeros) {
  const std::string data(0x1aB, 'd');
  const Parsed parsed = parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n001aB\r\n" +
                              data + "\r\n0000\r\n\r\n");
  EXPECT_EQ(parsed.body, data);
  EXPECT_TRUE(parsed.trailers.empty());
}

TEST(HttpResponseParser, until_close_body_ends_at_finish) {
  const Parsed parsed = parse("HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\r\n<html>...");
  EXPECT_EQ(parsed.framing, BodyFraming::until_close);
  EXPECT_EQ(parsed.body, "<html>...");
  EXPECT_FALSE(parsed.keep_alive);
  const Parsed empty = parse("HTTP/1.1 200 OK\r\n\r\n");
  EXPECT_EQ(empty.framing, BodyFraming::until_close);
  EXPECT_FALSE(empty.keep_alive) << "until-close framing ends the connection";
}

TEST(HttpResponseParser, head_response_has_no_body_whatever_it_declares) {
  const Parsed parsed =
      parse("HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\nHTTP/1.1", /*head_request=*/true);
  EXPECT_EQ(parsed.framing, BodyFraming::none);
  EXPECT_EQ(parsed.content_length, 1234u);
  EXPECT_EQ(parsed.body, "");
  EXPECT_EQ(parsed.leftover, "HTTP/1.1");
  EXPECT_TRUE(parsed.keep_alive);
  EXPECT_EQ(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", true).framing,
            BodyFraming::none);
  EXPECT_EQ(parse("HTTP/1.1 200 OK\r\n\r\n", true).framing, BodyFraming::none);
}

TEST(HttpResponseParser, status_204_and_304_have_no_body) {
  const Parsed no_content = parse("HTTP/1.1 204 No Content\r\n\r\n");
  EXPECT_EQ(no_content.framing, BodyFraming::none);
  EXPECT_TRUE(no_content.keep_alive);
  const Parsed not_modified =
      parse("HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\nContent-Length: 99\r\n\r\nnext");
  EXPECT_EQ(not_modified.framing, BodyFraming::none);
  EXPECT_EQ(not_modified.leftover, "next");
  EXPECT_TRUE(not_modified.keep_alive);
}

TEST(HttpResponseParser, interim_responses_are_skipped) {
  const Parsed after_continue =
      parse("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  EXPECT_EQ(after_continue.status, 200);
  EXPECT_EQ(after_continue.body, "ok");
  EXPECT_EQ(after_continue.headers, (Fields{{"Content-Length", "2"}}));
  const Parsed after_hints = parse(
      "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\nConnection: close\r\n\r\n"
      "HTTP/1.1 103 Early Hints\r\nLink: </app.js>; rel=preload\r\n\r\n"
      "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(after_hints.status, 200);
  EXPECT_EQ(after_hints.headers, (Fields{{"Content-Length", "0"}}));
  EXPECT_TRUE(after_hints.keep_alive) << "the 103's Connection: close is not the response's";
}

TEST(HttpResponseParser, switching_protocols_is_refused) {
  rejection("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n",
            "101 Switching Protocols is not supported");
}

TEST(HttpResponseParser, reason_phrase_may_be_missing_or_empty) {
  EXPECT_EQ(parse("HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n").reason, "");
  EXPECT_EQ(parse("HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n").reason, "");
  const Parsed spaced = parse("HTTP/1.1 404 Not  Found\tHere\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(spaced.status, 404);
  EXPECT_EQ(spaced.reason, "Not  Found\tHere");
  EXPECT_EQ(parse("HTTP/1.1 599 \xc3\xa9\r\nContent-Length: 0\r\n\r\n").reason, "\xc3\xa9");
}

TEST(HttpResponseParser, header_values_lose_surrounding_whitespace_and_keep_tabs_inside) {
  const Parsed parsed = parse(
      "HTTP/1.1 200 OK\r\nX-A:  \t spaced\tout \t\r\nX-Empty:\r\nX-B:b\r\n"
      "Content-Length: 0\r\n\r\n");
  EXPECT_EQ(
      parsed.headers,
      (Fields{{"X-A", "spaced\tout"}, {"X-Empty", ""}, {"X-B", "b"}, {"Content-Length", "0"}}));
}

// ---- keep-alive ------------------------------------------------------------------------------

TEST(HttpResponseParser, keep_alive_rules_of_http_1_1_and_1_0) {
  EXPECT_TRUE(parse("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n").keep_alive);
  EXPECT_FALSE(
      parse("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n").keep_alive);
  EXPECT_FALSE(parse("HTTP/1.1 200 OK\r\nConnection: Upgrade, CLOSE\r\nContent-Length: 0\r\n\r\n")
                   .keep_alive);
  EXPECT_FALSE(parse("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n").keep_alive);
  EXPECT_TRUE(
      parse("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n").keep_alive);
  EXPECT_FALSE(parse("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked"
                     "\r\n\r\n0\r\n\r\n")
                   .keep_alive)
      << "HTTP/1.0 with Transfer-Encoding has faulty framing";
  EXPECT_EQ(parse("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n").minor_version, 0);
  EXPECT_EQ(parse("HTTP/1.9 200 OK\r\nContent-Length: 0\r\n\r\n").minor_version, 1);
}

TEST(HttpResponseParser, keep_alive_timeout_is_read_leniently) {
  const char* head = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nKeep-Alive: ";
  EXPECT_EQ(parse(std::string(head) + "timeout=5, max=100\r\n\r\n").keep_alive_timeout, 5u);
  EXPECT_EQ(parse(std::string(head) + "max=100, Timeout = 15\r\n\r\n").keep_alive_timeout, 15u);
  EXPECT_EQ(parse(std::string(head) + "timeout=\"7\"\r\n\r\n").keep_alive_timeout, 7u);
  for (const char* malformed : {"timeout=", "timeout=abc", "timeout=-1", "timeout=5s",
                                "timeout=99999999999999", "max=5", ""}) {
    EXPECT_FALSE(parse(std::string(head) + malformed + "\r\n\r\n").keep_alive_timeout.has_value())
        << malformed;
  }
  EXPECT_FALSE(parse("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n").keep_alive_timeout);
}

TEST(HttpResponseParser, two_responses_back_to_back_on_one_connection) {
  const std::string first = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\none";
  const std::string second =
      "HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3\r\ntwo\r\n0\r\n\r\n";
  const std::string both = first + second;
  ResponseParser parser;
  parser.start(false);
  const Parsed one = parse_pieces(parser, {both});
  EXPECT_EQ(one.body, "one");
  EXPECT_EQ(one.leftover, second);
  parser.start(false);
  EXPECT_FALSE(parser.received_any());
  EXPECT_FALSE(parser.has_headers());
  const Parsed two = parse_pieces(parser, {one.leftover});
  EXPECT_EQ(two.status, 404);
  EXPECT_EQ(two.body, "two");
  EXPECT_EQ(two.leftover, "");
  EXPECT_TRUE(parser.received_any());
}

TEST(HttpResponseParser, feeding_after_complete_consumes_nothing) {
  ResponseParser parser;
  const std::string text = "HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1";
  const ParseStep headers = parser.feed({text.data(), text.size()});
  EXPECT_EQ(headers.event, ParseEvent::headers_complete);
  EXPECT_TRUE(parser.has_headers());
  EXPECT_TRUE(parser.is_complete());
  const std::span<const char> rest(text.data() + headers.consumed, 8);
  EXPECT_EQ(parser.feed(rest).event, ParseEvent::complete);
  EXPECT_EQ(parser.feed(rest).consumed, 0u);
  EXPECT_EQ(parser.finish().event, ParseEvent::complete);
}

// ---- the end of the connection ---------------------------------------------------------------

TEST(HttpResponseParser, finish_before_any_byte_says_so) {
  ResponseParser parser;
  parser.start(false);
  EXPECT_FALSE(parser.received_any());
  EXPECT_EQ(parser.feed({}).event, ParseEvent::need_more);
  EXPECT_FALSE(parser.received_any());
  try {
    (void)parser.finish();
    ADD_FAILURE() << "finished";
  } catch (const ProtocolError& error) {
    EXPECT_EQ(std::string(error.what()), "connection closed before any response byte");
  }
}

TEST(HttpResponseParser, finish_says_what_was_cut_short) {
  rejection("H", "connection closed inside the status line \"H\" at byte 1");
  rejection("HTTP/1.1 100 Continue\r\n\r\n",
            "connection closed before the status line of the final response");
  rejection("HTTP/1.1 200 OK\r\nContent-Len", "connection closed inside the headers at byte 28");
  rejection("HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n0123456789",
            "connection closed after 10 of 20 body bytes");
  const std::string chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
  rejection(chunked, "connection closed inside the size line of chunk 1");
  rejection(chunked + "1\r\na\r\n2\r\nbb\r\n4\r\nc",
            "connection closed inside chunk 3 (after 1 of 4 bytes)");
  rejection(chunked + "1\r\na", "connection closed after the data of chunk 1, before its CRLF");
  rejection(chunked + "1\r\na\r", "connection closed after the data of chunk 1, before its CRLF");
  rejection(chunked + "1\r\na\r\n1", "connection closed inside the size line of chunk 2");
  rejection(chunked + "0\r\nX: y\r\n", "connection closed inside the trailers");
}

TEST(HttpResponseParser, received_any_turns_true_with_the_first_byte) {
  ResponseParser parser;
  parser.start(false);
  (void)parser.feed(std::span<const char>("H", 1));
  EXPECT_TRUE(parser.received_any());
}

// ---- request smuggling and malformed responses -----------------------------------------------

TEST(HttpResponseParser, rejects_obs_fold) {
  rejection("HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 0\r\n\r\n",
            "obs-fold (a header line starting with whitespace) is not allowed: \" b\" at byte 25");
  rejection("HTTP/1.1 200 OK\r\n\tX: b\r\n\r\n", "obs-fold");
  rejection("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: a\r\n b\r\n\r\n",
            "obs-fold");
}

TEST(HttpResponseParser, rejects_bare_lf_everywhere) {
  rejection("HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n",
            "bare LF (lines must end in CRLF) after \"HTTP/1.1 200 OK\" at byte 15");
  rejection("HTTP/1.1 200 OK\r\nContent-Length: 0\n\r\n", "bare LF (lines must end in CRLF)");
  rejection("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\n", "bare LF (lines must end in CRLF)");
  rejection("\n", "bare LF (lines must end in CRLF) after \"\" at byte 0");
  const std::string chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
  rejection(chunked + "5\nhello\r\n0\r\n\r\n", "bare LF (lines must end in CRLF) after \"5\"");
  rejection(chunked + "0\r\n\n", "bare LF");
  rejection(chunked + "0\r\nX: y\n\r\n", "bare LF");
}

TEST(HttpResponseParser, rejects_content_length_with_transfer_encoding) {
  rejection("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
            "both Content-Length and Transfer-Encoding in one response at byte 64");
  rejection("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
            "both Content-Length and Transfer-Encoding");
  rejection("HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
            "both Content-Length and Transfer-Encoding");
}

TEST(HttpResponseParser, rejects_several_content_lengths_even_equal_ones) {
  rejection("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
            "a second Content-Length field \"Content-Length: 5\" at byte 36");
  rejection("HTTP/1.1 200 OK\r\nContent-Length: 5\r\ncontent-length: 6\r\n\r\nhello",
            "a second Content-Length field");
  rejection("HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\nhello",
            "several Content-Length values in \"Content-Length: 5, 5\" at byte 17");
}

TEST(HttpResponseParser, rejects_content_length_that_is_not_digits) {
  for (const char* value : {"+5", "-1", "5a", "0x5", "", "5 5", "1e3", "\xef\xbc\x95"}) {
    rejection("HTTP/1.1 200 OK\r\nContent-Length: " + std::string(value) + "\r\n\r\n",
              "invalid Content-Length");
  }
  rejection("HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551616\r\n\r\n",
            "Content-Length out of range");
}

TEST(HttpResponseParser, rejects_bad_chunk_sizes) {
  const std::string chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
  EXPECT_EQ(rejection(chunked + "zz\r\n", "invalid chunk size"),
            "invalid chunk size \"zz\" at byte 47");
  rejection(chunked + "\r\n", "invalid chunk size \"\" at byte 47");
  rejection(chunked + "0x5\r\nhello\r\n0\r\n\r\n", "invalid chunk size \"0x5\"");
  rejection(chunked + "-5\r\n", "invalid chunk size");
  rejection(chunked + " 5\r\n", "invalid chunk size");
  rejection(chunked + "5 \r\n", "invalid chunk size");
  rejection(chunked + "5 x\r\n", "invalid chunk size");
  rejection(chunked + "10000000000000000\r\n",
            "chunk size overflows 64 bits: \"10000000000000000\" at byte 47");
  rejection(chunked + "5;a\x01\r\nhello\r\n", "control character in a chunk extension");
  // The largest size parses.
  rejection(chunked + "ffffffffffffffff\r\nx",
            "connection closed inside chunk 1 (after 1 of 18446744073709551615 bytes) at byte 66");
}

TEST(HttpResponseParser, rejects_chunk_data_without_its_crlf) {
  const std::string chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
  rejection(chunked + "5\r\nhelloX\r\n0\r\n\r\n",
            "missing CRLF after the data of chunk 1, found \"X\" at byte 55");
  rejection(chunked + "5\r\nhello\n0\r\n\r\n", "missing CRLF after the data of chunk 1");
  rejection(chunked + "5\r\nhello\rX", "missing CRLF after the data of chunk 1, found \"X\"");
  rejection(chunked + "3\r\nhello\r\n0\r\n\r\n", "missing CRLF after the data of chunk 1");
}

TEST(HttpResponseParser, rejects_transfer_codings_other_than_a_final_chunked) {
  rejection("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
            "Transfer-Encoding whose last coding is not chunked: \"Transfer-Encoding: gzip\"");
  rejection("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
            "last coding is not chunked");
  rejection("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n",
            "last coding is not chunked");
  rejection("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            "unsupported Transfer-Encoding");
  rejection("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
            "unsupported Transfer-Encoding");
  rejection("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
            "unsupported Transfer-Encoding");
  rejection("HTTP/1.1 200 OK\r\nTransfer-Encoding: \r\n\r\n", "empty Transfer-Encoding");
  rejection("HTTP/1.1 200 OK\r\nTransfer-Encoding: xchunked\r\n\r\n", "not chunked");
}

TEST(HttpResponseParser, rejects_malformed_status_lines) {
  for (const char* line :
       {"HTTP/2 200 OK", "HTTP/2.0 200 OK", "http/1.1 200 OK", "HTTP/1.1  200 OK", "HTTP/1.1 20 OK",
        "HTTP/1.1 2000 OK", "HTTP/1.1 099 Low", "HTTP/1.1 20x OK", "ICY 200 OK", "HTTP/1.x 200 OK",
        "HTTP/1.1\t200 OK", " HTTP/1.1 200 OK", "", "HTTP/1.1 200OK"}) {
    const std::string text = std::string(line) + "\r\nContent-Length: 0\r\n\r\n";
    rejection(text, "invalid status line (expected \"HTTP/1.x NNN reason\")");
  }
  rejection("HTTP/1.1 200 O\x01K\r\n\r\n", "control character in the status line");
  rejection("HTTP/1.1 200 OK\rX\r\n\r\n", "control character in the status line");
}

TEST(HttpResponseParser, rejects_bad_header_names) {
  rejection("HTTP/1.1 200 OK\r\nContent-Length : 5\r\n\r\nhello",
            "whitespace between the header name and the colon in \"Content-Length : 5\"");
  rejection("HTTP/1.1 200 OK\r\nContent-Length\t: 5\r\n\r\nhello", "whitespace between");
  rejection("HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n", "invalid header name in \"Bad Name: x\"");
  rejection("HTTP/1.1 200 OK\r\nBad(Name): x\r\n\r\n", "invalid header name");
  rejection("HTTP/1.1 200 OK\r\nN\xc3\xa9: x\r\n\r\n", "invalid header name");
  rejection("HTTP/1.1 200 OK\r\n: x\r\n\r\n", "header line with an empty name");
  rejection("HTTP/1.1 200 OK\r\nNoColon\r\n\r\n",
            "header line without a colon \"NoColon\" at byte 17");
}

TEST(HttpResponseParser, rejects_control_characters_in_values) {
  for (const std::string& value :
       {std::string("a\x01"), std::string("a\0b", 3), std::string("\x7f"), std::string("a\rb"),
        std::string("\x1b[31m")}) {
    rejection("HTTP/1.1 200 OK\r\nX-V: " + value + "\r\n\r\n",
              "control character in the header line");
  }
  rejection("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: \x01\r\n\r\n",
            "control character in the header line");
  EXPECT_EQ(
      parse("HTTP/1.1 200 OK\r\nX-V: \x80\xff\r\nContent-Length: 0\r\n\r\n").headers[0].second,
      "\x80\xff")
      << "obs-text is allowed";
}

TEST(HttpResponseParser, error_messages_escape_what_they_quote_and_cut_it_short) {
  EXPECT_EQ(rejection("HTTP/1.1 200 OK\r\nX" + std::string(100, 'y') + "\r\n\r\n", "colon"),
            "header line without a colon \"X" + std::string(39, 'y') + "...\" at byte 17");
  EXPECT_EQ(
      rejection("HTTP/1.1 200 \"\\\x01\xff\t\r\n\r\n", "control"),
      "control character in the status line \"HTTP/1.1 200 \\\"\\\\\\x01\\xff\\t\" at byte 15");
}

// ---- limits ----------------------------------------------------------------------------------

TEST(HttpResponseParser, header_bytes_limit_counts_status_line_headers_and_crlfs) {
  const std::string text = "HTTP/1.1 200 OK\r\nX-A: 0123456789\r\nContent-Length: 0\r\n\r\n";
  ParserLimits limits;
  limits.max_header_bytes = text.size();
  EXPECT_EQ(parse(text, false, limits).status, 200) << "exactly at the limit";
  limits.max_header_bytes = text.size() - 1;
  EXPECT_EQ(rejection<LimitExceededError>(text, "max_header_bytes", false, limits),
            "response header section exceeds max_header_bytes (54) at byte 54");
  limits.max_header_bytes = 10;
  rejection<LimitExceededError>("HTTP/1.1 200 OK and a very long line that never ends",
                                "response header section exceeds max_header_bytes (10) at byte 10",
                                false, limits);
}

TEST(HttpResponseParser, header_bytes_limit_counts_interim_responses_and_trailers_too) {
  const std::string interim = "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n";
  const std::string final = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
  ParserLimits limits;
  limits.max_header_bytes = interim.size() + final.size();
  EXPECT_EQ(parse(interim + final, false, limits).status, 200);
  limits.max_header_bytes = interim.size() + final.size() - 1;
  rejection<LimitExceededError>(interim + final, "max_header_bytes", false, limits);
  const std::string chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
  const std::string trailers = "0\r\nX-T: 1\r\n\r\n";
  limits.max_header_bytes = chunked.size() + trailers.size() - 3;  // "0\r\n" is not a header
  EXPECT_EQ(parse(chunked + trailers, false, limits).trailers, (Fields{{"X-T", "1"}}));
  limits.max_header_bytes -= 1;
  rejection<LimitExceededError>(chunked + trailers, "max_header_bytes", false, limits);
}

TEST(HttpResponseParser, header_count_limit_counts_headers_interim_and_trailers) {
  ParserLimits limits;
  limits.max_header_count = 2;
  EXPECT_EQ(parse("HTTP/1.1 200 OK\r\nA: 1\r\nContent-Length: 0\r\n\r\n", false, limits).status,
            200);
  EXPECT_EQ(rejection<LimitExceededError>("HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n",
                                          "max_header_count", false, limits),
            "more header fields than max_header_count (2) at byte 29");
  rejection<LimitExceededError>(
      "HTTP/1.1 103 Early Hints\r\nA: 1\r\nB: 2\r\n\r\n"
      "HTTP/1.1 200 OK\r\nC: 3\r\n\r\n",
      "max_header_count", false, limits);
  rejection<LimitExceededError>(
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
      "0\r\nA: 1\r\nB: 2\r\n\r\n",
      "max_header_count", false, limits);
}

TEST(HttpResponseParser, body_limit_for_each_framing) {
  ParserLimits limits;
  limits.max_body_bytes = 5;
  EXPECT_EQ(parse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", false, limits).body,
            "hello");
  EXPECT_EQ(rejection<LimitExceededError>("HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nhello!",
                                          "max_body_bytes", false, limits),
            "Content-Length 6 exceeds max_body_bytes (5) at byte 36");
  EXPECT_EQ(parse("HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\n", true, limits).content_length, 6u)
      << "a HEAD response declares a length it does not send";
  EXPECT_EQ(parse("HTTP/1.0 200 OK\r\n\r\nhello", false, limits).body, "hello");
  EXPECT_EQ(rejection<LimitExceededError>("HTTP/1.0 200 OK\r\n\r\nhello!", "max_body_bytes", false,
                                          limits),
            "body exceeds max_body_bytes (5) at byte 24");
  const std::string chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
  EXPECT_EQ(parse(chunked + "2\r\nhe\r\n3\r\nllo\r\n0\r\n\r\n", false, limits).body, "hello");
  EXPECT_EQ(rejection<LimitExceededError>(chunked + "2\r\nhe\r\n4\r\nllo!\r\n0\r\n\r\n",
                                          "max_body_bytes", false, limits),
            "body exceeds max_body_bytes (5) at byte 60");
}

TEST(HttpResponseParser, chunk_size_lines_are_bounded) {
  const std::string chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
  EXPECT_EQ(parse(chunked + "1;" + std::string(4000, 'e') + "\r\nx\r\n0\r\n\r\n").body, "x");
  rejection<LimitExceededError>(chunked + "1;" + std::string(5000, 'e'),
                                "chunk-size line longer than 4096 bytes");
}

// ---- misuse ----------------------------------------------------------------------------------

TEST(HttpResponseParser, must_be_started_again_after_an_error) {
  ResponseParser parser;
  const std::string bad = "HTTP/9 200 OK\r\n";
  EXPECT_THROW((void)parser.feed({bad.data(), bad.size()}), ProtocolError);
  EXPECT_THROW((void)parser.feed({bad.data(), bad.size()}), std::logic_error);
  EXPECT_THROW((void)parser.finish(), std::logic_error);
  parser.start(false);
  const Parsed parsed = parse_pieces(parser, {"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx"});
  EXPECT_EQ(parsed.body, "x");
}

}  // namespace
}  // namespace ringloop::http
