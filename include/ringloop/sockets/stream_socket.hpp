#pragma once
// StreamSocket: a connected stream socket (TCP or Unix) with asyncio's StreamReader and
// StreamWriter in one object: buffered reads (read_exactly, read_until, readline) and buffered
// writes whose drain() applies backpressure, so a slow peer cannot make memory grow without bound.
//
// Memory and cancellation: spans point at the caller's memory, which must stay valid until the
// await ends. Every await may be cancelled; the backend lets go of the memory before the task
// resumes with CancelledError (DESIGN.md rule 1). Bytes already received are never lost: a
// cancelled or failed read_until leaves them buffered for the next read.
//
// Receive buffers (DESIGN.md): a stream waiting for data holds none. On io_uring the loop's
// provided-buffer ring feeds a multishot receive; elsewhere a read waits for readiness and then
// receives into a buffer the loop lends. receive() hands such a buffer to the caller with no copy.
//
// Errors: std::system_error with the errno (ECONNRESET, EPIPE...) and what() naming the operation
// and the socket; a send to a closed peer gives EPIPE, never SIGPIPE. One read and one write may
// be pending at a time (a second concurrent one is an InvalidStateError). Loop thread only.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include <ringloop/io/backend.hpp>
#include <ringloop/runtime/task.hpp>
#include <ringloop/sockets/socket_address.hpp>

namespace ringloop {

namespace detail {
class StreamCore;
struct ReceivedBytesAccess;
}  // namespace detail

/// Bytes StreamSocket::receive() returned: a view of a receive buffer the loop lends (a
/// provided-buffer ring buffer on io_uring, a pooled chunk elsewhere), given back when this is
/// destroyed or release() is called. Move-only. Hold it only as long as needed: while it lives
/// the buffer cannot take new data. Destroy it before its loop.
class ReceivedBytes {
 public:
  /// Empty: what receive() gives at the end of the stream.
  ReceivedBytes() noexcept = default;
  ReceivedBytes(ReceivedBytes&& other) noexcept;
  ReceivedBytes& operator=(ReceivedBytes&& other) noexcept;
  ReceivedBytes(const ReceivedBytes&) = delete;
  ReceivedBytes& operator=(const ReceivedBytes&) = delete;
  /// Gives the buffer back.
  ~ReceivedBytes() { release(); }

  /// The bytes received.
  [[nodiscard]] std::span<const std::byte> bytes() const noexcept { return bytes_; }
  /// The same bytes, so a ReceivedBytes can be passed where a span is expected (write_all).
  operator std::span<const std::byte>() const noexcept { return bytes_; }
  /// The bytes as characters.
  [[nodiscard]] std::string_view text() const noexcept {
    return {reinterpret_cast<const char*>(bytes_.data()), bytes_.size()};
  }
  /// How many bytes.
  [[nodiscard]] std::size_t size() const noexcept { return bytes_.size(); }
  /// Whether there are none (the end of the stream, or released).
  [[nodiscard]] bool empty() const noexcept { return bytes_.empty(); }
  /// Gives the buffer back now; the view becomes empty.
  void release() noexcept;

 private:
  friend struct detail::ReceivedBytesAccess;
  std::span<const std::byte> bytes_;
  io::ReceiveBufferPool* pool_ = nullptr;  // holds a reference while a buffer is held
  std::byte* chunk_ = nullptr;             // a pooled chunk, or null for a ring buffer
  std::int32_t buffer_id_ = -1;            // the ring buffer's id
};

/// A connected stream socket. Move-only; owns its descriptor.
class StreamSocket {
 public:
  /// Default write_buffer_limits (asyncio's): drain() waits above 64 KiB until 16 KiB remain.
  static constexpr std::size_t default_high_water = 64 * 1024;
  static constexpr std::size_t default_low_water = 16 * 1024;

  /// A closed socket: every operation fails with EBADF.
  StreamSocket() noexcept;
  /// Takes ownership of a connected, non-blocking stream socket descriptor.
  explicit StreamSocket(int descriptor);
  StreamSocket(StreamSocket&&) noexcept;
  StreamSocket& operator=(StreamSocket&&) noexcept;
  StreamSocket(const StreamSocket&) = delete;
  StreamSocket& operator=(const StreamSocket&) = delete;
  /// Aborts: closes the descriptor at once (after the backend lets go of pending writes'
  /// memory); bytes still in the write buffer are dropped. Await close() to send them first.
  ~StreamSocket();

  // ---- reading ----
  /// The next bytes received, without a copy: a loaned buffer (see ReceivedBytes), or what is
  /// buffered by an earlier read. Empty at the end of the stream (or once close() ran).
  Task<ReceivedBytes> receive();
  /// What receive() would give at once, without waiting or a system call: bytes already
  /// received (queued ring buffers, or what an earlier read left over); empty when there are
  /// none. Lets a reader take a burst in one go (e.g. several buffers for one
  /// write_all_vectored()). InvalidStateError while another read is pending.
  ReceivedBytes try_receive();
  /// Up to buffer.size() bytes: what is buffered, else one receive. 0 means the peer closed its
  /// side (end of stream). An empty buffer gives 0 at once.
  Task<std::size_t> read_some(std::span<std::byte> buffer);
  /// Exactly buffer.size() bytes; IncompleteReadError (with the partial bytes) if the stream ends.
  Task<> read_exactly(std::span<std::byte> buffer);
  /// Bytes up to and including `delimiter` (non-empty). LimitOverrunError if no delimiter shows
  /// within `max_bytes` (the bytes stay buffered); IncompleteReadError if the stream ends first.
  Task<std::string> read_until(std::string delimiter, std::size_t max_bytes = 64 * 1024);
  /// read_until("\n", max_bytes), except that at the end of the stream it returns what is left
  /// (possibly "") instead of failing, as asyncio's readline does.
  Task<std::string> readline(std::size_t max_bytes = 64 * 1024);
  /// Whether the peer closed its side and the buffer is empty.
  [[nodiscard]] bool at_eof() const noexcept;
  /// Bytes received but not yet read.
  [[nodiscard]] std::size_t read_buffer_size() const noexcept;

  // ---- writing ----
  /// Sends all of `bytes` (after anything buffered by write()); returns when the kernel has them.
  /// Without buffered data this sends straight from `bytes`, with no copy.
  Task<> write_all(std::span<const std::byte> bytes);
  /// write_all() of the characters of `text`.
  Task<> write_all(std::string_view text);
  /// Sends every piece, in order, as one gathered sendmsg(2) where the kernel takes them all
  /// (after anything buffered by write()); no copy. `pieces` and their bytes must stay valid
  /// until the await ends.
  Task<> write_all_vectored(std::span<const std::span<const std::byte>> pieces);
  /// Buffers `bytes` (copied) and starts sending them in the background; never waits. Call
  /// drain() so a slow peer cannot make the buffer grow. Throws the error that stopped an
  /// earlier background send, InvalidStateError after shutdown_write(), system_error EBADF
  /// after close().
  void write(std::span<const std::byte> bytes);
  /// write() of the characters of `text`.
  void write(std::string_view text);
  /// Waits while more than the high-water mark is buffered, until at most the low-water mark
  /// is; throws the error that stopped the background send (ECONNRESET, EPIPE...), system_error
  /// EBADF after close().
  Task<> drain();
  /// Waits until the write buffer is empty (everything handed to the kernel).
  Task<> flush();
  /// Sets drain()'s marks (low <= high; else std::invalid_argument).
  void set_write_buffer_limits(std::size_t high, std::size_t low);
  /// Bytes buffered by write() and not yet sent.
  [[nodiscard]] std::size_t write_buffer_size() const noexcept;

  // ---- the connection ----
  /// Flushes the write buffer, then shutdown(SHUT_WR): the peer reads end-of-stream, while this
  /// side can still read.
  Task<> shutdown_write();
  /// Flushes the write buffer, then closes; throws (after closing) only when buffered bytes could
  /// not be sent. A read pending in another task ends with end-of-stream. Closing twice is a no-op.
  Task<> close();
  /// Whether the socket holds a descriptor (not closed).
  [[nodiscard]] bool is_open() const noexcept;
  /// The descriptor, or -1 (for setsockopt and the like; do not close it yourself).
  [[nodiscard]] int native_handle() const noexcept;
  /// getsockname(2). Throws std::system_error.
  [[nodiscard]] SocketAddress local_address() const;
  /// getpeername(2). Throws std::system_error (ENOTCONN after the peer is gone, for instance).
  [[nodiscard]] SocketAddress peer_address() const;

 protected:
  /// Opens a non-blocking socket of `family` and connects it to `address` (cancellable; use
  /// wait_for for a timeout). Throws std::system_error naming the address.
  static Task<StreamSocket> connect_socket(SocketAddress address);

  std::shared_ptr<detail::StreamCore> core_;
};

}  // namespace ringloop
