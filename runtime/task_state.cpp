#include <ringloop/detail/task_state.hpp>

#include <atomic>

#include <ringloop/runtime/loop.hpp>
#include <ringloop/runtime/task_handle.hpp>

#include "loop_access.hpp"

namespace ringloop::detail {

constinit thread_local TaskStateBase* running_task = nullptr;

namespace {
// asyncio numbers tasks process-wide: Task-1, Task-2... Each thread takes its numbers in blocks,
// so a spawn touches no shared cache line: numbers stay unique in the process and increase on a
// thread, as a loop's tasks see them.
constexpr std::uint64_t kTaskNumberBlock = 1024;
std::atomic<std::uint64_t> next_task_number_block{0};
constinit thread_local std::uint64_t next_task_number = 0;
constinit thread_local std::uint64_t task_number_block_end = 0;

std::uint64_t take_task_number() noexcept {
  if (next_task_number == task_number_block_end) [[unlikely]] {
    const std::uint64_t block =
        next_task_number_block.fetch_add(1, std::memory_order_relaxed) * kTaskNumberBlock;
    next_task_number = block + 1;
    task_number_block_end = block + 1 + kTaskNumberBlock;
  }
  return next_task_number++;
}

std::unique_ptr<const std::string> given_name(std::string&& name) {
  if (name.empty()) return nullptr;
  return std::make_unique<const std::string>(std::move(name));
}
}  // namespace

std::coroutine_handle<> transfer_to(std::coroutine_handle<> next) noexcept {
  if (TaskStateBase* task = running_task) {
    task->set_next(next);
    return std::noop_coroutine();
  }
  return next;  // driven by something other than a ringloop task: plain symmetric transfer
}

void mark_root_finished() noexcept {
  if (TaskStateBase* task = running_task) task->root_finished();
}

namespace {
std::string task_or_coroutine(const TaskStateBase* task) {
  return task ? "task '" + task->name() + "'" : "a coroutine outside any ringloop task";
}
}  // namespace

void throw_task_already_awaited(const TaskStateBase* first) {
  std::string text = "co_await on a ringloop::Task that " + task_or_coroutine(first) +
                     " is already awaiting (second awaiter: " + task_or_coroutine(running_task) +
                     "); a Task has one awaiter: spawn() it and co_await the TaskHandle instead";
  throw InvalidStateError(text);
}

void throw_task_already_ran() {
  throw InvalidStateError("co_await on a ringloop::Task that already ran (in " +
                          task_or_coroutine(running_task) + ")");
}

void throw_unspawnable(bool finished, const TaskStateBase* awaiting, const std::string& name) {
  std::string text =
      finished ? "spawn() of a ringloop::Task that already ran"
               : "spawn() of a ringloop::Task that " + task_or_coroutine(awaiting) + " is awaiting";
  if (!name.empty()) text += " (spawned as '" + name + "')";
  throw InvalidStateError(text);
}

void throw_empty_task_handle(const char* operation) {
  throw InvalidStateError(std::string(operation) +
                          " on an empty handle (default-constructed or moved-from): it refers to "
                          "no task");
}

void throw_no_running_task(const char* what) {
  throw LoopError(std::string(what) + " awaited outside a ringloop task");
}

TaskStateBase::TaskStateBase(Loop& loop, std::string name, std::coroutine_handle<> root)
    : FutureBase(loop),
      ready_(&LoopAccess::ready(loop)),
      resume_point_(root),
      id_(take_task_number()),
      name_(given_name(std::move(name))) {
  LoopAccess::task_spawned(loop, *this);
  wake();
}

TaskStateBase::~TaskStateBase() {
  if (status() == Status::failed && !retrieved_) {
    retrieved_ = true;  // reported here, with the task's name, rather than by ~FutureBase
    ExceptionContext context{"Task exception was never retrieved", error_, name()};
    if (Loop* owner = loop()) {
      owner->call_exception_handler(context);
    } else {
      Loop::default_exception_handler(context);
    }
  }
}

std::string TaskStateBase::name() const {
  return name_ ? *name_ : "Task-" + std::to_string(id_);
}

std::string TaskStateBase::describe() const {
  return "task '" + name() + "'";
}
std::string TaskStateBase::describe_owner() const {
  return describe();
}

bool TaskStateBase::cancel() {
  if (done()) return false;
  ++cancel_count_;
  if (!cancel_requested_) {
    cancel_requested_ = true;
    if (suspension_) suspension_->cancel_wait();
  }
  return true;
}

FutureBase::Status TaskStateBase::store_failure(std::exception_ptr error) {
  try {
    std::rethrow_exception(error);
  } catch (const CancelledError&) {
    return Status::cancelled;
  } catch (...) {
  }
  error_ = std::move(error);
  return Status::failed;
}

void TaskStateBase::run() {
  queued_ = false;
  if (!started_) [[unlikely]] {
    started_ = true;
    if (cancel_requested_) {
      // Cancelled before its first step: the body never runs (asyncio does the same).
      cancel_requested_ = false;
      finish(Status::cancelled);
      return;
    }
  }
  TaskStateBase* outer = std::exchange(running_task, this);
  std::coroutine_handle<> step = resume_point_;
  for (;;) {
    step.resume();
    if (!next_) break;
    step = std::exchange(next_, nullptr);
  }
  running_task = outer;
  if (root_finished_) [[unlikely]] {
    // A body that returned is finished even if cancel() came during its last step: the request
    // came too late, as for a done future. (asyncio marks such a task cancelled and drops the
    // value it produced; ringloop never drops a produced value.)
    const Status outcome = take_root_outcome();
    cancel_requested_ = false;
    finish(outcome);
  }
}

void TaskStateBase::finish(Status status) {
  Loop& owner = *loop();
  destroy_root();  // free the frame now; the outcome lives in this state
  complete(status);
  LoopAccess::task_finished(owner, *this);  // may destroy *this: nothing after it
}

void TaskStateBase::abandon() noexcept {
  abandon_outcome();
  suspension_ = nullptr;
  destroy_root();
}

}  // namespace ringloop::detail

namespace ringloop {

TaskRef current_task() noexcept {
  return TaskRef(detail::running_task);
}

std::vector<TaskRef> all_tasks() {
  return Loop::current().all_tasks();
}

}  // namespace ringloop
