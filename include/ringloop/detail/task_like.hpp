#pragma once
// What the combinators accept where asyncio takes "awaitables": a Task<T>, which the combinator
// spawns (or runs inline, where that is the point), the TaskHandle<T> of a task already running,
// or any other awaitable (a Future, offload(...), Queue::get(), Event::wait(), shield(...),
// sleep(...)), which the combinator wraps in a task of its own as asyncio wraps a coroutine or
// future in ensure_future(). wait() and as_completed() only hand tasks back, so they take untyped
// TaskRefs too.

#include <concepts>
#include <ranges>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include <ringloop/runtime/task.hpp>
#include <ringloop/runtime/task_handle.hpp>

namespace ringloop::detail {

/// What `co_await a` gives for an awaiter type (one with await_ready/suspend/resume).
template <class A>
concept Awaiter = requires(A& awaiter) {
  { awaiter.await_ready() } -> std::convertible_to<bool>;
  awaiter.await_resume();
};

/// The awaiter `co_await a` uses: `a` itself, or what its operator co_await gives.
template <class A>
decltype(auto) awaiter_of(A& awaitable) {
  if constexpr (requires { awaitable.operator co_await(); }) {
    return awaitable.operator co_await();
  } else {
    return (awaitable);
  }
}

/// Something a task can co_await and that can be moved into a wrapping task.
template <class A>
concept Awaitable = std::move_constructible<A> && requires(A& awaitable) {
  requires Awaiter<std::remove_reference_t<decltype(awaiter_of(awaitable))>>;
};

/// The value `co_await a` gives, decayed (a wrapping task returns it by value).
template <Awaitable A>
using await_result_t = std::decay_t<decltype(awaiter_of(std::declval<A&>()).await_resume())>;

/// Any awaitable as a task, so the combinators can spawn and follow it like one.
template <Awaitable A>
Task<await_result_t<A>> await_as_task(A awaitable) {
  if constexpr (std::is_void_v<await_result_t<A>>) {
    co_await std::move(awaitable);
  } else {
    await_result_t<A> value = co_await std::move(awaitable);
    co_return value;
  }
}

template <class A>
inline constexpr bool is_task_or_handle_v = std::same_as<A, TaskRef>;
template <class T>
inline constexpr bool is_task_or_handle_v<Task<T>> = true;
template <class T>
inline constexpr bool is_task_or_handle_v<TaskHandle<T>> = true;

/// An awaitable that is not a task or a task handle: combinators wrap it in await_as_task().
template <class A>
concept WrappedAwaitable = Awaitable<A> && !is_task_or_handle_v<A>;

template <class A>
struct TaskLikeTraits {};
template <WrappedAwaitable A>
struct TaskLikeTraits<A> {
  using value_type = await_result_t<A>;
  using handle_type = TaskHandle<value_type>;
};

template <class T>
struct TaskLikeTraits<Task<T>> {
  using value_type = T;
  using handle_type = TaskHandle<T>;
};

template <class T>
struct TaskLikeTraits<TaskHandle<T>> {
  using value_type = T;
  using handle_type = TaskHandle<T>;
};

/// Whether a combinator spawns the argument itself (a Task, or any awaitable but a handle): then
/// nobody else can read the task's result, which may be moved out.
template <class A>
inline constexpr bool spawned_by_combinator_v = !std::same_as<A, TaskRef>;
template <class T>
inline constexpr bool spawned_by_combinator_v<TaskHandle<T>> = false;

/// A Task<T>, a TaskHandle<T> or another awaitable.
template <class A>
concept TaskLike = requires {
  typename TaskLikeTraits<A>::value_type;
};

/// A TaskLike or an untyped TaskRef.
template <class A>
concept TaskRefLike = TaskLike<A> || std::same_as<A, TaskRef>;

/// What a TaskLike produces (T of Task<T> / TaskHandle<T>).
template <TaskLike A>
using task_value_t = typename TaskLikeTraits<A>::value_type;

template <class A>
struct HandleOf {
  using type = typename TaskLikeTraits<A>::handle_type;
};
template <>
struct HandleOf<TaskRef> {
  using type = TaskRef;
};
/// The handle a combinator keeps for an argument: TaskHandle<T>, or TaskRef for a TaskRef.
template <TaskRefLike A>
using task_handle_t = typename HandleOf<A>::type;

/// A result slot for a value of type T: T itself, or std::monostate for void (a tuple or vector
/// cannot hold void).
template <class T>
using value_or_monostate_t = std::conditional_t<std::is_void_v<T>, std::monostate, T>;

/// A running task for `work`: spawns a Task (with a default name) or a task awaiting any other
/// awaitable, copies a handle.
template <class T>
TaskHandle<T> to_handle(Task<T>&& work) {
  return spawn(std::move(work));
}
template <class A>
requires(!std::is_reference_v<A> && WrappedAwaitable<A>)  // rvalues only: handles are copied
    TaskHandle<await_result_t<A>> to_handle(A&& work) {
  return spawn(await_as_task(std::move(work)));
}
template <class T>
TaskHandle<T> to_handle(const TaskHandle<T>& work) {
  return work;
}
inline TaskRef to_handle(const TaskRef& work) {
  return work;
}

/// Handles for every element of `range`, in order. Tasks in it are moved out and spawned.
template <class Range>
std::vector<task_handle_t<std::ranges::range_value_t<Range>>> to_handles(Range& range) {
  std::vector<task_handle_t<std::ranges::range_value_t<Range>>> handles;
  if constexpr (std::ranges::sized_range<Range>) handles.reserve(std::ranges::size(range));
  for (auto& each : range) {
    if constexpr (spawned_by_combinator_v<std::ranges::range_value_t<Range>>) {
      handles.push_back(to_handle(std::move(each)));
    } else {
      handles.push_back(to_handle(each));
    }
  }
  return handles;
}

/// The value of a task that finished successfully, for a combinator's result: moved out when the
/// combinator spawned the task (no one else can read it), otherwise copied if T allows it (the
/// caller's handle still reads it), as co_await on a handle does.
template <TaskLike A>
value_or_monostate_t<task_value_t<A>> take_value(TaskHandle<task_value_t<A>>& handle) {
  using T = task_value_t<A>;
  if constexpr (std::is_void_v<T>) {
    handle.result();
    return {};
  } else if constexpr (spawned_by_combinator_v<A> || !std::is_copy_constructible_v<T>) {
    return std::move(handle.result());
  } else {
    return handle.result();
  }
}

}  // namespace ringloop::detail
