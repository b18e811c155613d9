#include "uring_backend.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <system_error>

#include "buffer_ring_compat.hpp"
#include "operation_traits.hpp"
#include "receive_buffers.hpp"

namespace ringloop::io {
namespace {

// user_data values that are not operations: cancel requests and the wake-up read.
constexpr std::uint64_t kCancelTag = 1;
constexpr std::uint64_t kWakeTag = 2;

[[noreturn]] void throw_errno(int error, const char* what) {
  throw std::system_error(error, std::system_category(), what);
}

// R_DISABLED: a SINGLE_ISSUER ring belongs to the thread that enables it, not the one that
// creates it, so a loop may be built on one thread and run on another (enabled on first entry).
constexpr unsigned kFastFlags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
                                IORING_SETUP_COOP_TASKRUN | IORING_SETUP_R_DISABLED;

// Kernels before 6.1 reject DEFER_TASKRUN and before 6.0 SINGLE_ISSUER (EINVAL); try the
// fast combination first, then COOP_TASKRUN alone (5.19), then nothing.
int create_ring(io_uring& ring, const BackendOptions& options) {
  const unsigned attempts[] = {kFastFlags, IORING_SETUP_COOP_TASKRUN, 0};
  const std::uint32_t completions = options.uring_completion_entries
                                        ? options.uring_completion_entries
                                        : options.uring_entries * 4;
  int result = -EINVAL;
  for (unsigned flags : attempts) {
    io_uring_params params{};
    params.flags = flags | IORING_SETUP_CQSIZE;
    params.cq_entries = completions;
    result = io_uring_queue_init_params(options.uring_entries, &ring, &params);
    if (result != -EINVAL) return result;
  }
  return result;
}

// Multishot accept is a flag of IORING_OP_ACCEPT that the opcode probe cannot see; kernels
// before 5.19 answer it with EINVAL.
bool kernel_at_least(int major, int minor) {
  utsname name{};
  if (::uname(&name) != 0) return false;
  int running_major = 0;
  int running_minor = 0;
  if (std::sscanf(name.release, "%d.%d", &running_major, &running_minor) != 2) return false;
  return running_major > major || (running_major == major && running_minor >= minor);
}

// Multishot recv is a flag of IORING_OP_RECV the opcode probe cannot see (6.0+). Ask a kernel:
// a throwaway ring with a one-buffer ring, a multishot recv on a socketpair and one byte sent.
// EINVAL means unsupported (PITFALLS §6: it is also what a missing provided buffer gives).
bool probe_multishot_receive() {
  io_uring ring{};
  if (io_uring_queue_init(4, &ring, 0) < 0) return false;
  const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  const std::size_t ring_bytes = compat::buf_ring_bytes(1, page);
  void* memory = ::mmap(nullptr, ring_bytes + page, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  int pair[2] = {-1, -1};
  bool works = false;
  if (memory != MAP_FAILED && compat::register_buf_ring(ring, memory, 1, 0) == 0 &&
      ::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) == 0) {
    auto* buffers = static_cast<io_uring_buf_ring*>(memory);
    io_uring_buf_ring_add(buffers, static_cast<char*>(memory) + ring_bytes,
                          static_cast<unsigned>(page), 0, io_uring_buf_ring_mask(1), 0);
    io_uring_buf_ring_advance(buffers, 1);
    io_uring_sqe* entry = io_uring_get_sqe(&ring);
    io_uring_prep_recv_multishot(entry, pair[0], nullptr, 0, 0);
    entry->flags |= IOSQE_BUFFER_SELECT;
    entry->buf_group = 0;
    const char byte = 'x';
    if (::write(pair[1], &byte, 1) == 1 && io_uring_submit(&ring) == 1) {
      io_uring_cqe* cqe = nullptr;
      if (io_uring_wait_cqe(&ring, &cqe) == 0) {
        works = cqe->res == 1 && (cqe->flags & IORING_CQE_F_BUFFER);
        io_uring_cqe_seen(&ring, cqe);
      }
    }
  }
  // Closing the ring cancels the still-armed receive; the socketpair goes with it.
  io_uring_queue_exit(&ring);
  if (pair[0] >= 0) ::close(pair[0]);
  if (pair[1] >= 0) ::close(pair[1]);
  if (memory != MAP_FAILED) ::munmap(memory, ring_bytes + page);
  return works;
}

bool multishot_receive_supported() {
  static const bool supported = probe_multishot_receive();  // cannot change while we live
  return supported;
}

}  // namespace

UringBackend::UringBackend(const BackendOptions& options)
    // With nothing in flight there is nothing to reap: a zero-timeout poll needs no enter.
    : Backend({.native_file_io = true, .multishot_accept = kernel_at_least(5, 19)},
              /*idle_poll_is_empty=*/true) {
  const int created = create_ring(ring_, options);
  if (created < 0) {
    throw BackendUnavailable("cannot run here",
                             std::string("io_uring_setup: ") + std::strerror(-created));
  }
  if (!(ring_.features & IORING_FEAT_NODROP) || !(ring_.features & IORING_FEAT_EXT_ARG)) {
    io_uring_queue_exit(&ring_);
    throw BackendUnavailable(
        "cannot run here",
        "io_uring lacks IORING_FEAT_NODROP or IORING_FEAT_EXT_ARG (kernel < 5.11)");
  }
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd_ < 0) {
    const int error = errno;
    io_uring_queue_exit(&ring_);
    throw_errno(error, "eventfd for the io_uring wake-up");
  }
  deferred_.reserve(64);
  // Probed, never guessed from the kernel version: without a ring (memlock, an old kernel) or
  // multishot recv, streams wait for readiness and receive once (multishot_receive() false).
  if (options.multishot_receive && multishot_receive_supported()) {
    receive_buffers().attach_ring(ring_, options.receive_buffer_count, options.receive_buffer_size);
  }
}

UringBackend::~UringBackend() {
  // First: buffers given back while the ring drains are only counted, and wake no receive.
  receive_buffers().detach_ring();
  drain_at_shutdown();
  io_uring_queue_exit(&ring_);
  ::close(wake_fd_);
}

// A completion that arrives while the ring is torn down goes to the operation's teardown hook
// when it has one. Otherwise a descriptor an open or accept made meanwhile would reach nobody:
// close it here, or every loop closed in the middle of one leaks it (Tokio closes such
// descriptors from the completion too: tokio/tests/fs_uring_cancel_open.rs).
void UringBackend::complete_at_teardown(Operation& operation, std::int32_t result, bool more,
                                        std::int32_t buffer_id) noexcept {
  operation.more = more;
  operation.buffer_id = buffer_id;
  if (!more) operation.state = OpState::idle;
  if (operation.on_teardown) {
    operation.on_teardown(operation, result);
    return;
  }
  if (traits_of(operation.code).produces_descriptor && result >= 0) ::close(result);
}

// The kernel may write into operation buffers until their completions arrive, even after the
// ring is closed (teardown is asynchronous). Cancel everything and wait for every completion
// before the memory can go away (TigerBeetle, Tokio do the same).
void UringBackend::drain_at_shutdown() noexcept {
  try {
    if (in_flight_ == 0 && !wake_armed_) return;
    io_uring_sqe* entry = acquire_submission_entry();
    io_uring_prep_cancel64(entry, 0, IORING_ASYNC_CANCEL_ANY);
    io_uring_sqe_set_data64(entry, kCancelTag);
    // The wake-up read is cancelled too; its completion clears wake_armed_.
    for (int rounds = 0; (in_flight_ > 0 || wake_armed_) && rounds < 10000; ++rounds) {
      enter(true, nullptr);
      move_ready_completions();
      for (Completion& completion : deferred_) {
        if (!completion.more) --in_flight_;
        complete_at_teardown(*completion.operation, completion.result, completion.more,
                             completion.buffer_id);
      }
      deferred_.clear();
    }
  } catch (...) {
  }
}

io_uring_sqe* UringBackend::acquire_submission_entry() {
  io_uring_sqe* entry = io_uring_get_sqe(&ring_);
  while (entry == nullptr) {
    // Every slot is taken: hand the batch to the kernel, then retry (liburing#396).
    ++stats_.submit_queue_full;
    enable_on_this_thread();
    const int submitted = io_uring_submit(&ring_);
    if (submitted < 0) {
      if (submitted != -EAGAIN && submitted != -EBUSY && submitted != -EINTR) {
        throw_errno(-submitted, "io_uring_submit");
      }
      // Out of kernel resources or completion space: make room by moving completions out.
      ++stats_.retried_enters;
      enter(false, nullptr);
      move_ready_completions();
    }
    entry = io_uring_get_sqe(&ring_);
  }
  return entry;
}

void UringBackend::prepare(io_uring_sqe* entry, Operation& operation) {
  const auto offset = operation.offset;
  switch (operation.code) {
    case OpCode::nop:
      io_uring_prep_nop(entry);
      break;
    case OpCode::read:
      io_uring_prep_read(entry, operation.fd, operation.buffer, operation.length, offset);
      break;
    case OpCode::write:
      io_uring_prep_write(entry, operation.fd, operation.buffer, operation.length, offset);
      break;
    case OpCode::recv:
      io_uring_prep_recv(entry, operation.fd, operation.buffer, operation.length, operation.flags);
      break;
    case OpCode::send:
      io_uring_prep_send(entry, operation.fd, operation.buffer, operation.length,
                         operation.flags | MSG_NOSIGNAL);
      break;
    case OpCode::accept:
      io_uring_prep_accept(entry, operation.fd, operation.address,
                           operation.address ? &operation.address_length : nullptr,
                           operation.flags);
      break;
    case OpCode::connect:
      io_uring_prep_connect(entry, operation.fd, operation.address, operation.address_length);
      break;
    case OpCode::poll:
      io_uring_prep_poll_add(entry, operation.fd, operation.poll_events);
      break;
    case OpCode::close:
      io_uring_prep_close(entry, operation.fd);
      break;
    case OpCode::timeout:
      io_uring_prep_timeout(entry, &operation.timeout, 0, 0);
      break;
    case OpCode::openat:
      // The kernel copies the path when it takes the entry; the submitter keeps it alive anyway
      // until the completion, so a deferred submission (full queue) cannot see freed memory.
      io_uring_prep_openat(entry, operation.fd, operation.path, operation.flags,
                           static_cast<mode_t>(operation.mode));
      break;
    case OpCode::fsync:
      io_uring_prep_fsync(entry, operation.fd, static_cast<unsigned>(operation.flags));
      break;
    case OpCode::recvmsg:
      io_uring_prep_recvmsg(entry, operation.fd, operation.message,
                            static_cast<unsigned>(operation.flags));
      break;
    case OpCode::sendmsg:
      io_uring_prep_sendmsg(entry, operation.fd, operation.message,
                            static_cast<unsigned>(operation.flags | MSG_NOSIGNAL));
      break;
    case OpCode::accept_multishot:
      io_uring_prep_multishot_accept(entry, operation.fd, nullptr, nullptr, operation.flags);
      break;
    case OpCode::recv_multishot:
      io_uring_prep_recv_multishot(entry, operation.fd, nullptr, 0, operation.flags);
      entry->flags |= IOSQE_BUFFER_SELECT;
      entry->buf_group = operation.buffer_group;
      break;
  }
  io_uring_sqe_set_data(entry, &operation);
}

void UringBackend::submit(Operation& operation) {
  io_uring_sqe* entry = acquire_submission_entry();
  prepare(entry, operation);
  operation.state = OpState::in_flight;
  ++in_flight_;
  ++stats_.submitted;
}

void UringBackend::cancel(Operation& operation) {
  if (operation.state != OpState::in_flight) return;
  operation.state = OpState::cancelling;
  io_uring_sqe* entry = acquire_submission_entry();
  io_uring_prep_cancel64(entry, reinterpret_cast<std::uint64_t>(&operation), 0);
  io_uring_sqe_set_data64(entry, kCancelTag);
}

void UringBackend::arm_wake_read() {
  if (wake_armed_) return;
  io_uring_sqe* entry = acquire_submission_entry();
  io_uring_prep_read(entry, wake_fd_, &wake_buffer_, sizeof wake_buffer_, 0);
  io_uring_sqe_set_data64(entry, kWakeTag);
  wake_armed_ = true;
}

// One io_uring_enter: submits what is queued and, with `wait`, blocks for one completion or the
// timeout. GETEVENTS is always passed so DEFER_TASKRUN work runs and parked overflow is flushed.
void UringBackend::enable_on_this_thread() {
  if (!(ring_.flags & IORING_SETUP_R_DISABLED) || enabled_) return;
  // Debian's liburing 2.3 declares io_uring_enable_rings() but does not export it.
  if (::syscall(__NR_io_uring_register, ring_.ring_fd, IORING_REGISTER_ENABLE_RINGS, nullptr, 0) <
      0) {
    throw_errno(errno, "io_uring_register(IORING_REGISTER_ENABLE_RINGS)");
  }
  enabled_ = true;
}

void UringBackend::enter(bool wait, const __kernel_timespec* timeout) {
  enable_on_this_thread();
  ++stats_.system_calls;
  int result;
  if (wait) {
    io_uring_cqe* ignored = nullptr;
    result = io_uring_submit_and_wait_timeout(&ring_, &ignored, 1,
                                              const_cast<__kernel_timespec*>(timeout), nullptr);
  } else {
    result = io_uring_submit_and_get_events(&ring_);
  }
  if (result >= 0 || result == -ETIME) return;
  if (result == -EEXIST) {
    throw std::system_error(EEXIST, std::system_category(),
                            "io_uring_enter: this loop's ring belongs to the thread that first ran "
                            "it; run and destroy a loop on one thread");
  }
  if (result == -EINTR || result == -EAGAIN || result == -EBUSY) {
    // A signal, or the kernel short of memory or CQ room: the caller reaps and comes back.
    ++stats_.retried_enters;
    return;
  }
  throw_errno(-result, "io_uring_enter");
}

// Copies every ready completion out of the ring. The copy lets submit() make room without
// delivering completions inside itself; poll() delivers them right after.
void UringBackend::move_ready_completions() {
  for (;;) {
    io_uring_cqe* cqe = nullptr;
    unsigned head;
    unsigned seen = 0;
    io_uring_for_each_cqe(&ring_, head, cqe) {
      ++seen;
      const std::uint64_t tag = cqe->user_data;
      if (tag == kCancelTag) continue;  // the target's own completion carries the outcome
      if (tag == kWakeTag) {
        wake_armed_ = false;
        continue;
      }
      const std::int32_t buffer_id =
          (cqe->flags & IORING_CQE_F_BUFFER)
              ? static_cast<std::int32_t>(cqe->flags >> IORING_CQE_BUFFER_SHIFT)
              : -1;
      deferred_.push_back({reinterpret_cast<Operation*>(tag), cqe->res,
                           (cqe->flags & IORING_CQE_F_MORE) != 0, buffer_id});
    }
    io_uring_cq_advance(&ring_, seen);
    // With IORING_FEAT_NODROP the kernel parks completions that found the ring full and sets
    // the overflow flag; entering with GETEVENTS moves them in (man io_uring_setup.2).
    if (!io_uring_cq_has_overflow(&ring_)) return;
    ++stats_.overflow_flushes;
    ++stats_.system_calls;
    enable_on_this_thread();
    const int flushed = io_uring_get_events(&ring_);
    if (flushed < 0 && flushed != -EINTR && flushed != -EAGAIN && flushed != -EBUSY) {
      throw_errno(-flushed, "io_uring_enter (overflow flush)");
    }
  }
}

std::size_t UringBackend::dispatch_deferred() {
  std::size_t delivered = 0;
  // Index loop: a completion callback may submit, and submit() may append to deferred_.
  for (std::size_t i = 0; i < deferred_.size(); ++i) {
    Completion completion = deferred_[i];
    ++delivered;
    if (completion.more) {
      deliver_more(*completion.operation, completion.result, completion.buffer_id);
      continue;
    }
    --in_flight_;
    deliver(*completion.operation, completion.result, completion.buffer_id);
  }
  deferred_.clear();
  return delivered;
}

std::size_t UringBackend::poll_completions(std::optional<std::chrono::nanoseconds> timeout) {
  const bool blocking = !timeout || timeout->count() > 0;
  if (!deferred_.empty()) return dispatch_deferred();
  if (!blocking) {
    // Nothing submitted and nothing in flight: no system call at all.
    if (in_flight_ == 0 && io_uring_sq_ready(&ring_) == 0) return 0;
    enter(false, nullptr);
  } else {
    arm_wake_read();
    __kernel_timespec limit{};
    if (timeout) {
      // The kernel adds the wait to its clock without saturating: a "forever" timer's wait
      // (Duration::max() away) would wrap into the past and make every wait return at once.
      // A day is never noticed: the loop just polls again.
      const auto wait = std::min<std::chrono::nanoseconds>(*timeout, std::chrono::hours(24));
      limit.tv_sec = wait.count() / 1'000'000'000;
      limit.tv_nsec = wait.count() % 1'000'000'000;
    }
    enter(true, timeout ? &limit : nullptr);
  }
  move_ready_completions();
  return dispatch_deferred();
}

void UringBackend::wake() noexcept {
  const std::uint64_t one = 1;
  // A failed write means the counter is saturated, which already wakes the reader.
  [[maybe_unused]] const auto written = ::write(wake_fd_, &one, sizeof one);
}

}  // namespace ringloop::io
