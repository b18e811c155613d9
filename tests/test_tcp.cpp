// TcpListener and TcpStream over 127.0.0.1 (and ::1), on both backends: echo round trips of 1 B
// to 16 MiB compared byte for byte, 1,000 concurrent connections, half-close, a peer reset in the
// middle of a large write (ECONNRESET/EPIPE, never SIGPIPE), connection refused and address in
// use naming the address, SO_REUSEPORT, a connect that hangs bounded by wait_for, TCP_NODELAY and
// SO_KEEPALIVE, the two ends' addresses, cancellation of accept, read, connect and write in
// flight, closing a listener under a pending accept, and read_until's LimitOverrunError.
//
// A connect that hangs: a listener with backlog 0 queues one connection; while that one is never
// accepted, Linux drops the SYNs of further connects, which wait in SYN_SENT for a retransmission
// a second away. Tests that need it skip if a probe connect does not stay pending here.

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "support/descriptors.hpp"
#include "support/loop_fixture.hpp"
#include "support/signals.hpp"
#include "support/sockets.hpp"

namespace ringloop::testing {
namespace {

using namespace std::chrono_literals;

class TcpTest : public LoopTest {};

// ---- helpers ---------------------------------------------------------------------------------

/// Upper bound for one test's coroutine: a hang becomes a TimeoutError (a failure), not a stuck
/// test run. Every test normally finishes far sooner.
constexpr Duration test_deadline = 10s;

constexpr std::size_t KiB = 1024;
constexpr std::size_t MiB = 1024 * KiB;

/// The byte at `offset` of a test stream: a hash of the offset (not periodic, not zero at offset
/// 0), so a zero-filled, lost, repeated or reordered chunk of any size shows.
std::byte pattern_byte(std::size_t offset) {
  std::uint64_t mixed = (static_cast<std::uint64_t>(offset) + 1) * 0x9E3779B97F4A7C15ull;
  mixed ^= mixed >> 29;
  return static_cast<std::byte>(mixed >> 24);
}

std::vector<std::byte> make_pattern(std::size_t size) {
  std::vector<std::byte> bytes(size);
  for (std::size_t i = 0; i < size; ++i)
    bytes[i] = pattern_byte(i);
  return bytes;
}

/// Offset of the first byte of `received` that differs from the pattern, or SIZE_MAX.
std::size_t first_pattern_mismatch(std::span<const std::byte> received) {
  for (std::size_t i = 0; i < received.size(); ++i) {
    if (received[i] != pattern_byte(i)) return i;
  }
  return SIZE_MAX;
}

/// Operations a listener may keep in flight between accepts: on io_uring its multishot accept
/// stays armed for the next connection; elsewhere each accept is its own operation.
std::size_t armed_accepts() {
  return Loop::current().backend().multishot_accept() ? 1 : 0;
}

/// Closes `listener` and lets the backend confirm the cancellation of its multishot accept.
Task<> close_listener_and_settle(TcpListener* listener) {
  co_await listener->close();
  for (int i = 0; i < 100 && in_flight_now() != 0; ++i)
    co_await yield_now();
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

int socket_option(int descriptor, int level, int name) {
  int value = -1;
  socklen_t length = sizeof value;
  if (::getsockopt(descriptor, level, name, &value, &length) != 0) return -1;
  return value;
}

/// Reads `stream` to its end into `received`.
Task<> read_to_end(StreamSocket* stream, std::vector<std::byte>* received) {
  std::vector<std::byte> buffer(64 * KiB);
  for (;;) {
    const std::size_t got = co_await stream->read_some(buffer);
    if (got == 0) break;
    received->insert(received->end(), buffer.begin(), buffer.begin() + static_cast<long>(got));
  }
}

Task<> write_all_bytes(StreamSocket* stream, const std::vector<std::byte>* bytes) {
  co_await stream->write_all(*bytes);
}

Task<> write_all_then_shutdown(StreamSocket* stream, const std::vector<std::byte>* bytes) {
  co_await stream->write_all(*bytes);
  co_await stream->shutdown_write();
}

/// A TCP port on 127.0.0.1 (or ::1) that nobody listens on: a socket bound to it without
/// listen(), held open so no other process takes the port meanwhile. A SYN to it gets a reset.
class UnlistenedPort {
 public:
  explicit UnlistenedPort(bool ipv6 = false) {
    const SocketAddress any_port = SocketAddress::loopback(0, ipv6);
    descriptor_ = ::socket(any_port.family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (descriptor_ < 0 || ::bind(descriptor_, any_port.native(), any_port.native_length()) != 0) {
      throw std::system_error(errno, std::system_category(), "binding " + any_port.to_string());
    }
    sockaddr_storage storage{};
    socklen_t length = sizeof storage;
    ::getsockname(descriptor_, reinterpret_cast<sockaddr*>(&storage), &length);
    address_ = SocketAddress::from_native(reinterpret_cast<sockaddr*>(&storage), length);
  }
  UnlistenedPort(const UnlistenedPort&) = delete;
  UnlistenedPort& operator=(const UnlistenedPort&) = delete;
  ~UnlistenedPort() {
    if (descriptor_ >= 0) ::close(descriptor_);
  }
  [[nodiscard]] const SocketAddress& address() const noexcept { return address_; }

 private:
  int descriptor_ = -1;
  SocketAddress address_;
};

/// A listener (backlog 0) that never accepts, with its one queue slot taken by a connection:
/// Linux drops the SYNs of any further connect to it, which then stays pending (see the top of
/// the file). Built outside the loop; hangs() says whether a probe connect really stayed pending.
class FullListener {
 public:
  FullListener() : listener_(TcpListener::bind(SocketAddress::loopback(0), 0)) {
    address_ = listener_.local_address();
    queued_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (queued_ >= 0 && ::connect(queued_, address_.native(), address_.native_length()) == 0) {
      hangs_ = probe_hangs();
    }
  }
  FullListener(const FullListener&) = delete;
  FullListener& operator=(const FullListener&) = delete;
  ~FullListener() {
    if (queued_ >= 0) ::close(queued_);
  }

  [[nodiscard]] bool hangs() const noexcept { return hangs_; }
  [[nodiscard]] const SocketAddress& address() const noexcept { return address_; }

 private:
  [[nodiscard]] bool probe_hangs() const {
    const int probe = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (probe < 0) return false;
    bool pending = false;
    if (::connect(probe, address_.native(), address_.native_length()) != 0 &&
        errno == EINPROGRESS) {
      pollfd waiting{probe, POLLOUT, 0};
      pending = ::poll(&waiting, 1, 100) == 0;
    }
    ::close(probe);
    return pending;
  }

  TcpListener listener_;
  SocketAddress address_;
  int queued_ = -1;
  bool hangs_ = false;
};

constexpr const char* no_hanging_connect =
    "no connect hangs here (a full backlog-0 listener did not hold a probe connect pending)";

bool ipv6_loopback_available() {
  const int probe = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (probe < 0) return false;
  const SocketAddress address = SocketAddress::loopback(0, true);
  const bool bound = ::bind(probe, address.native(), address.native_length()) == 0;
  ::close(probe);
  return bound;
}

// ---- round trips -----------------------------------------------------------------------------

/// Accepts one connection and echoes what it reads until the end of the stream, then closes.
Task<> echo_one_connection(TcpListener* listener) {
  TcpStream stream = co_await listener->accept();
  std::vector<std::byte> buffer(64 * KiB);
  for (;;) {
    const std::size_t got = co_await stream.read_some(buffer);
    if (got == 0) break;
    co_await stream.write_all(std::span<const std::byte>(buffer.data(), got));
  }
  co_await stream.close();
}

// The client writes in its own task while reading the echo: with neither side reading, a large
// write would fill both kernel buffers and stall.
Task<> echo_round_trip(std::size_t size) {
  TcpListener listener = TcpListener::bind(SocketAddress::loopback(0));
  TaskHandle<> server = spawn(echo_one_connection(&listener), "echo server");
  TcpStream client = co_await TcpStream::connect(listener.local_address());
  const std::vector<std::byte> sent = make_pattern(size);
  TaskHandle<> writer = spawn(write_all_then_shutdown(&client, &sent), "writer");
  std::vector<std::byte> received;
  received.reserve(size);
  co_await read_to_end(&client, &received);
  co_await writer;
  co_await server;
  EXPECT_EQ(received.size(), size);
  const std::size_t mismatch = first_pattern_mismatch(received);
  EXPECT_EQ(mismatch, SIZE_MAX) << "the echo differs from what was sent at offset " << mismatch;
  co_await client.close();
  co_await listener.close();
}

TEST_P(TcpTest, EchoRoundTripOfOneByte) {
  ASSERT_NE(pattern_byte(0), std::byte{0}) << "a lone zero byte would pass for a lost one";
  run(wait_for(echo_round_trip(1), test_deadline));
}

TEST_P(TcpTest, EchoRoundTripOfOneKibibyte) {
  run(wait_for(echo_round_trip(1 * KiB), test_deadline));
}

TEST_P(TcpTest, EchoRoundTripOf64Kibibytes) {
  run(wait_for(echo_round_trip(64 * KiB), test_deadline));
}

TEST_P(TcpTest, EchoRoundTripOfOneMebibyte) {
  run(wait_for(echo_round_trip(1 * MiB), test_deadline));
}

TEST_P(TcpTest, EchoRoundTripOf16Mebibytes) {
  run(wait_for(echo_round_trip(16 * MiB), test_deadline));
}

// ---- many connections ------------------------------------------------------------------------

constexpr int concurrent_connections = 1000;

Task<> echo_one_line(TcpStream stream) {
  const std::string line = co_await stream.readline();
  co_await stream.write_all(line);
  co_await stream.close();
}

Task<> accept_and_echo_lines(TcpListener* listener, int count, int* accepted) {
  TaskGroup handlers;
  for (int i = 0; i < count; ++i) {
    TcpStream stream = co_await listener->accept();
    ++*accepted;
    handlers.spawn(echo_one_line(std::move(stream)), "line echo");
  }
  co_await handlers.join();
}

Task<bool> send_line_and_check_echo(SocketAddress address, int index) {
  TcpStream stream = co_await TcpStream::connect(address);
  const std::string message = "message " + std::to_string(index) + " of client " +
                              std::to_string(index) + std::string(index % 97, '+') + "\n";
  co_await stream.write_all(message);
  const std::string echo = co_await stream.readline();
  co_await stream.close();
  co_return echo == message;
}

Task<> many_concurrent_connections() {
  TcpListener listener = TcpListener::bind(SocketAddress::loopback(0), 4096);
  int accepted = 0;
  TaskHandle<> server =
      spawn(accept_and_echo_lines(&listener, concurrent_connections, &accepted), "server");
  std::vector<Task<bool>> clients;
  clients.reserve(concurrent_connections);
  for (int i = 0; i < concurrent_connections; ++i)
    clients.push_back(send_line_and_check_echo(listener.local_address(), i));
  const std::vector<bool> echoed = co_await gather(std::move(clients));
  co_await server;
  EXPECT_EQ(accepted, concurrent_connections);
  int correct = 0;
  for (const bool ok : echoed)
    correct += ok ? 1 : 0;
  EXPECT_EQ(correct, concurrent_connections) << "clients whose echo differed from their message";
  EXPECT_LE(in_flight_now(), armed_accepts());
  co_await close_listener_and_settle(&listener);
  EXPECT_EQ(in_flight_now(), 0u);
}

TEST_P(TcpTest, AThousandConcurrentConnectionsEachGetTheirOwnMessageEchoed) {
  // Two descriptors per connection (both ends live in this process), plus the loop's own.
  constexpr rlim_t needed = 2 * concurrent_connections + 200;
  DescriptorLimitGuard limit;
  if (limit.hard() != RLIM_INFINITY && limit.hard() < needed) {
    GTEST_SKIP() << "RLIMIT_NOFILE hard limit " << limit.hard() << " is below the " << needed
                 << " descriptors this test needs";
  }
  ASSERT_TRUE(limit.set_soft(limit.hard() == RLIM_INFINITY ? needed : limit.hard()));
  run(wait_for(many_concurrent_connections(), test_deadline));
}

// ---- half-close ------------------------------------------------------------------------------

/// Reads the request to its end, then answers with `reply` and closes.
Task<> reply_after_end_of_request(TcpListener* listener, std::string* request, bool* saw_eof,
                                  std::vector<std::byte> reply) {
  TcpStream stream = co_await listener->accept();
  std::array<std::byte, 4096> buffer{};
  for (;;) {
    const std::size_t got = co_await stream.read_some(buffer);
    if (got == 0) break;
    request->append(text_of(std::span(buffer).first(got)));
  }
  *saw_eof = stream.at_eof();
  const std::size_t again = co_await stream.read_some(buffer);
  EXPECT_EQ(again, 0u) << "read_some after the end of the stream gave bytes";
  co_await stream.write_all(reply);
  co_await stream.close();
}

Task<> half_close() {
  TcpListener listener = TcpListener::bind(SocketAddress::loopback(0));
  std::string request;
  bool server_saw_eof = false;
  const std::vector<std::byte> reply = make_pattern(512 * KiB);
  TaskHandle<> server =
      spawn(reply_after_end_of_request(&listener, &request, &server_saw_eof, reply), "server");
  TcpStream client = co_await TcpStream::connect(listener.local_address());
  const std::string sent = "the whole request, then end of stream";
  co_await client.write_all(sent);
  // The server answers only once it has read the end of the stream: no FIN, no reply (timeout).
  co_await client.shutdown_write();
  std::vector<std::byte> received;
  co_await read_to_end(&client, &received);
  co_await server;
  EXPECT_EQ(request, sent);
  EXPECT_TRUE(server_saw_eof);
  EXPECT_EQ(received.size(), reply.size()) << "the reply after shutdown_write() was cut short";
  const std::size_t mismatch = first_pattern_mismatch(received);
  EXPECT_EQ(mismatch, SIZE_MAX) << "the reply differs at offset " << mismatch;
  EXPECT_TRUE(client.at_eof());
  co_await client.close();
  co_await listener.close();
}

TEST_P(TcpTest, AfterShutdownWriteThePeerReadsEndOfStreamAndItsWholeReplyStillArrives) {
  run(wait_for(half_close(), test_deadline));
}

// ---- peer reset ------------------------------------------------------------------------------

Task<> peer_resets_during_write_all() {
  Connection c = co_await connect_over_loopback();
  shrink_kernel_buffers(c);
  const std::vector<std::byte> big = make_pattern(8 * MiB);
  TaskHandle<> writer = spawn(write_all_bytes(&c.client, &big), "writer");
  // The writer fills the kernel buffers and blocks in write_all: the peer has bytes, reads none.
  co_await wait_for_kernel_bytes(c.server.native_handle(), 1);
  co_await let_others_run();
  EXPECT_FALSE(writer.done()) << "write_all of 8 MiB finished while the peer reads nothing";
  // SO_LINGER {on, 0 s}: the peer's close sends a reset instead of a FIN.
  const linger abort_on_close{1, 0};
  ::setsockopt(c.server.native_handle(), SOL_SOCKET, SO_LINGER, &abort_on_close,
               sizeof abort_on_close);
  co_await c.server.close();
  bool failed = false;
  try {
    co_await writer;
  } catch (const std::system_error& error) {
    failed = true;
    EXPECT_TRUE(is_reset_or_broken_pipe(error)) << error.what();
  }
  EXPECT_TRUE(failed) << "write_all to a peer that reset the connection did not fail";
  EXPECT_EQ(sigpipe_deliveries, 0) << "a send raised SIGPIPE (MSG_NOSIGNAL missing?)";
  EXPECT_EQ(in_flight_now(), 0u);
  // The failure was reported to write_all and nothing is left unsent: close() says no more.
  try {
    co_await c.client.close();
  } catch (const std::system_error& error) {
    ADD_FAILURE() << "close() after a reported send failure threw again: " << error.what();
  }
  EXPECT_FALSE(c.client.is_open());
}

TEST_P(TcpTest, APeerResetDuringWriteAllGivesEconnresetOrEpipeAndNoSigpipe) {
  // Counts SIGPIPE rather than ignoring it, so a send without MSG_NOSIGNAL shows.
  SigpipeCounter sigpipe;
  run(wait_for(peer_resets_during_write_all(), test_deadline));
}

// The peer closes normally (FIN); the first write after it draws a reset, and the next send
// fails with EPIPE, which raises SIGPIPE unless the send says MSG_NOSIGNAL.
Task<> write_after_peer_closed() {
  Connection c = co_await connect_over_loopback();
  co_await c.server.close();
  bool failed = false;
  for (int i = 0; i < 1000 && !failed; ++i) {
    try {
      co_await c.client.write_all("x");
    } catch (const std::system_error& error) {
      failed = true;
      EXPECT_TRUE(is_reset_or_broken_pipe(error)) << error.what();
    }
    if (!failed) co_await sleep(1ms);  // lets the reset come back
  }
  EXPECT_TRUE(failed) << "1,000 writes to a closed peer all succeeded";
  EXPECT_EQ(sigpipe_deliveries, 0) << "a send raised SIGPIPE (MSG_NOSIGNAL missing?)";
  // The failure stays: the background path (write()) reports it too, without another signal.
  bool write_failed = false;
  try {
    c.client.write("y");
    co_await c.client.flush();
  } catch (const std::system_error& error) {
    write_failed = true;
    EXPECT_TRUE(is_reset_or_broken_pipe(error)) << error.what();
  }
  EXPECT_TRUE(write_failed);
  EXPECT_EQ(sigpipe_deliveries, 0);
  try {
    co_await c.client.close();  // nothing unsent: the failure was reported already
  } catch (const std::system_error& error) {
    ADD_FAILURE() << "close() after a reported send failure threw again: " << error.what();
  }
  EXPECT_FALSE(c.client.is_open());
}

TEST_P(TcpTest, WritingToAPeerThatClosedFailsWithEpipeOrEconnresetAndNoSigpipe) {
  SigpipeCounter sigpipe;
  run(wait_for(write_after_peer_closed(), test_deadline));
}

// ---- connect errors and timeouts -------------------------------------------------------------

Task<> connect_refused(SocketAddress address) {
  bool refused = false;
  try {
    TcpStream stream = co_await TcpStream::connect(address);
    ADD_FAILURE() << "connected to " << address.to_string() << " where nobody listens";
  } catch (const std::system_error& error) {
    refused = true;
    EXPECT_EQ(error.code().value(), ECONNREFUSED) << error.what();
    EXPECT_TRUE(contains(error.what(), address.to_string()))
        << "'" << error.what() << "' does not name " << address.to_string();
  }
  EXPECT_TRUE(refused);
  EXPECT_EQ(in_flight_now(), 0u);
}

TEST_P(TcpTest, ConnectWhereNobodyListensThrowsEconnrefusedNamingTheAddress) {
  UnlistenedPort port;
  ASSERT_TRUE(contains(port.address().to_string(), "127.0.0.1:"));
  run(wait_for(connect_refused(port.address()), test_deadline));
}

TEST_P(TcpTest, ConnectWhereNobodyListensOnIpv6ThrowsEconnrefusedNamingTheAddress) {
  if (!ipv6_loopback_available()) GTEST_SKIP() << "no IPv6 loopback here";
  UnlistenedPort port(true);
  ASSERT_TRUE(contains(port.address().to_string(), "[::1]:"));
  run(wait_for(connect_refused(port.address()), test_deadline));
}

Task<> connect_times_out(SocketAddress address) {
  const int descriptors_before = count_open_descriptors();
  bool timed_out = false;
  try {
    TcpStream stream = co_await wait_for(TcpStream::connect(address), 200ms);
    ADD_FAILURE() << "connected to a listener whose accept queue is full";
  } catch (const TimeoutError&) {
    timed_out = true;
  }
  EXPECT_TRUE(timed_out);
  EXPECT_EQ(in_flight_now(), 0u) << "the abandoned connect is still in flight";
  EXPECT_EQ(count_open_descriptors(), descriptors_before) << "the abandoned socket leaked";
}

TEST_P(TcpTest, ConnectThatHangsEndsWithTimeoutErrorUnderWaitForLeavingNothingBehind) {
  FullListener full;
  if (!full.hangs()) GTEST_SKIP() << no_hanging_connect;
  run(wait_for(connect_times_out(full.address()), test_deadline));
}

// ---- options and addresses -------------------------------------------------------------------

Task<> toggle_options() {
  Connection c = co_await connect_over_loopback();
  for (TcpStream* stream : {&c.client, &c.server}) {
    const int descriptor = stream->native_handle();
    EXPECT_EQ(socket_option(descriptor, IPPROTO_TCP, TCP_NODELAY), 0) << "default";
    stream->set_nodelay(true);
    EXPECT_NE(socket_option(descriptor, IPPROTO_TCP, TCP_NODELAY), 0);
    stream->set_nodelay(false);
    EXPECT_EQ(socket_option(descriptor, IPPROTO_TCP, TCP_NODELAY), 0);

    EXPECT_EQ(socket_option(descriptor, SOL_SOCKET, SO_KEEPALIVE), 0) << "default";
    stream->set_keepalive(true);
    EXPECT_NE(socket_option(descriptor, SOL_SOCKET, SO_KEEPALIVE), 0);
    stream->set_keepalive(false);
    EXPECT_EQ(socket_option(descriptor, SOL_SOCKET, SO_KEEPALIVE), 0);
  }
  // The options leave the connection working.
  c.client.set_nodelay(true);
  co_await c.client.write_all("x");
  std::array<std::byte, 1> one{};
  co_await c.server.read_exactly(one);
  EXPECT_EQ(text_of(one), "x");
  co_await c.client.close();
  co_await c.server.close();
}

TEST_P(TcpTest, SetNodelayAndSetKeepaliveChangeTheSocketOptions) {
  run(wait_for(toggle_options(), test_deadline));
}

Task<> ends_agree_on_addresses(bool ipv6) {
  TcpListener listener = TcpListener::bind(SocketAddress::loopback(0, ipv6));
  const SocketAddress listening = listener.local_address();
  EXPECT_NE(listening.port(), 0) << "port 0 was not replaced by the port the kernel picked";
  TcpStream client = co_await TcpStream::connect(listening);
  TcpStream server = co_await listener.accept();
  const SocketAddress client_local = client.local_address();
  const SocketAddress client_peer = client.peer_address();
  const SocketAddress server_local = server.local_address();
  const SocketAddress server_peer = server.peer_address();
  EXPECT_TRUE(client_local == server_peer)
      << client_local.to_string() << " vs " << server_peer.to_string();
  EXPECT_TRUE(server_local == client_peer)
      << server_local.to_string() << " vs " << client_peer.to_string();
  EXPECT_TRUE(client_peer == listening)
      << client_peer.to_string() << " vs " << listening.to_string();
  EXPECT_NE(client_local.port(), listening.port());
  const std::string host = ipv6 ? "::1" : "127.0.0.1";
  EXPECT_EQ(client_local.host(), host);
  EXPECT_EQ(server_peer.to_string(), ipv6 ? "[::1]:" + std::to_string(client_local.port())
                                          : "127.0.0.1:" + std::to_string(client_local.port()));
  co_await client.close();
  co_await server.close();
  co_await listener.close();
}

TEST_P(TcpTest, LocalAndPeerAddressesOfTheTwoEndsAgree) {
  run(wait_for(ends_agree_on_addresses(false), test_deadline));
}

TEST_P(TcpTest, LocalAndPeerAddressesOfTheTwoEndsAgreeOverIpv6) {
  if (!ipv6_loopback_available()) GTEST_SKIP() << "no IPv6 loopback here";
  run(wait_for(ends_agree_on_addresses(true), test_deadline));
}

// ---- binding ---------------------------------------------------------------------------------

TEST_P(TcpTest, BindingAPortInUseThrowsEaddrinuseNamingTheAddress) {
  TcpListener first = TcpListener::bind(SocketAddress::loopback(0));
  const SocketAddress taken = first.local_address();
  bool threw = false;
  try {
    TcpListener second = TcpListener::bind(taken);
    ADD_FAILURE() << "a second listener bound " << taken.to_string();
  } catch (const std::system_error& error) {
    threw = true;
    EXPECT_EQ(error.code().value(), EADDRINUSE) << error.what();
    EXPECT_TRUE(contains(error.what(), taken.to_string()))
        << "'" << error.what() << "' does not name " << taken.to_string();
  }
  EXPECT_TRUE(threw);
  // Only the first listener asked for SO_REUSEPORT: the port is still not shareable.
  TcpListener reusing = TcpListener::bind(SocketAddress::loopback(0), 16, true);
  EXPECT_THROW(TcpListener::bind(reusing.local_address(), 16, false), std::system_error);
}

Task<> accept_one(TcpListener* listener) {
  TcpStream stream = co_await listener->accept();
  co_await stream.close();
}

/// Cancels `handle` if it still runs and waits for it to end.
Task<> cancel_and_wait(TaskHandle<> handle) {
  handle.cancel();
  co_await ends_cancelled(handle);
}

// Both listeners are live: the kernel spreads connections over them by a hash of the addresses
// and ports, so within a few dozen connections from fresh source ports each one gets one.
Task<> reuse_port_listeners_both_accept() {
  TcpListener first = TcpListener::bind(SocketAddress::loopback(0), 128, true);
  const SocketAddress address = first.local_address();
  TcpListener second = TcpListener::bind(address, 128, true);
  EXPECT_TRUE(second.local_address() == address);
  TaskHandle<> first_accept = spawn(accept_one(&first), "first accept");
  TaskHandle<> second_accept = spawn(accept_one(&second), "second accept");
  std::vector<TcpStream> clients;
  for (int i = 0; i < 100 && !(first_accept.done() && second_accept.done()); ++i) {
    TcpStream client = co_await TcpStream::connect(address);
    clients.push_back(std::move(client));
    co_await let_others_run();
  }
  EXPECT_TRUE(first_accept.done()) << "the first SO_REUSEPORT listener never got a connection";
  EXPECT_TRUE(second_accept.done()) << "the second SO_REUSEPORT listener never got a connection";
  co_await cancel_and_wait(first_accept);
  co_await cancel_and_wait(second_accept);
  for (TcpStream& client : clients)
    co_await client.close();
  co_await first.close();
  co_await second.close();
}

TEST_P(TcpTest, ReusePortLetsTwoListenersBindTheSamePortAndBothAccept) {
  run(wait_for(reuse_port_listeners_both_accept(), test_deadline));
}

// ---- cancellation in flight ------------------------------------------------------------------

Task<> round_trip_one_byte(TcpStream* from, TcpStream* to, char byte) {
  co_await from->write_all(std::string(1, byte));
  std::array<std::byte, 1> one{};
  co_await to->read_exactly(one);
  EXPECT_EQ(text_of(one), std::string(1, byte));
}

Task<> cancel_pending_accept() {
  TcpListener listener = TcpListener::bind(SocketAddress::loopback(0));
  TaskHandle<TcpStream> accepting = spawn(listener.accept(), "accept");
  co_await let_others_run();
  EXPECT_FALSE(accepting.done()) << "accept returned with nobody connecting";
  accepting.cancel();
  const bool cancelled = co_await ends_cancelled(accepting);
  EXPECT_TRUE(cancelled);
  EXPECT_EQ(in_flight_now(), armed_accepts()) << "the cancelled accept is still in flight";
  // The listener still works: the next connection is accepted and carries bytes both ways.
  EXPECT_TRUE(listener.is_open());
  TcpStream client = co_await TcpStream::connect(listener.local_address());
  TcpStream server = co_await listener.accept();
  co_await round_trip_one_byte(&client, &server, 'a');
  co_await round_trip_one_byte(&server, &client, 'b');
  co_await client.close();
  co_await server.close();
  co_await close_listener_and_settle(&listener);
  EXPECT_EQ(in_flight_now(), 0u) << "closing the listener left its accept in flight";
}

TEST_P(TcpTest, CancellingAPendingAcceptGivesCancelledErrorAndTheListenerStillAccepts) {
  run(wait_for(cancel_pending_accept(), test_deadline));
}

Task<std::size_t> read_some_into(StreamSocket* stream, std::vector<std::byte>* buffer) {
  const std::size_t got = co_await stream->read_some(*buffer);
  co_return got;
}

Task<> cancel_pending_read_some() {
  Connection c = co_await connect_over_loopback();
  std::vector<std::byte> buffer(64);
  TaskHandle<std::size_t> reader = spawn(read_some_into(&c.client, &buffer), "reader");
  co_await let_others_run();
  EXPECT_FALSE(reader.done()) << "read_some returned with nothing sent";
  reader.cancel();
  const bool cancelled = co_await ends_cancelled(reader);
  EXPECT_TRUE(cancelled);
  EXPECT_EQ(in_flight_now(), 0u) << "the cancelled receive is still in flight";
  // The byte sent afterwards is not swallowed by the cancelled receive.
  co_await c.server.write_all("z");
  std::vector<std::byte> next(64);
  const std::size_t got = co_await c.client.read_some(next);
  EXPECT_EQ(text_of(std::span(next).first(got)), "z");
  EXPECT_EQ(text_of(std::span(buffer).first(1)), std::string(1, '\0'))
      << "the cancelled read wrote into its buffer";
  co_await c.client.close();
  co_await c.server.close();
}

TEST_P(TcpTest, CancellingAPendingReadSomeGivesCancelledErrorAndTheStreamStaysReadable) {
  run(wait_for(cancel_pending_read_some(), test_deadline));
}

Task<> cancel_pending_connect(SocketAddress address) {
  const int descriptors_before = count_open_descriptors();
  TaskHandle<TcpStream> connecting = spawn(TcpStream::connect(address), "connect");
  co_await sleep(20ms);
  EXPECT_FALSE(connecting.done()) << "connect to a full listener returned";
  connecting.cancel();
  const bool cancelled = co_await ends_cancelled(connecting);
  EXPECT_TRUE(cancelled);
  EXPECT_EQ(in_flight_now(), 0u) << "the cancelled connect is still in flight";
  EXPECT_EQ(count_open_descriptors(), descriptors_before) << "the cancelled socket leaked";
}

TEST_P(TcpTest, CancellingAPendingConnectGivesCancelledErrorAndClosesItsSocket) {
  FullListener full;
  if (!full.hangs()) GTEST_SKIP() << no_hanging_connect;
  run(wait_for(cancel_pending_connect(full.address()), test_deadline));
}

Task<> cancel_blocked_write_all() {
  Connection c = co_await connect_over_loopback();
  shrink_kernel_buffers(c);
  const std::vector<std::byte> big = make_pattern(8 * MiB);
  TaskHandle<> writer = spawn(write_all_bytes(&c.client, &big), "writer");
  co_await wait_for_kernel_bytes(c.server.native_handle(), 1);
  co_await let_others_run();
  EXPECT_FALSE(writer.done()) << "write_all of 8 MiB finished while the peer reads nothing";
  writer.cancel();
  const bool cancelled = co_await ends_cancelled(writer);
  EXPECT_TRUE(cancelled);
  EXPECT_EQ(in_flight_now(), 0u) << "the cancelled send is still in flight";
  // Closes cleanly (no error, nothing left to flush); the peer reads a prefix of what write_all
  // was given, then a clean end of stream.
  co_await c.client.close();
  EXPECT_FALSE(c.client.is_open());
  std::vector<std::byte> received;
  co_await read_to_end(&c.server, &received);
  EXPECT_GT(received.size(), 0u);
  EXPECT_LT(received.size(), big.size());
  const std::size_t mismatch = first_pattern_mismatch(received);
  EXPECT_EQ(mismatch, SIZE_MAX) << "the bytes received are not a prefix of those sent (offset "
                                << mismatch << ")";
  co_await c.server.close();
}

TEST_P(TcpTest, CancellingABlockedWriteAllGivesCancelledErrorAndTheSocketClosesCleanly) {
  run(wait_for(cancel_blocked_write_all(), test_deadline));
}

// ---- closing a listener under a pending accept -----------------------------------------------

Task<> close_listener_under_accept() {
  TcpListener listener = TcpListener::bind(SocketAddress::loopback(0));
  const int descriptors_with_listener = count_open_descriptors();
  TaskHandle<TcpStream> accepting = spawn(listener.accept(), "accept");
  co_await let_others_run();
  EXPECT_FALSE(accepting.done());
  co_await listener.close();
  EXPECT_FALSE(listener.is_open());
  bool failed = false;
  try {
    TcpStream stream = co_await accepting;
    ADD_FAILURE() << "accept on a closed listener gave a connection";
  } catch (const std::system_error& error) {
    failed = true;
    EXPECT_EQ(error.code().value(), EBADF) << error.what();
  }
  EXPECT_TRUE(failed) << "the pending accept did not end when its listener closed";
  EXPECT_EQ(in_flight_now(), 0u);
  EXPECT_EQ(count_open_descriptors(), descriptors_with_listener - 1);
  // A later accept fails at once the same way; closing again is a no-op.
  bool refused = false;
  try {
    TcpStream stream = co_await listener.accept();
  } catch (const std::system_error& error) {
    refused = error.code().value() == EBADF;
  }
  EXPECT_TRUE(refused);
  co_await listener.close();
}

TEST_P(TcpTest, ClosingAListenerEndsAnAcceptPendingInAnotherTaskWithEbadf) {
  run(wait_for(close_listener_under_accept(), test_deadline));
}

// ---- read_until past max_bytes ---------------------------------------------------------------

Task<> read_until_past_max_bytes() {
  Connection c = co_await connect_over_loopback();
  // A 101-byte line (delimiter present, but beyond max_bytes), then a short one.
  const std::string long_line = std::string(100, 'x') + "\n";
  co_await c.server.write_all(long_line + "next\n");
  co_await wait_for_kernel_bytes(c.client.native_handle(), long_line.size() + 5);
  bool overran = false;
  try {
    const std::string line = co_await c.client.read_until("\n", 64);
    ADD_FAILURE() << "read_until(max 64) gave a " << line.size() << "-byte line";
  } catch (const LimitOverrunError& error) {
    overran = true;
    EXPECT_GE(error.buffered(), 64u);
    EXPECT_EQ(error.buffered(), c.client.read_buffer_size());
  }
  EXPECT_TRUE(overran);
  // Nothing was consumed: with room enough, the same bytes come back in order.
  const std::string line = co_await c.client.read_until("\n", 1024);
  EXPECT_EQ(line, long_line);
  const std::string next = co_await c.client.readline();
  EXPECT_EQ(next, "next\n");

  // No delimiter at all within max_bytes: the same, and the line completes later.
  co_await c.server.write_all(std::string(80, 'y'));
  co_await wait_for_kernel_bytes(c.client.native_handle(), 80);
  overran = false;
  try {
    const std::string partial = co_await c.client.read_until("\n", 64);
    ADD_FAILURE() << "read_until(max 64) gave '" << partial << "'";
  } catch (const LimitOverrunError& error) {
    overran = true;
    EXPECT_GE(error.buffered(), 64u);
  }
  EXPECT_TRUE(overran);
  EXPECT_GE(c.client.read_buffer_size(), 64u);
  co_await c.server.write_all("\n");
  const std::string completed = co_await c.client.read_until("\n", 1024);
  EXPECT_EQ(completed, std::string(80, 'y') + "\n");
  co_await c.client.close();
  co_await c.server.close();
}

TEST_P(TcpTest, ReadUntilPastMaxBytesThrowsLimitOverrunErrorAndTheBytesStayReadable) {
  run(wait_for(read_until_past_max_bytes(), test_deadline));
}

RINGLOOP_ON_BOTH_BACKENDS(TcpTest);

}  // namespace
}  // namespace ringloop::testing
