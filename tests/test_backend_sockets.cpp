// io::Backend socket operations on both reactors: accept/connect/send/recv over loopback, poll,
// close, multishot accept, and io_uring destroyed with operations in flight.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "support/backend.hpp"
#include "support/descriptors.hpp"
#include "support/loop_fixture.hpp"

namespace ringloop::testing {
namespace {

using namespace std::chrono_literals;

TEST_P(BackendTest, AcceptAndConnectPairTwoLoopbackSocketsThenSendAndRecvRoundTrip) {
  io::Backend& backend = make();
  sockaddr_in address{};
  Fd listener = loopback_listener(address);
  Fd client = tcp_socket();

  sockaddr_in peer{};
  io::Operation accept;
  Completion accepted;
  prepare(accept, io::OpCode::accept, accepted, listener.get());
  accept.address = reinterpret_cast<sockaddr*>(&peer);
  accept.address_length = sizeof peer;
  accept.flags = SOCK_NONBLOCK | SOCK_CLOEXEC;

  io::Operation connect;
  Completion connected;
  prepare(connect, io::OpCode::connect, connected, client.get());
  connect.address = reinterpret_cast<sockaddr*>(&address);
  connect.address_length = sizeof address;

  submit(backend, accept);
  submit(backend, connect);
  ASSERT_TRUE(poll_until(backend, [&] { return accepted.count > 0 && connected.count > 0; }));
  EXPECT_EQ(connected.count, 1);
  EXPECT_EQ(connected.result, 0);
  ASSERT_EQ(accepted.count, 1);
  ASSERT_GE(accepted.result, 0) << std::strerror(-accepted.result);
  Fd server(accepted.result);
  EXPECT_EQ(accept.address_length, sizeof peer);
  EXPECT_EQ(peer.sin_addr.s_addr, htonl(INADDR_LOOPBACK));
  EXPECT_EQ(ntohs(peer.sin_port), local_port(client.get()));
  EXPECT_TRUE(::fcntl(server.get(), F_GETFL) & O_NONBLOCK);
  EXPECT_TRUE(::fcntl(server.get(), F_GETFD) & FD_CLOEXEC);

  // send/recv both ways.
  char request[] = "ping";
  io::Operation send;
  Completion sent;
  prepare(send, io::OpCode::send, sent, client.get());
  send.buffer = request;
  send.length = 4;
  char received[16] = {};
  io::Operation recv;
  Completion got;
  prepare(recv, io::OpCode::recv, got, server.get());
  recv.buffer = received;
  recv.length = sizeof received;
  submit(backend, recv);  // parked first, then the data arrives
  backend.poll(0ns);
  submit(backend, send);
  ASSERT_TRUE(poll_until(backend, [&] { return sent.count > 0 && got.count > 0; }));
  EXPECT_EQ(sent.result, 4);
  ASSERT_EQ(got.result, 4);
  EXPECT_EQ(std::string(received, 4), "ping");

  char reply[] = "pong";
  Completion sent_back;
  Completion got_back;
  prepare(send, io::OpCode::send, sent_back, server.get());
  send.buffer = reply;
  send.length = 4;
  prepare(recv, io::OpCode::recv, got_back, client.get());
  recv.buffer = received;
  recv.length = sizeof received;
  submit(backend, send);
  submit(backend, recv);
  ASSERT_TRUE(poll_until(backend, [&] { return sent_back.count > 0 && got_back.count > 0; }));
  EXPECT_EQ(sent_back.result, 4);
  ASSERT_EQ(got_back.result, 4);
  EXPECT_EQ(std::string(received, 4), "pong");
}

TEST_P(BackendTest, ConnectToAPortWithNoListenerCompletesWithEconnrefused) {
  io::Backend& backend = make();
  // Bound but not listening: the port stays ours for the test, and a SYN to it gets a reset.
  sockaddr_in address{};
  Fd not_listening = bound_loopback_socket(address);
  Fd client = tcp_socket();
  io::Operation connect;
  Completion connected;
  prepare(connect, io::OpCode::connect, connected, client.get());
  connect.address = reinterpret_cast<sockaddr*>(&address);
  connect.address_length = sizeof address;
  submit(backend, connect);
  ASSERT_TRUE(poll_until(backend, [&] { return connected.count > 0; }));
  EXPECT_EQ(connected.count, 1);
  EXPECT_EQ(connected.result, -ECONNREFUSED) << std::strerror(-connected.result);
}

TEST_P(BackendTest, PollOperationReportsReadinessWithoutConsumingData) {
  io::Backend& backend = make();
  Pipe pipe = make_pipe();
  io::Operation poll;
  Completion ready;
  prepare(poll, io::OpCode::poll, ready, pipe.read_end.get());
  poll.poll_events = POLLIN;
  submit(backend, poll);
  for (int i = 0; i < 3; ++i)
    backend.poll(1ms);
  EXPECT_EQ(ready.count, 0);
  ASSERT_EQ(::write(pipe.write_end.get(), "z", 1), 1);
  ASSERT_TRUE(poll_until(backend, [&] { return ready.count > 0; }));
  EXPECT_EQ(ready.count, 1);
  EXPECT_TRUE(ready.result & POLLIN) << ready.result;
  char byte = 0;
  EXPECT_EQ(::read(pipe.read_end.get(), &byte, 1), 1);
  EXPECT_EQ(byte, 'z');
}

TEST_P(BackendTest, CloseOperationClosesTheDescriptor) {
  io::Backend& backend = make();
  Pipe pipe = make_pipe();
  const int fd = pipe.read_end.release();
  io::Operation close;
  Completion closed;
  prepare(close, io::OpCode::close, closed, fd);
  submit(backend, close);
  ASSERT_TRUE(poll_until(backend, [&] { return closed.count > 0; }));
  EXPECT_EQ(closed.count, 1);
  EXPECT_EQ(closed.result, 0);
  errno = 0;
  EXPECT_EQ(::fcntl(fd, F_GETFD), -1);
  EXPECT_EQ(errno, EBADF);
}

TEST_F(EpollBackendTest, CloseOperationCompletesOperationsParkedOnThatDescriptorWithEcanceled) {
  io::Backend& backend = make();
  Pipe pipe = make_pipe();
  const int fd = pipe.read_end.release();
  char buffer[8];
  io::Operation read;
  Completion got;
  prepare(read, io::OpCode::read, got, fd);
  read.buffer = buffer;
  read.length = sizeof buffer;
  io::Operation poll;
  Completion polled;
  prepare(poll, io::OpCode::poll, polled, fd);
  poll.poll_events = POLLIN;
  submit(backend, read);
  submit(backend, poll);
  backend.poll(0ns);
  ASSERT_EQ(got.count + polled.count, 0);

  io::Operation close;
  Completion closed;
  prepare(close, io::OpCode::close, closed, fd);
  submit(backend, close);
  ASSERT_TRUE(poll_until(backend, [&] { return closed.count > 0; }));
  for (int i = 0; i < 3; ++i)
    backend.poll(0ns);
  EXPECT_EQ(closed.result, 0);
  EXPECT_EQ(got.count, 1);
  EXPECT_EQ(got.result, -ECANCELED);
  EXPECT_EQ(polled.count, 1);
  EXPECT_EQ(polled.result, -ECANCELED);
}

TEST_F(UringBackendTest, DestroyingTheBackendCancelsInFlightOperationsAndWaitsForThem) {
  io::Backend& backend = make();
  Pipe pipe = make_pipe();
  sockaddr_in address{};
  Fd listener = loopback_listener(address);

  char* buffer = new char[4096];
  io::Operation read;
  Completion got;
  prepare(read, io::OpCode::read, got, pipe.read_end.get());
  read.buffer = buffer;
  read.length = 4096;
  io::Operation accept;
  Completion accepted;
  prepare(accept, io::OpCode::accept, accepted, listener.get());
  io::Operation timer;
  Completion expired;
  prepare(timer, io::OpCode::timeout, expired);
  timer.timeout.tv_sec = 3600;
  submit(backend, read);
  submit(backend, accept);
  backend.poll(0ns);       // these two are in the kernel now
  submit(backend, timer);  // this one only in the submission queue
  ASSERT_EQ(backend.in_flight(), 3u);

  {
    Watchdog watchdog("destroying a uring backend with operations in flight", 60s);
    backend_.reset();
  }
  // Every operation was handed back (idle); completion functions do not run during destruction.
  EXPECT_FALSE(read.in_flight());
  EXPECT_FALSE(accept.in_flight());
  EXPECT_FALSE(timer.in_flight());
  delete[] buffer;

  // The read no longer exists in the kernel: bytes written now stay in the pipe.
  ASSERT_EQ(::write(pipe.write_end.get(), "after", 5), 5);
  char check[8] = {};
  EXPECT_EQ(::read(pipe.read_end.get(), check, sizeof check), 5);
  EXPECT_EQ(std::string(check, 5), "after");
}

TEST_F(UringBackendTest, AConnectionAcceptedWhileTheBackendIsDestroyedIsClosedNotLeaked) {
  io::Backend& backend = make();
  sockaddr_in address{};
  Fd listener = loopback_listener(address);
  Fd client(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));  // blocking: connected on return
  // The connection waits in the backlog, so the accept succeeds as soon as the kernel takes it:
  // during the teardown's own io_uring_enter, when nobody is left to receive the descriptor.
  ASSERT_EQ(::connect(client.get(), reinterpret_cast<sockaddr*>(&address), sizeof address), 0)
      << std::strerror(errno);
  io::Operation accept;
  Completion accepted;
  prepare(accept, io::OpCode::accept, accepted, listener.get());
  accept.flags = SOCK_CLOEXEC;
  submit(backend, accept);  // only in the submission queue
  const int descriptors_before = count_open_descriptors();

  backend_.reset();
  EXPECT_FALSE(accept.in_flight());
  EXPECT_EQ(accepted.count, 0);
  EXPECT_EQ(count_open_descriptors(), descriptors_before - 2)  // the ring and its wake-up eventfd
      << "the descriptor accepted during teardown leaked";
}

/// Every completion of one multishot operation, in order.
struct MultishotCompletions {
  std::vector<std::int32_t> results;
  std::vector<bool> more;
  std::vector<bool> in_flight_during;
};

void record_multishot(io::Operation& operation, std::int32_t result) {
  auto* seen = static_cast<MultishotCompletions*>(operation.user_data);
  seen->results.push_back(result);
  seen->more.push_back(operation.more);
  seen->in_flight_during.push_back(operation.in_flight());
}

TEST_P(BackendTest, MultishotAcceptCompletesOncePerConnectionAndEndsOnCancel) {
  io::Backend& backend = make();
  sockaddr_in address{};
  Fd listener = loopback_listener(address);
  MultishotCompletions seen;
  io::Operation accept;
  accept.code = io::OpCode::accept_multishot;
  accept.fd = listener.get();
  accept.flags = SOCK_CLOEXEC;
  accept.on_complete = &record_multishot;
  accept.user_data = &seen;
  submit(backend, accept);
  if (!backend.multishot_accept()) {
    // epoll: refused at once, through a later poll like any completion.
    ASSERT_TRUE(poll_until(backend, [&] { return !seen.results.empty(); }));
    EXPECT_EQ(seen.results, std::vector<std::int32_t>{-EOPNOTSUPP});
    EXPECT_EQ(seen.more, std::vector<bool>{false});
    return;
  }
  std::vector<Fd> clients;
  for (int i = 0; i < 3; ++i) {
    clients.emplace_back(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    ASSERT_EQ(
        ::connect(clients.back().get(), reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  }
  ASSERT_TRUE(poll_until(backend, [&] { return seen.results.size() >= 3; }));
  std::vector<Fd> accepted;
  for (std::size_t i = 0; i < 3; ++i) {
    ASSERT_GE(seen.results[i], 0) << std::strerror(-seen.results[i]);
    accepted.emplace_back(seen.results[i]);
    EXPECT_TRUE(seen.more[i]) << "completion " << i << " of an armed accept lacks `more`";
    EXPECT_TRUE(seen.in_flight_during[i]);
  }
  EXPECT_EQ(backend.in_flight(), 1u) << "the multishot accept should stay armed";
  EXPECT_TRUE(accept.in_flight());

  cancel(backend, accept);
  ASSERT_TRUE(poll_until(backend, [&] { return !accept.in_flight(); }));
  ASSERT_EQ(seen.results.size(), 4u);
  EXPECT_EQ(seen.results.back(), -ECANCELED);
  EXPECT_FALSE(seen.more.back());
  EXPECT_EQ(backend.in_flight(), 0u);
}

INSTANTIATE_TEST_SUITE_P(Backends, BackendTest,
                         ::testing::Values(io::BackendKind::uring, io::BackendKind::epoll),
                         backend_param_name);

}  // namespace
}  // namespace ringloop::testing
