#include <ringloop/runtime/offload_pool.hpp>

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <array>

#include <ringloop/runtime/loop.hpp>
#include <ringloop/runtime/offload.hpp>

#include "loop_access.hpp"

namespace ringloop {
namespace {

// The futex word of an atomic (same size and representation as the integer it holds).
std::uint32_t* futex_word(std::atomic<std::uint32_t>& word) noexcept {
  static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t));
  return reinterpret_cast<std::uint32_t*>(&word);
}

// Sleeps while `word` holds `expected` (returns at once if it does not; may return spuriously).
void futex_wait(std::atomic<std::uint32_t>& word, std::uint32_t expected) noexcept {
  ::syscall(SYS_futex, futex_word(word), FUTEX_WAIT_PRIVATE, expected, nullptr, nullptr, 0);
}

void futex_wake_one(std::atomic<std::uint32_t>& word) noexcept {
  ::syscall(SYS_futex, futex_word(word), FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
}

}  // namespace

OffloadPool::OffloadPool(unsigned threads, std::size_t queue_limit) : queue_limit_(queue_limit) {
  if (queue_limit == 0) throw std::invalid_argument("OffloadPool: queue_limit must be at least 1");
  if (threads == 0) threads = std::max(2u, std::thread::hardware_concurrency());
  parking_ = std::make_unique<Parking[]>(threads);
  workers_.reserve(threads);
  for (unsigned i = 0; i < threads; ++i)
    workers_.emplace_back([this, self = &parking_[i]] { work(*self); });
}

OffloadPool::~OffloadPool() {
  shutdown(PendingJobs::finish);
}

void OffloadPool::shutdown(PendingJobs pending) {
  std::lock_guard serialize(shutdown_mutex_);
  detail::ReadyQueue rejected;  // reuses next_ready links: rejected jobs are off every pool list
  {
    std::lock_guard lock(mutex_);
    if (closed_ && workers_.empty()) return;
    closed_ = true;
    pending_mode_ = pending;
    if (pending == PendingJobs::reject) {
      for (JobList* list : {&queue_, &admission_}) {
        while (detail::OffloadJob* job = list->pop_front())
          rejected.push(job);
      }
    }
    // Every parked worker wakes to drain the queue (finish) or to exit. Woken under the lock:
    // the idle links belong to the mutex, and shutdown is no hot path.
    while (Parking* worker = unpark_one_locked())
      wake(worker);
  }
  for (detail::Runnable* item = rejected.take_all(); item;) {
    auto* job = static_cast<detail::OffloadJob*>(item);
    item = item->next_ready;
    job->error = std::make_exception_ptr(
        PoolClosedError("offload job rejected: the pool was shut down before it started"));
    hand_back(*job);
  }
  for (std::thread& worker : workers_) {
    if (worker.joinable()) worker.join();
  }
  workers_.clear();
}

OffloadPoolStats OffloadPool::stats() const {
  std::lock_guard lock(mutex_);
  OffloadPoolStats copy = stats_;
  for (const Parking* worker = idle_; worker; worker = worker->next_idle)
    ++copy.parked_workers;
  return copy;
}

OffloadPool::Parking* OffloadPool::unpark_one_locked() noexcept {
  Parking* worker = idle_;
  if (worker) {
    idle_ = worker->next_idle;
    worker->wake.store(1, std::memory_order_release);
  }
  return worker;
}

// Only the futex word's address reaches the kernel (a private FUTEX_WAKE reads no memory).
void OffloadPool::wake(Parking* worker) noexcept {
  if (worker) futex_wake_one(worker->wake);
}

void OffloadPool::submit_without_wake(detail::OffloadJob& job) {
  std::lock_guard lock(mutex_);
  if (closed_) throw PoolClosedError("offload() on a pool that is shut down");
  if (queue_.size() >= queue_limit_) {
    ++stats_.waited_for_room;
    job.waiting_for_room = true;
    admission_.push_back(job);
    return;
  }
  admit_locked(job);
}

void OffloadPool::admit_locked(detail::OffloadJob& job) noexcept {
  job.waiting_for_room = false;
  queue_.push_back(job);
  stats_.max_queued = std::max(stats_.max_queued, queue_.size());
}

// Woken outside the lock, a few at a time, so the workers do not wake up into a held mutex.
void OffloadPool::wake_for_queued() noexcept {
  std::size_t wanted = 0;
  bool counted = false;
  for (;;) {
    std::array<Parking*, 8> batch{};
    std::size_t count = 0;
    {
      std::lock_guard lock(mutex_);
      if (!counted) wanted = queue_.size();
      counted = true;
      while (count < batch.size() && count < wanted) {
        Parking* worker = unpark_one_locked();
        if (!worker) break;
        batch[count++] = worker;
      }
    }
    for (std::size_t i = 0; i < count; ++i)
      wake(batch[i]);
    if (count < batch.size()) return;  // every job has a worker, or no worker is parked
    wanted -= count;
  }
}

bool OffloadPool::withdraw(detail::OffloadJob& job) noexcept {
  Parking* worker = nullptr;
  {
    std::lock_guard lock(mutex_);
    if (!job.pool_hook.linked()) return false;  // a worker has it
    if (job.waiting_for_room) {
      admission_.remove(job);
    } else {
      queue_.remove(job);
      // A slot freed: let the first job of the admission line in, and wake a worker for it.
      if (detail::OffloadJob* next = admission_.pop_front()) {
        admit_locked(*next);
        worker = unpark_one_locked();
      }
    }
    ++stats_.cancelled_queued;
  }
  wake(worker);
  return true;
}

void OffloadPool::work(Parking& self) {
  std::unique_lock lock(mutex_);
  for (;;) {
    detail::OffloadJob* job = queue_.pop_front();
    if (job == nullptr) {
      if (closed_) return;  // closed and drained
      // Park: whoever queues the next job (or shuts down) takes us off the idle stack, sets
      // `wake` and wakes us; until then nobody else will try to.
      self.wake.store(0, std::memory_order_relaxed);
      self.next_idle = idle_;
      idle_ = &self;
      lock.unlock();
      while (self.wake.load(std::memory_order_acquire) == 0)
        futex_wait(self.wake, 0);
      lock.lock();
      continue;
    }
    // The slot this job leaves goes to the first of the admission line; a parked worker is woken
    // for it, or it would wait behind this job while that worker sleeps.
    Parking* helper = nullptr;
    if (detail::OffloadJob* next = admission_.pop_front()) {
      admit_locked(*next);
      helper = unpark_one_locked();
    }
    ++stats_.executed;
    lock.unlock();
    wake(helper);
    job->execute();
    hand_back(*job);
    lock.lock();
  }
}

// Worker side of the hand-off: post the finished job to its loop, or drop it if nobody waits.
// `loop` is read first: once posted, the job belongs to the loop thread.
void OffloadPool::hand_back(detail::OffloadJob& job) {
  Loop* loop = job.loop;
  if (job.detached.load(std::memory_order_acquire)) {
    job.release();
  } else {
    detail::LoopAccess::post_from_other_thread(*loop, &job);
  }
  detail::offload_finished(*loop);  // last touch of the loop by this thread
}

namespace detail {

void OffloadJob::run() {
  if (detached.load(std::memory_order_acquire)) {
    release();
    return;
  }
  finished = true;
  TaskStateBase* task = std::exchange(waiter, nullptr);
  release();  // the ready queue's reference; the awaiter still holds its own
  task->wake();
}

}  // namespace detail
}  // namespace ringloop
