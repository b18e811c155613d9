// Synchronization primitives: Event, Lock, Semaphore/BoundedSemaphore, Condition, Barrier. For
// each: normal use, first-come-first-served order, misuse errors, cancellation while waiting
// (nothing is lost) and a grant followed by a cancellation before the task resumes (kept).

#include <algorithm>
#include <cstddef>
#include <deque>
#include <stdexcept>
#include <string>
#include <vector>

#include "support/loop_fixture.hpp"

namespace ringloop::testing {
namespace {

// Every test here also checks that it left no task behind.
class SyncTest : public LoopTest {
 protected:
  void TearDown() override {
    if (!IsSkipped() && !HasFatalFailure()) {
      EXPECT_TRUE(loop().all_tasks().empty()) << "a test left tasks pending";
    }
    LoopTest::TearDown();
  }
};

class SyncEventTest : public SyncTest {};
class SyncLockTest : public SyncTest {};
class SyncSemaphoreTest : public SyncTest {};
class SyncConditionTest : public SyncTest {};
class SyncBarrierTest : public SyncTest {};

using Log = std::vector<std::string>;

/// What `f()` threw as `Exception`, or a marker when it threw nothing.
template <class Exception, class F>
std::string thrown_message(F f) {
  try {
    f();
  } catch (const Exception& error) {
    return error.what();
  }
  return "<nothing thrown>";
}

bool all_done(const std::vector<TaskHandle<>>& tasks) {
  return std::all_of(tasks.begin(), tasks.end(), [](const TaskHandle<>& t) { return t.done(); });
}

/// Gives the loop `n` turns.
Task<> turns(int n) {
  for (int i = 0; i < n; ++i)
    co_await yield_now();
}

/// Gives the loop turns until every task in `tasks` is done. After `max_turns` it cancels the
/// stragglers and gives them as many turns again, so a primitive that never wakes a waiter fails
/// the test (a non-zero result, then a task left pending) instead of hanging it; returns how many
/// it had to cancel.
Task<std::size_t> settle(std::vector<TaskHandle<>>* tasks, int max_turns = 200) {
  for (int turn = 0; turn < max_turns && !all_done(*tasks); ++turn)
    co_await yield_now();
  std::size_t stragglers = 0;
  for (TaskHandle<>& task : *tasks) {
    if (!task.done()) {
      ++stragglers;
      task.cancel();
    }
  }
  for (int turn = 0; turn < max_turns && !all_done(*tasks); ++turn)
    co_await yield_now();
  co_return stragglers;
}

Task<std::size_t> settle_one(TaskHandle<> task) {
  std::vector<TaskHandle<>> tasks{task};
  std::size_t stragglers = co_await settle(&tasks);
  co_return stragglers;
}

// ---- Event -------------------------------------------------------------------------------------

Task<> note_after_event(Event* event, Log* log, std::string name) {
  co_await event->wait();
  log->push_back(name);
}

Task<> wait_event_noting_cancel(Event* event, Log* log, std::string name) {
  try {
    co_await event->wait();
  } catch (const CancelledError&) {
    log->push_back(name + " cancelled");
    throw;
  }
  log->push_back(name);
}

Task<> note_now(Log* log, std::string name) {
  log->push_back(name);
  co_return;
}

Task<> wait_on_set_event(Log* log) {
  Event event;
  event.set();
  TaskHandle<> other = spawn(note_now(log, "other task ran"));
  co_await event.wait();
  log->push_back("wait returned");  // before `other`: the wait did not suspend
  std::size_t stuck = co_await settle_one(other);
  EXPECT_EQ(stuck, 0u);
}

TEST_P(SyncEventTest, WaitOnASetEventReturnsWithoutSuspending) {
  Log log;
  run(wait_on_set_event(&log));
  EXPECT_EQ(log, (Log{"wait returned", "other task ran"}));
}

Task<> many_waiters(Log* log, bool* woke_before_set, bool* set_after) {
  Event event;
  std::vector<TaskHandle<>> waiters;
  for (int i = 0; i < 100; ++i) {
    waiters.push_back(spawn(note_after_event(&event, log, std::to_string(i))));
  }
  co_await turns(3);
  *woke_before_set = !log->empty();
  event.set();
  *set_after = event.is_set();
  std::size_t stuck = co_await settle(&waiters);
  EXPECT_EQ(stuck, 0u);
}

TEST_P(SyncEventTest, SetWakesAHundredWaitersInArrivalOrder) {
  Log log;
  bool woke_before_set = true;
  bool set_after = false;
  run(many_waiters(&log, &woke_before_set, &set_after));
  EXPECT_FALSE(woke_before_set);
  EXPECT_TRUE(set_after);
  Log expected;
  for (int i = 0; i < 100; ++i)
    expected.push_back(std::to_string(i));
  EXPECT_EQ(log, expected);
}

Task<> clear_then_wait(Log* log) {
  Event event;
  event.set();
  event.clear();
  TaskHandle<> waiter = spawn(note_after_event(&event, log, "waiter woke"));
  co_await turns(3);
  log->push_back(waiter.done() ? "done before set" : "blocked until set");
  event.set();
  std::size_t stuck = co_await settle_one(waiter);
  EXPECT_EQ(stuck, 0u);
}

TEST_P(SyncEventTest, ClearedEventBlocksNewWaitersUntilTheNextSet) {
  Log log;
  run(clear_then_wait(&log));
  EXPECT_EQ(log, (Log{"blocked until set", "waiter woke"}));
}

Task<> set_then_clear_before_waiter_runs(Log* log) {
  Event event;
  TaskHandle<> waiter = spawn(note_after_event(&event, log, "waiter woke"));
  co_await turns(2);
  event.set();
  event.clear();  // the waiter was woken by set(): it must not go back to sleep
  std::size_t stuck = co_await settle_one(waiter);
  EXPECT_EQ(stuck, 0u);
}

TEST_P(SyncEventTest, WaiterWokenBySetReturnsEvenIfClearedBeforeItRuns) {
  Log log;
  run(set_then_clear_before_waiter_runs(&log));
  EXPECT_EQ(log, (Log{"waiter woke"}));
}

Task<> cancel_one_event_waiter(Log* log, bool* cancelled) {
  Event event;
  std::vector<TaskHandle<>> waiters;
  for (const char* name : {"a", "b", "c"}) {
    waiters.push_back(spawn(wait_event_noting_cancel(&event, log, name)));
  }
  co_await turns(2);
  waiters[1].cancel();
  co_await turns(2);
  event.set();
  std::size_t stuck = co_await settle(&waiters);
  EXPECT_EQ(stuck, 0u);
  *cancelled = waiters[1].cancelled();
}

TEST_P(SyncEventTest, CancelledWaiterGetsCancelledErrorAndTheOthersStillWake) {
  Log log;
  bool cancelled = false;
  run(cancel_one_event_waiter(&log, &cancelled));
  EXPECT_TRUE(cancelled);
  EXPECT_EQ(log, (Log{"b cancelled", "a", "c"}));
}

// ---- Lock --------------------------------------------------------------------------------------

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

// ---- Semaphore ---------------------------------------------------------------------------------

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

// ---- Condition ---------------------------------------------------------------------------------

/// Takes the lock, waits once, notes how it came back.
Task<> wait_once(Condition* cond, Log* log, std::string name) {
  LockGuard guard = co_await cond->scoped();
  try {
    co_await cond->wait();
  } catch (const CancelledError&) {
    log->push_back(name + " cancelled, lock " + (cond->locked() ? "held" : "free"));
    throw;
  }
  log->push_back(name + " notified, lock " + (cond->locked() ? "held" : "free"));
}

Task<> wait_without_lock(Condition* cond, Log* log) {
  try {
    co_await cond->wait();
  } catch (const InvalidStateError& error) {
    log->push_back(error.what());
  }
  try {
    auto always = [] { return true; };
    co_await cond->wait_for(always);
  } catch (const InvalidStateError& error) {
    log->push_back(error.what());
  }
}

TEST_P(SyncConditionTest, WaitAndNotifyWithoutTheLockThrowInvalidStateError) {
  Condition cond;
  EXPECT_EQ(thrown_message<InvalidStateError>([&] { cond.notify(); }),
            "Condition::notify() called without holding the condition's lock");
  EXPECT_EQ(thrown_message<InvalidStateError>([&] { cond.notify_all(); }),
            "Condition::notify_all() called without holding the condition's lock");
  Log log;
  run(wait_without_lock(&cond, &log));
  EXPECT_EQ(log, (Log{"Condition::wait() called without holding the condition's lock",
                      "Condition::wait_for() called without holding the condition's lock"}));
}

Task<> wait_releases_and_reacquires(Log* log) {
  Condition cond;
  TaskHandle<> waiter = spawn(wait_once(&cond, log, "waiter"));
  co_await turns(2);
  log->push_back(cond.locked() ? "locked while waiting" : "released while waiting");
  co_await cond.acquire();
  cond.notify();
  co_await turns(3);  // notified, but it cannot return before it has the lock
  log->push_back("main releases");
  cond.release();
  log->push_back(cond.locked() ? "handed to the waiter" : "freed");
  std::size_t stuck = co_await settle_one(waiter);
  EXPECT_EQ(stuck, 0u);
  EXPECT_FALSE(cond.locked());
}

TEST_P(SyncConditionTest, WaitReleasesTheLockAndHoldsItAgainWhenItReturns) {
  Log log;
  run(wait_releases_and_reacquires(&log));
  EXPECT_EQ(log, (Log{"released while waiting", "main releases", "handed to the waiter",
                      "waiter notified, lock held"}));
}

Task<> notify_in_order(Log* log) {
  Condition cond;
  std::vector<TaskHandle<>> waiters;
  for (int i = 0; i < 5; ++i)
    waiters.push_back(spawn(wait_once(&cond, log, std::to_string(i))));
  co_await turns(2);
  co_await cond.acquire();
  cond.notify();
  cond.release();
  co_await turns(3);
  log->push_back("after notify(1)");
  co_await cond.acquire();
  cond.notify(2);
  cond.release();
  co_await turns(3);
  log->push_back("after notify(2)");
  co_await cond.acquire();
  cond.notify_all();
  cond.release();
  std::size_t stuck = co_await settle(&waiters);
  EXPECT_EQ(stuck, 0u);
}

TEST_P(SyncConditionTest, NotifyWakesNWaitersAndNotifyAllTheRestInArrivalOrder) {
  Log log;
  run(notify_in_order(&log));
  EXPECT_EQ(log, (Log{"0 notified, lock held", "after notify(1)", "1 notified, lock held",
                      "2 notified, lock held", "after notify(2)", "3 notified, lock held",
                      "4 notified, lock held"}));
}

struct Shop {
  Condition cond;
  std::deque<int> shelf;
  std::size_t capacity = 2;
  std::size_t most_on_shelf = 0;
  bool closed = false;
};

Task<> produce(Shop* shop, int count) {
  for (int i = 0; i < count; ++i) {
    LockGuard guard = co_await shop->cond.scoped();
    auto has_room = [shop] { return shop->shelf.size() < shop->capacity; };
    co_await shop->cond.wait_for(has_room);
    shop->shelf.push_back(i);
    shop->most_on_shelf = std::max(shop->most_on_shelf, shop->shelf.size());
    shop->cond.notify_all();
  }
  LockGuard guard = co_await shop->cond.scoped();
  shop->closed = true;
  shop->cond.notify_all();
}

Task<> consume(Shop* shop, std::vector<int>* got) {
  for (;;) {
    LockGuard guard = co_await shop->cond.scoped();
    auto item_or_closed = [shop] { return !shop->shelf.empty() || shop->closed; };
    co_await shop->cond.wait_for(item_or_closed);
    if (shop->shelf.empty()) break;
    got->push_back(shop->shelf.front());
    shop->shelf.pop_front();
    shop->cond.notify_all();
    guard.release();
    co_await yield_now();  // let the other consumer in
  }
}

Task<> producer_consumer(std::vector<int>* first, std::vector<int>* second, std::size_t* most) {
  Shop shop;
  std::vector<TaskHandle<>> tasks{spawn(consume(&shop, first)), spawn(consume(&shop, second)),
                                  spawn(produce(&shop, 20))};
  std::size_t stuck = co_await settle(&tasks, 1000);
  EXPECT_EQ(stuck, 0u);
  *most = shop.most_on_shelf;
}

TEST_P(SyncConditionTest, ProducerAndTwoConsumersUsingWaitForPassEveryItemOnce) {
  std::vector<int> first, second;
  std::size_t most = 0;
  run(producer_consumer(&first, &second, &most));
  EXPECT_LE(most, 2u);
  EXPECT_TRUE(std::is_sorted(first.begin(), first.end()));
  EXPECT_TRUE(std::is_sorted(second.begin(), second.end()));
  std::vector<int> all = first;
  all.insert(all.end(), second.begin(), second.end());
  std::sort(all.begin(), all.end());
  std::vector<int> expected;
  for (int i = 0; i < 20; ++i)
    expected.push_back(i);
  EXPECT_EQ(all, expected);
}

Task<> wait_for_true_predicate(Log* log) {
  Condition cond;
  LockGuard guard = co_await cond.scoped();
  TaskHandle<> other = spawn(note_now(log, "other task ran"));
  auto ready = [] { return 7; };
  int value = co_await cond.wait_for(ready);
  log->push_back("wait_for returned " + std::to_string(value));
  std::size_t stuck = co_await settle_one(other);
  EXPECT_EQ(stuck, 0u);
}

TEST_P(SyncConditionTest, WaitForATruePredicateReturnsItsValueWithoutWaiting) {
  Log log;
  run(wait_for_true_predicate(&log));
  EXPECT_EQ(log, (Log{"wait_for returned 7", "other task ran"}));
}

Task<> cancel_waiter_while_lock_busy(Log* log) {
  Condition cond;
  TaskHandle<> waiter = spawn(wait_once(&cond, log, "waiter"));
  co_await turns(2);
  co_await cond.acquire();
  waiter.cancel();
  co_await turns(3);  // it must get the lock back before CancelledError reaches it
  log->push_back("main releases");
  cond.release();
  std::size_t stuck = co_await settle_one(waiter);
  EXPECT_EQ(stuck, 0u);
  EXPECT_TRUE(waiter.cancelled());
  EXPECT_FALSE(cond.locked());
}

TEST_P(SyncConditionTest, CancelledWaiterHoldsTheLockAgainBeforeCancelledErrorReachesIt) {
  Log log;
  run(cancel_waiter_while_lock_busy(&log));
  EXPECT_EQ(log, (Log{"main releases", "waiter cancelled, lock held"}));
}

Task<> cancel_waiter_while_lock_free(Log* log) {
  Condition cond;
  TaskHandle<> waiter = spawn(wait_once(&cond, log, "waiter"));
  co_await turns(2);
  waiter.cancel();
  log->push_back(cond.locked() ? "lock taken for the waiter" : "lock free");
  std::size_t stuck = co_await settle_one(waiter);
  EXPECT_EQ(stuck, 0u);
  EXPECT_TRUE(waiter.cancelled());
  EXPECT_FALSE(cond.locked());
}

TEST_P(SyncConditionTest, CancelledWaiterRetakesAFreeLockAtOnce) {
  Log log;
  run(cancel_waiter_while_lock_free(&log));
  EXPECT_EQ(log, (Log{"lock taken for the waiter", "waiter cancelled, lock held"}));
}

Task<> cancelled_waiter_leaves_notification(Log* log) {
  Condition cond;
  std::vector<TaskHandle<>> waiters{spawn(wait_once(&cond, log, "a")),
                                    spawn(wait_once(&cond, log, "b"))};
  co_await turns(2);
  waiters[0].cancel();
  co_await turns(3);
  co_await cond.acquire();
  cond.notify();  // must reach b: a no longer waits
  cond.release();
  std::size_t stuck = co_await settle(&waiters);
  EXPECT_EQ(stuck, 0u);
}

TEST_P(SyncConditionTest, CancelledWaiterDoesNotConsumeANotification) {
  Log log;
  run(cancelled_waiter_leaves_notification(&log));
  EXPECT_EQ(log, (Log{"a cancelled, lock held", "b notified, lock held"}));
}

Task<> wait_then_yield(Condition* cond, Log* log) {
  LockGuard guard = co_await cond->scoped();
  co_await cond->wait();
  log->push_back(cond->locked() ? "wait returned holding the lock" : "wait returned, lock free");
  try {
    co_await yield_now();
  } catch (const CancelledError&) {
    log->push_back("cancelled at the next await");
    throw;
  }
}

Task<> notify_then_cancel(Log* log) {
  Condition cond;
  TaskHandle<> waiter = spawn(wait_then_yield(&cond, log));
  TaskHandle<> other = spawn(wait_once(&cond, log, "other"));
  co_await turns(2);
  co_await cond.acquire();
  cond.notify();    // goes to `waiter`...
  waiter.cancel();  // ...which is cancelled before it resumes
  cond.release();
  std::size_t stuck = co_await settle_one(waiter);
  EXPECT_EQ(stuck, 0u);
  EXPECT_TRUE(waiter.cancelled());
  log->push_back(other.done() ? "other woke too" : "other still waits");
  co_await cond.acquire();
  cond.notify();
  cond.release();
  stuck = co_await settle_one(other);
  EXPECT_EQ(stuck, 0u);
}

TEST_P(SyncConditionTest, NotifiedWaiterCancelledBeforeItResumesReturnsHoldingTheLock) {
  Log log;
  run(notify_then_cancel(&log));
  EXPECT_EQ(log, (Log{"wait returned holding the lock", "cancelled at the next await",
                      "other still waits", "other notified, lock held"}));
}

Task<> take_lock_and_note(Lock* lock, Log* log) {
  co_await lock->acquire();
  log->push_back("queued task got the lock");
  lock->release();
}

Task<> wait_with_cancellation_pending(Condition* cond, Log* log) {
  LockGuard guard = co_await cond->scoped();
  co_await yield_now();  // the other task queues for the lock meanwhile
  current_task().cancel();
  try {
    co_await cond->wait();
  } catch (const CancelledError&) {
    log->push_back(cond->locked() ? "raised, lock held" : "raised, lock free");
    throw;
  }
}

Task<> pending_cancel_at_wait(Log* log) {
  Condition cond;
  std::vector<TaskHandle<>> tasks{spawn(wait_with_cancellation_pending(&cond, log)),
                                  spawn(take_lock_and_note(&cond.lock(), log))};
  std::size_t stuck = co_await settle(&tasks);
  EXPECT_EQ(stuck, 0u);
  EXPECT_TRUE(tasks[0].cancelled());
}

TEST_P(SyncConditionTest, WaitWithACancellationPendingRaisesAtOnceWithoutLettingAnyoneIn) {
  Log log;
  run(pending_cancel_at_wait(&log));
  EXPECT_EQ(log, (Log{"raised, lock held", "queued task got the lock"}));
}

Task<> borrowed_lock(Log* log) {
  Lock lock;
  Condition first(lock);
  Condition second(lock);
  log->push_back(&first.lock() == &lock ? "borrows the lock" : "own lock?");
  TaskHandle<> waiter = spawn(wait_once(&first, log, "first's waiter"));
  co_await turns(2);
  co_await lock.acquire();
  log->push_back(first.locked() && second.locked() ? "both see it locked" : "not shared?");
  second.notify_all();  // nobody waits on `second`
  lock.release();
  co_await turns(3);
  log->push_back(waiter.done() ? "woken by the wrong condition" : "still waiting");
  co_await lock.acquire();
  first.notify();
  lock.release();
  std::size_t stuck = co_await settle_one(waiter);
  EXPECT_EQ(stuck, 0u);
}

TEST_P(SyncConditionTest, ConditionsSharingABorrowedLockKeepSeparateWaiters) {
  Log log;
  run(borrowed_lock(&log));
  EXPECT_EQ(log, (Log{"borrows the lock", "both see it locked", "still waiting",
                      "first's waiter notified, lock held"}));
}

// ---- Barrier -----------------------------------------------------------------------------------

struct Passage {
  std::size_t index = 0;
  std::string error;
  bool passed = false;
};

Task<> pass_barrier(Barrier* barrier, Passage* out) {
  try {
    std::size_t index = co_await barrier->wait();
    out->index = index;
    out->passed = true;
  } catch (const BrokenBarrierError& error) {
    out->error = error.what();
  }
}

TEST_P(SyncBarrierTest, FewerThanOnePartyThrowsInvalidArgument) {
  EXPECT_EQ(thrown_message<std::invalid_argument>([] { Barrier barrier(0); }),
            "Barrier needs at least 1 party, got 0");
  Barrier one(1);
  EXPECT_EQ(one.parties(), 1u);
}

struct RoundRecord {
  int round;
  std::size_t arrival;            // position among this round's arrivals
  std::size_t index;              // what wait() returned
  std::size_t arrived_when_free;  // arrivals in this round when the task went on
};

Task<> meet_each_round(Barrier* barrier, std::vector<std::size_t>* arrivals,
                       std::vector<RoundRecord>* records, int id, int rounds) {
  for (int round = 0; round < rounds; ++round) {
    // Vary who arrives first from one round to the next.
    int delay = (id * (round + 1)) % 3;
    co_await turns(delay);
    std::size_t arrival = (*arrivals)[round]++;
    std::size_t index = co_await barrier->wait();
    records->push_back({round, arrival, index, (*arrivals)[round]});
  }
}

Task<> three_parties_four_rounds(std::vector<RoundRecord>* records) {
  Barrier barrier(3);
  std::vector<std::size_t> arrivals(4, 0);
  std::vector<TaskHandle<>> tasks;
  for (int id = 0; id < 3; ++id) {
    tasks.push_back(spawn(meet_each_round(&barrier, &arrivals, records, id, 4)));
  }
  std::size_t stuck = co_await settle(&tasks);
  EXPECT_EQ(stuck, 0u);
  EXPECT_EQ(barrier.n_waiting(), 0u);
  EXPECT_FALSE(barrier.broken());
}

TEST_P(SyncBarrierTest, ThreePartiesPassTogetherForFourRoundsWithArrivalIndices) {
  std::vector<RoundRecord> records;
  run(three_parties_four_rounds(&records));
  ASSERT_EQ(records.size(), 12u);
  for (int round = 0; round < 4; ++round) {
    std::vector<std::size_t> indices;
    for (const RoundRecord& record : records) {
      if (record.round != round) continue;
      indices.push_back(record.index);
      EXPECT_EQ(record.index, record.arrival) << "round " << round;
      EXPECT_EQ(record.arrived_when_free, 3u) << "went on before the round filled";
    }
    std::sort(indices.begin(), indices.end());
    EXPECT_EQ(indices, (std::vector<std::size_t>{0, 1, 2})) << "round " << round;
  }
}

Task<> count_waiting(Log* log) {
  Barrier barrier(3);
  Passage a, b;
  std::vector<TaskHandle<>> tasks{spawn(pass_barrier(&barrier, &a)),
                                  spawn(pass_barrier(&barrier, &b))};
  co_await turns(2);
  log->push_back("waiting " + std::to_string(barrier.n_waiting()));
  std::size_t index = co_await barrier.wait();
  log->push_back("last arrival got " + std::to_string(index));
  log->push_back("waiting " + std::to_string(barrier.n_waiting()));
  std::size_t stuck = co_await settle(&tasks);
  EXPECT_EQ(stuck, 0u);
  log->push_back("others got " + std::to_string(a.index) + " and " + std::to_string(b.index));
}

TEST_P(SyncBarrierTest, NWaitingCountsTheRoundAndTheLastArrivalReleasesIt) {
  Log log;
  run(count_waiting(&log));
  EXPECT_EQ(log, (Log{"waiting 2", "last arrival got 2", "waiting 0", "others got 0 and 1"}));
}

Task<> abort_barrier(Log* log) {
  Barrier barrier(3);
  Passage a, b;
  std::vector<TaskHandle<>> tasks{spawn(pass_barrier(&barrier, &a)),
                                  spawn(pass_barrier(&barrier, &b))};
  co_await turns(2);
  barrier.abort();
  log->push_back(barrier.broken() ? "broken" : "not broken");
  std::size_t stuck = co_await settle(&tasks);
  EXPECT_EQ(stuck, 0u);
  log->push_back("a: " + a.error);
  log->push_back("b: " + b.error);
  Passage late;
  TaskHandle<> late_caller = spawn(pass_barrier(&barrier, &late));
  stuck = co_await settle_one(late_caller);
  EXPECT_EQ(stuck, 0u);
  log->push_back("later caller: " + (late.passed ? "passed" : late.error));
  barrier.reset();
  log->push_back(barrier.broken() ? "still broken" : "usable again");
  Passage c, d;
  std::vector<TaskHandle<>> round{spawn(pass_barrier(&barrier, &c)),
                                  spawn(pass_barrier(&barrier, &d))};
  co_await turns(2);
  std::size_t index = co_await barrier.wait();
  stuck = co_await settle(&round);
  EXPECT_EQ(stuck, 0u);
  log->push_back("new round " + std::to_string(c.index) + std::to_string(d.index) +
                 std::to_string(index));
}

TEST_P(SyncBarrierTest, AbortBreaksWaitersAndLaterCallersUntilReset) {
  Log log;
  run(abort_barrier(&log));
  EXPECT_EQ(log,
            (Log{"broken", "a: Barrier aborted while waiting", "b: Barrier aborted while waiting",
                 "later caller: Barrier is broken (aborted)", "usable again", "new round 012"}));
}

Task<> reset_barrier(Log* log) {
  Barrier barrier(3);
  Passage a, b;
  std::vector<TaskHandle<>> tasks{spawn(pass_barrier(&barrier, &a)),
                                  spawn(pass_barrier(&barrier, &b))};
  co_await turns(2);
  barrier.reset();
  log->push_back("waiting " + std::to_string(barrier.n_waiting()) +
                 (barrier.broken() ? ", broken" : ", not broken"));
  std::size_t stuck = co_await settle(&tasks);
  EXPECT_EQ(stuck, 0u);
  log->push_back("a: " + a.error);
  log->push_back("b: " + b.error);
  Passage c, d;
  std::vector<TaskHandle<>> round{spawn(pass_barrier(&barrier, &c)),
                                  spawn(pass_barrier(&barrier, &d))};
  co_await turns(2);
  std::size_t index = co_await barrier.wait();
  stuck = co_await settle(&round);
  EXPECT_EQ(stuck, 0u);
  log->push_back("new round " + std::to_string(c.index) + std::to_string(d.index) +
                 std::to_string(index));
}

TEST_P(SyncBarrierTest, ResetBreaksCurrentWaitersAndStartsAFreshRound) {
  Log log;
  run(reset_barrier(&log));
  EXPECT_EQ(log, (Log{"waiting 0, not broken", "a: Barrier reset while waiting",
                      "b: Barrier reset while waiting", "new round 012"}));
}

Task<> cancelled_party_not_counted(Log* log) {
  Barrier barrier(3);
  Passage a, b, c;
  std::vector<TaskHandle<>> tasks{spawn(pass_barrier(&barrier, &a)),
                                  spawn(pass_barrier(&barrier, &b))};
  co_await turns(2);
  tasks[0].cancel();
  co_await turns(2);
  log->push_back("waiting " + std::to_string(barrier.n_waiting()));
  tasks.push_back(spawn(pass_barrier(&barrier, &c)));
  co_await turns(2);
  log->push_back("waiting " + std::to_string(barrier.n_waiting()) +
                 (c.passed ? ", c passed" : ", c waits"));
  std::size_t index = co_await barrier.wait();
  std::size_t stuck = co_await settle(&tasks);
  EXPECT_EQ(stuck, 0u);
  log->push_back(std::string(tasks[0].cancelled() ? "a cancelled" : "a not cancelled") +
                 ", indices " + std::to_string(b.index) + std::to_string(c.index) +
                 std::to_string(index));
}

TEST_P(SyncBarrierTest, CancelledWaiterIsNotCountedAsAParty) {
  Log log;
  run(cancelled_party_not_counted(&log));
  EXPECT_EQ(log, (Log{"waiting 1", "waiting 2, c waits", "a cancelled, indices 012"}));
}

Task<> pass_then_yield(Barrier* barrier, Log* log) {
  std::size_t index = co_await barrier->wait();
  log->push_back("passed with " + std::to_string(index));
  try {
    co_await yield_now();
  } catch (const CancelledError&) {
    log->push_back("cancelled at the next await");
    throw;
  }
}

Task<> release_then_cancel(Log* log) {
  Barrier barrier(2);
  TaskHandle<> waiter = spawn(pass_then_yield(&barrier, log));
  co_await turns(2);
  std::size_t index = co_await barrier.wait();  // releases the waiter...
  waiter.cancel();                              // ...which is cancelled before it resumes
  std::size_t stuck = co_await settle_one(waiter);
  EXPECT_EQ(stuck, 0u);
  EXPECT_TRUE(waiter.cancelled());
  log->push_back("last arrival got " + std::to_string(index));
}

TEST_P(SyncBarrierTest, WaiterReleasedThenCancelledBeforeResumingStillPasses) {
  Log log;
  run(release_then_cancel(&log));
  EXPECT_EQ(log, (Log{"passed with 0", "cancelled at the next await", "last arrival got 1"}));
}

RINGLOOP_ON_BOTH_BACKENDS(SyncEventTest);
RINGLOOP_ON_BOTH_BACKENDS(SyncLockTest);
RINGLOOP_ON_BOTH_BACKENDS(SyncSemaphoreTest);
RINGLOOP_ON_BOTH_BACKENDS(SyncConditionTest);
RINGLOOP_ON_BOTH_BACKENDS(SyncBarrierTest);

}  // namespace
}  // namespace ringloop::testing
