#pragma once
// A stream's io_uring multishot receive into the loop's provided-buffer ring (not part of the
// public API): armed while the stream is being read, it queues each filled buffer (in order) for
// the reader, who gives it back once consumed. Idle, it holds no buffer: the kernel picks one only
// when data arrives.
//
// Flow control: with queue_limit() buffers queued and nobody consuming them, the receive is
// cancelled; the rest stays in the socket's receive queue (the peer's sends then block) and the
// receive is armed again when the reader consumes. The kernel may fill more buffers in one burst
// before the cancellation lands: those beyond the limit are spilled (oldest first, so the order
// holds) into the stream's own read buffer and go back to the ring at once, so a paused reader
// never holds more than queue_limit() ring buffers and cannot starve the other streams. ENOBUFS
// (the ring is empty) loses nothing: the data stays in the socket and the receive is armed again
// when a buffer comes back.
//
// Lifetime: the kernel refers to the record until the final completion (no IORING_CQE_F_MORE), so
// the stream hands it over with orphan() and the record frees itself then, giving back every
// buffer it holds (Tokio's Lifecycle::Cancelled, MultishotAccept here).

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <vector>

#include <ringloop/detail/ref_counted.hpp>
#include <ringloop/io/backend.hpp>
#include <ringloop/runtime/event.hpp>

#include "io/receive_buffers.hpp"

namespace ringloop::detail {

class MultishotReceive {
 public:
  /// One filled ring buffer: its id and the bytes not yet consumed, [begin, end).
  struct Filled {
    std::uint16_t buffer_id;
    std::uint32_t begin;
    std::uint32_t end;
  };

  /// Copies bytes the queue spills (they precede everything still queued) to the stream's read
  /// buffer; false when it cannot (no memory): the buffer then stays queued.
  using Spill = bool (*)(void* owner, const std::byte* bytes, std::size_t count) noexcept;

  MultishotReceive(io::Backend& backend, int descriptor, Spill spill, void* spill_owner);
  MultishotReceive(const MultishotReceive&) = delete;
  MultishotReceive& operator=(const MultishotReceive&) = delete;

  /// The reader wants data: arms the receive unless it is in flight, ended for good, or held
  /// back (flow control, or waiting for buffers after ENOBUFS).
  void want_data() noexcept;
  /// The oldest filled buffer, or null.
  [[nodiscard]] Filled* front() noexcept {
    return head_ == queue_.size() ? nullptr : &queue_[head_];
  }
  /// Bytes queued and not yet consumed.
  [[nodiscard]] std::size_t queued_bytes() const noexcept { return queued_bytes_; }
  /// The memory of a filled buffer.
  [[nodiscard]] std::byte* memory(const Filled& filled) const noexcept {
    return pool_->ring_buffer(filled.buffer_id) + filled.begin;
  }
  /// Consumes `count` bytes of front(); a buffer consumed entirely goes back to the ring.
  void consume(std::size_t count) noexcept;
  /// Takes front() out of the queue: the caller gives its buffer back (pool()->give_back_ring).
  Filled take_front() noexcept;
  /// The most ring buffers this stream keeps queued.
  [[nodiscard]] std::size_t queue_limit() const noexcept { return queue_limit_; }
  /// The pool the buffers come from (held while the record lives).
  [[nodiscard]] io::ReceiveBufferPool& pool() noexcept { return *pool_; }

  /// Whether the peer closed its side (bytes may still be queued before that: see front()).
  [[nodiscard]] bool ended() const noexcept { return end_of_stream_; }
  /// Whether shut() ran (the stream was closed).
  [[nodiscard]] bool is_shut() const noexcept { return shut_; }
  /// The error that ended the receive (positive errno), once; 0 when there is none. ENOMEM
  /// after bytes could not be queued comes back every time: the stream cannot go on.
  int take_error() noexcept {
    const int error = lost_bytes_ ? ENOMEM : error_;
    error_ = 0;
    return error;
  }
  /// Set when data, the end of the stream or an error arrives; the reader clears it first.
  Event& arrived() noexcept { return arrived_; }
  /// Whether the receive is in the kernel's hands (armed, or cancelled and not yet confirmed).
  [[nodiscard]] bool armed() const noexcept { return operation_.in_flight() && !backend_gone_; }
  /// Set on each completion that leaves the receive no longer armed (close() waits for it).
  Event& disarmed() noexcept { return disarmed_; }

  /// The stream closed: cancels the receive, gives back what is queued, wakes the reader.
  void shut() noexcept;
  /// The owner lets go (after shut()): frees the record now if the kernel is done with it, else
  /// on its final completion.
  void orphan() noexcept;

 private:
  ~MultishotReceive();
  static void on_complete(io::Operation& operation, std::int32_t result);
  static void on_teardown(io::Operation& operation, std::int32_t result);
  static void on_buffers(io::BufferWaiter& waiter);
  void receive(std::int32_t result, bool loop_running);
  void queue_filled(std::uint16_t buffer_id, std::uint32_t count) noexcept;
  void give_back_queue() noexcept;
  void compact() noexcept;
  void spill_excess() noexcept;

  io::Operation operation_;
  io::Backend* backend_;
  detail::IntrusivePtr<io::ReceiveBufferPool> pool_;
  io::BufferWaiter waiter_;
  std::vector<Filled> queue_;  // [head_, size) queued; grown by bursts, compacted as it empties
  std::size_t head_ = 0;
  std::size_t queued_bytes_ = 0;
  std::size_t queue_limit_;
  Spill spill_;
  void* spill_owner_;
  Event arrived_;
  Event disarmed_;
  int error_ = 0;
  bool end_of_stream_ = false;
  bool held_back_ = false;  // flow control cancelled it: armed again once the queue shrinks
  bool shut_ = false;
  bool orphaned_ = false;
  bool backend_gone_ = false;
  bool lost_bytes_ = false;  // a filled buffer could not be queued (no memory)
};

}  // namespace ringloop::detail
