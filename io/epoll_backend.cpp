#include "epoll_backend.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <limits>
#include <system_error>

#include "operation_traits.hpp"
#include "system_call.hpp"

namespace ringloop::io {
namespace {

std::int64_t monotonic_ns() noexcept {
  timespec now{};
  ::clock_gettime(CLOCK_MONOTONIC, &now);
  return std::int64_t{now.tv_sec} * 1'000'000'000 + now.tv_nsec;
}

// Now plus `delay`, saturating: ops::timeout(Duration::max()) must wait forever, not wrap into
// the past and expire at once.
std::int64_t deadline_after_ns(const __kernel_timespec& delay) noexcept {
  constexpr std::int64_t most = std::numeric_limits<std::int64_t>::max();
  const std::int64_t now = monotonic_ns();
  if (delay.tv_sec >= (most - now) / 1'000'000'000) return most;
  return now + delay.tv_sec * 1'000'000'000 + delay.tv_nsec;
}

std::uint32_t interest(const Operation& operation) noexcept {
  return operation.code == OpCode::poll ? operation.poll_events
                                        : traits_of(operation.code).epoll_interest;
}

// Runs a non-blocking system call, retrying EINTR; gives the result or -errno.
template <class Call>
std::int32_t perform(Call call) noexcept {
  const auto result = retry_on_interrupt(call);
  return result >= 0 ? static_cast<std::int32_t>(result) : -errno;
}

}  // namespace

// With nothing registered or parked a zero-timeout poll has nothing to deliver, so it asks the
// kernel nothing unless BackendOptions::poll_when_idle keeps asyncio's discipline.
EpollBackend::EpollBackend(const BackendOptions& options)
    : Backend({.native_file_io = false, .multishot_accept = false},
              /*idle_poll_is_empty=*/!options.poll_when_idle) {
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd_ < 0) throw std::system_error(errno, std::system_category(), "epoll_create1");
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd_ < 0) {
    const int error = errno;
    ::close(epoll_fd_);
    throw std::system_error(error, std::system_category(), "eventfd for the epoll wake-up");
  }
  epoll_event event{};
  event.events = EPOLLIN;
  event.data.fd = wake_fd_;
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &event) < 0) {
    const int error = errno;
    ::close(wake_fd_);
    ::close(epoll_fd_);
    throw std::system_error(error, std::system_category(), "epoll_ctl(ADD) of the wake-up eventfd");
  }
  events_.resize(256);
  finished_.reserve(64);
}

EpollBackend::~EpollBackend() {
  ::close(wake_fd_);
  ::close(epoll_fd_);
}

EpollBackend::Descriptor& EpollBackend::descriptor(int fd) {
  if (static_cast<std::size_t>(fd) >= descriptors_.size()) {
    descriptors_.resize(static_cast<std::size_t>(fd) + 64);
  }
  Descriptor& state = descriptors_[static_cast<std::size_t>(fd)];
  if (!state.known) {
    ensure_nonblocking(fd);
    state.known = true;
  }
  return state;
}

void EpollBackend::submit(Operation& operation) {
  operation.state = OpState::in_flight;
  OperationState& state = operation.backend_state.emplace<OperationState>();
  state.operation = &operation;
  state.slot = Slot::submitted;
  submitted_.push_back(state);
  ++in_flight_;
  ++stats_.submitted;
}

void EpollBackend::cancel(Operation& operation) {
  if (operation.state != OpState::in_flight) return;
  OperationState& state = state_of(operation);
  switch (state.slot) {
    case Slot::submitted:
      submitted_.remove(state);
      break;
    case Slot::parked:
      descriptors_[static_cast<std::size_t>(operation.fd)].parked.remove(state);
      break;
    case Slot::timed:
      timeouts_.erase(&state);
      break;
    case Slot::nowhere:
    case Slot::finishing:
      return;  // already finishing: its real result wins
  }
  operation.state = OpState::cancelling;
  finish(operation, -ECANCELED);
}

void EpollBackend::finish(Operation& operation, std::int32_t result) {
  state_of(operation).slot = Slot::finishing;
  finished_.push_back({&operation, result});
}

// Performs the operation's system call without blocking. Returns false when it would block.
bool EpollBackend::attempt(Operation& operation, std::int32_t& result) {
  const int fd = operation.fd;
  switch (operation.code) {
    case OpCode::nop:
      result = 0;
      return true;
    case OpCode::read:
      result = perform([&] {
        return operation.offset == static_cast<std::uint64_t>(-1)
                   ? ::read(fd, operation.buffer, operation.length)
                   : ::pread(fd, operation.buffer, operation.length,
                             static_cast<off_t>(operation.offset));
      });
      break;
    case OpCode::write:
      result = perform([&] {
        return operation.offset == static_cast<std::uint64_t>(-1)
                   ? ::write(fd, operation.buffer, operation.length)
                   : ::pwrite(fd, operation.buffer, operation.length,
                              static_cast<off_t>(operation.offset));
      });
      break;
    case OpCode::recv:
      result = perform([&] {
        return ::recv(fd, operation.buffer, operation.length, operation.flags | MSG_DONTWAIT);
      });
      break;
    case OpCode::send:
      result = perform([&] {
        return ::send(fd, operation.buffer, operation.length,
                      operation.flags | MSG_DONTWAIT | MSG_NOSIGNAL);
      });
      break;
    case OpCode::accept:
      result = perform([&] {
        return ::accept4(fd, operation.address,
                         operation.address ? &operation.address_length : nullptr, operation.flags);
      });
      break;
    case OpCode::connect:
      if (OperationState& state = state_of(operation); !state.connect_started) {
        state.connect_started = true;
        result =
            perform([&] { return ::connect(fd, operation.address, operation.address_length); });
        if (result == -EINPROGRESS) return false;
      } else {
        int error = 0;
        socklen_t length = sizeof error;
        if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) < 0) error = errno;
        result = -error;
      }
      break;
    case OpCode::recvmsg:
      result =
          perform([&] { return ::recvmsg(fd, operation.message, operation.flags | MSG_DONTWAIT); });
      break;
    case OpCode::sendmsg:
      result = perform([&] {
        return ::sendmsg(fd, operation.message, operation.flags | MSG_DONTWAIT | MSG_NOSIGNAL);
      });
      break;
    case OpCode::poll: {
      pollfd entry{fd, static_cast<short>(operation.poll_events), 0};
      result = perform([&] { return ::poll(&entry, 1, 0); });
      if (result == 0) return false;
      if (result > 0) result = entry.revents;
      return true;
    }
    case OpCode::close:
    case OpCode::timeout:
    case OpCode::openat:
    case OpCode::fsync:
    case OpCode::accept_multishot:
    case OpCode::recv_multishot:
      return true;  // not attempt_then_wait: start() runs them
  }
  return result != -EAGAIN && result != -EWOULDBLOCK;
}

void EpollBackend::park(Operation& operation) {
  Descriptor& state = descriptor(operation.fd);
  if (state.parked.empty()) {
    // Register again whenever nobody waits on the descriptor: one closed with close(2) behind the
    // backend's back has left the epoll set, and its number may now name another file, whose
    // readiness would otherwise never be seen. EEXIST means the registration is this file's.
    epoll_event event{};
    event.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    event.data.fd = operation.fd;
    if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, operation.fd, &event) == 0) {
      if (state.registered) ensure_nonblocking(operation.fd);  // a reused number: a new file
      state.registered = true;
      state.pollable = true;
    } else if (errno == EEXIST) {
      state.registered = true;
      state.pollable = true;
    } else if (errno == EPERM) {
      state.pollable = false;  // regular file: always "ready", so attempts never wait
    } else {
      finish(operation, -errno);
      return;
    }
  }
  if (!state.pollable) {
    // Cannot wait on it; report what the system call said rather than waiting forever.
    finish(operation, -EAGAIN);
    return;
  }
  OperationState& parked = state_of(operation);
  parked.slot = Slot::parked;
  state.parked.push_back(parked);
}

void EpollBackend::perform_close(Operation& operation) {
  const int fd = operation.fd;
  if (fd >= 0 && static_cast<std::size_t>(fd) < descriptors_.size()) {
    Descriptor& state = descriptors_[static_cast<std::size_t>(fd)];
    if (state.registered) ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
    // Unlike io_uring, a parked operation would wait forever on a closed descriptor.
    while (OperationState* parked = state.parked.pop_front()) {
      parked->operation->state = OpState::cancelling;
      finish(*parked->operation, -ECANCELED);
    }
    state = Descriptor{};
  }
  // close(2) must not be retried on EINTR: the descriptor is gone either way on Linux.
  finish(operation, ::close(fd) == 0 ? 0 : -errno);
}

void EpollBackend::start(Operation& operation) {
  switch (traits_of(operation.code).epoll_method) {
    case EpollMethod::unsupported:
      // File operations would block the loop on the disk (epoll cannot wait on regular files):
      // native_file_io() is false, so the file layer runs them on the offload pool instead.
      // Multishot accept: multishot_accept() is false, so listeners accept one by one; likewise
      // multishot_receive() is false, so streams wait for readiness and receive once.
      finish(operation, -EOPNOTSUPP);
      return;
    case EpollMethod::close:
      perform_close(operation);
      return;
    case EpollMethod::timer: {
      OperationState& state = state_of(operation);
      state.deadline_ns = deadline_after_ns(operation.timeout);
      state.slot = Slot::timed;
      timeouts_.push(&state);
      return;
    }
    case EpollMethod::attempt_then_wait:
      break;
  }
  if (operation.fd >= 0 && operation.code != OpCode::nop) descriptor(operation.fd);
  std::int32_t result = 0;
  if (attempt(operation, result)) {
    finish(operation, result);
  } else {
    park(operation);
  }
}

void EpollBackend::on_ready(int fd, std::uint32_t events) {
  if (fd == wake_fd_) {
    std::uint64_t count;
    [[maybe_unused]] const auto drained = ::read(wake_fd_, &count, sizeof count);
    return;
  }
  if (static_cast<std::size_t>(fd) >= descriptors_.size()) return;
  Descriptor& state = descriptors_[static_cast<std::size_t>(fd)];
  const bool failed = events & (EPOLLERR | EPOLLHUP);
  for (auto next = state.parked.begin(); next != state.parked.end();) {
    OperationState& parked = *next++;  // step first: a finished operation leaves the list
    Operation& operation = *parked.operation;
    if (operation.code == OpCode::poll) {
      // The readiness epoll just reported is the answer: no poll(2) to ask again (a stream that
      // waits for readiness before it receives pays no extra system call for it).
      const std::uint32_t fired = events & (operation.poll_events | EPOLLERR | EPOLLHUP);
      if (fired != 0) {
        state.parked.remove(parked);
        finish(operation, static_cast<std::int32_t>(fired));
        continue;
      }
    }
    if (failed || (interest(operation) & events) || (events & EPOLLRDHUP)) {
      std::int32_t result = 0;
      if (attempt(operation, result)) {
        state.parked.remove(parked);
        finish(operation, result);
      }
    }
  }
}

int EpollBackend::wait_for_events(std::optional<std::chrono::nanoseconds> timeout) {
  if (!timeouts_.empty()) {
    const auto until_first = std::chrono::nanoseconds(
        std::max<std::int64_t>(0, timeouts_.top()->deadline_ns - monotonic_ns()));
    if (!timeout || until_first < *timeout) timeout = until_first;
  }
  ++stats_.system_calls;
  const int capacity = static_cast<int>(events_.size());
  if (!timeout) return ::epoll_wait(epoll_fd_, events_.data(), capacity, -1);
  timespec limit{static_cast<time_t>(timeout->count() / 1'000'000'000),
                 static_cast<long>(timeout->count() % 1'000'000'000)};
  int ready = ::epoll_pwait2(epoll_fd_, events_.data(), capacity, &limit, nullptr);
  if (ready < 0 && errno == ENOSYS) {
    // Kernels before 5.11: millisecond resolution, rounded up so a timer is never early.
    // Capped to what an int holds (24 days): the loop polls again after that.
    const auto milliseconds =
        std::min<std::int64_t>(timeout->count() / 1'000'000 + 1, std::numeric_limits<int>::max());
    ready = ::epoll_wait(epoll_fd_, events_.data(), capacity, static_cast<int>(milliseconds));
  }
  return ready;
}

void EpollBackend::expire_timeouts() {
  if (timeouts_.empty()) return;
  const std::int64_t now = monotonic_ns();
  while (!timeouts_.empty() && timeouts_.top()->deadline_ns <= now) {
    finish(*timeouts_.pop()->operation, -ETIME);
  }
}

std::size_t EpollBackend::poll_completions(std::optional<std::chrono::nanoseconds> timeout) {
  while (OperationState* submitted = submitted_.pop_front())
    start(*submitted->operation);
  // Operations that finished when started (a send the socket buffer took at once) are delivered
  // without asking epoll first: that check would find nothing new most of the time and costs a
  // system call. Every other poll still asks, so a stream of such operations cannot hide
  // readiness from the rest.
  int ready = 0;
  if (!finished_.empty() && !skipped_last_wait_) {
    skipped_last_wait_ = true;
  } else {
    skipped_last_wait_ = false;
    if (!finished_.empty()) timeout = std::chrono::nanoseconds(0);
    ready = wait_for_events(timeout);
    if (ready < 0 && errno != EINTR) {
      throw std::system_error(errno, std::system_category(), "epoll_wait");
    }
  }
  for (int i = 0; i < ready; ++i)
    on_ready(events_[static_cast<std::size_t>(i)].data.fd,
             events_[static_cast<std::size_t>(i)].events);
  if (ready == static_cast<int>(events_.size())) events_.resize(events_.size() * 2);
  expire_timeouts();
  // Index loop: a completion may cancel another operation, which appends to finished_.
  std::size_t delivered = 0;
  for (std::size_t i = 0; i < finished_.size(); ++i) {
    const Completion completion = finished_[i];
    state_of(*completion.operation).slot = Slot::nowhere;
    --in_flight_;
    ++delivered;
    deliver(*completion.operation, completion.result);
  }
  finished_.clear();
  return delivered;
}

void EpollBackend::wake() noexcept {
  const std::uint64_t one = 1;
  [[maybe_unused]] const auto written = ::write(wake_fd_, &one, sizeof one);
}

}  // namespace ringloop::io
