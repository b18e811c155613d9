#include <ringloop/runtime/task_group.hpp>

#include <ringloop/runtime/errors.hpp>

namespace ringloop {

namespace {

std::string describe_group(const std::vector<std::exception_ptr>& exceptions) {
  std::string message = std::to_string(exceptions.size()) +
                        (exceptions.size() == 1 ? " child task failed" : " child tasks failed");
  if (!exceptions.empty()) message += "; first: " + describe_exception(exceptions.front());
  return message;
}

}  // namespace

ExceptionGroup::ExceptionGroup(std::vector<std::exception_ptr> exceptions)
    : std::runtime_error(describe_group(exceptions)),
      exceptions_(std::make_shared<const std::vector<std::exception_ptr>>(std::move(exceptions))) {}

// ---- the shared state ------------------------------------------------------------------------

namespace detail {

void TaskGroupState::check_accepting() const {
  if (joined_) throw InvalidStateError("TaskGroup::spawn() after the group was joined");
  if (aborting_) {
    throw InvalidStateError(
        "TaskGroup::spawn() while the group shuts down (a child failed, or "
        "join() was cancelled)");
  }
}

void TaskGroupState::adopt(TaskRef child) {
  std::uint32_t slot;
  if (free_slots_.empty()) {
    slot = static_cast<std::uint32_t>(children_.size());
    children_.push_back(child);
  } else {
    slot = free_slots_.back();
    free_slots_.pop_back();
    children_[slot] = child;
  }
  ++running_;
  child.add_done_callback(
      [state = IntrusivePtr<TaskGroupState>(this), slot](TaskRef&) { state->child_done(slot); });
}

void TaskGroupState::abort() {
  aborting_ = true;
  // cancel() never runs user code nor a done callback synchronously: the slots stay as they are.
  for (TaskRef& child : children_) {
    if (child) child.cancel();
  }
}

void TaskGroupState::child_done(std::uint32_t slot) {
  TaskRef child = std::exchange(children_[slot], TaskRef());
  free_slots_.push_back(slot);
  --running_;
  // Once the group is gone nobody collects failures: leaving them unretrieved lets the task
  // report its own ("Task exception was never retrieved").
  if (!orphaned_ && !child.cancelled()) {
    if (std::exception_ptr error = child.exception()) {
      errors_.push_back(std::move(error));
      if (!aborting_) abort();  // the first failure cancels the siblings (asyncio)
    }
  }
  if (running_ == 0 && joiner_) std::exchange(joiner_, nullptr)->wake();
}

}  // namespace detail

// ---- TaskGroup -------------------------------------------------------------------------------

TaskGroup::TaskGroup() : state_(new detail::TaskGroupState(Loop::current())) {}

TaskGroup::~TaskGroup() {
  detail::TaskGroupState& state = *state_;
  state.orphaned_ = true;
  state.joined_ = true;
  if (state.running_ > 0) state.abort();
  for (const std::exception_ptr& error : state.errors_) {
    state.loop().call_exception_handler(
        {"TaskGroup destroyed before join() reported a child task's failure", error, {}});
  }
  state.errors_.clear();
}

TaskGroup::JoinAwaiter TaskGroup::join() {
  if (state_->joined_) throw InvalidStateError("TaskGroup::join() after the group was joined");
  if (state_->joiner_) throw InvalidStateError("TaskGroup::join() awaited by two tasks");
  return JoinAwaiter(*state_);
}

TaskGroup::JoinAwaiter::~JoinAwaiter() {
  if (task_ && state_->joiner_ == task_) state_->joiner_ = nullptr;  // frame destroyed while parked
}

bool TaskGroup::JoinAwaiter::await_suspend(std::coroutine_handle<> awaiting) {
  detail::TaskStateBase& task = detail::require_running_task("TaskGroup::join()");
  if (state_->joiner_) throw InvalidStateError("TaskGroup::join() awaited by two tasks");
  checked_ = true;
  if (task.cancel_requested()) state_->abort();  // then wait for the children all the same
  task_ = &task;
  state_->joiner_ = &task;
  task.suspend(this, awaiting);
  return true;
}

void TaskGroup::JoinAwaiter::await_resume() {
  state_->joined_ = true;
  if (!state_->errors_.empty()) throw ExceptionGroup(std::exchange(state_->errors_, {}));
  if (checked_) detail::running_task->throw_if_cancel_requested();
}

// The joining task was cancelled: cancel the children; child_done() wakes it once all are done.
void TaskGroup::JoinAwaiter::cancel_wait() {
  state_->abort();
}

}  // namespace ringloop
