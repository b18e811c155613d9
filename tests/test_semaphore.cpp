// Semaphore and BoundedSemaphore: permits in arrival order, no barging, cancellation while waiting
// and a grant followed by a cancellation before the task resumes, and the bounded release error.

#include <algorithm>
#include <cstddef>
#include <deque>
#include <stdexcept>
#include <string>
#include <vector>

#include "support/loop_fixture.hpp"
#include "support/sync.hpp"

namespace ringloop::testing {
namespace {

class SyncSemaphoreTest : public SyncTest {};

Task<> use_permit(Semaphore* semaphore, Log* log, std::string name, int* inside, int* most) {
  SemaphoreGuard permit = co_await semaphore->scoped();
  log->push_back(name);
  *most = std::max(*most, ++*inside);
  co_await yield_now();
  co_await yield_now();
  --*inside;
}

Task<> take_permit_noting_cancel(Semaphore* semaphore, Log* log, std::string name) {
  try {
    co_await semaphore->acquire();
  } catch (const CancelledError&) {
    log->push_back(name + " cancelled");
    throw;
  }
  log->push_back(name);
  semaphore->release();
}

TEST_P(SyncSemaphoreTest, NegativeInitialValueThrowsInvalidArgument) {
  EXPECT_EQ(thrown_message<std::invalid_argument>([] { Semaphore semaphore(-1); }),
            "Semaphore initial value must be >= 0, got -1");
  EXPECT_EQ(thrown_message<std::invalid_argument>([] { BoundedSemaphore semaphore(-3); }),
            "Semaphore initial value must be >= 0, got -3");
  Semaphore zero(0);
  EXPECT_TRUE(zero.locked());
}

Task<> limit_concurrency(Log* log, int* most, std::size_t* value_at_end) {
  Semaphore semaphore(2);
  int inside = 0;
  std::vector<TaskHandle<>> tasks;
  for (int i = 0; i < 6; ++i) {
    tasks.push_back(spawn(use_permit(&semaphore, log, std::to_string(i), &inside, most)));
  }
  std::size_t stuck = co_await settle(&tasks);
  EXPECT_EQ(stuck, 0u);
  *value_at_end = semaphore.value();
}

TEST_P(SyncSemaphoreTest, AtMostValueTasksHoldAPermitAndTheRestGetOneInArrivalOrder) {
  Log log;
  int most = 0;
  std::size_t value_at_end = 0;
  run(limit_concurrency(&log, &most, &value_at_end));
  EXPECT_EQ(most, 2);
  EXPECT_EQ(log, (Log{"0", "1", "2", "3", "4", "5"}));
  EXPECT_EQ(value_at_end, 2u);
}

Task<> semaphore_no_barging(Log* log, bool* locked_after_release) {
  Semaphore semaphore(1);
  co_await semaphore.acquire();
  TaskHandle<> waiter = spawn(take_permit_noting_cancel(&semaphore, log, "waiter"));
  co_await turns(2);
  semaphore.release();
  *locked_after_release = semaphore.locked() && semaphore.value() == 0;  // handed over
  co_await semaphore.acquire();
  log->push_back("main again");
  semaphore.release();
  std::size_t stuck = co_await settle_one(waiter);
  EXPECT_EQ(stuck, 0u);
}

TEST_P(SyncSemaphoreTest, ReleaseHandsThePermitToTheFirstWaiterSoALaterAcquireCannotBarge) {
  Log log;
  bool locked_after_release = false;
  run(semaphore_no_barging(&log, &locked_after_release));
  EXPECT_TRUE(locked_after_release);
  EXPECT_EQ(log, (Log{"waiter", "main again"}));
}

Task<> cancel_permit_waiter(Log* log, bool* a_cancelled, std::size_t* value_at_end) {
  Semaphore semaphore(1);
  co_await semaphore.acquire();
  std::vector<TaskHandle<>> tasks;
  for (const char* name : {"a", "b"}) {
    tasks.push_back(spawn(take_permit_noting_cancel(&semaphore, log, name)));
  }
  co_await turns(2);
  tasks[0].cancel();
  co_await turns(2);
  semaphore.release();
  std::size_t stuck = co_await settle(&tasks);
  EXPECT_EQ(stuck, 0u);
  *a_cancelled = tasks[0].cancelled();
  *value_at_end = semaphore.value();
}

TEST_P(SyncSemaphoreTest, CancelledWaiterDoesNotConsumeAPermit) {
  Log log;
  bool a_cancelled = false;
  std::size_t value_at_end = 0;
  run(cancel_permit_waiter(&log, &a_cancelled, &value_at_end));
  EXPECT_TRUE(a_cancelled);
  EXPECT_EQ(log, (Log{"a cancelled", "b"}));
  EXPECT_EQ(value_at_end, 1u);
}

Task<> permit_then_yield(Semaphore* semaphore, Log* log) {
  SemaphoreGuard permit = co_await semaphore->scoped();
  log->push_back(semaphore->value() == 0 ? "got the permit" : "permit?");
  try {
    co_await yield_now();
  } catch (const CancelledError&) {
    log->push_back("cancelled at the next await");
    throw;
  }
}

Task<> grant_then_cancel_permit_waiter(Log* log, bool* cancelled, std::size_t* value_at_end) {
  Semaphore semaphore(1);
  co_await semaphore.acquire();
  TaskHandle<> waiter = spawn(permit_then_yield(&semaphore, log));
  co_await turns(2);
  semaphore.release();  // granted...
  waiter.cancel();      // ...then cancelled before it resumes
  std::size_t stuck = co_await settle_one(waiter);
  EXPECT_EQ(stuck, 0u);
  *cancelled = waiter.cancelled();
  *value_at_end = semaphore.value();
}

TEST_P(SyncSemaphoreTest, WaiterGrantedAPermitThenCancelledBeforeResumingKeepsIt) {
  Log log;
  bool cancelled = false;
  std::size_t value_at_end = 0;
  run(grant_then_cancel_permit_waiter(&log, &cancelled, &value_at_end));
  EXPECT_EQ(log, (Log{"got the permit", "cancelled at the next await"}));
  EXPECT_TRUE(cancelled);
  EXPECT_EQ(value_at_end, 1u);
}

TEST_P(SyncSemaphoreTest, PlainSemaphoreMayBeReleasedAboveItsInitialValue) {
  Semaphore semaphore(1);
  semaphore.release();
  EXPECT_EQ(semaphore.value(), 2u);
  EXPECT_FALSE(semaphore.locked());
}

Task<> bounded_release_too_many(Log* log) {
  BoundedSemaphore semaphore(2);
  log->push_back(thrown_message<InvalidStateError>([&] { semaphore.release(); }));
  co_await semaphore.acquire();
  semaphore.release();
  log->push_back("value " + std::to_string(semaphore.value()));
  log->push_back(thrown_message<InvalidStateError>([&] { semaphore.release(); }));
  log->push_back("value " + std::to_string(semaphore.value()));
}

TEST_P(SyncSemaphoreTest, BoundedSemaphoreReleasedTooManyTimesThrowsInvalidStateError) {
  Log log;
  run(bounded_release_too_many(&log));
  const std::string too_many = "BoundedSemaphore released too many times (initial value 2)";
  EXPECT_EQ(log, (Log{too_many, "value 2", too_many, "value 2"}));
}

RINGLOOP_ON_BOTH_BACKENDS(SyncSemaphoreTest);

}  // namespace
}  // namespace ringloop::testing
