#include <ringloop/runtime/loop.hpp>

#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>

#include <ringloop/runtime/offload.hpp>
#include <ringloop/runtime/offload_pool.hpp>
#include <ringloop/runtime/task_handle.hpp>

#include "loop_access.hpp"

namespace ringloop {
namespace {

thread_local Loop* thread_loop = nullptr;
thread_local Loop* thread_running_loop = nullptr;

bool debug_from_environment() {
  const char* value = std::getenv("RINGLOOP_DEBUG");
  return value && std::strcmp(value, "0") != 0 && *value != '\0';
}

// Only a SIGPIPE disposition nobody chose is changed: a program's own handler stays.
void ignore_default_sigpipe() noexcept {
  struct sigaction current {};
  if (::sigaction(SIGPIPE, nullptr, &current) == 0 && current.sa_handler == SIG_DFL &&
      !(current.sa_flags & SA_SIGINFO)) {
    struct sigaction ignore {};
    ignore.sa_handler = SIG_IGN;
    ::sigaction(SIGPIPE, &ignore, nullptr);
  }
}

}  // namespace

// ---- construction and teardown -------------------------------------------------------------

Loop::Loop(LoopOptions options)
    : backend_(
          io::make_backend(options.backend, options.backend_options, &backend_fallback_reason_)),
      debug_(options.debug.value_or(debug_from_environment())),
      slow_callback_duration_(options.slow_callback_duration),
      offload_threads_(options.offload_threads),
      offload_queue_limit_(options.offload_queue_limit),
      inbox_(*backend_) {
  previous_on_thread_ = std::exchange(thread_loop, this);
  if (options.ignore_sigpipe) ignore_default_sigpipe();
}

Loop::~Loop() {
  // 1. Nothing queued will run: unhook the ready queue (tasks stay owned by the pending list).
  for (detail::Runnable* item = ready_.take_all(); item;) {
    detail::Runnable* next = item->next_ready;
    item->discard();
    item = next;
  }
  // 2. The kernel lets go of every in-flight buffer before any frame holding one is destroyed.
  //    First wait for a thread still waking the backend (it found the loop's last sleep).
  inbox_.wait_for_wakers();
  backend_.reset();
  // 3. Pending tasks: report, then destroy their coroutines (their awaiters unhook themselves).
  while (detail::TaskStateBase* task = pending_tasks_.front()) {
    call_exception_handler({"Task was destroyed but it is pending", nullptr, task->name()});
    detail::IntrusivePtr<detail::TaskStateBase> keep(task);
    task->abandon();
    detail::LoopAccess::task_finished(*this, *task);
  }
  // 4. Offloaded calls: the default pool finishes what is queued; jobs still running on any pool
  //    may post back here until they are done, so wait for them (their awaiters detached in 3).
  if (default_pool_) default_pool_->shutdown(PendingJobs::finish);
  while (outstanding_offloads_.load(std::memory_order_acquire) != 0)
    std::this_thread::yield();
  // 5. Timer callbacks never fired, items posted from other threads never taken.
  while (detail::TimerEntry* entry = timers_.pop_due(TimePoint::max())) {
    static_cast<detail::CallbackBase*>(entry)->release();
  }
  detail::ReadyQueue never_taken;
  inbox_.take_into(never_taken);
  for (detail::Runnable* item = never_taken.take_all(); item;) {
    detail::Runnable* next = item->next_ready;
    item->discard();
    item = next;
  }
  // 6. Futures and task handles that outlive the loop must not reach back into it.
  while (detail::FutureBase* future = live_futures_.front())
    detail::LoopAccess::unlink_future(*this, *future);
  if (thread_loop == this) thread_loop = previous_on_thread_;
}

OffloadPool& Loop::default_offload_pool() {
  if (!default_pool_) {
    default_pool_ = std::make_unique<OffloadPool>(offload_threads_, offload_queue_limit_);
  }
  return *default_pool_;
}

Loop& Loop::current() {
  if (Loop* loop = current_or_null()) return *loop;
  throw LoopError("no ringloop::Loop on this thread: create one, or use ringloop::run()");
}

Loop* Loop::current_or_null() noexcept {
  return thread_running_loop ? thread_running_loop : thread_loop;
}

std::string Loop::backend_description() const {
  std::string description(backend_name());
  if (!backend_fallback_reason_.empty()) {
    description += "; io_uring unavailable: " + backend_fallback_reason_;
  }
  return description;
}

LoopStats Loop::stats() const noexcept {
  LoopStats copy = stats_;
  copy.remote_wakeups = inbox_.wakeups();
  return copy;
}

// ---- running ---------------------------------------------------------------------------------

void Loop::check_not_running() const {
  if (running_) throw LoopError("this ringloop::Loop is already running");
  if (thread_running_loop) throw LoopError("another ringloop::Loop is running on this thread");
}

void Loop::run_forever() {
  check_not_running();
  running_ = true;
  thread_running_loop = this;
  struct Reset {
    Loop& loop;
    ~Reset() {
      loop.running_ = false;
      loop.stopping_ = false;
      thread_running_loop = nullptr;
    }
  } reset{*this};
  do {
    run_once();
  } while (!stopping_);
}

// One iteration, in the order of DESIGN.md and the diagram in loop.hpp (rotated from asyncio's
// so a sleep ends right before the work it waited for).
void Loop::run_once() {
  ++stats_.iterations;
  if (inbox_.has_posts()) take_remote_callbacks();
  poll_backend(next_timeout());
  fire_due_timers();
  run_ready();
  if (!pools_to_wake_.empty()) wake_pools_for_queued_jobs();
}

void Loop::take_remote_callbacks() noexcept {
  stats_.remote_callbacks += inbox_.take_into(ready_);
}

// How long the backend may wait (libuv's uv_backend_timeout): not at all while something is
// ready or the loop is stopping, else until the earliest timer, else until an I/O completion.
std::optional<std::chrono::nanoseconds> Loop::next_timeout() const noexcept {
  if (!ready_.empty() || stopping_) return std::chrono::nanoseconds::zero();
  if (timers_.empty()) return std::nullopt;
  return std::max(Duration::zero(), detail::time_until(timers_.next_deadline(), time()));
}

void Loop::poll_backend(std::optional<std::chrono::nanoseconds> timeout) {
  if (timeout && timeout->count() == 0) {
    backend_->poll(*timeout);  // the backend decides whether that costs a system call
    return;
  }
  sleep_in_backend(timeout);
}

// The sleep handshake with posting threads (RemoteInbox): publish that the loop sleeps, and do
// not sleep if a post came first. A poster either finds the loop asleep and wakes the backend, or
// its post is seen here, so no post waits for an unrelated wake-up.
void Loop::sleep_in_backend(std::optional<std::chrono::nanoseconds> timeout) {
  if (!inbox_.begin_sleep()) timeout = std::chrono::nanoseconds::zero();
  try {
    backend_->poll(timeout);
  } catch (...) {
    inbox_.end_sleep();
    throw;
  }
  inbox_.end_sleep();
  if (inbox_.has_posts()) take_remote_callbacks();
}

void Loop::fire_due_timers() {
  if (timers_.empty()) return;
  const TimePoint now = time();
  while (detail::TimerEntry* entry = timers_.pop_due(now))
    entry->fire();
}

void Loop::run_ready() {
  detail::Runnable* step = ready_.take_all();
  if (debug_) [[unlikely]] {
    run_ready_in_debug_mode(step);
    return;
  }
  while (step) {
    detail::Runnable* next = step->next_ready;
    ++stats_.steps;
    try {
      step->run();
    } catch (...) {
      call_exception_handler({"Exception in a loop step", std::current_exception(), {}});
    }
    step = next;
  }
}

// Debug mode times every step and reports the slow ones (asyncio's slow_callback_duration).
void Loop::run_ready_in_debug_mode(detail::Runnable* step) {
  while (step) {
    detail::Runnable* next = step->next_ready;
    ++stats_.steps;
    // The step may destroy itself, so name it before it runs.
    const std::string description = step->describe();
    const TimePoint started = time();
    try {
      step->run();
    } catch (...) {
      call_exception_handler({"Exception in " + description, std::current_exception(), {}});
    }
    const auto elapsed = time() - started;
    if (elapsed >= slow_callback_duration_) {
      char seconds[32];
      std::snprintf(seconds, sizeof seconds, "%.3f",
                    std::chrono::duration<double>(elapsed).count());
      call_exception_handler(
          {"Executing " + description + " took " + seconds + " seconds", nullptr, {}});
    }
    step = next;
  }
}

// Before the loop polls again (and before run_forever() returns): jobs queued by this
// iteration's steps must not wait for a worker while the loop sleeps or has stopped.
void Loop::wake_pools_for_queued_jobs() noexcept {
  for (OffloadPool* pool : pools_to_wake_)
    pool->wake_for_queued();
  pools_to_wake_.clear();
}

// ---- tasks -----------------------------------------------------------------------------------

std::vector<TaskRef> Loop::all_tasks() const {
  std::vector<TaskRef> tasks;
  tasks.reserve(pending_tasks_.size());
  for (detail::TaskStateBase& task : pending_tasks_)
    tasks.emplace_back(&task);
  return tasks;
}

void Loop::shutdown_tasks() {
  try {
    std::vector<TaskRef> tasks = all_tasks();
    if (tasks.empty()) return;
    for (TaskRef& task : tasks)
      task.cancel();
    std::size_t unfinished = tasks.size();
    for (TaskRef& task : tasks) {
      task.add_done_callback([this, &unfinished](TaskRef&) {
        if (--unfinished == 0) stop();
      });
    }
    run_forever();
    for (TaskRef& task : tasks) {
      if (!task.done() || task.cancelled()) continue;
      if (std::exception_ptr error = task.exception()) {
        call_exception_handler({"unhandled exception during run() shutdown", error, task.name()});
      }
    }
  } catch (...) {
    call_exception_handler(
        {"error while cancelling the remaining tasks", std::current_exception(), {}});
  }
}

// ---- errors ----------------------------------------------------------------------------------

void Loop::set_exception_handler(ExceptionHandler handler) {
  exception_handler_ = std::move(handler);
}

void Loop::call_exception_handler(const ExceptionContext& context) noexcept {
  if (exception_handler_) {
    try {
      exception_handler_(*this, context);
      return;
    } catch (...) {
      default_exception_handler(
          {"Unhandled error in the exception handler", std::current_exception(), {}});
    }
  }
  try {
    default_exception_handler(context);
  } catch (...) {
  }
}

void Loop::default_exception_handler(const ExceptionContext& context) {
  std::string line = "ringloop: " + context.message;
  // A message that names the task already ("done callback of task 'x' raised") says it once.
  if (!context.task_name.empty() &&
      context.message.find("task '" + context.task_name + "'") == std::string::npos) {
    line += " (task '" + context.task_name + "')";
  }
  if (context.exception) line += ": " + describe_exception(context.exception);
  line += '\n';
  std::fputs(line.c_str(), stderr);
}

}  // namespace ringloop

namespace ringloop::detail {

OffloadPool& default_offload_pool(Loop& loop) {
  return loop.default_offload_pool();
}

void offload_started(Loop& loop) noexcept {
  LoopAccess::outstanding_offloads(loop).fetch_add(1, std::memory_order_relaxed);
}

void submit_offload(Loop& loop, OffloadPool& pool, OffloadJob& job) {
  pool.submit_without_wake(job);
  LoopAccess::wake_pool_after_iteration(loop, pool);
}

void offload_finished(Loop& loop) noexcept {
  LoopAccess::outstanding_offloads(loop).fetch_sub(1, std::memory_order_release);
}

Loop& current_loop_for_offload() {
  return Loop::current();
}

void LoopAccess::link_future(Loop& loop, FutureBase& future) noexcept {
  loop.live_futures_.push_front(future);
}

void LoopAccess::unlink_future(Loop& loop, FutureBase& future) noexcept {
  loop.live_futures_.remove(future);
  future.loop_ = nullptr;
}

void LoopAccess::task_spawned(Loop& loop, TaskStateBase& task) noexcept {
  task.add_ref();
  loop.pending_tasks_.push_front(task);
}

void LoopAccess::task_finished(Loop& loop, TaskStateBase& task) noexcept {
  loop.pending_tasks_.remove(task);
  task.release();
}

}  // namespace ringloop::detail
