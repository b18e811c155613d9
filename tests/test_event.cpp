// Event: wait on a set event, set waking every waiter in arrival order, clear, a woken waiter
// returning even if cleared before it runs, and cancellation while waiting.

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

class SyncEventTest : public SyncTest {};

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

RINGLOOP_ON_BOTH_BACKENDS(SyncEventTest);

}  // namespace
}  // namespace ringloop::testing
