// The loop's TimerHeap as a unit: FIFO order among equal deadlines (around cancellations too), a
// cancelled earliest timer never reported as the next deadline, tombstones bounded under many
// cancellations, compaction keeping the order, the size of a timer callback, and random
// add/cancel/pop sequences checked against a std::multimap model.

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <utility>
#include <vector>

#include <ringloop/detail/timer_heap.hpp>
#include <ringloop/runtime/handle.hpp>

namespace ringloop::testing {
namespace {

using detail::TimerEntry;
using detail::TimerHeap;
using std::chrono::milliseconds;

/// A timer that records its id when the test fires it.
class TestEntry final : public TimerEntry {
 public:
  explicit TestEntry(int id) : id(id) {}
  void fire() override {}
  const int id;
};

const TimePoint kStart = TimePoint(std::chrono::hours(1));

TimePoint at(std::int64_t ms) {
  return kStart + milliseconds(ms);
}

/// Ids in the order pop_due(now) hands the entries out.
std::vector<int> pop_all_due(TimerHeap& heap, TimePoint now = TimePoint::max()) {
  std::vector<int> ids;
  while (TimerEntry* entry = heap.pop_due(now))
    ids.push_back(static_cast<TestEntry*>(entry)->id);
  return ids;
}

std::vector<std::unique_ptr<TestEntry>> make_entries(int count) {
  std::vector<std::unique_ptr<TestEntry>> entries;
  for (int id = 0; id < count; ++id)
    entries.push_back(std::make_unique<TestEntry>(id));
  return entries;
}

TEST(TimerHeap, EqualDeadlinesPopInInsertionOrder) {
  TimerHeap heap;
  auto entries = make_entries(100);
  for (auto& entry : entries)
    heap.add(*entry, at(5));
  std::vector<int> expected;
  for (int id = 0; id < 100; ++id)
    expected.push_back(id);
  EXPECT_EQ(pop_all_due(heap), expected);
  EXPECT_TRUE(heap.empty());
}

TEST(TimerHeap, EqualDeadlinesStayInInsertionOrderAroundCancellations) {
  TimerHeap heap;
  auto entries = make_entries(40);
  // Earlier and later deadlines around the tied ones, so the ties sit inside the heap.
  for (int id = 0; id < 40; ++id)
    heap.add(*entries[id], id % 4 == 3 ? at(id) : at(10));
  std::vector<int> expected;
  for (int id = 0; id < 40; ++id) {
    if (id % 4 == 3) continue;
    if (id % 3 == 0) {
      EXPECT_TRUE(heap.remove(*entries[id]));
    } else {
      expected.push_back(id);
    }
  }
  std::vector<int> popped = pop_all_due(heap, at(10));
  // Entries with deadlines 3 and 7 come first (before 10), then the tied ones in order.
  ASSERT_GE(popped.size(), 2u);
  EXPECT_EQ(popped[0], 3);
  EXPECT_EQ(popped[1], 7);
  popped.erase(popped.begin(), popped.begin() + 2);
  EXPECT_EQ(popped, expected);
  // What is left: the deadlines after 10 (11, 15, ...), in order.
  EXPECT_EQ(pop_all_due(heap), (std::vector<int>{11, 15, 19, 23, 27, 31, 35, 39}));
}

TEST(TimerHeap, CancellingTheEarliestReportsTheNextLiveDeadline) {
  TimerHeap heap;
  auto entries = make_entries(4);
  heap.add(*entries[0], at(1));
  heap.add(*entries[1], at(2));
  heap.add(*entries[2], at(3));
  heap.add(*entries[3], at(4));
  EXPECT_TRUE(heap.remove(*entries[0]));
  EXPECT_TRUE(heap.remove(*entries[1]));
  EXPECT_EQ(heap.size(), 2u);
  EXPECT_EQ(heap.next_deadline(), at(3));
  EXPECT_EQ(heap.pop_due(at(2)), nullptr);
  EXPECT_EQ(pop_all_due(heap, at(3)), (std::vector<int>{2}));
  EXPECT_EQ(heap.next_deadline(), at(4));
}

TEST(TimerHeap, AHeapOfCancelledTimersIsEmpty) {
  TimerHeap heap;
  auto entries = make_entries(200);
  for (int id = 0; id < 200; ++id)
    heap.add(*entries[id], at(200 - id));  // the last added is the earliest
  for (int id = 0; id < 200; ++id)
    EXPECT_TRUE(heap.remove(*entries[id]));
  EXPECT_TRUE(heap.empty());
  EXPECT_EQ(heap.size(), 0u);
  EXPECT_EQ(heap.slot_count(), 0u);
  EXPECT_EQ(heap.pop_due(TimePoint::max()), nullptr);
}

TEST(TimerHeap, RemovingTwiceOrAFiredEntryReturnsFalse) {
  TimerHeap heap;
  TestEntry entry(1);
  TestEntry other(2);
  EXPECT_FALSE(heap.remove(entry));
  heap.add(entry, at(1));
  heap.add(other, at(2));
  EXPECT_TRUE(heap.remove(entry));
  EXPECT_FALSE(heap.remove(entry));
  EXPECT_EQ(heap.pop_due(at(2)), &other);
  EXPECT_FALSE(heap.remove(other));
  EXPECT_FALSE(other.in_heap());
}

TEST(TimerHeap, AnEntryKeepsItsDeadlineAfterItLeaves) {
  TimerHeap heap;
  TestEntry fired(1);
  TestEntry cancelled(2);
  TestEntry never(3);
  heap.add(fired, at(7));
  heap.add(cancelled, at(9));
  EXPECT_EQ(heap.deadline_of(fired), at(7));
  EXPECT_EQ(heap.deadline_of(cancelled), at(9));
  EXPECT_EQ(heap.pop_due(at(8)), &fired);
  heap.remove(cancelled);
  EXPECT_EQ(heap.deadline_of(fired), at(7));
  EXPECT_EQ(heap.deadline_of(cancelled), at(9));
  EXPECT_EQ(heap.deadline_of(never), TimePoint{});
}

TEST(TimerHeap, ACancelledEntryCanBeArmedAgain) {
  TimerHeap heap;
  auto entries = make_entries(3);
  heap.add(*entries[0], at(1));
  heap.add(*entries[1], at(2));
  heap.add(*entries[2], at(3));
  heap.remove(*entries[1]);
  heap.add(*entries[1], at(0));
  heap.remove(*entries[0]);
  heap.add(*entries[0], at(5));
  EXPECT_EQ(pop_all_due(heap), (std::vector<int>{1, 2, 0}));
}

TEST(TimerHeap, ManyCancellationsKeepTheSlotsBounded) {
  TimerHeap heap;
  auto live = make_entries(5);
  for (int id = 0; id < 5; ++id)
    heap.add(*live[id], at(1000 + id));
  std::mt19937 random(7);
  std::uniform_int_distribution<std::int64_t> delay(1, 5000);
  std::size_t most_slots = 0;
  for (int round = 0; round < 100'000; ++round) {
    // Destroyed right after its cancellation, as a sleeping task's awaiter is: the heap must not
    // touch it again (ASan would see it).
    auto entry = std::make_unique<TestEntry>(100 + round);
    heap.add(*entry, at(delay(random)));
    EXPECT_TRUE(heap.remove(*entry));
    most_slots = std::max(most_slots, heap.slot_count());
  }
  EXPECT_EQ(heap.size(), 5u);
  EXPECT_LE(most_slots, 5 + TimerHeap::kMinTombstones + 1);
  EXPECT_LE(heap.slot_count(), 5 + TimerHeap::kMinTombstones);
  EXPECT_EQ(pop_all_due(heap), (std::vector<int>{0, 1, 2, 3, 4}));
  EXPECT_EQ(heap.slot_count(), 0u);
}

TEST(TimerHeap, CompactionPreservesTheOrder) {
  TimerHeap heap;
  auto entries = make_entries(3000);
  std::mt19937 random(11);
  std::uniform_int_distribution<std::int64_t> deadline(1, 300);  // many ties
  std::multimap<TimePoint, int> model;                           // equal keys keep insertion order
  for (auto& entry : entries) {
    const TimePoint when = at(deadline(random));
    heap.add(*entry, when);
    model.emplace(when, entry->id);
  }
  // Cancel two thirds, not in heap order, so that tombstones pile up inside the heap and
  // trigger compactions (a tombstone count that drops while cancelling).
  std::size_t compactions = 0;
  std::size_t previous_tombstones = 0;
  for (auto& entry : entries) {
    if (entry->id % 3 == 0) continue;
    const TimePoint when = heap.deadline_of(*entry);
    ASSERT_TRUE(heap.remove(*entry));
    for (auto it = model.lower_bound(when); it != model.end(); ++it) {
      if (it->second == entry->id) {
        model.erase(it);
        break;
      }
    }
    if (heap.tombstone_count() == 0 && previous_tombstones >= TimerHeap::kMinTombstones)
      ++compactions;
    previous_tombstones = heap.tombstone_count();
    EXPECT_LE(heap.tombstone_count(), std::max(TimerHeap::kMinTombstones, heap.size() / 2));
  }
  EXPECT_GT(compactions, 0u);
  EXPECT_EQ(heap.size(), model.size());
  std::vector<int> expected;
  for (const auto& [when, id] : model)
    expected.push_back(id);
  EXPECT_EQ(pop_all_due(heap), expected);
}

// The memory budget of issue 12: an armed call_later() timer whose lambda holds two words costs
// at most 100 bytes with its heap slot (80 from malloc for the callback, 16 per slot).
TEST(TimerHeap, ATimerCallbackWithTwoCapturedWordsTakes72Bytes) {
  struct TwoWords {
    void* pointer;
    TimePoint when;
    void operator()() const {}
  };
  EXPECT_EQ(sizeof(TimerEntry), 24u);
  EXPECT_LE(sizeof(detail::Callback<TwoWords>), 72u);
}

// A random mix of add, cancel and pop_due, checked step by step against a multimap keyed by
// deadline (whose equal keys keep their insertion order, the FIFO the heap promises).
TEST(TimerHeap, RandomOperationsMatchAMultimapModel) {
  constexpr int kEntries = 2000;
  TimerHeap heap;
  auto entries = make_entries(kEntries);
  std::multimap<TimePoint, int> model;
  std::vector<std::multimap<TimePoint, int>::iterator> where(kEntries, model.end());
  std::mt19937 random(12345);
  std::uniform_int_distribution<int> pick(0, kEntries - 1);
  std::uniform_int_distribution<int> action(0, 9);
  std::uniform_int_distribution<std::int64_t> offset(0, 400);  // a narrow range: many ties
  std::int64_t now = 0;
  for (int step = 0; step < 200'000; ++step) {
    const int choice = action(random);
    if (choice < 5) {  // arm an idle entry
      const int id = pick(random);
      if (where[id] != model.end()) continue;
      const TimePoint when = at(now + offset(random));
      heap.add(*entries[id], when);
      where[id] = model.emplace(when, id);
    } else if (choice < 8) {  // cancel an entry (armed or not)
      const int id = pick(random);
      const bool armed = where[id] != model.end();
      ASSERT_EQ(heap.remove(*entries[id]), armed);
      if (armed) {
        model.erase(where[id]);
        where[id] = model.end();
      }
    } else {  // time passes; everything due pops in model order
      now += offset(random) / 20;
      for (;;) {
        TimerEntry* entry = heap.pop_due(at(now));
        const bool model_due = !model.empty() && model.begin()->first <= at(now);
        ASSERT_EQ(entry != nullptr, model_due) << "step " << step;
        if (!entry) break;
        const int id = static_cast<TestEntry*>(entry)->id;
        ASSERT_EQ(id, model.begin()->second) << "step " << step;
        model.erase(model.begin());
        where[id] = model.end();
      }
    }
    ASSERT_EQ(heap.size(), model.size()) << "step " << step;
    ASSERT_EQ(heap.empty(), model.empty());
    if (!model.empty()) {
      ASSERT_EQ(heap.next_deadline(), model.begin()->first) << "step " << step;
    }
  }
  std::vector<int> expected;
  for (const auto& [when, id] : model)
    expected.push_back(id);
  EXPECT_EQ(pop_all_due(heap), expected);
}

}  // namespace
}  // namespace ringloop::testing
