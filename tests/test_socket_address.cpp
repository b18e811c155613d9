// SocketAddress without a loop: parsing and formatting IPv4 and IPv6 (with scopes), round trips
// through text and through the sockaddr the kernel fills, port bounds, every malformed text giving
// std::invalid_argument naming it, Unix paths and abstract names (with their length limits, checked
// against what the kernel accepts), any()/loopback()/from_host_port(), and equality.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <ringloop/sockets/socket_address.hpp>

#include "support/temporary_directory.hpp"

namespace ringloop {
namespace {

// ---- helpers ---------------------------------------------------------------------------------

/// The message of the std::invalid_argument `make()` throws; fails the test if it throws nothing
/// or something else.
template <class Make>
std::string invalid_argument_message(Make make) {
  try {
    const SocketAddress made = make();
    ADD_FAILURE() << "accepted, giving '" << made.to_string() << "'";
  } catch (const std::invalid_argument& error) {
    return error.what();
  } catch (const std::exception& error) {
    ADD_FAILURE() << "threw another type: " << error.what();
  }
  return {};
}

std::string parse_failure(const std::string& text) {
  return invalid_argument_message([&text] { return SocketAddress::parse(text); });
}

const sockaddr_in& as_ipv4(const SocketAddress& address) {
  return *reinterpret_cast<const sockaddr_in*>(address.native());
}

const sockaddr_in6& as_ipv6(const SocketAddress& address) {
  return *reinterpret_cast<const sockaddr_in6*>(address.native());
}

const sockaddr_un& as_unix(const SocketAddress& address) {
  return *reinterpret_cast<const sockaddr_un*>(address.native());
}

/// A descriptor closed at scope exit.
class Descriptor {
 public:
  explicit Descriptor(int fd) : fd_(fd) {
    if (fd_ < 0) throw std::system_error(errno, std::system_category(), "socket");
  }
  Descriptor(const Descriptor&) = delete;
  Descriptor& operator=(const Descriptor&) = delete;
  ~Descriptor() { ::close(fd_); }
  [[nodiscard]] int get() const noexcept { return fd_; }

 private:
  int fd_;
};

/// The address the kernel reports for `fd` (getsockname), through from_native().
SocketAddress local_address_of(int fd) {
  sockaddr_storage storage{};
  socklen_t length = sizeof storage;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&storage), &length) != 0) {
    throw std::system_error(errno, std::system_category(), "getsockname");
  }
  return SocketAddress::from_native(reinterpret_cast<const sockaddr*>(&storage), length);
}

/// Binds a new socket of `family` and `type` to `address`; the kernel's verdict as an errno (0 on
/// success) and, on success, the address it reports back.
int bind_and_read_back(const SocketAddress& address, int type, SocketAddress* bound) {
  Descriptor socket(::socket(address.family(), type | SOCK_CLOEXEC, 0));
  if (::bind(socket.get(), address.native(), address.native_length()) != 0) return errno;
  *bound = local_address_of(socket.get());
  return 0;
}

/// A name of exactly `size` bytes no other process uses at the same time.
std::string unique_name_of_size(std::size_t size) {
  std::string name = "ringloop-address-test-" + std::to_string(::getpid()) + "-";
  name.resize(size, 'x');
  return name;
}

// ---- IPv4 and IPv6 text ----------------------------------------------------------------------

TEST(SocketAddressTest, ParsesIpv4IntoASockaddrInWithThePortInNetworkOrder) {
  const SocketAddress address = SocketAddress::parse("127.0.0.1:8080");
  EXPECT_TRUE(address.is_ipv4());
  EXPECT_FALSE(address.is_ipv6());
  EXPECT_FALSE(address.is_unix());
  EXPECT_EQ(address.family(), AF_INET);
  EXPECT_EQ(address.port(), 8080);
  EXPECT_EQ(address.host(), "127.0.0.1");
  EXPECT_EQ(address.to_string(), "127.0.0.1:8080");
  ASSERT_EQ(address.native_length(), sizeof(sockaddr_in));
  // 8080 is 0x1f90: a port stored in host order would read back as 0x901f here.
  EXPECT_EQ(as_ipv4(address).sin_family, AF_INET);
  EXPECT_EQ(as_ipv4(address).sin_port, htons(8080));
  EXPECT_EQ(as_ipv4(address).sin_addr.s_addr, htonl(INADDR_LOOPBACK));
}

TEST(SocketAddressTest, ParsesBracketedIpv6IntoASockaddrIn6WithThePortInNetworkOrder) {
  const SocketAddress address = SocketAddress::parse("[::1]:8080");
  EXPECT_TRUE(address.is_ipv6());
  EXPECT_FALSE(address.is_ipv4());
  EXPECT_EQ(address.family(), AF_INET6);
  EXPECT_EQ(address.port(), 8080);
  EXPECT_EQ(address.host(), "::1");
  EXPECT_EQ(address.to_string(), "[::1]:8080");
  ASSERT_EQ(address.native_length(), sizeof(sockaddr_in6));
  EXPECT_EQ(as_ipv6(address).sin6_family, AF_INET6);
  EXPECT_EQ(as_ipv6(address).sin6_port, htons(8080));
  EXPECT_TRUE(IN6_IS_ADDR_LOOPBACK(&as_ipv6(address).sin6_addr));
  EXPECT_EQ(as_ipv6(address).sin6_scope_id, 0u);
}

TEST(SocketAddressTest, FormatsIpv6InCanonicalCompressedLowercaseForm) {
  EXPECT_EQ(SocketAddress::parse("[0:0:0:0:0:0:0:1]:80").to_string(), "[::1]:80");
  EXPECT_EQ(SocketAddress::parse("[2001:DB8:0:0:0:0:0:1]:443").to_string(), "[2001:db8::1]:443");
  EXPECT_EQ(SocketAddress::parse("[::]:1").to_string(), "[::]:1");
  // An IPv4-mapped IPv6 address stays IPv6 (it is not silently turned into AF_INET).
  const SocketAddress mapped = SocketAddress::parse("[::ffff:127.0.0.1]:80");
  EXPECT_TRUE(mapped.is_ipv6());
  EXPECT_EQ(mapped.to_string(), "[::ffff:127.0.0.1]:80");
}

TEST(SocketAddressTest, Ipv6ScopeByInterfaceNameOrIndexSetsTheScopeIdAndFormatsAsTheIndex) {
  const unsigned loopback_index = ::if_nametoindex("lo");
  if (loopback_index == 0) GTEST_SKIP() << "no interface named 'lo' here";
  const std::string index = std::to_string(loopback_index);

  const SocketAddress by_name = SocketAddress::parse("[fe80::1%lo]:1");
  ASSERT_TRUE(by_name.is_ipv6());
  EXPECT_EQ(as_ipv6(by_name).sin6_scope_id, loopback_index);
  EXPECT_EQ(by_name.port(), 1);
  EXPECT_EQ(by_name.host(), "fe80::1%lo");  // the interface stays as it was written
  EXPECT_EQ(by_name.to_string(), "[fe80::1%lo]:1");

  const SocketAddress by_index = SocketAddress::parse("[fe80::1%" + index + "]:1");
  EXPECT_EQ(by_index, by_name);
  // The scope is part of the address: the same IP on no interface is another address.
  EXPECT_NE(by_name, SocketAddress::parse("[fe80::1]:1"));
}

TEST(SocketAddressTest, Ipv6ScopeNamingNoInterfaceIsRejectedNamingTheText) {
  const std::string message = parse_failure("[fe80::1%no-such-if0]:1");
  EXPECT_NE(message.find("'[fe80::1%no-such-if0]:1'"), std::string::npos) << message;
}

// A '%' followed by nothing names no interface: it must not pass for an unscoped address
// ("[fe80::1%]:1") or plain IPv4 ("127.0.0.1%:80").
TEST(SocketAddressTest, PercentWithAnEmptyScopeIsRejected) {
  for (const std::string text : {"[fe80::1%]:1", "127.0.0.1%:80"}) {
    SCOPED_TRACE(text);
    const std::string message = parse_failure(text);
    EXPECT_NE(message.find("'" + text + "'"), std::string::npos) << message;
  }
}

TEST(SocketAddressTest, ParseOfToStringGivesTheSameAddressAndBack) {
  const std::vector<std::string> texts = {
      "127.0.0.1:8080",       "0.0.0.0:0",     "255.255.255.255:65535",
      "10.1.2.3:443",         "[::1]:8080",    "[::]:0",
      "[2001:db8::42]:65535", "[fe80::1%1]:1", "[::ffff:1.2.3.4]:9",
      "[1:2:3:4:5:6:7:8]:53",
  };
  for (const std::string& text : texts) {
    SCOPED_TRACE(text);
    const SocketAddress parsed = SocketAddress::parse(text);
    EXPECT_EQ(parsed.to_string(), text);
    EXPECT_EQ(SocketAddress::parse(parsed.to_string()), parsed);
  }
}

TEST(SocketAddressTest, PortsZeroAnd65535AreTheBounds) {
  EXPECT_EQ(SocketAddress::parse("127.0.0.1:0").port(), 0);
  EXPECT_EQ(SocketAddress::parse("127.0.0.1:65535").port(), 65535);
  EXPECT_EQ(as_ipv4(SocketAddress::parse("127.0.0.1:65535")).sin_port, 0xffff);
  EXPECT_EQ(SocketAddress::parse("[::1]:0").port(), 0);
  EXPECT_EQ(SocketAddress::parse("[::1]:65535").port(), 65535);
  // Leading zeros are still the number.
  EXPECT_EQ(SocketAddress::parse("127.0.0.1:0080").port(), 80);
  for (const std::string text : {"127.0.0.1:65536", "[::1]:65536"}) {
    SCOPED_TRACE(text);
    const std::string message = parse_failure(text);
    EXPECT_NE(message.find("'" + text + "'"), std::string::npos) << message;
    EXPECT_NE(message.find("0 to 65535"), std::string::npos) << message;
  }
}

// ---- malformed text --------------------------------------------------------------------------

struct Malformed {
  const char* text;
  const char* why;  // a part of the documented reason the message must carry
};

TEST(SocketAddressTest, EveryMalformedTextThrowsInvalidArgumentNamingTheTextAndTheProblem) {
  const std::vector<Malformed> cases = {
      {"", "HOST:PORT"},
      {"127.0.0.1", "HOST:PORT"},
      {"127.0.0.1:", "port"},
      {"127.0.0.1:65536", "port"},
      {"127.0.0.1:99999999999999999999", "port"},
      {"127.0.0.1:abc", "port"},
      {"127.0.0.1:-1", "port"},
      {"127.0.0.1:+80", "port"},
      {"127.0.0.1: 80", "port"},
      {"127.0.0.1:80x", "port"},
      {"[::1", "']'"},
      {"[::1]", "':port'"},
      {"[::1]80", "':port'"},
      {"[::1]:", "port"},
      {"[::1]:abc", "port"},
      {"[127.0.0.1]:80", "not an IPv6"},
      {"[example.com]:80", "not an IPv6"},
      {"[]:80", "not an IPv6"},
      {"::1:80", "[HOST]:PORT"},
      {"fe80::1:80", "[HOST]:PORT"},
      {":80", "not a numeric IPv4"},
      {"example.com:80", "not a numeric IPv4"},
      {"localhost:80", "not a numeric IPv4"},
      {"1.2.3.4.5:80", "not a numeric IPv4"},
      {"256.0.0.1:80", "not a numeric IPv4"},
      {"1.2.3:80", "not a numeric IPv4"},
      {"127.0.0.1%lo:80", "not a numeric IPv4"},
  };
  for (const Malformed& bad : cases) {
    SCOPED_TRACE(std::string("text '") + bad.text + "'");
    const std::string message = parse_failure(bad.text);
    EXPECT_NE(message.find(std::string("'") + bad.text + "'"), std::string::npos) << message;
    EXPECT_NE(message.find(bad.why), std::string::npos) << message;
  }
}

// ---- constructors ----------------------------------------------------------------------------

TEST(SocketAddressTest, FromHostPortTakesBareNumericHostsOfEitherFamily) {
  EXPECT_EQ(SocketAddress::from_host_port("127.0.0.1", 80), SocketAddress::parse("127.0.0.1:80"));
  EXPECT_EQ(SocketAddress::from_host_port("::1", 65535), SocketAddress::parse("[::1]:65535"));
  EXPECT_EQ(SocketAddress::from_host_port("2001:db8::1", 0).to_string(), "[2001:db8::1]:0");
  for (const std::string host : {"[::1]", "localhost", "", "1.2.3.4.5", "127.0.0.1:80"}) {
    SCOPED_TRACE("host '" + host + "'");
    const std::string message =
        invalid_argument_message([&host] { return SocketAddress::from_host_port(host, 80); });
    EXPECT_NE(message.find("'" + host + "'"), std::string::npos) << message;
  }
}

TEST(SocketAddressTest, AnyAndLoopbackAreTheWildcardAndLoopbackOfEachFamily) {
  EXPECT_EQ(SocketAddress::any(80).to_string(), "0.0.0.0:80");
  EXPECT_EQ(SocketAddress::any(80, true).to_string(), "[::]:80");
  EXPECT_EQ(SocketAddress::loopback(8080).to_string(), "127.0.0.1:8080");
  EXPECT_EQ(SocketAddress::loopback(8080, true).to_string(), "[::1]:8080");
  EXPECT_EQ(SocketAddress::any(80), SocketAddress::parse("0.0.0.0:80"));
  EXPECT_EQ(SocketAddress::any(80, true), SocketAddress::parse("[::]:80"));
  EXPECT_EQ(SocketAddress::loopback(8080), SocketAddress::parse("127.0.0.1:8080"));
  EXPECT_EQ(SocketAddress::loopback(8080, true), SocketAddress::parse("[::1]:8080"));
  EXPECT_EQ(as_ipv4(SocketAddress::loopback(8080)).sin_port, htons(8080));
  EXPECT_EQ(as_ipv6(SocketAddress::loopback(8080, true)).sin6_port, htons(8080));
}

TEST(SocketAddressTest, DefaultAddressIsEmptyAndUnspecified) {
  const SocketAddress empty;
  EXPECT_EQ(empty.family(), AF_UNSPEC);
  EXPECT_FALSE(empty.is_ipv4() || empty.is_ipv6() || empty.is_unix());
  EXPECT_EQ(empty.port(), 0);
  EXPECT_EQ(empty.host(), "");
  EXPECT_EQ(empty.to_string(), "");
  EXPECT_EQ(empty.native_length(), 0u);
  EXPECT_EQ(empty, SocketAddress());
  EXPECT_NE(empty, SocketAddress::any(0));
}

// ---- Unix domain -----------------------------------------------------------------------------

TEST(SocketAddressTest, UnixPathFormatsAsThePathWithALengthCoveringItsNul) {
  const SocketAddress address = SocketAddress::unix_path("/run/app.sock");
  EXPECT_TRUE(address.is_unix());
  EXPECT_EQ(address.family(), AF_UNIX);
  EXPECT_EQ(address.port(), 0);
  EXPECT_EQ(address.host(), "/run/app.sock");
  EXPECT_EQ(address.to_string(), "/run/app.sock");
  EXPECT_EQ(address.native_length(), offsetof(sockaddr_un, sun_path) + 13 + 1);
  EXPECT_STREQ(as_unix(address).sun_path, "/run/app.sock");
  EXPECT_EQ(SocketAddress::unix_path("relative.sock").to_string(), "relative.sock");
}

TEST(SocketAddressTest, UnixPathOf107BytesFitsAnd108IsRejectedNamingTheLimit) {
  const std::string longest = "/" + std::string(106, 'p');
  const SocketAddress address = SocketAddress::unix_path(longest);
  EXPECT_EQ(address.to_string(), longest);
  EXPECT_EQ(address.native_length(), sizeof(sockaddr_un));

  const std::string too_long = longest + "p";
  const std::string message =
      invalid_argument_message([&too_long] { return SocketAddress::unix_path(too_long); });
  EXPECT_NE(message.find("'" + too_long + "'"), std::string::npos) << message;
  EXPECT_NE(message.find("108"), std::string::npos) << "the message names the limit: " << message;
}

TEST(SocketAddressTest, UnixPathEmptyIsRejected) {
  const std::string message = invalid_argument_message([] { return SocketAddress::unix_path(""); });
  EXPECT_NE(message.find("''"), std::string::npos) << message;
  EXPECT_NE(message.find("empty"), std::string::npos) << message;
}

// what() is read as a C string: a NUL quoted raw would hide everything after it, the reason
// included, so the message escapes it.
TEST(SocketAddressTest, UnixPathWithANulIsRejectedWithAReadableReason) {
  const std::string with_nul("/tmp/a\0b", 8);
  const std::string message =
      invalid_argument_message([&with_nul] { return SocketAddress::unix_path(with_nul); });
  EXPECT_NE(message.find("/tmp/a"), std::string::npos) << message;
  EXPECT_NE(message.find("NUL"), std::string::npos) << "what() is cut at the NUL: " << message;
}

TEST(SocketAddressTest, UnixAbstractFormatsAsAtNameWithALeadingNulAndNoTrailingOne) {
  const SocketAddress address = SocketAddress::unix_abstract("ringloop");
  EXPECT_TRUE(address.is_unix());
  EXPECT_EQ(address.host(), "@ringloop");
  EXPECT_EQ(address.to_string(), "@ringloop");
  EXPECT_EQ(address.native_length(), offsetof(sockaddr_un, sun_path) + 1 + 8);
  EXPECT_EQ(as_unix(address).sun_path[0], '\0');
  EXPECT_EQ(std::string_view(as_unix(address).sun_path + 1, 8), "ringloop");
  // The length is part of an abstract name: "ring" is not a prefix match of "ringloop".
  EXPECT_NE(SocketAddress::unix_abstract("ring"), address);
  // A path and an abstract name spelled alike are different addresses.
  EXPECT_NE(SocketAddress::unix_path("ringloop"), address);
}

// unix_abstract() accepts 107 bytes (sun_path less the leading NUL) and the kernel binds such a
// name, so the limit is 107; socket_address.hpp's comment says 106 (a documentation slip, see the
// report).
TEST(SocketAddressTest, UnixAbstractOf107BytesBindsAnd108IsRejectedNamingTheLimit) {
  const std::string longest = unique_name_of_size(107);
  const SocketAddress address = SocketAddress::unix_abstract(longest);
  EXPECT_EQ(address.native_length(), sizeof(sockaddr_un));
  EXPECT_EQ(address.to_string(), "@" + longest);
  SocketAddress bound;
  ASSERT_EQ(bind_and_read_back(address, SOCK_STREAM, &bound), 0)
      << "the kernel refused a 107-byte abstract name";
  EXPECT_EQ(bound, address);

  const std::string too_long = longest + "x";
  const std::string message =
      invalid_argument_message([&too_long] { return SocketAddress::unix_abstract(too_long); });
  EXPECT_NE(message.find("'" + too_long + "'"), std::string::npos) << message;
  EXPECT_NE(message.find("107"), std::string::npos) << "the message names the limit: " << message;
}

// ---- sockaddr round trips --------------------------------------------------------------------

TEST(SocketAddressTest, FromNativeOfNativeGivesTheSameAddress) {
  const std::vector<SocketAddress> addresses = {
      SocketAddress::parse("127.0.0.1:8080"),   SocketAddress::parse("[::1]:8080"),
      SocketAddress::parse("[fe80::1%1]:1"),    SocketAddress::unix_path("/run/app.sock"),
      SocketAddress::unix_abstract("ringloop"), SocketAddress(),
  };
  for (const SocketAddress& address : addresses) {
    SCOPED_TRACE(address.to_string());
    const SocketAddress copy =
        SocketAddress::from_native(address.native(), address.native_length());
    EXPECT_EQ(copy, address);
    EXPECT_EQ(copy.to_string(), address.to_string());
    EXPECT_EQ(copy.family(), address.family());
  }
}

TEST(SocketAddressTest, FromNativeLongerThanSockaddrStorageIsRejectedNamingTheLength) {
  sockaddr_storage storage{};
  constexpr socklen_t length = sizeof(sockaddr_storage) + 1;
  const std::string message = invalid_argument_message([&storage] {
    return SocketAddress::from_native(reinterpret_cast<const sockaddr*>(&storage), length);
  });
  EXPECT_NE(message.find(std::to_string(length)), std::string::npos) << message;
}

TEST(SocketAddressTest, FromNativeOfNothingIsUnspecified) {
  EXPECT_EQ(SocketAddress::from_native(nullptr, 0).family(), AF_UNSPEC);
  EXPECT_EQ(SocketAddress::from_native(nullptr, 0), SocketAddress());
}

TEST(SocketAddressTest, KernelReportsBackTheIpAddressesItWasGiven) {
  // Port 0: the kernel picks one, and getsockname must show it in host order through port().
  SocketAddress bound;
  ASSERT_EQ(bind_and_read_back(SocketAddress::parse("127.0.0.1:0"), SOCK_DGRAM, &bound), 0);
  EXPECT_TRUE(bound.is_ipv4());
  EXPECT_EQ(bound.host(), "127.0.0.1");
  EXPECT_NE(bound.port(), 0);
  EXPECT_EQ(bound, SocketAddress::loopback(bound.port()));
  EXPECT_EQ(bound.to_string(), "127.0.0.1:" + std::to_string(bound.port()));

  SocketAddress bound6;
  const int error = bind_and_read_back(SocketAddress::parse("[::1]:0"), SOCK_DGRAM, &bound6);
  if (error == EADDRNOTAVAIL || error == EAFNOSUPPORT) GTEST_SKIP() << "no IPv6 loopback here";
  ASSERT_EQ(error, 0) << std::strerror(error);
  EXPECT_TRUE(bound6.is_ipv6());
  EXPECT_NE(bound6.port(), 0);
  EXPECT_EQ(bound6, SocketAddress::loopback(bound6.port(), true));
  EXPECT_EQ(bound6.to_string(), "[::1]:" + std::to_string(bound6.port()));
}

TEST(SocketAddressTest, KernelReportsBackAUnixPathEqualToUnixPath) {
  testing::TemporaryDirectory directory;
  const SocketAddress address = SocketAddress::unix_path(directory.file("bound.sock"));
  SocketAddress bound;
  ASSERT_EQ(bind_and_read_back(address, SOCK_STREAM, &bound), 0);
  EXPECT_EQ(bound.to_string(), address.to_string());
  EXPECT_EQ(bound, address);
}

TEST(SocketAddressTest, KernelAutoboundAndUnnamedUnixAddressesFormat) {
  // Binding only the family asks Linux to pick an abstract name: a NUL and five hex digits.
  Descriptor autobound(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  const sa_family_t family = AF_UNIX;
  ASSERT_EQ(::bind(autobound.get(), reinterpret_cast<const sockaddr*>(&family), sizeof family), 0)
      << std::strerror(errno);
  const SocketAddress picked = local_address_of(autobound.get());
  EXPECT_TRUE(picked.is_unix());
  const std::string text = picked.to_string();
  ASSERT_EQ(text.size(), 6u) << text;
  EXPECT_EQ(text[0], '@') << text;
  EXPECT_EQ(text.find_first_not_of("0123456789abcdef", 1), std::string::npos) << text;

  // A socketpair end has no name at all: only the family comes back.
  int ends[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ends), 0);
  Descriptor first(ends[0]);
  Descriptor second(ends[1]);
  const SocketAddress unnamed = local_address_of(first.get());
  EXPECT_TRUE(unnamed.is_unix());
  EXPECT_EQ(unnamed.host(), "");
  EXPECT_EQ(unnamed.to_string(), "");
}

// ---- equality --------------------------------------------------------------------------------

TEST(SocketAddressTest, EqualityComparesFamilyHostPortAndScope) {
  const SocketAddress address = SocketAddress::parse("127.0.0.1:80");
  const SocketAddress copy = address;
  EXPECT_EQ(copy, address);
  EXPECT_EQ(SocketAddress::parse("127.0.0.1:80"), address);
  EXPECT_NE(SocketAddress::parse("127.0.0.1:81"), address);
  EXPECT_NE(SocketAddress::parse("127.0.0.2:80"), address);
  EXPECT_NE(SocketAddress::parse("[::ffff:127.0.0.1]:80"), address);
  EXPECT_NE(SocketAddress::parse("[::1]:80"), SocketAddress::parse("[::1]:81"));
  EXPECT_NE(SocketAddress::parse("[fe80::1%1]:80"), SocketAddress::parse("[fe80::1%2]:80"));
  EXPECT_NE(SocketAddress::unix_path("/a"), SocketAddress::unix_path("/b"));
  EXPECT_EQ(SocketAddress::unix_path("/a"), SocketAddress::unix_path("/a"));
}

}  // namespace
}  // namespace ringloop
