#pragma once
// Stepping the loop a little at a time: exactly one iteration from outside, a few yields from
// inside a task, and what the backend has in flight meanwhile.

#include <cstddef>

#include <ringloop/ringloop.hpp>

namespace ringloop::testing {

/// Runs exactly one iteration of `loop` (stop() before run_forever() does that).
inline void run_one_iteration(Loop& loop) {
  loop.stop();
  loop.run_forever();
}

/// Lets the other ready tasks run a few times (a task spawned just before reaches its first
/// suspension, an operation it starts gets submitted).
inline Task<> let_others_run() {
  for (int i = 0; i < 5; ++i)
    co_await yield_now();
}

/// Operations the current loop's backend has in flight.
inline std::size_t in_flight_now() {
  return Loop::current().backend().in_flight();
}

}  // namespace ringloop::testing
