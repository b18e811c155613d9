#pragma once
// The runtime's private door into Loop internals (ready queue, timers, task bookkeeping).

#include <ringloop/detail/task_state.hpp>
#include <ringloop/runtime/loop.hpp>

namespace ringloop::detail {

struct LoopAccess {
  static ReadyQueue& ready(Loop& loop) noexcept { return loop.ready_; }
  static TimerHeap& timers(Loop& loop) noexcept { return loop.timers_; }
  static void link_future(Loop& loop, FutureBase& future) noexcept;
  static void unlink_future(Loop& loop, FutureBase& future) noexcept;
  /// Takes the loop's reference on a new task and lists it as pending.
  static void task_spawned(Loop& loop, TaskStateBase& task) noexcept;
  /// Unlists a finished task and drops the loop's reference (may destroy it).
  static void task_finished(Loop& loop, TaskStateBase& task) noexcept;
  /// Hands `item` to the loop from any thread; it runs on the loop thread soon.
  static void post_from_other_thread(Loop& loop, Runnable* item) noexcept {
    loop.post_from_other_thread(item, item);
  }
  /// Hands a chain (newest first, through next_ready, to `oldest`) to the loop in one post.
  static void post_chain_from_other_thread(Loop& loop, Runnable* newest,
                                           Runnable* oldest) noexcept {
    loop.post_from_other_thread(newest, oldest);
  }
  static std::atomic<std::size_t>& outstanding_offloads(Loop& loop) noexcept {
    return loop.outstanding_offloads_;
  }
  /// Lists `pool` for a wake-up at the end of this iteration (once per iteration).
  static void wake_pool_after_iteration(Loop& loop, OffloadPool& pool) {
    for (OffloadPool* listed : loop.pools_to_wake_) {
      if (listed == &pool) return;
    }
    loop.pools_to_wake_.push_back(&pool);
  }
};

}  // namespace ringloop::detail
