#include <ringloop/sockets/socket_address.hpp>

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <charconv>
#include <cstddef>
#include <cstring>
#include <stdexcept>

namespace ringloop {
namespace {

// Quotes `text` with control bytes escaped: a NUL inside would cut what() short of the reason.
std::string printable(std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string result;
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte == 0) {
      result.append("\\0");
    } else if (byte < 0x20 || byte == 0x7f) {
      result.append("\\x").push_back(kHex[byte >> 4]);
      result.push_back(kHex[byte & 0xf]);
    } else {
      result.push_back(c);
    }
  }
  return result;
}

[[noreturn]] void bad_address(std::string_view text, const char* why) {
  throw std::invalid_argument("invalid socket address '" + printable(text) + "': " + why);
}

std::uint16_t parse_port(std::string_view whole, std::string_view digits) {
  unsigned value = 0;
  const char* end = digits.data() + digits.size();
  auto [stop, error] = std::from_chars(digits.data(), end, value);
  if (digits.empty() || error != std::errc() || stop != end || value > 65535) {
    bad_address(whole, "the port must be a number from 0 to 65535");
  }
  return static_cast<std::uint16_t>(value);
}

// Fills `address` from a numeric host; false if the text is neither IPv4 nor IPv6.
// An interface given by name ("%lo") is copied into `scope_name`, so that to_string() prints it
// as given.
bool parse_host(std::string_view host, std::uint16_t port, sockaddr_storage& storage,
                socklen_t& length, char (&scope_name)[IF_NAMESIZE]) {
  std::memset(scope_name, 0, sizeof scope_name);
  std::string text(host);
  std::string scope;
  const auto percent = text.find('%');
  const bool has_scope = percent != std::string::npos;
  if (has_scope) {
    scope = text.substr(percent + 1);
    text.resize(percent);
    if (scope.empty()) return false;  // "fe80::1%" names no interface
  }
  std::memset(&storage, 0, sizeof storage);
  if (!has_scope) {
    auto* v4 = reinterpret_cast<sockaddr_in*>(&storage);
    if (::inet_pton(AF_INET, text.c_str(), &v4->sin_addr) == 1) {
      v4->sin_family = AF_INET;
      v4->sin_port = htons(port);
      length = sizeof(sockaddr_in);
      return true;
    }
  }
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&storage);
  if (::inet_pton(AF_INET6, text.c_str(), &v6->sin6_addr) != 1) return false;
  v6->sin6_family = AF_INET6;
  v6->sin6_port = htons(port);
  if (!scope.empty()) {
    unsigned index = ::if_nametoindex(scope.c_str());
    if (index != 0) {
      scope.copy(scope_name, sizeof scope_name - 1);  // if_nametoindex accepted it: it fits
    } else {
      const char* end = scope.data() + scope.size();
      auto [stop, error] = std::from_chars(scope.data(), end, index);
      if (error != std::errc() || stop != end) return false;
    }
    v6->sin6_scope_id = index;
  }
  length = sizeof(sockaddr_in6);
  return true;
}

}  // namespace

SocketAddress::SocketAddress() noexcept {
  std::memset(&storage_, 0, sizeof storage_);
  storage_.ss_family = AF_UNSPEC;
}

SocketAddress SocketAddress::parse(std::string_view text) {
  if (text.find("://") != std::string_view::npos) {
    bad_address(text, "this looks like a URL; give a numeric HOST:PORT (resolve() looks names up)");
  }
  SocketAddress result;
  std::string_view host;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos) bad_address(text, "'[' without ']'");
    host = text.substr(1, close - 1);
    if (close + 1 >= text.size() || text[close + 1] != ':') {
      bad_address(text, "expected ':port' after ']'");
    }
    port = text.substr(close + 2);
    if (!parse_host(host, parse_port(text, port), result.storage_, result.length_,
                    result.scope_name_) ||
        result.family() != AF_INET6) {
      bad_address(text, "the host in brackets is not an IPv6 address");
    }
    return result;
  }
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos) bad_address(text, "expected HOST:PORT");
  host = text.substr(0, colon);
  if (host.find(':') != std::string_view::npos) {
    bad_address(text, "an IPv6 host with a port is written [HOST]:PORT");
  }
  port = text.substr(colon + 1);
  if (!parse_host(host, parse_port(text, port), result.storage_, result.length_,
                  result.scope_name_)) {
    bad_address(text, "the host is not a numeric IPv4 address (use resolve() for names)");
  }
  return result;
}

SocketAddress SocketAddress::from_host_port(std::string_view host, std::uint16_t port) {
  SocketAddress result;
  if (!parse_host(host, port, result.storage_, result.length_, result.scope_name_)) {
    bad_address(host, "not a numeric IPv4 or IPv6 host (use resolve() for names)");
  }
  return result;
}

SocketAddress SocketAddress::any(std::uint16_t port, bool ipv6) noexcept {
  SocketAddress result;
  if (ipv6) {
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&result.storage_);
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    v6->sin6_addr = in6addr_any;
    result.length_ = sizeof(sockaddr_in6);
  } else {
    auto* v4 = reinterpret_cast<sockaddr_in*>(&result.storage_);
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    v4->sin_addr.s_addr = htonl(INADDR_ANY);
    result.length_ = sizeof(sockaddr_in);
  }
  return result;
}

SocketAddress SocketAddress::loopback(std::uint16_t port, bool ipv6) noexcept {
  SocketAddress result = any(port, ipv6);
  if (ipv6) {
    reinterpret_cast<sockaddr_in6*>(&result.storage_)->sin6_addr = in6addr_loopback;
  } else {
    reinterpret_cast<sockaddr_in*>(&result.storage_)->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  }
  return result;
}

SocketAddress SocketAddress::unix_path(std::string_view path) {
  SocketAddress result;
  auto* address = reinterpret_cast<sockaddr_un*>(&result.storage_);
  if (path.empty()) bad_address(path, "a Unix socket path cannot be empty");
  if (path.size() >= sizeof address->sun_path) {
    bad_address(path, "a Unix socket path must be shorter than 108 bytes");
  }
  if (path.find('\0') != std::string_view::npos) bad_address(path, "the path contains a NUL");
  address->sun_family = AF_UNIX;
  std::memcpy(address->sun_path, path.data(), path.size());
  result.length_ = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + 1);
  return result;
}

SocketAddress SocketAddress::unix_abstract(std::string_view name) {
  SocketAddress result;
  auto* address = reinterpret_cast<sockaddr_un*>(&result.storage_);
  if (name.size() + 1 > sizeof address->sun_path) {
    bad_address(name, "an abstract Unix socket name must be at most 107 bytes");
  }
  address->sun_family = AF_UNIX;
  address->sun_path[0] = '\0';  // the Linux abstract namespace: no file behind it
  std::memcpy(address->sun_path + 1, name.data(), name.size());
  result.length_ = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
  return result;
}

SocketAddress SocketAddress::from_native(const sockaddr* address, socklen_t length) {
  if (length > sizeof(sockaddr_storage)) {
    throw std::invalid_argument("SocketAddress::from_native: length " + std::to_string(length) +
                                " exceeds sockaddr_storage");
  }
  SocketAddress result;
  if (address && length > 0) std::memcpy(&result.storage_, address, length);
  result.length_ = length;
  if (length < sizeof(sa_family_t)) result.storage_.ss_family = AF_UNSPEC;
  return result;
}

std::uint16_t SocketAddress::port() const noexcept {
  if (is_ipv4()) return ntohs(reinterpret_cast<const sockaddr_in*>(&storage_)->sin_port);
  if (is_ipv6()) return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_port);
  return 0;
}

std::string SocketAddress::host() const {
  char text[INET6_ADDRSTRLEN + IF_NAMESIZE + 2] = {};
  if (is_ipv4()) {
    ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&storage_)->sin_addr, text,
                sizeof text);
    return text;
  }
  if (is_ipv6()) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&storage_);
    ::inet_ntop(AF_INET6, &v6->sin6_addr, text, sizeof text);
    std::string result = text;
    if (v6->sin6_scope_id != 0) {
      // The interface name parse() was given, unless native() changed the index since.
      if (scope_name_[0] != '\0' && ::if_nametoindex(scope_name_) == v6->sin6_scope_id)
        result.append("%").append(scope_name_);
      else
        result.append("%").append(std::to_string(v6->sin6_scope_id));
    }
    return result;
  }
  if (is_unix()) {
    const auto* address = reinterpret_cast<const sockaddr_un*>(&storage_);
    const auto offset = offsetof(sockaddr_un, sun_path);
    if (length_ <= offset) return "";  // unnamed (a socketpair end, an unbound client)
    const std::size_t size = length_ - offset;
    if (address->sun_path[0] == '\0') {
      std::string name("@");  // appended, not "@" + ...: g++ 12 warns falsely there (PR 105651)
      name.append(address->sun_path + 1, size - 1);
      return name;
    }
    return std::string(address->sun_path, ::strnlen(address->sun_path, size));
  }
  return "";
}

std::string SocketAddress::to_string() const {
  std::string text;
  if (is_ipv6())
    text.append("[").append(host()).append("]:").append(std::to_string(port()));
  else if (is_ipv4())
    text.append(host()).append(":").append(std::to_string(port()));
  else
    text = host();
  return text;
}

bool operator==(const SocketAddress& a, const SocketAddress& b) noexcept {
  return a.length_ == b.length_ && a.family() == b.family() &&
         std::memcmp(&a.storage_, &b.storage_, a.length_) == 0;
}

}  // namespace ringloop
