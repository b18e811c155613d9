// Compiled by ctest (tests/CMakeLists.txt) with -Werror=unused-result: with no DISCARD_* macro it
// must compile; with one, the statement that drops an awaitable without co_await must fail the
// build, because it would otherwise do nothing at all.

#include <chrono>

#include <ringloop/ringloop.hpp>

namespace {

using namespace std::chrono_literals;

ringloop::Task<int> answer() {
  co_return 42;
}

ringloop::Task<> body() {
  ringloop::Queue<int> queue(1);
  ringloop::Event event;
#if defined(DISCARD_SLEEP)
  ringloop::sleep(1s);
#elif defined(DISCARD_YIELD_NOW)
  ringloop::yield_now();
#elif defined(DISCARD_TASK)
  answer();
#elif defined(DISCARD_IO_OPERATION)
  ringloop::ops::nop();
#elif defined(DISCARD_QUEUE_GET)
  queue.get();
#elif defined(DISCARD_EVENT_WAIT)
  event.wait();
#else
  co_await ringloop::sleep(1ms);
  co_await ringloop::yield_now();
  const int value = co_await answer();
  (void)value;
  co_await ringloop::ops::nop();
  event.set();
  co_await event.wait();
#endif
  co_return;
}

}  // namespace

int main() {
  ringloop::run(body());
}
