// Operations that end with -EAGAIN or -EINTR are normal events, not errors: the backend submits
// them again (io::Backend::deliver), the awaiting task sees only the final result, and a
// cancellation that arrives meanwhile ends them with CancelledError. io_uring reports a recv
// with MSG_DONTWAIT on an empty socket as -EAGAIN every time, which makes the path reachable.

#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <span>
#include <string>

#include "support/loop_fixture.hpp"

namespace ringloop::testing {
namespace {

using namespace std::chrono_literals;

class InterruptedOperationTest : public LoopTest {
 protected:
  void SetUp() override {
    LoopTest::SetUp();
    if (IsSkipped()) return;
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sockets_), 0);
  }
  void TearDown() override {
    if (sockets_[0] >= 0) ::close(sockets_[0]);
    if (sockets_[1] >= 0) ::close(sockets_[1]);
    LoopTest::TearDown();
  }
  int sockets_[2] = {-1, -1};
};

Task<std::string> receive_without_waiting(int fd) {
  std::byte buffer[64];
  const std::int32_t got = co_await ops::recv(fd, std::span(buffer), MSG_DONTWAIT);
  co_return std::string(reinterpret_cast<const char*>(buffer), static_cast<std::size_t>(got));
}

TEST_P(InterruptedOperationTest, AnOperationEndingEagainIsSubmittedAgainUntilItHasItsResult) {
  const int writer = sockets_[1];
  loop().call_later(20ms, [writer] { ASSERT_EQ(::write(writer, "late", 4), 4); });
  EXPECT_EQ(run(receive_without_waiting(sockets_[0])), "late");
  if (GetParam() == io::BackendKind::uring) {
    // The kernel answered -EAGAIN at least once; nobody but the backend saw it.
    EXPECT_GT(loop().backend().stats().resubmitted, 0u);
  }
}

Task<bool> cancelled_while_resubmitting(int fd) {
  auto receiving = spawn(receive_without_waiting(fd), "receiver");
  co_await sleep(20ms);
  receiving.cancel();
  try {
    co_await receiving;
  } catch (const CancelledError&) {
    co_return true;
  }
  co_return false;
}

TEST_P(InterruptedOperationTest, CancellingAnOperationThatKeepsEndingEagainRaisesCancelledError) {
  EXPECT_TRUE(run(cancelled_while_resubmitting(sockets_[0])));
  // The cancelled receive took nothing: bytes sent now are all there for the next reader.
  ASSERT_EQ(::write(sockets_[1], "kept", 4), 4);
  char buffer[8] = {};
  EXPECT_EQ(::recv(sockets_[0], buffer, sizeof buffer, 0), 4);
  EXPECT_EQ(std::string(buffer, 4), "kept");
}

RINGLOOP_ON_BOTH_BACKENDS(InterruptedOperationTest);

}  // namespace
}  // namespace ringloop::testing
