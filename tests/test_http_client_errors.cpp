// The HTTP client against servers that misbehave (RawHttpServer, both backends, 127.0.0.1):
// malformed and truncated responses, resets, silence, oversized responses, stale keep-alive
// connections, the pool's limits, bad URLs and redirects. Each failure must be an error of the
// right type naming what went wrong, leave no connection behind (nothing active, nothing idle),
// and leave the Client usable for the next request.

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <exception>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

#include <ringloop/http/client.hpp>
#include <ringloop/sockets/socket_errors.hpp>

#include "support/loop_fixture.hpp"
#include "support/raw_http_server.hpp"
#include "support/tcp.hpp"

namespace ringloop::testing {
namespace {

using namespace std::chrono_literals;
using http::Client;
using http::ClientOptions;
using http::ClientStats;
using http::Headers;
using http::Response;

// ---- helpers ----

/// How `task` ended: "ok" (plus ": <value>" for a string), or "<ErrorType>: <what()>" for the
/// most derived error type the client throws (std::system_error also gets its errno's name).
template <class T>
Task<std::string> outcome_of(Task<T> task) {
  std::string outcome;
  try {
    if constexpr (std::is_same_v<T, std::string>) {
      std::string value = co_await task;
      outcome = "ok: " + value;
    } else {
      co_await task;
      outcome = "ok";
    }
  } catch (const http::LimitExceededError& error) {
    outcome = std::string("LimitExceededError: ") + error.what();
  } catch (const http::ProtocolError& error) {
    outcome = std::string("ProtocolError: ") + error.what();
  } catch (const http::RedirectError& error) {
    outcome = std::string("RedirectError: ") + error.what();
  } catch (const http::UrlError& error) {
    outcome = std::string("UrlError: ") + error.what();
  } catch (const http::HttpError& error) {
    outcome = std::string("HttpError: ") + error.what();
  } catch (const TimeoutError& error) {
    outcome = std::string("TimeoutError: ") + error.what();
  } catch (const ResolveError& error) {
    outcome = std::string("ResolveError: ") + error.what();
  } catch (const std::system_error& error) {
    const char* name = error.code() == std::errc::connection_reset     ? "ECONNRESET"
                       : error.code() == std::errc::connection_refused ? "ECONNREFUSED"
                       : error.code() == std::errc::broken_pipe        ? "EPIPE"
                                                                       : "other errno";
    outcome = std::string("system_error ") + name + ": " + error.what();
  } catch (const std::exception& error) {
    outcome = std::string("other exception: ") + error.what();
  }
  co_return outcome;
}

/// outcome_of() for a spawned request the test cancels: "CancelledError" then.
Task<std::string> outcome_or_cancelled(Task<std::string> task) {
  std::string outcome = "CancelledError";
  try {
    outcome = co_await outcome_of(std::move(task));
  } catch (const CancelledError&) {
  }
  co_return outcome;
}

/// Expects `outcome` (from outcome_of) to be an error of `type` whose message holds `fragment`.
void expect_error(const std::string& outcome, std::string_view type, std::string_view fragment) {
  EXPECT_TRUE(outcome.starts_with(std::string(type) + ": "))
      << "expected " << type << ", got " << outcome;
  EXPECT_NE(outcome.find(fragment), std::string::npos)
      << "expected the message to hold \"" << fragment << "\": " << outcome;
}

/// GETs `url` and reads its whole body.
Task<std::string> fetch_text(Client* client, std::string url) {
  Response response = co_await client->get(std::move(url));
  std::string body = co_await response.text();
  co_return body;
}

/// HEADs `url`; gives the status and whether the (absent) body counts as complete.
Task<std::string> fetch_head(Client* client, std::string url) {
  Response response = co_await client->head(std::move(url));
  std::string body = co_await response.text();
  co_return std::to_string(response.status()) + (response.body_complete() ? " complete" : "") +
      " body=\"" + body + "\"";
}

/// Gets headers of `url` and then reads the body: the body read's outcome (the headers must
/// arrive fine; their failure is reported as "headers: <outcome>").
Task<std::string> body_outcome(Client* client, std::string url) {
  Response response = co_await client->get(std::move(url));
  std::string outcome = co_await outcome_of(response.text());
  co_return outcome;
}

void expect_no_connections(const Client& client, std::string_view when) {
  const ClientStats stats = client.stats();
  EXPECT_EQ(stats.active_connections, 0u) << when;
  EXPECT_EQ(stats.idle_connections, 0u) << when;
  EXPECT_EQ(stats.waiting_requests, 0u) << when;
}

/// The Client still works: a good request to a fresh server of its own.
Task<std::string> good_request(Client* client) {
  RawHttpServer good(RawScript().send(http_response(200, "good")));
  std::string outcome = co_await outcome_of(fetch_text(client, good.url("/good")));
  co_await good.close();
  co_return outcome;
}

Task<> expect_client_still_usable(Client* client) {
  const std::string outcome = co_await good_request(client);
  EXPECT_EQ(outcome, "ok: good") << "the client is not usable after the failure";
}

const std::string ok_response = http_response(200, "ok");

// ---- 1. malformed responses -> ProtocolError (table-driven) ----

struct MalformedCase {
  const char* name;
  const char* response;  ///< what the server sends (then it waits for the client to close)
  bool in_body;          ///< the headers are fine: the error comes from reading the body
  const char* message;   ///< a distinctive part of the ProtocolError's message
};

class MalformedResponseTest : public LoopCaseTest<MalformedCase> {};

Task<> malformed_response(MalformedCase c) {
  RawHttpServer server(RawScript().send(c.response).read_to_end());
  Client client;
  std::string outcome;
  if (c.in_body) {
    outcome = co_await outcome_of(body_outcome(&client, server.url("/bad")));
    // body_outcome gives the body's outcome as its value.
    if (outcome.starts_with("ok: ")) outcome = outcome.substr(4);
  } else {
    outcome = co_await outcome_of(client.get(server.url("/bad")));
  }
  expect_error(outcome, "ProtocolError", c.message);
  expect_error(outcome, "ProtocolError", "GET " + server.url("/bad") + ": ");
  co_await server.wait_for_client_closes(1);  // the client closed the connection
  expect_no_connections(client, "after the malformed response");
  EXPECT_EQ(client.stats().retries, 0u);
  co_await expect_client_still_usable(&client);
  co_await server.close();
}

TEST_P(MalformedResponseTest, IsAProtocolErrorAndClosesTheConnection) {
  run(wait_for(malformed_response(test_case()), test_deadline));
}

RINGLOOP_ON_BOTH_BACKENDS_FOR_EACH(
    MalformedResponseTest,
    MalformedCase{"ObsFold", "HTTP/1.1 200 OK\r\nX-A: 1\r\n  folded\r\nContent-Length: 0\r\n\r\n",
                  false, "obs-fold"},
    MalformedCase{"ContentLengthAndTransferEncoding",
                  "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
                  "0\r\n\r\n",
                  false, "both Content-Length and Transfer-Encoding"},
    MalformedCase{"DuplicateContentLength",
                  "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok", false,
                  "a second Content-Length field"},
    MalformedCase{"ConflictingContentLength", "HTTP/1.1 200 OK\r\nContent-Length: 2, 3\r\n\r\nok",
                  false, "several Content-Length values"},
    MalformedCase{"Http2StatusLine", "HTTP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n", false,
                  "invalid status line"},
    MalformedCase{"IcyStatusLine", "ICY 200 OK\r\nContent-Length: 0\r\n\r\n", false,
                  "invalid status line"},
    MalformedCase{"ChunkSizeOverflow",
                  "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                  "FFFFFFFFFFFFFFFFFFFF\r\nxx\r\n0\r\n\r\n",
                  true, "chunk size overflows 64 bits"},
    MalformedCase{"BareLfInChunkSizeLine",
                  "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\nok\r\n0\r\n\r\n", true,
                  "bare LF"},
    MalformedCase{"BareLfStatusLine", "HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n", false,
                  "bare LF"});

using HttpClientErrorsTest = LoopTest;

// ---- 2. truncated responses ----

Task<> truncated_content_length_body() {
  RawHttpServer server(
      RawScript().send("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789").close());
  Client client;
  const std::string outcome = co_await outcome_of(body_outcome(&client, server.url("/short")));
  expect_error(outcome, "ok: ProtocolError", "connection closed after 10 of 100 body bytes");
  expect_error(outcome, "ok: ProtocolError", "GET " + server.url("/short") + ": connection closed");
  expect_no_connections(client, "after the truncated body");
  co_await expect_client_still_usable(&client);
  co_await server.close();
}

TEST_P(HttpClientErrorsTest, TruncatedContentLengthBodyIsAProtocolErrorNamingTheCounts) {
  run(wait_for(truncated_content_length_body(), test_deadline));
}

Task<> truncated_chunked_body() {
  RawHttpServer server(RawScript()
                           .send("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                                 "a\r\n01234")
                           .close());
  Client client;
  const std::string outcome = co_await outcome_of(body_outcome(&client, server.url("/short")));
  expect_error(outcome, "ok: ProtocolError", "(after 5 of 10 bytes)");
  expect_no_connections(client, "after the truncated chunked body");
  co_await expect_client_still_usable(&client);
  co_await server.close();
}

TEST_P(HttpClientErrorsTest, TruncatedChunkedBodyIsAProtocolErrorNamingTheCounts) {
  run(wait_for(truncated_chunked_body(), test_deadline));
}

Task<> closed_before_status_line() {
  RawHttpServer server(RawScript().close());
  Client client;
  const std::string outcome = co_await outcome_of(client.get(server.url("/nothing")));
  expect_error(outcome, "ProtocolError", "connection closed before any response byte");
  expect_error(outcome, "ProtocolError", "GET " + server.url("/nothing") + ": ");
  const ClientStats stats = client.stats();
  EXPECT_EQ(stats.retries, 0u) << "a fresh connection is never retried";
  EXPECT_EQ(stats.connections_opened, 1u);
  EXPECT_EQ(server.accepted_connections(), 1u);
  expect_no_connections(client, "after the silent close");
  co_await expect_client_still_usable(&client);
  co_await server.close();
}

TEST_P(HttpClientErrorsTest, FreshConnectionClosedBeforeAnyByteIsAProtocolErrorWithoutRetry) {
  run(wait_for(closed_before_status_line(), test_deadline));
}

// ---- 3. reset in the middle of the body ----

Task<> reset_mid_body() {
  // The sleep lets the headers reach the client before the RST (the outcome is the same if not:
  // Linux keeps received bytes readable after a reset).
  RawHttpServer server(
      RawScript().send("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npart").sleep(20ms).reset());
  Client client;
  const std::string url = server.url("/reset");
  const std::string outcome = co_await outcome_of(body_outcome(&client, url));
  expect_error(outcome, "ok: system_error ECONNRESET", "GET " + url);
  expect_no_connections(client, "after the reset");
  co_await expect_client_still_usable(&client);
  co_await server.close();
}

TEST_P(HttpClientErrorsTest, ResetMidBodyIsEconnresetNamingTheRequest) {
  run(wait_for(reset_mid_body(), test_deadline));
}

// ---- 4. timeouts ----

Task<> first_byte_timeout() {
  RawHttpServer server(RawScript().read_to_end());  // never answers
  ClientOptions options;
  options.timeouts.first_byte = 50ms;
  Client client(options);
  const std::string url = server.url("/silent");
  const std::string outcome = co_await outcome_of(client.get(url));
  expect_error(outcome, "TimeoutError", "first-byte timeout");
  expect_error(outcome, "TimeoutError", "GET " + url);
  expect_no_connections(client, "after the first-byte timeout");
  co_await server.wait_for_client_closes(1);
  co_await expect_client_still_usable(&client);
  co_await server.close();
}

TEST_P(HttpClientErrorsTest, SilentServerGivesFirstByteTimeout) {
  run(wait_for(first_byte_timeout(), test_deadline));
}

Task<> total_timeout() {
  RawHttpServer server(RawScript().read_to_end());
  ClientOptions options;
  options.timeouts.total = 50ms;
  Client client(options);
  const std::string url = server.url("/silent");
  const std::string outcome = co_await outcome_of(client.get(url));
  expect_error(outcome, "TimeoutError", "total timeout");
  expect_error(outcome, "TimeoutError", "GET " + url);
  expect_no_connections(client, "after the total timeout");
  co_await server.wait_for_client_closes(1);
  co_await expect_client_still_usable(&client);
  co_await server.close();
}

TEST_P(HttpClientErrorsTest, SilentServerGivesTotalTimeout) {
  run(wait_for(total_timeout(), test_deadline));
}

Task<> idle_read_timeout() {
  RawHttpServer server(
      RawScript().send("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nsome").read_to_end());
  ClientOptions options;
  options.timeouts.idle_read = 50ms;
  Client client(options);
  const std::string url = server.url("/stalls");
  const std::string outcome = co_await outcome_of(body_outcome(&client, url));
  expect_error(outcome, "ok: TimeoutError", "idle-read timeout");
  expect_error(outcome, "ok: TimeoutError", "GET " + url);
  expect_no_connections(client, "after the idle-read timeout");
  co_await server.wait_for_client_closes(1);
  co_await expect_client_still_usable(&client);
  co_await server.close();
}

TEST_P(HttpClientErrorsTest, BodyThatStallsGivesIdleReadTimeoutFromText) {
  run(wait_for(idle_read_timeout(), test_deadline));
}

// ---- 5. limits ----

Task<> header_block_too_large() {
  RawHttpServer server(RawScript()
                           .send("HTTP/1.1 200 OK\r\nX-Big: " + std::string(2000, 'a') +
                                 "\r\nContent-Length: 0\r\n\r\n")
                           .read_to_end());
  ClientOptions options;
  options.limits.max_header_bytes = 1024;
  Client client(options);
  const std::string outcome = co_await outcome_of(client.get(server.url("/big")));
  expect_error(outcome, "LimitExceededError", "max_header_bytes");
  co_await server.wait_for_client_closes(1);
  expect_no_connections(client, "after the header limit");
  co_await expect_client_still_usable(&client);
  co_await server.close();
}

TEST_P(HttpClientErrorsTest, HeaderBlockOverMaxHeaderBytesIsLimitExceeded) {
  run(wait_for(header_block_too_large(), test_deadline));
}

Task<> too_many_headers() {
  std::string response = "HTTP/1.1 200 OK\r\n";
  for (int i = 0; i < 20; ++i)
    response += "X-H" + std::to_string(i) + ": v\r\n";
  response += "Content-Length: 0\r\n\r\n";
  RawHttpServer server(RawScript().send(response).read_to_end());
  ClientOptions options;
  options.limits.max_header_count = 8;
  Client client(options);
  const std::string outcome = co_await outcome_of(client.get(server.url("/many")));
  expect_error(outcome, "LimitExceededError", "max_header_count");
  expect_error(outcome, "LimitExceededError", "GET http://127.0.0.1:");
  co_await server.wait_for_client_closes(1);
  expect_no_connections(client, "after the header count limit");
  co_await expect_client_still_usable(&client);
  co_await server.close();
}

TEST_P(HttpClientErrorsTest, TooManyHeadersIsLimitExceeded) {
  run(wait_for(too_many_headers(), test_deadline));
}

Task<> declared_body_too_large() {
  RawHttpServer server(
      RawScript().send("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n").read_to_end());
  ClientOptions options;
  options.limits.max_body_bytes = 100;
  Client client(options);
  const std::string outcome = co_await outcome_of(client.get(server.url("/large")));
  expect_error(outcome, "LimitExceededError", "Content-Length 1000 exceeds max_body_bytes (100)");
  co_await server.wait_for_client_closes(1);
  expect_no_connections(client, "after the declared body limit");
  co_await expect_client_still_usable(&client);
  co_await server.close();
}

TEST_P(HttpClientErrorsTest, DeclaredContentLengthOverMaxBodyBytesIsLimitExceeded) {
  run(wait_for(declared_body_too_large(), test_deadline));
}

Task<> chunked_body_grows_too_large() {
  const std::string chunk = "3c\r\n" + std::string(60, 'x') + "\r\n";
  RawHttpServer server(RawScript()
                           .send("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk)
                           .sleep(5ms)
                           .send(chunk)
                           .sleep(5ms)
                           .send(chunk + "0\r\n\r\n")
                           .read_to_end());
  ClientOptions options;
  options.limits.max_body_bytes = 100;
  Client client(options);
  const std::string outcome = co_await outcome_of(body_outcome(&client, server.url("/grows")));
  expect_error(outcome, "ok: LimitExceededError", "body exceeds max_body_bytes (100)");
  co_await server.wait_for_client_closes(1);
  expect_no_connections(client, "after the chunked body limit");
  co_await expect_client_still_usable(&client);
  co_await server.close();
}

TEST_P(HttpClientErrorsTest, ChunkedBodyGrowingPastMaxBodyBytesIsLimitExceeded) {
  run(wait_for(chunked_body_grows_too_large(), test_deadline));
}

// ---- 6. the request's bytes ----

Task<> request_head_defaults() {
  RawHttpServer server(RawScript().send(ok_response));
  Client client;
  const std::string outcome = co_await outcome_of(fetch_text(&client, server.url("/path?q=1")));
  EXPECT_EQ(outcome, "ok: ok");
  const std::string host = "\r\nHost: 127.0.0.1:" + std::to_string(server.port()) + "\r\n";
  co_await server.close();
  EXPECT_EQ(server.requests().size(), 1u);
  if (server.requests().empty()) co_return;
  const std::string& head = server.requests()[0].head;
  EXPECT_TRUE(head.starts_with("GET /path?q=1 HTTP/1.1\r\n")) << head;
  EXPECT_NE(head.find(host), std::string::npos) << head;
  EXPECT_NE(head.find("\r\nUser-Agent: ringloop-http/0.1\r\n"), std::string::npos) << head;
  EXPECT_NE(head.find("\r\nAccept-Encoding: identity\r\n"), std::string::npos) << head;
  EXPECT_TRUE(head.ends_with("\r\n\r\n")) << head;
}

TEST_P(HttpClientErrorsTest, RequestHeadHasTargetHostUserAgentAndIdentityEncoding) {
  run(wait_for(request_head_defaults(), test_deadline));
}

/// Built outside the coroutine: g++ 12 miscompiles an initializer_list in a coroutine frame.
Headers custom_user_agent() {
  Headers headers;
  headers.add("User-Agent", "custom");
  return headers;
}

Task<> callers_header_replaces_default() {
  RawHttpServer server(RawScript().send(ok_response));
  Client client;
  Response response = co_await client.get(server.url("/ua"), custom_user_agent());
  const std::string body = co_await response.text();
  EXPECT_EQ(body, "ok");
  co_await server.close();
  EXPECT_EQ(server.requests().size(), 1u);
  if (server.requests().empty()) co_return;
  const std::string& head = server.requests()[0].head;
  EXPECT_NE(head.find("\r\nUser-Agent: custom\r\n"), std::string::npos) << head;
  EXPECT_EQ(head.find("ringloop-http"), std::string::npos) << head;
  EXPECT_EQ(head.find("User-Agent"), head.rfind("User-Agent")) << "one User-Agent: " << head;
}

TEST_P(HttpClientErrorsTest, CallersHeaderReplacesTheDefault) {
  run(wait_for(callers_header_replaces_default(), test_deadline));
}

Task<> head_has_no_body() {
  // The HEAD response declares a body it does not send; the next request on the same connection
  // must find the GET's response, not take it for the HEAD's body.
  RawHttpServer server(RawScript()
                           .send("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n")
                           .read_request()
                           .send(http_response(200, "after"))
                           .close());
  Client client;
  const std::string head = co_await outcome_of(fetch_head(&client, server.url("/h")));
  EXPECT_EQ(head, "ok: 200 complete body=\"\"");
  EXPECT_EQ(client.stats().idle_connections, 1u) << "a HEAD response is complete at its headers";
  const std::string get = co_await outcome_of(fetch_text(&client, server.url("/g")));
  EXPECT_EQ(get, "ok: after");
  co_await server.close();
  EXPECT_EQ(server.accepted_connections(), 1u);
  EXPECT_EQ(client.stats().connections_reused, 1u);
  EXPECT_EQ(server.requests().size(), 2u);
  if (server.requests().size() < 2) co_return;
  EXPECT_TRUE(server.requests()[0].head.starts_with("HEAD /h HTTP/1.1\r\n"))
      << server.requests()[0].head;
  EXPECT_TRUE(server.requests()[1].head.starts_with("GET /g HTTP/1.1\r\n"))
      << server.requests()[1].head;
  EXPECT_EQ(server.requests()[1].connection, 0u);
}

TEST_P(HttpClientErrorsTest, HeadSendsHeadAndItsDeclaredBodyIsNotRead) {
  run(wait_for(head_has_no_body(), test_deadline));
}

// ---- 7. stale keep-alive connections ----

Task<> stale_connection_retried(bool reset) {
  // Connection 0 answers one request with a keep-alive response, then closes (FIN or RST);
  // connection 1 answers normally.
  // (The reset waits for the second request, so that it cannot overtake the first response.)
  RawScript first = RawScript().send(http_response(200, "one"));
  if (reset) {
    first.read_request().reset();
  } else {
    first.close();
  }
  RawHttpServer server(std::vector<RawScript>{first, RawScript().send(http_response(200, "two"))});
  Client client;
  const std::string one = co_await outcome_of(fetch_text(&client, server.url("/1")));
  EXPECT_EQ(one, "ok: one");
  EXPECT_EQ(client.stats().idle_connections, 1u);
  const std::string two = co_await outcome_of(fetch_text(&client, server.url("/2")));
  EXPECT_EQ(two, "ok: two");
  const ClientStats stats = client.stats();
  EXPECT_EQ(stats.retries, 1u);
  EXPECT_EQ(stats.connections_opened, 2u);
  EXPECT_EQ(stats.active_connections, 0u);
  co_await server.close();
  EXPECT_EQ(server.accepted_connections(), 2u);
}

TEST_P(HttpClientErrorsTest, StaleKeepAliveConnectionClosedByFinIsRetriedOnce) {
  run(wait_for(stale_connection_retried(false), test_deadline));
}

TEST_P(HttpClientErrorsTest, StaleKeepAliveConnectionResetIsRetriedOnce) {
  run(wait_for(stale_connection_retried(true), test_deadline));
}

Task<> reused_connection_dies_after_some_bytes() {
  RawHttpServer server(std::vector<RawScript>{RawScript()
                                                  .send(http_response(200, "one"))
                                                  .read_request()
                                                  .send("HTTP/1.1 200 OK\r\nContent-Le")
                                                  .close(),
                                              RawScript().send(http_response(200, "fresh"))});
  Client client;
  const std::string one = co_await outcome_of(fetch_text(&client, server.url("/1")));
  EXPECT_EQ(one, "ok: one");
  const std::string two = co_await outcome_of(fetch_text(&client, server.url("/2")));
  expect_error(two, "ProtocolError", "connection closed inside the headers");
  ClientStats stats = client.stats();
  EXPECT_EQ(stats.retries, 0u) << "bytes of a response arrived: no retry";
  EXPECT_EQ(stats.connections_opened, 1u);
  expect_no_connections(client, "after the cut response");
  const std::string three = co_await outcome_of(fetch_text(&client, server.url("/3")));
  EXPECT_EQ(three, "ok: fresh");
  stats = client.stats();
  EXPECT_EQ(stats.connections_opened, 2u);
  co_await server.close();
  EXPECT_EQ(server.accepted_connections(), 2u);
}

TEST_P(HttpClientErrorsTest, ReusedConnectionThatSentSomeBytesBeforeDyingIsNotRetried) {
  run(wait_for(reused_connection_dies_after_some_bytes(), test_deadline));
}

Task<> every_idle_connection_stale() {
  // Two pooled connections that the server closed meanwhile: the retry must go to a fresh
  // connection, not to the other stale one.
  const RawScript answer_then_close =
      RawScript().sleep(5ms).send(http_response(200, "one")).close();
  RawHttpServer server(std::vector<RawScript>{answer_then_close, answer_then_close,
                                              RawScript().send(http_response(200, "fresh"))});
  Client client;
  TaskHandle<std::string> first =
      Loop::current().spawn(outcome_of(fetch_text(&client, server.url("/a"))));
  TaskHandle<std::string> second =
      Loop::current().spawn(outcome_of(fetch_text(&client, server.url("/b"))));
  const std::string first_outcome = co_await first;
  const std::string second_outcome = co_await second;
  EXPECT_EQ(first_outcome, "ok: one");
  EXPECT_EQ(second_outcome, "ok: one");
  EXPECT_EQ(client.stats().idle_connections, 2u);
  const std::string third = co_await outcome_of(fetch_text(&client, server.url("/c")));
  EXPECT_EQ(third, "ok: fresh");
  const ClientStats stats = client.stats();
  EXPECT_EQ(stats.retries, 1u);
  EXPECT_EQ(stats.connections_opened, 3u);
  EXPECT_EQ(stats.active_connections, 0u);
  co_await server.close();
}

TEST_P(HttpClientErrorsTest, RetryAfterAStaleConnectionGoesToAFreshOneNotAnotherStaleOne) {
  run(wait_for(every_idle_connection_stale(), test_deadline));
}

Task<> too_many_redirects() {
  RawHttpServer server(RawScript().serve_requests(
      3, "HTTP/1.1 302 Found\r\nLocation: /loop\r\nContent-Length: 0\r\n\r\n"));
  ClientOptions options;
  options.follow_redirects = true;
  options.max_redirects = 2;
  Client client(options);
  const std::string outcome = co_await outcome_of(client.get(server.url("/loop")));
  expect_error(outcome, "RedirectError", "more than 2 redirects");
  EXPECT_EQ(server.requests().size(), 3u);
  EXPECT_EQ(client.stats().active_connections, 0u);
  co_await expect_client_still_usable(&client);
  co_await server.close();
}

TEST_P(HttpClientErrorsTest, MoreRedirectsThanMaxRedirectsIsRedirectError) {
  run(wait_for(too_many_redirects(), test_deadline));
}

// ---- 8. connections that must not be pooled ----

Task<> response_destroyed_before_body() {
  RawHttpServer server(std::vector<RawScript>{
      RawScript().send("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789").read_to_end(),
      RawScript().send(http_response(200, "next"))});
  Client client;
  {
    Response response = co_await client.get(server.url("/unread"));
    EXPECT_EQ(response.status(), 200);
    EXPECT_FALSE(response.body_complete());
  }
  co_await server.wait_for_client_closes(1);
  expect_no_connections(client, "after the unread Response died");
  const std::string next = co_await outcome_of(fetch_text(&client, server.url("/next")));
  EXPECT_EQ(next, "ok: next");
  EXPECT_EQ(client.stats().connections_opened, 2u);
  EXPECT_EQ(client.stats().connections_reused, 0u);
  co_await server.close();
  EXPECT_EQ(server.accepted_connections(), 2u);
}

TEST_P(HttpClientErrorsTest, ResponseDestroyedBeforeItsBodyWasReadClosesItsConnection) {
  run(wait_for(response_destroyed_before_body(), test_deadline));
}

Task<> cancelled_request() {
  RawHttpServer server(std::vector<RawScript>{RawScript().read_to_end(),
                                              RawScript().send(http_response(200, "next"))});
  Client client;
  const std::string outcome = co_await outcome_of(wait_for(client.get(server.url("/held")), 50ms));
  EXPECT_TRUE(outcome.starts_with("TimeoutError")) << outcome;
  co_await server.wait_for_client_closes(1);
  expect_no_connections(client, "after the cancelled request");
  const std::string next = co_await outcome_of(fetch_text(&client, server.url("/next")));
  EXPECT_EQ(next, "ok: next");
  EXPECT_EQ(client.stats().connections_opened, 2u);
  co_await server.close();
}

TEST_P(HttpClientErrorsTest, CancelledRequestClosesItsConnection) {
  run(wait_for(cancelled_request(), test_deadline));
}

Task<> connection_close_not_pooled() {
  RawHttpServer server(std::vector<RawScript>{
      RawScript().send(http_response(200, "bye", "Connection: close\r\n")).read_to_end(),
      RawScript().send(http_response(200, "next"))});
  Client client;
  const std::string bye = co_await outcome_of(fetch_text(&client, server.url("/close")));
  EXPECT_EQ(bye, "ok: bye");
  co_await server.wait_for_client_closes(1);
  expect_no_connections(client, "after a Connection: close response");
  const std::string next = co_await outcome_of(fetch_text(&client, server.url("/next")));
  EXPECT_EQ(next, "ok: next");
  EXPECT_EQ(client.stats().connections_opened, 2u);
  co_await server.close();
}

TEST_P(HttpClientErrorsTest, ConnectionCloseResponseIsNotPooled) {
  run(wait_for(connection_close_not_pooled(), test_deadline));
}

Task<> http10_read_to_close() {
  const std::string body(3000, 'b');
  RawHttpServer server(RawScript()
                           .send("HTTP/1.0 200 OK\r\n\r\n" + body.substr(0, 1000))
                           .sleep(5ms)
                           .send(body.substr(1000))
                           .close());
  Client client;
  Response response = co_await client.get(server.url("/old"));
  EXPECT_EQ(response.status(), 200);
  const std::string text = co_await response.text();
  EXPECT_EQ(text.size(), body.size());
  EXPECT_TRUE(text == body);
  EXPECT_TRUE(response.body_complete());
  expect_no_connections(client, "after an HTTP/1.0 response read to its close");
  co_await expect_client_still_usable(&client);
  co_await server.close();
}

TEST_P(HttpClientErrorsTest, Http10ResponseWithoutLengthIsReadToCloseAndNotPooled) {
  run(wait_for(http10_read_to_close(), test_deadline));
}

// ---- 9. the pool's limits and its FIFO ----

Task<std::string> fetch_in_order(Client* client, std::string url, int index,
                                 std::vector<int>* order) {
  std::string body = co_await fetch_text(client, std::move(url));
  order->push_back(index);
  co_return body;
}

Task<> one_connection_serves_in_spawn_order() {
  RawScript script;
  for (int i = 0; i < 3; ++i) {
    if (i > 0) script.read_request();
    script.sleep(5ms).send(ok_response);
  }
  script.close();
  RawHttpServer server(script);
  ClientOptions options;
  options.max_connections = 1;
  Client client(options);
  std::vector<int> order;
  std::vector<TaskHandle<std::string>> requests;
  for (int i = 0; i < 3; ++i) {
    std::string path = "/";  // appended, not `"/" + string`: g++ 12 -O3 -Wrestrict false positive
    path += std::to_string(i);
    requests.push_back(
        Loop::current().spawn(outcome_of(fetch_in_order(&client, server.url(path), i, &order))));
  }
  for (int i = 0; i < 3; ++i) {
    const std::string outcome = co_await requests[static_cast<std::size_t>(i)];
    EXPECT_EQ(outcome, "ok: ok") << i;
  }
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2}));
  EXPECT_EQ(server.accepted_connections(), 1u);
  EXPECT_EQ(client.stats().connections_opened, 1u);
  EXPECT_EQ(client.stats().connections_reused, 2u);
  co_await server.close();
  for (std::size_t i = 0; i < server.requests().size(); ++i) {
    EXPECT_TRUE(server.requests()[i].head.starts_with("GET /" + std::to_string(i) + " "))
        << server.requests()[i].head;
  }
}

TEST_P(HttpClientErrorsTest, MaxConnectionsOneServesRequestsInSpawnOrderOverOneConnection) {
  run(wait_for(one_connection_serves_in_spawn_order(), test_deadline));
}

Task<> per_host_limit_lets_other_origins_progress() {
  // Origin A's first connection never answers (until cancelled); its second request waits for
  // the per-host slot. Origin B must still be served meanwhile.
  RawHttpServer a(std::vector<RawScript>{RawScript().read_to_end(), RawScript().send(ok_response)});
  RawHttpServer b(RawScript().sleep(5ms).send(http_response(200, "b")));
  ClientOptions options;
  options.max_connections = 2;
  options.max_connections_per_host = 1;
  Client client(options);
  TaskHandle<std::string> a1 =
      Loop::current().spawn(outcome_or_cancelled(fetch_text(&client, a.url("/a1"))));
  co_await a.wait_for_requests(1);
  TaskHandle<std::string> a2 = Loop::current().spawn(outcome_of(fetch_text(&client, a.url("/a2"))));
  co_await sleep(1ms);  // let a2 queue
  EXPECT_EQ(client.stats().waiting_requests, 1u);
  const std::string b1 = co_await outcome_of(wait_for(fetch_text(&client, b.url("/b1")), 5s));
  EXPECT_EQ(b1, "ok: b") << "origin B is blocked behind origin A's per-host limit";
  const std::string b2 = co_await outcome_of(wait_for(fetch_text(&client, b.url("/b2")), 5s));
  EXPECT_EQ(b2, "ok: b");
  EXPECT_FALSE(a2.done());
  a1.cancel();
  const std::string a1_outcome = co_await a1;
  EXPECT_EQ(a1_outcome, "CancelledError");
  const std::string a2_outcome = co_await a2;
  EXPECT_EQ(a2_outcome, "ok: ok");
  co_await a.close();
  co_await b.close();
  EXPECT_EQ(client.stats().waiting_requests, 0u);
  EXPECT_EQ(client.stats().active_connections, 0u);
}

TEST_P(HttpClientErrorsTest, PerHostLimitLetsTwoOriginsProgress) {
  run(wait_for(per_host_limit_lets_other_origins_progress(), test_deadline));
}

Task<> queued_request_cancelled() {
  RawHttpServer server(
      std::vector<RawScript>{RawScript().read_to_end(), RawScript().send(ok_response)});
  ClientOptions options;
  options.max_connections = 1;
  Client client(options);
  TaskHandle<std::string> holder =
      Loop::current().spawn(outcome_or_cancelled(fetch_text(&client, server.url("/holder"))));
  co_await server.wait_for_requests(1);
  const std::string queued =
      co_await outcome_of(wait_for(fetch_text(&client, server.url("/queued")), 50ms));
  EXPECT_TRUE(queued.starts_with("TimeoutError")) << queued;
  ClientStats stats = client.stats();
  EXPECT_EQ(stats.waiting_requests, 0u) << "the cancelled waiter left the queue";
  EXPECT_EQ(stats.active_connections, 1u);
  EXPECT_EQ(server.accepted_connections(), 1u);
  holder.cancel();
  const std::string holder_outcome = co_await holder;
  EXPECT_EQ(holder_outcome, "CancelledError");
  co_await server.wait_for_client_closes(1);
  const std::string next =
      co_await outcome_of(wait_for(fetch_text(&client, server.url("/next")), 5s));
  EXPECT_EQ(next, "ok: ok") << "the freed slot serves a new request";
  stats = client.stats();
  EXPECT_EQ(stats.waiting_requests, 0u);
  EXPECT_EQ(stats.active_connections, 0u);
  co_await server.close();
  EXPECT_EQ(server.accepted_connections(), 2u);
}

TEST_P(HttpClientErrorsTest, QueuedRequestCancelledLeavesTheQueueAndTheSlotServesTheNext) {
  run(wait_for(queued_request_cancelled(), test_deadline));
}

// ---- 10. bad URLs ----

Task<> bad_urls() {
  Client client;
  const std::string https = co_await outcome_of(client.get("https://127.0.0.1/"));
  expect_error(https, "UrlError", "TLS is not supported");
  const std::string ftp = co_await outcome_of(client.get("ftp://x/"));
  expect_error(ftp, "UrlError", "ftp");
  EXPECT_EQ(client.stats().connections_opened, 0u);
  const std::string refused = co_await outcome_of(client.get("http://127.0.0.1:1/"));
  expect_error(refused, "system_error ECONNREFUSED", "GET http://127.0.0.1:1/");
  expect_no_connections(client, "after the bad URLs");
  co_await expect_client_still_usable(&client);
}

TEST_P(HttpClientErrorsTest, HttpsAndFtpAreUrlErrorsAndARefusedPortIsEconnrefused) {
  run(wait_for(bad_urls(), test_deadline));
}

Task<> unresolvable_host() {
  Client client;
  const std::string outcome = co_await outcome_of(client.get("http://no-such-host.invalid/"));
  expect_error(outcome, "ResolveError", "no-such-host.invalid");
  expect_no_connections(client, "after the resolve failure");
  co_await expect_client_still_usable(&client);
}

TEST_P(HttpClientErrorsTest, UnresolvableHostIsResolveError) {
  run(wait_for(unresolvable_host(), test_deadline));
}

// ---- 11. redirects ----

Task<std::string> redirect_outcome(std::string response) {
  RawHttpServer server(RawScript().send(std::move(response)).read_to_end());
  ClientOptions options;
  options.follow_redirects = true;
  Client client(options);
  std::string outcome = co_await outcome_of(client.get(server.url("/from")));
  co_await server.wait_for_client_closes(1);
  expect_no_connections(client, "after the failed redirect");
  co_await expect_client_still_usable(&client);
  co_await server.close();
  co_return outcome;
}

TEST_P(HttpClientErrorsTest, RedirectWithoutLocationIsRedirectError) {
  const std::string outcome = run(wait_for(
      redirect_outcome("HTTP/1.1 302 Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"),
      test_deadline));
  expect_error(outcome, "RedirectError", "302 redirect without a Location header");
}

TEST_P(HttpClientErrorsTest, RedirectToHttpsIsUrlError) {
  const std::string outcome =
      run(wait_for(redirect_outcome("HTTP/1.1 302 Found\r\nLocation: https://127.0.0.1/x\r\n"
                                    "Content-Length: 0\r\nConnection: close\r\n\r\n"),
                   test_deadline));
  expect_error(outcome, "UrlError", "TLS is not supported");
}

Task<> see_other_after_head_keeps_head() {
  RawHttpServer server(
      RawScript()
          .send("HTTP/1.1 303 See Other\r\nLocation: /next\r\nContent-Length: 0\r\n\r\n")
          .read_request()
          .send("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n")
          .close());
  ClientOptions options;
  options.follow_redirects = true;
  Client client(options);
  Response response = co_await client.head(server.url("/from"));
  EXPECT_EQ(response.status(), 200);
  EXPECT_EQ(response.redirects(), 1u);
  EXPECT_TRUE(response.body_complete());
  EXPECT_EQ(response.url().target, "/next");
  co_await server.close();
  EXPECT_EQ(server.requests().size(), 2u);
  if (server.requests().size() < 2) co_return;
  EXPECT_TRUE(server.requests()[0].head.starts_with("HEAD /from ")) << server.requests()[0].head;
  EXPECT_TRUE(server.requests()[1].head.starts_with("HEAD /next ")) << server.requests()[1].head;
}

TEST_P(HttpClientErrorsTest, SeeOtherAfterHeadKeepsHead) {
  run(wait_for(see_other_after_head_keeps_head(), test_deadline));
}

http::Headers credentials() {
  http::Headers headers;
  headers.add("Authorization", "Bearer secret");
  headers.add("Cookie", "session=1");
  return headers;
}

Task<> credentials_stay_with_their_origin() {
  RawHttpServer other(RawScript().send(http_response(200, "there")).close());
  RawHttpServer same(
      RawScript()
          .send("HTTP/1.1 302 Found\r\nLocation: /second\r\nContent-Length: 0\r\n\r\n")
          .read_request()
          .send("HTTP/1.1 302 Found\r\nLocation: " + other.url("/third") +
                "\r\nContent-Length: 0\r\n\r\n")
          .read_to_end());
  ClientOptions options;
  options.follow_redirects = true;
  Client client(options);
  Response response = co_await client.get(same.url("/first"), credentials());
  const std::string body = co_await response.text();
  EXPECT_EQ(body, "there");
  EXPECT_EQ(response.redirects(), 2u);
  co_await other.close();
  co_await same.close();
  EXPECT_EQ(same.requests().size(), 2u);
  EXPECT_EQ(other.requests().size(), 1u);
  if (same.requests().size() < 2 || other.requests().empty()) co_return;
  // Same origin: sent again; another origin: dropped.
  EXPECT_EQ(same.requests()[1].header("Authorization").value_or("none"), "Bearer secret");
  EXPECT_EQ(same.requests()[1].header("Cookie").value_or("none"), "session=1");
  EXPECT_EQ(other.requests()[0].header("Authorization").value_or("none"), "none");
  EXPECT_EQ(other.requests()[0].header("Cookie").value_or("none"), "none");
}

TEST_P(HttpClientErrorsTest, ARedirectToAnotherOriginDropsCredentials) {
  run(wait_for(credentials_stay_with_their_origin(), test_deadline));
}

RINGLOOP_ON_BOTH_BACKENDS(HttpClientErrorsTest);

}  // namespace
}  // namespace ringloop::testing
