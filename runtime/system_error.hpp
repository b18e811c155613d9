#pragma once
// How the library turns an errno into an exception, in one place (not part of the public API).
// Every failed descriptor operation names itself the same way: "<operation> on fd N".

#include <string>
#include <string_view>

namespace ringloop::detail {

/// "<operation> on fd N"; just the operation when `fd` < 0.
std::string on_descriptor(std::string_view operation, int fd);

/// Throws std::system_error for errno `error` with `what` as its message.
[[noreturn]] void throw_system_error(int error, const std::string& what);

/// throw_system_error(error, on_descriptor(operation, fd)).
[[noreturn]] void throw_operation_error(int error, std::string_view operation, int fd);

/// Throws std::system_error from errno when `result` < 0; gives `result` otherwise.
int check_system_call(int result, const std::string& what);

}  // namespace ringloop::detail
