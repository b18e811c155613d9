// StreamSocket reads and writes cancelled in flight on both backends: no operation left behind,
// buffered bytes kept, and the stream still usable.

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
  // Nothing of the cancelled read stays in flight: only the stream's own receive, where it stays
  // armed between reads (io_uring multishot).
  EXPECT_EQ(in_flight_now(), armed_receives(1)) << "the cancelled receive is still in flight";
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
  EXPECT_EQ(in_flight_now(), armed_receives(1))
      << "the cancelled read left an operation of its own";
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

/// Which wait for the write buffer a test cancels.
struct BufferWaitCase {
  const char* name;
  bool use_flush;  ///< wait in flush() rather than in drain()
};

class CancelledBufferWaitTest : public LoopCaseTest<BufferWaitCase> {};

TEST_P(CancelledBufferWaitTest, CancellingABlockedWaitLeavesTheBufferedBytesToBeSent) {
  run(cancel_drain_or_flush(test_case().use_flush));
}

RINGLOOP_ON_BOTH_BACKENDS_FOR_EACH(CancelledBufferWaitTest, BufferWaitCase{"drain", false},
                                   BufferWaitCase{"flush", true});

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
