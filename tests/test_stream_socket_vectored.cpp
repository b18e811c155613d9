// Gathered sends and taking a burst without waiting, on both backends: write_all_vectored()
// sends every piece in order (empty pieces, more pieces than one sendmsg takes, pieces larger
// than the kernel accepts at once, behind write()'s buffered bytes), and reports misuse and
// failures as write_all() does; try_receive() gives what is already received and never waits.

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <span>
#include <string>
#include <system_error>
#include <vector>

#include "support/loop_fixture.hpp"
#include "support/sockets.hpp"
#include "support/stream_socket.hpp"

namespace ringloop::testing {
namespace {

using namespace std::chrono_literals;

class VectoredStreamTest : public LoopTest {};

// Splits pattern(0, sizes total) into pieces of the given sizes, sends them gathered, then
// shuts the write side; the reader checks every byte in order.
Task<> send_pieces(TcpStream* stream, std::vector<std::size_t> sizes) {
  std::size_t total = 0;
  for (std::size_t size : sizes)
    total += size;
  const std::vector<std::byte> all = pattern(0, total);
  std::vector<std::span<const std::byte>> pieces;
  std::size_t offset = 0;
  for (std::size_t size : sizes) {
    pieces.push_back(std::span<const std::byte>(all).subspan(offset, size));
    offset += size;
  }
  co_await stream->write_all_vectored(pieces);
  EXPECT_EQ(stream->write_buffer_size(), 0u);
  co_await stream->shutdown_write();
}

Task<> pieces_arrive_in_order(std::vector<std::size_t> sizes) {
  Connection c = co_await connect_over_loopback();
  std::size_t total = 0;
  for (std::size_t size : sizes)
    total += size;
  PatternCheck check;
  TaskHandle<> reader = spawn(read_pattern_to_end(&c.server, 64 * 1024, &check), "reader");
  co_await send_pieces(&c.client, sizes);
  co_await reader;
  EXPECT_EQ(check.received, total);
  EXPECT_EQ(check.first_mismatch, SIZE_MAX);
  EXPECT_TRUE(check.clean_end);
  co_await c.client.close();
  co_await c.server.close();
}

TEST_P(VectoredStreamTest, SmallPiecesArriveInOrder) {
  run(pieces_arrive_in_order({1, 10, 100, 1000, 10000}));
}

TEST_P(VectoredStreamTest, EmptyPiecesAnywhereAreSkipped) {
  run(pieces_arrive_in_order({0, 5, 0, 0, 7, 0}));
}

TEST_P(VectoredStreamTest, NothingButEmptyPiecesSendsNothing) {
  run(pieces_arrive_in_order({0, 0, 0}));
  run(pieces_arrive_in_order({}));
}

// More pieces than one gathered send takes (16): the rest go in the next sends.
TEST_P(VectoredStreamTest, ManyMorePiecesThanOneSendTakesArriveInOrder) {
  std::vector<std::size_t> sizes;
  for (std::size_t i = 0; i < 1000; ++i)
    sizes.push_back(1 + i % 97);
  run(pieces_arrive_in_order(sizes));
}

// Pieces far larger than the socket buffer: the kernel takes part of one at a time (short
// sends), and the cursor goes on from the middle of a piece.
TEST_P(VectoredStreamTest, LargePiecesSurviveShortSends) {
  run(pieces_arrive_in_order({3 << 20, 1, 5 << 20, 100, 2 << 20}));
}

// A slow reader with small kernel buffers: the gathered send waits on the kernel many times.
Task<> slow_reader_gets_everything() {
  Connection c = co_await connect_over_loopback();
  shrink_kernel_buffers(c);
  const std::vector<std::size_t> sizes = {70000, 3, 200000, 17, 90000};
  std::size_t total = 0;
  for (std::size_t size : sizes)
    total += size;
  PatternCheck check;
  TaskHandle<> reader = spawn(read_pattern_to_end(&c.server, 1000, &check), "reader");
  co_await send_pieces(&c.client, sizes);
  co_await reader;
  EXPECT_EQ(check.received, total);
  EXPECT_EQ(check.first_mismatch, SIZE_MAX);
  co_await c.client.close();
  co_await c.server.close();
}

TEST_P(VectoredStreamTest, ASlowReaderGetsEveryPiece) {
  run(slow_reader_gets_everything());
}

// Bytes write() buffered go first: the pieces queue behind them.
Task<> pieces_follow_buffered_bytes() {
  Connection c = co_await connect_over_loopback();
  shrink_kernel_buffers(c);
  const std::vector<std::byte> all = pattern(0, 600000);
  const std::span<const std::byte> bytes(all);
  c.client.write(bytes.first(400000));  // more than the kernel takes: the rest is buffered
  EXPECT_GT(c.client.write_buffer_size(), 0u);
  const std::vector<std::span<const std::byte>> pieces = {bytes.subspan(400000, 150000),
                                                          bytes.subspan(550000)};
  PatternCheck check;
  TaskHandle<> reader = spawn(read_pattern_to_end(&c.server, 4096, &check), "reader");
  co_await c.client.write_all_vectored(pieces);
  co_await c.client.shutdown_write();
  co_await reader;
  EXPECT_EQ(check.received, all.size());
  EXPECT_EQ(check.first_mismatch, SIZE_MAX);
  co_await c.client.close();
  co_await c.server.close();
}

TEST_P(VectoredStreamTest, PiecesGoBehindWhatWriteBuffered) {
  run(pieces_follow_buffered_bytes());
}

// ---- errors ----

Task<> vectored_send_to_a_reset_peer_fails() {
  Connection c = co_await connect_over_loopback();
  // The peer aborts: SO_LINGER {on, 0 s} makes close() send a reset.
  const linger abort_on_close{1, 0};
  ::setsockopt(c.server.native_handle(), SOL_SOCKET, SO_LINGER, &abort_on_close,
               sizeof abort_on_close);
  co_await c.server.close();
  co_await sleep(10ms);  // the reset reaches the client
  const std::vector<std::byte> all = pattern(0, 1 << 20);
  const std::span<const std::byte> bytes(all);
  const std::vector<std::span<const std::byte>> pieces = {bytes.first(100), bytes.subspan(100)};
  bool failed = false;
  try {
    co_await c.client.write_all_vectored(pieces);
  } catch (const std::system_error& error) {
    failed = true;
    EXPECT_TRUE(is_reset_or_broken_pipe(error)) << error.what();
    EXPECT_NE(std::string(error.what()).find("send"), std::string::npos) << error.what();
  }
  EXPECT_TRUE(failed) << "a gathered send to a reset peer succeeded";
  // The error stays for the next writer, as write_all's does.
  bool failed_again = false;
  try {
    co_await c.client.write_all_vectored(pieces);
  } catch (const std::system_error& error) {
    failed_again = is_reset_or_broken_pipe(error);
  }
  EXPECT_TRUE(failed_again);
  co_await c.client.close();
}

TEST_P(VectoredStreamTest, ASendToAResetPeerFailsWithTheResetAndKeepsFailing) {
  run(vectored_send_to_a_reset_peer_fails());
}

Task<> vectored_send_on_a_closed_socket_fails() {
  Connection c = co_await connect_over_loopback();
  co_await c.client.close();
  const std::string text = "abc";
  const std::vector<std::span<const std::byte>> pieces = {
      std::as_bytes(std::span(text.data(), text.size()))};
  bool failed = false;
  try {
    co_await c.client.write_all_vectored(pieces);
  } catch (const std::system_error& error) {
    failed = error.code() == std::error_code(EBADF, std::system_category());
    EXPECT_NE(std::string(error.what()).find("closed socket"), std::string::npos) << error.what();
  }
  EXPECT_TRUE(failed);
  TcpStream never_opened;
  bool failed_unopened = false;
  try {
    co_await never_opened.write_all_vectored(pieces);
  } catch (const std::system_error& error) {
    failed_unopened = error.code() == std::error_code(EBADF, std::system_category());
  }
  EXPECT_TRUE(failed_unopened);
  co_await c.server.close();
}

TEST_P(VectoredStreamTest, ASendOnAClosedSocketFailsWithEBADF) {
  run(vectored_send_on_a_closed_socket_fails());
}

Task<> second_direct_writer_is_refused() {
  Connection c = co_await connect_over_loopback();
  shrink_kernel_buffers(c);
  const std::vector<std::byte> all = pattern(0, 4 << 20);
  const std::vector<std::span<const std::byte>> pieces = {std::span<const std::byte>(all)};
  // The first gathered send waits on the kernel: nobody reads yet.
  TaskHandle<> first = spawn(c.client.write_all_vectored(pieces), "first");
  co_await sleep(10ms);
  bool refused = false;
  try {
    co_await c.client.write_all_vectored(pieces);
  } catch (const InvalidStateError& error) {
    refused = true;
    EXPECT_NE(std::string(error.what()).find("write_all_vectored"), std::string::npos)
        << error.what();
  }
  EXPECT_TRUE(refused);
  PatternCheck check;
  TaskHandle<> reader = spawn(read_pattern_to_end(&c.server, 64 * 1024, &check), "reader");
  co_await first;
  co_await c.client.shutdown_write();
  co_await reader;
  EXPECT_EQ(check.received, all.size());
  EXPECT_EQ(check.first_mismatch, SIZE_MAX);
  co_await c.client.close();
  co_await c.server.close();
}

TEST_P(VectoredStreamTest, ASecondConcurrentDirectWriterIsRefused) {
  run(second_direct_writer_is_refused());
}

Task<> vectored_send_after_shutdown_write_is_refused() {
  Connection c = co_await connect_over_loopback();
  co_await c.client.shutdown_write();
  const std::string text = "late";
  const std::vector<std::span<const std::byte>> pieces = {
      std::as_bytes(std::span(text.data(), text.size()))};
  bool refused = false;
  try {
    co_await c.client.write_all_vectored(pieces);
  } catch (const InvalidStateError& error) {
    refused = true;
    EXPECT_NE(std::string(error.what()).find("shutdown_write"), std::string::npos) << error.what();
  }
  EXPECT_TRUE(refused);
  co_await c.client.close();
  co_await c.server.close();
}

TEST_P(VectoredStreamTest, ASendAfterShutdownWriteIsRefused) {
  run(vectored_send_after_shutdown_write_is_refused());
}

// ---- cancellation ----

// Everything `stream` receives until the end of the stream.
Task<std::string> read_all_text(TcpStream* stream) {
  std::string text;
  for (;;) {
    ReceivedBytes received = co_await stream->receive();
    if (received.empty()) break;
    text += received.text();
  }
  co_return text;
}

// Owns its bytes and pieces: cancelling it frees them, so the backend must have let go first
// (ASan sees a late read of the freed memory).
Task<> send_owned_pieces(TcpStream* stream, std::vector<std::byte> all, Event* started) {
  const std::span<const std::byte> bytes(all);
  std::vector<std::span<const std::byte>> pieces;
  for (std::size_t offset = 0; offset < bytes.size(); offset += 100000)
    pieces.push_back(bytes.subspan(offset, std::min<std::size_t>(100000, bytes.size() - offset)));
  started->set();
  co_await stream->write_all_vectored(pieces);
}

Task<> cancelled_vectored_send_leaves_a_usable_stream() {
  Connection c = co_await connect_over_loopback();
  shrink_kernel_buffers(c);
  constexpr std::size_t total = 4 << 20;
  Event started;
  TaskHandle<> writer = spawn(send_owned_pieces(&c.client, pattern(0, total), &started), "writer");
  co_await started.wait();
  co_await let_others_run();
  EXPECT_FALSE(writer.done()) << "4 MiB went out while the peer reads nothing";
  writer.cancel();
  bool cancelled = false;
  try {
    co_await writer;
  } catch (const CancelledError&) {
    cancelled = true;
  }
  EXPECT_TRUE(cancelled);
  // The stream takes another gathered send at once: what the cancelled one sent is a prefix of
  // the pattern, and the marker follows it.
  const std::string marker = "after the cancellation";
  const std::vector<std::span<const std::byte>> pieces = {
      std::as_bytes(std::span(marker.data(), 5)),
      std::as_bytes(std::span(marker.data() + 5, marker.size() - 5))};
  TaskHandle<std::string> reader = spawn(read_all_text(&c.server), "reader");
  co_await c.client.write_all_vectored(pieces);
  co_await c.client.shutdown_write();
  const std::string received = co_await reader;
  EXPECT_GE(received.size(), marker.size());
  if (received.size() < marker.size()) co_return;
  const std::size_t prefix = received.size() - marker.size();
  EXPECT_LT(prefix, total);
  EXPECT_EQ(received.substr(prefix), marker);
  const std::vector<std::byte> expected = pattern(0, prefix);
  EXPECT_EQ(std::memcmp(received.data(), expected.data(), prefix), 0)
      << "the cancelled send's bytes are not a prefix of what it was given";
  co_await c.client.close();
  co_await c.server.close();
}

TEST_P(VectoredStreamTest, ACancelledGatheredSendLetsGoOfItsPiecesAndTheStreamGoesOn) {
  run(cancelled_vectored_send_leaves_a_usable_stream());
}

// ---- try_receive ----

Task<> try_receive_takes_what_is_there_and_never_waits() {
  Connection c = co_await connect_over_loopback();
  // Nothing has arrived: empty at once.
  EXPECT_TRUE(c.server.try_receive().empty());
  co_await c.client.write_all(std::string_view("first line\nrest"));
  std::string line = co_await c.server.readline();
  EXPECT_EQ(line, "first line\n");
  // What readline left over comes first, without waiting.
  ReceivedBytes rest = c.server.try_receive();
  EXPECT_EQ(rest.text(), "rest");
  rest.release();
  EXPECT_TRUE(c.server.try_receive().empty());
  // More bytes: after a receive(), bytes that arrive later are queued on io_uring's ring path
  // (its receive stays armed) and try_receive() hands them over; elsewhere they wait in the
  // kernel, try_receive() gives nothing and receive() takes them.
  co_await c.client.write_all(std::string_view("second"));
  co_await wait_for_arrived(&c.server, 6);
  std::string taken;
  ReceivedBytes queued = c.server.try_receive();
  if (Loop::current().backend().multishot_receive()) {
    EXPECT_FALSE(queued.empty());
  }
  taken += queued.text();
  queued.release();
  while (taken.size() < 6) {
    ReceivedBytes received = co_await c.server.receive();
    if (received.empty()) break;
    taken += received.text();
  }
  EXPECT_EQ(taken, "second");
  co_await c.client.close();
  ReceivedBytes end = co_await c.server.receive();
  EXPECT_TRUE(end.empty());
  EXPECT_TRUE(c.server.try_receive().empty());
  co_await c.server.close();
}

TEST_P(VectoredStreamTest, TryReceiveTakesWhatIsThereAndNeverWaits) {
  run(try_receive_takes_what_is_there_and_never_waits());
}

Task<> try_receive_while_another_read_waits_is_refused() {
  Connection c = co_await connect_over_loopback();
  TaskHandle<ReceivedBytes> waiting = spawn(c.server.receive(), "waiting reader");
  co_await sleep(5ms);
  bool refused = false;
  try {
    ReceivedBytes bytes = c.server.try_receive();
  } catch (const InvalidStateError&) {
    refused = true;
  }
  EXPECT_TRUE(refused);
  co_await c.client.write_all(std::string_view("x"));
  ReceivedBytes got = co_await waiting;
  EXPECT_EQ(got.text(), "x");
  got.release();
  co_await c.server.close();
  bool closed = false;
  try {
    ReceivedBytes bytes = c.server.try_receive();
  } catch (const std::system_error& error) {
    closed = error.code() == std::error_code(EBADF, std::system_category());
  }
  EXPECT_TRUE(closed);
  co_await c.client.close();
}

TEST_P(VectoredStreamTest, TryReceiveWhileAnotherReadWaitsIsRefusedAndOnAClosedSocketFails) {
  run(try_receive_while_another_read_waits_is_refused());
}

// A burst of several ring buffers taken in one go and echoed with one gathered send, as the echo
// sample does: every byte comes back in order.
Task<> echo_bursts_gathered(std::size_t total) {
  Connection c = co_await connect_over_loopback();
  PatternCheck check;
  TaskHandle<> reader = spawn(read_pattern_to_end(&c.client, 64 * 1024, &check), "reader");
  const std::vector<std::byte> all = pattern(0, total);
  TaskHandle<> sender = spawn(c.client.write_all(all), "sender");
  std::size_t echoed = 0;
  while (echoed < total) {
    std::vector<ReceivedBytes> held;
    ReceivedBytes first = co_await c.server.receive();
    if (first.empty()) break;
    held.push_back(std::move(first));
    for (;;) {
      ReceivedBytes more = c.server.try_receive();
      if (more.empty()) break;
      held.push_back(std::move(more));
    }
    std::vector<std::span<const std::byte>> pieces;
    for (const ReceivedBytes& bytes : held) {
      pieces.push_back(bytes.bytes());
      echoed += bytes.size();
    }
    co_await c.server.write_all_vectored(pieces);
  }
  co_await sender;
  co_await c.server.shutdown_write();
  co_await reader;
  EXPECT_EQ(check.received, total);
  EXPECT_EQ(check.first_mismatch, SIZE_MAX);
  co_await c.client.close();
  co_await c.server.close();
}

TEST_P(VectoredStreamTest, BurstsTakenWithTryReceiveEchoBackInOrder) {
  run(echo_bursts_gathered(16 << 20));
  const io::ReceiveBufferStats stats = loop().backend().receive_buffer_stats();
  EXPECT_EQ(stats.ring_loaned, 0u);
  EXPECT_EQ(stats.chunks_loaned, 0u);
  EXPECT_EQ(stats.double_returns, 0u);
}

RINGLOOP_ON_BOTH_BACKENDS(VectoredStreamTest);

}  // namespace
}  // namespace ringloop::testing
