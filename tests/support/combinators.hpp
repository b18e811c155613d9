#pragma once
// What the combinator tests share (test_gather.cpp, test_wait.cpp, test_wait_for.cpp,
// test_timeout.cpp, test_shield.cpp, test_task_group.cpp, test_combinator_teardown.cpp): a fixture
// that fails a test leaving a task behind, and small coroutines that sleep, fail or resist
// cancellation.

#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

#include "cancellation.hpp"
#include "loop_fixture.hpp"

namespace ringloop::testing {

using namespace std::chrono_literals;

using Log = std::vector<std::string>;

/// LoopTest that also fails a test leaving any task behind in the loop.
class CombinatorTest : public LoopTest {
 protected:
  void TearDown() override {
    if (!IsSkipped()) {
      for (TaskRef& task : loop().all_tasks()) {
        ADD_FAILURE() << "task left running: " << task.name();
      }
    }
    LoopTest::TearDown();
  }
};

inline Task<int> value_after(std::chrono::milliseconds delay, int value) {
  co_await sleep(delay);
  co_return value;
}

inline Task<std::string> text_after(std::chrono::milliseconds delay, std::string text) {
  co_await sleep(delay);
  co_return text;
}

inline Task<> pause(std::chrono::milliseconds delay) {
  co_await sleep(delay);
}

inline Task<int> fail_after(std::chrono::milliseconds delay, std::string message) {
  co_await sleep(delay);
  throw std::runtime_error(message);
}

inline Task<> sleep_forever() {
  co_await sleep(1h);
}

inline Task<int> value_of(Future<int> future) {
  const int value = co_await future;
  co_return value;
}

inline Task<> fail_when_set(Future<> trigger, std::string message) {
  co_await trigger;
  throw std::runtime_error(message);
}

/// Catches its cancellation, goes on for `linger`, then ends cancelled; logs both steps.
inline Task<> slow_to_cancel(std::chrono::milliseconds linger, Log* log, std::string name) {
  try {
    co_await sleep(1h);
  } catch (const CancelledError&) {
    log->push_back(name + " cancelled");
  }
  co_await sleep(linger);
  log->push_back(name + " finished");
  throw CancelledError{};
}

/// Catches its cancellation, goes on for `linger`, then returns 7.
inline Task<int> ignore_cancellation_for(std::chrono::milliseconds linger, bool* finished) {
  try {
    co_await sleep(1h);
  } catch (const CancelledError&) {
  }
  co_await sleep(linger);
  *finished = true;
  co_return 7;
}

}  // namespace ringloop::testing
