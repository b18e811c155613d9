#pragma once
// The loop's one thread-safe door, kept apart from Loop so that Loop itself is single-threaded by
// construction (as Tokio splits its Handle from its Driver): what other threads post, the flag
// that says the loop sleeps in its backend, and the wake-up.
//
// Posting is lock-free: a Treiber stack, one compare-and-swap per post (or per batch). Only the
// loop takes, and it takes everything at once with one exchange, so the stack has no ABA problem;
// reversing the taken chain restores the order of the posts. A poster wakes the backend only if it
// is the first to find the loop asleep, so one sleep costs all posters together one wake-up.

#include <atomic>
#include <cstddef>
#include <cstdint>

#include <ringloop/detail/ready_queue.hpp>

namespace ringloop::io {
class Backend;
}

namespace ringloop::detail {

/// Posts from other threads to one loop, with the sleep handshake (Dekker's: the loop publishes
/// that it sleeps, then looks for posts; a poster publishes its post, then looks for the sleep).
class RemoteInbox {
 public:
  explicit RemoteInbox(io::Backend& backend) noexcept : backend_(&backend) {}
  RemoteInbox(const RemoteInbox&) = delete;
  RemoteInbox& operator=(const RemoteInbox&) = delete;

  // ---- any thread ----
  /// Hands `item` to the loop; wakes it if it sleeps.
  void post(Runnable* item) noexcept { post_chain(item, item); }
  /// Hands a chain to the loop with one atomic operation and at most one wake-up. The chain runs
  /// from `newest` through next_ready to `oldest` (newest first, as the stack holds it); the loop
  /// runs it oldest first.
  void post_chain(Runnable* newest, Runnable* oldest) noexcept;

  // ---- the loop thread ----
  /// Whether anything was posted and not taken yet (a hint: a post may land right after).
  [[nodiscard]] bool has_posts() const noexcept {
    return head_.load(std::memory_order_relaxed) != nullptr;
  }
  /// Moves every post to the back of `ready`, oldest first; returns how many there were.
  std::size_t take_into(ReadyQueue& ready) noexcept;
  /// Publishes that the loop is about to sleep in its backend. False, and not asleep, when a post
  /// arrived first: the loop must then not sleep.
  [[nodiscard]] bool begin_sleep() noexcept;
  /// The loop is awake again (whatever woke it).
  void end_sleep() noexcept { sleeping_.store(false); }
  /// Waits until no poster is inside the backend's wake(); the loop calls it before it destroys
  /// its backend (a poster that found the loop asleep may be writing its eventfd right now).
  void wait_for_wakers() const noexcept;
  /// How many posts had to wake the sleeping backend.
  [[nodiscard]] std::uint64_t wakeups() const noexcept {
    return wakeups_.load(std::memory_order_relaxed);
  }

 private:
  void wake_sleeping_loop() noexcept;

  // Posters write `head_` and read `sleeping_` on every post: one cache line, apart from the
  // loop's other members.
  alignas(64) std::atomic<Runnable*> head_{nullptr};
  std::atomic<bool> sleeping_{false};
  std::atomic<std::uint32_t> wakers_inside_{0};
  std::atomic<std::uint64_t> wakeups_{0};
  io::Backend* backend_;
};

}  // namespace ringloop::detail
