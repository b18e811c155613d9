#pragma once
// The loop's timers: a 4-ary min-heap on (deadline, insertion order) that stores each deadline in
// its slot next to the entry pointer, so ordering reads only the heap's own memory (one cache line
// holds a node's four children) instead of chasing a pointer per comparison. Equal deadlines fire
// in the order they were scheduled, as libuv and asyncio do.
//
// Cancelling is lazy: the slot becomes a tombstone in O(1), without sifting. Tombstones are popped
// as soon as they reach the top (so the top is always a live timer), a cancelled last slot is
// simply dropped, and the heap is compacted in O(n) once they outnumber max(64, live / 2), so
// cancelled timers cost bounded memory and O(1) amortized time. The heap never touches a cancelled
// entry's memory again: a sleeping task's awaiter is destroyed right after it cancels its timer.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include <ringloop/detail/cache_line_allocator.hpp>
#include <ringloop/runtime/clock.hpp>

namespace ringloop::detail {

class TimerHeap;

/// A pending timer; embedded in what waits on it (a sleeping task's awaiter, a callback handle).
/// Its deadline lives in the heap slot while it is armed and comes back into the entry when it
/// leaves the heap, so an entry costs 24 bytes with its vtable pointer.
class TimerEntry {
 public:
  /// Called by the loop when the deadline has passed; the entry is already out of the heap.
  virtual void fire() = 0;
  /// Whether the entry is armed (in a heap).
  [[nodiscard]] bool in_heap() const noexcept { return heap_index_ != kNotInHeap; }
  /// The deadline the entry had when it last left the heap (fired or cancelled); the clock's
  /// epoch if it was never armed. Only meaningful while !in_heap() (see TimerHeap::deadline_of).
  [[nodiscard]] TimePoint last_deadline() const noexcept {
    return TimePoint(Duration(static_cast<Duration::rep>(sequence_or_deadline_)));
  }

 protected:
  TimerEntry() = default;
  TimerEntry(const TimerEntry&) = delete;
  TimerEntry& operator=(const TimerEntry&) = delete;
  ~TimerEntry() = default;

 private:
  friend class TimerHeap;
  static constexpr std::uint32_t kNotInHeap = UINT32_MAX;
  // While armed: the insertion sequence that orders equal deadlines (the slot holds the deadline).
  // Out of the heap: the deadline's count, for Handle::when(). One field serves both.
  std::uint64_t sequence_or_deadline_ = 0;
  std::uint32_t heap_index_ = kNotInHeap;
};

/// The heap of pending timers. size() and empty() count live timers only; the tombstones that
/// cancellations leave behind are visible to tests through slot_count().
class TimerHeap {
 public:
  /// Children per node: four 16-byte slots fill one 64-byte cache line.
  static constexpr std::size_t kArity = 4;
  /// Tombstones always allowed before a compaction (so small heaps do not compact constantly).
  static constexpr std::size_t kMinTombstones = 64;

  TimerHeap() = default;
  TimerHeap(const TimerHeap&) = delete;
  TimerHeap& operator=(const TimerHeap&) = delete;

  /// Arms `entry` (not in any heap) for `deadline`; amortized O(log n), no allocation per timer
  /// beyond the slot array's growth.
  void add(TimerEntry& entry, TimePoint deadline) {
    if (storage_.empty()) [[unlikely]] {
      // A power of two, so that doubling keeps the capacity one (1M timers: 2^20 slots, 16 MiB).
      storage_.reserve(kInitialCapacity);
      storage_.resize(kRootPosition);
    }
    entry.sequence_or_deadline_ = next_sequence_++;
    storage_.push_back({deadline, reinterpret_cast<std::uintptr_t>(&entry)});
    ++live_;
    sift_up(static_cast<std::uint32_t>(storage_.size() - 1 - kRootPosition));
  }

  /// Disarms `entry` if it is armed here, leaving a tombstone; returns whether it was armed. The
  /// entry may be destroyed right after: the heap keeps nothing pointing to it.
  bool remove(TimerEntry& entry) noexcept {
    if (!entry.in_heap()) return false;
    const std::uint32_t index = entry.heap_index_;
    Slot& slot = slots()[index];
    if (index + 1 == count()) {
      // The last slot (often a timer cancelled right after it was added): dropping it keeps the
      // heap valid, so it leaves no tombstone; nor do the tombstones it was hiding at the end.
      take_out(entry, slot.deadline);
      storage_.pop_back();
      drop_tombstones_at_end();
      return true;
    }
    slot.entry_or_sequence = (entry.sequence_or_deadline_ << 1) | kTombstoneBit;
    take_out(entry, slot.deadline);
    ++tombstones_;
    if (index == 0) {
      drop_tombstones_at_top();
    } else if (tombstones_ > std::max(kMinTombstones, live_ / 2)) {
      compact();
    }
    return true;
  }

  /// Whether no timer is armed (tombstones do not count).
  [[nodiscard]] bool empty() const noexcept { return live_ == 0; }
  /// Armed timers (tombstones do not count).
  [[nodiscard]] std::size_t size() const noexcept { return live_; }
  /// Slots in use, tombstones included: what cancellations cost in memory (for tests).
  [[nodiscard]] std::size_t slot_count() const noexcept { return live_ + tombstones_; }
  /// Cancelled timers whose slots have not been reclaimed yet (for tests).
  [[nodiscard]] std::size_t tombstone_count() const noexcept { return tombstones_; }

  /// The earliest armed deadline; the heap must not be empty(). Never a cancelled timer's.
  [[nodiscard]] TimePoint next_deadline() const noexcept { return slots()[0].deadline; }

  /// When `entry` is due: its slot's deadline while armed, else the one it last had.
  [[nodiscard]] TimePoint deadline_of(const TimerEntry& entry) const noexcept {
    return entry.in_heap() ? slots()[entry.heap_index_].deadline : entry.last_deadline();
  }

  /// Removes and returns the earliest entry if it is due at `now`, else nullptr.
  TimerEntry* pop_due(TimePoint now) noexcept {
    if (live_ == 0) return nullptr;
    const Slot top = slots()[0];
    if (top.deadline > now) return nullptr;
    TimerEntry* entry = entry_of(top);
    take_out(*entry, top.deadline);
    remove_top();
    drop_tombstones_at_top();
    return entry;
  }

 private:
  // A deadline and either the armed entry (an aligned pointer, low bit clear) or, for a tombstone,
  // the cancelled entry's sequence shifted left with the low bit set: a tombstone keeps its exact
  // place in the order, so the heap stays valid without sifting it.
  struct Slot {
    TimePoint deadline;
    std::uintptr_t entry_or_sequence;
  };
  static_assert(sizeof(Slot) * kArity == kCacheLineBytes);
  static_assert(alignof(TimerEntry) > 1, "an entry's address leaves the tombstone bit clear");
  static constexpr std::uintptr_t kTombstoneBit = 1;
  // Heap index i is stored at storage_[i + kRootPosition]: the children 4i+1 .. 4i+4 of every node
  // then start on a multiple of four slots, that is on a cache line of the aligned buffer.
  static constexpr std::size_t kRootPosition = kArity - 1;
  static constexpr std::size_t kInitialCapacity = 64;

  static bool is_tombstone(const Slot& slot) noexcept {
    return (slot.entry_or_sequence & kTombstoneBit) != 0;
  }
  static TimerEntry* entry_of(const Slot& slot) noexcept {
    return reinterpret_cast<TimerEntry*>(slot.entry_or_sequence);
  }
  static std::uint64_t sequence_of(const Slot& slot) noexcept {
    return is_tombstone(slot) ? slot.entry_or_sequence >> 1 : entry_of(slot)->sequence_or_deadline_;
  }
  // The heap order. Equal deadlines are rare (they are nanoseconds), so the entry's sequence is
  // read only then.
  static bool earlier(const Slot& a, const Slot& b) noexcept {
    return a.deadline < b.deadline || (a.deadline == b.deadline && sequence_of(a) < sequence_of(b));
  }

  Slot* slots() noexcept { return storage_.data() + kRootPosition; }
  const Slot* slots() const noexcept { return storage_.data() + kRootPosition; }
  std::uint32_t count() const noexcept { return static_cast<std::uint32_t>(live_ + tombstones_); }

  // The entry leaves the heap: it keeps its deadline for Handle::when().
  void take_out(TimerEntry& entry, TimePoint deadline) noexcept {
    entry.sequence_or_deadline_ = static_cast<std::uint64_t>(deadline.time_since_epoch().count());
    entry.heap_index_ = TimerEntry::kNotInHeap;
    --live_;
  }

  // Writes `slot` at `index` and tells a live entry where it now is.
  void place(Slot* base, std::uint32_t index, const Slot& slot) noexcept {
    base[index] = slot;
    if (!is_tombstone(slot)) entry_of(slot)->heap_index_ = index;
  }

  // Moves the new live slot at `index` up to its place.
  void sift_up(std::uint32_t index) noexcept {
    Slot* const base = slots();
    const Slot moving = base[index];
    while (index > 0) {
      const std::uint32_t parent = (index - 1) / kArity;
      if (!earlier(moving, base[parent])) break;
      place(base, index, base[parent]);
      index = parent;
    }
    base[index] = moving;
    entry_of(moving)->heap_index_ = index;
  }

  // The earliest of the children first .. end-1 (at least one).
  static std::size_t earliest_child(const Slot* base, std::size_t first, std::size_t end) noexcept {
    if (first + kArity <= end) {  // a full group: a tournament of three comparisons
      const std::size_t left = earlier(base[first + 1], base[first]) ? first + 1 : first;
      const std::size_t right = earlier(base[first + 3], base[first + 2]) ? first + 3 : first + 2;
      return earlier(base[right], base[left]) ? right : left;
    }
    std::size_t best = first;
    for (std::size_t child = first + 1; child < end; ++child) {
      if (earlier(base[child], base[best])) best = child;
    }
    return best;
  }

  void sift_down(std::uint32_t index, const Slot moving) noexcept {
    Slot* const base = slots();
    const std::size_t end = count();
    for (;;) {
      const std::size_t first = kArity * std::size_t{index} + 1;
      if (first >= end) break;
      const std::size_t best = earliest_child(base, first, end);
      if (!earlier(base[best], moving)) break;
      place(base, index, base[best]);
      index = static_cast<std::uint32_t>(best);
    }
    place(base, index, moving);
  }

  // Removes slot 0 (already accounted for in live_ or tombstones_). The hole left at the top
  // goes down to a leaf along the earliest children, and the last slot moves up from there
  // (Floyd's variant: it belongs near the bottom, so this saves a comparison per level).
  void remove_top() noexcept {
    const Slot last = storage_.back();
    storage_.pop_back();
    const std::size_t end = count();
    if (end == 0) return;
    Slot* const base = slots();
    std::uint32_t hole = 0;
    for (;;) {
      const std::size_t first = kArity * std::size_t{hole} + 1;
      if (first >= end) break;
      const std::size_t best = earliest_child(base, first, end);
      place(base, hole, base[best]);
      hole = static_cast<std::uint32_t>(best);
    }
    while (hole > 0) {
      const std::uint32_t parent = (hole - 1) / kArity;
      if (!earlier(last, base[parent])) break;
      place(base, hole, base[parent]);
      hole = parent;
    }
    place(base, hole, last);
  }

  // Keeps the top a live timer, so next_deadline() and pop_due() never see a tombstone.
  void drop_tombstones_at_top() noexcept {
    while (tombstones_ > 0 && count() > 0 && is_tombstone(slots()[0])) {
      --tombstones_;
      remove_top();
    }
  }

  // Removing trailing slots never breaks the heap order.
  void drop_tombstones_at_end() noexcept {
    while (tombstones_ > 0 && is_tombstone(storage_.back())) {
      --tombstones_;
      storage_.pop_back();
    }
  }

  // Drops every tombstone and rebuilds the heap in O(n) (Floyd); the order is unchanged, since
  // (deadline, sequence) is a total order.
  void compact() noexcept;

  std::vector<Slot, CacheLineAllocator<Slot>> storage_;
  std::size_t live_ = 0;
  std::size_t tombstones_ = 0;
  std::uint64_t next_sequence_ = 0;
};

inline void TimerHeap::compact() noexcept {
  Slot* const base = slots();
  const std::uint32_t total = count();
  std::uint32_t kept = 0;
  for (std::uint32_t index = 0; index < total; ++index) {
    if (!is_tombstone(base[index])) place(base, kept++, base[index]);
  }
  storage_.resize(kept + kRootPosition);
  tombstones_ = 0;
  if (kept < 2) return;
  for (std::uint32_t index = (kept - 2) / kArity + 1; index-- > 0;)
    sift_down(index, base[index]);
}

}  // namespace ringloop::detail
