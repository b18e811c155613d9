#pragma once
// Callbacks scheduled on the loop (call_soon / call_later / call_at / call_soon_threadsafe) and the
// Handle that lets their owner cancel them, like asyncio's Handle and TimerHandle.

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
/// a Handle holds another.
class CallbackBase : public RefCounted, public Runnable, public TimerEntry {
 public:
  explicit CallbackBase(Loop* loop) noexcept : loop_(loop) {}
  void run() final;
  void discard() noexcept final { release(); }
  void fire() final;
  [[nodiscard]] bool cancelled() const noexcept { return cancelled_; }
  void cancel() noexcept;

 protected:
  virtual void invoke() = 0;
  /// What the exception handler is told when invoke() throws.
  [[nodiscard]] virtual std::string failure_message() const { return "Exception in " + describe(); }
  /// The task the callback belongs to, for the exception handler (empty: none).
  [[nodiscard]] virtual std::string failure_task_name() const { return {}; }

 private:
  Loop* loop_;
  bool cancelled_ = false;
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
  /// Prevents the callback from running; removes a timer from the heap at once. Idempotent.
  void cancel() noexcept {
    if (callback_) callback_->cancel();
  }
  [[nodiscard]] bool cancelled() const noexcept { return callback_ && callback_->cancelled(); }
  /// When a timer callback is due (call_later/call_at handles only).
  [[nodiscard]] TimePoint when() const noexcept {
    return callback_ ? callback_->deadline : TimePoint{};
  }

 private:
  detail::IntrusivePtr<detail::CallbackBase> callback_;
};

}  // namespace ringloop
