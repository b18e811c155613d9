// libFuzzer target for ResponseParser (scripts/fuzz.sh builds and runs it; the corpus replay
// test runs it on the seed corpus under every build).
//
// Input: byte 0 chooses the options (bit 0: a HEAD request, bit 1: small limits), byte 1 seeds
// the split points; the rest is a byte stream from a server, parsed as responses back to back.
// The stream is parsed whole, in pseudo-random pieces and byte by byte; the three must agree on
// every response (status, headers, body, trailers, framing, keep-alive) and on the error, if any.
// Only HttpError may escape the parser; any other exception, a crash, a sanitizer report or a
// broken invariant is a finding (abort()).

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <ringloop/http/errors.hpp>
#include <ringloop/http/response_parser.hpp>

namespace {

using namespace ringloop::http;

void check(bool condition, const char* what) {
  if (condition) return;
  std::fprintf(stderr, "response_parser_fuzzer: invariant broken: %s\n", what);
  std::abort();
}

struct Response {
  int status = 0;
  std::string reason;
  int minor_version = 0;
  std::vector<std::string> fields;  // headers, then "--", then trailers: name and value each
  std::string body;
  BodyFraming framing = BodyFraming::none;
  std::optional<std::uint64_t> content_length;
  bool keep_alive = false;
  std::optional<unsigned> keep_alive_timeout;
  bool operator==(const Response&) const = default;
};

struct Outcome {
  std::vector<Response> responses;
  std::optional<std::string> error;
  bool operator==(const Outcome&) const = default;
};

/// Piece sizes for one way of feeding: 0 means the whole rest at once.
class Splitter {
 public:
  explicit Splitter(std::uint32_t seed, std::size_t max_piece)
      : state_(seed | 1), max_(max_piece) {}
  std::size_t next() {
    if (max_ == 0) return SIZE_MAX;
    state_ ^= state_ << 13;
    state_ ^= state_ >> 17;
    state_ ^= state_ << 5;
    return 1 + state_ % max_;
  }

 private:
  std::uint32_t state_;
  std::size_t max_;
};

Response record(const ResponseParser& parser, std::string body) {
  check(parser.is_complete() && parser.has_headers(), "complete without headers");
  check(parser.body_bytes() == body.size(), "body_bytes() differs from the body delivered");
  if (parser.framing() == BodyFraming::content_length) {
    check(parser.content_length() == body.size(), "content_length body of the wrong length");
  }
  if (parser.framing() == BodyFraming::none) check(body.empty(), "a body without framing");
  if (parser.framing() == BodyFraming::until_close) check(!parser.keep_alive(), "until_close kept");
  check(parser.status() >= 200 && parser.status() <= 999, "status out of range");
  Response response{parser.status(),
                    parser.reason(),
                    parser.minor_version(),
                    {},
                    std::move(body),
                    parser.framing(),
                    parser.content_length(),
                    parser.keep_alive(),
                    parser.keep_alive_timeout_seconds()};
  for (const Header& field : parser.headers()) {
    response.fields.push_back(field.name);
    response.fields.push_back(field.value);
  }
  response.fields.emplace_back("--");
  for (const Header& field : parser.trailers()) {
    response.fields.push_back(field.name);
    response.fields.push_back(field.value);
  }
  return response;
}

Outcome run(std::string_view stream, Splitter splitter, bool head_request, ParserLimits limits) {
  Outcome outcome;
  ResponseParser parser(limits);
  parser.start(head_request);
  std::string body;
  try {
    std::size_t position = 0;
    while (position < stream.size()) {
      const std::size_t size = std::min(splitter.next(), stream.size() - position);
      std::span<const char> input(stream.data() + position, size);
      position += size;
      while (true) {
        const ParseStep step = parser.feed(input);
        check(step.consumed <= input.size(), "consumed more than given");
        if (step.event == ParseEvent::body) {
          check(!step.body.empty(), "an empty body piece");
          check(step.body.data() >= input.data() &&
                    step.body.data() + step.body.size() == input.data() + step.consumed,
                "a body piece outside the input");
          body.append(step.body.data(), step.body.size());
        } else {
          check(step.body.empty(), "a body span on a non-body event");
        }
        input = input.subspan(step.consumed);
        if (step.event == ParseEvent::complete) {
          outcome.responses.push_back(record(parser, std::move(body)));
          body.clear();
          parser.start(head_request);
          if (input.empty()) break;
        } else if (step.event == ParseEvent::need_more) {
          check(input.empty(), "need_more with bytes left");
          break;
        }
      }
    }
    // A stream that ends between responses ends cleanly; inside one, finish() decides.
    if (parser.received_any()) {
      check(parser.finish().event == ParseEvent::complete, "finish() returned no completion");
      outcome.responses.push_back(record(parser, std::move(body)));
    }
  } catch (const HttpError& error) {
    outcome.error = error.what();
  }
  return outcome;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const bool head_request = (data[0] & 1) != 0;
  ParserLimits limits;
  if ((data[0] & 2) != 0) limits = ParserLimits{256, 8, 64};
  const std::string_view stream(reinterpret_cast<const char*>(data) + 2, size - 2);

  const Outcome whole = run(stream, Splitter(0, 0), head_request, limits);
  const Outcome pieces =
      run(stream, Splitter(data[1] * 2654435761u, 1 + data[1] % 32), head_request, limits);
  check(pieces == whole, "fed in pieces, the stream parsed differently than whole");
  if (stream.size() <= 4096) {
    const Outcome bytes = run(stream, Splitter(1, 1), head_request, limits);
    check(bytes == whole, "fed byte by byte, the stream parsed differently than whole");
  }
  return 0;
}
