#pragma once
// Errors of the stream and name-resolution layer. System call failures are std::system_error
// (code() is the errno, what() names the operation and the socket); these cover the rest.

#include <cstddef>
#include <stdexcept>
#include <string>

namespace ringloop {

/// read_exactly() met the end of the stream first (asyncio.IncompleteReadError). The bytes that
/// did arrive are in partial().
class IncompleteReadError : public std::runtime_error {
 public:
  IncompleteReadError(std::string partial, std::size_t expected);
  [[nodiscard]] const std::string& partial() const noexcept { return partial_; }
  [[nodiscard]] std::size_t expected() const noexcept { return expected_; }

 private:
  std::string partial_;
  std::size_t expected_;
};

/// read_until()/readline() found no delimiter within max_bytes (asyncio.LimitOverrunError). The
/// stream stays usable: the bytes read so far stay buffered for the next read.
class LimitOverrunError : public std::runtime_error {
 public:
  LimitOverrunError(std::size_t buffered, std::size_t max_bytes);
  /// How many bytes are buffered (at least max_bytes).
  [[nodiscard]] std::size_t buffered() const noexcept { return buffered_; }

 private:
  std::size_t buffered_;
};

/// getaddrinfo() failed. code() is its EAI_* value; what() names the host, the service and
/// gai_strerror's text.
class ResolveError : public std::runtime_error {
 public:
  ResolveError(int code, const std::string& host, const std::string& service);
  [[nodiscard]] int code() const noexcept { return code_; }

 private:
  int code_;
};

}  // namespace ringloop
