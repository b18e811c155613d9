// StreamSocket writes on both backends: write()/drain() bounded against a slow reader, flush(),
// shutdown_write(), close() flushing first, a peer reset surfacing instead of SIGPIPE.

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
#include "support/stream_socket.hpp"
namespace ringloop::testing {
namespace {

using namespace std::chrono_literals;

class StreamSocketTest : public LoopTest {};

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

RINGLOOP_ON_BOTH_BACKENDS(StreamSocketTest);

}  // namespace
}  // namespace ringloop::testing
