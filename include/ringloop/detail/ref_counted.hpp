#pragma once
// Single-threaded intrusive reference counting for loop-owned objects (tasks, futures, handles).
// Loop objects are touched only by their loop's thread, so the count need not be atomic.

#include <cstdint>
#include <utility>

namespace ringloop::detail {

/// Base with a non-atomic reference count; the last release deletes through the virtual dtor.
class RefCounted {
 public:
  RefCounted() = default;
  RefCounted(const RefCounted&) = delete;
  RefCounted& operator=(const RefCounted&) = delete;
  void add_ref() noexcept { ++references_; }
  void release() noexcept {
    if (--references_ == 0) delete this;
  }

 protected:
  virtual ~RefCounted() = default;

 private:
  std::uint32_t references_ = 0;
};

/// Owning pointer to a RefCounted object.
template <class T>
class IntrusivePtr {
 public:
  IntrusivePtr() noexcept = default;
  explicit IntrusivePtr(T* object) noexcept : object_(object) {
    if (object_) object_->add_ref();
  }
  IntrusivePtr(const IntrusivePtr& other) noexcept : IntrusivePtr(other.object_) {}
  IntrusivePtr(IntrusivePtr&& other) noexcept : object_(std::exchange(other.object_, nullptr)) {}
  template <class U>
  IntrusivePtr(const IntrusivePtr<U>& other) noexcept : IntrusivePtr(other.get()) {}
  IntrusivePtr& operator=(IntrusivePtr other) noexcept {
    std::swap(object_, other.object_);
    return *this;
  }
  ~IntrusivePtr() {
    if (object_) object_->release();
  }
  [[nodiscard]] T* get() const noexcept { return object_; }
  T* operator->() const noexcept { return object_; }
  T& operator*() const noexcept { return *object_; }
  explicit operator bool() const noexcept { return object_ != nullptr; }
  friend bool operator==(const IntrusivePtr& a, const IntrusivePtr& b) noexcept {
    return a.object_ == b.object_;
  }

 private:
  T* object_ = nullptr;
};

}  // namespace ringloop::detail
