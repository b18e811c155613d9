#include <ringloop/runtime/offload_pool.hpp>

#include <algorithm>

#include <ringloop/runtime/loop.hpp>
#include <ringloop/runtime/offload.hpp>

#include "loop_access.hpp"

namespace ringloop {
namespace {

enum JobListId : std::uint8_t { kNowhere = 0, kQueue, kAdmission };

}  // namespace

void OffloadPool::JobList::push_back(detail::OffloadJob& job, std::uint8_t list) noexcept {
  job.pool_list = list;
  job.pool_next = nullptr;
  job.pool_previous = tail;
  if (tail) {
    tail->pool_next = &job;
  } else {
    head = &job;
  }
  tail = &job;
  ++size;
}

void OffloadPool::JobList::remove(detail::OffloadJob& job) noexcept {
  if (job.pool_previous) {
    job.pool_previous->pool_next = job.pool_next;
  } else {
    head = job.pool_next;
  }
  if (job.pool_next) {
    job.pool_next->pool_previous = job.pool_previous;
  } else {
    tail = job.pool_previous;
  }
  job.pool_next = job.pool_previous = nullptr;
  job.pool_list = kNowhere;
  --size;
}

detail::OffloadJob* OffloadPool::JobList::pop_front() noexcept {
  detail::OffloadJob* first = head;
  if (first) remove(*first);
  return first;
}

OffloadPool::OffloadPool(unsigned threads, std::size_t queue_limit) : queue_limit_(queue_limit) {
  if (queue_limit == 0) throw std::invalid_argument("OffloadPool: queue_limit must be at least 1");
  if (threads == 0) threads = std::max(2u, std::thread::hardware_concurrency());
  workers_.reserve(threads);
  for (unsigned i = 0; i < threads; ++i)
    workers_.emplace_back([this] { work(); });
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
  }
  work_available_.notify_all();
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
  return stats_;
}

void OffloadPool::submit(detail::OffloadJob& job) {
  {
    std::lock_guard lock(mutex_);
    if (closed_) throw PoolClosedError("offload() on a pool that is shut down");
    if (queue_.size >= queue_limit_) {
      ++stats_.waited_for_room;
      admission_.push_back(job, kAdmission);
      return;
    }
    queue_.push_back(job, kQueue);
    stats_.max_queued = std::max(stats_.max_queued, queue_.size);
  }
  work_available_.notify_one();
}

bool OffloadPool::withdraw(detail::OffloadJob& job) noexcept {
  std::lock_guard lock(mutex_);
  if (job.pool_list == kQueue) {
    queue_.remove(job);
    // A slot freed: let the first job of the admission line in.
    if (detail::OffloadJob* next = admission_.pop_front()) queue_.push_back(*next, kQueue);
  } else if (job.pool_list == kAdmission) {
    admission_.remove(job);
  } else {
    return false;
  }
  ++stats_.cancelled_queued;
  return true;
}

void OffloadPool::work() {
  for (;;) {
    detail::OffloadJob* job;
    {
      std::unique_lock lock(mutex_);
      work_available_.wait(lock, [this] { return closed_ || queue_.size > 0; });
      job = queue_.pop_front();
      if (job == nullptr) return;  // closed and drained
      if (detail::OffloadJob* next = admission_.pop_front()) {
        queue_.push_back(*next, kQueue);
        stats_.max_queued = std::max(stats_.max_queued, queue_.size);
      }
      ++stats_.executed;
    }
    job->execute();
    hand_back(*job);
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
