#pragma once
// asyncio's queues: Queue (FIFO), LifoQueue, PriorityQueue, with put/get that wait, try_put/
// try_get that don't, and task_done/join. A put that finds a getter waiting hands the item
// straight into the getter's awaiter; waiters are served in FIFO order; a cancelled waiter is
// unlinked before anything is handed to it, so it can never swallow an item.

#include <coroutine>
#include <cstddef>
#include <functional>
#include <optional>
#include <stdexcept>
#include <utility>

#include <ringloop/detail/queue_storage.hpp>
#include <ringloop/detail/wait_list.hpp>
#include <ringloop/runtime/errors.hpp>

namespace ringloop {

/// A queue of T over `Storage` (see Queue, LifoQueue, PriorityQueue). Loop-thread only.
template <class T, class Storage>
class BasicQueue {
 public:
  /// `max_size` 0 means unbounded (asyncio's default).
  explicit BasicQueue(std::size_t max_size = 0) noexcept : max_size_(max_size) {}
  BasicQueue(const BasicQueue&) = delete;
  BasicQueue& operator=(const BasicQueue&) = delete;

  [[nodiscard]] std::size_t size() const noexcept { return items_.size(); }
  [[nodiscard]] std::size_t max_size() const noexcept { return max_size_; }
  [[nodiscard]] bool empty() const noexcept { return items_.empty(); }
  [[nodiscard]] bool full() const noexcept { return max_size_ != 0 && items_.size() >= max_size_; }

  class PutAwaiter;
  class GetAwaiter;

  /// Adds `item`, waiting while the queue is full. co_await it.
  [[nodiscard]] PutAwaiter put(T item) { return PutAwaiter(this, std::move(item)); }
  /// Removes and gives the next item, waiting while the queue is empty. co_await it.
  [[nodiscard]] GetAwaiter get() noexcept { return GetAwaiter(this); }

  /// Adds `item` if there is room (moving from it only then); returns whether it did.
  bool try_put(T&& item) {
    if (full()) return false;
    place(std::move(item));
    return true;
  }
  bool try_put(const T& item) {
    if (full()) return false;
    place(T(item));
    return true;
  }
  /// Removes and returns the next item, or nothing when the queue is empty.
  std::optional<T> try_get() {
    if (items_.empty()) return std::nullopt;
    return take();
  }

  /// Marks one item taken with get() as processed (see join()).
  void task_done() {
    if (unfinished_ == 0) {
      throw InvalidStateError("Queue::task_done() called more times than items were put");
    }
    if (--unfinished_ == 0) joiners_.grant_all();
  }

  class JoinAwaiter;
  /// Waits until every item put has been marked task_done().
  [[nodiscard]] JoinAwaiter join() noexcept { return JoinAwaiter(this); }

  class [[nodiscard]] PutAwaiter {
   public:
    PutAwaiter(BasicQueue* queue, T item) : queue_(queue), item_(std::move(item)) {}
    bool await_ready() {
      if (queue_->full()) return false;
      queue_->place(std::move(item_));
      return true;
    }
    bool await_suspend(std::coroutine_handle<> awaiting) {
      node_.context = &item_;
      return queue_->putters_.park(node_, awaiting, "Queue::put()");
    }
    // Granted means a getter moved our item into the queue.
    void await_resume() const { node_.resume_or_throw(); }

   private:
    BasicQueue* queue_;
    T item_;
    detail::ParkedTask node_;
  };

  class [[nodiscard]] GetAwaiter {
   public:
    explicit GetAwaiter(BasicQueue* queue) noexcept : queue_(queue) {}
    bool await_ready() {
      if (queue_->items_.empty()) return false;
      item_.emplace(queue_->take());
      return true;
    }
    bool await_suspend(std::coroutine_handle<> awaiting) {
      node_.context = &item_;
      return queue_->getters_.park(node_, awaiting, "Queue::get()");
    }
    // Granted means a putter handed us an item: we return it even if a cancellation arrived
    // meanwhile (it is then delivered at our next await), so no item is ever lost.
    T await_resume() {
      if (!item_) node_.resume_or_throw();
      return std::move(*item_);
    }

   private:
    BasicQueue* queue_;
    std::optional<T> item_;
    detail::ParkedTask node_;
  };

  class [[nodiscard]] JoinAwaiter {
   public:
    explicit JoinAwaiter(BasicQueue* queue) noexcept : queue_(queue) {}
    bool await_ready() const noexcept { return queue_->unfinished_ == 0; }
    bool await_suspend(std::coroutine_handle<> awaiting) {
      return queue_->joiners_.park(node_, awaiting, "Queue::join()");
    }
    void await_resume() const { node_.resume_or_throw(); }

   private:
    BasicQueue* queue_;
    detail::ParkedTask node_;
  };

 private:
  // Adds an item that fits: straight to the first waiting getter, else into storage.
  void place(T&& item) {
    ++unfinished_;
    if (detail::ParkedTask* getter = getters_.front()) {
      static_cast<std::optional<T>*>(getter->context)->emplace(std::move(item));
      getters_.grant_first();
      return;
    }
    items_.push(std::move(item));
  }

  // Takes the next stored item and lets the first waiting putter fill the freed slot.
  T take() {
    T item = items_.pop();
    if (detail::ParkedTask* putter = putters_.front()) {
      items_.push(std::move(*static_cast<T*>(putter->context)));
      ++unfinished_;
      putters_.grant_first();
    }
    return item;
  }

  Storage items_;
  std::size_t max_size_;
  std::size_t unfinished_ = 0;
  detail::WaitList getters_;
  detail::WaitList putters_;
  detail::WaitList joiners_;
};

/// First in, first out (asyncio.Queue).
template <class T>
using Queue = BasicQueue<T, detail::ChunkedFifo<T>>;
/// Last in, first out (asyncio.LifoQueue).
template <class T>
using LifoQueue = BasicQueue<T, detail::Stack<T>>;
/// Smallest item first by `Less` (asyncio.PriorityQueue).
template <class T, class Less = std::less<T>>
using PriorityQueue = BasicQueue<T, detail::MinHeap<T, Less>>;

}  // namespace ringloop
