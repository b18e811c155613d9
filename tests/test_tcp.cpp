// TcpListener and TcpStream over 127.0.0.1 (and ::1), on both backends: echo round trips of 1 B
// to 16 MiB compared byte for byte, 1,000 concurrent connections, half-close, a peer reset in the
// middle of a large write (ECONNRESET/EPIPE, never SIGPIPE), connection refused and address in
// use naming the address, SO_REUSEPORT, a connect that hangs bounded by wait_for, TCP_NODELAY and
// SO_KEEPALIVE, the two ends' addresses, and read_until's LimitOverrunError. Cancellation in
// flight: test_tcp_cancellation.cpp.
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
#include "support/stream_socket.hpp"
#include "support/tcp.hpp"
namespace ringloop::testing {
namespace {

using namespace std::chrono_literals;

class TcpTest : public LoopTest {};

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

// ---- read_until past max_bytes ---------------------------------------------------------------

Task<> read_until_past_max_bytes() {
  Connection c = co_await connect_over_loopback();
  // A 101-byte line (delimiter present, but beyond max_bytes), then a short one.
  const std::string long_line = std::string(100, 'x') + "\n";
  co_await c.server.write_all(long_line + "next\n");
  co_await wait_for_arrived(&c.client, long_line.size() + 5);
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
  co_await wait_for_arrived(&c.client, 80);
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
