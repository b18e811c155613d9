// Timeout scopes (timeout()): expiry as TimeoutError, reschedule, nesting, cancellation from
// outside staying a cancellation, and undelivered cancellations withdrawn when a scope ends.

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

class CombinatorTimeoutTest : public CombinatorTest {};

Task<std::string> sleep_in_scope(std::chrono::milliseconds deadline,
                                 std::chrono::milliseconds work) {
  std::string outcome;
  try {
    auto scope = timeout(deadline);
    try {
      co_await sleep(work);
    } catch (const CancelledError&) {
      outcome = scope.expired() ? "expired; " : "not expired; ";
      scope.raise_if_expired();
      throw;
    }
    outcome = scope.expired() ? "completed although expired" : "completed";
  } catch (const TimeoutError&) {
    outcome += "TimeoutError";
  }
  co_await sleep(1ms);  // raises CancelledError if the scope leaked its cancellation
  co_return outcome;
}

TEST_P(CombinatorTimeoutTest, ScopeTurnsTheCancellationItCausedIntoTimeoutError) {
  EXPECT_EQ(run(sleep_in_scope(10ms, 1h)), "expired; TimeoutError");
}

TEST_P(CombinatorTimeoutTest, ScopeWhoseDeadlineDoesNotPassChangesNothing) {
  EXPECT_EQ(run(sleep_in_scope(1h, 1ms)), "completed");
}

Task<std::string> scope_then_sleep_past_its_deadline() {
  {
    auto scope = timeout(10ms);
    co_await sleep(1ms);
  }
  co_await sleep(30ms);  // CancelledError if the destroyed scope still fired
  co_return "not cancelled";
}

TEST_P(CombinatorTimeoutTest, DestroyedScopeIsDisarmed) {
  EXPECT_EQ(run(scope_then_sleep_past_its_deadline()), "not cancelled");
}

Task<Log> reschedule_scopes(Loop* loop) {
  Log log;
  {
    auto scope = timeout(10ms);
    scope.reschedule(loop->time() + 1h);
    co_await sleep(30ms);
    log.push_back(scope.expired() ? "later deadline expired" : "later deadline kept");
  }
  {
    auto scope = timeout(std::nullopt);
    EXPECT_FALSE(scope.when().has_value());
    scope.reschedule(loop->time() + 5ms);
    try {
      co_await sleep(1h);
    } catch (const CancelledError&) {
      log.push_back("earlier deadline cancelled the sleep");
      try {
        scope.raise_if_expired();
      } catch (const TimeoutError&) {
        log.push_back("TimeoutError");
      }
    }
    try {
      scope.reschedule(std::nullopt);
    } catch (const InvalidStateError&) {
      log.push_back("no reschedule after expiry");
    }
  }
  {
    auto scope = timeout(5ms);
    scope.reschedule(std::nullopt);
    co_await sleep(20ms);
    log.push_back(scope.expired() ? "disarmed scope expired" : "disarmed scope kept quiet");
  }
  co_return log;
}

TEST_P(CombinatorTimeoutTest, RescheduleMovesOrRemovesTheDeadline) {
  EXPECT_EQ(run(reschedule_scopes(&loop())),
            (Log{"later deadline kept", "earlier deadline cancelled the sleep", "TimeoutError",
                 "no reschedule after expiry", "disarmed scope kept quiet"}));
}

Task<std::string> inner_scope_expires_then_outer_scope() {
  std::string outcome;
  try {
    auto outer = timeout(30ms);
    try {
      try {
        auto inner = timeout(5ms);
        try {
          co_await sleep(1h);
        } catch (const CancelledError&) {
          inner.raise_if_expired();
          throw;
        }
      } catch (const TimeoutError&) {
        outcome = "inner TimeoutError; ";
      }
      co_await sleep(1h);
    } catch (const CancelledError&) {
      outer.raise_if_expired();  // the inner scope's cancellation, retired, must not confuse it
      throw;
    }
  } catch (const TimeoutError&) {
    outcome += "outer TimeoutError";
  }
  co_return outcome;
}

TEST_P(CombinatorTimeoutTest, NestedScopesEachRecognizeTheirOwnExpiry) {
  EXPECT_EQ(run(inner_scope_expires_then_outer_scope()), "inner TimeoutError; outer TimeoutError");
}

Task<std::string> outer_scope_expires_inside_inner_scope() {
  std::string outcome;
  try {
    auto outer = timeout(5ms);
    try {
      auto inner = timeout(1h);
      try {
        co_await sleep(1h);
      } catch (const CancelledError&) {
        outcome = inner.expired() ? "inner expired; " : "inner passes it on; ";
        inner.raise_if_expired();
        throw;
      }
    } catch (const CancelledError&) {
      outer.raise_if_expired();
      throw;
    }
  } catch (const TimeoutError&) {
    outcome += "outer TimeoutError";
  }
  co_return outcome;
}

TEST_P(CombinatorTimeoutTest, OuterScopeExpiringInsideAnInnerScopeRaisesItsOwnTimeout) {
  EXPECT_EQ(run(outer_scope_expires_inside_inner_scope()),
            "inner passes it on; outer TimeoutError");
}

Task<> sleep_in_long_scope(Log* log) {
  auto scope = timeout(1h);
  try {
    co_await sleep(1h);
  } catch (const CancelledError&) {
    log->push_back(scope.expired() ? "expired" : "not expired");
    scope.raise_if_expired();
    throw;
  }
}

TEST_P(CombinatorTimeoutTest, CancellationFromOutsideStaysACancellation) {
  Log log;
  TaskHandle<> task = loop().spawn(sleep_in_long_scope(&log));
  EXPECT_TRUE(run(cancel_after(task, 5ms)));
  EXPECT_EQ(log, (Log{"not expired"}));
}

Task<> scope_cancelled_right_after_its_deadline(Loop* loop, Log* log) {
  const TimePoint deadline = loop->time() + 10ms;
  TaskRef self = current_task();
  // Same deadline, scheduled first: this callback runs after the scope's timer has fired but
  // before the task resumes, so both cancellations land on one pending request.
  loop->call_at(deadline, [self]() mutable { self.cancel(); });
  auto scope = timeout_at(deadline);
  try {
    co_await sleep(1h);
  } catch (const CancelledError&) {
    log->push_back(scope.expired() ? "expired" : "not expired");
    scope.raise_if_expired();
    log->push_back("kept as a cancellation");
    throw;
  }
}

TEST_P(CombinatorTimeoutTest, CancellationArrivingJustAfterTheDeadlineIsNotSwallowed) {
  Log log;
  TaskHandle<> task = loop().spawn(scope_cancelled_right_after_its_deadline(&loop(), &log));
  EXPECT_TRUE(run(ends_cancelled(task)));
  EXPECT_EQ(log, (Log{"expired", "kept as a cancellation"}));
}

/// Parks on a WaitList; when granted, returns even if a cancellation arrived meanwhile.
struct GrantAwaiter {
  detail::WaitList* list;
  detail::ParkedTask node{};
  bool await_ready() const noexcept { return false; }
  bool await_suspend(std::coroutine_handle<> awaiting) {
    return list->park(node, awaiting, "GrantAwaiter");
  }
  void await_resume() const { node.resume_or_throw(); }
};

Task<std::string> deadline_after_a_grant(Loop* loop, bool raise_after_block) {
  detail::WaitList list;
  std::string outcome;
  {
    auto scope = timeout(1h);
    TimeoutScope* scope_pointer = &scope;
    // Grants the wait, then moves the deadline to now: the scope's timer fires in the next
    // iteration, before the granted task resumes, and its cancellation is never delivered.
    loop->call_later(5ms, [&list, scope_pointer, loop] {
      list.grant_first();
      scope_pointer->reschedule(loop->time());
    });
    co_await GrantAwaiter{&list};
    outcome = scope.expired() ? "expired" : "not expired";
    if (raise_after_block) {
      try {
        scope.raise_if_expired();
      } catch (const TimeoutError&) {
        outcome += ", TimeoutError";
      }
    }
  }
  co_await sleep(1ms);  // raises CancelledError if the scope's request leaked past it
  co_return outcome + ", nothing leaked";
}

TEST_P(CombinatorTimeoutTest, UndeliveredCancellationIsWithdrawnWhenTheScopeEnds) {
  EXPECT_EQ(run(deadline_after_a_grant(&loop(), false)), "expired, nothing leaked");
}

TEST_P(CombinatorTimeoutTest, RaiseIfExpiredAfterTheBlockWithdrawsTheUndeliveredCancellation) {
  EXPECT_EQ(run(deadline_after_a_grant(&loop(), true)), "expired, TimeoutError, nothing leaked");
}

TEST_P(CombinatorTimeoutTest, ScopeOutsideATaskIsALoopError) {
  EXPECT_THROW({ auto scope = timeout(1s); }, LoopError);
}

RINGLOOP_ON_BOTH_BACKENDS(CombinatorTimeoutTest);

}  // namespace
}  // namespace ringloop::testing
