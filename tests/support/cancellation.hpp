#pragma once
// Checks on how an awaited task ended ("ends cancelled"), cancelling a task later, and cancelling
// whatever a test left running.

#include <chrono>
#include <vector>

#include <ringloop/ringloop.hpp>

namespace ringloop::testing {

/// Whether awaiting `handle` ends in CancelledError (other exceptions propagate).
template <class T>
Task<bool> ends_cancelled(TaskHandle<T> handle) {
  try {
    co_await handle;
  } catch (const CancelledError&) {
    co_return true;
  }
  co_return false;
}

/// Cancels `target` after `delay`; whether it then ends cancelled.
template <class T>
Task<bool> cancel_after(TaskHandle<T> target, std::chrono::milliseconds delay) {
  co_await sleep(delay);
  target.cancel();
  const bool cancelled = co_await ends_cancelled(target);
  co_return cancelled;
}

/// Cancels every task and waits for all of them (test cleanup).
template <class Handle>
Task<> cancel_all(std::vector<Handle> tasks) {
  for (Handle& task : tasks) {
    task.cancel();
  }
  for (Handle& task : tasks) {
    try {
      co_await task;
    } catch (const CancelledError&) {
    }
  }
}

}  // namespace ringloop::testing
