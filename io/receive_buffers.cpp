#include "receive_buffers.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <bit>
#include <new>

#ifdef RINGLOOP_HAVE_URING
#include "buffer_ring_compat.hpp"
#endif

namespace ringloop::io {

ReceiveBufferPool::~ReceiveBufferPool() {
  for (std::byte* chunk : free_chunks_)
    ::operator delete(chunk);
  // The kernel unpinned the ring when the ring was closed (detach_ring() came first).
  if (memory_ != nullptr) ::munmap(buffer_ring_, mapped_bytes_);
}

std::byte* ReceiveBufferPool::take_chunk() {
  std::byte* chunk;
  if (!free_chunks_.empty()) {
    chunk = free_chunks_.back();
    free_chunks_.pop_back();
  } else {
    chunk = static_cast<std::byte*>(::operator new(kChunkSize));
  }
  ++chunks_loaned_;
  return chunk;
}

void ReceiveBufferPool::give_back_chunk(std::byte* chunk) noexcept {
  --chunks_loaned_;
  if (free_chunks_.size() < kCachedChunks && free_chunks_.capacity() > free_chunks_.size()) {
    free_chunks_.push_back(chunk);
    return;
  }
  if (free_chunks_.size() < kCachedChunks) {
    try {
      free_chunks_.reserve(kCachedChunks);
      free_chunks_.push_back(chunk);
      return;
    } catch (const std::bad_alloc&) {
    }
  }
  ::operator delete(chunk);
}

bool ReceiveBufferPool::attach_ring([[maybe_unused]] io_uring& ring,
                                    [[maybe_unused]] std::uint32_t count,
                                    [[maybe_unused]] std::uint32_t size) {
#ifdef RINGLOOP_HAVE_URING
  if (count == 0 || size == 0 || memory_ != nullptr) return false;
  // Buffer ids are 16 bits and the ring's size a power of two (man io_uring_register_buf_ring).
  const std::uint32_t entries = std::bit_ceil(std::min<std::uint32_t>(count, 32768));
  const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  const std::size_t ring_bytes = compat::buf_ring_bytes(entries, page);
  const std::size_t total = ring_bytes + static_cast<std::size_t>(entries) * size;
  void* mapped = ::mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mapped == MAP_FAILED) return false;
  if (compat::register_buf_ring(ring, mapped, entries, kBufferGroup) < 0) {
    ::munmap(mapped, total);
    return false;
  }
  ring_ = &ring;
  buffer_ring_ = static_cast<io_uring_buf_ring*>(mapped);
  memory_ = static_cast<std::byte*>(mapped) + ring_bytes;
  mapped_bytes_ = total;
  buffer_count_ = entries;
  buffer_size_ = size;
  loaned_.assign(entries, false);
  const int mask = io_uring_buf_ring_mask(entries);
  for (std::uint32_t id = 0; id < entries; ++id) {
    io_uring_buf_ring_add(buffer_ring_, ring_buffer(static_cast<std::uint16_t>(id)), size,
                          static_cast<unsigned short>(id), mask, static_cast<int>(id));
  }
  io_uring_buf_ring_advance(buffer_ring_, static_cast<int>(entries));
  ring_attached_ = true;
  return true;
#else
  return false;
#endif
}

void ReceiveBufferPool::detach_ring() noexcept {
  ring_attached_ = false;
  ring_ = nullptr;
  while (BufferWaiter* waiter = waiters_.pop_front())
    waiter->waiting = false;
}

void ReceiveBufferPool::note_filled(std::uint16_t id) noexcept {
  if (id >= buffer_count_) return;
  if (!loaned_[id]) {
    loaned_[id] = true;
    ++ring_loaned_;
  }
}

void ReceiveBufferPool::give_back_ring(std::uint16_t id) noexcept {
  if (id >= buffer_count_ || !loaned_[id]) {
    ++double_returns_;  // a bug: counted so tests see it, never handed to the kernel twice
    return;
  }
  loaned_[id] = false;
  --ring_loaned_;
  ++buffers_given_back_;
  if (!ring_attached_) return;
#ifdef RINGLOOP_HAVE_URING
  io_uring_buf_ring_add(buffer_ring_, ring_buffer(id), buffer_size_, id,
                        io_uring_buf_ring_mask(buffer_count_), 0);
  io_uring_buf_ring_advance(buffer_ring_, 1);
#endif
  if (BufferWaiter* waiter = waiters_.pop_front()) {
    waiter->waiting = false;
    waiter->on_buffers(*waiter);
  }
}

void ReceiveBufferPool::wait_for_buffers(BufferWaiter& waiter) noexcept {
  if (waiter.waiting || !ring_attached_) return;
  waiter.waiting = true;
  waiters_.push_back(waiter);
}

void ReceiveBufferPool::stop_waiting(BufferWaiter& waiter) noexcept {
  if (!waiter.waiting) return;
  waiter.waiting = false;
  waiters_.remove(waiter);
}

ReceiveBufferStats ReceiveBufferPool::stats() const noexcept {
  ReceiveBufferStats result;
  result.ring_buffers = buffer_count_;
  result.ring_buffer_size = buffer_size_;
  result.ring_loaned = ring_loaned_;
  result.ring_returned = buffers_given_back_;
  result.double_returns = double_returns_;
  result.out_of_buffers = out_of_buffers_;
  result.chunks_loaned = chunks_loaned_;
  result.chunks_cached = static_cast<std::uint32_t>(free_chunks_.size());
  return result;
}

}  // namespace ringloop::io
