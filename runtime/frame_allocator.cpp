#include <ringloop/detail/frame_allocator.hpp>

#include <new>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define RINGLOOP_FRAME_CACHE 0  // let the sanitizers see every frame's real lifetime
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define RINGLOOP_FRAME_CACHE 0
#endif
#endif
#ifndef RINGLOOP_FRAME_CACHE
#define RINGLOOP_FRAME_CACHE 1
#endif

namespace ringloop::detail {
#if RINGLOOP_FRAME_CACHE
namespace {

constexpr std::size_t kGranule = 64;              // size classes 64, 128, ... bytes
constexpr std::size_t kClasses = 32;              // frames up to 2 KiB are cached
constexpr std::size_t kMaxCachedPerClass = 1024;  // bounds what one thread keeps

struct FreeBlock {
  FreeBlock* next;
};

// Trivially destructible, so it stays usable while other thread_local destructors run; `alive`
// says whether the cache may still take blocks.
struct FrameCache {
  FreeBlock* heads[kClasses];
  std::size_t counts[kClasses];
  bool alive;
};
constinit thread_local FrameCache cache{};

// Gives the cached blocks back to the allocator when the thread ends.
struct FrameCacheOwner {
  FrameCacheOwner() noexcept { cache.alive = true; }
  ~FrameCacheOwner() {
    cache.alive = false;
    for (std::size_t index = 0; index < kClasses; ++index) {
      while (FreeBlock* block = cache.heads[index]) {
        cache.heads[index] = block->next;
        ::operator delete(block);
      }
      cache.counts[index] = 0;
    }
  }
};

std::size_t class_of(std::size_t size) noexcept {
  return (size + kGranule - 1) / kGranule - 1;
}

}  // namespace
#endif

void* allocate_frame(std::size_t size) {
#if RINGLOOP_FRAME_CACHE
  const std::size_t index = class_of(size);
  if (index < kClasses) {
    thread_local FrameCacheOwner owner;  // registers the cleanup on first use by this thread
    if (FreeBlock* block = cache.heads[index]) {
      cache.heads[index] = block->next;
      --cache.counts[index];
      return block;
    }
    return ::operator new((index + 1) * kGranule);
  }
#endif
  return ::operator new(size);
}

void deallocate_frame(void* frame, std::size_t size) noexcept {
#if RINGLOOP_FRAME_CACHE
  const std::size_t index = class_of(size);
  if (index < kClasses && cache.alive && cache.counts[index] < kMaxCachedPerClass) {
    auto* block = static_cast<FreeBlock*>(frame);
    block->next = cache.heads[index];
    cache.heads[index] = block;
    ++cache.counts[index];
    return;
  }
#else
  (void)size;
#endif
  ::operator delete(frame);
}

}  // namespace ringloop::detail
