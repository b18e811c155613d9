#pragma once
// gather(): run several tasks concurrently and collect their results (asyncio.gather).
//
//   auto [user, posts] = co_await gather(fetch_user(id), fetch_posts(id));     // std::tuple
//   std::vector<int> sizes = co_await gather(std::move(tasks));               // a range
//   auto outcomes = co_await gather(return_exceptions, a(), b());             // Outcome<T> each
//
// Arguments are Task<T> (spawned as tasks when the gather starts) or TaskHandle<T> of tasks
// already running; a void task gives std::monostate. gather() returns a lazy Task: nothing is
// spawned until it is awaited (or spawned itself).
//
// Failure: the first task to fail has its exception rethrown to the awaiter at once; the others
// keep running, and their later failures are marked retrieved (asyncio). A task cancelled by
// someone else counts as failing with CancelledError. With `return_exceptions`, gather waits for
// every task and reports each one's value or exception instead.
//
// Cancellation: cancelling the awaiting task cancels every task gathered. Unlike asyncio, which
// may return at the first cancelled child, gather then waits until all of them have finished, so
// no child outlives a cancelled gather; then it raises CancelledError.

#include <cstddef>
#include <exception>
#include <ranges>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include <ringloop/detail/task_like.hpp>
#include <ringloop/detail/task_set.hpp>
#include <ringloop/runtime/errors.hpp>
#include <ringloop/runtime/task.hpp>

namespace ringloop {

/// Tag selecting the gather() form that reports every task's outcome instead of failing fast
/// (asyncio's return_exceptions=True).
struct ReturnExceptions {
  explicit ReturnExceptions() = default;
};
inline constexpr ReturnExceptions return_exceptions{};

/// How one task ended, as gather(return_exceptions, ...) reports it: its value, or the exception
/// it failed with (CancelledError if it was cancelled).
template <class T>
class Outcome {
 public:
  /// T, or std::monostate for void.
  using value_type = detail::value_or_monostate_t<T>;

  static Outcome success(value_type value) {
    return Outcome(std::in_place_index<0>, std::move(value));
  }
  static Outcome failure(std::exception_ptr error) {
    return Outcome(std::in_place_index<1>, std::move(error));
  }

  [[nodiscard]] bool has_value() const noexcept { return state_.index() == 0; }
  explicit operator bool() const noexcept { return has_value(); }
  /// The exception, or null if the task succeeded.
  [[nodiscard]] std::exception_ptr error() const noexcept {
    return has_value() ? nullptr : std::get<1>(state_);
  }
  /// Whether the task was cancelled (its error is CancelledError).
  [[nodiscard]] bool cancelled() const {
    if (has_value()) return false;
    try {
      std::rethrow_exception(std::get<1>(state_));
    } catch (const CancelledError&) {
      return true;
    } catch (...) {
      return false;
    }
  }
  /// The value; rethrows the task's exception if it failed.
  value_type& value() & {
    rethrow_if_failed();
    return std::get<0>(state_);
  }
  const value_type& value() const& {
    rethrow_if_failed();
    return std::get<0>(state_);
  }
  value_type&& value() && {
    rethrow_if_failed();
    return std::get<0>(std::move(state_));
  }

 private:
  template <std::size_t Index, class U>
  Outcome(std::in_place_index_t<Index> index, U&& content)
      : state_(index, std::forward<U>(content)) {}
  void rethrow_if_failed() const {
    if (!has_value()) std::rethrow_exception(std::get<1>(state_));
  }

  std::variant<value_type, std::exception_ptr> state_;
};

namespace detail {

/// Waits for the tasks of `set`, one completion at a time. Fail fast: rethrows the first failure
/// at once. Cancelled: cancels every task, waits for all, raises CancelledError.
Task<void> gather_set(IntrusivePtr<TaskSet> set, bool fail_fast);

template <class... Handles>
IntrusivePtr<TaskSet> follow_tuple(std::tuple<Handles...>& handles) {
  return std::apply(
      [](Handles&... each) { return TaskSet::follow(std::vector<TaskRef>{TaskRef(each)...}); },
      handles);
}

template <class Handle>
IntrusivePtr<TaskSet> follow_vector(const std::vector<Handle>& handles) {
  return TaskSet::follow(std::vector<TaskRef>(handles.begin(), handles.end()));
}

/// How a finished task ended, taking its value as take_value() does.
template <TaskLike A>
Outcome<task_value_t<A>> take_outcome(TaskHandle<task_value_t<A>>& handle) {
  using Result = Outcome<task_value_t<A>>;
  if (handle.cancelled()) return Result::failure(std::make_exception_ptr(CancelledError{}));
  if (std::exception_ptr error = handle.exception()) return Result::failure(std::move(error));
  return Result::success(take_value<A>(handle));
}

template <class... Awaitables, std::size_t... Index>
std::tuple<value_or_monostate_t<task_value_t<Awaitables>>...> take_values(
    std::tuple<task_handle_t<Awaitables>...>& handles, std::index_sequence<Index...>) {
  return {take_value<Awaitables>(std::get<Index>(handles))...};
}

template <class... Awaitables, std::size_t... Index>
std::tuple<Outcome<task_value_t<Awaitables>>...> take_outcomes(
    std::tuple<task_handle_t<Awaitables>...>& handles, std::index_sequence<Index...>) {
  return {take_outcome<Awaitables>(std::get<Index>(handles))...};
}

template <class Range>
concept TaskLikeRange =
    std::ranges::input_range<Range> && TaskLike<std::ranges::range_value_t<Range>>;

}  // namespace detail

/// Runs every argument concurrently; gives their values as a tuple, in argument order. The first
/// failure is rethrown at once (see the top of this header).
template <class... Awaitables>
requires(detail::TaskLike<Awaitables>&&...)
    Task<std::tuple<detail::value_or_monostate_t<detail::task_value_t<Awaitables>>...>> gather(
        Awaitables... awaitables) {
  // Braces: spawned left to right.
  std::tuple<detail::task_handle_t<Awaitables>...> handles{
      detail::to_handle(std::move(awaitables))...};
  Task<void> waiting = detail::gather_set(detail::follow_tuple(handles), true);
  co_await waiting;
  co_return detail::take_values<Awaitables...>(handles, std::index_sequence_for<Awaitables...>{});
}

/// Runs every argument concurrently until all are done; gives each one's Outcome, in argument
/// order (asyncio's return_exceptions=True).
template <class... Awaitables>
requires(detail::TaskLike<Awaitables>&&...)
    Task<std::tuple<Outcome<detail::task_value_t<Awaitables>>...>> gather(
        ReturnExceptions, Awaitables... awaitables) {
  std::tuple<detail::task_handle_t<Awaitables>...> handles{
      detail::to_handle(std::move(awaitables))...};
  Task<void> waiting = detail::gather_set(detail::follow_tuple(handles), false);
  co_await waiting;
  co_return detail::take_outcomes<Awaitables...>(handles, std::index_sequence_for<Awaitables...>{});
}

/// Runs every element of `awaitables` (e.g. a std::vector<Task<T>>) concurrently; gives their
/// values in the range's order. The first failure is rethrown at once.
template <detail::TaskLikeRange Range>
Task<std::vector<
    detail::value_or_monostate_t<detail::task_value_t<std::ranges::range_value_t<Range>>>>>
gather(Range awaitables) {
  using Awaitable = std::ranges::range_value_t<Range>;
  auto handles = detail::to_handles(awaitables);
  Task<void> waiting = detail::gather_set(detail::follow_vector(handles), true);
  co_await waiting;
  std::vector<detail::value_or_monostate_t<detail::task_value_t<Awaitable>>> values;
  values.reserve(handles.size());
  for (auto& handle : handles) {
    values.push_back(detail::take_value<Awaitable>(handle));
  }
  co_return values;
}

/// Runs every element of `awaitables` concurrently until all are done; gives each one's Outcome
/// in the range's order.
template <detail::TaskLikeRange Range>
Task<std::vector<Outcome<detail::task_value_t<std::ranges::range_value_t<Range>>>>> gather(
    ReturnExceptions, Range awaitables) {
  using Awaitable = std::ranges::range_value_t<Range>;
  auto handles = detail::to_handles(awaitables);
  Task<void> waiting = detail::gather_set(detail::follow_vector(handles), false);
  co_await waiting;
  std::vector<Outcome<detail::task_value_t<Awaitable>>> outcomes;
  outcomes.reserve(handles.size());
  for (auto& handle : handles) {
    outcomes.push_back(detail::take_outcome<Awaitable>(handle));
  }
  co_return outcomes;
}

}  // namespace ringloop
