#include <ringloop/runtime/gather.hpp>

namespace ringloop::detail {

Task<void> gather_set(IntrusivePtr<TaskSet> set, bool fail_fast) {
  bool cancelled = false;
  while (set->taken() < set->size()) {
    std::optional<std::size_t> index;
    try {
      index = co_await set->next();
    } catch (const CancelledError&) {
      // Our awaiter was cancelled: so is every child (asyncio); wait for them all to finish.
      cancelled = true;
      set->cancel_unfinished();
      continue;
    }
    if (cancelled || !fail_fast) continue;
    TaskRef& task = (*set)[*index];
    if (task.cancelled()) {
      set->absorb_failures();
      throw CancelledError{};
    }
    if (std::exception_ptr error = task.exception()) {
      set->absorb_failures();
      std::rethrow_exception(error);
    }
  }
  if (cancelled) {
    set->absorb_failures();  // nobody will read these outcomes
    throw CancelledError{};
  }
}

}  // namespace ringloop::detail
