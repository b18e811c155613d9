#pragma once
// TCP: TcpListener (bind, accept) and TcpStream (connect, the StreamSocket API, TCP options).

#include <cstdint>

#include <ringloop/runtime/task.hpp>
#include <ringloop/sockets/listener.hpp>
#include <ringloop/sockets/socket_address.hpp>
#include <ringloop/sockets/stream_socket.hpp>

namespace ringloop {

/// A connected TCP socket. See StreamSocket for reading, writing and closing.
class TcpStream : public StreamSocket {
 public:
  TcpStream() noexcept = default;
  /// Takes ownership of a connected, non-blocking TCP socket descriptor.
  explicit TcpStream(int descriptor) : StreamSocket(descriptor) {}
  explicit TcpStream(StreamSocket&& socket) noexcept : StreamSocket(std::move(socket)) {}

  /// Connects to an IPv4 or IPv6 address. Cancellable (wait_for gives a timeout). Throws
  /// std::system_error naming the address (ECONNREFUSED, ENETUNREACH...).
  static Task<TcpStream> connect(SocketAddress address);
  /// TCP_NODELAY: send small writes at once instead of waiting to merge them (Nagle).
  void set_nodelay(bool enabled);
  /// SO_KEEPALIVE: probe an idle connection so a dead peer is noticed.
  void set_keepalive(bool enabled);
};

/// A listening TCP socket.
class TcpListener : public Listener {
 public:
  TcpListener() noexcept = default;

  /// socket, SO_REUSEADDR (and SO_REUSEPORT if `reuse_port`), bind, listen. Port 0 picks a free
  /// port (see local_address()). Throws std::system_error naming the address (EADDRINUSE...),
  /// std::invalid_argument for a negative backlog.
  static TcpListener bind(const SocketAddress& address, int backlog = 1024,
                          bool reuse_port = false);
  /// The next connection (non-blocking, close-on-exec). While the process is out of descriptors
  /// (EMFILE/ENFILE) it waits and retries with backoff (up to 100 ms apart) instead of failing or
  /// spinning: the connection stays in the backlog until a descriptor frees up. Cancellable.
  Task<TcpStream> accept();
};

}  // namespace ringloop
