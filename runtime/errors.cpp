#include <ringloop/runtime/errors.hpp>

#include <cxxabi.h>

#include <cstdlib>
#include <memory>
#include <typeinfo>

#include <ringloop/runtime/handle.hpp>

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

}  // namespace detail
}  // namespace ringloop
