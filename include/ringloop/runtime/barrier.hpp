#pragma once
// Barrier (asyncio.Barrier): `parties` tasks wait for one another; when the last one arrives they
// all go on, and the barrier is ready for the next round.

#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

#include <ringloop/detail/wait_list.hpp>
#include <ringloop/runtime/errors.hpp>

namespace ringloop {

class Barrier;

namespace detail {

/// co_await on Barrier::wait(). The round's outcome and this task's index are written here by
/// whoever ends the wait (the last arrival, abort() or reset()), so no barrier state needs to
/// outlive the round and waiting allocates nothing.
class [[nodiscard]] BarrierWaitAwaiter {
 public:
  enum class Outcome : std::uint8_t { passed, aborted, reset };

  explicit BarrierWaitAwaiter(Barrier& barrier) noexcept : barrier_(&barrier) {}
  BarrierWaitAwaiter(const BarrierWaitAwaiter&) = delete;
  BarrierWaitAwaiter& operator=(const BarrierWaitAwaiter&) = delete;

  bool await_ready();
  bool await_suspend(std::coroutine_handle<> awaiting);
  std::size_t await_resume() const;

  /// Ends this task's wait with `outcome`; called by the barrier after granting the node.
  void finish(Outcome outcome, std::size_t index) noexcept {
    outcome_ = outcome;
    index_ = index;
  }

 private:
  Barrier* barrier_;
  ParkedTask node_;
  Outcome outcome_ = Outcome::passed;
  std::size_t index_ = 0;
};

}  // namespace detail

/// Makes `parties` tasks meet: each `co_await barrier.wait()` blocks until `parties` tasks are
/// waiting, then all return together. Reusable round after round. Not copyable or movable
/// (parked waiters point at it); it must outlive its waiters.
class Barrier {
 public:
  /// A barrier for `parties` tasks; std::invalid_argument if `parties` < 1.
  explicit Barrier(std::ptrdiff_t parties) : parties_(checked(parties)) {}
  Barrier(const Barrier&) = delete;
  Barrier& operator=(const Barrier&) = delete;

  /// `std::size_t index = co_await barrier.wait();`: waits for the round to fill and returns this
  /// task's arrival index in it, 0 .. parties()-1 (the last arrival, which releases the others,
  /// gets parties()-1). BrokenBarrierError if the barrier is broken or is aborted or reset while
  /// waiting. Cancelled while waiting: CancelledError, and the task no longer counts as a party.
  /// Released and then cancelled before resuming: returns its index (cancelled at the next await).
  [[nodiscard]] detail::BarrierWaitAwaiter wait() noexcept {
    return detail::BarrierWaitAwaiter(*this);
  }

  /// Breaks the barrier: current waiters and every later wait() get BrokenBarrierError, until
  /// reset(). (asyncio's abort() and reset() are coroutines; here neither needs to wait.)
  void abort() noexcept {
    broken_ = true;
    finish_round(Outcome::aborted);
  }
  /// Back to an empty, unbroken round; current waiters get BrokenBarrierError.
  void reset() noexcept {
    broken_ = false;
    finish_round(Outcome::reset);
  }

  /// Tasks needed to pass the barrier.
  [[nodiscard]] std::size_t parties() const noexcept { return parties_; }
  /// Tasks waiting in the current round.
  [[nodiscard]] std::size_t n_waiting() const noexcept { return waiting_.size(); }
  /// Whether abort() broke the barrier (and no reset() followed).
  [[nodiscard]] bool broken() const noexcept { return broken_; }

 private:
  friend class detail::BarrierWaitAwaiter;
  using Outcome = detail::BarrierWaitAwaiter::Outcome;

  static std::size_t checked(std::ptrdiff_t parties) {
    if (parties < 1) {
      throw std::invalid_argument("Barrier needs at least 1 party, got " + std::to_string(parties));
    }
    return static_cast<std::size_t>(parties);
  }

  // Wakes every waiter of the round with `outcome`. Indices follow arrival order among the tasks
  // still waiting, so a waiter cancelled earlier leaves no hole and no index is given twice. The
  // round is over at once: the next arrival starts a new one, whether or not the woken tasks have
  // run yet.
  void finish_round(Outcome outcome) noexcept {
    std::size_t index = 0;
    while (detail::ParkedTask* node = waiting_.grant_first()) {
      static_cast<detail::BarrierWaitAwaiter*>(node->context)->finish(outcome, index++);
    }
  }

  std::size_t parties_;
  bool broken_ = false;
  detail::WaitList waiting_;  // only ever the current round's tasks: a cancelled one unlinks itself
};

namespace detail {

inline bool BarrierWaitAwaiter::await_ready() {
  if (barrier_->broken_) throw BrokenBarrierError("Barrier is broken (aborted)");
  if (barrier_->waiting_.size() + 1 < barrier_->parties_) return false;
  // The last party releases the others and goes on without suspending.
  index_ = barrier_->parties_ - 1;
  barrier_->finish_round(Outcome::passed);
  node_.granted = true;
  return true;
}

inline bool BarrierWaitAwaiter::await_suspend(std::coroutine_handle<> awaiting) {
  node_.context = this;
  return barrier_->waiting_.park(node_, awaiting, "Barrier::wait()");
}

inline std::size_t BarrierWaitAwaiter::await_resume() const {
  node_.resume_or_throw();
  switch (outcome_) {
    case Outcome::aborted:
      throw BrokenBarrierError("Barrier aborted while waiting");
    case Outcome::reset:
      throw BrokenBarrierError("Barrier reset while waiting");
    case Outcome::passed:
      break;
  }
  return index_;
}

}  // namespace detail

}  // namespace ringloop
