#include <ringloop/runtime/wait.hpp>

#include <ringloop/runtime/loop.hpp>

namespace ringloop::detail {

Task<void> wait_set(IntrusivePtr<TaskSet> set, ReturnWhen return_when,
                    std::optional<Duration> timeout) {
  std::optional<TimePoint> deadline;
  if (timeout) deadline = deadline_after(Loop::current().time(), *timeout);
  while (set->taken() < set->size()) {
    if (return_when == ReturnWhen::first_completed && set->finished() > 0) break;
    std::optional<std::size_t> index = co_await set->next(deadline);
    if (!index) break;  // timed out: nothing is cancelled (asyncio)
    if (return_when == ReturnWhen::first_exception) {
      // Like asyncio's wait, this marks the failure retrieved: it is what the caller waited for.
      TaskRef& task = (*set)[*index];
      if (!task.cancelled() && task.exception()) break;
    }
  }
}

}  // namespace ringloop::detail
