#pragma once
// Unix-domain stream sockets: UnixListener and UnixStream, on filesystem paths or Linux abstract
// names (SocketAddress::unix_path / unix_abstract).

#include <ringloop/runtime/task.hpp>
#include <ringloop/sockets/listener.hpp>
#include <ringloop/sockets/socket_address.hpp>
#include <ringloop/sockets/stream_socket.hpp>

namespace ringloop {

/// A connected Unix-domain stream socket. See StreamSocket for reading, writing and closing.
class UnixStream : public StreamSocket {
 public:
  UnixStream() noexcept = default;
  explicit UnixStream(int descriptor) : StreamSocket(descriptor) {}
  explicit UnixStream(StreamSocket&& socket) noexcept : StreamSocket(std::move(socket)) {}

  /// Connects to a Unix-domain address. Throws std::invalid_argument for another family and
  /// std::system_error naming the address (ENOENT, ECONNREFUSED...).
  static Task<UnixStream> connect(SocketAddress address);
};

/// A listening Unix-domain stream socket.
class UnixListener : public Listener {
 public:
  UnixListener() noexcept = default;

  /// Binds and listens. A path must not exist yet (EADDRINUSE otherwise; the caller decides
  /// whether removing a stale one is safe). Throws std::invalid_argument for another family or
  /// a negative backlog.
  static UnixListener bind(const SocketAddress& address, int backlog = 1024);
  /// The next connection; through EMFILE/ENFILE it waits and retries, like TcpListener::accept.
  Task<UnixStream> accept();
};

}  // namespace ringloop
