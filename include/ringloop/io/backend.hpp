#pragma once
// The reactor contract: submit an operation, cancel it, wait for completions until a deadline,
// and wake the waiting thread from another thread. The loop never says "epoll" or "io_uring".

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

#include <ringloop/io/operation.hpp>

namespace ringloop::io {

class ReceiveBufferPool;

/// Which reactor implementation runs a loop.
enum class BackendKind : std::uint8_t { uring, epoll };

/// "uring" or "epoll".
std::string_view backend_name(BackendKind kind) noexcept;

/// Parses "uring"/"io_uring"/"epoll"; throws std::invalid_argument naming the bad value.
BackendKind parse_backend_kind(std::string_view text);

/// Raised when a backend that was asked for cannot run here (the message says why).
class BackendUnavailable : public std::runtime_error {
 public:
  /// what() is "io_uring backend <context>: <reason>".
  BackendUnavailable(const std::string& context, std::string reason)
      : std::runtime_error("io_uring backend " + context + ": " + reason),
        reason_(std::move(reason)) {}
  /// Just why, e.g. "io_uring_setup: Operation not permitted" (for start-up lines).
  [[nodiscard]] const std::string& reason() const noexcept { return reason_; }

 private:
  std::string reason_;
};

/// Construction options shared by the backends.
struct BackendOptions {
  /// io_uring submission queue entries (rounded up to a power of two by the kernel). The
  /// completion queue gets four times as many, since completions can outnumber submissions.
  std::uint32_t uring_entries = 256;
  /// io_uring completion queue entries; 0 means 4 x uring_entries. Tests shrink it to force
  /// completion-queue overflow.
  std::uint32_t uring_completion_entries = 0;
  /// io_uring: buffers in the loop's provided-buffer ring, which every stream's multishot receive
  /// shares (rounded up to a power of two, at most 32768). More buffers let more connections
  /// receive at once before one gets ENOBUFS and waits for a buffer to come back (1,000 echoing
  /// connections: 7.42 µs per 1 KiB message with 64 buffers, 6.01 with 256, 5.85 with 1,024;
  /// the plain io_uring C server 6.07). The kernel takes buffers in ring order, so in time every
  /// buffer is touched: resident memory grows toward count x size under bulk traffic, and by a
  /// page per buffer under small messages (what an idle server's RSS shows).
  std::uint32_t receive_buffer_count = 256;
  /// io_uring: bytes per provided buffer: the most one completion delivers. Larger buffers mean
  /// fewer completions for bulk transfers, smaller ones less memory per buffer in use. 64 KiB
  /// holds what loopback delivers at once: 100 KiB echoes cost 0.92x the plain io_uring C
  /// server's CPU against 1.06x with 16 KiB (bench/run_echo.py, 7 rounds). The ring's memory
  /// (count x size, 4 MiB by default) is address space; pages count once data touched them.
  std::uint32_t receive_buffer_size = 64 * 1024;
  /// io_uring: whether streams receive with multishot recv into the provided-buffer ring when the
  /// kernel can (probed: the ring is registered and a multishot recv tried); a stream's receive
  /// then stays armed between reads, holding no buffer until data arrives. false, or when the
  /// probe fails: every read waits for readiness and then receives once, as on epoll, holding no
  /// buffer while it waits.
  bool multishot_receive = true;
  /// epoll: ask the kernel for readiness on every loop iteration, even when no operation is
  /// registered or parked, as asyncio and libuv do. Off by default: such a poll has nothing to
  /// deliver (a spawn + await then costs no epoll_pwait2 at all). The 500k benchmark's "standard"
  /// loop turns it on, so that loop keeps measuring asyncio's discipline. io_uring ignores it.
  bool poll_when_idle = false;
};

/// Counters of a loop's receive buffers (tests check that every buffer comes back exactly once).
struct ReceiveBufferStats {
  std::uint32_t ring_buffers = 0;      ///< buffers in the provided-buffer ring; 0 without one
  std::uint32_t ring_buffer_size = 0;  ///< bytes per ring buffer
  std::uint32_t ring_loaned = 0;       ///< filled by the kernel and not yet given back
  std::uint64_t ring_returned = 0;     ///< buffers given back to the ring so far
  std::uint64_t double_returns = 0;    ///< buffers given back twice or never loaned: always 0
  std::uint64_t out_of_buffers = 0;    ///< multishot receives ended by ENOBUFS (and re-armed)
  std::uint32_t chunks_loaned = 0;     ///< pooled chunks a reader holds
  std::uint32_t chunks_cached = 0;     ///< free pooled chunks kept for reuse
};

/// Counters a backend keeps for tests, benchmarks and debugging.
struct BackendStats {
  std::uint64_t submitted = 0;          ///< operations accepted by submit()
  std::uint64_t completed = 0;          ///< completions delivered
  std::uint64_t system_calls = 0;       ///< io_uring_enter / epoll_wait calls made by poll()
  std::uint64_t submit_queue_full = 0;  ///< times a full submission queue had to be flushed
  std::uint64_t overflow_flushes = 0;   ///< times completions parked by the kernel were fetched
  std::uint64_t retried_enters = 0;     ///< EINTR/EAGAIN/EBUSY answers that were retried
  std::uint64_t resubmitted = 0;        ///< operations that ended EINTR/EAGAIN and were resubmitted
};

/// What a backend can do, fixed when it is built (Seastar passes its backends' capabilities the
/// same way): the layers above ask, the backend never changes its answer.
struct BackendCapabilities {
  /// Whether regular-file operations (openat, read/write at an offset, fsync, close) run natively
  /// without blocking the loop. io_uring: yes. epoll: no, since epoll cannot wait on regular
  /// files (they are always "ready" and a read blocks on the disk), so the file layer offloads
  /// them.
  bool native_file_io = false;
  /// Whether OpCode::accept_multishot works: io_uring on Linux 5.19 or later. Otherwise the
  /// operation completes at once with -EOPNOTSUPP (or -EINVAL from an older kernel).
  bool multishot_accept = false;
};

/// A reactor. All members but wake() are for the owning loop's thread only.
class Backend {
 public:
  virtual ~Backend();
  Backend(const Backend&) = delete;
  Backend& operator=(const Backend&) = delete;

  [[nodiscard]] virtual BackendKind kind() const noexcept = 0;
  [[nodiscard]] std::string_view name() const noexcept { return backend_name(kind()); }

  /// Starts `operation`. Its completion is delivered by a later poll(), never from inside submit().
  virtual void submit(Operation& operation) = 0;

  /// Asks for `operation` to stop. It still completes through poll() — with -ECANCELED, or with
  /// its real result if it finished first — and its memory must live until then.
  virtual void cancel(Operation& operation) = 0;

  /// Delivers ready completions, waiting at most `timeout` for the first (nullopt: no limit,
  /// zero: do not wait). Returns how many completions were delivered. Returns early after wake().
  /// A zero-timeout poll with nothing in flight makes no system call, and no virtual call either,
  /// on either backend, unless epoll was built with BackendOptions::poll_when_idle (asyncio's and
  /// libuv's discipline: the "standard" loop's cost).
  std::size_t poll(std::optional<std::chrono::nanoseconds> timeout) {
    if (idle_poll_is_empty_ && in_flight_ == 0 && timeout && timeout->count() == 0) return 0;
    return poll_completions(timeout);
  }

  /// Interrupts a poll() that is waiting, from any thread.
  virtual void wake() noexcept = 0;

  /// Operations submitted and not yet completed.
  [[nodiscard]] std::size_t in_flight() const noexcept { return in_flight_; }

  /// See BackendCapabilities::native_file_io.
  [[nodiscard]] bool native_file_io() const noexcept { return capabilities_.native_file_io; }
  /// See BackendCapabilities::multishot_accept.
  [[nodiscard]] bool multishot_accept() const noexcept { return capabilities_.multishot_accept; }

  /// Whether OpCode::recv_multishot works: io_uring with a provided-buffer ring registered at
  /// construction and a kernel that takes multishot recv (both probed; see
  /// BackendOptions::multishot_receive). Fixed once the backend is built.
  [[nodiscard]] bool multishot_receive() const noexcept;
  /// The loop's receive buffers (implementation detail of the socket layer:
  /// io/receive_buffers.hpp).
  [[nodiscard]] ReceiveBufferPool& receive_buffers() noexcept { return *receive_buffers_; }
  /// Counters of the loop's receive buffers.
  [[nodiscard]] ReceiveBufferStats receive_buffer_stats() const noexcept;

  [[nodiscard]] const BackendStats& stats() const noexcept { return stats_; }

 protected:
  /// `idle_poll_is_empty`: a zero-timeout poll with nothing in flight can have nothing to deliver
  /// and asks the kernel nothing (io_uring), so poll() answers it without calling the backend.
  Backend(BackendCapabilities capabilities, bool idle_poll_is_empty);

  /// poll() for everything the shortcut above does not answer.
  virtual std::size_t poll_completions(std::optional<std::chrono::nanoseconds> timeout) = 0;

  /// Hands a finished operation back to its submitter. -EINTR and -EAGAIN are normal events
  /// (PITFALLS §5): the operation is submitted again instead, unless it is being cancelled (then
  /// it ends with -ECANCELED) or is a close (never repeated).
  void deliver(Operation& operation, std::int32_t result, std::int32_t buffer_id = -1) {
    if (result == -EINTR || result == -EAGAIN) [[unlikely]] {
      if (resubmit_interrupted(operation, result)) return;
    }
    operation.state = OpState::idle;
    operation.more = false;
    operation.buffer_id = buffer_id;
    ++stats_.completed;
    operation.on_complete(operation, result);
  }
  /// Hands one completion of a multishot operation that stays in flight to its submitter.
  void deliver_more(Operation& operation, std::int32_t result, std::int32_t buffer_id = -1) {
    operation.more = true;
    operation.buffer_id = buffer_id;
    ++stats_.completed;
    operation.on_complete(operation, result);
  }
  BackendStats stats_;
  std::size_t in_flight_ = 0;

 private:
  /// deliver()'s answer to an interrupted operation: true when it was submitted again; otherwise
  /// `result` is what to deliver.
  bool resubmit_interrupted(Operation& operation, std::int32_t& result);

  const BackendCapabilities capabilities_;
  const bool idle_poll_is_empty_;
  ReceiveBufferPool* receive_buffers_;  // one reference; tasks' loans may outlive the backend
};

/// Whether io_uring works here: ring creation and every opcode ringloop uses. On failure,
/// `why` (when given) receives the reason.
bool uring_available(std::string* why = nullptr);

/// Creates a backend. With `kind` unset, uses RINGLOOP_BACKEND when set, else io_uring when
/// uring_available(), else epoll. A forced backend that cannot run throws BackendUnavailable.
/// When the automatic choice falls back to epoll, `fallback_reason` (when given) receives why
/// io_uring could not run, e.g. "io_uring_setup: Operation not permitted"; else it is cleared.
std::unique_ptr<Backend> make_backend(std::optional<BackendKind> kind,
                                      const BackendOptions& options = {},
                                      std::string* fallback_reason = nullptr);

}  // namespace ringloop::io
