#pragma once
// The one intrusive doubly linked list of the library (in the spirit of libuv's queue.h): the links
// live in the element, so linking never allocates and an element leaves its list in O(1) (a
// cancelled waiter, a finished task, a withdrawn job). The list is selected by a member pointer to
// a hook, so one object can sit in several lists at once, one hook per list.
//
// Representation: the list holds its front and back, the ends' outer links are null, and the hook
// carries a `linked` flag (one byte, so an awaiter that never parks costs one byte store to build
// and one compare to destroy). Not thread-safe: the owner of the list guards it.

#include <cassert>
#include <cstddef>
#include <iterator>
#include <type_traits>
#include <utility>

namespace ringloop::detail {

template <class T>
class IntrusiveListHook;

/// A FIFO/LIFO of elements linked through their `Hook` member. `Counted` keeps a size() for the
/// lists whose users ask for one; the others pay nothing for it.
template <class T, IntrusiveListHook<T> T::*Hook, bool Counted = false>
class IntrusiveList;

/// The links one list needs inside its element. Not copyable: a copy would claim a place in a list
/// it is not in. Declared [[no_unique_address]], a following small member can share its padding.
template <class T>
class IntrusiveListHook {
 public:
  IntrusiveListHook() = default;
  IntrusiveListHook(const IntrusiveListHook&) = delete;
  IntrusiveListHook& operator=(const IntrusiveListHook&) = delete;

  /// Whether the element is in a list now, so an element can ask before unlinking itself.
  [[nodiscard]] bool linked() const noexcept { return linked_; }

 private:
  template <class U, IntrusiveListHook<U> U::*, bool>
  friend class IntrusiveList;
  // Only `linked_` is initialized up front: the links are written when the element is linked,
  // which keeps hot-path awaiters that never park cheap to construct.
  T* next_;
  T* previous_;
  bool linked_ = false;
};

template <class T, IntrusiveListHook<T> T::*Hook, bool Counted>
class IntrusiveList {
 public:
  IntrusiveList() = default;
  IntrusiveList(const IntrusiveList&) = delete;
  IntrusiveList& operator=(const IntrusiveList&) = delete;
  /// Takes `other`'s elements (they do not point back at the list object, so they need no
  /// update): lets a list live in a growing vector, as the epoll backend's per-descriptor lists.
  IntrusiveList(IntrusiveList&& other) noexcept
      : front_(std::exchange(other.front_, nullptr)),
        back_(std::exchange(other.back_, nullptr)),
        count_(std::exchange(other.count_, {})) {}
  /// Same; this list must be empty (its elements would be lost).
  IntrusiveList& operator=(IntrusiveList&& other) noexcept {
    assert(empty());
    front_ = std::exchange(other.front_, nullptr);
    back_ = std::exchange(other.back_, nullptr);
    count_ = std::exchange(other.count_, {});
    return *this;
  }

  [[nodiscard]] bool empty() const noexcept { return front_ == nullptr; }
  /// Only on counted lists: the users that need a count keep it here, in one place.
  [[nodiscard]] std::size_t size() const noexcept requires Counted { return count_; }
  /// The first element, or null: FIFO users take from here.
  [[nodiscard]] T* front() const noexcept { return front_; }
  /// The last element, or null.
  [[nodiscard]] T* back() const noexcept { return back_; }

  /// Links `node` (which must not be linked) at the back.
  void push_back(T& node) noexcept { link_between(node, back_, nullptr); }

  /// Links `node` (which must not be linked) at the front.
  void push_front(T& node) noexcept { link_between(node, nullptr, front_); }

  /// Unlinks `node` from this list; does nothing if it is not linked, so a waiter that may already
  /// have been taken can always call it.
  void remove(T& node) noexcept {
    IntrusiveListHook<T>& hook = links(node);
    if (!hook.linked_) return;
    if (hook.previous_) {
      links(*hook.previous_).next_ = hook.next_;
    } else {
      front_ = hook.next_;
    }
    if (hook.next_) {
      links(*hook.next_).previous_ = hook.previous_;
    } else {
      back_ = hook.previous_;
    }
    hook.linked_ = false;
    add_to_count(-1);
  }

  /// Unlinks and returns the first element, or null when empty.
  T* pop_front() noexcept {
    T* const first = front_;
    if (first) {
      IntrusiveListHook<T>& hook = links(*first);
      front_ = hook.next_;
      if (front_) {
        links(*front_).previous_ = nullptr;
      } else {
        back_ = nullptr;
      }
      hook.linked_ = false;
      add_to_count(-1);
    }
    return first;
  }

  /// Front-to-back walk, for reports such as all_tasks(). Unlinking the element an iterator
  /// points at invalidates that iterator.
  class iterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = T;
    using difference_type = std::ptrdiff_t;
    using pointer = T*;
    using reference = T&;

    iterator() = default;
    explicit iterator(T* node) noexcept : node_(node) {}
    reference operator*() const noexcept { return *node_; }
    pointer operator->() const noexcept { return node_; }
    iterator& operator++() noexcept {
      node_ = links(*node_).next_;
      return *this;
    }
    iterator operator++(int) noexcept {
      iterator before = *this;
      ++*this;
      return before;
    }
    friend bool operator==(const iterator&, const iterator&) = default;

   private:
    T* node_ = nullptr;
  };
  [[nodiscard]] iterator begin() const noexcept { return iterator(front_); }
  [[nodiscard]] iterator end() const noexcept { return iterator(); }

 private:
  struct NoCount {};
  static IntrusiveListHook<T>& links(T& node) noexcept { return node.*Hook; }
  // Links `node` between two neighbours (null: that end of the list).
  void link_between(T& node, T* previous, T* next) noexcept {
    IntrusiveListHook<T>& hook = links(node);
    assert(!hook.linked_);
    hook.previous_ = previous;
    hook.next_ = next;
    (previous ? links(*previous).next_ : front_) = &node;
    (next ? links(*next).previous_ : back_) = &node;
    hook.linked_ = true;
    add_to_count(1);
  }
  void add_to_count([[maybe_unused]] int delta) noexcept {
    if constexpr (Counted) count_ += static_cast<std::size_t>(delta);
  }

  T* front_ = nullptr;
  T* back_ = nullptr;
  [[no_unique_address]] std::conditional_t<Counted, std::size_t, NoCount> count_{};
};

}  // namespace ringloop::detail
