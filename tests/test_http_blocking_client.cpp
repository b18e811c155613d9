// BlockingClient against a real nginx (tests/support/nginx.hpp) and, for what nginx never does,
// the scripted RawHttpServer (the client then runs on an offload() worker while the loop serves):
// bodies of 0 B to 8 MiB byte for byte (Content-Length and chunked), one connection for a run of
// keep-alive requests and one per request after "Connection: close", 404/500 as statuses,
// redirects followed (every code, relative Locations) and limited, timeouts naming their phase
// and URL, a refused connection naming the URL and "connect", a stale keep-alive connection
// replaced by a fresh one (nginx closing it while idle, and a server closing it as the request
// arrives), and a fresh connection that dies before the response is not retried. The fixture
// checks that no descriptor leaked. Every test runs on both backends (the loop serves the raw
// server; the nginx tests use it only for the leak check).

#include <cerrno>
#include <chrono>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include <ringloop/http.hpp>

#include "support/loop_fixture.hpp"
#include "support/nginx.hpp"
#include "support/raw_http_server.hpp"

namespace ringloop::testing {
namespace {

using namespace std::chrono_literals;
using http::BlockingClient;
using http::BlockingClientOptions;
using http::BlockingResponse;

class BlockingClientTest : public LoopTest {
 protected:
  void SetUp() override {
    LoopTest::SetUp();
    if (IsSkipped()) return;
    RINGLOOP_SKIP_WITHOUT_NGINX();
  }

  /// A port nobody listens on (bound, then closed again).
  static std::uint16_t refused_port() {
    sockaddr_in address{};
    Fd socket = bound_loopback_socket(address);
    return ntohs(address.sin_port);
  }
};

BlockingClientOptions following(unsigned max_redirects = 10) {
  BlockingClientOptions options;
  options.follow_redirects = true;
  options.max_redirects = max_redirects;
  return options;
}

TEST_P(BlockingClientTest, BodiesOfEverySizeArriveByteForByteWithLengthOrChunked) {
  NginxServer nginx;
  BlockingClient client;
  for (const std::size_t size : nginx_body_sizes) {
    for (const char* kind : {"/bytes/", "/chunked/"}) {
      SCOPED_TRACE(kind + std::to_string(size));
      const BlockingResponse response = client.get(nginx.url(kind + std::to_string(size)));
      EXPECT_EQ(response.status, 200);
      ASSERT_EQ(response.body.size(), size);
      EXPECT_TRUE(response.body == expected_body(size)) << "body differs";
    }
  }
}

TEST_P(BlockingClientTest, KeepAliveRequestsShareOneConnection) {
  NginxServer nginx;
  BlockingClient client;
  for (int i = 0; i < 5; ++i)
    EXPECT_EQ(client.get(nginx.url("/bytes/1024")).status, 200);
  const auto log = nginx.wait_for_access_log(5);
  ASSERT_EQ(log.size(), 5u);
  EXPECT_EQ(nginx.distinct_connections(), 1u);
  EXPECT_EQ(log.back().connection_requests, 5u);
}

TEST_P(BlockingClientTest, ConnectionCloseMeansANewConnectionPerRequest) {
  NginxServer nginx;
  BlockingClient client;
  for (int i = 0; i < 3; ++i) {
    const BlockingResponse response = client.get(nginx.url("/close/1024"));
    EXPECT_EQ(response.status, 200);
    EXPECT_TRUE(response.body == expected_body(1024));
  }
  ASSERT_EQ(nginx.wait_for_access_log(3).size(), 3u);
  EXPECT_EQ(nginx.distinct_connections(), 3u);
}

TEST_P(BlockingClientTest, ErrorStatusesAreResponsesNotExceptions) {
  NginxServer nginx;
  BlockingClient client;
  const BlockingResponse missing = client.get(nginx.url("/status/404"));
  EXPECT_EQ(missing.status, 404);
  EXPECT_FALSE(missing.body.empty());
  const BlockingResponse failed = client.get(nginx.url("/status/500"));
  EXPECT_EQ(failed.status, 500);
  // After the 500's "Connection: close" the next request needs (and gets) a new connection.
  EXPECT_EQ(client.get(nginx.url("/bytes/1")).status, 200);
}

TEST_P(BlockingClientTest, HeadHasNoBodyWhateverContentLengthSays) {
  NginxServer nginx;
  BlockingClient client;
  http::Request request;
  request.method = "HEAD";
  request.url = http::Url::parse(nginx.url("/bytes/65536"));
  const BlockingResponse response = client.send(request);
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.headers.get("Content-Length"), "65536");
  EXPECT_TRUE(response.body.empty());
  EXPECT_EQ(client.get(nginx.url("/bytes/1")).body, expected_body(1));  // same connection, in step
}

TEST_P(BlockingClientTest, RedirectsAreFollowedWhenAsked) {
  NginxServer nginx;
  BlockingClient client(following());
  for (const char* path : {"/redirect/301", "/redirect/302", "/redirect/303", "/redirect/307",
                           "/redirect/308", "/redirect/relative", "/redirect/relative-path"}) {
    SCOPED_TRACE(path);
    const BlockingResponse response = client.get(nginx.url(path));
    EXPECT_EQ(response.status, 200);
    EXPECT_EQ(response.url.target, "/bytes/1024");
    EXPECT_TRUE(response.body == expected_body(1024));
  }
}

TEST_P(BlockingClientTest, RedirectsAreReturnedWhenNotFollowed) {
  NginxServer nginx;
  BlockingClient client;
  const BlockingResponse response = client.get(nginx.url("/redirect/302"));
  EXPECT_EQ(response.status, 302);
  EXPECT_EQ(response.headers.get("Location"), nginx.url("/bytes/1024"));
}

TEST_P(BlockingClientTest, RedirectLoopStopsAtTheLimit) {
  NginxServer nginx;
  BlockingClient client(following(3));
  try {
    (void)client.get(nginx.url("/redirect/loop"));
    ADD_FAILURE() << "no RedirectError";
  } catch (const http::RedirectError& error) {
    EXPECT_NE(std::string(error.what()).find("more than 3 redirects"), std::string::npos)
        << error.what();
    EXPECT_NE(std::string(error.what()).find(nginx.url("/redirect/loop")), std::string::npos)
        << error.what();
  }
  EXPECT_EQ(nginx.wait_for_access_log(4).size(), 4u) << "the first request and 3 redirects";
}

void expect_timeout(BlockingClient& client, const std::string& url, const char* phase) {
  const auto start = std::chrono::steady_clock::now();
  try {
    (void)client.get(url);
    ADD_FAILURE() << "no TimeoutError";
  } catch (const TimeoutError& error) {
    const std::string message = error.what();
    EXPECT_NE(message.find(url), std::string::npos) << message;
    EXPECT_NE(message.find(phase), std::string::npos) << message;
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, 900ms) << "did not wait for the 1 s delay";
}

TEST_P(BlockingClientTest, TimeoutsNameTheirPhaseAndTheUrl) {
  NginxServer nginx;
  BlockingClientOptions total;
  total.timeouts.total = 100ms;
  BlockingClient total_client(total);
  expect_timeout(total_client, nginx.url("/delay/1s"), "total timeout");
  // The timed-out connection was closed: the next request opens a usable one.
  EXPECT_TRUE(total_client.get(nginx.url("/bytes/1024")).body == expected_body(1024));

  BlockingClientOptions first_byte;
  first_byte.timeouts.first_byte = 100ms;
  BlockingClient first_byte_client(first_byte);
  expect_timeout(first_byte_client, nginx.url("/delay/1s"), "first_byte timeout");

  BlockingClientOptions idle;
  idle.timeouts.idle_read = 100ms;
  BlockingClient idle_client(idle);
  expect_timeout(idle_client, nginx.url("/delay/1s"), "idle_read timeout");
}

TEST_P(BlockingClientTest, RefusedConnectionNamesTheUrlAndConnect) {
  BlockingClient client;
  const std::string url = "http://127.0.0.1:" + std::to_string(refused_port()) + "/";
  try {
    (void)client.get(url);
    ADD_FAILURE() << "no error";
  } catch (const std::system_error& error) {
    EXPECT_EQ(error.code().value(), ECONNREFUSED);
    EXPECT_EQ(std::string(error.what()).rfind(url + ": connect: ", 0), 0u) << error.what();
  }
}

TEST_P(BlockingClientTest, UnusableUrlsThrowUrlError) {
  BlockingClient client;
  EXPECT_THROW((void)client.get("https://127.0.0.1/"), http::UrlError);
  EXPECT_THROW((void)client.get("not a url"), http::UrlError);
}

TEST_P(BlockingClientTest, StaleKeepAliveConnectionIsReplaced) {
  NginxServer nginx;  // its short keep-alive server closes connections idle for 1 s
  BlockingClient client;
  EXPECT_EQ(client.get(nginx.short_keepalive_url("/bytes/1024")).status, 200);
  std::this_thread::sleep_for(1500ms);
  const BlockingResponse again = client.get(nginx.short_keepalive_url("/bytes/1024"));
  EXPECT_EQ(again.status, 200);
  EXPECT_TRUE(again.body == expected_body(1024));
  ASSERT_EQ(nginx.wait_for_access_log(2).size(), 2u);
  EXPECT_EQ(nginx.distinct_connections(), 2u);
}

// The race the idle check cannot see: the server closes the kept connection just as the next
// request arrives. The request goes again, once, on a fresh connection.
TEST_P(BlockingClientTest, ReusedConnectionClosedBeforeAnyResponseByteIsRetriedOnce) {
  run([]() -> Task<> {
    const std::string ok = http_response(200, "fresh");
    std::vector<RawScript> scripts;
    scripts.push_back(RawScript().send(ok).read_request().close());
    scripts.push_back(RawScript().serve_requests(1, ok));
    RawHttpServer server(std::move(scripts));
    const std::string url = server.url("/x");
    auto fetching = offload([url] {
      BlockingClient client;
      std::vector<BlockingResponse> responses;
      responses.push_back(client.get(url));
      responses.push_back(client.get(url));
      return responses;
    });
    std::vector<BlockingResponse> responses = co_await fetching;
    EXPECT_EQ(responses.at(0).body, "fresh");
    EXPECT_EQ(responses.at(1).body, "fresh");
    EXPECT_EQ(server.accepted_connections(), 2u);
    EXPECT_EQ(server.requests().size(), 3u);
    co_await server.close();
  }());
}

// A fresh connection that ends before the status line is the server's answer, not a race.
TEST_P(BlockingClientTest, FreshConnectionClosedBeforeTheResponseIsNotRetried) {
  run([]() -> Task<> {
    RawHttpServer server(RawScript().close());
    const std::string url = server.url("/x");
    auto fetching = offload([url] {
      BlockingClient client;
      try {
        (void)client.get(url);
      } catch (const http::ProtocolError& error) {
        return std::string(error.what());
      }
      return std::string("no ProtocolError");
    });
    const std::string message = co_await fetching;
    EXPECT_NE(message.find("closed before"), std::string::npos) << message;
    EXPECT_EQ(server.accepted_connections(), 1u);
    co_await server.close();
  }());
}

TEST_P(BlockingClientTest, TruncatedBodyIsAProtocolError) {
  run([]() -> Task<> {
    RawHttpServer server(
        RawScript().send("HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n0123456789").close());
    const std::string url = server.url("/x");
    auto fetching = offload([url] {
      BlockingClient client;
      try {
        (void)client.get(url);
      } catch (const http::ProtocolError& error) {
        return std::string(error.what());
      }
      return std::string("no ProtocolError");
    });
    const std::string message = co_await fetching;
    EXPECT_NE(message.find("10 of 20"), std::string::npos) << message;
    co_await server.close();
  }());
}

RINGLOOP_ON_BOTH_BACKENDS(BlockingClientTest);

}  // namespace
}  // namespace ringloop::testing
