// The HTTP client (ringloop::http::Client) against a real nginx on 127.0.0.1, both backends:
// bodies byte for byte (Content-Length, chunked, close-delimited), keep-alive reuse counted in
// nginx's access log, statuses as responses, timeouts that fire and ones that don't, redirects,
// the connection limit, nginx closing idle keep-alive connections while the client reuses them,
// and what cancelling or dropping a response does to its connection.

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <ringloop/http.hpp>

#include "support/loop_fixture.hpp"
#include "support/nginx.hpp"
#include "support/raw_http_server.hpp"

namespace ringloop::testing {
namespace {

using namespace std::chrono_literals;
using http::Client;
using http::ClientOptions;
using http::Response;

// One nginx for the whole file: starting it per test would dominate the run time. Tests that
// count connections in its access log compare counts before and after, or use their own paths.
class HttpClientTest : public LoopTest {
 protected:
  static void SetUpTestSuite() {
    if (!nginx_unavailable()) nginx_ = std::make_unique<NginxServer>();
  }
  static void TearDownTestSuite() { nginx_.reset(); }
  void SetUp() override {
    RINGLOOP_SKIP_WITHOUT_NGINX();
    LoopTest::SetUp();
  }
  static NginxServer& nginx() { return *nginx_; }

  static inline std::unique_ptr<NginxServer> nginx_;
};

struct Fetched {
  int status = 0;
  std::string body;
  bool complete_before_reading = false;
};

Task<Fetched> fetch(Client* client, std::string url) {
  Response response = co_await client->get(url);
  Fetched fetched;
  fetched.status = response.status();
  fetched.complete_before_reading = response.body_complete();
  fetched.body = co_await response.text();
  co_return fetched;
}

Task<std::vector<Fetched>> fetch_each(std::vector<std::string> urls, ClientOptions options) {
  Client client(options);
  std::vector<Fetched> results;
  for (const std::string& url : urls) {
    Fetched fetched = co_await fetch(&client, url);
    results.push_back(std::move(fetched));
  }
  co_return results;
}

TEST_P(HttpClientTest, BodiesOfEverySizeArriveByteForByteWithContentLengthAndChunked) {
  std::vector<std::string> urls;
  for (std::size_t size : nginx_body_sizes) {
    urls.push_back(nginx().url("/bytes/" + std::to_string(size)));
    urls.push_back(nginx().url("/chunked/" + std::to_string(size)));
    urls.push_back(nginx().url("/close/" + std::to_string(size)));
  }
  const std::vector<Fetched> results = run(fetch_each(urls, {}));
  ASSERT_EQ(results.size(), urls.size());
  for (std::size_t i = 0; i < urls.size(); ++i) {
    const std::size_t size = nginx_body_sizes[i / 3];
    EXPECT_EQ(results[i].status, 200) << urls[i];
    EXPECT_EQ(results[i].body.size(), size) << urls[i];
    EXPECT_TRUE(results[i].body == expected_body(size)) << urls[i] << ": body differs";
  }
}

Task<std::string> stream_in_chunks(std::string url, std::size_t* pieces) {
  Client client;
  Response response = co_await client.get(url);
  std::string body;
  for (;;) {
    const std::span<const char> chunk = co_await response.read_chunk();
    if (chunk.empty()) break;
    body.append(chunk.data(), chunk.size());
    ++*pieces;
  }
  EXPECT_TRUE(response.body_complete());
  co_return body;
}

TEST_P(HttpClientTest, A8MiBBodyStreamsInPiecesThatAddUpToIt) {
  for (const char* kind : {"/bytes/", "/chunked/"}) {
    std::size_t pieces = 0;
    const std::string body =
        run(stream_in_chunks(nginx().url(kind + std::to_string(8 * MiB)), &pieces));
    EXPECT_TRUE(body == expected_body(8 * MiB)) << kind;
    EXPECT_GT(pieces, 1u) << kind;
  }
}

Task<std::vector<std::uint64_t>> reuse_one_connection(std::string url, int count,
                                                      http::ClientStats* stats) {
  Client client;
  std::vector<std::uint64_t> reused;
  for (int i = 0; i < count; ++i) {
    Response response = co_await client.get(url);
    reused.push_back(response.reused_connection() ? 1 : 0);
    co_await response.discard();
  }
  *stats = client.stats();
  co_return reused;
}

TEST_P(HttpClientTest, KeepAliveCarriesEveryRequestOverOneConnection) {
  const std::string path = "/bytes/1023?keepalive-" + std::string(io::backend_name(GetParam()));
  http::ClientStats stats;
  const std::vector<std::uint64_t> reused =
      run(reuse_one_connection(nginx().url(path), 10, &stats));
  EXPECT_EQ(reused, (std::vector<std::uint64_t>{0, 1, 1, 1, 1, 1, 1, 1, 1, 1}));
  EXPECT_EQ(stats.connections_opened, 1u);
  EXPECT_EQ(stats.connections_reused, 9u);
  EXPECT_EQ(stats.idle_connections, 1u);
  // nginx saw the ten requests on one TCP connection, as its 1st to 10th request (it logs each
  // line once the response went out: poll until all ten are there).
  std::vector<AccessLogEntry> mine;
  for (int attempt = 0; attempt < 1000 && mine.size() < 10; ++attempt) {
    if (attempt > 0) std::this_thread::sleep_for(5ms);
    mine.clear();
    for (const AccessLogEntry& entry : nginx().access_log()) {
      if (entry.request.find(path) != std::string::npos) mine.push_back(entry);
    }
  }
  ASSERT_EQ(mine.size(), 10u);
  for (std::size_t i = 0; i < mine.size(); ++i) {
    EXPECT_EQ(mine[i].connection, mine[0].connection);
    EXPECT_EQ(mine[i].connection_requests, i + 1);
  }
}

TEST_P(HttpClientTest, ConnectionCloseResponsesAreNotPooled) {
  http::ClientStats stats;
  const std::vector<std::uint64_t> reused =
      run(reuse_one_connection(nginx().url("/close/1024"), 3, &stats));
  EXPECT_EQ(reused, (std::vector<std::uint64_t>{0, 0, 0}));
  EXPECT_EQ(stats.connections_opened, 3u);
  EXPECT_EQ(stats.idle_connections, 0u);
}

TEST_P(HttpClientTest, ErrorStatusesAreResponsesWithTheirBodies) {
  const std::vector<Fetched> results =
      run(fetch_each({nginx().url("/status/404"), nginx().url("/status/500")}, {}));
  EXPECT_EQ(results[0].status, 404);
  EXPECT_NE(results[0].body.find("404"), std::string::npos);
  EXPECT_EQ(results[1].status, 500);
  EXPECT_NE(results[1].body.find("500"), std::string::npos);
}

Task<std::pair<int, std::string>> head_request(std::string url) {
  Client client;
  Response response = co_await client.head(url);
  const bool complete = response.body_complete();
  std::string body = co_await response.text();
  const std::string length(response.headers().get("Content-Length").value_or("none"));
  // The HEAD response left its connection clean: a GET on it gets the real body.
  Response again = co_await client.get(url);
  std::string full = co_await again.text();
  EXPECT_TRUE(again.reused_connection());
  co_return std::pair<int, std::string>{response.status(), (complete ? "complete " : "open ") +
                                                               length + " [" + body + "] " +
                                                               std::to_string(full.size())};
}

TEST_P(HttpClientTest, HeadHasHeadersButNoBody) {
  const auto [status, summary] = run(head_request(nginx().url("/bytes/65536")));
  EXPECT_EQ(status, 200);
  EXPECT_EQ(summary, "complete 65536 [] 65536");
}

Task<std::string> fetch_with_timeouts(std::string url, http::Timeouts timeouts) {
  ClientOptions options;
  options.timeouts = timeouts;
  Client client(options);
  try {
    Response response = co_await client.get(url);
    std::string body = co_await response.text();
    co_return "ok: " + body;
  } catch (const TimeoutError& error) {
    co_return std::string("timeout: ") + error.what();
  }
}

TEST_P(HttpClientTest, TimeoutsFireOnlyWhenTheServerIsSlowerThanThem) {
  http::Timeouts generous;
  generous.first_byte = 5s;
  generous.total = 10s;
  EXPECT_EQ(run(fetch_with_timeouts(nginx().url("/delay/50ms"), generous)),
            "ok: " + std::string(delayed_body));

  http::Timeouts first_byte;
  first_byte.first_byte = 10ms;
  const std::string first = run(fetch_with_timeouts(nginx().url("/delay/1s"), first_byte));
  EXPECT_NE(
      first.find("timeout: GET " + nginx().url("/delay/1s") + ": first-byte timeout after 10"),
      std::string::npos)
      << first;

  http::Timeouts total;
  total.total = 20ms;
  const std::string whole = run(fetch_with_timeouts(nginx().url("/delay/1s"), total));
  EXPECT_NE(whole.find(": total timeout after 20"), std::string::npos) << whole;
}

Task<std::vector<std::string>> follow(std::vector<std::string> urls, bool enabled) {
  ClientOptions options;
  options.follow_redirects = enabled;
  options.max_redirects = 3;
  Client client(options);
  std::vector<std::string> outcomes;
  for (const std::string& url : urls) {
    try {
      Response response = co_await client.get(url);
      std::string body = co_await response.text();
      outcomes.push_back(std::to_string(response.status()) + " " + response.url().target + " " +
                         std::to_string(response.redirects()) + " " +
                         (body == expected_body(1024) ? "body ok" : "other body"));
    } catch (const http::RedirectError& error) {
      outcomes.push_back(std::string("RedirectError: ") + error.what());
    }
  }
  co_return outcomes;
}

TEST_P(HttpClientTest, RedirectsAreFollowedWhenAskedUpToTheLimit) {
  std::vector<std::string> urls;
  for (const char* status : {"301", "302", "303", "307", "308", "relative", "relative-path"})
    urls.push_back(nginx().url(std::string("/redirect/") + status));
  urls.push_back(nginx().url("/redirect/loop"));
  const std::vector<std::string> outcomes = run(follow(urls, true));
  for (std::size_t i = 0; i + 1 < outcomes.size(); ++i)
    EXPECT_EQ(outcomes[i], "200 /bytes/1024 1 body ok") << urls[i];
  EXPECT_NE(outcomes.back().find("more than 3 redirects"), std::string::npos) << outcomes.back();

  const std::vector<std::string> unfollowed = run(follow({nginx().url("/redirect/302")}, false));
  EXPECT_EQ(unfollowed.front(), "302 /redirect/302 0 other body");
}

Task<http::ClientStats> many_at_once(std::string url, int count, std::size_t limit,
                                     std::vector<std::string>* bodies) {
  ClientOptions options;
  options.max_connections = limit;
  Client client(options);
  std::vector<Task<Fetched>> requests;
  for (int i = 0; i < count; ++i)
    requests.push_back(fetch(&client, url));
  std::vector<Fetched> results = co_await gather(std::move(requests));
  for (Fetched& fetched : results)
    bodies->push_back(std::move(fetched.body));
  co_return client.stats();
}

TEST_P(HttpClientTest, ConcurrentRequestsShareAtMostTheConnectionLimit) {
  std::vector<std::string> bodies;
  const http::ClientStats stats = run(many_at_once(nginx().url("/delay/50ms"), 40, 4, &bodies));
  ASSERT_EQ(bodies.size(), 40u);
  for (const std::string& body : bodies)
    EXPECT_EQ(body, delayed_body);
  EXPECT_EQ(stats.connections_opened, 4u);
  EXPECT_EQ(stats.connections_reused, 36u);
  EXPECT_EQ(stats.waiting_requests, 0u);
  EXPECT_EQ(stats.idle_connections, 4u);
}

Task<std::vector<std::string>> reuse_after_server_closed_idle(std::string url) {
  ClientOptions options;
  options.idle_timeout = 30s;  // longer than nginx's 1 s here: nginx closes first
  Client client(options);
  std::vector<std::string> outcomes;
  for (int round = 0; round < 3; ++round) {
    Response response = co_await client.get(url);
    std::string body = co_await response.text();
    outcomes.push_back(std::to_string(response.status()) + " " + std::to_string(body.size()));
    co_await sleep(1500ms);  // nginx's keepalive_timeout 1s closes the idle connection
  }
  const http::ClientStats stats = client.stats();
  outcomes.push_back("opened " + std::to_string(stats.connections_opened) + " retries " +
                     std::to_string(stats.retries));
  co_return outcomes;
}

TEST_P(HttpClientTest, NginxClosingIdleKeepAliveConnectionsFailsNoRequest) {
  const std::vector<std::string> outcomes =
      run(reuse_after_server_closed_idle(nginx().short_keepalive_url("/bytes/1024")));
  EXPECT_EQ(outcomes,
            (std::vector<std::string>{"200 1024", "200 1024", "200 1024", "opened 3 retries 2"}));
}

Task<http::ClientStats> cancel_then_fetch(std::string slow, std::string fast, bool* timed_out) {
  Client client;
  try {
    Response response = co_await wait_for(client.get(slow), 30ms);
  } catch (const TimeoutError&) {
    *timed_out = true;
  }
  const http::ClientStats after_cancel = client.stats();
  EXPECT_EQ(after_cancel.active_connections, 0u);
  EXPECT_EQ(after_cancel.idle_connections, 0u);
  Fetched fetched = co_await fetch(&client, fast);
  EXPECT_EQ(fetched.status, 200);
  co_return client.stats();
}

TEST_P(HttpClientTest, ACancelledRequestClosesItsConnectionInsteadOfPoolingIt) {
  bool timed_out = false;
  const http::ClientStats stats =
      run(cancel_then_fetch(nginx().url("/delay/1s"), nginx().url("/bytes/1"), &timed_out));
  EXPECT_TRUE(timed_out);
  EXPECT_EQ(stats.connections_opened, 2u);
  EXPECT_EQ(stats.connections_reused, 0u);
}

Task<http::ClientStats> drop_unread_body(std::string url) {
  Client client;
  {
    Response response = co_await client.get(url);
    EXPECT_FALSE(response.body_complete());
  }  // dropped unread: its connection cannot carry another request
  EXPECT_EQ(client.stats().idle_connections, 0u);
  Fetched fetched = co_await fetch(&client, url);
  EXPECT_EQ(fetched.body.size(), 8 * MiB);
  co_return client.stats();
}

TEST_P(HttpClientTest, AResponseDroppedBeforeItsBodyEndsClosesItsConnection) {
  const http::ClientStats stats = run(drop_unread_body(nginx().url("/bytes/8388608")));
  EXPECT_EQ(stats.connections_opened, 2u);
  EXPECT_EQ(stats.idle_connections, 1u);
}

TEST_P(HttpClientTest, AHostNameIsResolvedOnTheOffloadPool) {
  // A name, not a numeric host: the connection goes through resolve() (open_connection tries each
  // address it gives in turn; test_server.cpp covers that part).
  const std::string url = "http://localhost:" + std::to_string(nginx().port()) + "/bytes/1024";
  const std::vector<Fetched> results = run(fetch_each({url}, {}));
  EXPECT_EQ(results[0].status, 200);
  EXPECT_TRUE(results[0].body == expected_body(1024));
}

// ---- idle connections leave the pool in time (a scripted server that keeps connections open) ----

using HttpPoolIdleTest = LoopTest;

Task<std::vector<std::size_t>> idle_then_closed(std::string keep_alive_header,
                                                std::chrono::milliseconds idle_timeout,
                                                std::chrono::milliseconds wait) {
  RawHttpServer server(
      RawScript().send(http_response(200, "hello", keep_alive_header)).read_to_end());
  ClientOptions options;
  options.idle_timeout = idle_timeout;
  std::vector<std::size_t> counts;
  {
    Client client(options);
    Fetched fetched = co_await fetch(&client, server.url("/"));
    EXPECT_EQ(fetched.body, "hello");
    counts.push_back(client.stats().idle_connections);
    co_await sleep(wait);
    counts.push_back(client.stats().idle_connections);
    co_await server.wait_for_client_closes(counts.back() == 0 ? 1 : 0);
    counts.push_back(server.client_closes());
  }
  co_await server.close();
  co_return counts;
}

TEST_P(HttpPoolIdleTest, AnIdleConnectionIsClosedAfterTheIdleTimeout) {
  // idle 1, then closed by the pool (the server saw the client close it).
  EXPECT_EQ(run(idle_then_closed("", 50ms, 300ms)), (std::vector<std::size_t>{1, 0, 1}));
}

TEST_P(HttpPoolIdleTest, TheServersKeepAliveTimeoutShortensTheIdleTimeout) {
  // Keep-Alive: timeout=1 (s) against a 30 s idle timeout: the pool lets go after half of it.
  EXPECT_EQ(run(idle_then_closed("Keep-Alive: timeout=1\r\n", 30s, 900ms)),
            (std::vector<std::size_t>{1, 0, 1}));
}

TEST_P(HttpPoolIdleTest, WithinTheIdleTimeoutTheConnectionStaysPooled) {
  EXPECT_EQ(run(idle_then_closed("", 30s, 20ms)), (std::vector<std::size_t>{1, 1, 0}));
}

Task<std::vector<std::size_t>> evict_for_another_origin() {
  RawHttpServer first(RawScript().send(http_response(200, "one")).read_to_end());
  RawHttpServer second(RawScript().send(http_response(200, "two")).read_to_end());
  ClientOptions options;
  options.max_connections = 1;
  options.idle_timeout = 60s;  // longer than test_deadline: only eviction can free the slot in time
  std::vector<std::size_t> counts;
  {
    Client client(options);
    Fetched one = co_await fetch(&client, first.url("/"));
    counts.push_back(client.stats().idle_connections);  // first's connection idles in the pool
    // The only slot is held by that idle connection: it gives way instead of the request waiting.
    Fetched two = co_await fetch(&client, second.url("/"));
    EXPECT_EQ(one.body + two.body, "onetwo");
    co_await first.wait_for_client_closes(1);
    counts.push_back(first.client_closes());
    counts.push_back(client.stats().idle_connections);
    counts.push_back(static_cast<std::size_t>(client.stats().connections_opened));
  }
  co_await first.close();
  co_await second.close();
  co_return counts;
}

TEST_P(HttpPoolIdleTest, AnIdleConnectionOfAnotherOriginGivesWayAtTheGlobalLimit) {
  // idle 1; first's connection closed by the client; second's idle; two connections in all.
  EXPECT_EQ(run(wait_for(evict_for_another_origin(), test_deadline)),
            (std::vector<std::size_t>{1, 1, 1, 2}));
}

RINGLOOP_ON_BOTH_BACKENDS(HttpClientTest);
RINGLOOP_ON_BOTH_BACKENDS(HttpPoolIdleTest);

}  // namespace
}  // namespace ringloop::testing
