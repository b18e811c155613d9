#pragma once
// Reading what an exception_ptr holds, for tests that check failure messages.

#include <exception>
#include <string>

namespace ringloop::testing {

/// The message of the std::exception held by `error`.
inline std::string message_of(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& exception) {
    return exception.what();
  } catch (...) {
    return "<not a std::exception>";
  }
}

}  // namespace ringloop::testing
