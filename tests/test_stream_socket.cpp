// StreamSocket's buffering over real TCP connections on 127.0.0.1, on both backends: read_exactly,
// read_until and readline over split and merged peer writes, LimitOverrunError and
// IncompleteReadError leaving the stream usable, read_some after buffered reads; write() and
// drain() keeping memory bounded against a slow reader, flush(), shutdown_write(), close()
// flushing first, a peer reset surfacing from drain()/flush(); one reader at a time; and
// cancellation of reads and writes in flight leaving no operation behind and the stream usable.

#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include "support/loop_fixture.hpp"
#include "support/sockets.hpp"

namespace ringloop::testing {
namespace {

using namespace std::chrono_literals;

class StreamSocketTest : public LoopTest {};

// ---- helpers ---------------------------------------------------------------------------------

constexpr std::size_t chunk_size = 64 * 1024;

/// The byte at `offset` of a stream whose every position is distinct enough that a lost,
/// repeated or reordered chunk shows.
std::byte pattern_byte(std::size_t offset) {
  const std::uint64_t mixed = static_cast<std::uint64_t>(offset) * 2654435761u;
  return static_cast<std::byte>((mixed >> 13) ^ (offset >> 16));
}

std::vector<std::byte> pattern(std::size_t offset, std::size_t size) {
  std::vector<std::byte> bytes(size);
  for (std::size_t i = 0; i < size; ++i)
    bytes[i] = pattern_byte(offset + i);
  return bytes;
}

/// Waits until `stream` has buffered at least `count` received bytes; a test failure after ~10 s.
Task<> wait_for_buffered(const StreamSocket* stream, std::size_t count) {
  for (int i = 0; i < 10000 && stream->read_buffer_size() < count; ++i)
    co_await sleep(1ms);
  EXPECT_GE(stream->read_buffer_size(), count) << "the bytes never reached the read buffer";
}

/// What a reader that reads to the end of the stream saw of a pattern stream.
struct PatternCheck {
  std::size_t received = 0;
  std::size_t first_mismatch = SIZE_MAX;  // offset of the first wrong byte, if any
  bool clean_end = false;                 // ended with read_some() == 0, not an exception
};

/// Reads `stream` to its end, in `piece`-byte reads, comparing with pattern(0, ...).
Task<> read_pattern_to_end(StreamSocket* stream, std::size_t piece, PatternCheck* check) {
  std::vector<std::byte> buffer(piece);
  for (;;) {
    const std::size_t got = co_await stream->read_some(buffer);
    if (got == 0) break;
    for (std::size_t i = 0; i < got; ++i) {
      if (check->first_mismatch == SIZE_MAX && buffer[i] != pattern_byte(check->received + i)) {
        check->first_mismatch = check->received + i;
      }
    }
    check->received += got;
  }
  check->clean_end = true;
}

Task<> write_pieces_apart(StreamSocket* stream, std::vector<std::string> pieces) {
  for (const std::string& piece : pieces) {
    co_await stream->write_all(piece);
    co_await sleep(2ms);  // separate segments, most likely (the test passes either way)
  }
}

// ---- read_exactly ----------------------------------------------------------------------------

Task<> read_exactly_across_small_writes() {
  Connection c = co_await connect_over_loopback();
  c.server.set_nodelay(true);
  TaskHandle<> peer =
      spawn(write_pieces_apart(&c.server, {"ab", "cde", "f", "ghij", "KLM"}), "peer");
  std::array<std::byte, 10> ten{};
  co_await c.client.read_exactly(ten);
  EXPECT_EQ(text_of(ten), "abcdefghij");
  std::array<std::byte, 3> three{};
  co_await c.client.read_exactly(three);
  EXPECT_EQ(text_of(three), "KLM");
  co_await peer;
  std::array<std::byte, 0> none{};
  co_await c.client.read_exactly(none);  // zero bytes: returns at once
  EXPECT_EQ(c.client.read_buffer_size(), 0u);
  co_await c.client.close();
  co_await c.server.close();
}

TEST_P(StreamSocketTest, ReadExactlyGathersExactlyTheBytesOfSeveralSmallPeerWrites) {
  run(read_exactly_across_small_writes());
}

Task<> read_exactly_leaves_the_rest_buffered() {
  Connection c = co_await connect_over_loopback();
  co_await c.server.write_all("0123456789tail");
  co_await wait_for_kernel_bytes(c.client.native_handle(), 14);
  std::array<std::byte, 10> ten{};
  co_await c.client.read_exactly(ten);
  EXPECT_EQ(text_of(ten), "0123456789");
  std::array<std::byte, 64> rest{};
  const std::size_t got = co_await c.client.read_some(rest);
  EXPECT_EQ(text_of(std::span(rest).first(got)), "tail");
  co_await c.client.close();
  co_await c.server.close();
}

TEST_P(StreamSocketTest, ReadExactlyLeavesTheBytesBeyondItsCountForTheNextRead) {
  run(read_exactly_leaves_the_rest_buffered());
}

Task<> read_exactly_meets_end_of_stream() {
  Connection c = co_await connect_over_loopback();
  co_await c.server.write_all("partial");
  co_await c.server.close();
  std::array<std::byte, 20> twenty{};
  bool threw = false;
  try {
    co_await c.client.read_exactly(twenty);
  } catch (const IncompleteReadError& error) {
    threw = true;
    EXPECT_EQ(error.partial(), "partial");
    EXPECT_EQ(error.expected(), 20u);
  }
  EXPECT_TRUE(threw) << "read_exactly(20) returned although only 7 bytes were ever sent";
  EXPECT_TRUE(c.client.at_eof());
  EXPECT_EQ(c.client.read_buffer_size(), 0u);
  std::array<std::byte, 4> more{};
  const std::size_t got = co_await c.client.read_some(more);
  EXPECT_EQ(got, 0u);
  co_await c.client.close();
}

TEST_P(StreamSocketTest, ReadExactlyAtEndOfStreamThrowsIncompleteReadErrorWithThePartialBytes) {
  run(read_exactly_meets_end_of_stream());
}

// ---- read_until ------------------------------------------------------------------------------

Task<> read_until_split_delimiter() {
  Connection c = co_await connect_over_loopback();
  c.server.set_nodelay(true);
  TaskHandle<std::string> reader = spawn(c.client.read_until("\r\n\r\n"), "reader");
  // Each piece reaches the reader's buffer before the next is sent: the delimiter is split across
  // three receives, and "\r\n" inside the first piece is a false start.
  co_await c.server.write_all("GET / HTTP/1.1\r\nHost: x\r");
  co_await wait_for_buffered(&c.client, 24);
  co_await c.server.write_all("\n\r");
  co_await wait_for_buffered(&c.client, 26);
  EXPECT_FALSE(reader.done());
  co_await c.server.write_all("\nbody");
  const std::string head = co_await reader;
  EXPECT_EQ(head, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  co_await wait_for_buffered(&c.client, 4);
  EXPECT_EQ(c.client.read_buffer_size(), 4u);
  std::array<std::byte, 4> body{};
  co_await c.client.read_exactly(body);
  EXPECT_EQ(text_of(body), "body");
  co_await c.client.close();
  co_await c.server.close();
}

TEST_P(StreamSocketTest, ReadUntilFindsAMultiByteDelimiterSplitAcrossPeerWrites) {
  run(read_until_split_delimiter());
}

Task<> read_until_one_message_at_a_time() {
  Connection c = co_await connect_over_loopback();
  co_await c.server.write_all("one;two;;three;a--b----c--");
  co_await wait_for_kernel_bytes(c.client.native_handle(), 26);
  std::vector<std::string> got;
  for (int i = 0; i < 4; ++i) {
    std::string message = co_await c.client.read_until(";");
    got.push_back(message);
  }
  for (int i = 0; i < 4; ++i) {
    std::string message = co_await c.client.read_until("--");
    got.push_back(message);
  }
  const std::vector<std::string> expected = {"one;", "two;", ";",  "three;",
                                             "a--",  "b--",  "--", "c--"};
  EXPECT_EQ(got, expected);
  EXPECT_EQ(c.client.read_buffer_size(), 0u);
  co_await c.client.close();
  co_await c.server.close();
}

TEST_P(StreamSocketTest, ReadUntilGivesSeveralMessagesOfOnePeerWriteOneAtATime) {
  run(read_until_one_message_at_a_time());
}

Task<> read_until_overruns_then_continues() {
  Connection c = co_await connect_over_loopback();
  const std::string long_line = std::string(100, 'x') + "END\n";
  co_await c.server.write_all(long_line + "next\n");
  co_await wait_for_kernel_bytes(c.client.native_handle(), 109);
  bool overran = false;
  try {
    std::string line = co_await c.client.read_until("\n", 64);
    ADD_FAILURE() << "read_until gave '" << line << "' past max_bytes";
  } catch (const LimitOverrunError& error) {
    overran = true;
    EXPECT_GE(error.buffered(), 64u);
    EXPECT_EQ(error.buffered(), c.client.read_buffer_size());
  }
  EXPECT_TRUE(overran);
  // Nothing was lost: the next reads give the same bytes, from the first one on.
  std::array<std::byte, 10> first{};
  const std::size_t got = co_await c.client.read_some(first);
  EXPECT_EQ(text_of(std::span(first).first(got)), std::string(got, 'x'));
  EXPECT_GT(got, 0u);
  std::vector<std::byte> rest(100 - got);
  co_await c.client.read_exactly(rest);
  EXPECT_EQ(text_of(rest), std::string(100 - got, 'x'));
  const std::string end = co_await c.client.read_until("\n", 64);
  EXPECT_EQ(end, "END\n");
  const std::string next = co_await c.client.readline();
  EXPECT_EQ(next, "next\n");
  co_await c.client.close();
  co_await c.server.close();
}

TEST_P(StreamSocketTest, ReadUntilWithoutDelimiterWithinMaxBytesThrowsLimitOverrunAndLosesNothing) {
  run(read_until_overruns_then_continues());
}

Task<> read_until_overruns_while_waiting() {
  Connection c = co_await connect_over_loopback();
  c.server.set_nodelay(true);
  // The delimiter never comes: the reader must give up once max_bytes are buffered, not wait.
  TaskHandle<> peer =
      spawn(write_pieces_apart(&c.server,
                               {std::string(30, 'a'), std::string(30, 'b'), std::string(30, 'c')}),
            "peer");
  bool overran = false;
  try {
    std::string line = co_await c.client.read_until("|", 50);
    ADD_FAILURE() << "read_until gave '" << line << "'";
  } catch (const LimitOverrunError& error) {
    overran = true;
    EXPECT_GE(error.buffered(), 50u);
  }
  EXPECT_TRUE(overran);
  co_await peer;
  co_await c.server.write_all("|");
  const std::string all = co_await c.client.read_until("|", 1000);
  EXPECT_EQ(all, std::string(30, 'a') + std::string(30, 'b') + std::string(30, 'c') + "|");
  co_await c.client.close();
  co_await c.server.close();
}

TEST_P(StreamSocketTest, ReadUntilGivesUpWhenMaxBytesArriveWithoutDelimiterAndTheBytesStay) {
  run(read_until_overruns_while_waiting());
}

Task<> read_until_meets_end_of_stream() {
  Connection c = co_await connect_over_loopback();
  co_await c.server.write_all("no delimiter here");
  co_await c.server.shutdown_write();
  bool threw = false;
  try {
    std::string line = co_await c.client.read_until("\n");
    ADD_FAILURE() << "read_until gave '" << line << "'";
  } catch (const IncompleteReadError& error) {
    threw = true;
    EXPECT_EQ(error.partial(), "no delimiter here");
  }
  EXPECT_TRUE(threw);
  EXPECT_TRUE(c.client.at_eof());
  co_await c.client.close();
  co_await c.server.close();
}

TEST_P(StreamSocketTest, ReadUntilAtEndOfStreamBeforeTheDelimiterThrowsIncompleteReadError) {
  run(read_until_meets_end_of_stream());
}

Task<> read_until_empty_delimiter() {
  Connection c = co_await connect_over_loopback();
  bool rejected = false;
  try {
    std::string line = co_await c.client.read_until("");
    ADD_FAILURE() << "read_until(\"\") gave '" << line << "'";
  } catch (const std::invalid_argument&) {
    rejected = true;
  }
  EXPECT_TRUE(rejected);
  // The refusal did not leave the stream marked as being read.
  co_await c.server.write_all("ok\n");
  const std::string line = co_await c.client.read_until("\n");
  EXPECT_EQ(line, "ok\n");
  co_await c.client.close();
  co_await c.server.close();
}

TEST_P(StreamSocketTest, ReadUntilWithAnEmptyDelimiterThrowsInvalidArgument) {
  run(read_until_empty_delimiter());
}

// ---- readline --------------------------------------------------------------------------------

Task<> readline_lines_then_eof() {
  Connection c = co_await connect_over_loopback();
  c.server.set_nodelay(true);
  TaskHandle<> peer =
      spawn(write_pieces_apart(&c.server, {"first\nsec", "ond\n", "\n", "last"}), "peer");
  std::vector<std::string> lines;
  for (int i = 0; i < 3; ++i) {
    std::string line = co_await c.client.readline();
    lines.push_back(line);
  }
  co_await peer;
  co_await c.server.shutdown_write();
  for (int i = 0; i < 3; ++i) {
    std::string line = co_await c.client.readline();
    lines.push_back(line);
  }
  const std::vector<std::string> expected = {"first\n", "second\n", "\n", "last", "", ""};
  EXPECT_EQ(lines, expected);
  EXPECT_TRUE(c.client.at_eof());
  co_await c.client.close();
  co_await c.server.close();
}

TEST_P(StreamSocketTest, ReadlineGivesLinesThenTheUnterminatedLastLineThenEmptyAtEof) {
  run(readline_lines_then_eof());
}

// ---- read_some, at_eof, read_buffer_size -----------------------------------------------------

Task<> read_some_after_buffered_read() {
  Connection c = co_await connect_over_loopback();
  co_await c.server.write_all("line\nrest-of-data");
  co_await wait_for_kernel_bytes(c.client.native_handle(), 17);
  EXPECT_EQ(c.client.read_buffer_size(), 0u);
  const std::string line = co_await c.client.readline();
  EXPECT_EQ(line, "line\n");
  EXPECT_EQ(c.client.read_buffer_size(), 12u);
  EXPECT_FALSE(c.client.at_eof());

  std::array<std::byte, 4> four{};
  std::size_t got = co_await c.client.read_some(four);
  EXPECT_EQ(text_of(std::span(four).first(got)), "rest");
  EXPECT_EQ(c.client.read_buffer_size(), 8u);
  std::array<std::byte, 0> none{};
  got = co_await c.client.read_some(none);
  EXPECT_EQ(got, 0u);
  EXPECT_FALSE(c.client.at_eof()) << "an empty read_some is not the end of the stream";

  // More bytes wait in the kernel now, but the buffered ones come first, alone.
  co_await c.server.write_all("MORE");
  co_await wait_for_kernel_bytes(c.client.native_handle(), 4);
  std::array<std::byte, 100> big{};
  got = co_await c.client.read_some(big);
  EXPECT_EQ(text_of(std::span(big).first(got)), "-of-data");
  EXPECT_EQ(c.client.read_buffer_size(), 0u);
  got = co_await c.client.read_some(big);
  EXPECT_EQ(text_of(std::span(big).first(got)), "MORE");

  co_await c.server.close();
  got = co_await c.client.read_some(big);
  EXPECT_EQ(got, 0u);
  EXPECT_TRUE(c.client.at_eof());
  got = co_await c.client.read_some(big);
  EXPECT_EQ(got, 0u) << "the end of the stream is sticky";
  co_await c.client.close();
}

TEST_P(StreamSocketTest, ReadSomeGivesBufferedBytesFirstAndAtEofOnlyOnceTheEndIsRead) {
  run(read_some_after_buffered_read());
}

// ---- write, drain, flush ---------------------------------------------------------------------

struct WriterStats {
  std::size_t max_buffered = 0;        // write_buffer_size() right after each write()
  std::size_t max_after_drain = 0;     // write_buffer_size() when drain() returned
  std::size_t drains_that_waited = 0;  // drain() called above the high-water mark
  std::size_t written = 0;
};

Task<> write_with_drain(StreamSocket* stream, std::size_t total, Event* backpressure,
                        WriterStats* stats) {
  for (std::size_t offset = 0; offset < total; offset += chunk_size) {
    const std::vector<std::byte> chunk = pattern(offset, chunk_size);
    stream->write(chunk);
    stats->written += chunk_size;
    const std::size_t buffered = stream->write_buffer_size();
    stats->max_buffered = std::max(stats->max_buffered, buffered);
    if (buffered > StreamSocket::default_high_water) {
      ++stats->drains_that_waited;
      backpressure->set();
    }
    co_await stream->drain();
    stats->max_after_drain = std::max(stats->max_after_drain, stream->write_buffer_size());
  }
  co_await stream->shutdown_write();  // flushes first
  EXPECT_EQ(stream->write_buffer_size(), 0u);
}

Task<> slow_reader(StreamSocket* stream, Event* backpressure, const WriterStats* stats,
                   PatternCheck* check) {
  co_await backpressure->wait();
  // The writer is parked in drain() above the high-water mark; it may not get further while
  // nobody reads (the kernel's small buffers are full by now or soon).
  co_await sleep(20ms);
  EXPECT_LT(stats->written, 4 * 1024 * 1024u);
  co_await read_pattern_to_end(stream, 4096, check);
}

Task<> drain_bounds_memory() {
  Connection c = co_await connect_over_loopback();
  shrink_kernel_buffers(c);
  constexpr std::size_t total = 8 * 1024 * 1024;
  Event backpressure;
  WriterStats stats;
  PatternCheck check;
  TaskHandle<> reader = spawn(slow_reader(&c.server, &backpressure, &stats, &check), "reader");
  TaskHandle<> writer = spawn(write_with_drain(&c.client, total, &backpressure, &stats), "writer");
  co_await writer;
  co_await reader;
  EXPECT_GE(stats.drains_that_waited, 1u) << "the writer never met backpressure";
  EXPECT_LE(stats.max_buffered, StreamSocket::default_high_water + chunk_size);
  EXPECT_LE(stats.max_after_drain, StreamSocket::default_high_water);
  EXPECT_EQ(check.received, total);
  EXPECT_EQ(check.first_mismatch, SIZE_MAX) << "wrong byte at offset " << check.first_mismatch;
  EXPECT_TRUE(check.clean_end);
  co_await c.client.close();
  co_await c.server.close();
}

TEST_P(StreamSocketTest, WriteAndDrainKeepTheBufferBoundedAgainstASlowReaderAndLoseNoByte) {
  run(drain_bounds_memory());
}

Task<> write_buffer_limits_validation() {
  Connection c = co_await connect_over_loopback();
  bool rejected = false;
  try {
    c.client.set_write_buffer_limits(1000, 1001);
  } catch (const std::invalid_argument&) {
    rejected = true;
  }
  EXPECT_TRUE(rejected) << "low above high was accepted";
  c.client.set_write_buffer_limits(1000, 1000);
  c.client.set_write_buffer_limits(0, 0);
  // With the marks at zero, drain() waits until everything is handed to the kernel.
  c.client.write("abc");
  co_await c.client.drain();
  EXPECT_EQ(c.client.write_buffer_size(), 0u);
  std::array<std::byte, 3> got{};
  co_await c.server.read_exactly(got);
  EXPECT_EQ(text_of(got), "abc");
  co_await c.client.close();
  co_await c.server.close();
}

TEST_P(StreamSocketTest, SetWriteBufferLimitsRejectsLowAboveHigh) {
  run(write_buffer_limits_validation());
}

Task<> write_after_shutdown_write() {
  Connection c = co_await connect_over_loopback();
  c.client.write("bye");
  co_await c.client.shutdown_write();
  EXPECT_EQ(c.client.write_buffer_size(), 0u);
  bool refused = false;
  try {
    c.client.write("too late");
  } catch (const InvalidStateError&) {
    refused = true;
  }
  EXPECT_TRUE(refused) << "write() after shutdown_write() was accepted";
  // The peer reads what came before, then the end of the stream; the other direction still works.
  const std::string before = co_await c.server.readline();
  EXPECT_EQ(before, "bye");
  EXPECT_TRUE(c.server.at_eof());
  co_await c.server.write_all("still open\n");
  const std::string reply = co_await c.client.readline();
  EXPECT_EQ(reply, "still open\n");
  co_await c.client.close();
  co_await c.server.close();
}

TEST_P(StreamSocketTest, WriteAfterShutdownWriteThrowsInvalidStateErrorAndTheReadSideStaysOpen) {
  run(write_after_shutdown_write());
}

Task<> write_after_close() {
  Connection c = co_await connect_over_loopback();
  co_await c.client.close();
  EXPECT_FALSE(c.client.is_open());
  bool refused = false;
  try {
    c.client.write("too late");
  } catch (const std::system_error& error) {
    EXPECT_EQ(error.code(), std::error_code(EBADF, std::system_category())) << error.what();
    EXPECT_NE(std::string(error.what()).find("closed socket"), std::string::npos) << error.what();
    refused = true;
  }
  EXPECT_TRUE(refused) << "write() after close() was accepted";
  co_await c.client.close();  // twice: a no-op
  co_await c.server.close();
}

TEST_P(StreamSocketTest, WriteAfterCloseFailsWithEbadf) {
  run(write_after_close());
}

Task<> peer_reset_fails_drain_and_flush() {
  Connection c = co_await connect_over_loopback();
  shrink_kernel_buffers(c);
  // More than the kernel takes while the peer does not read: a background send stays pending.
  const std::vector<std::byte> big = pattern(0, 4 * 1024 * 1024);
  c.client.write(big);
  EXPECT_GT(c.client.write_buffer_size(), StreamSocket::default_high_water);
  co_await let_others_run();
  // The peer aborts: SO_LINGER {on, 0 s} makes close() send a reset.
  const linger abort_on_close{1, 0};
  ::setsockopt(c.server.native_handle(), SOL_SOCKET, SO_LINGER, &abort_on_close,
               sizeof abort_on_close);
  co_await c.server.close();

  bool drain_threw = false;
  try {
    co_await c.client.drain();
  } catch (const std::system_error& error) {
    drain_threw = true;
    EXPECT_TRUE(is_reset_or_broken_pipe(error)) << error.what();
  }
  EXPECT_TRUE(drain_threw) << "drain() returned although the peer reset the connection";
  bool flush_threw = false;
  try {
    co_await c.client.flush();
  } catch (const std::system_error& error) {
    flush_threw = true;
    EXPECT_TRUE(is_reset_or_broken_pipe(error)) << error.what();
  }
  EXPECT_TRUE(flush_threw) << "flush() returned although the peer reset the connection";
  bool write_threw = false;
  try {
    c.client.write("more");
  } catch (const std::system_error& error) {
    write_threw = true;
    EXPECT_TRUE(is_reset_or_broken_pipe(error)) << error.what();
  }
  EXPECT_TRUE(write_threw) << "write() after a failed background send did not throw";
  // close() still closes, and reports the failed flush after closing.
  bool close_threw = false;
  try {
    co_await c.client.close();
  } catch (const std::system_error& error) {
    close_threw = true;
    EXPECT_TRUE(is_reset_or_broken_pipe(error)) << error.what();
  }
  EXPECT_TRUE(close_threw);
  EXPECT_FALSE(c.client.is_open());
  EXPECT_EQ(in_flight_now(), 0u);
}

TEST_P(StreamSocketTest, ABackgroundSendFailingOnAPeerResetMakesDrainAndFlushThrow) {
  run(peer_reset_fails_drain_and_flush());
}

Task<> write_to_reset_peer() {
  Connection c = co_await connect_over_loopback();
  const linger abort_on_close{1, 0};
  ::setsockopt(c.server.native_handle(), SOL_SOCKET, SO_LINGER, &abort_on_close,
               sizeof abort_on_close);
  co_await c.server.close();
  bool failed = false;
  try {
    // The reset may arrive before or during these sends: the first failure shows up in write()
    // or in flush(), never silently.
    for (int i = 0; i < 64; ++i) {
      c.client.write(std::string(chunk_size, 'r'));
      co_await c.client.flush();
    }
  } catch (const std::system_error& error) {
    failed = true;
    EXPECT_TRUE(is_reset_or_broken_pipe(error)) << error.what();
  }
  EXPECT_TRUE(failed) << "4 MiB written to a reset peer without an error";
  try {
    co_await c.client.close();
  } catch (const std::system_error&) {
  }
  EXPECT_FALSE(c.client.is_open());
}

TEST_P(StreamSocketTest, WritingToAResetPeerFailsWithEconnresetOrEpipeInsteadOfSigpipe) {
  run(write_to_reset_peer());
}

Task<> close_flushes_first() {
  Connection c = co_await connect_over_loopback();
  shrink_kernel_buffers(c);
  constexpr std::size_t total = 2 * 1024 * 1024;
  const std::vector<std::byte> everything = pattern(0, total);
  c.client.write(everything);
  EXPECT_GT(c.client.write_buffer_size(), 0u) << "the kernel took 2 MiB at once";
  PatternCheck check;
  TaskHandle<> reader = spawn(read_pattern_to_end(&c.server, 16 * 1024, &check), "reader");
  co_await c.client.close();
  EXPECT_FALSE(c.client.is_open());
  co_await reader;
  EXPECT_EQ(check.received, total);
  EXPECT_EQ(check.first_mismatch, SIZE_MAX) << "wrong byte at offset " << check.first_mismatch;
  EXPECT_TRUE(check.clean_end);
  co_await c.server.close();
}

TEST_P(StreamSocketTest, CloseSendsEveryBufferedByteBeforeClosing) {
  run(close_flushes_first());
}

// ---- one reader at a time --------------------------------------------------------------------

Task<std::string> read_some_text(StreamSocket* stream) {
  std::array<std::byte, 64> buffer{};
  const std::size_t got = co_await stream->read_some(buffer);
  co_return text_of(std::span(buffer).first(got));
}

Task<> two_concurrent_readers() {
  Connection c = co_await connect_over_loopback();
  TaskHandle<std::string> first = spawn(read_some_text(&c.client), "first reader");
  co_await let_others_run();
  EXPECT_FALSE(first.done());
  int refused = 0;
  try {
    std::string text = co_await read_some_text(&c.client);
    ADD_FAILURE() << "second read_some gave '" << text << "'";
  } catch (const InvalidStateError&) {
    ++refused;
  }
  try {
    std::string line = co_await c.client.read_until("\n");
    ADD_FAILURE() << "second read_until gave '" << line << "'";
  } catch (const InvalidStateError&) {
    ++refused;
  }
  try {
    std::array<std::byte, 1> one{};
    co_await c.client.read_exactly(one);
    ADD_FAILURE() << "second read_exactly returned";
  } catch (const InvalidStateError&) {
    ++refused;
  }
  EXPECT_EQ(refused, 3);
  co_await c.server.write_all("for the first");
  const std::string text = co_await first;
  EXPECT_EQ(text, "for the first");
  // Once the first read is over, another may start.
  co_await c.server.write_all("then\n");
  const std::string line = co_await c.client.readline();
  EXPECT_EQ(line, "then\n");
  co_await c.client.close();
  co_await c.server.close();
}

TEST_P(StreamSocketTest, ASecondConcurrentReadThrowsInvalidStateErrorAndTheFirstIsUndisturbed) {
  run(two_concurrent_readers());
}

// ---- cancellation in flight ------------------------------------------------------------------

Task<> cancel_read_until() {
  Connection c = co_await connect_over_loopback();
  TaskHandle<std::string> reader = spawn(c.client.read_until("\n"), "reader");
  co_await c.server.write_all("abc");
  co_await wait_for_buffered(&c.client, 3);
  co_await let_others_run();
  EXPECT_FALSE(reader.done());
  reader.cancel();
  bool cancelled = false;
  try {
    std::string line = co_await reader;
    ADD_FAILURE() << "the cancelled read_until gave '" << line << "'";
  } catch (const CancelledError&) {
    cancelled = true;
  }
  EXPECT_TRUE(cancelled);
  EXPECT_EQ(in_flight_now(), 0u) << "the cancelled receive is still in flight";
  // The bytes it had received are still there, in order, for the next read.
  EXPECT_EQ(c.client.read_buffer_size(), 3u);
  co_await c.server.write_all("def\nghi\n");
  const std::string line = co_await c.client.read_until("\n");
  EXPECT_EQ(line, "abcdef\n");
  const std::string next = co_await c.client.readline();
  EXPECT_EQ(next, "ghi\n");
  co_await c.client.close();
  co_await c.server.close();
}

TEST_P(StreamSocketTest, CancellingABlockedReadUntilKeepsItsBytesForTheNextRead) {
  run(cancel_read_until());
}

Task<> cancel_read_some() {
  Connection c = co_await connect_over_loopback();
  TaskHandle<std::string> reader = spawn(read_some_text(&c.client), "reader");
  co_await let_others_run();
  EXPECT_FALSE(reader.done());
  reader.cancel();
  bool cancelled = false;
  try {
    std::string text = co_await reader;
    ADD_FAILURE() << "the cancelled read_some gave '" << text << "'";
  } catch (const CancelledError&) {
    cancelled = true;
  }
  EXPECT_TRUE(cancelled);
  EXPECT_EQ(in_flight_now(), 0u);
  co_await c.server.write_all("after");
  const std::string text = co_await read_some_text(&c.client);
  EXPECT_EQ(text, "after");
  co_await c.client.close();
  co_await c.server.close();
}

TEST_P(StreamSocketTest, CancellingABlockedReadSomeLeavesTheStreamReadable) {
  run(cancel_read_some());
}

Task<> write_then_wait(StreamSocket* stream, std::vector<std::byte> bytes, bool use_flush,
                       Event* waiting) {
  stream->write(bytes);
  waiting->set();
  if (use_flush) {
    co_await stream->flush();
  } else {
    co_await stream->drain();
  }
}

// Cancels a task blocked in drain() (or flush()) while the peer reads nothing; the background
// send goes on, and once the peer reads, everything arrives in order.
Task<> cancel_drain_or_flush(bool use_flush) {
  Connection c = co_await connect_over_loopback();
  shrink_kernel_buffers(c);
  constexpr std::size_t total = 2 * 1024 * 1024;
  Event waiting;
  TaskHandle<> writer =
      spawn(write_then_wait(&c.client, pattern(0, total), use_flush, &waiting), "writer");
  co_await waiting.wait();
  co_await let_others_run();
  EXPECT_FALSE(writer.done()) << "drain/flush returned while the peer reads nothing";
  EXPECT_GT(c.client.write_buffer_size(), StreamSocket::default_high_water);
  writer.cancel();
  bool cancelled = false;
  try {
    co_await writer;
  } catch (const CancelledError&) {
    cancelled = true;
  }
  EXPECT_TRUE(cancelled);
  PatternCheck check;
  TaskHandle<> reader = spawn(read_pattern_to_end(&c.server, 16 * 1024, &check), "reader");
  co_await c.client.flush();
  EXPECT_EQ(c.client.write_buffer_size(), 0u);
  co_await c.client.shutdown_write();
  co_await reader;
  EXPECT_EQ(check.received, total);
  EXPECT_EQ(check.first_mismatch, SIZE_MAX) << "wrong byte at offset " << check.first_mismatch;
  EXPECT_EQ(in_flight_now(), 0u);
  co_await c.client.close();
  co_await c.server.close();
}

TEST_P(StreamSocketTest, CancellingABlockedDrainLeavesTheBufferedBytesToBeSent) {
  run(cancel_drain_or_flush(false));
}

TEST_P(StreamSocketTest, CancellingABlockedFlushLeavesTheBufferedBytesToBeSent) {
  run(cancel_drain_or_flush(true));
}

Task<> write_all_bytes(StreamSocket* stream, const std::vector<std::byte>* bytes) {
  co_await stream->write_all(*bytes);
}

Task<> read_all_text(StreamSocket* stream, std::string* text) {
  std::array<std::byte, 16 * 1024> buffer{};
  for (;;) {
    const std::size_t got = co_await stream->read_some(buffer);
    if (got == 0) break;
    text->append(text_of(std::span(buffer).first(got)));
  }
}

Task<> cancel_write_all() {
  Connection c = co_await connect_over_loopback();
  shrink_kernel_buffers(c);
  const std::vector<std::byte> big = pattern(0, 4 * 1024 * 1024);
  TaskHandle<> writer = spawn(write_all_bytes(&c.client, &big), "writer");
  // The writer fills the kernel's buffers and blocks; wait until the peer side has some bytes.
  co_await wait_for_kernel_bytes(c.server.native_handle(), 1);
  co_await let_others_run();
  EXPECT_FALSE(writer.done()) << "write_all of 4 MiB finished while the peer reads nothing";
  writer.cancel();
  bool cancelled = false;
  try {
    co_await writer;
  } catch (const CancelledError&) {
    cancelled = true;
  }
  EXPECT_TRUE(cancelled);
  EXPECT_EQ(in_flight_now(), 0u) << "the cancelled send is still in flight";
  // Still usable: what was sent is a prefix of the pattern, and the next write follows it.
  std::string received;
  TaskHandle<> reader = spawn(read_all_text(&c.server, &received), "reader");
  const std::string marker = "<after the cancelled write_all>";
  co_await c.client.write_all(marker);
  co_await c.client.shutdown_write();
  co_await reader;
  EXPECT_GE(received.size(), marker.size());
  EXPECT_LT(received.size(), big.size() + marker.size());
  const std::size_t prefix = received.size() - std::min(received.size(), marker.size());
  EXPECT_EQ(received.substr(prefix), marker);
  EXPECT_EQ(received.substr(0, prefix), text_of(std::span(big).first(prefix)))
      << "the bytes before the marker are not a prefix of what write_all was given";
  co_await c.client.close();
  co_await c.server.close();
}

TEST_P(StreamSocketTest, CancellingABlockedWriteAllLeavesNoSendInFlightAndTheStreamWritable) {
  run(cancel_write_all());
}

RINGLOOP_ON_BOTH_BACKENDS(StreamSocketTest);

}  // namespace
}  // namespace ringloop::testing
