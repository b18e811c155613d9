#pragma once
// Exception types of the runtime, mirroring asyncio's.

#include <exception>
#include <stdexcept>
#include <string>

namespace ringloop {

/// Raised inside a task at the suspension point where its cancellation is delivered, and by
/// result() of a cancelled task or future. Like asyncio's CancelledError (a BaseException since
/// Python 3.8) it does not derive from std::exception, so `catch (const std::exception&)`
/// cannot swallow a cancellation by accident.
class CancelledError {
 public:
  [[nodiscard]] const char* what() const noexcept { return "ringloop::CancelledError"; }
};

/// An operation was asked of a future or task in a state that does not allow it
/// (result() while pending, set_result() twice...).
class InvalidStateError : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

/// Misuse of a loop: no running loop on this thread, running a loop twice, awaiting ringloop
/// awaitables outside a ringloop task.
class LoopError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Barrier::wait() on a barrier that was aborted, or that was aborted or reset while waiting
/// (asyncio.BrokenBarrierError).
class BrokenBarrierError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A deadline passed: wait_for(), a timeout() scope, or as_completed() (asyncio.TimeoutError).
class TimeoutError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Human-readable description of an exception_ptr, for handlers and messages.
std::string describe_exception(const std::exception_ptr& error);

}  // namespace ringloop
