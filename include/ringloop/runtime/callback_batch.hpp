#pragma once
// Many callbacks handed to a loop from another thread in one post.

#include <cstddef>
#include <utility>

#include <ringloop/detail/remote_callback.hpp>

namespace ringloop {

class Loop;

/// Callbacks collected on any one thread and handed to a loop together: one atomic operation and
/// at most one wake-up for the whole batch, where each call_soon_threadsafe() costs one of each.
/// They run on the loop thread in the order they were added. A batch belongs to one thread.
class CallbackBatch {
 public:
  explicit CallbackBatch(Loop& loop) noexcept : loop_(&loop) {}
  CallbackBatch(const CallbackBatch&) = delete;
  CallbackBatch& operator=(const CallbackBatch&) = delete;
  /// Posts what was added and not posted yet: a dropped batch must not lose its callbacks.
  ~CallbackBatch() { post(); }

  /// Adds `callback()` to the batch (allocates it; nothing reaches the loop before post()).
  template <class F>
  void add(F&& callback) {
    detail::Runnable* item = detail::make_remote_callback(std::forward<F>(callback));
    item->next_ready = newest_;
    newest_ = item;
    if (oldest_ == nullptr) oldest_ = item;
    ++size_;
  }
  /// Hands every added callback to the loop and wakes it if it sleeps; the batch is then empty
  /// and may be filled again. Callable from any thread, like call_soon_threadsafe().
  void post() noexcept;
  /// Callbacks added since the last post().
  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  [[nodiscard]] bool empty() const noexcept { return size_ == 0; }

 private:
  Loop* loop_;
  detail::Runnable* newest_ = nullptr;  // the chain runs newest first, as the loop's inbox holds it
  detail::Runnable* oldest_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace ringloop
