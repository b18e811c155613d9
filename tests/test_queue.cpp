// Queue, LifoQueue and PriorityQueue on both backends: ordering, hand-off, bounded blocking,
// FIFO service of waiters, cancellation that never loses an item, task_done/join.

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "support/loop_fixture.hpp"

namespace ringloop::testing {
namespace {

class QueueTest : public LoopTest {};

Task<> produce_range(Queue<std::int64_t>* queue, std::int64_t first, std::int64_t count) {
  for (std::int64_t value = first; value < first + count; ++value) {
    co_await queue->put(value);
    if (value % 7 == 0) co_await yield_now();
  }
}

struct Tally {
  std::int64_t count = 0;
  std::int64_t sum = 0;
  std::vector<std::uint8_t> seen;
};

Task<> consume_count(Queue<std::int64_t>* queue, std::int64_t count, Tally* tally) {
  for (std::int64_t i = 0; i < count; ++i) {
    const std::int64_t value = co_await queue->get();
    ++tally->count;
    tally->sum += value;
    ++tally->seen[static_cast<std::size_t>(value)];
    if (value % 5 == 0) co_await yield_now();
  }
}

Task<> eight_by_eight(std::size_t max_size, Tally* tally) {
  constexpr std::int64_t kItems = 1'000'000;
  constexpr std::int64_t kWorkers = 8;
  Queue<std::int64_t> queue(max_size);
  std::vector<TaskHandle<>> workers;
  for (std::int64_t w = 0; w < kWorkers; ++w) {
    workers.push_back(spawn(produce_range(&queue, w * (kItems / kWorkers), kItems / kWorkers)));
    workers.push_back(spawn(consume_count(&queue, kItems / kWorkers, tally)));
  }
  for (auto& worker : workers)
    co_await worker;
}

// The FIFO storage across chunk boundaries: order kept through growth, draining to empty, a
// length hovering at a boundary (the spare chunk), and a non-empty storage destroyed with
// heap-owning items (ASan sees a leak or a double free).
TEST(ChunkedFifoTest, KeepsOrderAcrossChunksAndDestroysWhatItHolds) {
  detail::ChunkedFifo<std::string> fifo;
  std::int64_t pushed = 0;
  std::int64_t popped = 0;
  const auto item = [](std::int64_t index) {
    return "item number " + std::to_string(index) + " long enough to live on the heap";
  };
  const auto pop_and_check = [&] {
    ASSERT_FALSE(fifo.empty());
    EXPECT_EQ(fifo.pop(), item(popped));
    ++popped;
  };
  // Grow over several chunks, drain to empty, grow again (the emptied chunk is reused).
  for (int round = 0; round < 2; ++round) {
    for (int i = 0; i < 1000; ++i)
      fifo.push(item(pushed++));
    EXPECT_EQ(fifo.size(), 1000u);
    while (!fifo.empty())
      pop_and_check();
  }
  // Two in, one out: the FIFO grows by one per round, as in the 500k-action program.
  for (int i = 0; i < 3000; ++i) {
    fifo.push(item(pushed++));
    fifo.push(item(pushed++));
    pop_and_check();
  }
  EXPECT_EQ(fifo.size(), static_cast<std::size_t>(pushed - popped));
  // Hover: one in, one out, many times over whatever boundary the length sits at.
  for (int i = 0; i < 5000; ++i) {
    fifo.push(item(pushed++));
    pop_and_check();
  }
  EXPECT_EQ(fifo.size(), 3000u);
  // Destroyed with 3,000 strings inside.
}

/// 256 bytes, so a chunk holds 16; copying one whose `explode` is set throws.
struct BulkyItem {
  int value = 0;
  bool explode = false;
  char padding[248] = {};
  BulkyItem(int v, bool e) : value(v), explode(e) {}
  BulkyItem(const BulkyItem& other) : value(other.value) {
    if (other.explode) throw std::runtime_error("copy refused");
  }
  BulkyItem(BulkyItem&&) noexcept = default;
  BulkyItem& operator=(const BulkyItem&) = delete;
};

// A push whose item cannot be constructed leaves the FIFO as it was, even when it had to start
// a new chunk for that item.
TEST(ChunkedFifoTest, APushWhoseItemThrowsLosesAndCorruptsNothing) {
  detail::ChunkedFifo<BulkyItem> fifo;
  int next = 0;
  for (; next < 16; ++next)
    fifo.push(BulkyItem(next, false));  // the first chunk is full
  const BulkyItem refused(-1, true);
  EXPECT_THROW(fifo.push(refused), std::runtime_error);
  EXPECT_EQ(fifo.size(), 16u);
  for (int expected = 0; expected < 16; ++expected)
    EXPECT_EQ(fifo.pop().value, expected);
  EXPECT_TRUE(fifo.empty());
  for (int round = 0; round < 40; ++round)
    fifo.push(BulkyItem(next + round, false));
  for (int round = 0; round < 40; ++round)
    EXPECT_EQ(fifo.pop().value, next + round);
  EXPECT_TRUE(fifo.empty());
}

TEST_P(QueueTest, EightProducersEightConsumersDeliverEveryItemExactlyOnce) {
  for (std::size_t max_size : {std::size_t{0}, std::size_t{16}}) {
    Tally tally;
    tally.seen.assign(1'000'000, 0);
    run(eight_by_eight(max_size, &tally));
    EXPECT_EQ(tally.count, 1'000'000);
    EXPECT_EQ(tally.sum, std::int64_t{999'999} * 1'000'000 / 2);
    std::size_t duplicates_or_missing = 0;
    for (std::uint8_t times : tally.seen)
      duplicates_or_missing += times != 1;
    EXPECT_EQ(duplicates_or_missing, 0u) << "max_size " << max_size;
    EXPECT_TRUE(loop().all_tasks().empty());
  }
}

Task<std::vector<int>> fifo_lifo_priority() {
  std::vector<int> order;
  Queue<int> fifo;
  LifoQueue<int> lifo;
  PriorityQueue<int> priority;
  for (int value : {3, 1, 2}) {
    co_await fifo.put(value);
    co_await lifo.put(value);
    co_await priority.put(value);
  }
  for (int i = 0; i < 3; ++i)
    order.push_back(co_await fifo.get());
  for (int i = 0; i < 3; ++i)
    order.push_back(co_await lifo.get());
  for (int i = 0; i < 3; ++i)
    order.push_back(co_await priority.get());
  co_return order;
}

TEST_P(QueueTest, FifoLifoAndPriorityOrders) {
  EXPECT_EQ(run(fifo_lifo_priority()), (std::vector<int>{3, 1, 2, 2, 1, 3, 1, 2, 3}));
}

Task<> record_get(Queue<int>* queue, std::string name, std::vector<std::string>* log) {
  const int value = co_await queue->get();
  log->push_back(name + "=" + std::to_string(value));
}

Task<> getters_are_served_in_arrival_order(std::vector<std::string>* log) {
  Queue<int> queue;
  auto first = spawn(record_get(&queue, "a", log));
  auto second = spawn(record_get(&queue, "b", log));
  auto third = spawn(record_get(&queue, "c", log));
  co_await yield_now();  // all three are parked now
  EXPECT_EQ(queue.size(), 0u);
  co_await queue.put(1);
  co_await queue.put(2);
  co_await queue.put(3);
  EXPECT_EQ(queue.size(), 0u) << "items go straight to waiting getters";
  co_await first;
  co_await second;
  co_await third;
}

TEST_P(QueueTest, WaitingGettersAreServedInArrivalOrderByDirectHandOff) {
  std::vector<std::string> log;
  run(getters_are_served_in_arrival_order(&log));
  EXPECT_EQ(log, (std::vector<std::string>{"a=1", "b=2", "c=3"}));
}

Task<> put_and_log(Queue<int>* queue, int value, std::vector<std::string>* log) {
  co_await queue->put(value);
  log->push_back("put " + std::to_string(value));
}

Task<> bounded_queue_blocks_and_wakes(std::vector<std::string>* log) {
  Queue<int> queue(2);
  EXPECT_TRUE(queue.try_put(1));
  EXPECT_TRUE(queue.try_put(2));
  EXPECT_TRUE(queue.full());
  int rejected = 3;
  EXPECT_FALSE(queue.try_put(std::move(rejected)));
  auto blocked = spawn(put_and_log(&queue, 3, log));
  auto blocked_too = spawn(put_and_log(&queue, 4, log));
  co_await yield_now();
  co_await yield_now();
  EXPECT_TRUE(log->empty()) << "puts must wait while the queue is full";
  EXPECT_EQ(queue.size(), 2u);
  int got = co_await queue.get();
  log->push_back("got " + std::to_string(got));
  co_await blocked;
  EXPECT_EQ(queue.size(), 2u);
  got = co_await queue.get();
  log->push_back("got " + std::to_string(got));
  co_await blocked_too;
  for (int i = 0; i < 2; ++i) {
    got = co_await queue.get();
    log->push_back("got " + std::to_string(got));
  }
  EXPECT_TRUE(queue.empty());
  EXPECT_FALSE(queue.try_get().has_value());
}

TEST_P(QueueTest, BoundedQueueBlocksPutsWhileFullAndWakesThemInOrder) {
  std::vector<std::string> log;
  run(bounded_queue_blocks_and_wakes(&log));
  EXPECT_EQ(log, (std::vector<std::string>{"got 1", "put 3", "got 2", "put 4", "got 3", "got 4"}));
}

Task<int> get_one(Queue<int>* queue) {
  co_return co_await queue->get();
}

Task<> cancelled_getter_never_swallows_an_item() {
  Queue<int> queue;
  auto doomed = spawn(get_one(&queue), "doomed");
  auto survivor = spawn(get_one(&queue), "survivor");
  co_await yield_now();
  doomed.cancel();         // unlinked from the getters at once
  co_await queue.put(42);  // so the item goes to the survivor
  const int value = co_await survivor;
  EXPECT_EQ(value, 42);
  EXPECT_TRUE(doomed.cancelled());
  EXPECT_THROW(doomed.result(), CancelledError);
}

TEST_P(QueueTest, CancelledGetterNeverSwallowsAnItem) {
  run(cancelled_getter_never_swallows_an_item());
}

Task<> item_handed_over_then_cancelled_is_still_returned() {
  Queue<int> queue;
  auto getter = spawn(get_one(&queue), "getter");
  co_await yield_now();
  co_await queue.put(7);  // handed straight into the getter's awaiter
  getter.cancel();        // arrives before the getter resumes
  co_await yield_now();
  co_await yield_now();
  // The getter returns the item it was handed; its body ends without another await, so the
  // task finishes with the value: nothing is lost, nothing is left behind in the queue.
  EXPECT_TRUE(getter.done());
  EXPECT_FALSE(getter.cancelled());
  if (getter.done() && !getter.cancelled()) {
    EXPECT_EQ(getter.result(), 7);
  }
  EXPECT_TRUE(queue.empty());
}

TEST_P(QueueTest, ItemHandedOverBeforeACancellationIsReturnedNotLost) {
  run(item_handed_over_then_cancelled_is_still_returned());
}

Task<> cancelled_put_does_not_add_its_item() {
  Queue<int> queue(1);
  co_await queue.put(1);
  std::vector<std::string> log;
  auto blocked = spawn(put_and_log(&queue, 2, &log));
  co_await yield_now();
  blocked.cancel();
  co_await yield_now();
  EXPECT_TRUE(blocked.cancelled());
  EXPECT_TRUE(log.empty());
  const int first = co_await queue.get();
  EXPECT_EQ(first, 1);
  EXPECT_TRUE(queue.empty()) << "the cancelled put's item must not appear";
}

TEST_P(QueueTest, CancelledPutDoesNotAddItsItem) {
  run(cancelled_put_does_not_add_its_item());
}

Task<> work_through(Queue<int>* queue, std::vector<int>* done) {
  for (;;) {
    const int value = co_await queue->get();
    co_await sleep(std::chrono::milliseconds(1));
    done->push_back(value);
    queue->task_done();
  }
}

Task<> join_waits_for_task_done() {
  Queue<int> queue;
  std::vector<int> done;
  for (int i = 0; i < 5; ++i)
    co_await queue.put(i);
  auto worker = spawn(work_through(&queue, &done));
  co_await queue.join();
  EXPECT_EQ(done.size(), 5u) << "join() returned before every item was marked done";
  worker.cancel();
  co_await yield_now();
  EXPECT_TRUE(worker.cancelled());
  EXPECT_THROW(queue.task_done(), InvalidStateError);
}

TEST_P(QueueTest, JoinWaitsUntilEveryItemIsMarkedDone) {
  run(join_waits_for_task_done());
}

Task<> move_only_items() {
  Queue<std::unique_ptr<int>> queue;
  co_await queue.put(std::make_unique<int>(5));
  auto item = co_await queue.get();
  EXPECT_EQ(*item, 5);
}

TEST_P(QueueTest, MoveOnlyItems) {
  run(move_only_items());
}

TEST_P(QueueTest, TaskDoneWithoutItemsIsAnError) {
  Queue<int> queue;
  try {
    queue.task_done();
    FAIL() << "expected InvalidStateError";
  } catch (const InvalidStateError& error) {
    EXPECT_NE(std::string(error.what()).find("task_done"), std::string::npos);
  }
}

RINGLOOP_ON_BOTH_BACKENDS(QueueTest);

}  // namespace
}  // namespace ringloop::testing
