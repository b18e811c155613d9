#pragma once
// The loop's receive buffers (not part of the public API). DESIGN.md: an idle connection holds no
// receive buffer; buffers belong to the loop and are loaned to a reader until it releases them.
//
// Two kinds live here:
// - pooled chunks (both backends): plain memory a reader fills itself after its socket became
//   readable (one recv(2)), so nothing is reserved while it waits. A handful stay cached.
// - the provided-buffer ring (io_uring only, when the kernel takes one): the kernel picks a buffer
//   when data arrives for a multishot receive and reports its id; the reader gives it back.
//
// The pool is reference-counted: every loan and every multishot receive keeps it alive, so a
// buffer given back after the backend is gone (tasks are destroyed after it at loop teardown) is
// freed safely instead of touching a dead ring.

#include <cstddef>
#include <cstdint>
#include <vector>

#include <ringloop/detail/intrusive_list.hpp>
#include <ringloop/detail/ref_counted.hpp>
#include <ringloop/io/backend.hpp>

struct io_uring;
struct io_uring_buf_ring;

namespace ringloop::io {

/// A stream whose multishot receive ended with ENOBUFS: called back, one waiter per buffer given
/// back, so it can arm again (PITFALLS §7: re-arm when buffers return, never on a timer).
struct BufferWaiter {
  void (*on_buffers)(BufferWaiter& waiter) = nullptr;
  void* owner = nullptr;  ///< for on_buffers
  detail::IntrusiveListHook<BufferWaiter> hook;
  bool waiting = false;
};

class ReceiveBufferPool final : public detail::RefCounted {
 public:
  /// Size of a pooled chunk: the most one readiness-then-recv reads at once.
  static constexpr std::size_t kChunkSize = 64 * 1024;
  /// Free chunks kept for reuse; more are freed when they come back.
  static constexpr std::size_t kCachedChunks = 4;
  /// The buffer group of the provided-buffer ring.
  static constexpr std::uint16_t kBufferGroup = 0;

  ReceiveBufferPool() = default;

  // ---- pooled chunks ----
  /// A chunk of kChunkSize bytes (cached or new).
  std::byte* take_chunk();
  /// Returns a chunk take_chunk() gave.
  void give_back_chunk(std::byte* chunk) noexcept;

  // ---- the provided-buffer ring ----
  /// Maps `count` buffers of `size` bytes and registers them with `ring` as kBufferGroup. False
  /// (and no ring) when the kernel refuses: streams then use pooled chunks.
  bool attach_ring(io_uring& ring, std::uint32_t count, std::uint32_t size);
  /// The ring is going away (backend destroyed): buffers given back later are just counted.
  void detach_ring() noexcept;
  /// Whether multishot receives may select buffers from the ring.
  [[nodiscard]] bool has_ring() const noexcept { return ring_attached_; }
  [[nodiscard]] std::uint32_t ring_buffer_size() const noexcept { return buffer_size_; }
  [[nodiscard]] std::uint32_t ring_buffer_count() const noexcept { return buffer_count_; }
  /// Buffers the kernel may fill now (as far as the completions reaped so far tell).
  [[nodiscard]] std::uint32_t ring_available() const noexcept {
    return buffer_count_ - ring_loaned_;
  }
  /// The memory of buffer `id`.
  [[nodiscard]] std::byte* ring_buffer(std::uint16_t id) const noexcept {
    return memory_ + static_cast<std::size_t>(id) * buffer_size_;
  }
  /// A completion reported that the kernel filled buffer `id`: it is loaned until given back.
  void note_filled(std::uint16_t id) noexcept;
  /// Puts buffer `id` back in the ring and wakes one BufferWaiter.
  void give_back_ring(std::uint16_t id) noexcept;
  /// Calls `waiter` back when a buffer is given back (no-op if it already waits).
  void wait_for_buffers(BufferWaiter& waiter) noexcept;
  /// Stops waiting (no-op if it does not wait).
  void stop_waiting(BufferWaiter& waiter) noexcept;

  /// A multishot receive ended with ENOBUFS (counted for tests and tuning).
  void note_out_of_buffers() noexcept { ++out_of_buffers_; }

  [[nodiscard]] ReceiveBufferStats stats() const noexcept;

 private:
  ~ReceiveBufferPool() override;

  std::vector<std::byte*> free_chunks_;
  std::uint32_t chunks_loaned_ = 0;

  io_uring* ring_ = nullptr;
  io_uring_buf_ring* buffer_ring_ = nullptr;
  std::byte* memory_ = nullptr;  // buffer_count_ * buffer_size_ bytes after the ring's entries
  std::size_t mapped_bytes_ = 0;
  std::uint32_t buffer_count_ = 0;
  std::uint32_t buffer_size_ = 0;
  std::uint32_t ring_loaned_ = 0;
  bool ring_attached_ = false;
  std::vector<bool> loaned_;  // per buffer id: filled and not given back (catches double returns)
  std::uint64_t double_returns_ = 0;
  std::uint64_t buffers_given_back_ = 0;
  std::uint64_t out_of_buffers_ = 0;
  detail::IntrusiveList<BufferWaiter, &BufferWaiter::hook> waiters_;
};

}  // namespace ringloop::io
