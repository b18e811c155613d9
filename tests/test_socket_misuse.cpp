// Socket misuse fails loudly (issue 9): a negative listen backlog, drain() after close(), and
// the address texts people get wrong (an interface-scoped IPv6 zone, a URL).

#include <net/if.h>

#include <stdexcept>
#include <string>
#include <system_error>

#include "support/sockets.hpp"

namespace ringloop::testing {
namespace {

class SocketMisuse : public LoopTest {};

/// The message of the std::invalid_argument `work` raises, or a note that it raised none.
template <class F>
std::string invalid_argument_message(F&& work) {
  try {
    work();
  } catch (const std::invalid_argument& error) {
    return error.what();
  }
  return "<no std::invalid_argument>";
}

Task<std::string> drain_after_close() {
  Connection c = co_await connect_over_loopback();
  co_await c.client.close();
  std::string message = "<no std::system_error>";
  try {
    co_await c.client.drain();
  } catch (const std::system_error& error) {
    EXPECT_EQ(error.code(), std::error_code(EBADF, std::system_category()));
    message = error.what();
  }
  co_await c.server.close();
  co_return message;
}

TEST_P(SocketMisuse, NegativeBacklogIsRefused) {
  EXPECT_EQ(
      invalid_argument_message([] { (void)TcpListener::bind(SocketAddress::loopback(0), -1); }),
      "TcpListener::bind: backlog -1 is negative (0 or more; the kernel caps it at "
      "somaxconn)");
  EXPECT_EQ(invalid_argument_message([] {
              (void)UnixListener::bind(SocketAddress::unix_abstract("ringloop-backlog"), -5);
            }),
            "UnixListener::bind: backlog -5 is negative (0 or more; the kernel caps it at "
            "somaxconn)");
}

TEST_P(SocketMisuse, DrainAfterCloseFailsWithEbadf) {
  EXPECT_EQ(run(drain_after_close()), "drain on a closed socket: Bad file descriptor");
}

TEST(SocketAddressMisuse, InterfaceNameOfAnIpv6ZoneIsKept) {
  if (::if_nametoindex("lo") == 0) GTEST_SKIP() << "no interface named 'lo' here";
  EXPECT_EQ(SocketAddress::parse("[fe80::1%lo]:80").to_string(), "[fe80::1%lo]:80");
  EXPECT_EQ(SocketAddress::parse("[fe80::1%1]:80").to_string(), "[fe80::1%1]:80");
  EXPECT_EQ(SocketAddress::from_host_port("fe80::1%lo", 80).host(), "fe80::1%lo");
  EXPECT_EQ(SocketAddress::parse("[fe80::1%lo]:80"), SocketAddress::parse("[fe80::1%1]:80"));
}

TEST(SocketAddressMisuse, UrlIsNamedAsSuch) {
  const std::string hint =
      "': this looks like a URL; give a numeric HOST:PORT (resolve() looks names up)";
  EXPECT_EQ(invalid_argument_message([] { (void)SocketAddress::parse("http://example.com"); }),
            "invalid socket address 'http://example.com" + hint);
  EXPECT_EQ(
      invalid_argument_message([] { (void)SocketAddress::parse("https://127.0.0.1:8080/x"); }),
      "invalid socket address 'https://127.0.0.1:8080/x" + hint);
}

RINGLOOP_ON_BOTH_BACKENDS(SocketMisuse);

}  // namespace
}  // namespace ringloop::testing
