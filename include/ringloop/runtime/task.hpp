#pragma once
// Task<T>: the coroutine return type. Lazy: the body starts when the task is awaited or spawned.
// Awaiting a Task from inside a ringloop task does not nest stack frames: control goes back to the
// task's runner, which resumes the next frame (a trampoline). This is symmetric transfer that stays
// flat even at -O0, where g++ 12 does not turn `return handle;` from await_suspend into a tail
// call.

#include <coroutine>
#include <cstddef>
#include <exception>
#include <optional>
#include <type_traits>
#include <utility>

#include <ringloop/detail/frame_allocator.hpp>
#include <ringloop/runtime/errors.hpp>

namespace ringloop {
template <class T>
class Task;
}

namespace ringloop::detail {

class TaskStateBase;
/// The task whose coroutine is running on this thread (null outside task steps).
extern constinit thread_local TaskStateBase* running_task;

/// Hands `next` to the running task's trampoline; returns the handle await_suspend must return.
std::coroutine_handle<> transfer_to(std::coroutine_handle<> next) noexcept;
/// Called when a spawned task's root coroutine reaches its final suspension.
void mark_root_finished() noexcept;
/// InvalidStateError for a co_await on a Task that `first` (null: a coroutine outside any
/// ringloop task) is already awaiting, naming both tasks.
[[noreturn]] void throw_task_already_awaited(const TaskStateBase* first);
/// InvalidStateError for a co_await on a Task whose body already ran, naming the awaiting task.
[[noreturn]] void throw_task_already_ran();

class TaskPromiseBase {
 public:
  // Frames are recycled per thread: awaiting a Task allocates nothing in steady state.
  static void* operator new(std::size_t size) { return allocate_frame(size); }
  static void operator delete(void* frame, std::size_t size) noexcept {
    deallocate_frame(frame, size);
  }

  std::suspend_always initial_suspend() const noexcept { return {}; }

  struct FinalAwaiter {
    bool await_ready() const noexcept { return false; }
    template <class Promise>
    std::coroutine_handle<> await_suspend(std::coroutine_handle<Promise> self) const noexcept {
      std::coroutine_handle<> continuation = self.promise().continuation_;
      if (!continuation) {
        mark_root_finished();
        return std::noop_coroutine();
      }
      return transfer_to(continuation);
    }
    void await_resume() const noexcept {}
  };
  FinalAwaiter final_suspend() const noexcept { return {}; }
  void unhandled_exception() noexcept { exception_ = std::current_exception(); }

  std::coroutine_handle<> continuation_;
  // The task whose coroutine awaits this one (null outside a task): named when a second awaiter
  // or a spawn() comes while the first is still waiting.
  TaskStateBase* awaiting_task_ = nullptr;
  std::exception_ptr exception_;
};

template <class T>
class TaskPromise final : public TaskPromiseBase {
 public:
  Task<T> get_return_object() noexcept;
  template <class U>
  void return_value(U&& value) noexcept(std::is_nothrow_constructible_v<T, U&&>) {
    value_.emplace(std::forward<U>(value));
  }
  T take_result() {
    if (exception_) std::rethrow_exception(exception_);
    return std::move(*value_);
  }
  std::optional<T> value_;
};

template <>
class TaskPromise<void> final : public TaskPromiseBase {
 public:
  Task<void> get_return_object() noexcept;
  void return_void() const noexcept {}
  void take_result() const {
    if (exception_) std::rethrow_exception(exception_);
  }
};

}  // namespace ringloop::detail

namespace ringloop {

/// A lazily started coroutine producing a T (or nothing, for void). Move-only; co_await it to run
/// it inside the awaiting task, or hand it to spawn() to run it as a task of its own.
template <class T = void>
class [[nodiscard]] Task {
 public:
  using promise_type = detail::TaskPromise<T>;
  using Handle = std::coroutine_handle<promise_type>;

  Task() noexcept = default;
  explicit Task(Handle handle) noexcept : handle_(handle) {}
  Task(Task&& other) noexcept : handle_(std::exchange(other.handle_, {})) {}
  Task& operator=(Task other) noexcept {
    std::swap(handle_, other.handle_);
    return *this;
  }
  ~Task() {
    if (handle_) handle_.destroy();
  }

  /// Whether this object holds a coroutine.
  [[nodiscard]] bool valid() const noexcept { return static_cast<bool>(handle_); }
  /// The coroutine frame (still owned by this object).
  [[nodiscard]] Handle coroutine() const noexcept { return handle_; }

  class Awaiter {
   public:
    explicit Awaiter(Handle handle) noexcept : handle_(handle) {}
    bool await_ready() const {
      if (!handle_) throw InvalidStateError("co_await on an empty ringloop::Task");
      if (handle_.done()) detail::throw_task_already_ran();
      // A second continuation would overwrite the first, which would then wait forever.
      if (handle_.promise().continuation_)
        detail::throw_task_already_awaited(handle_.promise().awaiting_task_);
      return false;
    }
    std::coroutine_handle<> await_suspend(std::coroutine_handle<> awaiting) const noexcept {
      handle_.promise().continuation_ = awaiting;
      handle_.promise().awaiting_task_ = detail::running_task;
      return detail::transfer_to(handle_);
    }
    T await_resume() const { return handle_.promise().take_result(); }

   private:
    Handle handle_;
  };

  Awaiter operator co_await() const& noexcept { return Awaiter(handle_); }
  Awaiter operator co_await() const&& noexcept { return Awaiter(handle_); }

 private:
  Handle handle_;
};

}  // namespace ringloop

namespace ringloop::detail {

template <class T>
Task<T> TaskPromise<T>::get_return_object() noexcept {
  return Task<T>(std::coroutine_handle<TaskPromise<T>>::from_promise(*this));
}

inline Task<void> TaskPromise<void>::get_return_object() noexcept {
  return Task<void>(std::coroutine_handle<TaskPromise<void>>::from_promise(*this));
}

}  // namespace ringloop::detail
