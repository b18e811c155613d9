#pragma once
// What Lock, Semaphore and Event share: an awaiter that takes the resource at once when it is
// free and otherwise parks the task in the primitive's FIFO until release()/set() grants it, and
// a move-only guard that releases what it holds when its scope ends. Internal to ringloop.

#include <coroutine>
#include <mutex>
#include <type_traits>
#include <utility>

#include <ringloop/detail/wait_list.hpp>
#include <ringloop/runtime/errors.hpp>

namespace ringloop::detail {

/// co_await on a waiting primitive. `Primitive` provides `bool try_take() noexcept` and a
/// `WaitList waiters_` (both private; it befriends this template). `Result` is void, or a guard
/// constructed as `Result(primitive, std::adopt_lock)` once the resource is held. The ParkedTask
/// node lives here, in the awaiting frame: waiting allocates nothing.
template <class Primitive, class Result = void>
class [[nodiscard]] GrantAwaiter {
 public:
  GrantAwaiter(Primitive& primitive, const char* what) noexcept
      : primitive_(&primitive), what_(what) {}

  // A free resource is taken without suspending, so (as in asyncio) no pending cancellation is
  // delivered here; it waits for the task's next suspension.
  bool await_ready() noexcept {
    node_.granted = primitive_->try_take();
    return node_.granted;
  }
  bool await_suspend(std::coroutine_handle<> awaiting) {
    return primitive_->waiters_.park(node_, awaiting, what_);
  }
  // Granted: the resource is ours even if a cancellation arrived after the grant (it is delivered
  // at the next await), so it is never lost. Not granted: the task was cancelled while parked.
  Result await_resume() const {
    node_.resume_or_throw();
    if constexpr (!std::is_void_v<Result>) return Result(*primitive_, std::adopt_lock);
  }

 private:
  Primitive* primitive_;
  const char* what_;
  ParkedTask node_;
};

/// Holds an acquired Lock or Semaphore permit and releases it when destroyed (also while a
/// CancelledError or another exception unwinds). Move-only.
template <class Primitive>
class [[nodiscard]] HeldGuard {
 public:
  /// Takes over a resource the caller already holds.
  HeldGuard(Primitive& primitive, std::adopt_lock_t) noexcept : primitive_(&primitive) {}
  HeldGuard(HeldGuard&& other) noexcept : primitive_(std::exchange(other.primitive_, nullptr)) {}
  HeldGuard& operator=(HeldGuard&& other) {
    if (this != &other) {
      if (primitive_) primitive_->release();
      primitive_ = std::exchange(other.primitive_, nullptr);
    }
    return *this;
  }
  // Releasing the primitive behind the guard's back and then destroying the guard is misuse: the
  // primitive's release() throws and, from a destructor, terminates: loud rather than silent.
  ~HeldGuard() {
    if (primitive_) primitive_->release();
  }

  /// Whether this guard still holds the resource (false once moved from or released).
  [[nodiscard]] bool owns() const noexcept { return primitive_ != nullptr; }
  /// Releases the resource before the scope ends; InvalidStateError if it holds nothing.
  void release() {
    if (!primitive_) throw InvalidStateError("release() of a guard that holds nothing");
    std::exchange(primitive_, nullptr)->release();
  }

 private:
  Primitive* primitive_;
};

}  // namespace ringloop::detail
