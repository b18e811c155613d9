#include <ringloop/sockets/server.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <optional>
#include <system_error>

#include <ringloop/sockets/resolve.hpp>

namespace ringloop {

namespace {

// A numeric host needs no getaddrinfo: asyncio (_ipaddr_info) and libuv skip the resolver
// thread for it too, which saves a worker round trip per connection.
std::optional<SocketAddress> numeric_address(const std::string& host, std::uint16_t port) {
  in6_addr scratch{};
  if (inet_pton(AF_INET, host.c_str(), &scratch) != 1 &&
      inet_pton(AF_INET6, host.c_str(), &scratch) != 1) {
    return std::nullopt;
  }
  return SocketAddress::from_host_port(host, port);
}

}  // namespace

Task<TcpStream> open_connection(std::string host, std::uint16_t port) {
  std::vector<SocketAddress> addresses;
  if (std::optional<SocketAddress> numeric = numeric_address(host, port)) {
    addresses.push_back(*numeric);
  } else {
    addresses = co_await resolve(host, std::to_string(port));
  }
  // Each address in turn, as asyncio does (without its happy-eyeballs racing).
  std::string tried;
  std::error_code last_error;
  for (const SocketAddress& address : addresses) {
    try {
      TcpStream stream = co_await TcpStream::connect(address);
      co_return stream;
    } catch (const std::system_error& error) {
      last_error = error.code();
      tried += (tried.empty() ? "" : ", ") + address.to_string();
    }
  }
  throw std::system_error(last_error, "open_connection('" + host + "', " + std::to_string(port) +
                                          "): no address accepted (tried " + tried + ")");
}

Task<UnixStream> open_unix_connection(std::string path) {
  UnixStream stream = co_await UnixStream::connect(SocketAddress::unix_path(path));
  co_return stream;
}

Task<TcpServer> start_server(ConnectionHandler<TcpStream> handler, std::string host,
                             std::uint16_t port, int backlog) {
  ResolveOptions options;
  options.passive = true;
  std::vector<SocketAddress> addresses = co_await resolve(host, std::to_string(port), options);
  co_return TcpServer(TcpListener::bind(addresses.front(), backlog), std::move(handler));
}

UnixServer start_unix_server(ConnectionHandler<UnixStream> handler, const std::string& path,
                             int backlog) {
  return UnixServer(UnixListener::bind(SocketAddress::unix_path(path), backlog),
                    std::move(handler));
}

}  // namespace ringloop
