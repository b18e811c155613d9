#include "http/blocking_socket.hpp"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <system_error>

#include <ringloop/runtime/errors.hpp>
#include <ringloop/sockets/socket_errors.hpp>

namespace ringloop::http::detail {
namespace {

[[noreturn]] void throw_errno(int error, const std::string& url_text, const char* operation) {
  throw std::system_error(error, std::system_category(), url_text + ": " + operation);
}

/// Milliseconds poll() may wait before `deadline` (rounded up, so it never wakes early and
/// spins), -1 for no deadline, 0 once it has passed.
int poll_timeout(const Deadline& deadline) {
  if (!deadline.at) return -1;
  const auto left = *deadline.at - SteadyClock::now();
  if (left <= SteadyClock::duration::zero()) return 0;
  const auto milliseconds = std::chrono::ceil<std::chrono::milliseconds>(left).count();
  return milliseconds > 1'000'000'000 ? 1'000'000'000 : static_cast<int>(milliseconds);
}

/// Waits until `fd` is ready for `events`; false when the deadline passed first. Errors and
/// hang-ups count as ready: the next system call reports them.
bool wait_ready(int fd, short events, const Deadline& deadline, const std::string& url_text) {
  for (;;) {
    pollfd entry{fd, events, 0};
    const int timeout = poll_timeout(deadline);
    const int ready = ::poll(&entry, 1, timeout);
    if (ready > 0) return true;
    if (ready == 0) {
      if (timeout != 0 && poll_timeout(deadline) != 0) continue;  // woke a little early
      return false;
    }
    if (errno != EINTR) throw_errno(errno, url_text, "poll");
  }
}

/// One connect attempt to `address`: the connected socket, or the errno that refused it.
/// Throws TimeoutError when the deadline passes during the attempt.
SocketFd connect_one(const addrinfo& address, const std::string& url_text, const Deadline& deadline,
                     int& error) {
  SocketFd fd(::socket(address.ai_family, address.ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                       address.ai_protocol));
  if (!fd) {
    error = errno;
    return {};
  }
  if (::connect(fd.get(), address.ai_addr, address.ai_addrlen) != 0) {
    if (errno != EINPROGRESS && errno != EINTR) {
      error = errno;
      return {};
    }
    if (!wait_ready(fd.get(), POLLOUT, deadline, url_text)) {
      throw_timeout(url_text, deadline, "connecting");
    }
    socklen_t length = sizeof error;
    if (::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &error, &length) != 0) error = errno;
    if (error != 0) return {};
  }
  // Requests are written in one send; Nagle would only delay the next request's first segment.
  const int on = 1;
  ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
  return fd;
}

}  // namespace

SocketFd& SocketFd::operator=(SocketFd&& other) noexcept {
  reset(other.release());
  return *this;
}

void SocketFd::reset(int fd) noexcept {
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

Deadline Deadline::after(SteadyClock::time_point start,
                         std::optional<std::chrono::milliseconds> timeout, const char* name) {
  Deadline deadline;
  deadline.name = name;
  if (timeout) {
    deadline.at = start + *timeout;
    deadline.length = *timeout;
  }
  return deadline;
}

Deadline Deadline::earliest(const Deadline& other) const {
  if (!other.at) return *this;
  if (!at || *other.at < *at) return other;
  return *this;
}

void throw_timeout(const std::string& url, const Deadline& deadline, std::string_view doing) {
  throw TimeoutError(url + ": " + deadline.name + " timeout of " +
                     std::to_string(deadline.length.count()) + " ms expired while " +
                     std::string(doing));
}

SocketFd connect_to(const Url& url, const std::string& url_text, const Deadline& deadline) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  const std::string service = std::to_string(url.port);
  addrinfo* found = nullptr;
  const int status = ::getaddrinfo(url.host.c_str(), service.c_str(), &hints, &found);
  if (status == EAI_SYSTEM) throw_errno(errno, url_text, "resolve");
  if (status != 0) throw ResolveError(status, url.host, service);
  const std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> addresses(found, &::freeaddrinfo);

  int error = ECONNREFUSED;
  for (const addrinfo* address = found; address != nullptr; address = address->ai_next) {
    if (poll_timeout(deadline) == 0) throw_timeout(url_text, deadline, "connecting");
    SocketFd fd = connect_one(*address, url_text, deadline, error);
    if (fd) return fd;
  }
  throw_errno(error, url_text, "connect");
}

void send_all(int fd, std::string_view data, const std::string& url_text,
              const Deadline& deadline) {
  while (!data.empty()) {
    const ssize_t sent = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (sent >= 0) {
      data.remove_prefix(static_cast<std::size_t>(sent));
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      if (!wait_ready(fd, POLLOUT, deadline, url_text)) {
        throw_timeout(url_text, deadline, "sending the request");
      }
    } else if (errno != EINTR) {
      throw_errno(errno, url_text, "send");
    }
  }
}

std::size_t receive_some(int fd, std::span<char> buffer, const std::string& url_text,
                         const Deadline& deadline, std::string_view doing) {
  for (;;) {
    const ssize_t got = ::recv(fd, buffer.data(), buffer.size(), 0);
    if (got >= 0) return static_cast<std::size_t>(got);
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      if (!wait_ready(fd, POLLIN, deadline, url_text)) throw_timeout(url_text, deadline, doing);
    } else if (errno != EINTR) {
      throw_errno(errno, url_text, "receive");
    }
  }
}

bool idle_connection_usable(int fd) noexcept {
  // Readable while idle means the server closed it (EOF), reset it, or sent bytes nobody asked
  // for: none of these connections can carry a request.
  pollfd entry{fd, POLLIN, 0};
  return ::poll(&entry, 1, 0) == 0;
}

}  // namespace ringloop::http::detail
