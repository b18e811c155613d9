// Cancelling tasks blocked in descriptor operations on both backends: CancelledError in the task,
// no lost bytes when a cancellation meets a completion, and a loop destroyed with a blocked task.

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

struct CancelOutcome {
  bool cancelled_in_recv = false;
  std::size_t in_flight_while_blocked = 0;
  std::size_t in_flight_after = 0;
  bool awaiter_saw_cancelled = false;
  bool handle_cancelled = false;
};

Task<void> recv_until_cancelled(int fd, CancelOutcome* outcome) {
  std::array<std::byte, 64> buffer{};
  try {
    const std::int32_t got = co_await ops::recv(fd, buffer);
    (void)got;
  } catch (const CancelledError&) {
    outcome->cancelled_in_recv = true;
    throw;
  }
}

Task<void> cancel_blocked_recv(Loop* loop, int fd, CancelOutcome* outcome) {
  TaskHandle<void> receiver = loop->spawn(recv_until_cancelled(fd, outcome), "receiver");
  for (int i = 0; i < 3; ++i)
    co_await yield_now();
  outcome->in_flight_while_blocked = loop->backend().in_flight();
  receiver.cancel();
  try {
    co_await receiver;
  } catch (const CancelledError&) {
    outcome->awaiter_saw_cancelled = true;
  }
  outcome->in_flight_after = loop->backend().in_flight();
  outcome->handle_cancelled = receiver.cancelled();
}

TEST_P(IoOperationsTest, CancellingATaskBlockedInRecvRaisesCancelledErrorInIt) {
  SocketPair pair = make_socketpair();
  CancelOutcome outcome;
  run(cancel_blocked_recv(&loop(), pair.first.get(), &outcome));
  EXPECT_EQ(outcome.in_flight_while_blocked, 1u);
  EXPECT_TRUE(outcome.cancelled_in_recv);
  EXPECT_TRUE(outcome.awaiter_saw_cancelled);
  EXPECT_TRUE(outcome.handle_cancelled);
  EXPECT_EQ(outcome.in_flight_after, 0u);
  EXPECT_EQ(loop().backend().in_flight(), 0u);
}

struct RaceOutcome {
  std::string received;
  bool recv_returned = false;
  bool cancelled_at_recv = false;
  bool cancelled_at_next_await = false;
  bool awaiter_saw_cancelled = false;
  bool handle_cancelled = false;
  bool completion_seen_before_cancel = false;
  std::size_t in_flight_while_blocked = 0;
};

Task<void> recv_then_await_again(int fd, RaceOutcome* outcome) {
  std::array<std::byte, 64> buffer{};
  try {
    const std::int32_t got = co_await ops::recv(fd, buffer);
    outcome->recv_returned = true;
    outcome->received = text_of(std::span(buffer).first(static_cast<std::size_t>(got)));
  } catch (const CancelledError&) {
    outcome->cancelled_at_recv = true;
    throw;
  }
  try {
    co_await yield_now();
  } catch (const CancelledError&) {
    outcome->cancelled_at_next_await = true;
    throw;
  }
}

// The recv has completed in the backend (its task is queued to resume, behind this one) when the
// cancellation comes: the bytes are returned, and CancelledError waits for the next await.
Task<void> cancel_after_recv_completed(Loop* loop, int fd, int peer, RaceOutcome* outcome) {
  TaskHandle<void> receiver = loop->spawn(recv_then_await_again(fd, outcome), "receiver");
  for (int i = 0; i < 3; ++i)
    co_await yield_now();
  outcome->in_flight_while_blocked = loop->backend().in_flight();
  if (::send(peer, "payload", 7, MSG_NOSIGNAL) != 7) throw std::runtime_error("send failed");
  // This task is always ready, so the loop polls without sleeping; once the backend delivered
  // the recv's completion, the receiver sits in the ready queue behind us.
  for (int i = 0; i < 100000 && loop->backend().in_flight() != 0; ++i)
    co_await yield_now();
  outcome->completion_seen_before_cancel = loop->backend().in_flight() == 0 && !receiver.done();
  receiver.cancel();
  try {
    co_await receiver;
  } catch (const CancelledError&) {
    outcome->awaiter_saw_cancelled = true;
  }
  outcome->handle_cancelled = receiver.cancelled();
}

TEST_P(IoOperationsTest, RecvThatCompletedBeforeCancelReturnsItsBytesAndCancelsAtTheNextAwait) {
  SocketPair pair = make_socketpair();
  RaceOutcome outcome;
  run(cancel_after_recv_completed(&loop(), pair.first.get(), pair.second.get(), &outcome));
  EXPECT_EQ(outcome.in_flight_while_blocked, 1u);
  ASSERT_TRUE(outcome.completion_seen_before_cancel);
  EXPECT_FALSE(outcome.cancelled_at_recv);
  EXPECT_TRUE(outcome.recv_returned);
  EXPECT_EQ(outcome.received, "payload");
  EXPECT_TRUE(outcome.cancelled_at_next_await);
  EXPECT_TRUE(outcome.awaiter_saw_cancelled);
  EXPECT_TRUE(outcome.handle_cancelled);
}

// Data and cancellation arrive together: whichever wins, no byte is lost — either the recv
// returned them, or they are still in the socket.
Task<void> cancel_while_data_arrives(Loop* loop, int fd, int peer, RaceOutcome* outcome) {
  TaskHandle<void> receiver = loop->spawn(recv_then_await_again(fd, outcome), "receiver");
  for (int i = 0; i < 3; ++i)
    co_await yield_now();
  outcome->in_flight_while_blocked = loop->backend().in_flight();
  if (::send(peer, "payload", 7, MSG_NOSIGNAL) != 7) throw std::runtime_error("send failed");
  receiver.cancel();
  try {
    co_await receiver;
  } catch (const CancelledError&) {
    outcome->awaiter_saw_cancelled = true;
  }
  outcome->handle_cancelled = receiver.cancelled();
}

TEST_P(IoOperationsTest, RecvCancelledAsDataArrivesLosesNoBytes) {
  for (int round = 0; round < 20; ++round) {
    SocketPair pair = make_socketpair();
    RaceOutcome outcome;
    run(cancel_while_data_arrives(&loop(), pair.first.get(), pair.second.get(), &outcome));
    EXPECT_EQ(outcome.in_flight_while_blocked, 1u);
    EXPECT_EQ(outcome.received + drain_now(pair.first.get()), "payload") << "round " << round;
    EXPECT_NE(outcome.recv_returned, outcome.cancelled_at_recv);
    if (outcome.recv_returned) {
      EXPECT_TRUE(outcome.cancelled_at_next_await);
    }
    EXPECT_TRUE(outcome.awaiter_saw_cancelled);
    EXPECT_TRUE(outcome.handle_cancelled);
    EXPECT_EQ(loop().backend().in_flight(), 0u);
  }
}

// Every kind of blocked operation gives way to cancellation: the task sees CancelledError at the
// await and nothing stays in flight.
enum class Blocker { read_pipe, recv_socket, accept_listener, poll_pipe, long_timeout };

Task<void> block_in(Blocker blocker, int fd, bool* cancelled) {
  std::array<std::byte, 32> buffer{};
  try {
    switch (blocker) {
      case Blocker::read_pipe: {
        const std::int32_t got = co_await ops::read(fd, buffer);
        (void)got;
        break;
      }
      case Blocker::recv_socket: {
        const std::int32_t got = co_await ops::recv(fd, buffer);
        (void)got;
        break;
      }
      case Blocker::accept_listener: {
        const std::int32_t accepted = co_await ops::accept(fd);
        if (accepted >= 0) ::close(accepted);
        break;
      }
      case Blocker::poll_pipe: {
        const std::int32_t events = co_await ops::poll(fd, POLLIN);
        (void)events;
        break;
      }
      case Blocker::long_timeout: {
        const std::int32_t expired = co_await ops::timeout(std::chrono::hours(1));
        (void)expired;
        break;
      }
    }
  } catch (const CancelledError&) {
    *cancelled = true;
    throw;
  }
}

Task<std::size_t> cancel_blocked(Loop* loop, Blocker blocker, int fd, bool* cancelled) {
  TaskHandle<void> blocked = loop->spawn(block_in(blocker, fd, cancelled));
  for (int i = 0; i < 3; ++i)
    co_await yield_now();
  const std::size_t in_flight = loop->backend().in_flight();
  blocked.cancel();
  try {
    co_await blocked;
  } catch (const CancelledError&) {
  }
  co_return in_flight;
}

TEST_P(IoOperationsTest, CancellingTasksBlockedInReadRecvAcceptPollAndTimeoutRaisesCancelledError) {
  Pipe pipe = make_pipe();
  SocketPair pair = make_socketpair();
  sockaddr_in address{};
  Fd listener = loopback_listener(address);
  const struct {
    Blocker blocker;
    int fd;
    const char* name;
  } cases[] = {
      {Blocker::read_pipe, pipe.read_end.get(), "read"},
      {Blocker::recv_socket, pair.first.get(), "recv"},
      {Blocker::accept_listener, listener.get(), "accept"},
      {Blocker::poll_pipe, pipe.read_end.get(), "poll"},
      {Blocker::long_timeout, -1, "timeout"},
  };
  for (const auto& each : cases) {
    bool cancelled = false;
    const std::size_t in_flight = run(cancel_blocked(&loop(), each.blocker, each.fd, &cancelled));
    EXPECT_EQ(in_flight, 1u) << each.name << " was not waiting in the backend";
    EXPECT_TRUE(cancelled) << each.name;
    EXPECT_EQ(loop().backend().in_flight(), 0u) << each.name;
  }
}

// A loop destroyed while a task waits in a read: the backend lets go of the operation (io_uring:
// cancels it and waits for the kernel) before the task's frame, which holds the buffer, is freed.
TEST_P(IoOperationsTest, LoopDestroyedWithATaskBlockedInReadFreesItSafely) {
  Pipe pipe = make_pipe();
  std::vector<ExceptionContext> own_reports;
  bool cancelled = false;
  {
    LoopOptions options;
    options.backend = GetParam();
    Loop doomed(options);
    doomed.set_exception_handler(
        [&own_reports](Loop&, const ExceptionContext& context) { own_reports.push_back(context); });
    TaskHandle<void> blocked =
        doomed.spawn(block_in(Blocker::read_pipe, pipe.read_end.get(), &cancelled));
    doomed.run_until_complete(nop_through_backend());
    EXPECT_EQ(doomed.backend().in_flight(), 1u);
    EXPECT_FALSE(blocked.done());
  }
  EXPECT_FALSE(cancelled) << "the task was resumed while its loop was being destroyed";
  ASSERT_EQ(own_reports.size(), 1u);
  EXPECT_NE(own_reports[0].message.find("destroyed but it is pending"), std::string::npos)
      << own_reports[0].message;
  // The read is gone from the kernel: bytes written now stay in the pipe.
  ASSERT_EQ(::write(pipe.write_end.get(), "kept", 4), 4);
  char check[8] = {};
  EXPECT_EQ(::read(pipe.read_end.get(), check, sizeof check), 4);
}

RINGLOOP_ON_BOTH_BACKENDS(IoOperationsTest);

}  // namespace
}  // namespace ringloop::testing
