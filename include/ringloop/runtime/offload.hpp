#pragma once
// co_await offload(fn, args...): runs a blocking call on an OffloadPool and resumes the awaiting
// task on its own loop with the value (or rethrows). asyncio's loop.run_in_executor / to_thread.

#include <coroutine>
#include <functional>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>

#include <ringloop/detail/task_state.hpp>
#include <ringloop/runtime/future.hpp>
#include <ringloop/runtime/offload_pool.hpp>

namespace ringloop {

class Loop;

namespace detail {

/// The pool a loop uses when offload() is not given one (created on first use).
OffloadPool& default_offload_pool(Loop& loop);
/// Counts jobs that may still post back to `loop`; a closing loop waits for them.
void offload_started(Loop& loop) noexcept;
void offload_finished(Loop& loop) noexcept;
/// Queues `job` on `pool`; a parked worker is woken for it when the loop's current iteration
/// ends, together with every other job queued meanwhile.
void submit_offload(Loop& loop, OffloadPool& pool, OffloadJob& job);

template <class R>
struct OffloadResult {
  std::optional<R> value;
};
template <>
struct OffloadResult<void> {};

/// A call with its arguments, stored by value, and room for its result.
template <class R, class F, class... Args>
class OffloadCall final : public OffloadJob {
 public:
  template <class G, class... A>
  OffloadCall(Loop& loop, G&& function, A&&... arguments)
      : OffloadJob(loop), call_(std::forward<G>(function), std::forward<A>(arguments)...) {}

  void execute() noexcept override {
    try {
      if constexpr (std::is_void_v<R>) {
        std::apply(
            [](auto& function, auto&... arguments) {
              std::invoke(std::move(function), std::move(arguments)...);
            },
            call_);
      } else {
        result.value.emplace(std::apply(
            [](auto& function, auto&... arguments) -> R {
              return std::invoke(std::move(function), std::move(arguments)...);
            },
            call_));
      }
    } catch (...) {
      error = std::current_exception();
    }
  }

  OffloadResult<R> result;

 private:
  std::tuple<F, Args...> call_;
};

/// Awaiter of offload(): submits the job when awaited; cancelling the task withdraws a job that
/// has not started, or detaches a running one (its result is then discarded).
template <class R>
class [[nodiscard]] OffloadAwaiter final : public Suspension {
 public:
  OffloadAwaiter(OffloadPool* pool, OffloadJob* job, OffloadResult<R>* result) noexcept
      : pool_(pool), job_(job), result_(result) {}
  /// Before it is awaited only (a combinator taking it into a task of its own): the job moves.
  OffloadAwaiter(OffloadAwaiter&& other) noexcept
      : Suspension(),
        pool_(other.pool_),
        job_(std::exchange(other.job_, nullptr)),
        result_(other.result_) {}
  OffloadAwaiter(const OffloadAwaiter&) = delete;
  OffloadAwaiter& operator=(const OffloadAwaiter&) = delete;
  ~OffloadAwaiter() {
    if (!job_) return;  // moved from
    if (submitted_ && !job_->finished && !detached_) detach();
    if (!submitted_) job_->release();  // the worker's reference was never handed over
    job_->release();
  }

  bool await_ready() const noexcept { return false; }

  bool await_suspend(std::coroutine_handle<> awaiting) {
    TaskStateBase& task = require_running_task("offload()");
    if (task.cancel_requested()) return false;
    Loop& loop = *task.loop();
    if (pool_ == nullptr) pool_ = &default_offload_pool(loop);
    offload_started(loop);
    try {
      submit_offload(loop, *pool_, *job_);
    } catch (...) {
      offload_finished(loop);
      throw;
    }
    submitted_ = true;
    job_->waiter = &task;
    task.suspend(this, awaiting);
    return true;
  }

  R await_resume() {
    if (!submitted_ || detached_) running_task->throw_if_cancel_requested();
    if (job_->error) std::rethrow_exception(job_->error);
    if constexpr (!std::is_void_v<R>) return std::move(*result_->value);
  }

  void cancel_wait() override {
    TaskStateBase* task = job_->waiter;
    detach();
    task->wake();  // CancelledError at once; a running job finishes on its own
  }

 private:
  void detach() noexcept {
    detached_ = true;
    job_->waiter = nullptr;
    if (pool_->withdraw(*job_)) {
      offload_finished(*job_->loop);
      job_->release();  // the worker's reference: it will never see the job
    } else {
      job_->detached.store(true, std::memory_order_release);
    }
  }

  OffloadPool* pool_;
  OffloadJob* job_;
  OffloadResult<R>* result_;
  bool submitted_ = false;
  bool detached_ = false;
};

template <class F, class... Args>
using OffloadResultType =
    std::remove_cvref_t<std::invoke_result_t<std::decay_t<F>&&, std::decay_t<Args>&&...>>;

template <class F, class... Args>
auto make_offload(Loop& loop, OffloadPool* pool, F&& function, Args&&... arguments) {
  using R = OffloadResultType<F, Args...>;
  auto* job = new OffloadCall<R, std::decay_t<F>, std::decay_t<Args>...>(
      loop, std::forward<F>(function), std::forward<Args>(arguments)...);
  return OffloadAwaiter<R>(pool, job, &job->result);
}

Loop& current_loop_for_offload();

}  // namespace detail

/// Runs `function(arguments...)` on the current loop's default pool; co_await gives its value or
/// rethrows its exception. Arguments are moved into the job (pass pointers to share state).
/// Jobs are handed to the workers when the loop's current iteration ends, all at once (one
/// wake-up per batch, not a thread switch per job): a step that blocks the loop thread until
/// its own iteration's job has started would wait forever, as it would for any I/O.
template <class F, class... Args>
[[nodiscard]] auto offload(F&& function, Args&&... arguments) {
  return detail::make_offload(detail::current_loop_for_offload(), nullptr,
                              std::forward<F>(function), std::forward<Args>(arguments)...);
}

/// Like offload(), on `pool` (which must outlive the await).
template <class F, class... Args>
[[nodiscard]] auto offload_to(OffloadPool& pool, F&& function, Args&&... arguments) {
  return detail::make_offload(detail::current_loop_for_offload(), &pool, std::forward<F>(function),
                              std::forward<Args>(arguments)...);
}

/// asyncio's name for offload().
template <class F, class... Args>
auto to_thread(F&& function, Args&&... arguments) {
  return offload(std::forward<F>(function), std::forward<Args>(arguments)...);
}

}  // namespace ringloop
