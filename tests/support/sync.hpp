#pragma once
// What the tests of the synchronization primitives share (test_event.cpp, test_lock.cpp,
// test_semaphore.cpp, test_condition.cpp, test_barrier.cpp): a fixture that fails a test leaving a
// task behind, and helpers that give the loop turns until waiters are done.

#include <algorithm>
#include <cstddef>
#include <string>
#include <vector>

#include "loop_fixture.hpp"

namespace ringloop::testing {

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

inline bool all_done(const std::vector<TaskHandle<>>& tasks) {
  return std::all_of(tasks.begin(), tasks.end(), [](const TaskHandle<>& t) { return t.done(); });
}

/// Gives the loop `n` turns.
inline Task<> turns(int n) {
  for (int i = 0; i < n; ++i)
    co_await yield_now();
}

/// Gives the loop turns until every task in `tasks` is done. After `max_turns` it cancels the
/// stragglers and gives them as many turns again, so a primitive that never wakes a waiter fails
/// the test (a non-zero result, then a task left pending) instead of hanging it; returns how many
/// it had to cancel.
inline Task<std::size_t> settle(std::vector<TaskHandle<>>* tasks, int max_turns = 200) {
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

inline Task<std::size_t> settle_one(TaskHandle<> task) {
  std::vector<TaskHandle<>> tasks{task};
  std::size_t stragglers = co_await settle(&tasks);
  co_return stragglers;
}

/// Logs `name` when it runs.
inline Task<> note_now(Log* log, std::string name) {
  log->push_back(name);
  co_return;
}

}  // namespace ringloop::testing
