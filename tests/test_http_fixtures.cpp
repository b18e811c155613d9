// The HTTP client's test fixtures proven with plain sockets (the client itself is not used):
// NginxServer (support/nginx.hpp) serves what its header promises, with the framing it promises
// (Content-Length, chunked, Connection: close), its short keep-alive server closes idle
// connections, and its access log counts connections; RawHttpServer (support/raw_http_server.hpp)
// does what each scripted action says, on both backends.

#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "support/environment.hpp"
#include "support/loop_fixture.hpp"
#include "support/nginx.hpp"
#include "support/raw_http_server.hpp"
#include "support/tcp.hpp"

namespace ringloop::testing {
namespace {

using namespace std::chrono_literals;

// ---- a blocking HTTP/1.1 exchange over a plain socket (receive timeout 10 s: no test hangs) ----

struct RawResponse {
  std::string head;  // status line and header fields, up to and including "\r\n\r\n"
  std::string body;  // decoded (chunked) or as sent (Content-Length)
  int status = 0;
  [[nodiscard]] bool has_header(std::string_view line) const {
    return head.find("\r\n" + std::string(line) + "\r\n") != std::string::npos;
  }
  /// The value of header `name` (spelled as nginx spells it), or "".
  [[nodiscard]] std::string header(std::string_view name) const {
    const std::string key = "\r\n" + std::string(name) + ": ";
    const std::size_t at = head.find(key);
    if (at == std::string::npos) return "";
    const std::size_t start = at + key.size();
    return head.substr(start, head.find("\r\n", start) - start);
  }
};

class BlockingConnection {
 public:
  explicit BlockingConnection(std::uint16_t port)
      : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    if (fd_.get() < 0) fail_errno("socket");
    const timeval limit{10, 0};
    ::setsockopt(fd_.get(), SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
    ::setsockopt(fd_.get(), SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons(port);
    if (::connect(fd_.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
      fail_errno("connect");
    }
  }

  void send_all(std::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t sent = ::send(fd_.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (sent < 0) fail_errno("send");
      bytes.remove_prefix(static_cast<std::size_t>(sent));
    }
  }

  /// Sends a GET of `path` and reads its whole response (Content-Length or chunked).
  RawResponse get(std::string_view path) {
    send_all("GET " + std::string(path) + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    return read_response();
  }

  RawResponse read_response() {
    RawResponse response;
    response.head = take(find_or_read("\r\n\r\n") + 4);
    response.status = std::stoi(response.head.substr(9, 3));
    if (const std::string length = response.header("Content-Length"); !length.empty()) {
      response.body = take_exactly(std::stoul(length));
    } else if (response.has_header("Transfer-Encoding: chunked")) {
      response.body = read_chunked_body();
    }
    return response;
  }

  /// Whether the peer closes the connection (recv() gives 0) within `limit` with nothing sent.
  bool closed_by_peer_within(std::chrono::milliseconds limit) {
    if (!buffer_.empty()) return false;
    pollfd waiting{fd_.get(), POLLIN, 0};
    if (::poll(&waiting, 1, static_cast<int>(limit.count())) != 1) return false;
    char byte;
    return ::recv(fd_.get(), &byte, 1, 0) == 0;
  }

 private:
  std::string read_chunked_body() {
    std::string body;
    for (;;) {
      const std::string size_line = take(find_or_read("\r\n") + 2);
      const std::size_t size = std::stoul(size_line, nullptr, 16);
      if (size == 0) {
        if (take_exactly(2) != "\r\n") throw std::runtime_error("trailers after the last chunk");
        return body;
      }
      body += take_exactly(size);
      if (take_exactly(2) != "\r\n") throw std::runtime_error("chunk without its CRLF");
    }
  }

  /// Offset of `marker` in the buffer, reading more until it shows.
  std::size_t find_or_read(std::string_view marker) {
    for (;;) {
      if (const std::size_t at = buffer_.find(marker); at != std::string::npos) return at;
      read_more();
    }
  }

  std::string take_exactly(std::size_t size) {
    while (buffer_.size() < size)
      read_more();
    return take(size);
  }

  std::string take(std::size_t size) {
    std::string taken = buffer_.substr(0, size);
    buffer_.erase(0, size);
    return taken;
  }

  void read_more() {
    char chunk[64 * 1024];
    const ssize_t got = ::recv(fd_.get(), chunk, sizeof chunk, 0);
    if (got < 0) fail_errno("recv");
    if (got == 0) throw std::runtime_error("connection closed mid-response");
    buffer_.append(chunk, static_cast<std::size_t>(got));
  }

  Fd fd_;
  std::string buffer_;
};

// ---- NginxServer ----

class NginxFixtureTest : public ::testing::Test {
 protected:
  void SetUp() override {
    RINGLOOP_SKIP_WITHOUT_NGINX();
    leak_check_.start();
    nginx_ = std::make_unique<NginxServer>();
  }
  void TearDown() override {
    if (!leak_check_.started()) return;  // skipped
    nginx_.reset();
    leak_check_.expect_no_descriptor_leak();
  }
  NginxServer& nginx() { return *nginx_; }

 private:
  LeakCheck leak_check_;
  std::unique_ptr<NginxServer> nginx_;
};

TEST_F(NginxFixtureTest, BytesServesThePatternWithContentLengthForEverySizeOnOneConnection) {
  BlockingConnection connection(nginx().port());
  for (std::size_t size : nginx_body_sizes) {
    const RawResponse response = connection.get("/bytes/" + std::to_string(size));
    EXPECT_EQ(response.status, 200) << size;
    EXPECT_EQ(response.header("Content-Length"), std::to_string(size));
    EXPECT_FALSE(response.has_header("Transfer-Encoding: chunked"));
    EXPECT_EQ(response.header("Connection"), "keep-alive");
    EXPECT_EQ(first_pattern_mismatch(std::as_bytes(std::span(response.body))), SIZE_MAX) << size;
    EXPECT_EQ(response.body.size(), size);
  }
  EXPECT_EQ(nginx().wait_for_access_log(nginx_body_sizes.size()).size(), nginx_body_sizes.size());
  EXPECT_EQ(nginx().distinct_connections(), 1u);
}

TEST_F(NginxFixtureTest, OneMebibyteMatchesExpectedBody) {
  BlockingConnection connection(nginx().port());
  const RawResponse response = connection.get("/bytes/1048576");
  EXPECT_EQ(response.header("Content-Length"), "1048576");
  EXPECT_TRUE(response.body == expected_body(MiB));
}

TEST_F(NginxFixtureTest, ChunkedIsReallyChunkedAndDecodesToTheSameBytesForEverySize) {
  BlockingConnection connection(nginx().port());
  for (std::size_t size : nginx_body_sizes) {
    const RawResponse response = connection.get("/chunked/" + std::to_string(size));
    EXPECT_EQ(response.status, 200) << size;
    EXPECT_TRUE(response.has_header("Transfer-Encoding: chunked")) << response.head;
    EXPECT_EQ(response.header("Content-Length"), "") << size;
    EXPECT_TRUE(response.body == expected_body(size)) << size;
  }
}

TEST_F(NginxFixtureTest, CloseSendsConnectionCloseAndCloses) {
  BlockingConnection connection(nginx().port());
  const RawResponse response = connection.get("/close/1024");
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.header("Connection"), "close");
  EXPECT_TRUE(response.body == expected_body(1024));
  EXPECT_TRUE(connection.closed_by_peer_within(5s));
}

TEST_F(NginxFixtureTest, StatusEndpointsGive404And500) {
  BlockingConnection connection(nginx().port());
  EXPECT_EQ(connection.get("/status/404").status, 404);
  EXPECT_EQ(connection.get("/status/500").status, 500);
}

TEST_F(NginxFixtureTest, DelayEndpointAnswersAfterItsSleep) {
  BlockingConnection connection(nginx().port());
  const RawResponse response = connection.get("/delay/50ms");
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.body, delayed_body);
}

TEST_F(NginxFixtureTest, RedirectsNameTheirTargetsInLocation) {
  BlockingConnection connection(nginx().port());
  for (int code : {301, 302, 303, 307, 308}) {
    const RawResponse response = connection.get("/redirect/" + std::to_string(code));
    EXPECT_EQ(response.status, code);
    EXPECT_EQ(response.header("Location"), nginx().url("/bytes/1024"));
  }
  EXPECT_EQ(connection.get("/redirect/loop").header("Location"), nginx().url("/redirect/loop"));
  EXPECT_EQ(connection.get("/redirect/relative").header("Location"), "/bytes/1024");
  EXPECT_EQ(connection.get("/redirect/relative-path").header("Location"), "../bytes/1024");
}

TEST_F(NginxFixtureTest, PageIsOneKibibyteOfHtml) {
  BlockingConnection connection(nginx().port());
  const RawResponse response = connection.get("/page");
  EXPECT_EQ(response.header("Content-Type"), "text/html");
  EXPECT_EQ(response.header("Content-Length"), "1024");
  EXPECT_EQ(response.body, page_body());
}

TEST_F(NginxFixtureTest, ShortKeepaliveServerClosesAnIdleConnection) {
  BlockingConnection connection(nginx().short_keepalive_port());
  const RawResponse response = connection.get("/bytes/1");
  EXPECT_EQ(response.body, expected_body(1));
  EXPECT_EQ(response.header("Connection"), "keep-alive");
  EXPECT_TRUE(connection.closed_by_peer_within(5s)) << "keepalive_timeout is 1 s";
}

TEST_F(NginxFixtureTest, AccessLogCountsConnectionsAndTheirRequests) {
  {
    BlockingConnection first(nginx().port());
    BlockingConnection second(nginx().short_keepalive_port());
    for (int i = 0; i < 3; ++i)
      first.get("/bytes/1");
    second.get("/bytes/0");
  }
  const std::vector<AccessLogEntry> entries = nginx().wait_for_access_log(4);
  ASSERT_EQ(entries.size(), 4u);
  EXPECT_EQ(nginx().distinct_connections(), 2u);
  EXPECT_EQ(entries[0].request, "GET /bytes/1 HTTP/1.1");
  EXPECT_EQ(entries[0].status, 200);
  EXPECT_EQ(entries[0].server_port, nginx().port());
  EXPECT_EQ(entries[2].connection, entries[0].connection);
  EXPECT_EQ(entries[2].connection_requests, 3u);
  EXPECT_EQ(entries[3].server_port, nginx().short_keepalive_port());
  EXPECT_EQ(entries[3].connection_requests, 1u);
}

TEST(NginxServerLifetime, DestructionStopsNginxReapsItAndRemovesItsDirectory) {
  RINGLOOP_SKIP_WITHOUT_NGINX();
  pid_t pid = -1;
  std::string directory;
  {
    NginxServer nginx;
    pid = nginx.pid();
    directory = nginx.directory();
    EXPECT_EQ(::kill(pid, 0), 0);
  }
  EXPECT_EQ(::kill(pid, 0), -1) << "nginx still runs (or is a zombie)";
  EXPECT_EQ(errno, ESRCH);
  EXPECT_FALSE(std::filesystem::exists(directory));
}

TEST(NginxRequirement, CiOrRingloopRequireNginxTurnsTheSkipIntoAFailure) {
  {
    ScopedEnvironment ci("CI", nullptr);
    ScopedEnvironment require("RINGLOOP_REQUIRE_NGINX", nullptr);
    EXPECT_FALSE(nginx_required());
  }
  {
    ScopedEnvironment ci("CI", "true");
    ScopedEnvironment require("RINGLOOP_REQUIRE_NGINX", nullptr);
    EXPECT_TRUE(nginx_required());
  }
  {
    ScopedEnvironment ci("CI", nullptr);
    ScopedEnvironment require("RINGLOOP_REQUIRE_NGINX", "1");
    EXPECT_TRUE(nginx_required());
  }
}

// ---- RawHttpServer, on the loop (both backends), driven by TcpStream ----

using RawHttpServerTest = LoopTest;

const std::string request_head = "GET /x HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: test\r\n\r\n";

std::string text_of_bytes(const std::vector<std::byte>& bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

/// Connects to `server`, sends one request head, reads to the end of the stream.
Task<std::string> request_and_read_to_end(const RawHttpServer* server) {
  TcpStream stream = co_await TcpStream::connect(SocketAddress::loopback(server->port()));
  co_await stream.write_all(std::string_view(request_head));
  std::vector<std::byte> received;
  co_await read_to_end(&stream, &received);
  co_await stream.close();
  co_return text_of_bytes(received);
}

Task<std::string> send_then_close() {
  const std::string response = http_response(200, "hello", "X-Test: 1\r\n");
  RawHttpServer server(RawScript().send(response).close());
  std::string received = co_await request_and_read_to_end(&server);
  co_await server.close();
  EXPECT_EQ(server.accepted_connections(), 1u);
  EXPECT_EQ(server.requests().size(), 1u);
  if (!server.requests().empty()) {
    const RecordedRequest& request = server.requests()[0];
    EXPECT_EQ(request.head, request_head);
    EXPECT_EQ(request.request_line(), "GET /x HTTP/1.1");
    EXPECT_EQ(request.header("host"), "127.0.0.1");
    EXPECT_EQ(request.header("User-Agent"), "test");
    EXPECT_EQ(request.header("Accept-Encoding"), std::nullopt);
  }
  EXPECT_TRUE(server.connection_errors().empty());
  co_return received == response ? "same bytes" : "got: " + received;
}

TEST_P(RawHttpServerTest, RecordsTheRequestHeadSendsTheScriptedBytesThenCloses) {
  EXPECT_EQ(run(wait_for(send_then_close(), test_deadline)), "same bytes");
}

Task<std::string> sleep_then_send() {
  RawHttpServer server(RawScript().send("early ").sleep(20ms).send("late"));
  std::string received = co_await request_and_read_to_end(&server);
  co_await server.close();
  co_return received;
}

TEST_P(RawHttpServerTest, SleepsBetweenSendsAndClosesWhenTheScriptEnds) {
  EXPECT_EQ(run(wait_for(sleep_then_send(), test_deadline)), "early late");
}

Task<std::string> reset_after_partial() {
  RawHttpServer server(
      RawScript().send("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npart").reset());
  TcpStream stream = co_await TcpStream::connect(SocketAddress::loopback(server.port()));
  co_await stream.write_all(std::string_view(request_head));
  std::vector<std::byte> received;
  std::string outcome = "clean end of stream";
  try {
    co_await read_to_end(&stream, &received);
  } catch (const std::system_error& error) {
    outcome = error.code() == std::errc::connection_reset ? "reset" : error.what();
  }
  co_await stream.close();
  co_await server.close();
  const std::string text = text_of_bytes(received);
  EXPECT_TRUE(
      std::string_view("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npart").starts_with(text))
      << text;
  co_return outcome;
}

TEST_P(RawHttpServerTest, ResetGivesTheClientAConnectionReset) {
  EXPECT_EQ(run(wait_for(reset_after_partial(), test_deadline)), "reset");
}

Task<std::string> hold_never_answers() {
  RawHttpServer server(RawScript().hold());
  TcpStream stream = co_await TcpStream::connect(SocketAddress::loopback(server.port()));
  co_await stream.write_all(std::string_view(request_head));
  co_await server.wait_for_requests(1);
  std::array<std::byte, 16> buffer{};
  std::string outcome;
  try {
    co_await wait_for(stream.read_some(buffer), 50ms);
    outcome = "answered";
  } catch (const TimeoutError&) {
    outcome = "silent";
  }
  co_await server.close();  // ends the held connection
  const std::size_t after_close = co_await stream.read_some(buffer);
  co_await stream.close();
  co_return outcome + ", then " + (after_close == 0 ? "closed" : "bytes");
}

TEST_P(RawHttpServerTest, HoldNeverAnswersUntilTheServerCloses) {
  EXPECT_EQ(run(wait_for(hold_never_answers(), test_deadline)), "silent, then closed");
}

Task<std::string> three_requests_on_one_connection() {
  const std::string response = http_response(200, "ok");
  RawHttpServer server(RawScript().serve_requests(3, response));
  TcpStream stream = co_await TcpStream::connect(SocketAddress::loopback(server.port()));
  std::string outcome;
  for (int i = 0; i < 3; ++i) {
    co_await stream.write_all(std::string_view(request_head));
    std::string answer(response.size(), '\0');
    co_await stream.read_exactly(std::as_writable_bytes(std::span(answer)));
    outcome += answer == response ? "ok " : "wrong ";
  }
  std::vector<std::byte> rest;
  co_await read_to_end(&stream, &rest);
  outcome += rest.empty() ? "then closed" : "then more bytes";
  co_await stream.close();
  co_await server.close();
  EXPECT_EQ(server.accepted_connections(), 1u);
  EXPECT_EQ(server.requests().size(), 3u);
  for (const RecordedRequest& request : server.requests())
    EXPECT_EQ(request.connection, 0u);
  co_return outcome;
}

TEST_P(RawHttpServerTest, ServesNRequestsOnOneConnectionThenCloses) {
  EXPECT_EQ(run(wait_for(three_requests_on_one_connection(), test_deadline)),
            "ok ok ok then closed");
}

Task<std::string> scripts_per_connection() {
  RawHttpServer server(
      std::vector<RawScript>{RawScript().send("first"), RawScript().send("later")});
  std::string outcome;
  for (int i = 0; i < 3; ++i) {
    std::string received = co_await request_and_read_to_end(&server);
    outcome += received + " ";
  }
  co_await server.close();
  outcome += std::to_string(server.accepted_connections()) + " connections";
  co_return outcome;
}

TEST_P(RawHttpServerTest, ConnectionIRunsScriptIAndTheLastScriptFromThereOn) {
  EXPECT_EQ(run(wait_for(scripts_per_connection(), test_deadline)),
            "first later later 3 connections");
}

Task<std::string> read_to_end_sees_the_client_close() {
  RawHttpServer server(RawScript().send("bye").read_to_end());
  TcpStream stream = co_await TcpStream::connect(SocketAddress::loopback(server.port()));
  co_await stream.write_all(std::string_view(request_head));
  std::string answer(3, '\0');
  co_await stream.read_exactly(std::as_writable_bytes(std::span(answer)));
  co_await stream.close();
  co_await server.wait_for_client_closes(1);
  co_await server.close();
  co_return answer + " " + std::to_string(server.client_closes());
}

TEST_P(RawHttpServerTest, ReadToEndCountsTheClientClosing) {
  EXPECT_EQ(run(wait_for(read_to_end_sees_the_client_close(), test_deadline)), "bye 1");
}

Task<std::string> client_gone_before_a_request() {
  RawHttpServer server(RawScript().send("never sent"));
  TcpStream stream = co_await TcpStream::connect(SocketAddress::loopback(server.port()));
  co_await stream.write_all(std::string_view("GET / HT"));
  co_await stream.close();
  for (int i = 0; i < 1000 && server.accepted_connections() == 0; ++i)
    co_await sleep(1ms);
  co_await server.close();
  co_return std::to_string(server.accepted_connections()) + " accepted, " +
      std::to_string(server.requests().size()) + " requests, " +
      std::to_string(server.connection_errors().size()) + " errors";
}

TEST_P(RawHttpServerTest, AClientThatClosesBeforeAWholeHeadIsNoRequestAndNoError) {
  EXPECT_EQ(run(wait_for(client_gone_before_a_request(), test_deadline)),
            "1 accepted, 0 requests, 0 errors");
}

RINGLOOP_ON_BOTH_BACKENDS(RawHttpServerTest);

}  // namespace
}  // namespace ringloop::testing
