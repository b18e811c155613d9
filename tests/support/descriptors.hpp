#pragma once
// Descriptor helpers the tests share: an owning Fd, pipes, socket pairs and loopback TCP sockets
// made with plain system calls, and the descriptor-leak / in-flight check every fixture runs at
// teardown.

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <optional>
#include <string>
#include <system_error>
#include <utility>

#include <ringloop/ringloop.hpp>

namespace ringloop::testing {

/// Open descriptors of this process.
inline int count_open_descriptors() {
  int count = 0;
  if (DIR* directory = ::opendir("/proc/self/fd")) {
    while (::readdir(directory))
      ++count;
    ::closedir(directory);
  }
  return count;
}

/// Why `kind` cannot run here (io_uring missing or forbidden), or nothing when it can.
inline std::optional<std::string> backend_unavailable(io::BackendKind kind) {
  std::string why;
  if (kind == io::BackendKind::uring && !io::uring_available(&why)) return why;
  return std::nullopt;
}

/// The teardown checks of every fixture that owns a backend (LoopTest, BackendFixture): nothing
/// left in flight and no descriptor leaked since `start()`.
class LeakCheck {
 public:
  /// Counts the descriptors open now, the number the test must end with.
  void start() { descriptors_at_start_ = count_open_descriptors(); }
  [[nodiscard]] bool started() const noexcept { return descriptors_at_start_ >= 0; }

  /// Fails the test if `backend` still has operations in flight.
  static void expect_nothing_in_flight(const io::Backend& backend) {
    EXPECT_EQ(backend.in_flight(), 0u) << "operations left in flight";
  }

  /// Fails the test if more or fewer descriptors are open than at `start()`.
  void expect_no_descriptor_leak() const {
    EXPECT_EQ(count_open_descriptors(), descriptors_at_start_) << "descriptor leak";
  }

 private:
  int descriptors_at_start_ = -1;
};

[[noreturn]] inline void fail_errno(const char* what) {
  throw std::system_error(errno, std::system_category(), what);
}

/// Owns a descriptor; closes it at scope exit unless released.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    reset(std::exchange(other.fd_, -1));
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }
  [[nodiscard]] int get() const noexcept { return fd_; }
  int release() noexcept { return std::exchange(fd_, -1); }
  void reset(int fd = -1) noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

struct Pipe {
  Fd read_end;
  Fd write_end;
};

/// A non-blocking pipe.
inline Pipe make_pipe() {
  int fds[2];
  if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) fail_errno("pipe2");
  return {Fd(fds[0]), Fd(fds[1])};
}

struct SocketPair {
  Fd first;
  Fd second;
};

/// A non-blocking connected pair of Unix stream sockets.
inline SocketPair make_socketpair() {
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0) {
    fail_errno("socketpair");
  }
  return {Fd(fds[0]), Fd(fds[1])};
}

/// A non-blocking IPv4 TCP socket.
inline Fd tcp_socket() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) fail_errno("socket");
  return Fd(fd);
}

/// A TCP socket bound to 127.0.0.1 on a kernel-chosen port; `address` receives where.
inline Fd bound_loopback_socket(sockaddr_in& address) {
  Fd fd = tcp_socket();
  address = {};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    fail_errno("bind");
  }
  socklen_t length = sizeof address;
  if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    fail_errno("getsockname");
  }
  return fd;
}

/// A listening TCP socket on 127.0.0.1; `address` receives where.
inline Fd loopback_listener(sockaddr_in& address) {
  Fd fd = bound_loopback_socket(address);
  if (::listen(fd.get(), 16) != 0) fail_errno("listen");
  return fd;
}

/// The port `fd` is bound to.
inline std::uint16_t local_port(int fd) {
  sockaddr_in address{};
  socklen_t length = sizeof address;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    fail_errno("getsockname");
  }
  return ntohs(address.sin_port);
}

/// Lowers (or raises) RLIMIT_NOFILE's soft limit while alive; restores the limits as they were when
/// constructed.
class DescriptorLimitGuard {
 public:
  DescriptorLimitGuard() { ::getrlimit(RLIMIT_NOFILE, &saved_); }
  DescriptorLimitGuard(const DescriptorLimitGuard&) = delete;
  DescriptorLimitGuard& operator=(const DescriptorLimitGuard&) = delete;
  ~DescriptorLimitGuard() { restore(); }

  [[nodiscard]] rlim_t hard() const noexcept { return saved_.rlim_max; }
  /// Sets the soft limit to `soft`, at most the hard limit; whether setrlimit() succeeded.
  bool set_soft(rlim_t soft) {
    rlimit wanted = saved_;
    wanted.rlim_cur = std::min(soft, saved_.rlim_max);
    return ::setrlimit(RLIMIT_NOFILE, &wanted) == 0;
  }
  void restore() { ::setrlimit(RLIMIT_NOFILE, &saved_); }

 private:
  rlimit saved_{};
};

}  // namespace ringloop::testing
