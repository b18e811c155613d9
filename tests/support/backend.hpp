#pragma once
// What the tests of the raw io::Backend share (test_backend_delivery.cpp,
// test_backend_cancellation.cpp, test_backend_sockets.cpp): a completion recorder, submit/cancel
// wrappers that catch completions delivered too early, poll_until, a watchdog against hangs, and
// BackendFixture, which owns the backend and runs the teardown leak checks.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "descriptors.hpp"
#include "loop_fixture.hpp"

namespace ringloop::testing {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

/// Set while the test is inside Backend::submit() or Backend::cancel(): a completion delivered
/// then breaks the contract ("delivered by a later poll(), never from inside submit()").
inline bool inside_backend_call = false;

/// What the completion function saw for one operation.
struct Completion {
  int count = 0;
  std::int32_t result = 0;
  bool during_submit_or_cancel = false;
};

inline void record_completion(io::Operation& operation, std::int32_t result) {
  auto* completion = static_cast<Completion*>(operation.user_data);
  ++completion->count;
  completion->result = result;
  if (inside_backend_call) completion->during_submit_or_cancel = true;
}

inline void prepare(io::Operation& operation, io::OpCode code, Completion& completion,
                    int fd = -1) {
  operation.code = code;
  operation.fd = fd;
  operation.on_complete = &record_completion;
  operation.user_data = &completion;
}

inline void submit(io::Backend& backend, io::Operation& operation) {
  inside_backend_call = true;
  backend.submit(operation);
  inside_backend_call = false;
}

inline void cancel(io::Backend& backend, io::Operation& operation) {
  inside_backend_call = true;
  backend.cancel(operation);
  inside_backend_call = false;
}

/// Polls (10 ms at a time) until `done()`; false if it never happened within a generous limit
/// (a safety net against hanging the suite, not a timing assertion).
template <class Done>
bool poll_until(io::Backend& backend, Done done, std::chrono::seconds limit = 60s) {
  const auto give_up = Clock::now() + limit;
  while (!done()) {
    if (Clock::now() > give_up) return false;
    backend.poll(10ms);
  }
  return true;
}

/// Aborts the process with a message if not disarmed in time: a broken wake-up would otherwise
/// hang the suite until the ctest timeout without saying which test.
class Watchdog {
 public:
  Watchdog(const char* what, std::chrono::seconds limit)
      : thread_([this, what, limit] {
          std::unique_lock lock(mutex_);
          if (!disarmed_.wait_for(lock, limit, [this] { return done_; })) {
            std::fprintf(stderr, "watchdog: %s did not happen in time\n", what);
            std::abort();
          }
        }) {}
  ~Watchdog() {
    {
      std::lock_guard lock(mutex_);
      done_ = true;
    }
    disarmed_.notify_one();
    thread_.join();
  }

 private:
  std::mutex mutex_;
  std::condition_variable disarmed_;
  bool done_ = false;
  std::thread thread_;
};

/// Owns the backend under test; checks at teardown that nothing is left in flight and that no
/// descriptor leaked.
class BackendFixture : public ::testing::Test {
 protected:
  explicit BackendFixture(io::BackendKind kind) : kind_(kind) {}

  void SetUp() override {
    if (const auto why = backend_unavailable(kind_)) {
      GTEST_SKIP() << "io_uring unavailable here: " << *why;
    }
    leak_check_.start();
  }

  void TearDown() override {
    if (backend_) LeakCheck::expect_nothing_in_flight(*backend_);
    backend_.reset();
    if (leak_check_.started()) leak_check_.expect_no_descriptor_leak();
  }

  io::Backend& make(const io::BackendOptions& options = {}) {
    backend_ = io::make_backend(kind_, options);
    EXPECT_EQ(backend_->kind(), kind_);
    return *backend_;
  }

  [[nodiscard]] bool uring() const noexcept { return kind_ == io::BackendKind::uring; }

  io::BackendKind kind_;
  std::unique_ptr<io::Backend> backend_;
  LeakCheck leak_check_;
};

class BackendTest : public BackendFixture, public ::testing::WithParamInterface<io::BackendKind> {
 protected:
  BackendTest() : BackendFixture(GetParam()) {}
};

class EpollBackendTest : public BackendFixture {
 protected:
  EpollBackendTest() : BackendFixture(io::BackendKind::epoll) {}
};

class UringBackendTest : public BackendFixture {
 protected:
  UringBackendTest() : BackendFixture(io::BackendKind::uring) {}
};

}  // namespace ringloop::testing
