#pragma once
// What the tests of the awaitable descriptor operations share (test_io_operations.cpp,
// test_io_errors.cpp, test_io_cancellation.cpp): reading what a socket holds right now, and what
// an operation expected to fail threw.

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <system_error>

#include <ringloop/ringloop.hpp>

namespace ringloop::testing {

/// Bytes waiting in `fd` right now (without blocking), as text.
inline std::string drain_now(int fd) {
  std::string result;
  char buffer[256];
  for (;;) {
    const ssize_t n = ::recv(fd, buffer, sizeof buffer, MSG_DONTWAIT);
    if (n <= 0) break;
    result.append(buffer, static_cast<std::size_t>(n));
  }
  return result;
}

/// What an operation that was expected to fail threw.
struct Failure {
  bool threw = false;
  std::error_code code;
  std::string what;
};

/// A nop through the current loop's backend; its result.
inline Task<std::int32_t> nop_through_backend() {
  const std::int32_t result = co_await ops::nop();
  co_return result;
}

}  // namespace ringloop::testing
