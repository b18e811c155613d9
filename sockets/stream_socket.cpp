#include <ringloop/sockets/stream_socket.hpp>

#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <utility>
#include <vector>

#include <ringloop/runtime/errors.hpp>
#include <ringloop/runtime/event.hpp>
#include <ringloop/runtime/task_handle.hpp>
#include <ringloop/sockets/socket_errors.hpp>

#include "io/receive_buffers.hpp"
#include "multishot_receive.hpp"
#include "socket_util.hpp"

namespace ringloop {
namespace detail {

/// The state behind a StreamSocket. Heap-allocated and shared with the background flusher, so
/// the socket object may move (and even be destroyed) while bytes are still being sent.
class StreamCore {
 public:
  explicit StreamCore(int descriptor) noexcept : descriptor(descriptor) {}
  StreamCore(const StreamCore&) = delete;
  StreamCore& operator=(const StreamCore&) = delete;
  ~StreamCore() {
    if (receiver) receiver->orphan();
    if (descriptor >= 0) ::close(descriptor);
  }

  /// Bytes in read_buffer, then those the multishot receive queued behind them.
  [[nodiscard]] std::size_t buffered_in_vector() const noexcept { return read_end - read_begin; }
  [[nodiscard]] std::size_t buffered_for_reading() const noexcept {
    return buffered_in_vector() + (receiver ? receiver->queued_bytes() : 0);
  }
  [[nodiscard]] std::size_t buffered_for_writing() const noexcept {
    return (sending.size() - sent) + pending.size();
  }
  [[nodiscard]] std::string where(const char* operation) const {
    return on_descriptor(operation, descriptor);
  }
  void require_open(const char* operation) const {
    if (descriptor < 0) throw_system_error(EBADF, std::string(operation) + " on a closed socket");
  }

  // Wakes drain() and flush() waiters as the buffer empties (or the sending stops for good).
  void update_write_events() noexcept {
    const std::size_t buffered = buffered_for_writing();
    if (write_error != 0 || buffered <= low_water) drained.set();
    if (write_error != 0 || buffered == 0) flushed.set();
  }

  int descriptor;

  // Reading: bytes [read_begin, read_end) of read_buffer are received and not yet read; on
  // io_uring with a provided-buffer ring, the receiver's queue follows them. read_buffer only
  // holds what a reader left over and is released when it empties (an idle stream holds no
  // receive buffer); `receiver` is created by the first read when the backend can multishot.
  std::vector<std::byte> read_buffer;
  MultishotReceive* receiver = nullptr;
  bool receiver_chosen = false;
  std::size_t read_begin = 0;
  std::size_t read_end = 0;
  std::size_t delimiter_scanned = 0;  // read_until: bytes already searched (from read_begin)
  bool end_of_stream = false;
  bool reading = false;
  IoOperation* pending_read = nullptr;

  // Writing: `sending` is in the kernel's hands (from offset `sent`), `pending` waits behind it.
  std::vector<std::byte> sending;
  std::size_t sent = 0;
  std::vector<std::byte> pending;
  std::size_t high_water = StreamSocket::default_high_water;
  std::size_t low_water = StreamSocket::default_low_water;
  int write_error = 0;
  bool write_shut = false;
  bool direct_writing = false;  // write_all() sending straight from the caller's bytes
  IoOperation* pending_write = nullptr;
  TaskHandle<> flusher;
  bool flusher_running = false;
  bool abandoned = false;  // the StreamSocket is gone: the flusher closes the descriptor
  Event drained;
  Event flushed;
};

namespace {

std::size_t clamp_length(std::size_t size) noexcept {
  return std::min(size, io::max_transfer_bytes);
}

// Sends what write() buffered, in the background; ends when the buffer is empty, on an error
// (kept for drain()/flush() to throw), or when the socket is abandoned.
Task<> flush_in_background(std::shared_ptr<StreamCore> core) {
  while (core->write_error == 0 && core->descriptor >= 0) {
    if (core->sent == core->sending.size()) {
      if (core->pending.empty()) break;
      core->sending.clear();
      core->sent = 0;
      std::swap(core->sending, core->pending);  // `pending` keeps the old capacity for reuse
    }
    std::span<const std::byte> rest(core->sending.data() + core->sent,
                                    clamp_length(core->sending.size() - core->sent));
    IoOperation sending = ops::send(core->descriptor, rest);
    sending.return_errors();
    const int result = co_await sending;
    if (result < 0) {
      core->write_error = -result;
    } else {
      core->sent += static_cast<std::size_t>(result);
    }
    core->update_write_events();
  }
  core->flusher_running = false;
  core->flusher = {};
  core->update_write_events();
  if (core->abandoned && core->descriptor >= 0) ::close(std::exchange(core->descriptor, -1));
}

void start_flusher(const std::shared_ptr<StreamCore>& core) {
  if (core->flusher_running || core->direct_writing || core->write_error != 0) return;
  if (core->buffered_for_writing() == 0) return;
  core->flusher_running = true;
  core->flushed.clear();
  core->flusher = spawn(flush_in_background(core), "stream flusher");
}

// read_buffer capacity kept when it empties: small leftovers (lines) cost no allocation per read,
// while a stream that received a large burst does not keep it while idle.
constexpr std::size_t kKeptReadBuffer = 1024;

// Consumes `count` bytes at read_begin; an emptied buffer starts over, and lets go of its memory
// when it is larger than kKeptReadBuffer.
void consume_read_buffer(StreamCore& core, std::size_t count) noexcept {
  core.read_begin += count;
  core.delimiter_scanned = 0;
  if (core.read_begin != core.read_end) return;
  core.read_begin = core.read_end = 0;
  if (core.read_buffer.size() > kKeptReadBuffer) std::vector<std::byte>().swap(core.read_buffer);
}

// Makes room for at least `wanted` more bytes after read_end.
void reserve_read_space(StreamCore& core, std::size_t wanted) {
  if (core.read_begin == core.read_end) {  // empty: start over at the front
    core.read_begin = core.read_end = 0;
  } else if (core.read_begin > 0 && core.read_buffer.size() - core.read_end < wanted) {
    std::memmove(core.read_buffer.data(), core.read_buffer.data() + core.read_begin,
                 core.read_end - core.read_begin);
    core.read_end -= core.read_begin;
    core.read_begin = 0;
  }
  if (core.read_buffer.size() - core.read_end < wanted) {
    core.read_buffer.resize(std::max(core.read_end + wanted, core.read_buffer.size() * 2));
  }
}

// Appends `count` bytes at `bytes` to the read buffer.
void append_to_read_buffer(StreamCore& core, const std::byte* bytes, std::size_t count) {
  reserve_read_space(core, count);
  std::memcpy(core.read_buffer.data() + core.read_end, bytes, count);
  core.read_end += count;
}

// The multishot receive's spill (flow control): ring buffers beyond its queue limit are copied
// to the read buffer, where they precede what stays queued.
bool spill_to_read_buffer(void* owner, const std::byte* bytes, std::size_t count) noexcept {
  try {
    append_to_read_buffer(*static_cast<StreamCore*>(owner), bytes, count);
    return true;
  } catch (...) {
    return false;
  }
}

// The stream's multishot receive, created on its first read when the backend can (null: the
// stream waits for readiness and receives once per read).
MultishotReceive* receiver_of(StreamCore& core) {
  if (!core.receiver_chosen) {
    core.receiver_chosen = true;
    io::Backend& backend = Loop::current().backend();
    if (backend.multishot_receive()) {
      core.receiver = new MultishotReceive(backend, core.descriptor, &spill_to_read_buffer, &core);
    }
  }
  return core.receiver;
}

// Marks a read in progress (one at a time) for the scope of one read call.
class ReadingGuard {
 public:
  explicit ReadingGuard(StreamCore& core) : core_(core) {
    core.require_open("read");
    if (core.reading) {
      throw InvalidStateError("StreamSocket: another task is already reading from fd " +
                              std::to_string(core.descriptor));
    }
    core.reading = true;
  }
  ReadingGuard(const ReadingGuard&) = delete;
  ReadingGuard& operator=(const ReadingGuard&) = delete;
  ~ReadingGuard() { core_.reading = false; }

 private:
  StreamCore& core_;
};

// One receive into `buffer`. Gives the count; 0 at the end of the stream, or when close() ran
// meanwhile (it cancels the receive). Throws std::system_error for other failures.
Task<std::size_t> receive(StreamCore* core, std::span<std::byte> buffer) {
  const int descriptor = core->descriptor;
  IoOperation receiving = ops::recv(descriptor, buffer);
  receiving.return_errors();
  int result;
  {
    PendingOperation pending(core->pending_read, receiving);
    result = co_await receiving;
  }
  if (core->descriptor < 0) co_return 0;  // closed while waiting
  if (result < 0) throw_operation_error(-result, "recv", descriptor);
  if (result == 0) core->end_of_stream = true;
  co_return static_cast<std::size_t>(result);
}

// Waits, holding no buffer, until the socket is readable. False when close() ran meanwhile.
Task<bool> wait_readable(StreamCore* core) {
  const int descriptor = core->descriptor;
  IoOperation polling = ops::poll(descriptor, POLLIN);
  polling.return_errors();
  int result;
  {
    PendingOperation pending(core->pending_read, polling);
    result = co_await polling;
  }
  if (core->descriptor < 0) co_return false;
  if (result < 0) throw_operation_error(-result, "poll", descriptor);
  co_return true;
}

// Without a multishot receive: receives once into a chunk lent by the loop, and when nothing is
// there yet waits for readiness holding nothing, then tries again. Trying first costs one recv
// where a request is usually already waiting (echo, HTTP): asking for readiness first took a
// poll(2) on epoll for every message as well. Gives the count (0: end of stream or closed
// meanwhile); `chunk` is taken from `pool` only when bytes arrive, and the caller gives it back.
Task<std::size_t> receive_into_chunk(StreamCore* core, io::ReceiveBufferPool* pool,
                                     std::byte** chunk) {
  const int descriptor = core->descriptor;
  for (;;) {
    std::byte* memory = pool->take_chunk();
    const ssize_t received =
        ::recv(descriptor, memory, io::ReceiveBufferPool::kChunkSize, MSG_DONTWAIT);
    if (received > 0) {
      *chunk = memory;
      co_return static_cast<std::size_t>(received);
    }
    const int error = errno;
    pool->give_back_chunk(memory);
    if (received == 0) {
      core->end_of_stream = true;
      co_return 0;
    }
    if (error == EINTR) continue;
    if (error != EAGAIN && error != EWOULDBLOCK) throw_operation_error(error, "recv", descriptor);
    const bool readable = co_await wait_readable(core);
    if (!readable) co_return 0;
  }
}

// With a multishot receive: waits until a filled buffer is queued, or flow control spilled bytes
// into the read buffer (read those first: they precede the queue). False at the end of the
// stream or once the stream is closed; throws the error that ended the receive.
Task<bool> await_filled(StreamCore* core) {
  const int descriptor = core->descriptor;
  MultishotReceive* receiver = core->receiver;
  const std::size_t buffered_before = core->buffered_in_vector();
  for (;;) {
    if (core->descriptor < 0) co_return false;
    if (receiver->front() != nullptr || core->buffered_in_vector() > buffered_before) {
      co_return true;
    }
    if (const int error = receiver->take_error(); error != 0) {
      throw_operation_error(error, "recv", descriptor);
    }
    if (receiver->ended() || receiver->is_shut()) {
      if (receiver->ended()) core->end_of_stream = true;
      co_return false;
    }
    receiver->arrived().clear();
    receiver->want_data();
    co_await receiver->arrived().wait();
  }
}

// Receives more bytes into the read buffer; false at the end of the stream.
Task<bool> fill_read_buffer(StreamCore* core) {
  if (core->end_of_stream) co_return false;
  if (MultishotReceive* receiver = receiver_of(*core)) {
    const bool filled = co_await await_filled(core);
    if (!filled) co_return false;
    if (MultishotReceive::Filled* front = receiver->front()) {
      const std::size_t count = front->end - front->begin;
      append_to_read_buffer(*core, receiver->memory(*front), count);
      receiver->consume(count);
    }
    co_return true;
  }
  io::ReceiveBufferPool* pool = &Loop::current().backend().receive_buffers();
  std::byte* chunk = nullptr;
  const std::size_t received = co_await receive_into_chunk(core, pool, &chunk);
  if (received == 0) co_return false;
  try {
    append_to_read_buffer(*core, chunk, received);
  } catch (...) {
    pool->give_back_chunk(chunk);
    throw;
  }
  pool->give_back_chunk(chunk);
  co_return true;
}

std::string take_buffered(StreamCore& core, std::size_t count) {
  std::string bytes(reinterpret_cast<const char*>(core.read_buffer.data() + core.read_begin),
                    count);
  consume_read_buffer(core, count);
  return bytes;
}

}  // namespace

/// Builds ReceivedBytes for StreamSocket::receive().
struct ReceivedBytesAccess {
  static ReceivedBytes lend_chunk(io::ReceiveBufferPool& pool, std::byte* chunk,
                                  std::size_t count) noexcept {
    ReceivedBytes bytes;
    pool.add_ref();
    bytes.pool_ = &pool;
    bytes.chunk_ = chunk;
    bytes.bytes_ = std::span<const std::byte>(chunk, count);
    return bytes;
  }
  static ReceivedBytes lend_ring_buffer(io::ReceiveBufferPool& pool,
                                        const MultishotReceive::Filled& filled) noexcept {
    ReceivedBytes bytes;
    pool.add_ref();
    bytes.pool_ = &pool;
    bytes.buffer_id_ = filled.buffer_id;
    bytes.bytes_ = std::span<const std::byte>(pool.ring_buffer(filled.buffer_id) + filled.begin,
                                              filled.end - filled.begin);
    return bytes;
  }
};

namespace {

// What the read buffer holds (left over by read_until, or spilled by flow control), copied into a
// chunk so the view stays valid whatever the next read does to the read buffer.
ReceivedBytes lend_read_buffer(StreamCore& core, io::ReceiveBufferPool& pool) {
  const std::size_t count = std::min(core.buffered_in_vector(), io::ReceiveBufferPool::kChunkSize);
  std::byte* chunk = pool.take_chunk();
  std::memcpy(chunk, core.read_buffer.data() + core.read_begin, count);
  consume_read_buffer(core, count);
  return ReceivedBytesAccess::lend_chunk(pool, chunk, count);
}

// Copies up to buffer.size() bytes of the read buffer out.
std::size_t copy_from_read_buffer(StreamCore& core, std::span<std::byte> buffer) noexcept {
  const std::size_t count = std::min(core.buffered_in_vector(), buffer.size());
  std::memcpy(buffer.data(), core.read_buffer.data() + core.read_begin, count);
  consume_read_buffer(core, count);
  return count;
}

// write_all/write_all_vectored: whether the bytes must go behind what write() buffered (true),
// or may be sent straight from the caller's memory (false). Throws for a socket that cannot send.
bool must_buffer_write(StreamCore& core, const char* operation) {
  core.require_open(operation);
  if (core.direct_writing) {
    throw InvalidStateError(std::string("StreamSocket: another task is already in ") + operation +
                            " on fd " + std::to_string(core.descriptor));
  }
  if (core.buffered_for_writing() > 0 || core.flusher_running) return true;
  if (core.write_error != 0) throw_system_error(core.write_error, core.where("send"));
  if (core.write_shut) {
    throw InvalidStateError(std::string("StreamSocket::") + operation +
                            " after shutdown_write() on fd " + std::to_string(core.descriptor));
  }
  return false;
}

// Walks the pieces of a direct write: one send(2) while a single piece is left, else a gathered
// sendmsg(2) of up to MaxPieces (the iovecs live in the cursor, in the coroutine's frame, so
// write_all's single piece costs no room for them).
template <std::size_t MaxPieces>
class PieceCursor {
 public:
  explicit PieceCursor(std::span<const std::span<const std::byte>> pieces) noexcept
      : pieces_(pieces) {
    skip_empty();
  }
  PieceCursor(const PieceCursor&) = delete;
  PieceCursor& operator=(const PieceCursor&) = delete;

  [[nodiscard]] bool done() const noexcept { return index_ == pieces_.size(); }

  IoOperation next_send(int descriptor) noexcept {
    const std::span<const std::byte> first = pieces_[index_].subspan(offset_);
    if (index_ + 1 == pieces_.size()) {
      IoOperation sending = ops::send(descriptor, first.first(clamp_length(first.size())));
      sending.return_errors();
      return sending;
    }
    std::size_t count = 0;
    std::size_t total = 0;
    for (std::size_t i = index_; i < pieces_.size() && count < MaxPieces; ++i) {
      std::span<const std::byte> piece = i == index_ ? first : pieces_[i];
      piece = piece.first(std::min(piece.size(), io::max_transfer_bytes - total));
      if (piece.empty()) continue;
      vectors_[count].iov_base = const_cast<std::byte*>(piece.data());  // sendmsg only reads
      vectors_[count].iov_len = piece.size();
      ++count;
      total += piece.size();
      if (total == io::max_transfer_bytes) break;
    }
    message_ = {};
    message_.msg_iov = vectors_;
    message_.msg_iovlen = count;
    IoOperation sending = ops::sendmsg(descriptor, &message_);
    sending.return_errors();
    return sending;
  }

  void advance(std::size_t sent) noexcept {
    while (sent > 0) {
      const std::size_t left = pieces_[index_].size() - offset_;
      if (sent < left) {
        offset_ += sent;
        return;
      }
      sent -= left;
      ++index_;
      offset_ = 0;
    }
    skip_empty();
  }

 private:
  void skip_empty() noexcept {
    while (index_ < pieces_.size() && pieces_[index_].size() == offset_) {
      ++index_;
      offset_ = 0;
    }
  }

  std::span<const std::span<const std::byte>> pieces_;
  std::size_t index_ = 0;
  std::size_t offset_ = 0;
  iovec vectors_[MaxPieces];
  msghdr message_{};
};

// A direct send's result: 0 to go on, else the errno that stops it (EBADF: closed meanwhile).
int sent_or_error(const StreamCore& core, int result) noexcept {
  if (core.descriptor < 0) return EBADF;
  return result < 0 ? -result : 0;
}

// Ends a direct write: keeps a send error for drain()/flush() and throws it, and starts sending
// what write() buffered meanwhile.
void finish_direct_write(const std::shared_ptr<StreamCore>& core, int error, int descriptor) {
  core->direct_writing = false;
  if (error != 0) {
    if (error != EBADF) core->write_error = error;
    core->update_write_events();
    throw_operation_error(error, "send", descriptor);
  }
  start_flusher(core);
}

}  // namespace
}  // namespace detail

ReceivedBytes::ReceivedBytes(ReceivedBytes&& other) noexcept
    : bytes_(std::exchange(other.bytes_, {})),
      pool_(std::exchange(other.pool_, nullptr)),
      chunk_(std::exchange(other.chunk_, nullptr)),
      buffer_id_(std::exchange(other.buffer_id_, -1)) {}

ReceivedBytes& ReceivedBytes::operator=(ReceivedBytes&& other) noexcept {
  if (this != &other) {
    release();
    bytes_ = std::exchange(other.bytes_, {});
    pool_ = std::exchange(other.pool_, nullptr);
    chunk_ = std::exchange(other.chunk_, nullptr);
    buffer_id_ = std::exchange(other.buffer_id_, -1);
  }
  return *this;
}

void ReceivedBytes::release() noexcept {
  bytes_ = {};
  if (pool_ == nullptr) return;
  if (chunk_ != nullptr) {
    pool_->give_back_chunk(std::exchange(chunk_, nullptr));
  } else {
    pool_->give_back_ring(static_cast<std::uint16_t>(std::exchange(buffer_id_, -1)));
  }
  std::exchange(pool_, nullptr)->release();
}

StreamSocket::StreamSocket() noexcept = default;

StreamSocket::StreamSocket(int descriptor)
    : core_(std::make_shared<detail::StreamCore>(descriptor)) {
  if (descriptor < 0) {
    core_->descriptor = -1;
    throw std::invalid_argument("StreamSocket: invalid descriptor " + std::to_string(descriptor));
  }
}

StreamSocket::StreamSocket(StreamSocket&&) noexcept = default;

StreamSocket& StreamSocket::operator=(StreamSocket&& other) noexcept {
  if (this != &other) {
    StreamSocket old(std::move(*this));  // aborts what this held, as the destructor does
    core_ = std::move(other.core_);
  }
  return *this;
}

StreamSocket::~StreamSocket() {
  if (!core_ || core_->descriptor < 0) return;
  detail::StreamCore& core = *core_;
  detail::cancel_pending(core.pending_read);
  detail::cancel_pending(core.pending_write);
  if (core.receiver) core.receiver->shut();  // its buffers go back now, the record when it ends
  if (core.flusher_running) {
    // The flusher's send may still be reading its buffer: it closes the descriptor when it ends.
    core.abandoned = true;
    core.flusher.cancel();
  } else {
    ::close(std::exchange(core.descriptor, -1));
  }
}

// ---- reading ----

Task<ReceivedBytes> StreamSocket::receive() {
  if (!core_) detail::throw_system_error(EBADF, "receive on a closed socket");
  detail::StreamCore* core = core_.get();
  detail::ReadingGuard reading(*core);
  io::ReceiveBufferPool& pool = Loop::current().backend().receive_buffers();
  if (core->buffered_in_vector() > 0) co_return detail::lend_read_buffer(*core, pool);
  if (core->end_of_stream) co_return ReceivedBytes{};
  if (detail::MultishotReceive* receiver = detail::receiver_of(*core)) {
    const bool filled = co_await detail::await_filled(core);
    if (!filled) co_return ReceivedBytes{};
    if (core->buffered_in_vector() > 0) co_return detail::lend_read_buffer(*core, pool);
    co_return detail::ReceivedBytesAccess::lend_ring_buffer(receiver->pool(),
                                                            receiver->take_front());
  }
  std::byte* chunk = nullptr;
  const std::size_t received = co_await detail::receive_into_chunk(core, &pool, &chunk);
  if (received == 0) co_return ReceivedBytes{};
  co_return detail::ReceivedBytesAccess::lend_chunk(pool, chunk, received);
}

ReceivedBytes StreamSocket::try_receive() {
  if (!core_) detail::throw_system_error(EBADF, "try_receive on a closed socket");
  detail::StreamCore& core = *core_;
  detail::ReadingGuard reading(core);
  if (core.buffered_in_vector() > 0) {
    return detail::lend_read_buffer(core, Loop::current().backend().receive_buffers());
  }
  if (core.receiver != nullptr && core.receiver->front() != nullptr) {
    return detail::ReceivedBytesAccess::lend_ring_buffer(core.receiver->pool(),
                                                         core.receiver->take_front());
  }
  return ReceivedBytes{};
}

Task<std::size_t> StreamSocket::read_some(std::span<std::byte> buffer) {
  if (!core_) detail::throw_system_error(EBADF, "read_some on a closed socket");
  detail::StreamCore* core = core_.get();
  detail::ReadingGuard reading(*core);
  if (buffer.empty()) co_return 0;
  if (core->buffered_in_vector() > 0) co_return detail::copy_from_read_buffer(*core, buffer);
  if (core->end_of_stream) co_return 0;
  if (detail::MultishotReceive* receiver = detail::receiver_of(*core)) {
    // Copy what fits out of the oldest ring buffer; the rest stays queued for the next read.
    const bool filled = co_await detail::await_filled(core);
    if (!filled) co_return 0;
    if (core->buffered_in_vector() > 0) co_return detail::copy_from_read_buffer(*core, buffer);
    detail::MultishotReceive::Filled* front = receiver->front();
    const std::size_t count = std::min<std::size_t>(front->end - front->begin, buffer.size());
    std::memcpy(buffer.data(), receiver->memory(*front), count);
    receiver->consume(count);
    co_return count;
  }
  // Nothing buffered: receive straight into the caller's memory (no copy).
  const std::size_t received = co_await detail::receive(core, buffer);
  co_return received;
}

Task<> StreamSocket::read_exactly(std::span<std::byte> buffer) {
  if (!core_) detail::throw_system_error(EBADF, "read_exactly on a closed socket");
  detail::StreamCore* core = core_.get();
  detail::ReadingGuard reading(*core);
  // Through the read buffer, so a cancelled or failed read loses no byte: they stay buffered.
  while (core->buffered_in_vector() < buffer.size()) {
    const bool more = co_await detail::fill_read_buffer(core);
    if (!more) {
      std::string partial = detail::take_buffered(*core, core->buffered_in_vector());
      throw IncompleteReadError(std::move(partial), buffer.size());
    }
  }
  if (!buffer.empty()) {
    std::memcpy(buffer.data(), core->read_buffer.data() + core->read_begin, buffer.size());
  }
  detail::consume_read_buffer(*core, buffer.size());
}

Task<std::string> StreamSocket::read_until(std::string delimiter, std::size_t max_bytes) {
  if (delimiter.empty()) throw std::invalid_argument("read_until: the delimiter is empty");
  if (!core_) detail::throw_system_error(EBADF, "read_until on a closed socket");
  detail::StreamCore* core = core_.get();
  detail::ReadingGuard reading(*core);
  const auto* needle = reinterpret_cast<const std::byte*>(delimiter.data());
  for (;;) {
    const std::byte* begin = core->read_buffer.data() + core->read_begin;
    const std::byte* end = core->read_buffer.data() + core->read_end;
    // Resume the search where the last one stopped, minus a partial delimiter at its end.
    const std::size_t skip = core->delimiter_scanned > delimiter.size() - 1
                                 ? core->delimiter_scanned - (delimiter.size() - 1)
                                 : 0;
    const std::byte* found = std::search(begin + skip, end, needle, needle + delimiter.size());
    if (found != end) {
      const auto length = static_cast<std::size_t>(found - begin) + delimiter.size();
      if (length > max_bytes) throw LimitOverrunError(core->buffered_in_vector(), max_bytes);
      co_return detail::take_buffered(*core, length);
    }
    core->delimiter_scanned = core->buffered_in_vector();
    if (core->buffered_in_vector() >= max_bytes) {
      throw LimitOverrunError(core->buffered_in_vector(), max_bytes);
    }
    const bool more = co_await detail::fill_read_buffer(core);
    if (!more) {
      std::string partial = detail::take_buffered(*core, core->buffered_in_vector());
      throw IncompleteReadError(std::move(partial), max_bytes);
    }
  }
}

Task<std::string> StreamSocket::readline(std::size_t max_bytes) {
  std::string line;
  try {
    line = co_await read_until("\n", max_bytes);
  } catch (IncompleteReadError& error) {
    line = error.partial();  // the last, unterminated line (or "" at the end of the stream)
  }
  co_return line;
}

bool StreamSocket::at_eof() const noexcept {
  return core_ && core_->end_of_stream && core_->buffered_for_reading() == 0;
}

std::size_t StreamSocket::read_buffer_size() const noexcept {
  return core_ ? core_->buffered_for_reading() : 0;
}

// ---- writing ----

void StreamSocket::write(std::span<const std::byte> bytes) {
  if (!core_) detail::throw_system_error(EBADF, "write on a closed socket");
  detail::StreamCore& core = *core_;
  core.require_open("write");
  if (core.write_error != 0) detail::throw_system_error(core.write_error, core.where("send"));
  if (core.write_shut) {
    throw InvalidStateError("StreamSocket::write after shutdown_write() on fd " +
                            std::to_string(core.descriptor));
  }
  if (bytes.empty()) return;
  if (core.buffered_for_writing() == 0 && !core.direct_writing) {
    // Try at once, as uvloop does: most writes fit in the socket buffer and never wait.
    const ssize_t sent =
        ::send(core.descriptor, bytes.data(), bytes.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    if (sent >= 0) {
      bytes = bytes.subspan(static_cast<std::size_t>(sent));
    } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
      core.write_error = errno;  // reported by drain()/flush()/the next write(), as asyncio does
      core.update_write_events();
      return;
    }
    if (bytes.empty()) return;
  }
  core.pending.insert(core.pending.end(), bytes.begin(), bytes.end());
  if (core.buffered_for_writing() > core.low_water) core.drained.clear();
  core.flushed.clear();
  detail::start_flusher(core_);
}

void StreamSocket::write(std::string_view text) {
  write(std::as_bytes(std::span(text.data(), text.size())));
}

Task<> StreamSocket::write_all(std::span<const std::byte> bytes) {
  if (!core_) detail::throw_system_error(EBADF, "write_all on a closed socket");
  if (detail::must_buffer_write(*core_, "write_all")) {
    write(bytes);  // keeps the order behind what write() buffered
    co_await flush();
    co_return;
  }
  // Nothing buffered: send straight from the caller's bytes.
  detail::StreamCore* core = core_.get();
  const int descriptor = core->descriptor;
  detail::PieceCursor<1> cursor(std::span<const std::span<const std::byte>>(&bytes, 1));
  int error = 0;
  core->direct_writing = true;
  try {
    while (!cursor.done()) {
      IoOperation sending = cursor.next_send(descriptor);
      int result;
      {
        detail::PendingOperation pending(core->pending_write, sending);
        result = co_await sending;
      }
      error = detail::sent_or_error(*core, result);
      if (error != 0) break;
      cursor.advance(static_cast<std::size_t>(result));
    }
  } catch (...) {
    core->direct_writing = false;
    detail::start_flusher(core_);
    throw;
  }
  detail::finish_direct_write(core_, error, descriptor);
}

Task<> StreamSocket::write_all_vectored(std::span<const std::span<const std::byte>> pieces) {
  if (!core_) detail::throw_system_error(EBADF, "write_all_vectored on a closed socket");
  if (detail::must_buffer_write(*core_, "write_all_vectored")) {
    for (const std::span<const std::byte> piece : pieces)
      write(piece);
    co_await flush();
    co_return;
  }
  detail::StreamCore* core = core_.get();
  const int descriptor = core->descriptor;
  detail::PieceCursor<16> cursor(pieces);
  int error = 0;
  core->direct_writing = true;
  try {
    while (!cursor.done()) {
      IoOperation sending = cursor.next_send(descriptor);
      int result;
      {
        detail::PendingOperation pending(core->pending_write, sending);
        result = co_await sending;
      }
      error = detail::sent_or_error(*core, result);
      if (error != 0) break;
      cursor.advance(static_cast<std::size_t>(result));
    }
  } catch (...) {
    core->direct_writing = false;
    detail::start_flusher(core_);
    throw;
  }
  detail::finish_direct_write(core_, error, descriptor);
}

Task<> StreamSocket::write_all(std::string_view text) {
  co_await write_all(std::as_bytes(std::span(text.data(), text.size())));
}

Task<> StreamSocket::drain() {
  // close() keeps the core (a flush may still hold it) but not the descriptor.
  if (!core_ || core_->descriptor < 0)
    detail::throw_system_error(EBADF, "drain on a closed socket");
  std::shared_ptr<detail::StreamCore> core = core_;
  if (core->write_error == 0 && core->buffered_for_writing() > core->high_water) {
    core->drained.clear();
    core->update_write_events();
    co_await core->drained.wait();
  }
  if (core->write_error != 0) detail::throw_system_error(core->write_error, core->where("send"));
}

Task<> StreamSocket::flush() {
  if (!core_) detail::throw_system_error(EBADF, "flush on a closed socket");
  std::shared_ptr<detail::StreamCore> core = core_;
  while (core->write_error == 0 && (core->buffered_for_writing() > 0 || core->flusher_running)) {
    core->flushed.clear();
    core->update_write_events();
    if (!core->flusher_running) detail::start_flusher(core);
    co_await core->flushed.wait();
  }
  if (core->write_error != 0) detail::throw_system_error(core->write_error, core->where("send"));
}

void StreamSocket::set_write_buffer_limits(std::size_t high, std::size_t low) {
  if (low > high) {
    throw std::invalid_argument("set_write_buffer_limits: low (" + std::to_string(low) +
                                ") is above high (" + std::to_string(high) + ")");
  }
  if (!core_) detail::throw_system_error(EBADF, "set_write_buffer_limits on a closed socket");
  core_->high_water = high;
  core_->low_water = low;
  core_->update_write_events();
}

std::size_t StreamSocket::write_buffer_size() const noexcept {
  return core_ ? core_->buffered_for_writing() : 0;
}

// ---- the connection ----

Task<> StreamSocket::shutdown_write() {
  if (!core_) detail::throw_system_error(EBADF, "shutdown_write on a closed socket");
  std::shared_ptr<detail::StreamCore> core = core_;
  core->require_open("shutdown_write");
  co_await flush();
  core->write_shut = true;
  detail::check_system_call(::shutdown(core->descriptor, SHUT_WR), core->where("shutdown"));
}

Task<> StreamSocket::close() {
  if (!core_ || core_->descriptor < 0) co_return;
  std::shared_ptr<detail::StreamCore> core = core_;
  std::exception_ptr flush_error;
  // An error that stopped sending earlier and left nothing unsent was already reported to the
  // write that met it: closing says nothing more (asyncio's close() never raises).
  if (core->buffered_for_writing() > 0 || core->flusher_running) {
    try {
      co_await flush();
    } catch (const std::system_error&) {
      flush_error = std::current_exception();
    }
  }
  if (core->descriptor < 0) co_return;  // closed by another task meanwhile
  const int descriptor = std::exchange(core->descriptor, -1);
  core->write_shut = true;
  detail::cancel_pending(core->pending_read);
  detail::cancel_pending(core->pending_write);
  // close(2) does not cancel io_uring operations (PITFALLS §2): the multishot receive is cancelled
  // first, its queued buffers go back, and a reader waiting on it wakes to the end of the stream.
  if (core->receiver) core->receiver->shut();
  co_await ops::close(descriptor);
  // The cancellation is confirmed by the receive's final completion: once close() returns, the
  // stream leaves nothing in the kernel's hands.
  if (detail::MultishotReceive* receiver = core->receiver) {
    while (receiver->armed()) {
      receiver->disarmed().clear();
      co_await receiver->disarmed().wait();
    }
  }
  if (flush_error) std::rethrow_exception(flush_error);
}

bool StreamSocket::is_open() const noexcept {
  return core_ && core_->descriptor >= 0;
}

int StreamSocket::native_handle() const noexcept {
  return core_ ? core_->descriptor : -1;
}

SocketAddress StreamSocket::local_address() const {
  if (!is_open()) detail::throw_system_error(EBADF, "getsockname on a closed socket");
  return detail::socket_name(core_->descriptor, false);
}

SocketAddress StreamSocket::peer_address() const {
  if (!is_open()) detail::throw_system_error(EBADF, "getpeername on a closed socket");
  return detail::socket_name(core_->descriptor, true);
}

Task<StreamSocket> StreamSocket::connect_socket(SocketAddress address) {
  const int descriptor = detail::open_socket(address, SOCK_STREAM);
  StreamSocket socket(descriptor);  // owns it from here: closed on failure or cancellation
  IoOperation connecting = ops::connect(descriptor, address.native(), address.native_length());
  connecting.return_errors();
  const int result = co_await connecting;
  if (result < 0) detail::throw_system_error(-result, "connect to " + address.to_string());
  co_return socket;
}

}  // namespace ringloop
