#include <ringloop/runtime/errors.hpp>

#include <cxxabi.h>

#include <cerrno>
#include <cstdlib>
#include <memory>
#include <system_error>
#include <typeinfo>

#include <ringloop/runtime/handle.hpp>

#include "system_error.hpp"

namespace ringloop {

std::string describe_exception(const std::exception_ptr& error) {
  if (!error) return "no exception";
  try {
    std::rethrow_exception(error);
  } catch (const CancelledError& cancelled) {
    return cancelled.what();
  } catch (const std::exception& exception) {
    return detail::callable_name(typeid(exception)) + ": " + exception.what();
  } catch (...) {
    return "unknown exception";
  }
}

namespace detail {

std::string callable_name(const std::type_info& type) {
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> demangled(
      abi::__cxa_demangle(type.name(), nullptr, nullptr, &status), std::free);
  return status == 0 && demangled ? std::string(demangled.get()) : std::string(type.name());
}

std::string on_descriptor(std::string_view operation, int fd) {
  std::string where(operation);
  if (fd >= 0) where += " on fd " + std::to_string(fd);
  return where;
}

void throw_system_error(int error, const std::string& what) {
  throw std::system_error(error, std::system_category(), what);
}

void throw_operation_error(int error, std::string_view operation, int fd) {
  throw_system_error(error, on_descriptor(operation, fd));
}

int check_system_call(int result, const std::string& what) {
  if (result < 0) throw_system_error(errno, what);
  return result;
}

}  // namespace detail
}  // namespace ringloop
