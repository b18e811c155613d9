// TaskGroup: join waits for every child, the first failure cancels the siblings, failures are
// collected, and spawning after join or after a failure is an error.

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

class CombinatorTaskGroupTest : public CombinatorTest {};

Task<std::string> record_after(std::chrono::milliseconds delay, Log* log, std::string text) {
  co_await sleep(delay);
  log->push_back(text);
  co_return text;
}

Task<Log> join_three_children() {
  Log log;
  TaskGroup group;
  TaskHandle<std::string> slow = group.spawn(record_after(20ms, &log, "slow"), "slow");
  group.spawn(record_after(1ms, &log, "fast"));
  group.spawn(record_after(10ms, &log, "middle"));
  co_await group.join();
  log.push_back("joined; slow gave " + slow.result());
  co_return log;
}

TEST_P(CombinatorTaskGroupTest, JoinWaitsForEveryChild) {
  EXPECT_EQ(run(join_three_children()), (Log{"fast", "middle", "slow", "joined; slow gave slow"}));
}

Task<std::string> thousand_children_one_failure() {
  TaskGroup group;
  std::vector<TaskHandle<>> siblings;
  for (int index = 0; index < 1000; ++index) {
    if (index == 500) {
      group.spawn(fail_after(5ms, "the one failure"));
    } else {
      siblings.push_back(group.spawn(sleep_forever()));
    }
  }
  std::string outcome;
  try {
    co_await group.join();
    outcome = "no ExceptionGroup";
  } catch (const ExceptionGroup& errors) {
    outcome = std::to_string(errors.exceptions().size()) + " failure(s)";
    for (const std::exception_ptr& error : errors.exceptions()) {
      outcome += ": " + message_of(error);
    }
  }
  std::size_t cancelled = 0;
  for (TaskHandle<>& sibling : siblings) {
    cancelled += sibling.cancelled() ? 1 : 0;
  }
  co_return outcome + ", " + std::to_string(cancelled) + " siblings cancelled";
}

TEST_P(CombinatorTaskGroupTest, FirstFailureCancelsAThousandSiblingsAndIsTheOnlyOneReported) {
  EXPECT_EQ(run(thousand_children_one_failure()),
            "1 failure(s): the one failure, 999 siblings cancelled");
}

Task<std::string> two_failures_in_one_iteration(Future<> trigger) {
  TaskGroup group;
  group.spawn(fail_when_set(trigger, "first"));
  group.spawn(fail_when_set(trigger, "second"));
  TaskHandle<> sleeper = group.spawn(sleep_forever());
  co_await yield_now();  // both children wait on the trigger now
  trigger.set_result();
  std::string outcome;
  try {
    co_await group.join();
  } catch (const ExceptionGroup& errors) {
    for (const std::exception_ptr& error : errors.exceptions()) {
      outcome += message_of(error) + " ";
    }
    outcome += errors.what();
  }
  co_return outcome + (sleeper.cancelled() ? "; sleeper cancelled" : "; sleeper not cancelled");
}

TEST_P(CombinatorTaskGroupTest, EveryFailureIsCollectedButCancellationsAreNot) {
  EXPECT_EQ(run(two_failures_in_one_iteration(Future<>(loop()))),
            "first second 2 child tasks failed; first: std::runtime_error: first; sleeper "
            "cancelled");
}

Task<> join_group_with_slow_child(Log* log) {
  TaskGroup group;
  group.spawn(slow_to_cancel(10ms, log, "child"));
  group.spawn(sleep_forever());
  try {
    co_await group.join();
  } catch (const CancelledError&) {
    log->push_back("join raised CancelledError");
    throw;
  }
}

TEST_P(CombinatorTaskGroupTest, CancellingTheJoinerCancelsTheChildrenAndWaitsForThem) {
  Log log;
  TaskHandle<> parent = loop().spawn(join_group_with_slow_child(&log));
  EXPECT_TRUE(run(cancel_after(parent, 5ms)));
  EXPECT_EQ(log, (Log{"child cancelled", "child finished", "join raised CancelledError"}));
}

Task<std::vector<TaskHandle<>>> leave_group_unjoined() {
  TaskGroup group;
  std::vector<TaskHandle<>> children{group.spawn(sleep_forever()), group.spawn(sleep_forever())};
  co_await yield_now();
  co_return children;  // the group dies here, its children still running
}

Task<std::size_t> children_cancelled_with_their_group() {
  std::vector<TaskHandle<>> children = co_await leave_group_unjoined();
  std::size_t cancelled = 0;
  for (TaskHandle<>& child : children) {
    const bool ended_cancelled = co_await ends_cancelled(child);
    cancelled += ended_cancelled ? 1 : 0;
  }
  co_return cancelled;
}

TEST_P(CombinatorTaskGroupTest, DestroyingTheGroupCancelsItsRunningChildren) {
  EXPECT_EQ(run(children_cancelled_with_their_group()), 2u);
}

Task<> spawn_sibling_later(TaskGroup* group, Log* log) {
  co_await sleep(5ms);
  group->spawn(record_after(10ms, log, "late sibling done"));
  log->push_back("first child done");
}

Task<Log> child_spawns_a_sibling() {
  Log log;
  TaskGroup group;
  group.spawn(spawn_sibling_later(&group, &log));
  co_await group.join();
  log.push_back("joined");
  co_return log;
}

TEST_P(CombinatorTaskGroupTest, JoinAlsoWaitsForChildrenSpawnedWhileItWaits) {
  EXPECT_EQ(run(child_spawns_a_sibling()),
            (Log{"first child done", "late sibling done", "joined"}));
}

Task<std::string> spawn_after_join() {
  TaskGroup group;
  group.spawn(pause(1ms));
  co_await group.join();
  try {
    group.spawn(pause(1ms));
  } catch (const InvalidStateError&) {
    co_return "spawn refused";
  }
  co_return "spawn accepted";
}

TEST_P(CombinatorTaskGroupTest, SpawnAfterJoinThrowsInvalidStateError) {
  EXPECT_EQ(run(spawn_after_join()), "spawn refused");
}

Task<std::string> spawn_while_shutting_down() {
  TaskGroup group;
  group.spawn(fail_after(1ms, "bad"));
  group.spawn(sleep_forever());
  co_await sleep(10ms);  // the failure has cancelled the sibling by now
  std::string outcome;
  try {
    group.spawn(pause(1ms));
    outcome = "spawn accepted";
  } catch (const InvalidStateError&) {
    outcome = "spawn refused";
  }
  try {
    co_await group.join();
  } catch (const ExceptionGroup&) {
    outcome += ", ExceptionGroup";
  }
  co_return outcome;
}

TEST_P(CombinatorTaskGroupTest, SpawnAfterAFailureThrowsInvalidStateError) {
  EXPECT_EQ(run(spawn_while_shutting_down()), "spawn refused, ExceptionGroup");
}

Task<std::size_t> abandon_group_after_failure() {
  TaskGroup group;
  group.spawn(fail_after(1ms, "never joined"));
  while (group.running() > 0)
    co_await sleep(1ms);
  co_return group.running();
}

TEST_P(CombinatorTaskGroupTest, FailureThatJoinNeverDeliveredIsReportedWhenTheGroupDies) {
  EXPECT_EQ(run(abandon_group_after_failure()), 0u);
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_EQ(reports[0].message,
            "TaskGroup destroyed before join() reported a child task's failure");
  EXPECT_EQ(message_of(reports[0].exception), "never joined");
  reports.clear();
}

Task<bool> join_empty_group() {
  TaskGroup group;
  co_await group.join();
  co_return group.running() == 0;
}

TEST_P(CombinatorTaskGroupTest, JoinOfAnEmptyGroupReturnsAtOnce) {
  EXPECT_TRUE(run(join_empty_group()));
}

RINGLOOP_ON_BOTH_BACKENDS(CombinatorTaskGroupTest);

}  // namespace
}  // namespace ringloop::testing
