#include <ringloop/detail/remote_inbox.hpp>

#include <thread>

#include <ringloop/io/backend.hpp>

namespace ringloop::detail {

// The compare-and-swap and the load of `sleeping_` are sequentially consistent, as are
// begin_sleep()'s store and load: in their single total order either the loop's load sees this
// post, or this load sees the loop asleep. No post waits for an unrelated wake-up.
void RemoteInbox::post_chain(Runnable* newest, Runnable* oldest) noexcept {
  Runnable* head = head_.load(std::memory_order_relaxed);
  do {
    oldest->next_ready = head;
  } while (!head_.compare_exchange_weak(head, newest, std::memory_order_seq_cst,
                                        std::memory_order_relaxed));
  if (sleeping_.load()) wake_sleeping_loop();
}

// Only the poster whose exchange clears the flag wakes; the others of the same sleep see it
// cleared. The count of posters inside lets the loop's teardown wait for the one that writes.
void RemoteInbox::wake_sleeping_loop() noexcept {
  wakers_inside_.fetch_add(1);
  if (sleeping_.exchange(false)) {
    wakeups_.fetch_add(1, std::memory_order_relaxed);
    backend_->wake();
  }
  wakers_inside_.fetch_sub(1, std::memory_order_release);
}

std::size_t RemoteInbox::take_into(ReadyQueue& ready) noexcept {
  // Acquire: the posts' contents and links, written before their compare-and-swap (a release
  // sequence), are visible.
  Runnable* newest = head_.exchange(nullptr, std::memory_order_acquire);
  if (newest == nullptr) return 0;
  Runnable* const last = newest;
  Runnable* oldest_first = nullptr;
  std::size_t count = 0;
  while (newest) {
    Runnable* older = newest->next_ready;
    newest->next_ready = oldest_first;
    oldest_first = newest;
    newest = older;
    ++count;
  }
  ready.append_chain(oldest_first, last);
  return count;
}

bool RemoteInbox::begin_sleep() noexcept {
  sleeping_.store(true);
  if (head_.load() == nullptr) return true;
  sleeping_.store(false);
  return false;
}

// A poster that increments after this load saw the loop's last end_sleep() (the loop is not
// asleep while it tears down), so its exchange finds the flag clear and it never wakes.
void RemoteInbox::wait_for_wakers() const noexcept {
  while (wakers_inside_.load() != 0)
    std::this_thread::yield();
}

}  // namespace ringloop::detail
