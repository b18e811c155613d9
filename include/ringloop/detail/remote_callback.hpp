#pragma once
// A callback posted from another thread (call_soon_threadsafe, CallbackBatch). No Handle refers to
// it and it is never a timer, so it carries neither a reference count nor timer fields: one vtable
// pointer, the ready-queue link and the callable (24 B for a callable holding one pointer, against
// 104 B for a call_soon callback).

#include <exception>
#include <string>
#include <type_traits>
#include <typeinfo>
#include <utility>

#include <ringloop/detail/ready_queue.hpp>

namespace ringloop::detail {

/// Type name of a callable, demangled (defined in runtime/handle.cpp).
std::string callable_name(const std::type_info& type);

/// Base of posted callbacks: runs once on the loop thread, then deletes itself.
class RemoteCallbackBase : public Runnable {
 public:
  void run() final;
  void discard() noexcept final { delete this; }
  RemoteCallbackBase() = default;
  RemoteCallbackBase(const RemoteCallbackBase&) = delete;
  RemoteCallbackBase& operator=(const RemoteCallbackBase&) = delete;
  virtual ~RemoteCallbackBase() = default;

 protected:
  virtual void invoke() = 0;
};

template <class F>
class RemoteCallback final : public RemoteCallbackBase {
 public:
  explicit RemoteCallback(F&& function) : function_(std::move(function)) {}
  explicit RemoteCallback(const F& function) : function_(function) {}
  [[nodiscard]] std::string describe() const override {
    std::string text = "callback ";  // appended, not `"..." + string`: g++ 12 -Wrestrict bug
    text += callable_name(typeid(F));
    return text;
  }

 private:
  void invoke() override { function_(); }
  F function_;
};

/// Allocates the posted form of `function`.
template <class F>
RemoteCallbackBase* make_remote_callback(F&& function) {
  using Stored = std::decay_t<F>;
  static_assert(std::is_invocable_v<Stored&>, "a loop callback must be callable with no arguments");
  return new RemoteCallback<Stored>(std::forward<F>(function));
}

}  // namespace ringloop::detail
