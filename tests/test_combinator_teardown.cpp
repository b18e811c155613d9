// A loop closed while every combinator (TaskGroup, gather, wait_for, timeout, shield,
// as_completed) still waits: each pending task is reported once and everything is freed.

#include <chrono>
#include <cstddef>
#include <memory>
#include <stdexcept>
#include <string>
#include <tuple>
#include <variant>
#include <vector>

#include "support/cancellation.hpp"
#include "support/combinators.hpp"
#include "support/exceptions.hpp"
#include "support/loop_fixture.hpp"

namespace ringloop::testing {
namespace {

using namespace std::chrono_literals;

class CombinatorTeardownTest : public CombinatorTest {};

Task<> join_sleepers() {
  TaskGroup group;
  group.spawn(sleep_forever());
  group.spawn(sleep_forever());
  co_await group.join();
}

Task<> gather_sleepers() {
  co_await gather(sleep_forever(), sleep_forever());
}

Task<> wait_for_sleeper_in_scope() {
  auto scope = timeout(1h);
  co_await wait_for(sleep_forever(), 1h);
}

Task<> shield_sleeper() {
  co_await shield(sleep_forever());
}

Task<> next_of_sleepers() {
  std::vector<Task<>> tasks;
  tasks.push_back(sleep_forever());
  auto completed = as_completed(std::move(tasks), 1h);
  co_await completed.next();
}

TEST_P(CombinatorTeardownTest, ClosingTheLoopWhileEveryCombinatorWaitsFreesEverything) {
  Log messages;
  {
    LoopOptions options;
    options.backend = GetParam();
    Loop local(options);  // the fixture's loop is not touched
    local.set_exception_handler([&messages](Loop&, const ExceptionContext& context) {
      messages.push_back(context.message);
    });
    local.spawn(join_sleepers());
    local.spawn(gather_sleepers());
    local.spawn(wait_for_sleeper_in_scope());
    local.spawn(shield_sleeper());
    local.spawn(next_of_sleepers());
    local.run_until_complete(pause(5ms));
    EXPECT_EQ(local.all_tasks().size(), 11u);
  }
  // Each pending task is reported once; nothing else (ASan checks that nothing leaks).
  EXPECT_EQ(messages, Log(11, "Task was destroyed but it is pending"));
}

RINGLOOP_ON_BOTH_BACKENDS(CombinatorTeardownTest);

}  // namespace
}  // namespace ringloop::testing
