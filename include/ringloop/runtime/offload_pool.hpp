#pragma once
// OffloadPool: fixed worker threads for blocking calls (asyncio's run_in_executor / to_thread,
// libuv's threadpool). Jobs come from loops, run on a worker, and go back to their loop through the
// loop's thread-safe door, which coalesces wake-ups. The job queue is bounded: a job that finds it
// full waits in an admission line and enters when a worker frees a slot (backpressure; nothing is
// thrown away). Cancelling the awaiting task takes a job that has not started off the queue; a
// running job finishes and its result is discarded.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <ringloop/detail/intrusive_list.hpp>
#include <ringloop/detail/ready_queue.hpp>

namespace ringloop {

class Loop;

/// Raised by offload() into a pool that is shut down, and into jobs rejected by shutdown().
class PoolClosedError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

namespace detail {

/// One offloaded call. Two references: the loop side (the awaiter) and the worker side, which
/// passes to the loop's ready queue when the result is posted back.
class OffloadJob : public Runnable {
 public:
  explicit OffloadJob(Loop& loop) noexcept : loop(&loop) {}
  virtual ~OffloadJob() = default;

  /// Runs the call on a worker thread, storing its value or exception.
  virtual void execute() noexcept = 0;

  /// Loop thread: the result is back; resume the waiting task (or drop a detached job).
  void run() final;
  void discard() noexcept final { release(); }
  [[nodiscard]] std::string describe() const final { return "offload result"; }

  void release() noexcept {
    if (references.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

  Loop* loop;
  std::atomic<int> references{2};
  /// Set on the loop thread when nobody waits for the result any more.
  std::atomic<bool> detached{false};
  /// Loop-thread fields.
  class TaskStateBase* waiter = nullptr;
  bool finished = false;
  std::exception_ptr error;
  // Pool fields, guarded by the pool's mutex. While linked the job has not started: withdraw()
  // takes it back from the queue, or from the admission line if `waiting_for_room`.
  IntrusiveListHook<OffloadJob> pool_hook;
  bool waiting_for_room = false;
};

}  // namespace detail

/// How shutdown() treats jobs that have not started.
enum class PendingJobs : std::uint8_t {
  finish,  ///< run them before the workers exit
  reject,  ///< complete them at once with PoolClosedError
};

/// Counters for tests and benchmarks.
struct OffloadPoolStats {
  std::uint64_t executed = 0;          ///< jobs run by a worker
  std::uint64_t cancelled_queued = 0;  ///< jobs taken off the queue before they started
  std::uint64_t waited_for_room = 0;   ///< jobs that found the queue full and had to wait
  std::size_t max_queued = 0;          ///< most jobs ever in the queue at once (<= queue_limit)
  std::size_t parked_workers = 0;      ///< workers asleep waiting for a job, at the time of asking
};

/// A fixed set of worker threads and a bounded job queue. Thread-safe.
class OffloadPool {
 public:
  /// `threads` 0 means the hardware concurrency, at least 2; `queue_limit` must be at least 1.
  explicit OffloadPool(unsigned threads = 0, std::size_t queue_limit = 1024);
  /// Shuts down (finishing pending jobs) if shutdown() was not called.
  ~OffloadPool();
  OffloadPool(const OffloadPool&) = delete;
  OffloadPool& operator=(const OffloadPool&) = delete;

  /// Stops accepting jobs, finishes or rejects the pending ones, and joins the workers.
  void shutdown(PendingJobs pending = PendingJobs::finish);

  [[nodiscard]] unsigned threads() const noexcept { return static_cast<unsigned>(workers_.size()); }
  [[nodiscard]] std::size_t queue_limit() const noexcept { return queue_limit_; }
  [[nodiscard]] OffloadPoolStats stats() const;

  /// Queues `job` (or puts it in the admission line when the queue is full) without waking a
  /// parked worker: call wake_for_queued() once the batch is queued. PoolClosedError if the pool
  /// is shut down. For offload()'s awaiter, through the loop (which wakes after each iteration).
  void submit_without_wake(detail::OffloadJob& job);
  /// Wakes as many parked workers as there are queued jobs (workers that are awake look at the
  /// queue again before they park). Any thread.
  void wake_for_queued() noexcept;
  /// Takes a job that has not started off the queue or the admission line; false if a worker
  /// already has it.
  bool withdraw(detail::OffloadJob& job) noexcept;

 private:
  using JobList = detail::IntrusiveList<detail::OffloadJob, &detail::OffloadJob::pool_hook, true>;
  /// Where an idle worker sleeps: it waits on `wake` alone, so a submitter wakes exactly one
  /// parked worker with one futex call, and never one that is already awake or being woken.
  struct Parking {
    std::atomic<std::uint32_t> wake{0};
    Parking* next_idle = nullptr;  // guarded by mutex_
  };
  void work(Parking& self);
  /// Puts `job` in the queue a worker takes from (mutex_ held, a slot free).
  void admit_locked(detail::OffloadJob& job) noexcept;
  /// Takes the most recently parked worker off the idle stack (mutex_ held); null when none.
  Parking* unpark_one_locked() noexcept;
  static void wake(Parking* worker) noexcept;
  static void hand_back(detail::OffloadJob& job);

  std::mutex shutdown_mutex_;  // one shutdown at a time (the destructor may race a caller's)
  mutable std::mutex mutex_;
  JobList queue_;      // admitted, waiting for a worker (at most queue_limit_)
  JobList admission_;  // arrived while the queue was full
  // Parked workers, last parked first (guarded by mutex_); parking_ holds one spot per worker.
  Parking* idle_ = nullptr;
  std::unique_ptr<Parking[]> parking_;
  std::size_t queue_limit_;
  bool closed_ = false;
  PendingJobs pending_mode_ = PendingJobs::finish;
  OffloadPoolStats stats_;
  std::vector<std::thread> workers_;
};

}  // namespace ringloop
