#pragma once
// An I/O operation record: everything the kernel (or the epoll backend) may read or write while the
// operation is in flight lives here or in memory the record points to. The submitter keeps the
// record alive until `on_complete` has run, even after asking for cancellation (DESIGN.md rule 1).

#include <linux/time_types.h>
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <new>
#include <type_traits>

namespace ringloop::io {

/// The kinds of operation both backends perform. Each kind's name, probe opcode, epoll readiness
/// and other properties are one row of io/operation_traits.hpp: add a kind there too.
enum class OpCode : std::uint8_t {
  nop,      ///< completes with 0; used to test the machinery itself
  read,     ///< read(2)/pread(2) into `buffer`
  write,    ///< write(2)/pwrite(2) from `buffer`
  recv,     ///< recv(2) with `flags`
  send,     ///< send(2) with `flags` (MSG_NOSIGNAL is always added)
  accept,   ///< accept4(2); result is the new descriptor
  connect,  ///< connect(2) to `address`
  poll,     ///< waits for `poll_events`; result is the events that fired
  close,    ///< close(2)
  timeout,  ///< completes with -ETIME after `timeout` (relative)
  openat,   ///< openat(2) of `path` relative to `fd` with `flags`, `mode`; result: the descriptor
  fsync,    ///< fsync(2), or fdatasync(2) when `flags` has IORING_FSYNC_DATASYNC (1)
  recvmsg,  ///< recvmsg(2) into `message` with `flags`; result: bytes (msg_flags updated)
  sendmsg,  ///< sendmsg(2) of `message` with `flags` (MSG_NOSIGNAL is always added)
  /// io_uring only (see Backend::multishot_accept()): accept4(2) with `flags` again and again,
  /// one completion per connection (each with `more` set) until an error or a cancellation ends
  /// it with a last completion (`more` clear). The peer address is not reported.
  accept_multishot,
  /// io_uring only (see Backend::multishot_receive()): recv(2) with `flags` again and again into
  /// buffers the kernel selects from `buffer_group` (the loop's provided-buffer ring), one
  /// completion per arrival, each naming its buffer in `buffer_id`, until the end of the stream,
  /// an error (ENOBUFS when the ring is empty) or a cancellation ends it (`more` clear).
  recv_multishot,
};

/// Printable name of an operation kind, for error messages.
const char* op_name(OpCode code) noexcept;

/// The most bytes one read, write, send or receive moves (Linux's MAX_RW_COUNT; the result is an
/// int32, as in the kernel). Longer requests are cut to this length and report a short transfer.
inline constexpr std::size_t max_transfer_bytes = 0x7fff'f000;

/// Where an operation is in its life; only the backend changes it.
enum class OpState : std::uint8_t { idle, in_flight, cancelling };

struct Operation;

/// Called once per operation, on the loop thread, with the result (>= 0, or -errno).
using CompletionFunction = void (*)(Operation& operation, std::int32_t result);

/// Room inside every Operation for the bookkeeping of the backend that runs it (the epoll
/// backend's list links and deadline). Opaque to everyone else: only that backend gives it a type.
class BackendState {
 public:
  /// Starts the backend's `State` in this room (at submission); `State` is trivially destructible.
  template <class State>
  State& emplace() noexcept {
    static_assert(sizeof(State) <= kSize && alignof(State) <= kAlignment &&
                  std::is_trivially_destructible_v<State>);
    return *::new (static_cast<void*>(storage_)) State{};
  }
  /// The `State` emplace() started.
  template <class State>
  State& get() noexcept {
    return *std::launder(reinterpret_cast<State*>(storage_));
  }

 private:
  static constexpr std::size_t kSize = 48;
  static constexpr std::size_t kAlignment = 8;
  alignas(kAlignment) std::byte storage_[kSize];
};

/// One I/O request. Fill the fields for `code`, set `on_complete`, then submit it to a backend.
struct Operation {
  OpCode code = OpCode::nop;
  int fd = -1;
  void* buffer = nullptr;
  std::uint32_t length = 0;       ///< at most max_transfer_bytes
  int flags = 0;                  ///< recv/send flags, accept4 flags, open flags, fsync flags
  std::uint32_t poll_events = 0;  ///< POLLIN/POLLOUT... for `poll`
  std::uint64_t offset = static_cast<std::uint64_t>(-1);  ///< -1: the file position
  sockaddr* address = nullptr;     ///< connect target, or accept's peer address out
  socklen_t address_length = 0;    ///< in for connect; in/out for accept
  __kernel_timespec timeout{};     ///< relative duration for `timeout`
  const char* path = nullptr;      ///< `openat`: NUL-terminated path, kept alive by the submitter
  std::uint32_t mode = 0;          ///< `openat`: permission bits for a created file
  msghdr* message = nullptr;       ///< `recvmsg`/`sendmsg`: kept alive by the submitter
  std::uint16_t buffer_group = 0;  ///< `recv_multishot`: the provided-buffer group to select from
  CompletionFunction on_complete = nullptr;
  /// Optional: called instead of `on_complete` for completions that arrive while the backend is
  /// being destroyed (the loop is going away: it must not wake tasks or submit). Without it such
  /// completions are dropped, and a descriptor an open or accept made is closed by the backend.
  CompletionFunction on_teardown = nullptr;
  void* user_data = nullptr;  ///< free for the submitter

  // Set by the backend, read by the submitter.
  OpState state = OpState::idle;
  /// Set by the backend before each completion: whether more completions of this (multishot)
  /// operation will follow; the operation stays in flight meanwhile.
  bool more = false;
  /// Set by the backend before each completion: the provided buffer the kernel filled (its id),
  /// or -1 when the completion carries none. Whoever receives it owns the buffer from then on.
  std::int32_t buffer_id = -1;
  /// The running backend's own bookkeeping; nobody else touches it.
  BackendState backend_state;

  [[nodiscard]] bool in_flight() const noexcept { return state != OpState::idle; }
};

}  // namespace ringloop::io
