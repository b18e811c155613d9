#pragma once
// System-call helpers every layer of the library shares (not part of the public API).

#include <fcntl.h>

#include <cerrno>

namespace ringloop::io {

/// Runs `call` again while it fails with EINTR (a signal arrived); gives its last answer, with
/// errno as the call left it. Never for close(2): Linux releases the number whatever it answers.
template <class Call>
auto retry_on_interrupt(Call call) {
  for (;;) {
    const auto result = call();
    if (result >= 0 || errno != EINTR) return result;
  }
}

/// Sets O_NONBLOCK on `fd` if it is missing: readiness-then-syscall needs non-blocking
/// descriptors, as libuv and asyncio require too. Errors are left to the next system call.
inline void ensure_nonblocking(int fd) noexcept {
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags >= 0 && !(flags & O_NONBLOCK)) ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

}  // namespace ringloop::io
