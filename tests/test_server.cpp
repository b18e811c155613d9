// start_server()/open_connection() and their Unix-domain forms: a handler task per connection,
// close() cancelling them, handler failures reported, refused connections naming what was tried.

#include <cerrno>
#include <chrono>
#include <span>
#include <string>
#include <system_error>

#include "support/loop_fixture.hpp"
#include "support/temporary_directory.hpp"

namespace ringloop::testing {
namespace {

using namespace std::chrono_literals;

using ServerTest = LoopTest;

std::span<const std::byte> as_bytes_of(const std::string& text) {
  return std::as_bytes(std::span(text.data(), text.size()));
}

template <class Stream>
Task<> echo_lines(Stream stream) {
  for (;;) {
    std::string line = co_await stream.readline();
    if (line.empty()) break;
    co_await stream.write_all(as_bytes_of(line));
  }
  co_await stream.close();
}

Task<std::string> tcp_round_trip() {
  TcpServer server = co_await start_server(echo_lines<TcpStream>, "127.0.0.1", 0);
  TcpStream client = co_await open_connection("127.0.0.1", server.address().port());
  co_await client.write_all(as_bytes_of("hello\n"));
  std::string echoed = co_await client.readline();
  co_await client.close();
  co_await server.close();
  co_return echoed + std::to_string(server.active_connections());
}

TEST_P(ServerTest, StartServerAndOpenConnectionEchoALine) {
  EXPECT_EQ(run(tcp_round_trip()), "hello\n0");
}

Task<std::string> unix_round_trip(std::string path) {
  UnixServer server = start_unix_server(echo_lines<UnixStream>, path);
  UnixStream client = co_await open_unix_connection(path);
  co_await client.write_all(as_bytes_of("over unix\n"));
  std::string echoed = co_await client.readline();
  co_await client.close();
  co_await server.close();
  co_return echoed;
}

TEST_P(ServerTest, UnixServerAndConnectionEchoALine) {
  TemporaryDirectory directory;
  EXPECT_EQ(run(unix_round_trip(directory.path() + "/server.sock")), "over unix\n");
}

Task<> wait_forever(TcpStream stream) {
  co_await stream.readline();  // the client never sends a line
  co_await sleep(1h);
}

Task<std::string> close_cancels_handlers() {
  TcpServer server = co_await start_server(wait_forever, "127.0.0.1", 0);
  TcpStream first = co_await open_connection("127.0.0.1", server.address().port());
  TcpStream second = co_await open_connection("127.0.0.1", server.address().port());
  while (server.active_connections() < 2)
    co_await sleep(1ms);
  co_await server.close();
  // The handlers' streams died with their cancelled tasks: the clients see end of stream.
  std::string first_read = co_await first.readline();
  std::string second_read = co_await second.readline();
  co_await first.close();
  co_await second.close();
  co_return "active " + std::to_string(server.active_connections()) + ", reads '" + first_read +
      second_read + "'";
}

TEST_P(ServerTest, CloseCancelsEveryHandlerAndTheirConnectionsEnd) {
  EXPECT_EQ(run(close_cancels_handlers()), "active 0, reads ''");
}

Task<> fail_at_once(TcpStream stream) {
  co_await stream.close();
  throw std::runtime_error("handler failed");
}

Task<std::string> failing_handler_is_reported() {
  TcpServer server = co_await start_server(fail_at_once, "127.0.0.1", 0);
  for (int i = 0; i < 2; ++i) {  // the second connection proves the server went on
    TcpStream client = co_await open_connection("127.0.0.1", server.address().port());
    co_await client.readline();
    co_await client.close();
  }
  co_await server.close();
  co_return "closed";
}

TEST_P(ServerTest, AHandlerThatThrowsIsReportedWithTheConnectionsNameAndTheServerGoesOn) {
  EXPECT_EQ(run(failing_handler_is_reported()), "closed");
  ASSERT_EQ(reports.size(), 2u);
  for (const ExceptionContext& report : reports) {
    EXPECT_EQ(report.message, "Task exception was never retrieved");
    EXPECT_EQ(report.task_name.rfind("connection from 127.0.0.1:", 0), 0u) << report.task_name;
    EXPECT_NE(describe_exception(report.exception).find("handler failed"), std::string::npos);
  }
  reports.clear();
}

Task<std::string> serve_forever_until_cancelled() {
  TcpServer server = co_await start_server(echo_lines<TcpStream>, "127.0.0.1", 0);
  const std::uint16_t port = server.address().port();
  auto serving = spawn(server.serve_forever(), "serving");
  co_await sleep(5ms);
  serving.cancel();
  try {
    co_await serving;
  } catch (const CancelledError&) {
  }
  std::string outcome = "still listening";
  try {
    TcpStream late = co_await open_connection("127.0.0.1", port);
  } catch (const std::system_error& error) {
    outcome = error.code().value() == ECONNREFUSED ? "closed and refusing" : error.what();
  }
  co_return outcome;
}

TEST_P(ServerTest, CancellingServeForeverClosesTheServer) {
  EXPECT_EQ(run(serve_forever_until_cancelled()), "closed and refusing");
}

Task<std::string> refused_connection_message() {
  TcpListener unused = TcpListener::bind(SocketAddress::loopback(0));
  const std::uint16_t port = unused.local_address().port();
  co_await unused.close();  // nothing listens on that port now
  try {
    TcpStream stream = co_await open_connection("127.0.0.1", port);
  } catch (const std::system_error& error) {
    co_return std::string(error.code() == std::errc::connection_refused ? "refused: " : "other: ") +
        error.what();
  }
  co_return "connected";
}

TEST_P(ServerTest, OpenConnectionThatNobodyAcceptsNamesTheAddressesTried) {
  const std::string outcome = run(refused_connection_message());
  EXPECT_EQ(outcome.rfind("refused: open_connection('127.0.0.1', ", 0), 0u) << outcome;
  EXPECT_NE(outcome.find("tried 127.0.0.1:"), std::string::npos) << outcome;
}

RINGLOOP_ON_BOTH_BACKENDS(ServerTest);

}  // namespace
}  // namespace ringloop::testing
