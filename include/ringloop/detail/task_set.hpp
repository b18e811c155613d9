#pragma once
// A fixed set of running tasks followed by gather(), wait() and as_completed(): one done callback
// per task records the order in which they finish, and one task at a time can wait for the next
// completion, with an optional deadline. Reference counted: the callbacks of tasks still running
// keep the set alive after the combinator that made it has returned.

#include <coroutine>
#include <cstddef>
#include <optional>
#include <vector>

#include <ringloop/detail/ref_counted.hpp>
#include <ringloop/runtime/clock.hpp>
#include <ringloop/runtime/deadline_timer.hpp>
#include <ringloop/runtime/future.hpp>
#include <ringloop/runtime/task_handle.hpp>

namespace ringloop::detail {

class TaskSet final : public RefCounted {
 public:
  /// Starts following `tasks` (an index is a position in it). Tasks already done count as
  /// finished at once, in order; the others report through a done callback each.
  static IntrusivePtr<TaskSet> follow(std::vector<TaskRef> tasks);

  [[nodiscard]] std::size_t size() const noexcept { return tasks_.size(); }
  [[nodiscard]] TaskRef& operator[](std::size_t index) noexcept { return tasks_[index]; }
  /// How many completions have been recorded.
  [[nodiscard]] std::size_t finished() const noexcept { return finished_.size(); }
  /// How many recorded completions next() has handed out.
  [[nodiscard]] std::size_t taken() const noexcept { return taken_; }

  /// Requests the cancellation of every task not done yet.
  void cancel_unfinished();
  /// The owner no longer reads the outcomes: failures of the tasks, now and as they finish, are
  /// marked retrieved, so that only the error the owner propagated is reported (what asyncio's
  /// gather does with the children it did not wait for).
  void absorb_failures();

  class NextAwaiter;
  /// co_await: the index of the next completion in finishing order; nullopt once `deadline`
  /// passed with none. Raises CancelledError if the waiting task is cancelled (the tasks are left
  /// alone). Allocates nothing.
  [[nodiscard]] NextAwaiter next(std::optional<TimePoint> deadline = std::nullopt) noexcept;

 private:
  explicit TaskSet(std::vector<TaskRef> tasks);
  void record(std::size_t index);

  std::vector<TaskRef> tasks_;
  std::vector<std::size_t> finished_;  // indices in completion order
  std::size_t taken_ = 0;
  NextAwaiter* parked_ = nullptr;
  bool absorbing_ = false;
};

/// Awaiter of TaskSet::next(); lives in the waiting frame.
class [[nodiscard]] TaskSet::NextAwaiter final : public Suspension, public DeadlineTimer {
 public:
  NextAwaiter(TaskSet& set, std::optional<TimePoint> deadline) noexcept
      : set_(&set), deadline_(deadline) {}
  NextAwaiter(const NextAwaiter&) = delete;
  NextAwaiter& operator=(const NextAwaiter&) = delete;
  ~NextAwaiter();

  [[nodiscard]] bool await_ready() const noexcept { return set_->taken_ < set_->finished_.size(); }
  bool await_suspend(std::coroutine_handle<> awaiting);
  std::optional<std::size_t> await_resume();

  void cancel_wait() override;
  void fire() override;

 private:
  friend class TaskSet;
  void unpark() noexcept;

  TaskSet* set_;
  std::optional<TimePoint> deadline_;
  TaskStateBase* task_ = nullptr;
  bool checked_ = false;  // went through await_suspend: a pending cancellation is raised on resume
};

inline TaskSet::NextAwaiter TaskSet::next(std::optional<TimePoint> deadline) noexcept {
  return NextAwaiter(*this, deadline);
}

}  // namespace ringloop::detail
