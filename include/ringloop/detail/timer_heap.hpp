#pragma once
// The loop's timers: a min-heap on (deadline, insertion order) with O(log n) insert and cancel.
// Equal deadlines fire in the order they were scheduled, as libuv and asyncio do.

#include <cstdint>

#include <ringloop/detail/intrusive_heap.hpp>
#include <ringloop/runtime/clock.hpp>

namespace ringloop::detail {

/// A pending timer; embedded in what waits on it (a sleeping task's awaiter, a callback handle).
class TimerEntry : public HeapNode {
 public:
  TimePoint deadline{};
  std::uint64_t sequence = 0;
  /// Called by the loop when the deadline has passed; the entry is already out of the heap.
  virtual void fire() = 0;

 protected:
  ~TimerEntry() = default;
};

struct TimerOrder {
  bool operator()(const TimerEntry* a, const TimerEntry* b) const noexcept {
    return a->deadline < b->deadline || (a->deadline == b->deadline && a->sequence < b->sequence);
  }
};

/// The heap of pending timers.
class TimerHeap {
 public:
  void add(TimerEntry& entry, TimePoint deadline) {
    entry.deadline = deadline;
    entry.sequence = next_sequence_++;
    heap_.push(&entry);
  }
  bool remove(TimerEntry& entry) noexcept { return heap_.erase(&entry); }
  [[nodiscard]] bool empty() const noexcept { return heap_.empty(); }
  [[nodiscard]] std::size_t size() const noexcept { return heap_.size(); }
  [[nodiscard]] TimePoint next_deadline() const noexcept { return heap_.top()->deadline; }
  /// Removes and returns the earliest entry if it is due at `now`, else nullptr.
  TimerEntry* pop_due(TimePoint now) noexcept {
    TimerEntry* first = heap_.top();
    if (first == nullptr || first->deadline > now) return nullptr;
    heap_.erase(first);
    return first;
  }

 private:
  IntrusiveHeap<TimerEntry, TimerOrder> heap_;
  std::uint64_t next_sequence_ = 0;
};

}  // namespace ringloop::detail
