// The raw io::Backend on both reactors: completions arrive through poll() only, io_uring makes no
// system call while nothing is in flight, wake() works across threads, timeouts last their time.

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

// ---- completion delivery ----------------------------------------------------------------------

TEST_P(BackendTest, NopCompletesThroughPollAndNeverInsideSubmit) {
  io::Backend& backend = make();
  io::Operation operation;
  Completion completion;
  prepare(operation, io::OpCode::nop, completion);

  submit(backend, operation);
  EXPECT_EQ(completion.count, 0) << "completed inside submit()";
  EXPECT_TRUE(operation.in_flight());
  EXPECT_EQ(backend.in_flight(), 1u);

  ASSERT_TRUE(poll_until(backend, [&] { return completion.count > 0; }));
  EXPECT_EQ(completion.count, 1);
  EXPECT_EQ(completion.result, 0);
  EXPECT_FALSE(completion.during_submit_or_cancel);
  EXPECT_FALSE(operation.in_flight());
  EXPECT_EQ(backend.in_flight(), 0u);
  EXPECT_EQ(backend.stats().submitted, 1u);
  EXPECT_EQ(backend.stats().completed, 1u);

  // Nothing else arrives later.
  for (int i = 0; i < 10; ++i)
    backend.poll(0ns);
  EXPECT_EQ(completion.count, 1);
}

// A completion that submits the next operation: that one must wait for a later poll(), so the
// chain never recurses inside one delivery.
struct Chain {
  io::Backend* backend = nullptr;
  int remaining = 0;
  int completions = 0;
  bool recursed = false;
  bool delivering = false;
};

void resubmit_chain(io::Operation& operation, std::int32_t result) {
  auto* chain = static_cast<Chain*>(operation.user_data);
  if (chain->delivering || result != 0) chain->recursed = true;
  ++chain->completions;
  if (--chain->remaining > 0) {
    chain->delivering = true;
    chain->backend->submit(operation);
    chain->delivering = false;
  }
}

TEST_P(BackendTest, OperationSubmittedFromACompletionIsDeliveredByALaterPoll) {
  io::Backend& backend = make();
  Chain chain{&backend, 100, 0, false, false};
  io::Operation operation;
  operation.code = io::OpCode::nop;
  operation.on_complete = &resubmit_chain;
  operation.user_data = &chain;
  backend.submit(operation);
  const auto give_up = Clock::now() + 60s;
  while (chain.remaining > 0 && Clock::now() < give_up) {
    EXPECT_LE(backend.poll(10ms), 1u)
        << "an operation submitted by a completion ran in the same poll";
  }
  EXPECT_EQ(chain.completions, 100);
  EXPECT_FALSE(chain.recursed);
}

TEST_P(BackendTest, WriteThenReadMoveBytesThroughANonBlockingPipe) {
  io::Backend& backend = make();
  Pipe pipe = make_pipe();
  const char message[] = "ringloop pipe";
  const auto length = static_cast<std::uint32_t>(std::strlen(message));

  io::Operation write;
  Completion written;
  prepare(write, io::OpCode::write, written, pipe.write_end.get());
  write.buffer = const_cast<char*>(message);
  write.length = length;
  submit(backend, write);
  ASSERT_TRUE(poll_until(backend, [&] { return written.count > 0; }));
  EXPECT_EQ(written.result, static_cast<std::int32_t>(length));

  char buffer[64] = {};
  io::Operation read;
  Completion got;
  prepare(read, io::OpCode::read, got, pipe.read_end.get());
  read.buffer = buffer;
  read.length = sizeof buffer;
  submit(backend, read);
  ASSERT_TRUE(poll_until(backend, [&] { return got.count > 0; }));
  EXPECT_EQ(got.count, 1);
  ASSERT_EQ(got.result, static_cast<std::int32_t>(length));
  EXPECT_EQ(std::string(buffer, length), message);
  EXPECT_EQ(written.count, 1);
}

TEST_P(BackendTest, ReadOnAnEmptyPipeWaitsUntilDataArrives) {
  io::Backend& backend = make();
  Pipe pipe = make_pipe();
  char buffer[16] = {};
  io::Operation read;
  Completion got;
  prepare(read, io::OpCode::read, got, pipe.read_end.get());
  read.buffer = buffer;
  read.length = sizeof buffer;
  submit(backend, read);
  for (int i = 0; i < 5; ++i)
    backend.poll(1ms);
  EXPECT_EQ(got.count, 0) << "a read on an empty non-blocking pipe completed with " << got.result;
  EXPECT_EQ(backend.in_flight(), 1u);

  ASSERT_EQ(::write(pipe.write_end.get(), "abc", 3), 3);
  ASSERT_TRUE(poll_until(backend, [&] { return got.count > 0; }));
  EXPECT_EQ(got.count, 1);
  ASSERT_EQ(got.result, 3);
  EXPECT_EQ(std::string(buffer, 3), "abc");
}

// epoll delivers operations that finished when started without a readiness check first, but
// never twice in a row: a steady stream of such operations cannot keep a ready read waiting.
TEST_P(BackendTest, OperationsThatFinishAtOnceNeverHideReadinessForMoreThanOnePoll) {
  io::Backend& backend = make();
  Pipe pipe = make_pipe();
  char buffer[16] = {};
  io::Operation read;
  Completion got;
  prepare(read, io::OpCode::read, got, pipe.read_end.get());
  read.buffer = buffer;
  read.length = sizeof buffer;
  submit(backend, read);
  backend.poll(0ns);  // parked: the pipe is empty
  ASSERT_EQ(got.count, 0);
  ASSERT_EQ(::write(pipe.write_end.get(), "x", 1), 1);
  io::Operation nop;
  int polls = 0;
  std::vector<Completion> nops(10);
  while (got.count == 0 && polls < 10) {
    prepare(nop, io::OpCode::nop, nops[static_cast<std::size_t>(polls)]);
    submit(backend, nop);
    backend.poll(0ns);
    ++polls;
    EXPECT_EQ(nops[static_cast<std::size_t>(polls - 1)].count, 1);
  }
  EXPECT_EQ(got.count, 1);
  EXPECT_EQ(got.result, 1);
  EXPECT_LE(polls, 2) << "the ready read waited behind operations that finished at once";
}

TEST_P(BackendTest, ParkedReadSeesEndOfFileWhenTheWriterCloses) {
  io::Backend& backend = make();
  Pipe pipe = make_pipe();
  char buffer[16];
  io::Operation read;
  Completion got;
  prepare(read, io::OpCode::read, got, pipe.read_end.get());
  read.buffer = buffer;
  read.length = sizeof buffer;
  submit(backend, read);
  backend.poll(0ns);
  EXPECT_EQ(got.count, 0);
  pipe.write_end.reset();
  ASSERT_TRUE(poll_until(backend, [&] { return got.count > 0; }));
  EXPECT_EQ(got.count, 1);
  EXPECT_EQ(got.result, 0);
}

TEST_P(BackendTest, ReadOnAClosedDescriptorCompletesWithEbadf) {
  io::Backend& backend = make();
  int closed_fd;
  {
    Pipe pipe = make_pipe();
    closed_fd = pipe.read_end.get();
  }
  char buffer[8];
  io::Operation read;
  Completion got;
  prepare(read, io::OpCode::read, got, closed_fd);
  read.buffer = buffer;
  read.length = sizeof buffer;
  submit(backend, read);
  ASSERT_TRUE(poll_until(backend, [&] { return got.count > 0; }));
  EXPECT_EQ(got.count, 1);
  EXPECT_EQ(got.result, -EBADF);
}

// A descriptor closed with close(2) behind the backend's back, whose number then comes back as a
// new pipe: the backend must wait on the new file (epoll: the old registration left the epoll
// set with the old file). The old file stays open through a dup, so its events (on the same
// number) keep arriving too and must not be mistaken for the new file's.
TEST_P(BackendTest, ReadOnADescriptorNumberReusedAfterPlainCloseGetsTheNewFilesData) {
  io::Backend& backend = make();
  Pipe old_pipe = make_pipe();
  const int number = old_pipe.read_end.get();
  char buffer[16] = {};
  io::Operation read;
  Completion first;
  prepare(read, io::OpCode::read, first, number);
  read.buffer = buffer;
  read.length = sizeof buffer;
  submit(backend, read);  // parks: the backend now knows this number
  backend.poll(0ns);
  ASSERT_EQ(::write(old_pipe.write_end.get(), "old", 3), 3);
  ASSERT_TRUE(poll_until(backend, [&] { return first.count > 0; }));
  ASSERT_EQ(first.result, 3);

  Fd old_read_end(::dup(old_pipe.read_end.get()));  // keeps the old file alive
  ASSERT_GE(old_read_end.get(), 0);
  old_pipe.read_end.reset();  // plain close(2) of `number`
  Pipe new_pipe = make_pipe();
  ASSERT_EQ(new_pipe.read_end.get(), number) << "the descriptor number was not reused";

  Completion second;
  prepare(read, io::OpCode::read, second, number);
  submit(backend, read);
  for (int i = 0; i < 3; ++i)
    backend.poll(1ms);
  EXPECT_EQ(second.count, 0);
  ASSERT_EQ(::write(old_pipe.write_end.get(), "junk", 4), 4);  // the old file gets readable
  for (int i = 0; i < 3; ++i)
    backend.poll(1ms);
  EXPECT_EQ(second.count, 0) << "the read completed from the old file's readiness";
  ASSERT_EQ(::write(new_pipe.write_end.get(), "new", 3), 3);
  EXPECT_TRUE(poll_until(
      backend, [&] { return second.count > 0; }, 10s))
      << "readiness of the new file was never seen";
  if (second.count == 0) {
    cancel(backend, read);
    ASSERT_TRUE(poll_until(backend, [&] { return second.count > 0; }));
    return;
  }
  EXPECT_EQ(second.count, 1);
  ASSERT_EQ(second.result, 3);
  EXPECT_EQ(std::string(buffer, 3), "new");
}

// ---- system calls per poll ------------------------------------------------------------------

// How many system calls kPolls zero-timeout polls of a used backend with nothing in flight make.
std::uint64_t system_calls_of_idle_polls(io::Backend& backend, std::uint64_t polls) {
  // Warm up: one operation round trip and one blocking poll (which arms io_uring's wake-up read),
  // so the measurement covers a backend that has been used, not just a fresh one.
  io::Operation nop;
  Completion done;
  prepare(nop, io::OpCode::nop, done);
  backend.submit(nop);
  EXPECT_TRUE(poll_until(backend, [&] { return done.count > 0; }));
  backend.poll(1ms);
  EXPECT_EQ(backend.in_flight(), 0u);
  const std::uint64_t before = backend.stats().system_calls;
  for (std::uint64_t i = 0; i < polls; ++i)
    EXPECT_EQ(backend.poll(0ns), 0u);
  return backend.stats().system_calls - before;
}

TEST_P(BackendTest, PollZeroWithNothingInFlightMakesNoSystemCall) {
  EXPECT_EQ(system_calls_of_idle_polls(make(), 1000), 0u)
      << "the backend entered the kernel with nothing to submit, reap or wait for";
}

// asyncio's discipline, kept on request (the 500k benchmark's standard loop): epoll asks the
// kernel on every poll; io_uring ignores the option.
TEST_P(BackendTest, PollWhenIdleMakesEpollAskTheKernelOnEveryPoll) {
  io::BackendOptions options;
  options.poll_when_idle = true;
  const std::uint64_t made = system_calls_of_idle_polls(make(options), 1000);
  EXPECT_EQ(made, uring() ? 0u : 1000u);
}

// Something parked (a read on an empty pipe) is in flight: a zero-timeout poll must ask the
// kernel, or a readiness that arrives meanwhile would never be delivered.
TEST_P(BackendTest, PollZeroWithAnOperationParkedStillAsksTheKernel) {
  io::Backend& backend = make();
  int pipe_ends[2];
  ASSERT_EQ(::pipe2(pipe_ends, O_NONBLOCK | O_CLOEXEC), 0);
  char byte = 0;
  io::Operation reading;
  Completion done;
  prepare(reading, io::OpCode::read, done, pipe_ends[0]);
  reading.buffer = &byte;
  reading.length = 1;
  submit(backend, reading);
  backend.poll(0ns);
  EXPECT_EQ(done.count, 0);
  ASSERT_EQ(::write(pipe_ends[1], "x", 1), 1);
  EXPECT_TRUE(poll_until(backend, [&] { return done.count > 0; }));
  EXPECT_EQ(done.result, 1);
  EXPECT_EQ(byte, 'x');
  ::close(pipe_ends[0]);
  ::close(pipe_ends[1]);
}

// ---- wake-up ---------------------------------------------------------------------------------

// poll() may also return early for other reasons (a blocking system call answers EINTR, e.g. after
// io_uring task work was queued for this thread), so the waiting side loops until the flag set
// just before wake() is visible; a lost wake-up hangs it (the watchdog then aborts).
TEST_P(BackendTest, WakeFromAnotherThreadInterruptsAPollBlockedForever) {
  io::Backend& backend = make();
  Watchdog watchdog("wake() interrupting poll(nullopt)", 60s);
  std::atomic<bool> woken{false};
  std::thread waker([&backend, &woken] {
    std::this_thread::sleep_for(50ms);
    woken.store(true);
    backend.wake();
  });
  std::size_t delivered = 0;
  while (!woken.load())
    delivered += backend.poll(std::nullopt);
  waker.join();
  EXPECT_EQ(delivered, 0u);

  // The wake-up was consumed, not left pending: waiting out 20 ms takes a few polls at most
  // (a wake-up that stayed armed would make every poll return at once, thousands of times).
  const auto until = Clock::now() + 20ms;
  int polls = 0;
  while (Clock::now() < until) {
    EXPECT_EQ(backend.poll(std::max<std::chrono::nanoseconds>(0ns, until - Clock::now())), 0u);
    ++polls;
  }
  EXPECT_LE(polls, 3);
}

TEST_P(BackendTest, WakeBeforePollIsNotLost) {
  io::Backend& backend = make();
  Watchdog watchdog("a wake() issued before poll(nullopt)", 60s);
  backend.wake();
  backend.wake();
  EXPECT_EQ(backend.poll(std::nullopt), 0u);
}

TEST_P(BackendTest, WakeInterruptsAPollWhileAReadIsParked) {
  io::Backend& backend = make();
  Pipe pipe = make_pipe();
  char buffer[8];
  io::Operation read;
  Completion got;
  prepare(read, io::OpCode::read, got, pipe.read_end.get());
  read.buffer = buffer;
  read.length = sizeof buffer;
  submit(backend, read);
  {
    Watchdog watchdog("wake() with a read parked", 60s);
    std::atomic<bool> woken{false};
    std::thread waker([&backend, &woken] {
      std::this_thread::sleep_for(20ms);
      woken.store(true);
      backend.wake();
    });
    while (!woken.load())
      backend.poll(std::nullopt);
    waker.join();
  }
  EXPECT_EQ(got.count, 0);
  cancel(backend, read);
  ASSERT_TRUE(poll_until(backend, [&] { return got.count > 0; }));
  EXPECT_EQ(got.result, -ECANCELED);
}

// ---- timeouts --------------------------------------------------------------------------------

TEST_P(BackendTest, TimeoutOperationCompletesWithEtimeNoEarlierThanItsDuration) {
  io::Backend& backend = make();
  io::Operation timer;
  Completion done;
  prepare(timer, io::OpCode::timeout, done);
  timer.timeout.tv_sec = 0;
  timer.timeout.tv_nsec = 30'000'000;
  const auto started = Clock::now();
  submit(backend, timer);
  ASSERT_TRUE(poll_until(backend, [&] { return done.count > 0; }));
  EXPECT_GE(Clock::now() - started, 30ms);
  EXPECT_EQ(done.count, 1);
  EXPECT_EQ(done.result, -ETIME);
}

INSTANTIATE_TEST_SUITE_P(Backends, BackendTest,
                         ::testing::Values(io::BackendKind::uring, io::BackendKind::epoll),
                         backend_param_name);

}  // namespace
}  // namespace ringloop::testing
