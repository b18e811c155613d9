// TCP operations cancelled in flight on both backends (accept, read, connect, write: nothing
// lost, nothing leaked), and closing a listener under a pending accept.

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
  // Only the stream's own receive may stay armed between reads (io_uring multishot).
  EXPECT_EQ(in_flight_now(), armed_receives(1)) << "the cancelled receive is still in flight";
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

RINGLOOP_ON_BOTH_BACKENDS(TcpTest);

}  // namespace
}  // namespace ringloop::testing
