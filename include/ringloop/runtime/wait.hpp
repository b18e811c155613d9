#pragma once
// wait() and as_completed(): watch a group of running tasks without taking their results
// (asyncio.wait / asyncio.as_completed).
//
//   auto [done, pending] = co_await wait(std::move(handles), ReturnWhen::first_completed, 1s);
//
//   auto completed = as_completed(std::move(handles), 5s);
//   while (completed.remaining() > 0) {
//     TaskHandle<int> next = co_await completed.next();  // in finishing order
//     int value = next.result();
//   }
//
// Neither cancels anything: not on timeout, and not when the waiting task itself is cancelled
// (it gets CancelledError; the tasks keep running). Elements are TaskHandle<T> or TaskRef, or
// Task<T>, which are spawned (the results then hold their TaskHandle<T>).

#include <chrono>
#include <cstddef>
#include <optional>
#include <ranges>
#include <utility>
#include <vector>

#include <ringloop/detail/task_like.hpp>
#include <ringloop/detail/task_set.hpp>
#include <ringloop/runtime/clock.hpp>
#include <ringloop/runtime/errors.hpp>
#include <ringloop/runtime/task.hpp>

namespace ringloop {

/// When wait() returns (asyncio's FIRST_COMPLETED, FIRST_EXCEPTION, ALL_COMPLETED).
enum class ReturnWhen {
  first_completed,  ///< as soon as one task is done
  first_exception,  ///< as soon as one task fails (not cancelled; its failure is then marked
                    ///< retrieved, as asyncio does); all_completed if none fails
  all_completed,    ///< when every task is done
};

/// What wait() gives: the tasks done and those still pending, each in input order.
template <class Handle>
struct WaitResult {
  std::vector<Handle> done;
  std::vector<Handle> pending;
};

namespace detail {

template <class Range>
concept TaskRefLikeRange =
    std::ranges::input_range<Range> && TaskRefLike<std::ranges::range_value_t<Range>>;

/// Waits on `set` until `return_when` holds or `timeout` passes.
Task<void> wait_set(IntrusivePtr<TaskSet> set, ReturnWhen return_when,
                    std::optional<Duration> timeout);

}  // namespace detail

/// Waits until `return_when` holds for `tasks`, or until `timeout` passes; gives the tasks split
/// into done and pending. Cancels nothing. An empty range gives two empty lists at once.
template <detail::TaskRefLikeRange Range>
Task<WaitResult<detail::task_handle_t<std::ranges::range_value_t<Range>>>> wait(
    Range tasks, ReturnWhen return_when = ReturnWhen::all_completed,
    std::optional<Duration> timeout = std::nullopt) {
  using Handle = detail::task_handle_t<std::ranges::range_value_t<Range>>;
  std::vector<Handle> handles = detail::to_handles(tasks);
  Task<void> waiting = detail::wait_set(
      detail::TaskSet::follow(std::vector<TaskRef>(handles.begin(), handles.end())), return_when,
      timeout);
  co_await waiting;
  WaitResult<Handle> result;
  for (Handle& handle : handles) {
    (handle.done() ? result.done : result.pending).push_back(std::move(handle));
  }
  co_return result;
}

/// wait() with any std::chrono duration; one beyond the clock's range means no limit.
template <detail::TaskRefLikeRange Range, class Rep, class Period>
Task<WaitResult<detail::task_handle_t<std::ranges::range_value_t<Range>>>> wait(
    Range tasks, ReturnWhen return_when, std::chrono::duration<Rep, Period> timeout) {
  return wait(std::move(tasks), return_when,
              std::optional<Duration>(detail::saturating_duration(timeout)));
}

/// The tasks given to as_completed(), handed back one at a time in the order they finish.
/// Move-only; it must outlive a pending next().
template <class Handle>
class AsCompleted {
 public:
  AsCompleted(std::vector<Handle> tasks, std::optional<TimePoint> deadline,
              std::optional<Duration> timeout = std::nullopt)
      : tasks_(std::move(tasks)),
        set_(detail::TaskSet::follow(std::vector<TaskRef>(tasks_.begin(), tasks_.end()))),
        deadline_(deadline),
        timeout_(timeout) {}
  AsCompleted(AsCompleted&&) noexcept = default;
  AsCompleted& operator=(AsCompleted&&) noexcept = default;

  /// How many tasks were given.
  [[nodiscard]] std::size_t size() const noexcept { return tasks_.size(); }
  /// How many next() has not handed out yet.
  [[nodiscard]] std::size_t remaining() const noexcept { return tasks_.size() - set_->taken(); }
  /// Whether next() has tasks left, for the short loop:
  ///   for (auto finishing = as_completed(tasks); finishing;) { auto t = co_await finishing.next();
  ///   }
  [[nodiscard]] explicit operator bool() const noexcept { return remaining() > 0; }

  /// Awaiter of next().
  class [[nodiscard]] Next {
   public:
    explicit Next(AsCompleted& owner) noexcept
        : owner_(&owner), inner_(*owner.set_, owner.deadline_) {}
    [[nodiscard]] bool await_ready() const noexcept { return inner_.await_ready(); }
    bool await_suspend(std::coroutine_handle<> awaiting) { return inner_.await_suspend(awaiting); }
    Handle await_resume() {
      std::optional<std::size_t> index = inner_.await_resume();
      if (!index)
        throw TimeoutError(
            "as_completed(): timed out after " +
            (owner_->timeout_ ? detail::describe_duration(*owner_->timeout_) : "its deadline") +
            " with " + std::to_string(owner_->remaining()) + " task(s) unfinished");
      return owner_->tasks_[*index];
    }

   private:
    AsCompleted* owner_;
    detail::TaskSet::NextAwaiter inner_;
  };

  /// co_await: the next task to finish (done, not awaited: read it with result() or co_await).
  /// TimeoutError once the deadline has passed with none finished; InvalidStateError when none
  /// remains. Allocates nothing.
  [[nodiscard]] Next next() {
    if (remaining() == 0) throw InvalidStateError("as_completed(): every task was handed out");
    return Next(*this);
  }

 private:
  std::vector<Handle> tasks_;
  detail::IntrusivePtr<detail::TaskSet> set_;
  std::optional<TimePoint> deadline_;
  std::optional<Duration> timeout_;  // for the TimeoutError message
};

/// Follows `tasks` so that each can be awaited in the order they finish (asyncio.as_completed);
/// `timeout` counts from this call and bounds the whole iteration.
template <detail::TaskRefLikeRange Range>
AsCompleted<detail::task_handle_t<std::ranges::range_value_t<Range>>> as_completed(
    Range tasks, std::optional<Duration> timeout = std::nullopt) {
  std::optional<TimePoint> deadline;
  if (timeout) deadline = detail::deadline_after(Clock::now(), *timeout);
  return {detail::to_handles(tasks), deadline, timeout};
}

/// as_completed() with any std::chrono duration; one beyond the clock's range means no limit.
template <detail::TaskRefLikeRange Range, class Rep, class Period>
AsCompleted<detail::task_handle_t<std::ranges::range_value_t<Range>>> as_completed(
    Range tasks, std::chrono::duration<Rep, Period> timeout) {
  return as_completed(std::move(tasks),
                      std::optional<Duration>(detail::saturating_duration(timeout)));
}

}  // namespace ringloop
