// Timers:
//   timer_add_cancel/<backend>/live:<N>  call_later() + Handle::cancel() of one timer while N
//       other timers are armed (deadlines spread over 1-2 hours, as are the new timer's, so the
//       heap's sift-up and removal do real work); items are add + cancel pairs
//   timer_arm_disarm/<backend>/live:<N>  the same with a timer embedded in its owner (what sleep()
//       and timeout scopes arm; libuv's uv_timer_start + uv_timer_stop on a uv_timer_t): no
//       allocation, the heap's own cost
//   timers_fire_1M/<backend>             1,000,000 call_later() timers with random deadlines
//       1-1000 ms, armed then all fired (one iteration, real time: mostly the wait for the last
//       deadline). arm_ns_per_timer: arming cost; cpu_ns_per_timer: the loop thread's CPU time
//       for arming and firing, per timer; late_ms_max: the latest a callback ran past its deadline;
//       bytes_per_timer: the heap growth (mallinfo2 uordblks + hblkhd: the timer heap's slot
//       array is large enough to be mmapped) right after arming, per timer: callback + heap slot

#include <malloc.h>
#include <time.h>

#include <chrono>
#include <cstdint>
#include <random>
#include <vector>

#include <ringloop/runtime/deadline_timer.hpp>
#include <ringloop/runtime/future.hpp>
#include <ringloop/runtime/handle.hpp>
#include <ringloop/runtime/task_handle.hpp>

#include "common.hpp"

namespace micro {
namespace {

using std::chrono::milliseconds;

// Deadlines 1-2 hours away, precomputed so the timed loop draws no random numbers.
std::vector<milliseconds> far_delays(std::size_t count, unsigned seed) {
  std::mt19937 random(seed);
  std::uniform_int_distribution<std::int64_t> spread(3'600'000, 7'200'000);
  std::vector<milliseconds> delays(count);
  for (milliseconds& delay : delays)
    delay = milliseconds(spread(random));
  return delays;
}

// N armed timers that never fire (cancelled when the set goes away).
class LiveTimers {
 public:
  LiveTimers(ringloop::Loop& loop, std::size_t count, std::int64_t* fired) {
    handles_.reserve(count);
    for (const milliseconds delay : far_delays(count, 1)) {
      handles_.push_back(loop.call_later(delay, [fired] { ++*fired; }));
    }
  }
  LiveTimers(const LiveTimers&) = delete;
  LiveTimers& operator=(const LiveTimers&) = delete;
  ~LiveTimers() {
    for (ringloop::Handle& handle : handles_)
      handle.cancel();
  }

 private:
  std::vector<ringloop::Handle> handles_;
};

constexpr std::size_t kDelayTable = 4096;  // a power of two

// One add + cancel per operation; returns how many of the new timers came back cancelled.
std::int64_t add_cancel_kernel(ringloop::Loop& loop, const std::vector<milliseconds>& delays,
                               std::int64_t operations, std::int64_t* fired) {
  std::int64_t cancelled = 0;
  for (std::int64_t i = 0; i < operations; ++i) {
    ringloop::Handle handle = loop.call_later(
        delays[static_cast<std::size_t>(i) & (kDelayTable - 1)], [fired] { ++*fired; });
    handle.cancel();
    cancelled += handle.cancelled() ? 1 : 0;
  }
  return cancelled;
}

// A timer embedded in its owner, as sleep() and timeout scopes arm theirs (and as libuv's
// uv_timer_t and Asio's steady_timer live in the caller's memory): arming allocates nothing.
class EmbeddedTimer final : public ringloop::detail::DeadlineTimer {
 public:
  void fire() override { ++fired; }
  std::int64_t fired = 0;
};

// One arm + disarm per operation; returns how many arms reached the heap.
std::int64_t arm_disarm_kernel(ringloop::Loop& loop, EmbeddedTimer& timer,
                               const std::vector<milliseconds>& delays, std::int64_t operations) {
  std::int64_t armed = 0;
  const ringloop::TimePoint now = loop.time();
  for (std::int64_t i = 0; i < operations; ++i) {
    timer.arm(loop, now + delays[static_cast<std::size_t>(i) & (kDelayTable - 1)]);
    armed += timer.armed() ? 1 : 0;
    timer.disarm();
  }
  return armed;
}

void timer_arm_disarm(benchmark::State& state, BackendKind backend) {
  std::optional<ringloop::Loop> loop;
  if (!make_loop(state, backend, loop)) return;
  std::int64_t fired = 0;
  const std::vector<milliseconds> delays = far_delays(kDelayTable, 2);
  LiveTimers live(*loop, static_cast<std::size_t>(state.range(0)), &fired);
  EmbeddedTimer timer;
  std::int64_t armed = 0;
  while (state.KeepRunningBatch(kBatch)) {
    armed += arm_disarm_kernel(*loop, timer, delays, kBatch);
  }
  check(armed == static_cast<std::int64_t>(state.iterations()) && timer.fired == 0 && fired == 0,
        "timer_arm_disarm: every arm reached the heap, nothing fired");
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

void timer_add_cancel(benchmark::State& state, BackendKind backend) {
  std::optional<ringloop::Loop> loop;
  if (!make_loop(state, backend, loop)) return;
  std::int64_t fired = 0;
  const std::vector<milliseconds> delays = far_delays(kDelayTable, 2);
  LiveTimers live(*loop, static_cast<std::size_t>(state.range(0)), &fired);
  std::int64_t cancelled = 0;
  while (state.KeepRunningBatch(kBatch)) {
    cancelled += add_cancel_kernel(*loop, delays, kBatch, &fired);
  }
  check(cancelled == static_cast<std::int64_t>(state.iterations()) && fired == 0,
        "timer_add_cancel: every new timer cancelled, none fired");
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

constexpr std::int64_t kFiredTimers = 1'000'000;

struct FireTally {
  std::int64_t fired = 0;
  ringloop::Duration latest = ringloop::Duration::zero();
  ringloop::Loop* loop = nullptr;
  std::optional<ringloop::Future<>> all_fired;
};

ringloop::Task<> await_all_fired(ringloop::Future<> all_fired) {
  co_await all_fired;
}

// Bytes malloc has handed out, the mmapped big blocks included.
std::size_t heap_in_use() {
  const struct mallinfo2 info = mallinfo2();
  return info.uordblks + info.hblkhd;
}

double thread_cpu_ns() {
  timespec now{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) * 1e9 + static_cast<double>(now.tv_nsec);
}

void timers_fire_1M(benchmark::State& state, BackendKind backend) {
  std::optional<ringloop::Loop> loop;
  if (!make_loop(state, backend, loop)) return;
  std::mt19937 random(3);
  std::uniform_int_distribution<std::int64_t> spread(1, 1000);
  std::vector<milliseconds> delays(kFiredTimers);
  for (milliseconds& delay : delays)
    delay = milliseconds(spread(random));
  double arm_ns = 0;
  double cpu_ns = 0;
  double bytes_per_timer = 0;  // the largest seen over the iterations
  FireTally tally;
  tally.loop = &*loop;
  for (auto _ : state) {
    tally.fired = 0;
    tally.latest = ringloop::Duration::zero();
    ringloop::Future<> all_fired(*loop);
    tally.all_fired = all_fired;
    const std::size_t heap_before = heap_in_use();
    const double cpu_start = thread_cpu_ns();
    const auto arm_start = std::chrono::steady_clock::now();
    for (const milliseconds delay : delays) {
      const ringloop::TimePoint deadline = loop->time() + delay;
      FireTally* shared = &tally;
      loop->call_at(deadline, [shared, deadline] {
        const ringloop::Duration late = shared->loop->time() - deadline;
        if (late > shared->latest) shared->latest = late;
        if (++shared->fired == kFiredTimers) shared->all_fired->set_result();
      });
    }
    arm_ns += static_cast<double>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                      std::chrono::steady_clock::now() - arm_start)
                                      .count());
    const double per_timer =
        (static_cast<double>(heap_in_use()) - static_cast<double>(heap_before)) / kFiredTimers;
    if (per_timer > bytes_per_timer) bytes_per_timer = per_timer;
    loop->run_until_complete(await_all_fired(all_fired));
    cpu_ns += thread_cpu_ns() - cpu_start;
    check(tally.fired == kFiredTimers, "timers_fire_1M: every timer fired");
  }
  const double timers = static_cast<double>(state.iterations()) * kFiredTimers;
  state.SetItemsProcessed(static_cast<std::int64_t>(timers));
  state.counters["arm_ns_per_timer"] = arm_ns / timers;
  state.counters["cpu_ns_per_timer"] = cpu_ns / timers;
  state.counters["bytes_per_timer"] = bytes_per_timer;
  state.counters["late_ms_max"] = std::chrono::duration<double, std::milli>(tally.latest).count();
}

void callgrind_timer_add_cancel(ringloop::Loop& loop, std::int64_t operations) {
  std::int64_t fired = 0;
  const std::vector<milliseconds> delays = far_delays(kDelayTable, 2);
  LiveTimers live(loop, 1000, &fired);
  const std::int64_t cancelled = add_cancel_kernel(loop, delays, operations, &fired);
  check(cancelled == operations && fired == 0, "timer_add_cancel: every new timer cancelled");
}

}  // namespace

void register_timer_benchmarks(std::vector<CallgrindCase>& cases) {
  for (benchmark::internal::Benchmark* registered :
       register_on_both_backends("timer_add_cancel", timer_add_cancel)) {
    registered->ArgName("live")->Arg(1)->Arg(1000)->Arg(1000000);
  }
  for (benchmark::internal::Benchmark* registered :
       register_on_both_backends("timer_arm_disarm", timer_arm_disarm)) {
    registered->ArgName("live")->Arg(1)->Arg(1000)->Arg(1000000);
  }
  for (benchmark::internal::Benchmark* registered :
       register_on_both_backends("timers_fire_1M", timers_fire_1M)) {
    registered->Iterations(1)->UseRealTime()->Unit(benchmark::kMillisecond);
  }
  cases.push_back({"timer_add_cancel", "call_later() + Handle::cancel() with 1,000 live timers",
                   callgrind_timer_add_cancel});
}

}  // namespace micro
