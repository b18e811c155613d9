// Condition: wait/notify/notify_all with its lock, wait_for predicates, misuse errors,
// cancellation while waiting (the lock is taken back) and a notify followed by a cancellation.

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

class SyncConditionTest : public SyncTest {};

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

RINGLOOP_ON_BOTH_BACKENDS(SyncConditionTest);

}  // namespace
}  // namespace ringloop::testing
