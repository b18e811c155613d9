#pragma once
// Coroutine frames come from a per-thread cache of recently freed frames, so awaiting a Task
// (read_some, write_all, receive...) allocates nothing in steady state: a loop that runs the same
// coroutines over and over reuses the same blocks, as Seastar and cppcoro-style pools do.

#include <cstddef>

namespace ringloop::detail {

/// A block of at least `size` bytes for a coroutine frame.
void* allocate_frame(std::size_t size);
/// Returns a block from allocate_frame(size) (any thread may return it).
void deallocate_frame(void* frame, std::size_t size) noexcept;

}  // namespace ringloop::detail
