#include <ringloop/sockets/unix_socket.hpp>

#include <stdexcept>

namespace ringloop {
namespace {

void require_unix(const SocketAddress& address, const char* where) {
  if (!address.is_unix()) {
    throw std::invalid_argument(std::string(where) + ": '" + address.to_string() +
                                "' is not a Unix-domain address");
  }
}

}  // namespace

Task<UnixStream> UnixStream::connect(SocketAddress address) {
  require_unix(address, "UnixStream::connect");
  StreamSocket socket = co_await connect_socket(address);
  co_return UnixStream(std::move(socket));
}

UnixListener UnixListener::bind(const SocketAddress& address, int backlog) {
  require_unix(address, "UnixListener::bind");
  UnixListener listener;
  check_backlog(backlog, "UnixListener::bind");
  listener.descriptor_ = open_listening(address, backlog, false);
  return listener;
}

Task<UnixStream> UnixListener::accept() {
  const int descriptor = co_await accept_descriptor();
  co_return UnixStream(descriptor);
}

}  // namespace ringloop
