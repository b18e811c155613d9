#pragma once
// The loop's run queue: an intrusive FIFO of runnables, so scheduling allocates nothing.

#include <string>

namespace ringloop::detail {

/// Something the loop can run from its ready queue: a task step or a callback.
class Runnable {
 public:
  Runnable* next_ready = nullptr;
  virtual void run() = 0;
  /// Drops the item from a queue that will never run (loop teardown).
  virtual void discard() noexcept = 0;
  /// Names the work for slow-callback warnings and error reports.
  [[nodiscard]] virtual std::string describe() const = 0;

 protected:
  ~Runnable() = default;
};

/// Intrusive singly linked FIFO; take_all() detaches the current contents as one batch so that
/// what becomes ready while a batch runs waits for the next iteration.
class ReadyQueue {
 public:
  [[nodiscard]] bool empty() const noexcept { return head_ == nullptr; }

  void push(Runnable* item) noexcept {
    item->next_ready = nullptr;
    if (tail_) {
      tail_->next_ready = item;
    } else {
      head_ = item;
    }
    tail_ = item;
  }

  /// Moves every item of `other` to the back of this queue, in order, in O(1).
  void splice(ReadyQueue& other) noexcept {
    if (other.head_ == nullptr) return;
    if (tail_) {
      tail_->next_ready = other.head_;
    } else {
      head_ = other.head_;
    }
    tail_ = other.tail_;
    other.head_ = other.tail_ = nullptr;
  }

  /// Appends the chain `first` ... `last` (linked through next_ready, `last` ending it) in O(1).
  void append_chain(Runnable* first, Runnable* last) noexcept {
    last->next_ready = nullptr;
    if (tail_) {
      tail_->next_ready = first;
    } else {
      head_ = first;
    }
    tail_ = last;
  }

  /// Detaches every queued item; returns the first (follow next_ready for the rest).
  Runnable* take_all() noexcept {
    Runnable* first = head_;
    head_ = tail_ = nullptr;
    return first;
  }

 private:
  Runnable* head_ = nullptr;
  Runnable* tail_ = nullptr;
};

}  // namespace ringloop::detail
