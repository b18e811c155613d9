#pragma once
// SocketAddress: one IPv4, IPv6 or Unix-domain socket address, parsed from and formatted as text
// the way people write it ("127.0.0.1:8080", "[::1]:8080", "/run/app.sock", "@abstract-name").

#include <net/if.h>
#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace ringloop {

/// A socket address held by value (a sockaddr_storage and its length). Cheap to copy.
class SocketAddress {
 public:
  /// An empty address (family AF_UNSPEC); only useful as a placeholder.
  SocketAddress() noexcept;

  /// Parses "IPv4:port", "[IPv6]:port" or "[IPv6%scope]:port" (numeric hosts only: use resolve()
  /// for names). Throws std::invalid_argument naming the text and what is wrong with it.
  static SocketAddress parse(std::string_view text);
  /// A numeric IPv4 or IPv6 host (no brackets) and a port. Throws std::invalid_argument.
  static SocketAddress from_host_port(std::string_view host, std::uint16_t port);
  /// 0.0.0.0 or :: (`ipv6`) with `port`: every interface.
  static SocketAddress any(std::uint16_t port, bool ipv6 = false) noexcept;
  /// 127.0.0.1 or ::1 (`ipv6`) with `port`.
  static SocketAddress loopback(std::uint16_t port, bool ipv6 = false) noexcept;
  /// A Unix-domain socket at a filesystem path. Throws std::invalid_argument if the path is empty
  /// or longer than sun_path allows (107 bytes).
  static SocketAddress unix_path(std::string_view path);
  /// A Linux abstract Unix-domain name (no file; formatted as "@name"). Throws
  /// std::invalid_argument if the name is longer than 107 bytes.
  static SocketAddress unix_abstract(std::string_view name);
  /// Copies `length` bytes of a sockaddr the kernel filled (accept, getsockname, recvmsg).
  /// Throws std::invalid_argument if `length` exceeds sockaddr_storage.
  static SocketAddress from_native(const sockaddr* address, socklen_t length);

  /// AF_INET, AF_INET6, AF_UNIX or AF_UNSPEC.
  [[nodiscard]] int family() const noexcept { return storage_.ss_family; }
  [[nodiscard]] bool is_ipv4() const noexcept { return family() == AF_INET; }
  [[nodiscard]] bool is_ipv6() const noexcept { return family() == AF_INET6; }
  [[nodiscard]] bool is_unix() const noexcept { return family() == AF_UNIX; }
  /// The port (IPv4/IPv6), 0 for other families.
  [[nodiscard]] std::uint16_t port() const noexcept;
  /// The host part without brackets ("::1", "127.0.0.1"), or the Unix path / "@name".
  [[nodiscard]] std::string host() const;
  /// "127.0.0.1:80", "[::1]:80", "/path", "@name"; "" when empty.
  [[nodiscard]] std::string to_string() const;

  /// For system calls.
  [[nodiscard]] const sockaddr* native() const noexcept {
    return reinterpret_cast<const sockaddr*>(&storage_);
  }
  [[nodiscard]] sockaddr* native() noexcept { return reinterpret_cast<sockaddr*>(&storage_); }
  [[nodiscard]] socklen_t native_length() const noexcept { return length_; }

  /// Same family, bytes and length.
  friend bool operator==(const SocketAddress& a, const SocketAddress& b) noexcept;

 private:
  sockaddr_storage storage_;
  socklen_t length_ = 0;
  // The IPv6 zone as parse() was given it when it was an interface name ("lo" in "fe80::1%lo");
  // empty for a numeric zone or an address the kernel filled. Not part of the address (==).
  char scope_name_[IF_NAMESIZE] = {};
};

}  // namespace ringloop
