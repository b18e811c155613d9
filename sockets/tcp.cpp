#include <ringloop/sockets/tcp.hpp>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <stdexcept>

#include "socket_util.hpp"

namespace ringloop {
namespace {

void set_option(int descriptor, int level, int name, bool enabled, const char* what) {
  const int value = enabled ? 1 : 0;
  detail::check_system_call(
      ::setsockopt(descriptor, level, name, &value, sizeof value),
      detail::on_descriptor(std::string("setsockopt(") + what + ")", descriptor));
}

}  // namespace

Task<TcpStream> TcpStream::connect(SocketAddress address) {
  if (!address.is_ipv4() && !address.is_ipv6()) {
    throw std::invalid_argument("TcpStream::connect: '" + address.to_string() +
                                "' is not an IPv4 or IPv6 address");
  }
  StreamSocket socket = co_await connect_socket(address);
  co_return TcpStream(std::move(socket));
}

void TcpStream::set_nodelay(bool enabled) {
  set_option(native_handle(), IPPROTO_TCP, TCP_NODELAY, enabled, "TCP_NODELAY");
}

void TcpStream::set_keepalive(bool enabled) {
  set_option(native_handle(), SOL_SOCKET, SO_KEEPALIVE, enabled, "SO_KEEPALIVE");
}

TcpListener TcpListener::bind(const SocketAddress& address, int backlog, bool reuse_port) {
  if (!address.is_ipv4() && !address.is_ipv6()) {
    throw std::invalid_argument("TcpListener::bind: '" + address.to_string() +
                                "' is not an IPv4 or IPv6 address");
  }
  TcpListener listener;
  check_backlog(backlog, "TcpListener::bind");
  listener.descriptor_ = open_listening(address, backlog, reuse_port);
  return listener;
}

Task<TcpStream> TcpListener::accept() {
  const int descriptor = co_await accept_descriptor();
  co_return TcpStream(descriptor);
}

}  // namespace ringloop
