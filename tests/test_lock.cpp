// Lock: mutual exclusion, first-come-first-served order, misuse errors, cancellation while
// waiting (nothing is lost) and a grant followed by a cancellation before the task resumes (kept).

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

class SyncLockTest : public SyncTest {};

/// Takes the lock, notes `name`, keeps it across a suspension, releases it.
Task<> hold_lock_briefly(Lock* lock, Log* log, std::string name, int* inside, int* most_inside) {
  co_await lock->acquire();
  log->push_back(name);
  *most_inside = std::max(*most_inside, ++*inside);
  co_await yield_now();
  --*inside;
  lock->release();
}

Task<> take_lock_noting_cancel(Lock* lock, Log* log, std::string name) {
  try {
    co_await lock->acquire();
  } catch (const CancelledError&) {
    log->push_back(name + " cancelled");
    throw;
  }
  log->push_back(name);
  lock->release();
}

Task<> acquire_and_release(bool* before, bool* during, bool* after) {
  Lock lock;
  *before = lock.locked();
  co_await lock.acquire();
  *during = lock.locked();
  lock.release();
  *after = lock.locked();
}

TEST_P(SyncLockTest, AcquireAndReleaseTrackTheLockedState) {
  bool before = true, during = false, after = true;
  run(acquire_and_release(&before, &during, &after));
  EXPECT_FALSE(before);
  EXPECT_TRUE(during);
  EXPECT_FALSE(after);
}

Task<> lock_fifo(Log* log, int* most_inside, bool* unlocked_at_end) {
  Lock lock;
  int inside = 0;
  co_await lock.acquire();
  std::vector<TaskHandle<>> tasks;
  for (int i = 0; i < 5; ++i) {
    tasks.push_back(spawn(hold_lock_briefly(&lock, log, std::to_string(i), &inside, most_inside)));
  }
  co_await turns(3);
  log->push_back("main releases");
  lock.release();
  std::size_t stuck = co_await settle(&tasks);
  EXPECT_EQ(stuck, 0u);
  *unlocked_at_end = !lock.locked();
}

TEST_P(SyncLockTest, WaitersGetTheLockOneAtATimeInArrivalOrder) {
  Log log;
  int most_inside = 0;
  bool unlocked_at_end = false;
  run(lock_fifo(&log, &most_inside, &unlocked_at_end));
  EXPECT_EQ(log, (Log{"main releases", "0", "1", "2", "3", "4"}));
  EXPECT_EQ(most_inside, 1);
  EXPECT_TRUE(unlocked_at_end);
}

Task<> lock_no_barging(Log* log, bool* locked_after_release) {
  Lock lock;
  co_await lock.acquire();
  TaskHandle<> waiter = spawn(take_lock_noting_cancel(&lock, log, "waiter"));
  co_await turns(2);
  lock.release();
  *locked_after_release = lock.locked();  // handed over, not freed
  co_await lock.acquire();                // a later acquirer must queue behind the waiter
  log->push_back("main again");
  lock.release();
  std::size_t stuck = co_await settle_one(waiter);
  EXPECT_EQ(stuck, 0u);
}

TEST_P(SyncLockTest, ReleaseHandsTheLockToTheFirstWaiterSoALaterAcquireCannotBarge) {
  Log log;
  bool locked_after_release = false;
  run(lock_no_barging(&log, &locked_after_release));
  EXPECT_TRUE(locked_after_release);
  EXPECT_EQ(log, (Log{"waiter", "main again"}));
}

TEST_P(SyncLockTest, ReleasingAnUnlockedLockThrowsInvalidStateError) {
  Lock lock;
  EXPECT_EQ(thrown_message<InvalidStateError>([&] { lock.release(); }),
            "Lock::release() called on a lock that is not locked");
  EXPECT_FALSE(lock.locked());
}

Task<> cancel_lock_waiter(Log* log, bool* b_cancelled, bool* unlocked_at_end) {
  Lock lock;
  co_await lock.acquire();
  std::vector<TaskHandle<>> tasks;
  for (const char* name : {"a", "b", "c"}) {
    tasks.push_back(spawn(take_lock_noting_cancel(&lock, log, name)));
  }
  co_await turns(2);
  tasks[1].cancel();
  co_await turns(2);
  log->push_back("main releases");
  lock.release();
  std::size_t stuck = co_await settle(&tasks);
  EXPECT_EQ(stuck, 0u);
  *b_cancelled = tasks[1].cancelled();
  *unlocked_at_end = !lock.locked();
}

TEST_P(SyncLockTest, CancelledWaiterDoesNotGetTheLockAndTheNextWaiterDoes) {
  Log log;
  bool b_cancelled = false;
  bool unlocked_at_end = false;
  run(cancel_lock_waiter(&log, &b_cancelled, &unlocked_at_end));
  EXPECT_TRUE(b_cancelled);
  EXPECT_EQ(log, (Log{"b cancelled", "main releases", "a", "c"}));
  EXPECT_TRUE(unlocked_at_end);
}

/// Takes the lock through a guard, notes whether it holds it, then awaits once more.
Task<> guard_lock_then_yield(Lock* lock, Log* log) {
  LockGuard guard = co_await lock->scoped();
  log->push_back(lock->locked() && guard.owns() ? "acquired, holding the lock" : "acquired?");
  try {
    co_await yield_now();
  } catch (const CancelledError&) {
    log->push_back("cancelled at the next await");
    throw;
  }
  log->push_back("not cancelled");
}

Task<> grant_then_cancel_lock_waiter(Log* log, bool* cancelled, bool* unlocked_at_end) {
  Lock lock;
  co_await lock.acquire();
  TaskHandle<> waiter = spawn(guard_lock_then_yield(&lock, log));
  co_await turns(2);
  lock.release();   // granted to the waiter...
  waiter.cancel();  // ...which is cancelled before it resumes
  std::size_t stuck = co_await settle_one(waiter);
  EXPECT_EQ(stuck, 0u);
  *cancelled = waiter.cancelled();
  *unlocked_at_end = !lock.locked();
}

TEST_P(SyncLockTest, WaiterGrantedTheLockThenCancelledBeforeResumingStillOwnsIt) {
  Log log;
  bool cancelled = false;
  bool unlocked_at_end = false;
  run(grant_then_cancel_lock_waiter(&log, &cancelled, &unlocked_at_end));
  EXPECT_EQ(log, (Log{"acquired, holding the lock", "cancelled at the next await"}));
  EXPECT_TRUE(cancelled);
  EXPECT_TRUE(unlocked_at_end);  // the guard released it while CancelledError unwound
}

Task<> hold_guard_until_cancelled(Lock* lock, Event* forever) {
  LockGuard guard = co_await lock->scoped();
  co_await forever->wait();
}

Task<> cancel_guard_holder(Log* log) {
  Lock lock;
  Event never_set;
  TaskHandle<> holder = spawn(hold_guard_until_cancelled(&lock, &never_set));
  co_await turns(2);
  TaskHandle<> waiter = spawn(take_lock_noting_cancel(&lock, log, "waiter got the lock"));
  co_await turns(2);
  log->push_back(lock.locked() ? "held by the holder" : "free?");
  holder.cancel();
  std::vector<TaskHandle<>> tasks{holder, waiter};
  std::size_t stuck = co_await settle(&tasks);
  EXPECT_EQ(stuck, 0u);
  EXPECT_TRUE(holder.cancelled());
  EXPECT_FALSE(lock.locked());
}

TEST_P(SyncLockTest, CancelledHolderReleasesItsGuardToTheNextWaiter) {
  Log log;
  run(cancel_guard_holder(&log));
  EXPECT_EQ(log, (Log{"held by the holder", "waiter got the lock"}));
}

Task<> guard_moves_and_early_release(Log* log) {
  Lock lock;
  {
    LockGuard first = co_await lock.scoped();
    LockGuard second = std::move(first);
    log->push_back(!first.owns() && second.owns() && lock.locked() ? "moved" : "bad move");
  }
  log->push_back(lock.locked() ? "still locked" : "released once");
  LockGuard guard = co_await lock.scoped();
  guard.release();
  log->push_back(!guard.owns() && !lock.locked() ? "released early" : "bad early release");
  log->push_back(thrown_message<InvalidStateError>([&] { guard.release(); }));
}

TEST_P(SyncLockTest, MovedGuardReleasesOnceAndEarlyReleaseIsNotRepeated) {
  Log log;
  run(guard_moves_and_early_release(&log));
  EXPECT_EQ(log, (Log{"moved", "released once", "released early",
                      "release() of a guard that holds nothing"}));
}

Task<> throw_holding_guard(Lock* lock) {
  LockGuard guard = co_await lock->scoped();
  co_await yield_now();
  throw std::runtime_error("failure while holding the lock");
}

Task<> guard_released_by_exception(std::string* message, bool* unlocked) {
  Lock lock;
  try {
    co_await throw_holding_guard(&lock);
  } catch (const std::runtime_error& error) {
    *message = error.what();
  }
  *unlocked = !lock.locked();
}

TEST_P(SyncLockTest, GuardReleasesTheLockWhenAnExceptionUnwinds) {
  std::string message;
  bool unlocked = false;
  run(guard_released_by_exception(&message, &unlocked));
  EXPECT_EQ(message, "failure while holding the lock");
  EXPECT_TRUE(unlocked);
}

RINGLOOP_ON_BOTH_BACKENDS(SyncLockTest);

}  // namespace
}  // namespace ringloop::testing
