#include <ringloop/sockets/resolve.hpp>

#include <netdb.h>

#include <cerrno>
#include <system_error>

#include <ringloop/runtime/offload.hpp>
#include <ringloop/sockets/socket_errors.hpp>

namespace ringloop {
namespace {

// Runs on a pool worker: getaddrinfo blocks (DNS, /etc/hosts, NSS modules).
std::vector<SocketAddress> lookup(std::string host, std::string service, ResolveOptions options) {
  addrinfo hints{};
  hints.ai_family = options.family;
  hints.ai_socktype = options.socket_type;
  // No AI_ADDRCONFIG: on a host with only loopback configured it hides "localhost".
  hints.ai_flags = options.passive ? AI_PASSIVE : 0;
  addrinfo* found = nullptr;
  const int code = ::getaddrinfo(host.empty() ? nullptr : host.c_str(),
                                 service.empty() ? nullptr : service.c_str(), &hints, &found);
  if (code == EAI_SYSTEM) {
    throw std::system_error(errno, std::system_category(),
                            "cannot resolve '" + host + "' service '" + service + "'");
  }
  if (code != 0) throw ResolveError(code, host, service);
  std::vector<SocketAddress> addresses;
  for (addrinfo* entry = found; entry; entry = entry->ai_next) {
    addresses.push_back(SocketAddress::from_native(entry->ai_addr, entry->ai_addrlen));
  }
  ::freeaddrinfo(found);
  return addresses;
}

}  // namespace

Task<std::vector<SocketAddress>> resolve(std::string host, std::string service,
                                         ResolveOptions options) {
  std::vector<SocketAddress> addresses =
      co_await offload(&lookup, std::move(host), std::move(service), options);
  co_return addresses;
}

}  // namespace ringloop
