// Barrier: parties passing together round after round, abort and reset, a cancelled waiter not
// counted, and a release followed by a cancellation before the task resumes.

#include <algorithm>
#include <cstddef>
#include <deque>
#include <stdexcept>
#include <string>
#include <vector>

#include "support/loop_fixture.hpp"
#include "support/sync.hpp"

namespace ringloop::testing {
namespace {

class SyncBarrierTest : public SyncTest {};

struct Passage {
  std::size_t index = 0;
  std::string error;
  bool passed = false;
};

Task<> pass_barrier(Barrier* barrier, Passage* out) {
  try {
    std::size_t index = co_await barrier->wait();
    out->index = index;
    out->passed = true;
  } catch (const BrokenBarrierError& error) {
    out->error = error.what();
  }
}

TEST_P(SyncBarrierTest, FewerThanOnePartyThrowsInvalidArgument) {
  EXPECT_EQ(thrown_message<std::invalid_argument>([] { Barrier barrier(0); }),
            "Barrier needs at least 1 party, got 0");
  Barrier one(1);
  EXPECT_EQ(one.parties(), 1u);
}

struct RoundRecord {
  int round;
  std::size_t arrival;            // position among this round's arrivals
  std::size_t index;              // what wait() returned
  std::size_t arrived_when_free;  // arrivals in this round when the task went on
};

Task<> meet_each_round(Barrier* barrier, std::vector<std::size_t>* arrivals,
                       std::vector<RoundRecord>* records, int id, int rounds) {
  for (int round = 0; round < rounds; ++round) {
    // Vary who arrives first from one round to the next.
    int delay = (id * (round + 1)) % 3;
    co_await turns(delay);
    std::size_t arrival = (*arrivals)[round]++;
    std::size_t index = co_await barrier->wait();
    records->push_back({round, arrival, index, (*arrivals)[round]});
  }
}

Task<> three_parties_four_rounds(std::vector<RoundRecord>* records) {
  Barrier barrier(3);
  std::vector<std::size_t> arrivals(4, 0);
  std::vector<TaskHandle<>> tasks;
  for (int id = 0; id < 3; ++id) {
    tasks.push_back(spawn(meet_each_round(&barrier, &arrivals, records, id, 4)));
  }
  std::size_t stuck = co_await settle(&tasks);
  EXPECT_EQ(stuck, 0u);
  EXPECT_EQ(barrier.n_waiting(), 0u);
  EXPECT_FALSE(barrier.broken());
}

TEST_P(SyncBarrierTest, ThreePartiesPassTogetherForFourRoundsWithArrivalIndices) {
  std::vector<RoundRecord> records;
  run(three_parties_four_rounds(&records));
  ASSERT_EQ(records.size(), 12u);
  for (int round = 0; round < 4; ++round) {
    std::vector<std::size_t> indices;
    for (const RoundRecord& record : records) {
      if (record.round != round) continue;
      indices.push_back(record.index);
      EXPECT_EQ(record.index, record.arrival) << "round " << round;
      EXPECT_EQ(record.arrived_when_free, 3u) << "went on before the round filled";
    }
    std::sort(indices.begin(), indices.end());
    EXPECT_EQ(indices, (std::vector<std::size_t>{0, 1, 2})) << "round " << round;
  }
}

Task<> count_waiting(Log* log) {
  Barrier barrier(3);
  Passage a, b;
  std::vector<TaskHandle<>> tasks{spawn(pass_barrier(&barrier, &a)),
                                  spawn(pass_barrier(&barrier, &b))};
  co_await turns(2);
  log->push_back("waiting " + std::to_string(barrier.n_waiting()));
  std::size_t index = co_await barrier.wait();
  log->push_back("last arrival got " + std::to_string(index));
  log->push_back("waiting " + std::to_string(barrier.n_waiting()));
  std::size_t stuck = co_await settle(&tasks);
  EXPECT_EQ(stuck, 0u);
  log->push_back("others got " + std::to_string(a.index) + " and " + std::to_string(b.index));
}

TEST_P(SyncBarrierTest, NWaitingCountsTheRoundAndTheLastArrivalReleasesIt) {
  Log log;
  run(count_waiting(&log));
  EXPECT_EQ(log, (Log{"waiting 2", "last arrival got 2", "waiting 0", "others got 0 and 1"}));
}

Task<> abort_barrier(Log* log) {
  Barrier barrier(3);
  Passage a, b;
  std::vector<TaskHandle<>> tasks{spawn(pass_barrier(&barrier, &a)),
                                  spawn(pass_barrier(&barrier, &b))};
  co_await turns(2);
  barrier.abort();
  log->push_back(barrier.broken() ? "broken" : "not broken");
  std::size_t stuck = co_await settle(&tasks);
  EXPECT_EQ(stuck, 0u);
  log->push_back("a: " + a.error);
  log->push_back("b: " + b.error);
  Passage late;
  TaskHandle<> late_caller = spawn(pass_barrier(&barrier, &late));
  stuck = co_await settle_one(late_caller);
  EXPECT_EQ(stuck, 0u);
  log->push_back("later caller: " + (late.passed ? "passed" : late.error));
  barrier.reset();
  log->push_back(barrier.broken() ? "still broken" : "usable again");
  Passage c, d;
  std::vector<TaskHandle<>> round{spawn(pass_barrier(&barrier, &c)),
                                  spawn(pass_barrier(&barrier, &d))};
  co_await turns(2);
  std::size_t index = co_await barrier.wait();
  stuck = co_await settle(&round);
  EXPECT_EQ(stuck, 0u);
  log->push_back("new round " + std::to_string(c.index) + std::to_string(d.index) +
                 std::to_string(index));
}

TEST_P(SyncBarrierTest, AbortBreaksWaitersAndLaterCallersUntilReset) {
  Log log;
  run(abort_barrier(&log));
  EXPECT_EQ(log,
            (Log{"broken", "a: Barrier aborted while waiting", "b: Barrier aborted while waiting",
                 "later caller: Barrier is broken (aborted)", "usable again", "new round 012"}));
}

Task<> reset_barrier(Log* log) {
  Barrier barrier(3);
  Passage a, b;
  std::vector<TaskHandle<>> tasks{spawn(pass_barrier(&barrier, &a)),
                                  spawn(pass_barrier(&barrier, &b))};
  co_await turns(2);
  barrier.reset();
  log->push_back("waiting " + std::to_string(barrier.n_waiting()) +
                 (barrier.broken() ? ", broken" : ", not broken"));
  std::size_t stuck = co_await settle(&tasks);
  EXPECT_EQ(stuck, 0u);
  log->push_back("a: " + a.error);
  log->push_back("b: " + b.error);
  Passage c, d;
  std::vector<TaskHandle<>> round{spawn(pass_barrier(&barrier, &c)),
                                  spawn(pass_barrier(&barrier, &d))};
  co_await turns(2);
  std::size_t index = co_await barrier.wait();
  stuck = co_await settle(&round);
  EXPECT_EQ(stuck, 0u);
  log->push_back("new round " + std::to_string(c.index) + std::to_string(d.index) +
                 std::to_string(index));
}

TEST_P(SyncBarrierTest, ResetBreaksCurrentWaitersAndStartsAFreshRound) {
  Log log;
  run(reset_barrier(&log));
  EXPECT_EQ(log, (Log{"waiting 0, not broken", "a: Barrier reset while waiting",
                      "b: Barrier reset while waiting", "new round 012"}));
}

Task<> cancelled_party_not_counted(Log* log) {
  Barrier barrier(3);
  Passage a, b, c;
  std::vector<TaskHandle<>> tasks{spawn(pass_barrier(&barrier, &a)),
                                  spawn(pass_barrier(&barrier, &b))};
  co_await turns(2);
  tasks[0].cancel();
  co_await turns(2);
  log->push_back("waiting " + std::to_string(barrier.n_waiting()));
  tasks.push_back(spawn(pass_barrier(&barrier, &c)));
  co_await turns(2);
  log->push_back("waiting " + std::to_string(barrier.n_waiting()) +
                 (c.passed ? ", c passed" : ", c waits"));
  std::size_t index = co_await barrier.wait();
  std::size_t stuck = co_await settle(&tasks);
  EXPECT_EQ(stuck, 0u);
  log->push_back(std::string(tasks[0].cancelled() ? "a cancelled" : "a not cancelled") +
                 ", indices " + std::to_string(b.index) + std::to_string(c.index) +
                 std::to_string(index));
}

TEST_P(SyncBarrierTest, CancelledWaiterIsNotCountedAsAParty) {
  Log log;
  run(cancelled_party_not_counted(&log));
  EXPECT_EQ(log, (Log{"waiting 1", "waiting 2, c waits", "a cancelled, indices 012"}));
}

Task<> pass_then_yield(Barrier* barrier, Log* log) {
  std::size_t index = co_await barrier->wait();
  log->push_back("passed with " + std::to_string(index));
  try {
    co_await yield_now();
  } catch (const CancelledError&) {
    log->push_back("cancelled at the next await");
    throw;
  }
}

Task<> release_then_cancel(Log* log) {
  Barrier barrier(2);
  TaskHandle<> waiter = spawn(pass_then_yield(&barrier, log));
  co_await turns(2);
  std::size_t index = co_await barrier.wait();  // releases the waiter...
  waiter.cancel();                              // ...which is cancelled before it resumes
  std::size_t stuck = co_await settle_one(waiter);
  EXPECT_EQ(stuck, 0u);
  EXPECT_TRUE(waiter.cancelled());
  log->push_back("last arrival got " + std::to_string(index));
}

TEST_P(SyncBarrierTest, WaiterReleasedThenCancelledBeforeResumingStillPasses) {
  Log log;
  run(release_then_cancel(&log));
  EXPECT_EQ(log, (Log{"passed with 0", "cancelled at the next await", "last arrival got 1"}));
}

RINGLOOP_ON_BOTH_BACKENDS(SyncBarrierTest);

}  // namespace
}  // namespace ringloop::testing
