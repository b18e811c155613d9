// Hand-offs between two tasks of one loop:
//   future_set_resume/<backend>  two tasks in ping-pong through futures: each set_result() wakes
//       the other task parked on that future (a fresh Future per hand-off, so its allocation is
//       included); items are set -> resume hand-offs (two per round)
//   queue_handoff/<backend>      two tasks in ping-pong through two unbounded Queue<int64_t>:
//       each put() hands the item straight to the getter parked on the queue; items are
//       put -> get hand-offs (two per round)

#include <cstdint>
#include <vector>

#include <ringloop/runtime/future.hpp>
#include <ringloop/runtime/queue.hpp>
#include <ringloop/runtime/task_handle.hpp>

#include "common.hpp"

namespace micro {
namespace {

// The futures the two sides are about to set: `ping` is set by the pinger, `pong` by the ponger.
struct FuturePair {
  explicit FuturePair(ringloop::Loop& loop) : ping(loop), pong(loop) {}
  ringloop::Future<std::int64_t> ping;
  ringloop::Future<std::int64_t> pong;
  std::int64_t sum = 0;
};

ringloop::Task<> future_pinger(ringloop::Loop* loop, FuturePair* pair, std::int64_t rounds) {
  for (std::int64_t i = 0; i < rounds; ++i) {
    ringloop::Future<std::int64_t> answer(*loop);
    pair->pong = answer;  // the ponger sets it after it saw this round's ping
    pair->ping.set_result(i);
    const std::int64_t value = co_await answer;
    pair->sum += value;
  }
}

ringloop::Task<> future_ponger(ringloop::Loop* loop, FuturePair* pair, std::int64_t rounds) {
  for (std::int64_t i = 0; i < rounds; ++i) {
    ringloop::Future<std::int64_t> request = pair->ping;
    const std::int64_t value = co_await request;
    pair->ping = ringloop::Future<std::int64_t>(*loop);  // the pinger's next round sets it
    pair->pong.set_result(value + 1);
  }
}

// `operations` hand-offs (rounds of two); sum checks that every value went through.
ringloop::Task<> future_kernel(ringloop::Loop* loop, std::int64_t operations, std::int64_t* sum) {
  const std::int64_t rounds = operations / 2;
  FuturePair pair(*loop);
  ringloop::TaskHandle<> ponger = ringloop::spawn(future_ponger(loop, &pair, rounds));
  ringloop::TaskHandle<> pinger = ringloop::spawn(future_pinger(loop, &pair, rounds));
  co_await pinger;
  co_await ponger;
  *sum += pair.sum;
}

// 0 + 1 + ... + (rounds - 1), plus one per round: what the pinger adds up.
std::int64_t expected_sum(std::int64_t rounds) {
  return rounds * (rounds - 1) / 2 + rounds;
}

void future_set_resume(benchmark::State& state, BackendKind backend) {
  std::optional<ringloop::Loop> loop;
  if (!make_loop(state, backend, loop)) return;
  ringloop::Loop* loop_pointer = &*loop;
  std::int64_t sum = 0;
  std::int64_t batches = 0;
  loop->run_until_complete(
      drive_batches(&state, kBatch, [loop_pointer, &sum, &batches](std::int64_t operations) {
        ++batches;
        return future_kernel(loop_pointer, operations, &sum);
      }));
  check(sum == batches * expected_sum(kBatch / 2), "future_set_resume: every value came back");
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

struct QueuePair {
  ringloop::Queue<std::int64_t> requests;
  ringloop::Queue<std::int64_t> answers;
  std::int64_t sum = 0;
};

ringloop::Task<> queue_pinger(QueuePair* pair, std::int64_t rounds) {
  for (std::int64_t i = 0; i < rounds; ++i) {
    auto put = pair->requests.put(i);
    co_await put;
    auto get = pair->answers.get();
    const std::int64_t value = co_await get;
    pair->sum += value;
  }
}

ringloop::Task<> queue_ponger(QueuePair* pair, std::int64_t rounds) {
  for (std::int64_t i = 0; i < rounds; ++i) {
    auto get = pair->requests.get();
    const std::int64_t value = co_await get;
    auto put = pair->answers.put(value + 1);
    co_await put;
  }
}

ringloop::Task<> queue_kernel(std::int64_t operations, std::int64_t* sum) {
  const std::int64_t rounds = operations / 2;
  QueuePair pair;
  ringloop::TaskHandle<> ponger = ringloop::spawn(queue_ponger(&pair, rounds));
  ringloop::TaskHandle<> pinger = ringloop::spawn(queue_pinger(&pair, rounds));
  co_await pinger;
  co_await ponger;
  check(pair.requests.empty() && pair.answers.empty(), "queue_handoff: queues drained");
  *sum += pair.sum;
}

void queue_handoff(benchmark::State& state, BackendKind backend) {
  std::optional<ringloop::Loop> loop;
  if (!make_loop(state, backend, loop)) return;
  std::int64_t sum = 0;
  std::int64_t batches = 0;
  loop->run_until_complete(drive_batches(&state, kBatch, [&sum, &batches](std::int64_t operations) {
    ++batches;
    return queue_kernel(operations, &sum);
  }));
  check(sum == batches * expected_sum(kBatch / 2), "queue_handoff: every item came back");
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

void callgrind_queue_handoff(ringloop::Loop& loop, std::int64_t operations) {
  std::int64_t sum = 0;
  loop.run_until_complete(queue_kernel(operations, &sum));
  check(sum == expected_sum(operations / 2), "queue_handoff: every item came back");
}

}  // namespace

void register_sync_benchmarks(std::vector<CallgrindCase>& cases) {
  register_on_both_backends("future_set_resume", future_set_resume);
  register_on_both_backends("queue_handoff", queue_handoff);
  cases.push_back({"queue_handoff", "Queue put -> get hand-off between two tasks (ping-pong)",
                   callgrind_queue_handoff});
}

}  // namespace micro
