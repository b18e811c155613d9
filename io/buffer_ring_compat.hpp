#pragma once
// What liburing 2.4 added for provided-buffer rings and Debian 12's liburing 2.3 lacks
// (PITFALLS §7): io_uring_setup_buf_ring() and io_uring_free_buf_ring(). 2.3 has
// io_uring_register_buf_ring(), _unregister_, and the inline io_uring_buf_ring_init/_add/
// _advance/_mask helpers, which the pool uses directly. Only for io/ sources built with liburing.

#include <liburing.h>
#include <sys/mman.h>

#include <cstddef>
#include <cstdint>

namespace ringloop::io::compat {

/// Bytes of a ring of `entries` buffer descriptors, rounded up to whole pages.
inline std::size_t buf_ring_bytes(std::uint32_t entries, std::size_t page) noexcept {
  const std::size_t bytes = static_cast<std::size_t>(entries) * sizeof(io_uring_buf);
  return (bytes + page - 1) / page * page;
}

/// io_uring_setup_buf_ring() over `memory` (page-aligned, buf_ring_bytes() long, zeroed, owned by
/// the caller): registers it as buffer group `group` and initialises it. Returns 0 or -errno.
inline int register_buf_ring(io_uring& ring, void* memory, std::uint32_t entries,
                             std::uint16_t group) noexcept {
  io_uring_buf_reg registration{};
  registration.ring_addr = reinterpret_cast<std::uint64_t>(memory);
  registration.ring_entries = entries;
  registration.bgid = group;
  const int result = io_uring_register_buf_ring(&ring, &registration, 0);
  if (result < 0) return result;
  io_uring_buf_ring_init(static_cast<io_uring_buf_ring*>(memory));
  return 0;
}

}  // namespace ringloop::io::compat
