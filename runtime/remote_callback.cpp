#include <ringloop/detail/remote_callback.hpp>

#include <memory>

#include <ringloop/runtime/loop.hpp>

namespace ringloop::detail {

// Runs on the loop thread, inside run_ready(), so Loop::current() is the loop it was posted to.
void RemoteCallbackBase::run() {
  std::unique_ptr<RemoteCallbackBase> self(this);
  try {
    invoke();
  } catch (...) {
    Loop::current().call_exception_handler(
        {"Exception in " + describe(), std::current_exception(), {}});
  }
}

}  // namespace ringloop::detail
