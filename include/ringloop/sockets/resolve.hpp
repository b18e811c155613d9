#pragma once
// Name resolution: getaddrinfo(3) on the loop's offload pool, as libuv and asyncio do, so a slow
// DNS server never blocks the loop.

#include <sys/socket.h>

#include <string>
#include <vector>

#include <ringloop/runtime/task.hpp>
#include <ringloop/sockets/socket_address.hpp>

namespace ringloop {

/// Options for resolve(), as getaddrinfo's hints.
struct ResolveOptions {
  int family = AF_UNSPEC;         ///< AF_INET, AF_INET6 or AF_UNSPEC (both)
  int socket_type = SOCK_STREAM;  ///< SOCK_STREAM or SOCK_DGRAM; one address per result
  bool passive = false;           ///< AI_PASSIVE: addresses to bind to when host is empty
};

/// The addresses `host` and `service` ("80", "http") resolve to, in getaddrinfo's order.
/// Empty `host` means loopback (or any, with `passive`). Runs on the default offload pool; a
/// cancelled await returns at once (the lookup finishes on its worker and is discarded).
/// Throws ResolveError with gai_strerror's text on failure.
Task<std::vector<SocketAddress>> resolve(std::string host, std::string service,
                                         ResolveOptions options = {});

}  // namespace ringloop
