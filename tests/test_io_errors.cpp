// Errors of the awaitable descriptor operations on both backends: std::system_error naming the
// operation and the descriptor, EPIPE or ECONNRESET instead of SIGPIPE.

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

/// A descriptor number that is not open.
int closed_descriptor() {
  Pipe pipe = make_pipe();
  return pipe.read_end.get();  // both ends close when `pipe` goes away
}

Task<Failure> read_expecting_failure(int fd) {
  Failure failure;
  std::array<std::byte, 16> buffer{};
  try {
    const std::int32_t got = co_await ops::read(fd, buffer);
    (void)got;
  } catch (const std::system_error& error) {
    failure = {true, error.code(), error.what()};
  }
  co_return failure;
}

Task<Failure> write_expecting_failure(int fd) {
  Failure failure;
  const std::string message = "data";
  const std::span<const std::byte> out = bytes_of(message);
  try {
    const std::int32_t written = co_await ops::write(fd, out);
    (void)written;
  } catch (const std::system_error& error) {
    failure = {true, error.code(), error.what()};
  }
  co_return failure;
}

Task<Failure> recv_expecting_failure(int fd) {
  Failure failure;
  std::array<std::byte, 16> buffer{};
  try {
    const std::int32_t got = co_await ops::recv(fd, buffer);
    (void)got;
  } catch (const std::system_error& error) {
    failure = {true, error.code(), error.what()};
  }
  co_return failure;
}

Task<Failure> close_expecting_failure(int fd) {
  Failure failure;
  try {
    const std::int32_t closed = co_await ops::close(fd);
    (void)closed;
  } catch (const std::system_error& error) {
    failure = {true, error.code(), error.what()};
  }
  co_return failure;
}

void expect_failure(const Failure& failure, int error, const std::string& operation, int fd) {
  ASSERT_TRUE(failure.threw) << operation << " on fd " << fd << " did not throw";
  EXPECT_EQ(failure.code, std::error_code(error, std::system_category()))
      << failure.code.message() << " / " << failure.what;
  const std::string where = operation + " on fd " + std::to_string(fd);
  EXPECT_NE(failure.what.find(where), std::string::npos)
      << "'" << failure.what << "' does not name '" << where << "'";
}

/// An operation tried on a descriptor that is not open.
struct ClosedDescriptorCase {
  const char* name;  ///< the operation, as the error message names it
  Task<Failure> (*attempt)(int fd);
};

class IoOnAClosedDescriptorTest : public LoopCaseTest<ClosedDescriptorCase> {};

TEST_P(IoOnAClosedDescriptorTest, RaisesEbadfNamingTheOperationAndTheFd) {
  const int fd = closed_descriptor();
  expect_failure(run(test_case().attempt(fd)), EBADF, test_case().name, fd);
}

RINGLOOP_ON_BOTH_BACKENDS_FOR_EACH(IoOnAClosedDescriptorTest,
                                   ClosedDescriptorCase{"read", &read_expecting_failure},
                                   ClosedDescriptorCase{"write", &write_expecting_failure},
                                   ClosedDescriptorCase{"close", &close_expecting_failure});

TEST_P(IoOperationsTest, RecvOnAPipeRaisesEnotsock) {
  Pipe pipe = make_pipe();
  expect_failure(run(recv_expecting_failure(pipe.read_end.get())), ENOTSOCK, "recv",
                 pipe.read_end.get());
}

Task<Failure> send_expecting_failure(int fd) {
  Failure failure;
  const std::string message(4096, 'x');
  const std::span<const std::byte> out = bytes_of(message);
  try {
    // A TCP peer may take the first send and answer with a reset; the next one fails.
    for (int i = 0; i < 100; ++i) {
      const std::int32_t sent = co_await ops::send(fd, out);
      (void)sent;
      co_await ringloop::sleep(1ms);
    }
  } catch (const std::system_error& error) {
    failure = {true, error.code(), error.what()};
  }
  co_return failure;
}

void expect_broken_pipe(const Failure& failure, int fd) {
  ASSERT_TRUE(failure.threw) << "send to a closed peer never failed";
  EXPECT_TRUE(failure.code == std::error_code(EPIPE, std::system_category()) ||
              failure.code == std::error_code(ECONNRESET, std::system_category()))
      << failure.code.message();
  EXPECT_NE(failure.what.find("send on fd " + std::to_string(fd)), std::string::npos)
      << failure.what;
}

TEST_P(IoOperationsTest, SendToAClosedSocketPairPeerRaisesEpipeWithoutSigpipe) {
  SigpipeCounter sigpipes;
  SocketPair pair = make_socketpair();
  pair.second.reset();
  expect_broken_pipe(run(send_expecting_failure(pair.first.get())), pair.first.get());
  EXPECT_EQ(sigpipe_deliveries, 0) << "send raised SIGPIPE";
}

Task<int> accept_one(int listener) {
  const std::int32_t fd = co_await ops::accept(listener);
  co_return fd;
}

Task<int> connect_pair(Loop* loop, int listener, int client, sockaddr_in address) {
  TaskHandle<int> acceptor = loop->spawn(accept_one(listener));
  const std::int32_t connected =
      co_await ops::connect(client, reinterpret_cast<const sockaddr*>(&address), sizeof address);
  if (connected != 0) throw std::runtime_error("connect failed");
  const int accepted = co_await acceptor;
  co_return accepted;
}

TEST_P(IoOperationsTest, SendToAClosedTcpPeerRaisesEpipeOrEconnresetWithoutSigpipe) {
  SigpipeCounter sigpipes;
  sockaddr_in address{};
  Fd listener = loopback_listener(address);
  Fd client = tcp_socket();
  Fd server(run(connect_pair(&loop(), listener.get(), client.get(), address)));
  ASSERT_GE(server.get(), 0);
  server.reset();
  expect_broken_pipe(run(send_expecting_failure(client.get())), client.get());
  EXPECT_EQ(sigpipe_deliveries, 0) << "send raised SIGPIPE";
}

RINGLOOP_ON_BOTH_BACKENDS(IoOperationsTest);

}  // namespace
}  // namespace ringloop::testing
