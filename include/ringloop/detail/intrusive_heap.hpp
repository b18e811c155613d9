#pragma once
// A binary min-heap of pointers whose elements remember their own slot, so that erasing any
// element is O(log n) without searching. Used by the epoll backend's timeout operations (the
// loop's timers have their own TimerHeap, which keeps deadlines in its slots); nothing is
// allocated per element beyond the vector's amortized growth.

#include <cstddef>
#include <utility>
#include <vector>

namespace ringloop::detail {

/// Base for elements of an IntrusiveHeap: the heap keeps `heap_index` current.
struct HeapNode {
  static constexpr std::size_t kNotInHeap = static_cast<std::size_t>(-1);
  std::size_t heap_index = kNotInHeap;
  [[nodiscard]] bool in_heap() const noexcept { return heap_index != kNotInHeap; }
};

/// Min-heap of `T*` (T derives from HeapNode) ordered by `Less`, with O(log n) erase.
template <class T, class Less>
class IntrusiveHeap {
 public:
  [[nodiscard]] bool empty() const noexcept { return items_.empty(); }
  [[nodiscard]] std::size_t size() const noexcept { return items_.size(); }
  [[nodiscard]] T* top() const noexcept { return items_.empty() ? nullptr : items_.front(); }

  void push(T* item) {
    item->heap_index = items_.size();
    items_.push_back(item);
    sift_up(item->heap_index);
  }

  T* pop() {
    T* first = items_.front();
    erase(first);
    return first;
  }

  /// Removes `item` if it is in the heap; returns whether it was.
  bool erase(T* item) noexcept {
    if (!item->in_heap()) return false;
    const std::size_t index = item->heap_index;
    T* last = items_.back();
    items_.pop_back();
    item->heap_index = HeapNode::kNotInHeap;
    if (last != item) {
      place(index, last);
      sift_down(index);
      sift_up(last->heap_index);
    }
    return true;
  }

  /// Unlinks every element without touching their memory afterwards.
  void clear() noexcept {
    for (T* item : items_)
      item->heap_index = HeapNode::kNotInHeap;
    items_.clear();
  }

 private:
  void place(std::size_t index, T* item) noexcept {
    items_[index] = item;
    item->heap_index = index;
  }

  void sift_up(std::size_t index) noexcept {
    T* item = items_[index];
    while (index > 0) {
      const std::size_t parent = (index - 1) / 2;
      if (!Less{}(item, items_[parent])) break;
      place(index, items_[parent]);
      index = parent;
    }
    place(index, item);
  }

  void sift_down(std::size_t index) noexcept {
    T* item = items_[index];
    const std::size_t count = items_.size();
    for (;;) {
      std::size_t child = 2 * index + 1;
      if (child >= count) break;
      if (child + 1 < count && Less{}(items_[child + 1], items_[child])) ++child;
      if (!Less{}(items_[child], item)) break;
      place(index, items_[child]);
      index = child;
    }
    place(index, item);
  }

  std::vector<T*> items_;
};

}  // namespace ringloop::detail
