#pragma once
// The event loop: one per thread, single-threaded by construction. Runs tasks and callbacks from an
// intrusive ready queue, fires timers from a heap, and reaps I/O completions from its backend.
// Other threads come in through one door only: call_soon_threadsafe().
//
// One iteration (Loop::run_once), as DESIGN.md draws it:
//
//   take_remote_callbacks()      posts from other threads join the ready queue
//           |
//   next_timeout()               0 if anything is ready or the loop stops; else until the
//           |                    earliest timer; else none (wait for I/O or a post)
//   poll_backend(timeout)        reap completions (their tasks become ready). Only a real sleep
//           |                    does the handshake with posting threads (sleep_in_backend)
//   fire_due_timers()            due timer callbacks and sleeps join the ready queue
//           |
//   run_ready()                  run what was ready at this point; what it makes ready waits
//           |                    for the next iteration
//   wake_pools_for_queued_jobs() offload jobs queued by this iteration reach the workers
//                                (one wake-up per batch)

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <ringloop/detail/intrusive_list.hpp>
#include <ringloop/detail/ready_queue.hpp>
#include <ringloop/detail/remote_callback.hpp>
#include <ringloop/detail/remote_inbox.hpp>
#include <ringloop/detail/task_state.hpp>
#include <ringloop/detail/timer_heap.hpp>
#include <ringloop/io/backend.hpp>
#include <ringloop/runtime/clock.hpp>
#include <ringloop/runtime/handle.hpp>
#include <ringloop/runtime/task.hpp>

namespace ringloop {

class OffloadPool;
template <class T>
class TaskHandle;
class TaskRef;
class Loop;

namespace detail {
class FutureBase;
class TaskStateBase;
struct LoopAccess;
}  // namespace detail

/// What the loop reports to its exception handler.
struct ExceptionContext {
  std::string message;           ///< what happened, e.g. "Task exception was never retrieved"
  std::exception_ptr exception;  ///< the error; null for warnings (debug-mode slow steps)
  std::string task_name;         ///< the task concerned, empty when none
};

/// Receives errors nobody else could (asyncio's loop.set_exception_handler).
using ExceptionHandler = std::function<void(Loop&, const ExceptionContext&)>;

/// How a loop is built. Every field has a default that suits production use.
struct LoopOptions {
  /// Reactor. Unset: RINGLOOP_BACKEND (uring|epoll) if set, else io_uring when the probe passes,
  /// else epoll. A forced io_uring that cannot run throws io::BackendUnavailable (no silent
  /// fallback: a slow loop should never pass for a fast one).
  std::optional<io::BackendKind> backend;
  /// Debug mode: warn about steps slower than slow_callback_duration. Unset: RINGLOOP_DEBUG=1.
  /// Costs two clock reads per step, so it is off by default.
  std::optional<bool> debug;
  /// Threshold for debug-mode slow-step warnings (asyncio's default: 100 ms).
  Duration slow_callback_duration = std::chrono::milliseconds(100);
  /// Ring sizes and other backend settings.
  io::BackendOptions backend_options;
  /// Worker threads of the loop's default offload pool (created on first offload());
  /// 0 means the hardware concurrency, at least 2.
  unsigned offload_threads = 0;
  /// Job-queue bound of the default offload pool; offload() waits while it is full.
  std::size_t offload_queue_limit = 1024;
  /// Sets SIGPIPE to SIG_IGN when it is still at its default, as Python does at start-up, so a
  /// write to a closed pipe or socket fails with EPIPE instead of killing the process (sockets
  /// already send with MSG_NOSIGNAL; plain write(2) on a pipe has no such flag).
  bool ignore_sigpipe = true;
};

/// Counters for tests and benchmarks.
struct LoopStats {
  std::uint64_t iterations = 0;  ///< run_once() calls
  std::uint64_t steps = 0;       ///< task steps and callbacks run
  std::uint64_t remote_callbacks =
      0;  ///< items posted from other threads (callbacks, offload results)
  std::uint64_t remote_wakeups = 0;  ///< times a foreign thread had to wake the sleeping loop
};

/// The event loop (asyncio's loop): runs tasks, callbacks, timers and I/O completions on one
/// thread. The member templates spawn() and run_until_complete() are defined in
/// <ringloop/runtime/task_handle.hpp>, which needs TaskHandle's definition; include that (or the
/// umbrella <ringloop/ringloop.hpp>) to call them.
class Loop {
 public:
  explicit Loop(LoopOptions options = {});
  /// Cancels in-flight I/O and waits for the kernel to let go of it, reports and destroys tasks
  /// still pending ("Task was destroyed but it is pending"), frees pending callbacks.
  ~Loop();
  Loop(const Loop&) = delete;
  Loop& operator=(const Loop&) = delete;

  /// The loop of this thread (the most recently created one still alive); LoopError if none.
  static Loop& current();
  /// Like current(), but null when this thread has no loop.
  static Loop* current_or_null() noexcept;

  /// Runs `task` as a task of this loop until it completes; returns its value or rethrows.
  template <class T>
  T run_until_complete(Task<T>&& task);
  /// Runs the loop until the spawned `task` completes; returns its value or rethrows.
  template <class T>
  T run_until_complete(TaskHandle<T> task);
  /// Runs iterations until stop() is called.
  void run_forever();
  /// Makes run_forever() return after the current iteration (or after one iteration, if called
  /// while the loop is not running).
  void stop() noexcept { stopping_ = true; }
  [[nodiscard]] bool is_running() const noexcept { return running_; }

  /// Spawns `task` as a new task of this loop (asyncio.create_task); `name` defaults to Task-N.
  /// InvalidStateError, leaving `task` with the caller, if it already ran or is being awaited.
  template <class T>
  TaskHandle<T> spawn(Task<T>&& task, std::string name = {});
  /// Pending tasks of this loop.
  [[nodiscard]] std::vector<TaskRef> all_tasks() const;
  /// Cancels every pending task and runs the loop until they have all finished, reporting
  /// failures other than cancellation to the exception handler (what run() does at the end).
  void shutdown_tasks();

  /// Runs `callback()` in the next iteration.
  template <class F>
  Handle call_soon(F&& callback) {
    auto* entry = detail::make_callback(this, std::forward<F>(callback));
    Handle handle(entry);
    entry->add_ref();  // the ready queue's reference
    ready_.push(entry);
    return handle;
  }
  /// Runs `callback()` once `delay` has passed; a delay beyond the clock's range never comes.
  template <class Rep, class Period, class F>
  Handle call_later(std::chrono::duration<Rep, Period> delay, F&& callback) {
    return call_at(detail::deadline_after(time(), delay), std::forward<F>(callback));
  }
  /// Runs `callback()` at `when` (loop time).
  template <class F>
  Handle call_at(TimePoint when, F&& callback) {
    auto* entry = detail::make_callback(this, std::forward<F>(callback));
    Handle handle(entry);
    entry->add_ref();  // the timer heap's reference
    timers_.add(*entry, when);
    return handle;
  }
  /// Runs `callback()` on the loop thread soon; callable from any thread; wakes a sleeping loop.
  template <class F>
  void call_soon_threadsafe(F&& callback) {
    inbox_.post(detail::make_remote_callback(std::forward<F>(callback)));
  }

  /// Monotonic loop time.
  [[nodiscard]] TimePoint time() const noexcept { return Clock::now(); }

  [[nodiscard]] io::Backend& backend() noexcept { return *backend_; }
  /// The pool offload() uses by default, created on first use with the LoopOptions settings.
  OffloadPool& default_offload_pool();
  /// "uring" or "epoll".
  [[nodiscard]] std::string_view backend_name() const noexcept { return backend_->name(); }
  /// Why io_uring could not run when the automatic choice fell back to epoll (e.g.
  /// "io_uring_setup: Operation not permitted"); empty when nothing fell back.
  [[nodiscard]] const std::string& backend_fallback_reason() const noexcept {
    return backend_fallback_reason_;
  }
  /// The backend for start-up lines: "uring", "epoll", or "epoll; io_uring unavailable: <why>".
  [[nodiscard]] std::string backend_description() const;
  [[nodiscard]] bool debug() const noexcept { return debug_; }
  [[nodiscard]] LoopStats stats() const noexcept;

  /// Replaces the exception handler; an empty function restores the default (one line on stderr).
  void set_exception_handler(ExceptionHandler handler);
  /// Passes `context` to the exception handler; never throws.
  void call_exception_handler(const ExceptionContext& context) noexcept;
  /// Writes `context` as one line on stderr.
  static void default_exception_handler(const ExceptionContext& context);

 private:
  friend struct detail::LoopAccess;

  /// LoopError if this loop, or another loop of this thread, is running.
  void check_not_running() const;
  // run_once() and its phases, in the order it calls them (see the diagram at the top).
  void run_once();
  void take_remote_callbacks() noexcept;
  [[nodiscard]] std::optional<std::chrono::nanoseconds> next_timeout() const noexcept;
  void poll_backend(std::optional<std::chrono::nanoseconds> timeout);
  void sleep_in_backend(std::optional<std::chrono::nanoseconds> timeout);
  void fire_due_timers();
  void run_ready();
  void run_ready_in_debug_mode(detail::Runnable* first);
  void wake_pools_for_queued_jobs() noexcept;
  // The thread-safe door's entry for the runtime (offload results, CallbackBatch).
  void post_from_other_thread(detail::Runnable* newest, detail::Runnable* oldest) noexcept {
    inbox_.post_chain(newest, oldest);
  }

  std::string backend_fallback_reason_;  // before backend_: the backend's construction sets it
  std::unique_ptr<io::Backend> backend_;
  std::unique_ptr<OffloadPool> default_pool_;
  // Pools that were given jobs this iteration and not asked yet to wake a worker for them: one
  // wake-up after the iteration's steps serves the whole batch (no thread switch per job).
  std::vector<OffloadPool*> pools_to_wake_;
  // Offloaded jobs that may still post back here; a closing loop waits until it reaches zero.
  std::atomic<std::size_t> outstanding_offloads_{0};
  detail::ReadyQueue ready_;
  detail::TimerHeap timers_;
  bool running_ = false;
  bool stopping_ = false;
  bool debug_ = false;
  Duration slow_callback_duration_;
  unsigned offload_threads_;
  std::size_t offload_queue_limit_;
  ExceptionHandler exception_handler_;
  LoopStats stats_;
  Loop* previous_on_thread_ = nullptr;

  // Live futures and tasks (to detach them if they outlive the loop) and pending tasks, newest
  // first.
  detail::IntrusiveList<detail::FutureBase, &detail::FutureBase::live_hook_> live_futures_;
  detail::IntrusiveList<detail::TaskStateBase, &detail::TaskStateBase::pending_hook, true>
      pending_tasks_;

  // The thread-safe door: posts from other threads, the sleep flag and the wake-up (the only
  // member other threads touch, besides outstanding_offloads_). After backend_: it wakes it.
  detail::RemoteInbox inbox_;
};

}  // namespace ringloop
