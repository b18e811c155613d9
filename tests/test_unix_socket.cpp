// UnixListener and UnixStream on both backends: filesystem paths (in a fresh mkdtemp directory,
// removed afterwards) and Linux abstract names; bind, connect, a round trip both ways, half-close,
// the addresses' text; connecting to a missing path (ENOENT naming it), binding an IPv4 address
// (invalid_argument) and binding a path or name already taken (EADDRINUSE).

#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <span>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include "support/loop_fixture.hpp"
#include "support/sockets.hpp"
#include "support/temporary_directory.hpp"

namespace ringloop::testing {
namespace {

class UnixSocketTest : public LoopTest {};

// ---- helpers ---------------------------------------------------------------------------------

/// An abstract name no other test (or test process) uses at the same time.
std::string unique_abstract_name(const char* what) {
  static std::atomic<int> counter{0};
  return std::string("ringloop-test-") + what + "-" + std::to_string(::getpid()) + "-" +
         std::to_string(counter++);
}

bool is_socket_file(const std::string& path) {
  struct stat status {};
  return ::stat(path.c_str(), &status) == 0 && S_ISSOCK(status.st_mode);
}

/// What a round trip over a Unix connection saw.
struct Conversation {
  std::string server_got;
  std::string server_tail;  // what the server read after the client's half-close
  bool server_saw_end = false;
  std::string client_got;
  bool client_saw_end = false;
  std::string listener_address;
  std::string client_peer;
  std::string client_local;
  std::string server_local;
  std::string server_peer;
  bool client_peer_equals_bound = false;
};

// Connects to `listener`'s address, sends a line, half-closes, and reads the reply to the end;
// the server side reads to the end of the stream, then still answers (the other direction stays
// open after the client's shutdown_write()).
Task<> converse(UnixListener* listener, SocketAddress address, Conversation* out) {
  out->listener_address = listener->local_address().to_string();
  UnixStream client = co_await UnixStream::connect(address);
  UnixStream server = co_await listener->accept();
  out->client_peer = client.peer_address().to_string();
  out->client_peer_equals_bound = client.peer_address() == address;
  out->client_local = client.local_address().to_string();
  out->server_local = server.local_address().to_string();
  out->server_peer = server.peer_address().to_string();

  co_await client.write_all("hello over unix\n");
  const std::string line = co_await server.readline();
  out->server_got = line;
  client.write("after the line");
  co_await client.shutdown_write();
  std::array<std::byte, 64> buffer{};
  for (;;) {
    const std::size_t got = co_await server.read_some(buffer);
    if (got == 0) break;
    out->server_tail += text_of(std::span(buffer).first(got));
  }
  out->server_saw_end = server.at_eof();

  co_await server.write_all("reply after half-close\n");
  co_await server.close();
  const std::string reply = co_await client.readline();
  out->client_got = reply;
  const std::string after = co_await client.readline();
  out->client_saw_end = after.empty() && client.at_eof();
  co_await client.close();
  co_await listener->close();
}

void expect_conversation(const Conversation& talk) {
  EXPECT_EQ(talk.server_got, "hello over unix\n");
  EXPECT_EQ(talk.server_tail, "after the line");
  EXPECT_TRUE(talk.server_saw_end) << "the client's shutdown_write() did not end the stream";
  EXPECT_EQ(talk.client_got, "reply after half-close\n");
  EXPECT_TRUE(talk.client_saw_end);
}

// ---- paths -----------------------------------------------------------------------------------

TEST_P(UnixSocketTest, APathListenerAcceptsAConnectionThatCarriesARoundTripAndAHalfClose) {
  TemporaryDirectory directory;
  const std::string path = directory.file("server.sock");
  const SocketAddress address = SocketAddress::unix_path(path);
  EXPECT_EQ(address.to_string(), path);
  UnixListener listener = UnixListener::bind(address);
  EXPECT_TRUE(is_socket_file(path)) << path << " is not a socket file after bind";
  EXPECT_EQ(listener.local_address(), address);
  Conversation talk;
  run(converse(&listener, address, &talk));
  expect_conversation(talk);
  EXPECT_EQ(talk.listener_address, path);
  EXPECT_EQ(talk.client_peer, path);
  EXPECT_TRUE(talk.client_peer_equals_bound);
  EXPECT_EQ(talk.server_local, path);
  EXPECT_EQ(talk.client_local, "") << "an unbound client has no name";
  EXPECT_EQ(talk.server_peer, "");
  EXPECT_FALSE(listener.is_open());
}

// ---- abstract names --------------------------------------------------------------------------

TEST_P(UnixSocketTest, AnAbstractNameListenerAcceptsAConnectionThatCarriesARoundTrip) {
  const std::string name = unique_abstract_name("abstract");
  const SocketAddress address = SocketAddress::unix_abstract(name);
  EXPECT_EQ(address.to_string(), "@" + name);
  UnixListener listener = UnixListener::bind(address);
  EXPECT_EQ(listener.local_address(), address);
  Conversation talk;
  run(converse(&listener, address, &talk));
  expect_conversation(talk);
  EXPECT_EQ(talk.listener_address, "@" + name);
  EXPECT_EQ(talk.client_peer, "@" + name);
  EXPECT_TRUE(talk.client_peer_equals_bound);
  EXPECT_EQ(talk.server_local, "@" + name);
  EXPECT_EQ(talk.client_local, "");
}

// ---- larger transfers ------------------------------------------------------------------------

Task<> echo_everything(UnixStream* server) {
  std::array<std::byte, 8192> buffer{};
  for (;;) {
    const std::size_t got = co_await server->read_some(buffer);
    if (got == 0) break;
    server->write(std::span(buffer).first(got));
    co_await server->drain();
  }
  co_await server->close();
}

Task<std::string> read_to_end(UnixStream* stream) {
  std::string text;
  std::array<std::byte, 8192> buffer{};
  for (;;) {
    const std::size_t got = co_await stream->read_some(buffer);
    if (got == 0) break;
    text += text_of(std::span(buffer).first(got));
  }
  co_return text;
}

Task<std::string> echo_megabyte(SocketAddress address) {
  UnixListener listener = UnixListener::bind(address);
  UnixStream client = co_await UnixStream::connect(address);
  UnixStream server = co_await listener.accept();
  co_await listener.close();
  TaskHandle<> echo = spawn(echo_everything(&server), "echo");
  TaskHandle<std::string> reader = spawn(read_to_end(&client), "reader");
  std::string message(1024 * 1024, '\0');
  for (std::size_t i = 0; i < message.size(); ++i)
    message[i] = static_cast<char>((i * 7 + i / 4096) & 0xff);
  co_await client.write_all(message);
  co_await client.shutdown_write();
  co_await echo;
  std::string echoed = co_await reader;
  co_await client.close();
  co_return echoed == message ? std::string("same") : "differs: " + std::to_string(echoed.size());
}

TEST_P(UnixSocketTest, AMegabyteEchoedOverAUnixPathConnectionComesBackIntact) {
  TemporaryDirectory directory;
  EXPECT_EQ(run(echo_megabyte(SocketAddress::unix_path(directory.file("echo.sock")))), "same");
}

// ---- errors ----------------------------------------------------------------------------------

struct Failure {
  bool threw = false;
  std::error_code code;
  std::string what;
};

Task<Failure> connect_expecting_failure(SocketAddress address) {
  Failure failure;
  try {
    UnixStream stream = co_await UnixStream::connect(address);
    co_await stream.close();
  } catch (const std::system_error& error) {
    failure = {true, error.code(), error.what()};
  }
  co_return failure;
}

TEST_P(UnixSocketTest, ConnectToAMissingPathThrowsEnoentNamingThePath) {
  TemporaryDirectory directory;
  const std::string path = directory.file("nobody-listens-here.sock");
  const Failure failure = run(connect_expecting_failure(SocketAddress::unix_path(path)));
  ASSERT_TRUE(failure.threw);
  EXPECT_EQ(failure.code, std::error_code(ENOENT, std::system_category())) << failure.what;
  EXPECT_NE(failure.what.find(path), std::string::npos) << failure.what;
}

TEST_P(UnixSocketTest, ConnectToAnAbstractNameNobodyListensOnThrowsEconnrefused) {
  const std::string name = unique_abstract_name("nobody");
  const Failure failure = run(connect_expecting_failure(SocketAddress::unix_abstract(name)));
  ASSERT_TRUE(failure.threw);
  EXPECT_EQ(failure.code, std::error_code(ECONNREFUSED, std::system_category())) << failure.what;
  EXPECT_NE(failure.what.find("@" + name), std::string::npos) << failure.what;
}

Task<bool> connect_to_ipv4_is_rejected() {
  try {
    UnixStream stream = co_await UnixStream::connect(SocketAddress::loopback(9));
    co_await stream.close();
  } catch (const std::invalid_argument&) {
    co_return true;
  }
  co_return false;
}

TEST_P(UnixSocketTest, BindingOrConnectingWithAnInternetAddressThrowsInvalidArgument) {
  EXPECT_THROW(UnixListener::bind(SocketAddress::loopback(0)), std::invalid_argument);
  EXPECT_THROW(UnixListener::bind(SocketAddress::loopback(0, true)), std::invalid_argument);
  EXPECT_TRUE(run(connect_to_ipv4_is_rejected()));
}

void expect_address_in_use(const SocketAddress& address) {
  try {
    UnixListener second = UnixListener::bind(address);
    ADD_FAILURE() << "a second listener bound " << address.to_string();
  } catch (const std::system_error& error) {
    EXPECT_EQ(error.code(), std::error_code(EADDRINUSE, std::system_category())) << error.what();
    EXPECT_NE(std::string(error.what()).find(address.to_string()), std::string::npos)
        << error.what();
  }
}

TEST_P(UnixSocketTest, BindingAPathThatExistsThrowsEaddrinuse) {
  TemporaryDirectory directory;
  const SocketAddress address = SocketAddress::unix_path(directory.file("taken.sock"));
  {
    UnixListener first = UnixListener::bind(address);
    expect_address_in_use(address);  // while the first one listens
  }
  expect_address_in_use(address);  // its file stays behind: the caller decides to remove it
  const std::string plain = directory.file("plain-file");
  std::ofstream(plain) << "not a socket";
  expect_address_in_use(SocketAddress::unix_path(plain));
}

TEST_P(UnixSocketTest, BindingAnAbstractNameInUseThrowsEaddrinuseUntilItsListenerCloses) {
  const SocketAddress address = SocketAddress::unix_abstract(unique_abstract_name("taken"));
  {
    UnixListener first = UnixListener::bind(address);
    expect_address_in_use(address);
  }
  // An abstract name has no file: it is free again once its socket is closed.
  UnixListener again = UnixListener::bind(address);
  EXPECT_EQ(again.local_address(), address);
}

RINGLOOP_ON_BOTH_BACKENDS(UnixSocketTest);

}  // namespace
}  // namespace ringloop::testing
