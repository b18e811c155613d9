#include <ringloop/sockets/socket_errors.hpp>

#include <netdb.h>

namespace ringloop {

IncompleteReadError::IncompleteReadError(std::string partial, std::size_t expected)
    : std::runtime_error("stream ended after " + std::to_string(partial.size()) + " of " +
                         std::to_string(expected) + " expected bytes"),
      partial_(std::move(partial)),
      expected_(expected) {}

LimitOverrunError::LimitOverrunError(std::size_t buffered, std::size_t max_bytes)
    : std::runtime_error("no delimiter within the first " + std::to_string(max_bytes) + " bytes (" +
                         std::to_string(buffered) + " buffered)"),
      buffered_(buffered) {}

ResolveError::ResolveError(int code, const std::string& host, const std::string& service)
    : std::runtime_error("cannot resolve '" + host + "' service '" + service +
                         "': " + ::gai_strerror(code)),
      code_(code) {}

}  // namespace ringloop
