// The io::Backend contract, driven directly (no loop, no tasks) on both reactors: completions
// arrive through poll() only, cancellation always completes (and until then the operation owns its
// buffer), ring pressure (full submission queue, completion-queue overflow) loses nothing, wake()
// works across threads, and io_uring makes no system call while nothing is in flight.

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

#include "support/descriptors.hpp"
#include "support/environment.hpp"
#include "support/loop_fixture.hpp"

namespace ringloop::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// ---- helpers ---------------------------------------------------------------------------------

/// Set while the test is inside Backend::submit() or Backend::cancel(): a completion delivered
/// then breaks the contract ("delivered by a later poll(), never from inside submit()").
bool inside_backend_call = false;

/// What the completion function saw for one operation.
struct Completion {
  int count = 0;
  std::int32_t result = 0;
  bool during_submit_or_cancel = false;
};

void record_completion(io::Operation& operation, std::int32_t result) {
  auto* completion = static_cast<Completion*>(operation.user_data);
  ++completion->count;
  completion->result = result;
  if (inside_backend_call) completion->during_submit_or_cancel = true;
}

void prepare(io::Operation& operation, io::OpCode code, Completion& completion, int fd = -1) {
  operation.code = code;
  operation.fd = fd;
  operation.on_complete = &record_completion;
  operation.user_data = &completion;
}

void submit(io::Backend& backend, io::Operation& operation) {
  inside_backend_call = true;
  backend.submit(operation);
  inside_backend_call = false;
}

void cancel(io::Backend& backend, io::Operation& operation) {
  inside_backend_call = true;
  backend.cancel(operation);
  inside_backend_call = false;
}

/// Polls (10 ms at a time) until `done()`; false if it never happened within a generous limit
/// (a safety net against hanging the suite, not a timing assertion).
template <class Done>
bool poll_until(io::Backend& backend, Done done, std::chrono::seconds limit = 60s) {
  const auto give_up = Clock::now() + limit;
  while (!done()) {
    if (Clock::now() > give_up) return false;
    backend.poll(10ms);
  }
  return true;
}

/// Aborts the process with a message if not disarmed in time: a broken wake-up would otherwise
/// hang the suite until the ctest timeout without saying which test.
class Watchdog {
 public:
  Watchdog(const char* what, std::chrono::seconds limit)
      : thread_([this, what, limit] {
          std::unique_lock lock(mutex_);
          if (!disarmed_.wait_for(lock, limit, [this] { return done_; })) {
            std::fprintf(stderr, "watchdog: %s did not happen in time\n", what);
            std::abort();
          }
        }) {}
  ~Watchdog() {
    {
      std::lock_guard lock(mutex_);
      done_ = true;
    }
    disarmed_.notify_one();
    thread_.join();
  }

 private:
  std::mutex mutex_;
  std::condition_variable disarmed_;
  bool done_ = false;
  std::thread thread_;
};

// ---- fixtures --------------------------------------------------------------------------------

/// Owns the backend under test; checks at teardown that nothing is left in flight and that no
/// descriptor leaked.
class BackendFixture : public ::testing::Test {
 protected:
  explicit BackendFixture(io::BackendKind kind) : kind_(kind) {}

  void SetUp() override {
    if (const auto why = backend_unavailable(kind_)) {
      GTEST_SKIP() << "io_uring unavailable here: " << *why;
    }
    leak_check_.start();
  }

  void TearDown() override {
    if (backend_) LeakCheck::expect_nothing_in_flight(*backend_);
    backend_.reset();
    if (leak_check_.started()) leak_check_.expect_no_descriptor_leak();
  }

  io::Backend& make(const io::BackendOptions& options = {}) {
    backend_ = io::make_backend(kind_, options);
    EXPECT_EQ(backend_->kind(), kind_);
    return *backend_;
  }

  [[nodiscard]] bool uring() const noexcept { return kind_ == io::BackendKind::uring; }

  io::BackendKind kind_;
  std::unique_ptr<io::Backend> backend_;
  LeakCheck leak_check_;
};

class BackendTest : public BackendFixture, public ::testing::WithParamInterface<io::BackendKind> {
 protected:
  BackendTest() : BackendFixture(GetParam()) {}
};

class EpollBackendTest : public BackendFixture {
 protected:
  EpollBackendTest() : BackendFixture(io::BackendKind::epoll) {}
};

class UringBackendTest : public BackendFixture {
 protected:
  UringBackendTest() : BackendFixture(io::BackendKind::uring) {}
};

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

TEST_P(BackendTest, PollZeroWithNothingInFlightMakesNoSystemCallOnUringAndOneOnEpoll) {
  io::Backend& backend = make();
  // Warm up: one operation round trip and one blocking poll (which arms io_uring's wake-up read),
  // so the measurement covers a backend that has been used, not just a fresh one.
  io::Operation nop;
  Completion done;
  prepare(nop, io::OpCode::nop, done);
  submit(backend, nop);
  ASSERT_TRUE(poll_until(backend, [&] { return done.count > 0; }));
  backend.poll(1ms);
  ASSERT_EQ(backend.in_flight(), 0u);

  constexpr std::uint64_t kPolls = 1000;
  const std::uint64_t before = backend.stats().system_calls;
  for (std::uint64_t i = 0; i < kPolls; ++i)
    EXPECT_EQ(backend.poll(0ns), 0u);
  const std::uint64_t made = backend.stats().system_calls - before;
  if (uring()) {
    EXPECT_EQ(made, 0u) << "io_uring entered the kernel with nothing to submit or reap";
  } else {
    EXPECT_EQ(made, kPolls) << "the epoll backend polls the kernel once per poll()";
  }
}

// ---- cancellation ----------------------------------------------------------------------------

/// A read whose buffer is heap-allocated and freed only by its completion: if the backend
/// delivered early (or twice), ASan would see the use after free.
struct OwnedBufferRead {
  int count = 0;
  std::int32_t result = 0;
  bool during_submit_or_cancel = false;
};

void free_buffer_on_completion(io::Operation& operation, std::int32_t result) {
  auto* read = static_cast<OwnedBufferRead*>(operation.user_data);
  ++read->count;
  read->result = result;
  if (inside_backend_call) read->during_submit_or_cancel = true;
  delete[] static_cast<char*>(operation.buffer);
  operation.buffer = nullptr;
}

void expect_cancelled_read_owned_its_buffer(io::Backend& backend, bool poll_before_cancel) {
  Pipe pipe = make_pipe();
  constexpr std::uint32_t kSize = 4096;
  io::Operation read;
  OwnedBufferRead state;
  read.code = io::OpCode::read;
  read.fd = pipe.read_end.get();
  read.buffer = new char[kSize];
  read.length = kSize;
  read.on_complete = &free_buffer_on_completion;
  read.user_data = &state;
  submit(backend, read);
  if (poll_before_cancel) {
    for (int i = 0; i < 3; ++i)
      backend.poll(1ms);  // the read is now waiting in the kernel / parked
    ASSERT_EQ(state.count, 0) << "read on an empty pipe completed with " << state.result;
  }

  cancel(backend, read);
  EXPECT_EQ(state.count, 0) << "cancel() delivered the completion itself";
  EXPECT_TRUE(read.in_flight()) << "a cancelled operation is in flight until its completion";
  ASSERT_TRUE(poll_until(backend, [&] { return state.count > 0; }));
  EXPECT_EQ(state.count, 1);
  EXPECT_EQ(state.result, -ECANCELED);
  EXPECT_FALSE(state.during_submit_or_cancel);
  EXPECT_FALSE(read.in_flight());
  EXPECT_EQ(read.buffer, nullptr);

  // The read is really gone: bytes written now are not consumed by it and no second completion
  // arrives (which would also touch the freed buffer).
  ASSERT_EQ(::write(pipe.write_end.get(), "late", 4), 4);
  for (int i = 0; i < 5; ++i)
    backend.poll(1ms);
  EXPECT_EQ(state.count, 1);
  char check[8] = {};
  EXPECT_EQ(::read(pipe.read_end.get(), check, sizeof check), 4);
  EXPECT_EQ(std::string(check, 4), "late");
}

TEST_P(BackendTest, CancelledReadOnEmptyPipeCompletesOnceWithEcanceledAndKeepsItsBufferUntilThen) {
  io::Backend& backend = make();
  expect_cancelled_read_owned_its_buffer(backend, /*poll_before_cancel=*/true);
}

TEST_P(BackendTest, ReadCancelledBeforeItsFirstPollAlsoCompletesOnceWithEcanceled) {
  io::Backend& backend = make();
  expect_cancelled_read_owned_its_buffer(backend, /*poll_before_cancel=*/false);
}

TEST_P(BackendTest, CancelAfterCompletionIsHarmless) {
  io::Backend& backend = make();
  io::Operation nop;
  Completion done;
  prepare(nop, io::OpCode::nop, done);
  submit(backend, nop);
  ASSERT_TRUE(poll_until(backend, [&] { return done.count > 0; }));
  cancel(backend, nop);
  cancel(backend, nop);
  for (int i = 0; i < 5; ++i)
    backend.poll(1ms);
  EXPECT_EQ(done.count, 1);
  EXPECT_EQ(done.result, 0);
  EXPECT_FALSE(nop.in_flight());
  EXPECT_EQ(backend.in_flight(), 0u);

  // The record can be reused afterwards; a stale cancellation must not hit the new submission.
  Pipe pipe = make_pipe();
  char buffer[8];
  io::Operation read;
  Completion got;
  prepare(read, io::OpCode::read, got, pipe.read_end.get());
  read.buffer = buffer;
  read.length = sizeof buffer;
  submit(backend, read);
  for (int i = 0; i < 3; ++i)
    backend.poll(1ms);
  EXPECT_EQ(got.count, 0);
  ASSERT_EQ(::write(pipe.write_end.get(), "x", 1), 1);
  ASSERT_TRUE(poll_until(backend, [&] { return got.count > 0; }));
  EXPECT_EQ(got.result, 1);
}

// The first completion of a batch cancels the second, which has already finished but is not
// delivered yet: the second keeps its real result and completes exactly once.
struct CancelOther {
  io::Backend* backend = nullptr;
  io::Operation* other = nullptr;
  int count = 0;
};

void cancel_other_on_completion(io::Operation& operation, std::int32_t) {
  auto* self = static_cast<CancelOther*>(operation.user_data);
  ++self->count;
  if (self->other->in_flight()) self->backend->cancel(*self->other);
}

TEST_P(BackendTest, CancellingAnOperationThatFinishedButIsNotYetDeliveredKeepsItsResult) {
  io::Backend& backend = make();
  io::Operation first;
  io::Operation second;
  CancelOther canceller{&backend, &second, 0};
  first.code = io::OpCode::nop;
  first.on_complete = &cancel_other_on_completion;
  first.user_data = &canceller;
  Completion done;
  prepare(second, io::OpCode::nop, done);
  backend.submit(first);
  backend.submit(second);
  // Two nops submitted together finish together, so normally one poll delivers both: then the
  // second had finished before the first's completion cancelled it, and its real result wins.
  std::size_t first_batch = 0;
  const auto give_up = Clock::now() + 60s;
  while (first_batch == 0 && Clock::now() < give_up)
    first_batch = backend.poll(10ms);
  ASSERT_TRUE(poll_until(backend, [&] { return canceller.count > 0 && done.count > 0; }));
  for (int i = 0; i < 5; ++i)
    backend.poll(1ms);
  EXPECT_EQ(canceller.count, 1);
  EXPECT_EQ(done.count, 1);
  if (first_batch == 2) {
    EXPECT_EQ(done.result, 0) << "a finished operation was reported cancelled";
  } else {
    EXPECT_TRUE(done.result == 0 || done.result == -ECANCELED) << done.result;
  }
}

TEST_P(BackendTest, CancelledTimeoutCompletesWithEcanceled) {
  io::Backend& backend = make();
  io::Operation timer;
  Completion done;
  prepare(timer, io::OpCode::timeout, done);
  timer.timeout.tv_sec = 3600;
  submit(backend, timer);
  backend.poll(0ns);
  cancel(backend, timer);
  EXPECT_EQ(done.count, 0);
  ASSERT_TRUE(poll_until(backend, [&] { return done.count > 0; }));
  EXPECT_EQ(done.count, 1);
  EXPECT_EQ(done.result, -ECANCELED);
}

// ---- ring pressure ---------------------------------------------------------------------------

/// Submits `count` operations of `code` (nop, or zero timeouts) without polling in between, then
/// polls until all have completed; checks each completed exactly once with `expected`.
void submit_many_then_reap(io::Backend& backend, io::OpCode code, int count, std::int32_t expected,
                           bool blocking_polls) {
  std::vector<io::Operation> operations(static_cast<std::size_t>(count));
  std::vector<Completion> completions(static_cast<std::size_t>(count));
  for (std::size_t i = 0; i < operations.size(); ++i) {
    prepare(operations[i], code, completions[i]);
    submit(backend, operations[i]);
  }
  int delivered_early = 0;
  for (const Completion& completion : completions)
    delivered_early += completion.count;
  EXPECT_EQ(delivered_early, 0) << "completions delivered inside submit()";
  EXPECT_EQ(backend.in_flight(), operations.size());

  std::size_t delivered = 0;
  const auto give_up = Clock::now() + 60s;
  while (delivered < operations.size() && Clock::now() < give_up) {
    delivered += backend.poll(blocking_polls ? std::chrono::nanoseconds(10ms) : 0ns);
  }
  EXPECT_EQ(delivered, operations.size());
  for (int i = 0; i < 5; ++i)
    delivered += backend.poll(0ns);
  EXPECT_EQ(delivered, operations.size()) << "more completions than operations";

  int wrong = 0;
  for (std::size_t i = 0; i < completions.size(); ++i) {
    if (completions[i].count != 1 || completions[i].result != expected ||
        completions[i].during_submit_or_cancel) {
      if (++wrong <= 5) {
        ADD_FAILURE() << "operation " << i << ": " << completions[i].count
                      << " completions, last result " << completions[i].result;
      }
    }
  }
  EXPECT_EQ(wrong, 0);
  EXPECT_EQ(backend.in_flight(), 0u);
  EXPECT_EQ(backend.stats().completed, operations.size());
}

TEST_P(BackendTest, ThousandNopsThroughAFourEntrySubmissionQueueEachCompleteExactlyOnce) {
  io::BackendOptions options;
  options.uring_entries = 4;
  io::Backend& backend = make(options);
  submit_many_then_reap(backend, io::OpCode::nop, 1000, 0, /*blocking_polls=*/true);
  if (uring()) {
    EXPECT_GT(backend.stats().submit_queue_full, 0u)
        << "1,000 submissions into 4 slots must have found the queue full";
  }
}

// With 8 completion slots, 1,000 completions produced between two polls cannot fit: the backend
// never reaps inside submit() unless the kernel refuses a submission (EBUSY/EAGAIN, counted in
// retried_enters), and requires IORING_FEAT_NODROP, so the kernel must have parked completions on
// its overflow list, and the backend must have flushed them (overflow_flushes) without losing any.
TEST_P(BackendTest, CompletionQueueOverflowOfThousandNopsLosesNone) {
  io::BackendOptions options;
  options.uring_entries = 4;
  options.uring_completion_entries = 8;
  io::Backend& backend = make(options);
  submit_many_then_reap(backend, io::OpCode::nop, 1000, 0, /*blocking_polls=*/false);
  if (uring()) {
    EXPECT_GT(backend.stats().overflow_flushes, 0u)
        << "retried_enters=" << backend.stats().retried_enters;
  }
}

TEST_P(BackendTest, CompletionQueueOverflowOfThousandZeroTimeoutsLosesNone) {
  io::BackendOptions options;
  options.uring_entries = 4;
  options.uring_completion_entries = 8;
  io::Backend& backend = make(options);
  submit_many_then_reap(backend, io::OpCode::timeout, 1000, -ETIME, /*blocking_polls=*/true);
  if (uring()) {
    EXPECT_GT(backend.stats().overflow_flushes, 0u)
        << "retried_enters=" << backend.stats().retried_enters;
  }
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

// ---- sockets ---------------------------------------------------------------------------------

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

// ---- selection errors ------------------------------------------------------------------------

TEST(BackendKindTest, ParseBackendKindAcceptsTheDocumentedNames) {
  EXPECT_EQ(io::parse_backend_kind("uring"), io::BackendKind::uring);
  EXPECT_EQ(io::parse_backend_kind("io_uring"), io::BackendKind::uring);
  EXPECT_EQ(io::parse_backend_kind("epoll"), io::BackendKind::epoll);
  EXPECT_EQ(io::backend_name(io::BackendKind::uring), "uring");
  EXPECT_EQ(io::backend_name(io::BackendKind::epoll), "epoll");
}

TEST(BackendKindTest, ParseBackendKindRejectsAnUnknownNameNamingIt) {
  try {
    (void)io::parse_backend_kind("bogus");
    ADD_FAILURE() << "parse_backend_kind(\"bogus\") did not throw";
  } catch (const std::invalid_argument& error) {
    EXPECT_NE(std::string(error.what()).find("bogus"), std::string::npos) << error.what();
  }
}

TEST(BackendKindTest, BogusRingloopBackendEnvironmentMakesAutomaticSelectionThrow) {
  ScopedEnvironment environment("RINGLOOP_BACKEND", "bogus");
  try {
    (void)io::make_backend(std::nullopt);
    ADD_FAILURE() << "make_backend(nullopt) accepted RINGLOOP_BACKEND=bogus";
  } catch (const std::invalid_argument& error) {
    EXPECT_NE(std::string(error.what()).find("bogus"), std::string::npos) << error.what();
  }
  // An explicit kind does not consult the environment.
  EXPECT_EQ(io::make_backend(io::BackendKind::epoll)->kind(), io::BackendKind::epoll);
}

INSTANTIATE_TEST_SUITE_P(Backends, BackendTest,
                         ::testing::Values(io::BackendKind::uring, io::BackendKind::epoll),
                         backend_param_name);

}  // namespace
}  // namespace ringloop::testing
