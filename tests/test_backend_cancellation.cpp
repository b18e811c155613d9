// Raw io::Backend cancellation on both reactors (always completes, the operation owns its buffer
// until then) and ring pressure (full submission queue, completion-queue overflow) losing nothing.

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
#include <tuple>
#include <vector>

#include "support/backend.hpp"
#include "support/descriptors.hpp"
#include "support/loop_fixture.hpp"

namespace ringloop::testing {
namespace {

using namespace std::chrono_literals;

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
/// One kind of operation flooding the completion queue.
struct OverflowCase {
  const char* name;
  io::OpCode code;
  std::int32_t expected;  ///< the result each operation must complete with
  bool blocking_polls;
};

class CompletionQueueOverflowTest
    : public BackendFixture,
      public ::testing::WithParamInterface<std::tuple<io::BackendKind, OverflowCase>> {
 protected:
  CompletionQueueOverflowTest() : BackendFixture(std::get<0>(GetParam())) {}
  [[nodiscard]] const OverflowCase& overflow_case() const { return std::get<1>(GetParam()); }
};

TEST_P(CompletionQueueOverflowTest, ThousandOperationsLoseNone) {
  io::BackendOptions options;
  options.uring_entries = 4;
  options.uring_completion_entries = 8;
  io::Backend& backend = make(options);
  const OverflowCase& flood = overflow_case();
  submit_many_then_reap(backend, flood.code, 1000, flood.expected, flood.blocking_polls);
  if (uring()) {
    EXPECT_GT(backend.stats().overflow_flushes, 0u)
        << "retried_enters=" << backend.stats().retried_enters;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Backends, CompletionQueueOverflowTest,
    ::testing::Combine(::testing::Values(io::BackendKind::uring, io::BackendKind::epoll),
                       ::testing::Values(OverflowCase{"Nops", io::OpCode::nop, 0, false},
                                         OverflowCase{"ZeroTimeouts", io::OpCode::timeout, -ETIME,
                                                      true})),
    BackendAndCaseName{});

INSTANTIATE_TEST_SUITE_P(Backends, BackendTest,
                         ::testing::Values(io::BackendKind::uring, io::BackendKind::epoll),
                         backend_param_name);

}  // namespace
}  // namespace ringloop::testing
