#include <ringloop/sockets/listener.hpp>

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <stdexcept>
#include <string>
#include <utility>

#include <ringloop/runtime/sleep.hpp>

#include "multishot_accept.hpp"
#include "socket_util.hpp"

namespace ringloop {

namespace detail {

int open_socket(const SocketAddress& address, int type) {
  if (address.family() == AF_UNSPEC) {
    throw std::invalid_argument("socket: the address is empty (AF_UNSPEC)");
  }
  return check_system_call(::socket(address.family(), type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0),
                           "socket for " + address.to_string());
}

SocketAddress socket_name(int descriptor, bool peer) {
  sockaddr_storage storage{};
  socklen_t length = sizeof storage;
  auto* native = reinterpret_cast<sockaddr*>(&storage);
  const int result = peer ? ::getpeername(descriptor, native, &length)
                          : ::getsockname(descriptor, native, &length);
  check_system_call(result, on_descriptor(peer ? "getpeername" : "getsockname", descriptor));
  return SocketAddress::from_native(native, length);
}

}  // namespace detail

Listener::Listener(Listener&& other) noexcept
    : descriptor_(std::exchange(other.descriptor_, -1)),
      exhaustions_(other.exhaustions_),
      pending_accept_(std::exchange(other.pending_accept_, nullptr)),
      multishot_(std::exchange(other.multishot_, nullptr)),
      multishot_declined_(other.multishot_declined_) {}

Listener& Listener::operator=(Listener&& other) noexcept {
  if (this != &other) {
    release_multishot(false);
    if (descriptor_ >= 0) ::close(descriptor_);
    descriptor_ = std::exchange(other.descriptor_, -1);
    exhaustions_ = other.exhaustions_;
    pending_accept_ = std::exchange(other.pending_accept_, nullptr);
    multishot_ = std::exchange(other.multishot_, nullptr);
    multishot_declined_ = other.multishot_declined_;
  }
  return *this;
}

Listener::~Listener() {
  release_multishot(false);
  if (descriptor_ >= 0) ::close(descriptor_);
}

bool Listener::uses_multishot() {
  if (!multishot_ && !multishot_declined_) {
    if (Loop::current().backend().multishot_accept()) {
      multishot_ = new detail::MultishotAccept(descriptor_);
    } else {
      multishot_declined_ = true;
    }
  }
  return multishot_ != nullptr;
}

// The record cancels its operation and frees itself once the kernel is done with it. Waiters (on
// close()) wake and find the listener closed; a destructor wakes nobody, since a task still
// waiting on a destroyed listener could not resume anyway.
void Listener::release_multishot(bool wake_waiters) noexcept {
  detail::MultishotAccept* multishot = std::exchange(multishot_, nullptr);
  if (!multishot) return;
  if (wake_waiters) multishot->arrived().set();
  multishot->orphan();
}

SocketAddress Listener::local_address() const {
  return detail::socket_name(descriptor_, false);
}

Task<> Listener::close() {
  const int descriptor = std::exchange(descriptor_, -1);
  if (descriptor < 0) co_return;
  detail::cancel_pending(std::exchange(pending_accept_, nullptr));
  release_multishot(true);
  co_await ops::close(descriptor);
}

void Listener::check_backlog(int backlog, const char* who) {
  if (backlog < 0) {
    throw std::invalid_argument(std::string(who) + ": backlog " + std::to_string(backlog) +
                                " is negative (0 or more; the kernel caps it at somaxconn)");
  }
}

int Listener::open_listening(const SocketAddress& address, int backlog, bool reuse_port) {
  const int descriptor = detail::open_socket(address, SOCK_STREAM);
  try {
    const int on = 1;
    if (!address.is_unix()) {
      detail::check_system_call(::setsockopt(descriptor, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on),
                                "setsockopt(SO_REUSEADDR) for " + address.to_string());
      if (reuse_port) {
        detail::check_system_call(
            ::setsockopt(descriptor, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on),
            "setsockopt(SO_REUSEPORT) for " + address.to_string());
      }
    }
    detail::check_system_call(::bind(descriptor, address.native(), address.native_length()),
                              "bind to " + address.to_string());
    detail::check_system_call(::listen(descriptor, backlog), "listen on " + address.to_string());
  } catch (...) {
    ::close(descriptor);
    throw;
  }
  return descriptor;
}

Task<int> Listener::accept_descriptor() {
  // Out of descriptors, accept would fail again at once while the connection waits in the
  // backlog: wait and retry (libuv and Tokio servers do the same) rather than spin or give up.
  Duration backoff = std::chrono::milliseconds(1);
  for (;;) {
    if (descriptor_ < 0) detail::throw_system_error(EBADF, "accept on a closed listener");
    int result;
    if (uses_multishot()) {
      detail::MultishotAccept& multishot = *multishot_;
      result = multishot.take_descriptor();
      if (result < 0) {
        const int error = multishot.take_error();
        if (multishot.unsupported()) {
          multishot_declined_ = true;  // kernel < 5.19: one accept per connection from now on
          release_multishot(false);
          continue;
        }
        if (error == 0) {
          multishot.arm(Loop::current().backend());
          multishot.arrived().clear();
          co_await multishot.arrived().wait();
          continue;  // `multishot` may be gone if close() ran meanwhile: look again from the top
        }
        result = -error;
      }
    } else {
      IoOperation accepting = ops::accept(descriptor_);
      accepting.return_errors();
      {
        detail::PendingOperation pending(pending_accept_, accepting);
        result = co_await accepting;
      }
      if (descriptor_ < 0) {
        if (result >= 0) ::close(result);  // closed while the connection arrived
        detail::throw_system_error(EBADF, "accept on a closed listener");
      }
    }
    if (result >= 0) co_return result;
    if (result == -EMFILE || result == -ENFILE || result == -ENOBUFS || result == -ENOMEM) {
      ++exhaustions_;
      co_await sleep(backoff);
      backoff = std::min<Duration>(backoff * 2, std::chrono::milliseconds(100));
      continue;
    }
    if (result == -ECONNABORTED || result == -EPROTO || result == -EPERM) {
      continue;  // that connection died in the backlog (or a firewall refused it): next one
    }
    detail::throw_operation_error(-result, "accept", descriptor_);
  }
}

}  // namespace ringloop
