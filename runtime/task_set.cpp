#include <ringloop/detail/task_set.hpp>

#include <utility>

#include <ringloop/runtime/errors.hpp>
#include <ringloop/runtime/loop.hpp>

namespace ringloop::detail {

namespace {

/// Marks a done task's failure as retrieved (no "Task exception was never retrieved" report).
void absorb_failure(TaskRef& task) {
  if (task.done() && !task.cancelled()) (void)task.exception();
}

}  // namespace

TaskSet::TaskSet(std::vector<TaskRef> tasks) : tasks_(std::move(tasks)) {
  finished_.reserve(tasks_.size());  // record() never reallocates
}

IntrusivePtr<TaskSet> TaskSet::follow(std::vector<TaskRef> tasks) {
  IntrusivePtr<TaskSet> set(new TaskSet(std::move(tasks)));
  for (std::size_t index = 0; index < set->tasks_.size(); ++index) {
    TaskRef& task = set->tasks_[index];
    if (task.done()) {
      set->record(index);  // no need to wait an iteration for a callback
    } else {
      task.add_done_callback([set, index](TaskRef&) { set->record(index); });
    }
  }
  return set;
}

void TaskSet::record(std::size_t index) {
  finished_.push_back(index);
  if (absorbing_) absorb_failure(tasks_[index]);
  if (parked_) parked_->unpark();
}

void TaskSet::cancel_unfinished() {
  // cancel() is a no-op returning false for tasks already done.
  for (TaskRef& task : tasks_) {
    task.cancel();
  }
}

void TaskSet::absorb_failures() {
  absorbing_ = true;
  for (TaskRef& task : tasks_) {
    absorb_failure(task);
  }
}

// ---- NextAwaiter -----------------------------------------------------------------------------

TaskSet::NextAwaiter::~NextAwaiter() {
  if (set_->parked_ == this) set_->parked_ = nullptr;  // frame destroyed while parked
}

bool TaskSet::NextAwaiter::await_suspend(std::coroutine_handle<> awaiting) {
  TaskStateBase& task = require_running_task("waiting for the next task to finish");
  if (set_->parked_) throw InvalidStateError("two tasks wait on the same set of tasks");
  checked_ = true;
  if (task.cancel_requested()) return false;
  Loop& loop = *task.loop();
  if (deadline_ && *deadline_ <= loop.time()) return false;
  task_ = &task;
  set_->parked_ = this;
  if (deadline_) arm(loop, *deadline_);
  task.suspend(this, awaiting);
  return true;
}

std::optional<std::size_t> TaskSet::NextAwaiter::await_resume() {
  disarm();
  if (checked_) running_task->throw_if_cancel_requested();  // the completion stays queued
  if (set_->taken_ < set_->finished_.size()) return set_->finished_[set_->taken_++];
  return std::nullopt;  // the deadline passed first
}

void TaskSet::NextAwaiter::unpark() noexcept {
  set_->parked_ = nullptr;
  disarm();
  task_->wake();
}

// The waiting task was cancelled: wake it (CancelledError); the tasks are not touched.
void TaskSet::NextAwaiter::cancel_wait() {
  unpark();
}

void TaskSet::NextAwaiter::fire() {
  set_->parked_ = nullptr;
  task_->wake();
}

}  // namespace ringloop::detail
