#pragma once
// The state of a spawned task (asyncio.Task): the root coroutine, where it is suspended, its
// cancellation request, and its outcome as a future. Internal to ringloop; users hold TaskHandle.

#include <coroutine>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include <ringloop/detail/ready_queue.hpp>
#include <ringloop/runtime/future.hpp>
#include <ringloop/runtime/task.hpp>

namespace ringloop::detail {

// Runnable comes first so the loop's hot virtual call to run() needs no this-adjusting thunk.
/// InvalidStateError for `operation` on a TaskRef or TaskHandle that refers to no task.
[[noreturn]] void throw_empty_task_handle(const char* operation);

/// InvalidStateError for spawn() of a Task that already ran (`finished`) or that `awaiting` (or
/// a coroutine outside any task, when null) is awaiting; `name` is the name given to spawn().
[[noreturn]] void throw_unspawnable(bool finished, const TaskStateBase* awaiting,
                                    const std::string& name);

class TaskStateBase : public Runnable, public FutureBase {
 public:
  TaskStateBase(Loop& loop, std::string name, std::coroutine_handle<> root);

  /// Requests cancellation: the task's current (or next) suspension raises CancelledError. What it
  /// waits on is cancelled too (timer removed, I/O cancelled in the backend, awaited task or future
  /// cancelled). Returns false if the task is already done. A body that returns without reaching
  /// another suspension finishes with its value: unlike asyncio, a produced value is never dropped.
  bool cancel() override;

  [[nodiscard]] std::string name() const;
  [[nodiscard]] std::uint64_t id() const noexcept { return id_; }
  [[nodiscard]] bool cancel_requested() const noexcept { return cancel_requested_; }
  /// Cancellation requests accepted by cancel() and not withdrawn by uncancel() (asyncio's
  /// Task.cancelling()): a timeout scope compares it with its value when the scope began to tell
  /// its own cancellation from someone else's.
  [[nodiscard]] std::uint32_t cancel_count() const noexcept { return cancel_count_; }
  /// Withdraws one cancellation request (asyncio's Task.uncancel()); returns how many remain. A
  /// request not delivered yet stays pending: withdraw_cancel_request() drops it.
  std::uint32_t uncancel() noexcept {
    if (cancel_count_ > 0) --cancel_count_;
    return cancel_count_;
  }
  /// Drops a cancellation request not delivered yet (a timeout scope taking back its own).
  void withdraw_cancel_request() noexcept { cancel_requested_ = false; }

  /// Consumes a pending cancellation request by throwing CancelledError at the current await.
  void throw_if_cancel_requested() {
    if (cancel_requested_) {
      cancel_requested_ = false;
      throw CancelledError{};
    }
  }

  /// Records where the task is parked and on what (null: nothing to cancel, e.g. yield_now).
  void suspend(Suspension* on, std::coroutine_handle<> resume_point) noexcept {
    suspension_ = on;
    resume_point_ = resume_point;
  }
  /// Makes a suspended task runnable in the next loop iteration.
  void wake() noexcept {
    suspension_ = nullptr;
    if (!queued_) {
      queued_ = true;
      ready_->push(this);
    }
  }
  /// The trampoline: the next coroutine frame this task's runner resumes.
  void set_next(std::coroutine_handle<> next) noexcept { next_ = next; }
  void root_finished() noexcept { root_finished_ = true; }

  ~TaskStateBase() override;
  void run() final;
  void discard() noexcept final { queued_ = false; }
  [[nodiscard]] std::string describe() const final;
  [[nodiscard]] std::string describe_owner() const final;
  [[nodiscard]] std::string task_name() const final { return name(); }
  /// The loop is closing with this task pending: destroy the coroutine, mark the task cancelled.
  void abandon() noexcept;

  /// In the loop's list of pending tasks (all_tasks(), and what a closing loop destroys).
  IntrusiveListHook<TaskStateBase> pending_hook;

 protected:
  /// Moves the root coroutine's value or exception into this future's storage; returns whether
  /// it finished, failed or was cancelled.
  virtual Status take_root_outcome() = 0;
  virtual void destroy_root() noexcept = 0;
  /// Stores an exception from the root coroutine: CancelledError means cancelled.
  Status store_failure(std::exception_ptr error);

 private:
  void finish(Status status);

  ReadyQueue* ready_;
  std::coroutine_handle<> resume_point_;
  std::coroutine_handle<> next_;
  Suspension* suspension_ = nullptr;
  std::uint64_t id_;
  // Null for the default name, "Task-<id>", made only when asked for (8 bytes, not 32).
  std::unique_ptr<const std::string> name_;
  std::uint32_t cancel_count_ = 0;
  bool cancel_requested_ = false;
  bool queued_ = false;
  bool started_ = false;
  bool root_finished_ = false;
};

template <class T>
class TaskState final : public TaskStateBase, public ValueSlot<T> {
 public:
  /// Takes `body` only once it is known to be spawnable: a refused Task stays with its owner (a
  /// task awaiting it must keep its frame).
  TaskState(Loop& loop, std::string name, Task<T>&& body)
      : TaskStateBase(loop, checked(body, std::move(name)), body.coroutine()),
        body_(std::move(body)) {}

 private:
  static std::string checked(const Task<T>& body, std::string name) {
    if (!body.valid()) throw InvalidStateError("spawn() of an empty ringloop::Task");
    const TaskPromiseBase& promise = body.coroutine().promise();
    // Resuming a finished frame is undefined behaviour; resuming an awaited one from a second
    // task leaves its awaiter waiting forever.
    if (body.coroutine().done() || promise.continuation_)
      throw_unspawnable(body.coroutine().done(), promise.awaiting_task_, name);
    return name;
  }
  Status take_root_outcome() override {
    auto& promise = body_.coroutine().promise();
    if (promise.exception_) return store_failure(promise.exception_);
    if constexpr (!std::is_void_v<T>) this->value.emplace(std::move(*promise.value_));
    return Status::finished;
  }
  void destroy_root() noexcept override { body_ = Task<T>(); }
  Task<T> body_;
};

}  // namespace ringloop::detail
