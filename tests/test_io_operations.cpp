// Awaitable descriptor operations (ringloop::ops) in tasks on both backends: pipes, socket pairs,
// TCP over loopback, poll/timeout/nop/close, SIGPIPE handling, bulk transfers in both directions.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <span>
#include <string>
#include <system_error>
#include <vector>

#include "support/bytes.hpp"
#include "support/descriptors.hpp"
#include "support/io_operations.hpp"
#include "support/loop_fixture.hpp"
#include "support/signals.hpp"
namespace ringloop::testing {
namespace {

using namespace std::chrono_literals;

class IoOperationsTest : public LoopTest {};

// ---- read / write / send / recv --------------------------------------------------------------

Task<std::string> write_then_read(int read_fd, int write_fd, std::string message) {
  const std::span<const std::byte> out = bytes_of(message);
  const std::int32_t written = co_await ops::write(write_fd, out);
  if (written != static_cast<std::int32_t>(message.size())) co_return "short write";
  std::array<std::byte, 128> buffer{};
  const std::int32_t got = co_await ops::read(read_fd, buffer);
  co_return text_of(std::span(buffer).first(static_cast<std::size_t>(got)));
}

TEST_P(IoOperationsTest, WriteAndReadMoveBytesThroughAPipe) {
  Pipe pipe = make_pipe();
  EXPECT_EQ(run(write_then_read(pipe.read_end.get(), pipe.write_end.get(), "through a pipe")),
            "through a pipe");
}

Task<Failure> write_to_pipe_without_reader(int write_fd) {
  Failure failure;
  const std::string message = "nobody reads this";
  try {
    co_await ops::write(write_fd, bytes_of(message));
  } catch (const std::system_error& error) {
    failure = {true, error.code(), error.what()};
  }
  co_return failure;
}

// Python ignores SIGPIPE at start-up so a broken pipe is an exception; a loop does the same when
// nobody chose a disposition, or this write would kill the test process.
TEST_P(IoOperationsTest, WriteToAPipeWithoutReaderRaisesEpipeInsteadOfKillingTheProcess) {
  struct sigaction standard {};
  standard.sa_handler = SIG_DFL;
  struct sigaction previous {};
  ASSERT_EQ(::sigaction(SIGPIPE, &standard, &previous), 0);
  Pipe pipe = make_pipe();
  pipe.read_end.reset();
  Failure failure;
  {
    Loop own_loop(options());  // constructed while SIGPIPE is at its default
    failure = own_loop.run_until_complete(write_to_pipe_without_reader(pipe.write_end.get()));
  }
  ::sigaction(SIGPIPE, &previous, nullptr);
  EXPECT_TRUE(failure.threw);
  EXPECT_EQ(failure.code.value(), EPIPE) << failure.what;
  EXPECT_NE(failure.what.find("write"), std::string::npos) << failure.what;
}

void keep_sigpipe(int) {}

TEST(LoopSigpipeTest, AProgramsOwnSigpipeHandlerIsKept) {
  struct sigaction mine {};
  mine.sa_handler = &keep_sigpipe;
  struct sigaction previous {};
  ASSERT_EQ(::sigaction(SIGPIPE, &mine, &previous), 0);
  { Loop loop; }
  struct sigaction after {};
  ASSERT_EQ(::sigaction(SIGPIPE, nullptr, &after), 0);
  EXPECT_EQ(after.sa_handler, &keep_sigpipe);
  ::sigaction(SIGPIPE, &previous, nullptr);
}

TEST(LoopSigpipeTest, IgnoreSigpipeOffLeavesTheDefault) {
  struct sigaction standard {};
  standard.sa_handler = SIG_DFL;
  struct sigaction previous {};
  ASSERT_EQ(::sigaction(SIGPIPE, &standard, &previous), 0);
  {
    LoopOptions options;
    options.ignore_sigpipe = false;
    Loop loop(options);
  }
  struct sigaction after {};
  ASSERT_EQ(::sigaction(SIGPIPE, nullptr, &after), 0);
  EXPECT_EQ(after.sa_handler, SIG_DFL);
  { Loop loop; }
  ASSERT_EQ(::sigaction(SIGPIPE, nullptr, &after), 0);
  EXPECT_EQ(after.sa_handler, SIG_IGN);
  ::sigaction(SIGPIPE, &previous, nullptr);
}

Task<std::string> send_then_recv(int from, int to, std::string message) {
  const std::span<const std::byte> out = bytes_of(message);
  const std::int32_t sent = co_await ops::send(from, out);
  if (sent != static_cast<std::int32_t>(message.size())) co_return "short send";
  std::array<std::byte, 128> buffer{};
  const std::int32_t got = co_await ops::recv(to, buffer);
  co_return text_of(std::span(buffer).first(static_cast<std::size_t>(got)));
}

TEST_P(IoOperationsTest, SendAndRecvMoveBytesThroughASocketPairBothWays) {
  SocketPair pair = make_socketpair();
  EXPECT_EQ(run(send_then_recv(pair.first.get(), pair.second.get(), "ping")), "ping");
  EXPECT_EQ(run(send_then_recv(pair.second.get(), pair.first.get(), "pong")), "pong");
}

Task<std::string> recv_exactly(int fd, std::size_t size) {
  std::string result;
  std::array<std::byte, 256> buffer{};
  while (result.size() < size) {
    const std::span<std::byte> room =
        std::span(buffer).first(std::min(buffer.size(), size - result.size()));
    const std::int32_t got = co_await ops::recv(fd, room);
    if (got == 0) break;
    result += text_of(room.first(static_cast<std::size_t>(got)));
  }
  co_return result;
}

Task<void> send_all(int fd, std::string message) {
  std::size_t offset = 0;
  while (offset < message.size()) {
    const std::span<const std::byte> rest = bytes_of(message).subspan(offset);
    const std::int32_t sent = co_await ops::send(fd, rest);
    offset += static_cast<std::size_t>(sent);
  }
}

// A task reads a pipe, the pipe is closed with close(2) (not ops::close), a new pipe gets the same
// descriptor numbers, and another read on the same number must see the new pipe's data. A guard
// cancels the reader after a generous delay so a lost readiness fails the test instead of hanging.
Task<std::string> read_text(int fd) {
  std::array<std::byte, 16> buffer{};
  const std::int32_t got = co_await ops::read(fd, buffer);
  co_return text_of(std::span(buffer).first(static_cast<std::size_t>(got)));
}

Task<void> write_text_soon(int fd, std::string text) {
  co_await ringloop::sleep(5ms);
  const std::span<const std::byte> out = bytes_of(text);
  const std::int32_t written = co_await ops::write(fd, out);
  (void)written;
}

Task<std::string> read_with_guard(Loop* loop, int read_fd, int write_fd, std::string text) {
  TaskHandle<std::string> reader = loop->spawn(read_text(read_fd));
  TaskHandle<void> writer = loop->spawn(write_text_soon(write_fd, text));
  Handle guard =
      loop->call_later(std::chrono::seconds(10), [reader]() mutable { reader.cancel(); });
  std::string got = "<readiness never seen>";
  try {
    std::string result = co_await reader;
    got = result;
  } catch (const CancelledError&) {
  }
  guard.cancel();
  co_await writer;
  co_return got;
}

TEST_P(IoOperationsTest, ReadOnADescriptorNumberReusedAfterPlainCloseSeesTheNewPipe) {
  int number;
  {
    Pipe old_pipe = make_pipe();
    number = old_pipe.read_end.get();
    EXPECT_EQ(
        run(read_with_guard(&loop(), old_pipe.read_end.get(), old_pipe.write_end.get(), "old")),
        "old");
  }  // closed with close(2)
  Pipe new_pipe = make_pipe();
  ASSERT_EQ(new_pipe.read_end.get(), number) << "the descriptor number was not reused";
  EXPECT_EQ(run(read_with_guard(&loop(), new_pipe.read_end.get(), new_pipe.write_end.get(), "new")),
            "new");
}

// ---- TCP accept/connect ----------------------------------------------------------------------

struct TcpOutcome {
  std::string server_got;
  std::string client_got;
  std::uint16_t peer_port = 0;
};

Task<void> serve_one_echo(int listener, TcpOutcome* outcome) {
  sockaddr_in peer{};
  const std::int32_t fd =
      co_await ops::accept(listener, reinterpret_cast<sockaddr*>(&peer), sizeof peer);
  outcome->peer_port = ntohs(peer.sin_port);
  std::string request = co_await recv_exactly(fd, 5);
  outcome->server_got = request;
  std::string reply = "echo:" + request;
  co_await send_all(fd, reply);
  const std::int32_t closed = co_await ops::close(fd);
  if (closed != 0) throw std::runtime_error("close of the accepted socket failed");
}

Task<std::uint16_t> connect_and_talk(int fd, sockaddr_in address, TcpOutcome* outcome) {
  const std::int32_t connected =
      co_await ops::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address);
  if (connected != 0) throw std::runtime_error("connect gave " + std::to_string(connected));
  co_await send_all(fd, "hello");
  std::string reply = co_await recv_exactly(fd, 10);
  outcome->client_got = reply;
  sockaddr_in local{};
  socklen_t length = sizeof local;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &length);
  co_return ntohs(local.sin_port);
}

Task<std::uint16_t> tcp_round_trip(Loop* loop, int listener, int client, sockaddr_in address,
                                   TcpOutcome* outcome) {
  TaskHandle<void> server = loop->spawn(serve_one_echo(listener, outcome), "server");
  TaskHandle<std::uint16_t> talker =
      loop->spawn(connect_and_talk(client, address, outcome), "client");
  co_await server;
  const std::uint16_t client_port = co_await talker;
  co_return client_port;
}

TEST_P(IoOperationsTest, TcpAcceptAndConnectOnLoopbackCarryARoundTripInTwoTasks) {
  sockaddr_in address{};
  Fd listener = loopback_listener(address);
  Fd client = tcp_socket();
  TcpOutcome outcome;
  const std::uint16_t client_port =
      run(tcp_round_trip(&loop(), listener.get(), client.get(), address, &outcome));
  EXPECT_EQ(outcome.server_got, "hello");
  EXPECT_EQ(outcome.client_got, "echo:hello");
  EXPECT_EQ(outcome.peer_port, client_port);
}

Task<Failure> connect_expecting_failure(int fd, sockaddr_in address) {
  Failure failure;
  try {
    const std::int32_t connected =
        co_await ops::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address);
    (void)connected;
  } catch (const std::system_error& error) {
    failure = {true, error.code(), error.what()};
  }
  co_return failure;
}

TEST_P(IoOperationsTest, ConnectToAPortWithoutListenerRaisesEconnrefused) {
  sockaddr_in address{};
  Fd not_listening = bound_loopback_socket(address);
  Fd client = tcp_socket();
  const Failure failure = run(connect_expecting_failure(client.get(), address));
  ASSERT_TRUE(failure.threw);
  EXPECT_EQ(failure.code, std::error_code(ECONNREFUSED, std::system_category())) << failure.what;
  EXPECT_NE(failure.what.find("connect on fd " + std::to_string(client.get())), std::string::npos)
      << failure.what;
}

// ---- poll / timeout / nop / close ------------------------------------------------------------

Task<void> write_after_yields(int fd) {
  for (int i = 0; i < 3; ++i)
    co_await yield_now();
  const std::string byte = "!";
  const std::span<const std::byte> out = bytes_of(byte);
  const std::int32_t written = co_await ops::write(fd, out);
  (void)written;
}

struct PollOutcome {
  std::int32_t events = 0;
  bool done_before_write = false;
};

Task<std::int32_t> wait_readable(int fd) {
  const std::int32_t events = co_await ops::poll(fd, POLLIN);
  co_return events;
}

Task<void> poll_until_written(Loop* loop, int read_fd, int write_fd, PollOutcome* outcome) {
  TaskHandle<std::int32_t> poller = loop->spawn(wait_readable(read_fd));
  for (int i = 0; i < 2; ++i)
    co_await yield_now();
  outcome->done_before_write = poller.done();
  TaskHandle<void> writer = loop->spawn(write_after_yields(write_fd));
  const std::int32_t events = co_await poller;
  outcome->events = events;
  co_await writer;
}

TEST_P(IoOperationsTest, PollForPollinWaitsForDataAndLeavesItUnread) {
  Pipe pipe = make_pipe();
  PollOutcome outcome;
  run(poll_until_written(&loop(), pipe.read_end.get(), pipe.write_end.get(), &outcome));
  EXPECT_FALSE(outcome.done_before_write) << "poll(POLLIN) completed on an empty pipe";
  EXPECT_TRUE(outcome.events & POLLIN) << outcome.events;
  char byte = 0;
  EXPECT_EQ(::read(pipe.read_end.get(), &byte, 1), 1);
  EXPECT_EQ(byte, '!');
}

Task<std::int32_t> backend_timeout(Duration duration) {
  const std::int32_t result = co_await ops::timeout(duration);
  co_return result;
}

TEST_P(IoOperationsTest, TimeoutGivesZeroNoEarlierThanItsDuration) {
  const auto started = std::chrono::steady_clock::now();
  EXPECT_EQ(run(backend_timeout(30ms)), 0);
  EXPECT_GE(std::chrono::steady_clock::now() - started, 30ms);
}

TEST_P(IoOperationsTest, NopCompletesWithZeroThroughTheBackend) {
  const std::uint64_t submitted_before = loop().backend().stats().submitted;
  EXPECT_EQ(run(nop_through_backend()), 0);
  EXPECT_EQ(loop().backend().stats().submitted, submitted_before + 1);
}

Task<std::int32_t> close_through_backend(int fd) {
  const std::int32_t result = co_await ops::close(fd);
  co_return result;
}

TEST_P(IoOperationsTest, CloseClosesTheDescriptor) {
  Pipe pipe = make_pipe();
  const int fd = pipe.read_end.release();
  EXPECT_EQ(run(close_through_backend(fd)), 0);
  errno = 0;
  EXPECT_EQ(::fcntl(fd, F_GETFD), -1);
  EXPECT_EQ(errno, EBADF);
}

// ---- bulk transfer ---------------------------------------------------------------------------

Task<void> send_buffer(int fd, const std::vector<std::byte>* data) {
  std::size_t offset = 0;
  while (offset < data->size()) {
    const std::size_t chunk = std::min<std::size_t>(64 * 1024, data->size() - offset);
    const std::span<const std::byte> piece(data->data() + offset, chunk);
    const std::int32_t sent = co_await ops::send(fd, piece);
    if (sent <= 0) throw std::runtime_error("send returned " + std::to_string(sent));
    offset += static_cast<std::size_t>(sent);
  }
  if (::shutdown(fd, SHUT_WR) != 0) fail_errno("shutdown");
}

Task<void> recv_to_end(int fd, std::vector<std::byte>* out) {
  std::vector<std::byte> buffer(48 * 1024);
  for (;;) {
    const std::span<std::byte> room(buffer);
    const std::int32_t got = co_await ops::recv(fd, room);
    if (got == 0) break;
    out->insert(out->end(), buffer.begin(), buffer.begin() + got);
  }
}

Task<void> transfer(Loop* loop, int from, int to, const std::vector<std::byte>* data,
                    std::vector<std::byte>* out) {
  TaskHandle<void> reader = loop->spawn(recv_to_end(to, out), "reader");
  TaskHandle<void> writer = loop->spawn(send_buffer(from, data), "writer");
  co_await writer;
  co_await reader;
}

TEST_P(IoOperationsTest, OneMebibyteThroughASocketPairArrivesIntactWithWriterAndReaderTasks) {
  constexpr std::size_t kSize = 1024 * 1024;
  std::vector<std::byte> data(kSize);
  std::uint32_t state = 0x12345678u;
  for (std::byte& b : data) {
    state = state * 1664525u + 1013904223u;  // not periodic in the buffer sizes
    b = static_cast<std::byte>(state >> 24);
  }
  std::vector<std::byte> received;
  received.reserve(kSize);
  SocketPair pair = make_socketpair();
  run(transfer(&loop(), pair.first.get(), pair.second.get(), &data, &received));
  ASSERT_EQ(received.size(), kSize);
  std::size_t mismatches = 0;
  std::size_t first_mismatch = kSize;
  for (std::size_t i = 0; i < kSize; ++i) {
    if (received[i] != data[i]) {
      if (mismatches++ == 0) first_mismatch = i;
    }
  }
  EXPECT_EQ(mismatches, 0u) << "first at byte " << first_mismatch;
}

// Both directions of both sockets at once: each descriptor has a parked recv and a parked send,
// which wait for different readiness on the same descriptor.
Task<void> full_duplex(Loop* loop, int a, int b, const std::vector<std::byte>* a_to_b,
                       const std::vector<std::byte>* b_to_a, std::vector<std::byte>* got_at_b,
                       std::vector<std::byte>* got_at_a) {
  TaskHandle<void> reader_b = loop->spawn(recv_to_end(b, got_at_b));
  TaskHandle<void> reader_a = loop->spawn(recv_to_end(a, got_at_a));
  TaskHandle<void> writer_a = loop->spawn(send_buffer(a, a_to_b));
  TaskHandle<void> writer_b = loop->spawn(send_buffer(b, b_to_a));
  co_await writer_a;
  co_await writer_b;
  co_await reader_a;
  co_await reader_b;
}

TEST_P(IoOperationsTest, FullDuplexTransferOnOneSocketPairDeliversBothDirectionsIntact) {
  constexpr std::size_t kSize = 512 * 1024;
  std::vector<std::byte> a_to_b(kSize);
  std::vector<std::byte> b_to_a(kSize);
  for (std::size_t i = 0; i < kSize; ++i) {
    a_to_b[i] = static_cast<std::byte>((i * 7 + i / 251) & 0xff);
    b_to_a[i] = static_cast<std::byte>((i * 13 + i / 509 + 1) & 0xff);
  }
  std::vector<std::byte> got_at_b;
  std::vector<std::byte> got_at_a;
  SocketPair pair = make_socketpair();
  run(full_duplex(&loop(), pair.first.get(), pair.second.get(), &a_to_b, &b_to_a, &got_at_b,
                  &got_at_a));
  EXPECT_TRUE(got_at_b == a_to_b) << "a to b: " << got_at_b.size() << " bytes";
  EXPECT_TRUE(got_at_a == b_to_a) << "b to a: " << got_at_a.size() << " bytes";
}

RINGLOOP_ON_BOTH_BACKENDS(IoOperationsTest);

}  // namespace
}  // namespace ringloop::testing
