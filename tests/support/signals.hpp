#pragma once
// Counting SIGPIPE instead of dying of it, for tests that a send to a closed peer raises none.

#include <signal.h>

#include <csignal>

namespace ringloop::testing {

/// SIGPIPE deliveries counted by the live SigpipeCounter.
inline volatile std::sig_atomic_t sigpipe_deliveries = 0;

/// Counts SIGPIPE deliveries while alive (a handler of the test's own, which the loop leaves in
/// place), then restores the previous disposition. SIGPIPE would kill the test process by
/// default; counted, a regression fails the test rather than the whole binary.
class SigpipeCounter {
 public:
  SigpipeCounter() {
    sigpipe_deliveries = 0;
    struct sigaction counting {};
    counting.sa_handler = [](int) { sigpipe_deliveries = sigpipe_deliveries + 1; };
    ::sigemptyset(&counting.sa_mask);
    ::sigaction(SIGPIPE, &counting, &previous_);
  }
  SigpipeCounter(const SigpipeCounter&) = delete;
  SigpipeCounter& operator=(const SigpipeCounter&) = delete;
  ~SigpipeCounter() { ::sigaction(SIGPIPE, &previous_, nullptr); }

 private:
  struct sigaction previous_ {};
};

}  // namespace ringloop::testing
