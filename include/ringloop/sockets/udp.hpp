#pragma once
// UdpSocket: datagrams over IPv4 or IPv6 (asyncio's DatagramTransport as awaitable calls).

#include <cstddef>
#include <span>

#include <ringloop/runtime/task.hpp>
#include <ringloop/sockets/socket_address.hpp>

namespace ringloop {

/// What recv_from() gives: the datagram's size and sender. `truncated` is set when the datagram
/// was larger than the buffer (the rest is lost, as with recvfrom(2)).
struct Datagram {
  std::size_t size = 0;
  SocketAddress sender;
  bool truncated = false;
};

/// A UDP socket. Move-only; owns its descriptor. One pending receive and one pending send at a
/// time per task is the usual pattern, but several may be pending. Loop thread only.
class UdpSocket {
 public:
  UdpSocket() noexcept = default;
  UdpSocket(UdpSocket&& other) noexcept;
  UdpSocket& operator=(UdpSocket&& other) noexcept;
  UdpSocket(const UdpSocket&) = delete;
  UdpSocket& operator=(const UdpSocket&) = delete;
  /// Closes the descriptor if still open.
  ~UdpSocket();

  /// A socket bound to `address` (port 0: the kernel picks). Throws std::system_error.
  static UdpSocket bind(const SocketAddress& address, bool reuse_port = false);
  /// Sets the default peer: send() goes there, and only its datagrams are received.
  void connect(const SocketAddress& peer);

  /// Sends one datagram to `peer`; gives the bytes sent (all of them, for UDP).
  Task<std::size_t> send_to(std::span<const std::byte> bytes, SocketAddress peer);
  /// Sends one datagram to the connected peer.
  Task<std::size_t> send(std::span<const std::byte> bytes);
  /// Receives one datagram into `buffer`.
  Task<Datagram> recv_from(std::span<std::byte> buffer);
  /// Receives one datagram from the connected peer; gives its size.
  Task<std::size_t> recv(std::span<std::byte> buffer);

  /// Closes the socket; pending operations end with std::system_error. Twice is a no-op.
  Task<> close();
  [[nodiscard]] bool is_open() const noexcept { return descriptor_ >= 0; }
  [[nodiscard]] int native_handle() const noexcept { return descriptor_; }
  /// getsockname(2).
  [[nodiscard]] SocketAddress local_address() const;

 private:
  int descriptor_ = -1;
};

}  // namespace ringloop
