#pragma once
// TaskGroup: structured concurrency (asyncio.TaskGroup).
//
//   TaskGroup group;
//   auto user = group.spawn(fetch_user(id));
//   group.spawn(log_visit(id));
//   co_await group.join();   // all children done; ExceptionGroup if any failed
//   use(user.result());
//
// join() returns when every child is done, including children spawned while it waits. The first
// child to fail cancels all the others; join() then raises one ExceptionGroup carrying every
// failure (cancellations are not failures). Cancelling the task awaiting join() cancels the
// children; join() still waits for them all, then raises CancelledError (or the ExceptionGroup,
// which takes precedence; the cancellation then stays requested for the task's next await).
// Once join() has returned, or while the group is shutting down after a failure, spawn() throws
// InvalidStateError.
//
// Unlike asyncio, a child's failure does not also cancel the parent's own code: it surfaces at
// join(). Destroying a group whose children are still running (join() never awaited, or the parent
// unwound past it) cancels them without waiting; a failure the group collected but join() did not
// deliver goes to the loop's exception handler.

#include <coroutine>
#include <cstdint>
#include <exception>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <ringloop/detail/ref_counted.hpp>
#include <ringloop/runtime/future.hpp>
#include <ringloop/runtime/loop.hpp>
#include <ringloop/runtime/task.hpp>
#include <ringloop/runtime/task_handle.hpp>

namespace ringloop {

/// Several failures reported together (Python's ExceptionGroup): what TaskGroup::join() throws
/// when children failed, one exception_ptr per failed child, in the order they failed.
class ExceptionGroup : public std::runtime_error {
 public:
  explicit ExceptionGroup(std::vector<std::exception_ptr> exceptions);
  /// The failures (never empty, never a CancelledError).
  [[nodiscard]] const std::vector<std::exception_ptr>& exceptions() const noexcept {
    return *exceptions_;
  }

 private:
  // Shared so that copying the exception object cannot throw.
  std::shared_ptr<const std::vector<std::exception_ptr>> exceptions_;
};

class TaskGroup;

namespace detail {

/// What a TaskGroup shares with its children's done callbacks, which can outlive the group.
class TaskGroupState final : public RefCounted {
 public:
  explicit TaskGroupState(Loop& loop) : loop_(&loop) {}

  [[nodiscard]] Loop& loop() const noexcept { return *loop_; }
  /// InvalidStateError if the group takes no more children.
  void check_accepting() const;
  /// Lists a newly spawned child and follows it with a done callback.
  void adopt(TaskRef child);
  /// Cancels every child still running (first failure, cancelled join, destroyed group).
  void abort();

 private:
  friend class ringloop::TaskGroup;
  void child_done(std::uint32_t slot);

  Loop* loop_;
  std::vector<TaskRef> children_;           // slots; an empty TaskRef is a free slot
  std::vector<std::uint32_t> free_slots_;   // reused so a long-lived group stays small
  std::size_t running_ = 0;                 // children whose done callback has not run
  std::vector<std::exception_ptr> errors_;  // collected, not yet delivered by join()
  TaskStateBase* joiner_ = nullptr;         // the task parked in join()
  bool aborting_ = false;
  bool joined_ = false;
  bool orphaned_ = false;  // the TaskGroup object is gone: nobody will collect failures
};

}  // namespace detail

/// A scope owning the tasks spawned into it (see the top of this header). Lives in the frame of
/// the task that joins it; neither copyable nor movable.
class TaskGroup {
 public:
  /// An empty group on the current thread's loop.
  TaskGroup();
  /// Cancels children still running (without waiting) and reports undelivered failures.
  ~TaskGroup();
  TaskGroup(const TaskGroup&) = delete;
  TaskGroup& operator=(const TaskGroup&) = delete;

  /// Spawns `task` as a child of the group; InvalidStateError once joined or shutting down.
  template <class T>
  TaskHandle<T> spawn(Task<T> task, std::string name = {}) {
    state_->check_accepting();
    TaskHandle<T> child = state_->loop().spawn(std::move(task), std::move(name));
    state_->adopt(child);
    return child;
  }

  /// Awaiter of join().
  class [[nodiscard]] JoinAwaiter final : public detail::Suspension {
   public:
    explicit JoinAwaiter(detail::TaskGroupState& state) noexcept : state_(&state) {}
    JoinAwaiter(const JoinAwaiter&) = delete;
    JoinAwaiter& operator=(const JoinAwaiter&) = delete;
    ~JoinAwaiter();
    [[nodiscard]] bool await_ready() const noexcept { return state_->running_ == 0; }
    bool await_suspend(std::coroutine_handle<> awaiting);
    void await_resume();
    void cancel_wait() override;

   private:
    detail::TaskGroupState* state_;
    detail::TaskStateBase* task_ = nullptr;
    bool checked_ = false;
  };

  /// co_await: waits until every child is done; ExceptionGroup if any failed, CancelledError if
  /// the awaiting task was cancelled meanwhile. May be awaited once.
  [[nodiscard]] JoinAwaiter join();

  /// Children not finished yet (a child counts until the group has processed its completion,
  /// one loop iteration after it finishes).
  [[nodiscard]] std::size_t running() const noexcept { return state_->running_; }

 private:
  detail::IntrusivePtr<detail::TaskGroupState> state_;
};

}  // namespace ringloop
