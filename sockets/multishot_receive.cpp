#include "multishot_receive.hpp"

#include <algorithm>
#include <cerrno>
#include <cstddef>

namespace ringloop::detail {

MultishotReceive::MultishotReceive(io::Backend& backend, int descriptor, Spill spill,
                                   void* spill_owner)
    : backend_(&backend),
      pool_(&backend.receive_buffers()),
      // A quarter of the ring per stream, between one buffer and 16 (a burst of many small
      // buffers is queued whole, not copied aside, before its reader runs): one stream that is not
      // read cannot take every buffer the others need.
      queue_limit_(std::clamp<std::size_t>(pool_->ring_buffer_count() / 4, 1, 16)),
      spill_(spill),
      spill_owner_(spill_owner) {
  operation_.code = io::OpCode::recv_multishot;
  operation_.fd = descriptor;
  operation_.buffer_group = io::ReceiveBufferPool::kBufferGroup;
  operation_.on_complete = &MultishotReceive::on_complete;
  operation_.on_teardown = &MultishotReceive::on_teardown;
  operation_.user_data = this;
  waiter_.on_buffers = &MultishotReceive::on_buffers;
  waiter_.owner = this;
  // Room for the common case, one arrival at a time; a burst grows it once (see queue_filled()),
  // so a stream that only ever receives small messages keeps its record small.
  queue_.reserve(2);
}

MultishotReceive::~MultishotReceive() {
  give_back_queue();
  pool_->stop_waiting(waiter_);
}

void MultishotReceive::want_data() noexcept {
  if (operation_.in_flight() || shut_ || backend_gone_ || end_of_stream_ || error_ != 0 ||
      lost_bytes_) {
    return;
  }
  if (queue_.size() - head_ >= queue_limit_) {
    held_back_ = true;  // armed again as the reader consumes
    return;
  }
  held_back_ = false;
  if (pool_->ring_available() == 0) {
    pool_->wait_for_buffers(waiter_);  // a buffer given back calls on_buffers()
    return;
  }
  pool_->stop_waiting(waiter_);
  try {
    backend_->submit(operation_);
  } catch (...) {
    error_ = ENOMEM;  // the submission queue could not be flushed: the reader hears it
    arrived_.set();
  }
}

void MultishotReceive::consume(std::size_t count) noexcept {
  Filled& filled = queue_[head_];
  filled.begin += static_cast<std::uint32_t>(count);
  queued_bytes_ -= count;
  if (filled.begin < filled.end) return;
  const std::uint16_t id = filled.buffer_id;
  ++head_;
  compact();
  pool_->give_back_ring(id);
  want_data();
}

MultishotReceive::Filled MultishotReceive::take_front() noexcept {
  const Filled filled = queue_[head_];
  queued_bytes_ -= filled.end - filled.begin;
  ++head_;
  compact();
  want_data();
  return filled;
}

void MultishotReceive::compact() noexcept {
  if (head_ == queue_.size()) {
    queue_.clear();
    head_ = 0;
  }
}

void MultishotReceive::spill_excess() noexcept {
  while (queue_.size() - head_ > queue_limit_) {
    const Filled& oldest = queue_[head_];
    const std::size_t count = oldest.end - oldest.begin;
    if (!spill_(spill_owner_, memory(oldest), count)) return;  // kept queued: nothing is lost
    const std::uint16_t id = oldest.buffer_id;
    queued_bytes_ -= count;
    ++head_;
    pool_->give_back_ring(id);
  }
  if (head_ > 0) {  // keep the queue within its reserved room
    queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(head_));
    head_ = 0;
  }
}

// Queues a filled buffer. The queue grows (once per stream, to its limit plus the completions that
// may follow a cancellation) only when a burst needs it; when even that cannot be allocated, the
// bytes cannot be kept: the receive ends with ENOMEM for the reader rather than dropping them.
void MultishotReceive::queue_filled(std::uint16_t buffer_id, std::uint32_t count) noexcept {
  if (queue_.size() == queue_.capacity()) {
    try {
      queue_.reserve(std::max(queue_.capacity() * 2, queue_limit_ + 4));
    } catch (...) {
      pool_->give_back_ring(buffer_id);
      error_ = ENOMEM;
      lost_bytes_ = true;  // for good: a later read must not go on after a gap
      if (operation_.state == io::OpState::in_flight) backend_->cancel(operation_);
      return;
    }
  }
  queue_.push_back({buffer_id, 0, count});
  queued_bytes_ += count;
  spill_excess();
}

void MultishotReceive::give_back_queue() noexcept {
  for (std::size_t i = head_; i < queue_.size(); ++i)
    pool_->give_back_ring(queue_[i].buffer_id);
  queue_.clear();
  head_ = 0;
  queued_bytes_ = 0;
}

void MultishotReceive::shut() noexcept {
  if (shut_) return;
  shut_ = true;
  pool_->stop_waiting(waiter_);
  give_back_queue();
  if (operation_.state == io::OpState::in_flight && !backend_gone_) backend_->cancel(operation_);
  arrived_.set();
}

void MultishotReceive::orphan() noexcept {
  shut();
  orphaned_ = true;
  if (!operation_.in_flight()) delete this;
}

void MultishotReceive::on_complete(io::Operation& operation, std::int32_t result) {
  static_cast<MultishotReceive*>(operation.user_data)->receive(result, true);
}

// The loop is going away: keep nothing, wake nobody, submit nothing.
void MultishotReceive::on_teardown(io::Operation& operation, std::int32_t result) {
  static_cast<MultishotReceive*>(operation.user_data)->receive(result, false);
}

void MultishotReceive::on_buffers(io::BufferWaiter& waiter) {
  static_cast<MultishotReceive*>(waiter.owner)->want_data();
}

void MultishotReceive::receive(std::int32_t result, bool loop_running) {
  if (!loop_running) backend_gone_ = true;
  const std::int32_t id = operation_.buffer_id;
  if (id >= 0) {
    const auto buffer_id = static_cast<std::uint16_t>(id);
    pool_->note_filled(buffer_id);  // ours from now on: queued, or given back right here
    if (result > 0 && !shut_ && loop_running) {
      queue_filled(buffer_id, static_cast<std::uint32_t>(result));
    } else {
      pool_->give_back_ring(buffer_id);
    }
  }
  if (orphaned_) {
    if (!operation_.in_flight()) delete this;  // the kernel's final word: nothing refers to us
    return;
  }
  if (!operation_.in_flight()) disarmed_.set();
  if (!loop_running || shut_) return;
  if (result > 0) {
    if (queue_.size() - head_ >= queue_limit_ && operation_.state == io::OpState::in_flight) {
      held_back_ = true;
      backend_->cancel(operation_);  // nobody consumes: leave the rest in the socket
    }
  } else if (result == 0) {
    end_of_stream_ = true;
  } else if (result == -ENOBUFS) {
    pool_->note_out_of_buffers();  // the data waits in the socket: nothing is lost
  } else if (result != -ECANCELED) {
    error_ = -result;
  }
  // A receive that ended for a passing reason (ENOBUFS, the kernel's own choice) starts again:
  // at once when buffers and queue room allow, else when they come back.
  if (!operation_.in_flight() && !held_back_ && result != -ECANCELED) want_data();
  arrived_.set();
}

}  // namespace ringloop::detail
