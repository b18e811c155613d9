#pragma once
// Item storage for the queues: FIFO ring buffer, LIFO stack, priority heap. Each grows
// geometrically and reuses its memory, so a steady stream of items allocates nothing per item.

#include <algorithm>
#include <cstddef>
#include <functional>
#include <memory>
#include <utility>
#include <vector>

namespace ringloop::detail {

/// Growable circular buffer: O(1) push at the back and pop at the front.
template <class T>
class RingBuffer {
 public:
  RingBuffer() = default;
  RingBuffer(const RingBuffer&) = delete;
  RingBuffer& operator=(const RingBuffer&) = delete;
  ~RingBuffer() {
    while (size_ > 0)
      pop();
    std::allocator<T>().deallocate(items_, capacity_);
  }

  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  [[nodiscard]] bool empty() const noexcept { return size_ == 0; }

  template <class U>
  void push(U&& item) {
    if (size_ == capacity_) grow();
    std::construct_at(items_ + ((head_ + size_) & (capacity_ - 1)), std::forward<U>(item));
    ++size_;
  }

  /// Removes and returns the oldest item.
  T pop() {
    T* slot = items_ + head_;
    T item = std::move(*slot);
    std::destroy_at(slot);
    head_ = (head_ + 1) & (capacity_ - 1);
    --size_;
    return item;
  }

 private:
  void grow() {
    const std::size_t capacity = capacity_ ? capacity_ * 2 : 16;
    T* items = std::allocator<T>().allocate(capacity);
    for (std::size_t i = 0; i < size_; ++i) {
      T* from = items_ + ((head_ + i) & (capacity_ - 1));
      std::construct_at(items + i, std::move(*from));
      std::destroy_at(from);
    }
    std::allocator<T>().deallocate(items_, capacity_);
    items_ = items;
    capacity_ = capacity;
    head_ = 0;
  }

  T* items_ = nullptr;
  std::size_t capacity_ = 0;  // zero or a power of two
  std::size_t head_ = 0;
  std::size_t size_ = 0;
};

/// Last in, first out.
template <class T>
class Stack {
 public:
  [[nodiscard]] std::size_t size() const noexcept { return items_.size(); }
  [[nodiscard]] bool empty() const noexcept { return items_.empty(); }
  template <class U>
  void push(U&& item) {
    items_.push_back(std::forward<U>(item));
  }
  T pop() {
    T item = std::move(items_.back());
    items_.pop_back();
    return item;
  }

 private:
  std::vector<T> items_;
};

/// Smallest first according to `Less` (asyncio's PriorityQueue pops the lowest entry).
template <class T, class Less>
class MinHeap {
 public:
  [[nodiscard]] std::size_t size() const noexcept { return items_.size(); }
  [[nodiscard]] bool empty() const noexcept { return items_.empty(); }
  template <class U>
  void push(U&& item) {
    items_.push_back(std::forward<U>(item));
    std::push_heap(items_.begin(), items_.end(), Greater{});
  }
  T pop() {
    std::pop_heap(items_.begin(), items_.end(), Greater{});
    T item = std::move(items_.back());
    items_.pop_back();
    return item;
  }

 private:
  struct Greater {
    bool operator()(const T& a, const T& b) const { return Less{}(b, a); }
  };
  std::vector<T> items_;
};

}  // namespace ringloop::detail
