#pragma once
// A std::allocator that starts every buffer on a cache line, so a container can lay out its
// elements in groups that each fill one line (the timer heap's four children of a node).

#include <cstddef>
#include <new>

namespace ringloop::detail {

/// Size of the cache line the groups are aligned to (x86-64 and most AArch64 cores).
inline constexpr std::size_t kCacheLineBytes = 64;

/// Allocates `T` arrays aligned to kCacheLineBytes; stateless, so every instance is equal.
template <class T>
struct CacheLineAllocator {
  using value_type = T;

  CacheLineAllocator() noexcept = default;
  template <class U>
  CacheLineAllocator(const CacheLineAllocator<U>&) noexcept {}

  [[nodiscard]] T* allocate(std::size_t count) {
    return static_cast<T*>(::operator new (count * sizeof(T), std::align_val_t{kCacheLineBytes}));
  }
  // Unsized: clang declares the sized aligned delete only with -fsized-deallocation.
  void deallocate(T* pointer, std::size_t) noexcept {
    ::operator delete (pointer, std::align_val_t{kCacheLineBytes});
  }

  template <class U>
  friend bool operator==(const CacheLineAllocator&, const CacheLineAllocator<U>&) noexcept {
    return true;
  }
};

}  // namespace ringloop::detail
