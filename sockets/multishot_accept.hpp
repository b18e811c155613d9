#pragma once
// A listener's io_uring multishot accept (not part of the public API): one armed operation that
// accepts connection after connection into a short queue from which accept() takes them, instead
// of one submission per connection.

#include <cstddef>
#include <cstdint>
#include <deque>
#include <utility>

#include <ringloop/io/backend.hpp>
#include <ringloop/runtime/event.hpp>

namespace ringloop::detail {

/// Owned by a Listener while it lives. A record whose operation is in flight cannot be freed
/// until the kernel's last completion (the kernel holds its address): the Listener then hands it
/// over with orphan(), and the record frees itself on that completion, closing what it holds.
class MultishotAccept {
 public:
  /// Accepted connections kept waiting for accept(); beyond this the operation is cancelled
  /// and the rest stay in the kernel's backlog, so a server that stops accepting still pushes
  /// back on its clients.
  static constexpr std::size_t kQueueLimit = 32;

  explicit MultishotAccept(int listening_descriptor) noexcept;
  MultishotAccept(const MultishotAccept&) = delete;
  MultishotAccept& operator=(const MultishotAccept&) = delete;

  /// Submits the operation on `backend` unless it is in flight (or cancelled and not yet ended).
  void arm(io::Backend& backend);
  /// The oldest accepted descriptor, or -1 when none is queued.
  int take_descriptor() noexcept;
  /// The error that ended the operation (positive errno), once; 0 when there is none.
  int take_error() noexcept { return std::exchange(error_, 0); }
  /// Set when a descriptor or an error arrives; accept() clears it before it waits.
  Event& arrived() noexcept { return arrived_; }
  /// Whether the kernel answered that it cannot do multishot accept (kernel < 5.19).
  [[nodiscard]] bool unsupported() const noexcept { return unsupported_; }

  /// The owner lets go: cancels the operation and frees the record now if it is idle, else on
  /// its last completion. Queued descriptors are closed either way.
  void orphan() noexcept;

 private:
  ~MultishotAccept();
  static void on_complete(io::Operation& operation, std::int32_t result);
  static void on_teardown(io::Operation& operation, std::int32_t result);
  void receive(std::int32_t result, bool loop_running);

  io::Operation operation_;
  io::Backend* backend_ = nullptr;  // where the operation was submitted
  std::deque<int> queue_;
  Event arrived_;
  int error_ = 0;
  bool orphaned_ = false;
  bool unsupported_ = false;
};

}  // namespace ringloop::detail
