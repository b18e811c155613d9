#pragma once
// epoll reactor, the portable fallback. It waits for readiness and then performs the system call
// itself, so the loop sees the same completion semantics as with io_uring. It polls the kernel
// once per poll() call, as asyncio and libuv do: that readiness poll is the "standard" loop's cost.

#include <sys/epoll.h>

#include <cstdint>
#include <vector>

#include <ringloop/detail/intrusive_heap.hpp>
#include <ringloop/detail/intrusive_list.hpp>
#include <ringloop/io/backend.hpp>

namespace ringloop::io {

class EpollBackend final : public Backend {
 public:
  explicit EpollBackend(const BackendOptions& options = {});
  ~EpollBackend() override;

  [[nodiscard]] BackendKind kind() const noexcept override { return BackendKind::epoll; }
  void submit(Operation& operation) override;
  void cancel(Operation& operation) override;
  void wake() noexcept override;

 private:
  std::size_t poll_completions(std::optional<std::chrono::nanoseconds> timeout) override;
  // Where an operation is: which list holds it, its links, its deadline. Kept in the operation's
  // BackendState room, so the backend allocates nothing per operation.
  enum class Slot : std::uint8_t { nowhere, submitted, parked, timed, finishing };
  struct OperationState : detail::HeapNode {
    Operation* operation = nullptr;
    // In submitted_ or a descriptor's parked list; the two small fields share its padding.
    [[no_unique_address]] detail::IntrusiveListHook<OperationState> hook;
    Slot slot = Slot::nowhere;
    bool connect_started = false;
    std::int64_t deadline_ns = 0;
  };
  static OperationState& state_of(Operation& operation) noexcept {
    return operation.backend_state.get<OperationState>();
  }
  // Operations submitted and not started yet, or parked on one descriptor.
  using OperationList = detail::IntrusiveList<OperationState, &OperationState::hook>;
  // What the backend knows of one descriptor number.
  struct Descriptor {
    OperationList parked;     // operations waiting for readiness
    bool known = false;       // O_NONBLOCK checked
    bool registered = false;  // in the epoll set (edge-triggered, IN|OUT|RDHUP)
    bool pollable = true;     // false for regular files (epoll_ctl answers EPERM)
  };
  struct DeadlineOrder {
    bool operator()(const OperationState* a, const OperationState* b) const noexcept {
      return a->deadline_ns < b->deadline_ns;
    }
  };

  Descriptor& descriptor(int fd);
  void start(Operation& operation);
  bool attempt(Operation& operation, std::int32_t& result);
  void park(Operation& operation);
  void finish(Operation& operation, std::int32_t result);
  void perform_close(Operation& operation);
  void on_ready(int fd, std::uint32_t events);
  int wait_for_events(std::optional<std::chrono::nanoseconds> timeout);
  void expire_timeouts();

  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  OperationList submitted_;
  std::vector<Descriptor> descriptors_;
  detail::IntrusiveHeap<OperationState, DeadlineOrder> timeouts_;
  struct Completion {
    Operation* operation;
    std::int32_t result;
  };
  std::vector<Completion> finished_;
  std::vector<epoll_event> events_;
  bool skipped_last_wait_ = false;  // see poll(): never two readiness checks skipped in a row
};

}  // namespace ringloop::io
