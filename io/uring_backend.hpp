#pragma once
// io_uring reactor (liburing). Tries SINGLE_ISSUER|DEFER_TASKRUN|COOP_TASKRUN and falls back to
// plain flags when the kernel refuses. No system call is made while nothing is in flight; with
// operations in flight one io_uring_enter both submits the batch and reaps completions.

#include <liburing.h>

#include <vector>

#include <ringloop/io/backend.hpp>

namespace ringloop::io {

class UringBackend final : public Backend {
 public:
  explicit UringBackend(const BackendOptions& options);
  ~UringBackend() override;

  [[nodiscard]] BackendKind kind() const noexcept override { return BackendKind::uring; }
  void submit(Operation& operation) override;
  void cancel(Operation& operation) override;
  void wake() noexcept override;

  /// The setup flags the kernel accepted (for tests and diagnostics).
  [[nodiscard]] unsigned setup_flags() const noexcept { return ring_.flags; }

 private:
  std::size_t poll_completions(std::optional<std::chrono::nanoseconds> timeout) override;
  io_uring_sqe* acquire_submission_entry();
  void prepare(io_uring_sqe* entry, Operation& operation);
  void arm_wake_read();
  void enable_on_this_thread();
  void enter(bool wait, const __kernel_timespec* timeout);
  void move_ready_completions();
  std::size_t dispatch_deferred();
  void drain_at_shutdown() noexcept;
  static void complete_at_teardown(Operation& operation, std::int32_t result, bool more,
                                   std::int32_t buffer_id) noexcept;

  io_uring ring_{};
  int wake_fd_ = -1;
  std::uint64_t wake_buffer_ = 0;
  bool wake_armed_ = false;
  bool enabled_ = false;
  // Completions copied out of the ring before they can be delivered: when the submission queue is
  // full the ring must be drained to make room, but completions may not run inside submit().
  struct Completion {
    Operation* operation;
    std::int32_t result;
    bool more;               // IORING_CQE_F_MORE: a multishot operation that stays in flight
    std::int32_t buffer_id;  // IORING_CQE_F_BUFFER: the provided buffer filled, else -1
  };
  std::vector<Completion> deferred_;
};

}  // namespace ringloop::io
