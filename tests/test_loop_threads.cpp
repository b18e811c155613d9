// A loop belongs to the thread that runs it, not the one that built it: built on the main
// thread, run (and destroyed) on a worker, on both backends.

#include <fcntl.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <thread>

#include "support/loop_fixture.hpp"

namespace ringloop::testing {
namespace {

class LoopThreadTest : public ::testing::TestWithParam<io::BackendKind> {};

Task<int> read_after_sleep(int fd) {
  co_await sleep(std::chrono::milliseconds(1));
  std::byte buffer[4];
  const int received = co_await ops::read(fd, buffer);
  co_return received;
}

TEST_P(LoopThreadTest, LoopBuiltOnOneThreadRunsOnAnother) {
  if (GetParam() == io::BackendKind::uring && !io::uring_available()) GTEST_SKIP();
  LoopOptions options;
  options.backend = GetParam();
  auto loop = std::make_unique<Loop>(options);
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
  ASSERT_EQ(::write(fds[1], "abc", 3), 3);
  int result = -1;
  std::string error;
  std::thread runner([&] {
    try {
      result = loop->run_until_complete(read_after_sleep(fds[0]));
    } catch (const std::exception& failure) {
      error = failure.what();
    }
    loop.reset();  // destroyed on the thread that ran it
  });
  runner.join();
  EXPECT_EQ(error, "");
  EXPECT_EQ(result, 3);
  ::close(fds[0]);
  ::close(fds[1]);
}

RINGLOOP_ON_BOTH_BACKENDS(LoopThreadTest);

}  // namespace
}  // namespace ringloop::testing
