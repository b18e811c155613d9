#pragma once
// Helpers the socket tests share: a connected loopback pair, small kernel buffers, waiting for
// bytes to reach the kernel, and checks on how a send failed.

#include <sys/ioctl.h>
#include <sys/socket.h>

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <span>
#include <string>
#include <system_error>

#include "bytes.hpp"
#include "cancellation.hpp"
#include "loop_fixture.hpp"
#include "loop_steps.hpp"

namespace ringloop::testing {

/// Whether a failed send reports a reset or a broken pipe (which of the two depends on timing).
inline bool is_reset_or_broken_pipe(const std::system_error& error) {
  return error.code() == std::error_code(ECONNRESET, std::system_category()) ||
         error.code() == std::error_code(EPIPE, std::system_category());
}

/// Both ends of one TCP connection over loopback.
struct Connection {
  TcpStream client;
  TcpStream server;
};

/// A connection through a listener that is closed again at once.
inline Task<Connection> connect_over_loopback() {
  TcpListener listener = TcpListener::bind(SocketAddress::loopback(0));
  Connection connection;
  connection.client = co_await TcpStream::connect(listener.local_address());
  connection.server = co_await listener.accept();
  co_await listener.close();
  co_return connection;
}

/// Small kernel buffers on both ends, so a writer whose peer does not read stops after a few
/// dozen KiB instead of several MiB.
inline void shrink_kernel_buffers(const Connection& connection) {
  const int size = 16 * 1024;
  ::setsockopt(connection.client.native_handle(), SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
  ::setsockopt(connection.server.native_handle(), SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
}

/// Waits until the kernel holds at least `count` unread bytes for `descriptor` (FIONREAD), so the
/// next receive sees them all; a test failure after ~10 s.
inline Task<> wait_for_kernel_bytes(int descriptor, std::size_t count) {
  int available = 0;
  for (int i = 0; i < 10000; ++i) {
    if (::ioctl(descriptor, FIONREAD, &available) == 0 &&
        static_cast<std::size_t>(available) >= count) {
      co_return;
    }
    co_await sleep(std::chrono::milliseconds(1));
  }
  ADD_FAILURE() << "fd " << descriptor << " never had " << count << " bytes to read (" << available
                << ")";
}

}  // namespace ringloop::testing
