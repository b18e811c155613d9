#pragma once
// The building block of every waiting primitive (Queue, Lock, Event, Semaphore, Condition,
// Barrier): a FIFO of parked tasks, each node living in its awaiter inside the suspended frame.
// Waking a node hands it whatever it waited for (`granted`); cancelling a parked task unlinks it
// first, so a cancelled waiter can never be handed (and lose) an item, a lock or a permit.

#include <cassert>
#include <coroutine>

#include <ringloop/detail/intrusive_list.hpp>
#include <ringloop/detail/task_state.hpp>
#include <ringloop/runtime/future.hpp>

namespace ringloop::detail {

class WaitList;

/// One parked task. Embed it in an awaiter.
class ParkedTask final : public Suspension {
 public:
  ParkedTask() = default;
  ParkedTask(const ParkedTask&) = delete;
  ParkedTask& operator=(const ParkedTask&) = delete;
  /// A fresh node: awaiters move only before they are awaited (a factory's return, a combinator
  /// taking an awaitable into its own task), never while parked.
  ParkedTask([[maybe_unused]] ParkedTask&& other) noexcept : Suspension() {
    assert(!other.linked());
  }
  ~ParkedTask();

  /// Removes the task from its list and resumes it; it was not granted anything.
  void cancel_wait() override;

  /// After resumption: if nothing was granted, the task was cancelled: throw CancelledError. If
  /// something was granted, a cancellation that arrived meanwhile waits for the next await.
  void resume_or_throw() const {
    if (!granted) running_task->throw_if_cancel_requested();
  }

  /// Whether the task waits in a list now (not yet granted, cancelled or notified).
  [[nodiscard]] bool linked() const noexcept { return hook.linked(); }

  // Only the hook's flag and `granted` (sharing the hook's padding) are initialized up front: the
  // rest is written when the task parks, which keeps the awaiters of queue and lock fast paths (no
  // parking) cheap to construct.
  TaskStateBase* task;
  WaitList* list;
  void* context;  ///< free for the primitive (e.g. the getter's item slot)
  [[no_unique_address]] IntrusiveListHook<ParkedTask> hook;
  bool granted = false;
};

/// FIFO of parked tasks.
class WaitList {
 public:
  WaitList() = default;
  WaitList(const WaitList&) = delete;
  WaitList& operator=(const WaitList&) = delete;

  [[nodiscard]] bool empty() const noexcept { return tasks_.empty(); }
  [[nodiscard]] std::size_t size() const noexcept { return tasks_.size(); }
  [[nodiscard]] ParkedTask* front() const noexcept { return tasks_.front(); }

  /// Parks the running task at the back. Returns false (do not suspend) if a cancellation is
  /// already pending: the awaiter's resume_or_throw() then raises CancelledError.
  bool park(ParkedTask& node, std::coroutine_handle<> awaiting, const char* what) {
    TaskStateBase& task = require_running_task(what);
    node.granted = false;
    if (task.cancel_requested()) return false;
    node.task = &task;
    push_back(node);
    task.suspend(&node, awaiting);
    return true;
  }

  /// Unlinks the first parked task, marks it granted and makes it runnable. Null if none.
  ParkedTask* grant_first() noexcept {
    ParkedTask* first = tasks_.pop_front();
    if (first) {
      first->granted = true;
      first->task->wake();
    }
    return first;
  }

  /// Grants every parked task, in order; returns how many.
  std::size_t grant_all() noexcept {
    std::size_t count = 0;
    while (grant_first())
      ++count;
    return count;
  }

  /// Queues `node` at the back without parking anyone (Condition moves its waiters this way).
  void push_back(ParkedTask& node) noexcept {
    node.list = this;
    tasks_.push_back(node);
  }

  /// Takes `node` out of the line; nothing happens if it was already granted or removed.
  void remove(ParkedTask& node) noexcept { tasks_.remove(node); }

 private:
  IntrusiveList<ParkedTask, &ParkedTask::hook, true> tasks_;
};

inline ParkedTask::~ParkedTask() {
  if (linked()) list->remove(*this);
}

inline void ParkedTask::cancel_wait() {
  list->remove(*this);
  task->wake();
}

}  // namespace ringloop::detail
