#pragma once
// Callbacks scheduled on the loop (call_soon / call_later / call_at / call_soon_threadsafe) and the
// Handle that lets their owner cancel them, like asyncio's Handle and TimerHandle.

#include <cstdint>
#include <string>
#include <type_traits>
#include <typeinfo>
#include <utility>

#include <ringloop/detail/ready_queue.hpp>
#include <ringloop/detail/ref_counted.hpp>
#include <ringloop/detail/timer_heap.hpp>
#include <ringloop/runtime/clock.hpp>

namespace ringloop {
class Loop;
}

namespace ringloop::detail {

/// Type name of a callable, demangled, for slow-callback warnings and error reports.
std::string callable_name(const std::type_info& type);

/// A scheduled callback. The loop holds one reference while it is queued or in the timer heap;
/// a Handle holds another. It counts its references itself instead of deriving from RefCounted:
/// its virtual destructor then shares Runnable's vtable pointer, 8 bytes less per timer.
class CallbackBase : public Runnable, public TimerEntry {
 public:
  explicit CallbackBase(Loop* loop) noexcept : loop_(loop) {}
  CallbackBase(const CallbackBase&) = delete;
  CallbackBase& operator=(const CallbackBase&) = delete;
  void add_ref() noexcept { ++references_; }
  /// Drops a reference; the last one deletes the callback.
  void release() noexcept {
    if (--references_ == 0) delete this;
  }
  void run() final;
  void discard() noexcept final { release(); }
  void fire() final;
  [[nodiscard]] bool cancelled() const noexcept { return cancelled_; }
  void cancel() noexcept;
  /// When the timer is (or was) due; the clock's epoch for a callback that never was a timer.
  [[nodiscard]] TimePoint when() const noexcept;

 protected:
  virtual ~CallbackBase() = default;
  virtual void invoke() = 0;
  /// What the exception handler is told when invoke() throws.
  [[nodiscard]] virtual std::string failure_message() const { return "Exception in " + describe(); }
  /// The task the callback belongs to, for the exception handler (empty: none).
  [[nodiscard]] virtual std::string failure_task_name() const { return {}; }

 private:
  // Declared before loop_ so that they fill TimerEntry's tail padding.
  std::uint32_t references_ = 0;
  bool cancelled_ = false;
  Loop* loop_;
};

template <class F>
class Callback final : public CallbackBase {
 public:
  Callback(Loop* loop, F&& function) : CallbackBase(loop), function_(std::move(function)) {}
  Callback(Loop* loop, const F& function) : CallbackBase(loop), function_(function) {}
  [[nodiscard]] std::string describe() const override {
    std::string text = "callback ";  // appended, not `"..." + string`: g++ 12 -Wrestrict bug
    text += callable_name(typeid(F));
    return text;
  }

 private:
  void invoke() override { function_(); }
  F function_;
};

template <class F>
CallbackBase* make_callback(Loop* loop, F&& function) {
  using Stored = std::decay_t<F>;
  static_assert(std::is_invocable_v<Stored&>, "a loop callback must be callable with no arguments");
  return new Callback<Stored>(loop, std::forward<F>(function));
}

}  // namespace ringloop::detail

namespace ringloop {

/// A scheduled callback, returned by call_soon/call_later/call_at. Dropping the handle does not
/// cancel the callback; cancel() does (asyncio semantics).
class Handle {
 public:
  Handle() = default;
  explicit Handle(detail::CallbackBase* callback) : callback_(callback) {}
  /// Prevents the callback from running; disarms a timer at once (O(1)). Idempotent.
  void cancel() noexcept {
    if (callback_) callback_->cancel();
  }
  [[nodiscard]] bool cancelled() const noexcept { return callback_ && callback_->cancelled(); }
  /// When a timer callback is due (call_later/call_at handles only).
  [[nodiscard]] TimePoint when() const noexcept {
    return callback_ ? callback_->when() : TimePoint{};
  }

 private:
  detail::IntrusivePtr<detail::CallbackBase> callback_;
};

}  // namespace ringloop
