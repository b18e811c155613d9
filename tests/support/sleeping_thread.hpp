#pragma once
// Seeing another thread of this process block in the kernel, for tests of a loop asleep in its
// backend (the loop thread blocks nowhere else while it runs with nothing to do).

#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <string>
#include <thread>

namespace ringloop::testing {

/// The calling thread's kernel id, for thread_state() from another thread.
inline pid_t current_thread_id() {
  return static_cast<pid_t>(::syscall(SYS_gettid));
}

/// Scheduler state of thread `tid` of this process ('R' running, 'S' sleeping...), '?' if unknown.
inline char thread_state(pid_t tid) {
  std::ifstream stat("/proc/self/task/" + std::to_string(tid) + "/stat");
  std::string line;
  std::getline(stat, line);
  const auto end_of_name = line.rfind(')');
  if (end_of_name == std::string::npos || end_of_name + 2 >= line.size()) return '?';
  return line[end_of_name + 2];
}

/// Waits (at most 10 s) until thread `tid` blocks in the kernel; false if it never did.
inline bool wait_until_sleeping(pid_t tid) {
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < give_up) {
    if (thread_state(tid) == 'S') return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return false;
}

}  // namespace ringloop::testing
