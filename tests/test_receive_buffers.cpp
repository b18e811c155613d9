// Issue 11: receive buffers belong to the loop. On io_uring a provided-buffer ring feeds each
// stream's multishot receive; on epoll (and on io_uring with multishot_receive off, the fallback)
// a read waits for readiness holding nothing and then receives into a pooled chunk. These tests
// pin what must hold on every path: every byte arrives in order even when a tiny ring is shared by
// hundreds of connections (ENOBUFS), a reader that stops reading holds a bounded number of buffers,
// and no buffer is lost or given back twice through cancellation, close and teardown.

#include <sys/resource.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <system_error>
#include <tuple>
#include <vector>

#include "support/loop_fixture.hpp"
#include "support/sockets.hpp"
#include "support/stream_socket.hpp"

namespace ringloop::testing {
namespace {

using namespace std::chrono_literals;

/// How the loop under test receives.
struct ReceivePath {
  const char* name;
  bool multishot;                  ///< BackendOptions::multishot_receive
  std::uint32_t ring_buffers = 0;  ///< 0: the default
};

class ReceiveBuffersTest : public LoopCaseTest<ReceivePath> {
 protected:
  LoopOptions options() const override {
    LoopOptions result = LoopCaseTest<ReceivePath>::options();
    result.backend_options.multishot_receive = path().multishot;
    if (path().ring_buffers != 0) result.backend_options.receive_buffer_count = path().ring_buffers;
    return result;
  }
  const ReceivePath& path() const { return std::get<1>(GetParam()); }
  /// Whether this loop's streams use the provided-buffer ring.
  bool uses_ring() { return loop().backend().multishot_receive(); }
  io::ReceiveBufferStats buffers() { return loop().backend().receive_buffer_stats(); }

  /// Every loaned buffer is back, none twice.
  void expect_every_buffer_back() {
    const io::ReceiveBufferStats stats = buffers();
    EXPECT_EQ(stats.ring_loaned, 0u);
    EXPECT_EQ(stats.double_returns, 0u);
    EXPECT_EQ(stats.chunks_loaned, 0u);
  }
};

// The most ring buffers a stream keeps queued for a reader that does not consume them (its
// high-water mark: a quarter of the ring, between one and 16 buffers). What the kernel fills
// beyond it in one burst, before the flow-control cancellation lands, is copied into the stream's
// read buffer and the ring buffers go back at once.
std::uint32_t ring_mark(const io::ReceiveBufferStats& stats) {
  return std::clamp<std::uint32_t>(stats.ring_buffers / 4, 1, 16);
}

// Lets the loop run a few iterations, so the final completions of cancelled receives arrive.
Task<> settle() {
  for (int i = 0; i < 5; ++i)
    co_await sleep(1ms);
}

// The chosen path is the one asked for: the ring on io_uring unless turned off, never on epoll.
TEST_P(ReceiveBuffersTest, TheBackendUsesTheRingOnlyOnIoUringWithMultishotOn) {
  const bool expected = backend_kind() == io::BackendKind::uring && path().multishot;
  EXPECT_EQ(uses_ring(), expected);
  const io::ReceiveBufferStats stats = buffers();
  if (expected) {
    EXPECT_EQ(stats.ring_buffers, path().ring_buffers ? path().ring_buffers : 256u);
    EXPECT_EQ(stats.ring_buffer_size, 64u * 1024);
  } else {
    EXPECT_EQ(stats.ring_buffers, 0u);
  }
}

// ---- many connections, few buffers ------------------------------------------------------------

constexpr std::size_t kStreamBytes = 48 * 1024;

Task<> send_pattern(TcpStream* stream, std::size_t bytes) {
  const std::vector<std::byte> all = pattern(0, bytes);
  co_await stream->write_all(all);
  co_await stream->shutdown_write();
}

// Reads with receive() (zero copy) or read_some (copy), alternating per connection.
Task<> read_pattern_with_receive(TcpStream* stream, PatternCheck* check) {
  for (;;) {
    ReceivedBytes received = co_await stream->receive();
    if (received.empty()) break;
    for (std::size_t i = 0; i < received.size(); ++i) {
      if (check->first_mismatch == SIZE_MAX &&
          received.bytes()[i] != stream_pattern_byte(check->received + i)) {
        check->first_mismatch = check->received + i;
      }
    }
    check->received += received.size();
  }
  check->clean_end = true;
}

Task<> many_connections_share_the_buffers(std::size_t connections) {
  TcpListener listener = TcpListener::bind(SocketAddress::loopback(0));
  std::vector<TcpStream> clients;
  std::vector<TcpStream> servers;
  for (std::size_t i = 0; i < connections; ++i) {
    clients.push_back(co_await TcpStream::connect(listener.local_address()));
    servers.push_back(co_await listener.accept());
  }
  co_await listener.close();
  std::vector<PatternCheck> checks(connections);
  std::vector<TaskHandle<>> tasks;
  // Every reader first, then every sender: all of them receive at once.
  for (std::size_t i = 0; i < connections; ++i) {
    tasks.push_back(i % 2 == 0 ? spawn(read_pattern_with_receive(&clients[i], &checks[i]), "rx")
                               : spawn(read_pattern_to_end(&clients[i], 5000, &checks[i]), "rx"));
  }
  for (std::size_t i = 0; i < connections; ++i)
    tasks.push_back(spawn(send_pattern(&servers[i], kStreamBytes), "tx"));
  for (TaskHandle<>& task : tasks)
    co_await task;
  for (std::size_t i = 0; i < connections; ++i) {
    SCOPED_TRACE("connection " + std::to_string(i));
    EXPECT_EQ(checks[i].received, kStreamBytes);
    EXPECT_EQ(checks[i].first_mismatch, SIZE_MAX);
    EXPECT_TRUE(checks[i].clean_end);
  }
  for (std::size_t i = 0; i < connections; ++i) {
    co_await clients[i].close();
    co_await servers[i].close();
  }
}

// Descriptors for `connections` loopback pairs: raises the soft limit toward the hard one when it
// is lower (a login shell's 1,024, say); false when even the hard limit is too low.
bool allow_descriptors_for(std::size_t connections) {
  const rlim_t needed = static_cast<rlim_t>(2 * connections + 64);
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return false;
  if (limit.rlim_cur >= needed) return true;
  if (limit.rlim_max != RLIM_INFINITY && limit.rlim_max < needed) return false;
  limit.rlim_cur = needed;
  return ::setrlimit(RLIMIT_NOFILE, &limit) == 0;
}

TEST_P(ReceiveBuffersTest, AThousandConnectionsSendingAtOnceEachGetEveryByteInOrder) {
  if (!allow_descriptors_for(1000)) GTEST_SKIP() << "RLIMIT_NOFILE's hard limit is below 2,064";
  run(many_connections_share_the_buffers(1000));
  run(settle());
  expect_every_buffer_back();
  if (uses_ring() && path().ring_buffers == 4) {
    // 1,000 streams and 4 buffers: the ring ran dry, and the receives that met ENOBUFS came back.
    EXPECT_GT(buffers().out_of_buffers, 0u);
  }
}

// ---- a reader that stops reading ---------------------------------------------------------------

constexpr std::size_t kBigStream = 64u * 1024 * 1024;

struct PauseObservation {
  std::size_t buffered_while_paused = 0;
  std::uint32_t ring_loaned_while_paused = 0;
  std::uint32_t chunks_loaned_while_paused = 0;
};

Task<> stop_reading_then_resume(PauseObservation* seen, PatternCheck* check) {
  Connection c = co_await connect_over_loopback();
  TaskHandle<> sender = spawn(send_pattern(&c.server, kBigStream), "sender");
  // Read a first MiB, stop for a while (the sender fills every kernel buffer and blocks), resume.
  std::vector<std::byte> piece(64 * 1024);
  while (check->received < 1024 * 1024) {
    const std::size_t got = co_await c.client.read_some(piece);
    if (got == 0) break;
    for (std::size_t i = 0; i < got; ++i) {
      if (check->first_mismatch == SIZE_MAX &&
          piece[i] != stream_pattern_byte(check->received + i)) {
        check->first_mismatch = check->received + i;
      }
    }
    check->received += got;
  }
  co_await sleep(200ms);
  const io::ReceiveBufferStats stats = Loop::current().backend().receive_buffer_stats();
  seen->buffered_while_paused = c.client.read_buffer_size();
  seen->ring_loaned_while_paused = stats.ring_loaned;
  seen->chunks_loaned_while_paused = stats.chunks_loaned;
  for (;;) {
    const std::size_t got = co_await c.client.read_some(piece);
    if (got == 0) break;
    for (std::size_t i = 0; i < got; ++i) {
      if (check->first_mismatch == SIZE_MAX &&
          piece[i] != stream_pattern_byte(check->received + i)) {
        check->first_mismatch = check->received + i;
      }
    }
    check->received += got;
  }
  check->clean_end = true;
  co_await sender;
  co_await c.client.close();
  co_await c.server.close();
}

TEST_P(ReceiveBuffersTest, AReaderThatStopsWhileThePeerSends64MiBHoldsABoundedNumberOfBuffers) {
  PauseObservation seen;
  PatternCheck check;
  run(stop_reading_then_resume(&seen, &check));
  EXPECT_EQ(check.received, kBigStream);
  EXPECT_EQ(check.first_mismatch, SIZE_MAX);
  EXPECT_TRUE(check.clean_end);
  // Bounded by the ring: the kernel may fill several buffers in one go before the flow-control
  // cancellation lands, but never more than the ring holds, and nothing more while paused.
  // Without the ring nothing is received ahead at all.
  const io::ReceiveBufferStats stats = buffers();
  EXPECT_LE(seen.ring_loaned_while_paused, uses_ring() ? ring_mark(stats) : 0u);
  EXPECT_LE(seen.buffered_while_paused, std::size_t{stats.ring_buffers} * stats.ring_buffer_size);
  EXPECT_EQ(seen.chunks_loaned_while_paused, 0u);
  if (!uses_ring()) {
    EXPECT_EQ(seen.buffered_while_paused, 0u);
  }
  run(settle());
  expect_every_buffer_back();
}

struct StarvationObservation {
  std::uint32_t most_loaned_while_paused = 0;  // ring buffers out, sampled while A is paused
  std::uint32_t loaned_by_the_paused_reader = 0;
  std::size_t buffered_while_paused = 0;
  PatternCheck paused;  // stream A: reads 256 KiB, pauses while B runs, then reads to the end
  PatternCheck other;   // stream B: reads to the end while A is paused
};

constexpr std::size_t kPausedStream = 16u * 1024 * 1024;
constexpr std::size_t kOtherStream = 8u * 1024 * 1024;

Task<> read_pattern_sampling(TcpStream* stream, PatternCheck* check, std::uint32_t* most_loaned) {
  std::vector<std::byte> piece(16 * 1024);
  for (;;) {
    const std::size_t got = co_await stream->read_some(piece);
    if (got == 0) break;
    for (std::size_t i = 0; i < got; ++i) {
      if (check->first_mismatch == SIZE_MAX &&
          piece[i] != stream_pattern_byte(check->received + i)) {
        check->first_mismatch = check->received + i;
      }
    }
    check->received += got;
    const std::uint32_t loaned = Loop::current().backend().receive_buffer_stats().ring_loaned;
    *most_loaned = std::max(*most_loaned, loaned);
  }
  check->clean_end = true;
}

Task<> a_paused_reader_beside_a_busy_one(StarvationObservation* seen) {
  Connection a = co_await connect_over_loopback();
  Connection b = co_await connect_over_loopback();
  TaskHandle<> sending_a = spawn(send_pattern(&a.server, kPausedStream), "sender a");
  // A reads a first piece, then stops: its peer fills every kernel buffer and blocks.
  std::vector<std::byte> piece(64 * 1024);
  while (seen->paused.received < 256 * 1024) {
    const std::size_t got = co_await a.client.read_some(piece);
    if (got == 0) break;
    for (std::size_t i = 0; i < got; ++i) {
      if (seen->paused.first_mismatch == SIZE_MAX &&
          piece[i] != stream_pattern_byte(seen->paused.received + i)) {
        seen->paused.first_mismatch = seen->paused.received + i;
      }
    }
    seen->paused.received += got;
  }
  co_await sleep(100ms);  // lets A's peer fill the socket (not timed: any delay would do)
  seen->loaned_by_the_paused_reader = Loop::current().backend().receive_buffer_stats().ring_loaned;
  seen->most_loaned_while_paused = seen->loaned_by_the_paused_reader;
  seen->buffered_while_paused = a.client.read_buffer_size();
  // B receives a whole stream on the same loop while A holds what it holds.
  TaskHandle<> sending_b = spawn(send_pattern(&b.server, kOtherStream), "sender b");
  co_await read_pattern_sampling(&b.client, &seen->other, &seen->most_loaned_while_paused);
  co_await sending_b;
  // A resumes: every byte, in order, including those spilled into its read buffer.
  co_await read_pattern_sampling(&a.client, &seen->paused, &seen->most_loaned_while_paused);
  co_await sending_a;
  co_await a.client.close();
  co_await a.server.close();
  co_await b.client.close();
  co_await b.server.close();
}

TEST_P(ReceiveBuffersTest, APausedReaderHoldsAtMostItsMarkOfRingBuffersAndOthersKeepReceiving) {
  StarvationObservation seen;
  run(a_paused_reader_beside_a_busy_one(&seen));
  EXPECT_EQ(seen.other.received, kOtherStream);
  EXPECT_EQ(seen.other.first_mismatch, SIZE_MAX);
  EXPECT_TRUE(seen.other.clean_end);
  EXPECT_EQ(seen.paused.received, kPausedStream);
  EXPECT_EQ(seen.paused.first_mismatch, SIZE_MAX);
  EXPECT_TRUE(seen.paused.clean_end);
  const io::ReceiveBufferStats stats = buffers();
  if (uses_ring()) {
    EXPECT_LE(seen.loaned_by_the_paused_reader, ring_mark(stats));
    // A's mark plus the busy reader's queue (it consumes, so it never holds more than its mark).
    EXPECT_LE(seen.most_loaned_while_paused, 2 * ring_mark(stats));
    EXPECT_LE(seen.buffered_while_paused, std::size_t{stats.ring_buffers} * stats.ring_buffer_size);
  } else {
    EXPECT_EQ(seen.most_loaned_while_paused, 0u);
    EXPECT_EQ(seen.buffered_while_paused, 0u);
  }
  run(settle());
  expect_every_buffer_back();
}

// ---- cancellation, close, teardown --------------------------------------------------------------

Task<> receive_forever(TcpStream* stream, std::size_t* received) {
  for (;;) {
    ReceivedBytes bytes = co_await stream->receive();
    if (bytes.empty()) co_return;
    *received += bytes.size();
  }
}

Task<> cancel_a_receive_mid_stream(PatternCheck* check) {
  Connection c = co_await connect_over_loopback();
  // The peer sends in pieces; the reader is cancelled while it waits for the next one.
  co_await c.server.write_all(pattern(0, 3000));
  co_await wait_for_kernel_bytes(c.client.native_handle(), 1);
  std::array<std::byte, 1000> first{};
  co_await c.client.read_exactly(first);
  check->received = 1000;
  TaskHandle<> waiting = spawn(receive_forever(&c.client, &check->received), "receiver");
  co_await sleep(5ms);  // it took what was there and now waits
  waiting.cancel();
  bool cancelled = false;
  try {
    co_await waiting;
  } catch (const CancelledError&) {
    cancelled = true;
  }
  EXPECT_TRUE(cancelled);
  EXPECT_EQ(check->received, 3000u);
  // The stream stays usable: the rest of the stream arrives in order.
  co_await c.server.write_all(pattern(3000, 100'000));
  co_await c.server.shutdown_write();
  PatternCheck rest;
  rest.received = 3000;
  co_await read_pattern_to_end(&c.client, 7000, &rest);
  check->received = rest.received;
  check->first_mismatch = rest.first_mismatch;
  check->clean_end = rest.clean_end;
  co_await c.client.close();
  co_await c.server.close();
}

TEST_P(ReceiveBuffersTest, CancellingAReceiveMidStreamLosesNoByteAndNoBuffer) {
  PatternCheck check;
  run(cancel_a_receive_mid_stream(&check));
  EXPECT_EQ(check.received, 103'000u);
  EXPECT_EQ(check.first_mismatch, SIZE_MAX);
  EXPECT_TRUE(check.clean_end);
  run(settle());
  expect_every_buffer_back();
}

Task<> close_with_buffers_loaned(ReceivedBytes* kept) {
  Connection c = co_await connect_over_loopback();
  co_await c.server.write_all(pattern(0, 200'000));
  co_await wait_for_kernel_bytes(c.client.native_handle(), 1);
  *kept = co_await c.client.receive();  // one buffer held by the caller
  std::array<std::byte, 1> one{};
  co_await c.client.read_exactly(one);  // the receive queues more behind it
  co_await settle();
  co_await c.client.close();  // queued buffers go back; the kernel's last completion follows
  co_await c.server.close();
}

TEST_P(ReceiveBuffersTest, ClosingAStreamWithBuffersLoanedGivesEachBackExactlyOnce) {
  ReceivedBytes kept;
  run(close_with_buffers_loaned(&kept));
  run(settle());
  EXPECT_FALSE(kept.empty());
  EXPECT_EQ(kept.bytes()[0], stream_pattern_byte(0));
  const io::ReceiveBufferStats holding = buffers();
  EXPECT_EQ(holding.ring_loaned + holding.chunks_loaned, 1u) << "only the kept buffer is out";
  kept.release();
  kept.release();  // a second release is a no-op, not a second return
  expect_every_buffer_back();
}

Task<> destroy_a_stream_with_its_receive_armed() {
  Connection c = co_await connect_over_loopback();
  co_await c.server.write_all(pattern(0, 100'000));
  co_await wait_for_kernel_bytes(c.client.native_handle(), 1);
  std::array<std::byte, 10> ten{};
  co_await c.client.read_exactly(ten);
  { TcpStream gone = std::move(c.client); }  // destroyed without close(): aborts
  co_await settle();
  co_await c.server.close();
}

TEST_P(ReceiveBuffersTest, DestroyingAStreamWhileItsReceiveIsArmedGivesEveryBufferBack) {
  run(destroy_a_stream_with_its_receive_armed());
  run(settle());
  expect_every_buffer_back();
}

Task<> receive_then_leave_it_to_the_loop(ReceivedBytes* kept, TcpStream* client,
                                         TcpStream* server) {
  Connection c = co_await connect_over_loopback();
  co_await c.server.write_all(pattern(0, 100'000));
  co_await wait_for_kernel_bytes(c.client.native_handle(), 1);
  *kept = co_await c.client.receive();
  *client = std::move(c.client);
  *server = std::move(c.server);
}

// The loop goes away with a receive armed and a buffer held: the held buffer is given back after
// the backend is gone, safely (the pool outlives it), and nothing is left in the kernel's hands.
TEST_P(ReceiveBuffersTest, ABufferHeldPastTheLoopIsGivenBackSafely) {
  ReceivedBytes kept;
  TcpStream client;
  TcpStream server;
  run(receive_then_leave_it_to_the_loop(&kept, &client, &server));
  close_loop();
  EXPECT_FALSE(kept.empty());
  kept.release();
  client = TcpStream();
  server = TcpStream();
}

// ---- errors and the end of the stream -------------------------------------------------------

Task<> reset_by_peer(int* error) {
  Connection c = co_await connect_over_loopback();
  std::size_t received = 0;
  TaskHandle<> reading = spawn(receive_forever(&c.client, &received), "reader");
  co_await sleep(5ms);  // the reader waits (on io_uring: with its multishot receive armed)
  const linger abort_on_close{1, 0};
  ::setsockopt(c.server.native_handle(), SOL_SOCKET, SO_LINGER, &abort_on_close,
               sizeof abort_on_close);
  co_await c.server.close();  // RST
  try {
    co_await reading;
  } catch (const std::system_error& failure) {
    *error = failure.code().value();
  }
  co_await c.client.close();
}

TEST_P(ReceiveBuffersTest, AResetReachesAWaitingReceiveAsECONNRESET) {
  int error = 0;
  run(reset_by_peer(&error));
  EXPECT_EQ(error, ECONNRESET);
  run(settle());
  expect_every_buffer_back();
}

Task<> receive_leftovers_then_end(std::string* seen, bool* ended_empty) {
  Connection c = co_await connect_over_loopback();
  co_await c.server.write_all("line\nrest");
  co_await c.server.shutdown_write();
  *seen = co_await c.client.readline();
  for (;;) {
    ReceivedBytes bytes = co_await c.client.receive();
    if (bytes.empty()) break;
    *seen += bytes.text();
  }
  ReceivedBytes after = co_await c.client.receive();
  *ended_empty = after.empty() && c.client.at_eof();
  co_await c.client.close();
  co_await c.server.close();
}

TEST_P(ReceiveBuffersTest, ReceiveGivesWhatAReadLeftOverThenEmptyAtTheEndOfTheStream) {
  std::string seen;
  bool ended_empty = false;
  run(receive_leftovers_then_end(&seen, &ended_empty));
  EXPECT_EQ(seen, "line\nrest");
  EXPECT_TRUE(ended_empty);
  expect_every_buffer_back();
}

RINGLOOP_ON_BOTH_BACKENDS_FOR_EACH(ReceiveBuffersTest, ReceivePath{"ring", true},
                                   ReceivePath{"four_buffers", true, 4},
                                   ReceivePath{"fallback", false});

}  // namespace
}  // namespace ringloop::testing
