#include <ringloop/sockets/udp.hpp>

#include <sys/socket.h>
#include <unistd.h>

#include <utility>

#include <ringloop/runtime/io_operation.hpp>

#include "socket_util.hpp"

namespace ringloop {
namespace {

void require_open(int descriptor, const char* what) {
  if (descriptor < 0)
    detail::throw_system_error(EBADF, std::string(what) + " on a closed UDP socket");
}

}  // namespace

UdpSocket::UdpSocket(UdpSocket&& other) noexcept
    : descriptor_(std::exchange(other.descriptor_, -1)) {}

UdpSocket& UdpSocket::operator=(UdpSocket&& other) noexcept {
  if (this != &other) {
    if (descriptor_ >= 0) ::close(descriptor_);
    descriptor_ = std::exchange(other.descriptor_, -1);
  }
  return *this;
}

UdpSocket::~UdpSocket() {
  if (descriptor_ >= 0) ::close(descriptor_);
}

UdpSocket UdpSocket::bind(const SocketAddress& address, bool reuse_port) {
  if (!address.is_ipv4() && !address.is_ipv6()) {
    throw std::invalid_argument("UdpSocket::bind: '" + address.to_string() +
                                "' is not an IPv4 or IPv6 address");
  }
  UdpSocket socket;
  socket.descriptor_ = detail::open_socket(address, SOCK_DGRAM);
  if (reuse_port) {
    const int on = 1;
    detail::check_system_call(
        ::setsockopt(socket.descriptor_, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on),
        "setsockopt(SO_REUSEPORT) for " + address.to_string());
  }
  detail::check_system_call(::bind(socket.descriptor_, address.native(), address.native_length()),
                            "bind to " + address.to_string());
  return socket;
}

void UdpSocket::connect(const SocketAddress& peer) {
  require_open(descriptor_, "connect");
  detail::check_system_call(::connect(descriptor_, peer.native(), peer.native_length()),
                            "connect to " + peer.to_string());
}

Task<std::size_t> UdpSocket::send_to(std::span<const std::byte> bytes, SocketAddress peer) {
  require_open(descriptor_, "send_to");
  iovec part{const_cast<std::byte*>(bytes.data()), bytes.size()};
  msghdr message{};
  message.msg_name = peer.native();
  message.msg_namelen = peer.native_length();
  message.msg_iov = &part;
  message.msg_iovlen = 1;
  const int descriptor = descriptor_;
  IoOperation sending = ops::sendmsg(descriptor, &message);
  sending.return_errors();
  const int result = co_await sending;
  if (result < 0) {
    detail::throw_system_error(
        -result, detail::on_descriptor("send_to", descriptor) + " to " + peer.to_string());
  }
  co_return static_cast<std::size_t>(result);
}

Task<std::size_t> UdpSocket::send(std::span<const std::byte> bytes) {
  require_open(descriptor_, "send");
  const int descriptor = descriptor_;
  IoOperation sending = ops::send(descriptor, bytes);
  sending.return_errors();
  const int result = co_await sending;
  if (result < 0) detail::throw_system_error(-result, detail::on_descriptor("send", descriptor));
  co_return static_cast<std::size_t>(result);
}

Task<Datagram> UdpSocket::recv_from(std::span<std::byte> buffer) {
  require_open(descriptor_, "recv_from");
  Datagram datagram;
  iovec part{buffer.data(), buffer.size()};
  msghdr message{};
  message.msg_name = datagram.sender.native();
  message.msg_namelen = sizeof(sockaddr_storage);
  message.msg_iov = &part;
  message.msg_iovlen = 1;
  const int descriptor = descriptor_;
  IoOperation receiving = ops::recvmsg(descriptor, &message);
  receiving.return_errors();
  const int result = co_await receiving;
  // close() shuts the socket down to wake pending receives: they end here, not with a datagram.
  require_open(descriptor_, "recv_from");
  if (result < 0)
    detail::throw_system_error(-result, detail::on_descriptor("recv_from", descriptor));
  datagram.size = static_cast<std::size_t>(result);
  datagram.truncated = (message.msg_flags & MSG_TRUNC) != 0;
  datagram.sender = SocketAddress::from_native(datagram.sender.native(), message.msg_namelen);
  co_return datagram;
}

Task<std::size_t> UdpSocket::recv(std::span<std::byte> buffer) {
  require_open(descriptor_, "recv");
  const int descriptor = descriptor_;
  IoOperation receiving = ops::recv(descriptor, buffer);
  receiving.return_errors();
  const int result = co_await receiving;
  require_open(descriptor_, "recv");
  if (result < 0) detail::throw_system_error(-result, detail::on_descriptor("recv", descriptor));
  co_return static_cast<std::size_t>(result);
}

Task<> UdpSocket::close() {
  const int descriptor = std::exchange(descriptor_, -1);
  if (descriptor < 0) co_return;
  // Wakes receives pending in other tasks (the kernel answers ENOTCONN for an unconnected
  // socket but wakes them all the same); they see the socket closed.
  ::shutdown(descriptor, SHUT_RDWR);
  co_await ops::close(descriptor);
}

SocketAddress UdpSocket::local_address() const {
  require_open(descriptor_, "getsockname");
  return detail::socket_name(descriptor_, false);
}

}  // namespace ringloop
