#include "compare.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "runners.hpp"

extern char** environ;

namespace fetch {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::array<Mode, 3> kCompared = {Mode::sequential, Mode::threads, Mode::async};
/// plot_compare.py's exit status when it cannot draw (matplotlib missing).
constexpr int kPlotUnavailable = 3;

std::string joined(const std::vector<std::string>& values) {
  std::string text;
  for (const std::string& value : values)
    text += (text.empty() ? "" : ",") + value;
  return text;
}

/// plot_compare.py: beside the binary (CMake copies it there), else in the source tree.
std::string plot_script() {
  std::error_code error;
  const auto self = std::filesystem::read_symlink("/proc/self/exe", error);
  if (!error) {
    const auto beside = self.parent_path() / "plot_compare.py";
    if (std::filesystem::exists(beside, error)) return beside.string();
  }
  return FETCH_PLOT_SCRIPT;
}

/// Runs `arguments` (argv[0] looked up in PATH) and collects its stdout and stderr; the exit
/// code, or -errno when it could not start.
int run_program(const std::vector<std::string>& arguments, std::string& output) {
  int pipe_ends[2];
  if (::pipe2(pipe_ends, O_CLOEXEC) != 0) return -errno;
  posix_spawn_file_actions_t actions;
  ::posix_spawn_file_actions_init(&actions);
  ::posix_spawn_file_actions_adddup2(&actions, pipe_ends[1], STDOUT_FILENO);
  ::posix_spawn_file_actions_adddup2(&actions, pipe_ends[1], STDERR_FILENO);
  std::vector<char*> argv;
  for (const std::string& argument : arguments)
    argv.push_back(const_cast<char*>(argument.c_str()));
  argv.push_back(nullptr);
  pid_t pid = -1;
  const int spawned = ::posix_spawnp(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  ::posix_spawn_file_actions_destroy(&actions);
  ::close(pipe_ends[1]);
  if (spawned != 0) {
    ::close(pipe_ends[0]);
    return -spawned;
  }
  char chunk[512];
  for (;;) {
    const ssize_t got = ::read(pipe_ends[0], chunk, sizeof chunk);
    if (got > 0) {
      output.append(chunk, static_cast<std::size_t>(got));
    } else if (got == 0 || errno != EINTR) {
      break;
    }
  }
  ::close(pipe_ends[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::string last_line(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r'))
    text.pop_back();
  const std::size_t newline = text.rfind('\n');
  return newline == std::string::npos ? text : text.substr(newline + 1);
}

/// Draws the table with plot_compare.py. A missing python3 or matplotlib is not an error of the
/// comparison: it says "plot skipped" and the run still succeeds. The python3 in PATH goes
/// first; Debian's /usr/bin/python3 next, where python3-matplotlib installs (a pyenv or venv
/// python3 earlier in PATH usually lacks it).
void plot(const std::string& file, const std::vector<std::string>& frequencies,
          const std::array<std::vector<std::string>, 3>& seconds) {
  std::string skipped;
  for (const char* python : {"python3", "/usr/bin/python3"}) {
    std::string output;
    const int status = run_program({python, plot_script(), file, joined(frequencies),
                                    joined(seconds[0]), joined(seconds[1]), joined(seconds[2])},
                                   output);
    if (status == 0) {
      std::printf("plot: %s\n", file.c_str());
      return;
    }
    std::string reason;
    if (status == -ENOENT) {
      reason = "python3 not found";
    } else if (status < 0) {
      reason = std::string("cannot run python3: ") + std::strerror(-status);
    } else if (status == kPlotUnavailable) {
      reason = last_line(output);
    } else {
      reason = "plot_compare.py failed (exit " + std::to_string(status) + "): " + last_line(output);
    }
    if (skipped.empty()) skipped = reason;  // the first python's reason is the one to fix
    if (status != -ENOENT && status != kPlotUnavailable) break;  // a real failure: say it
  }
  std::printf("plot skipped: %s\n", skipped.c_str());
}

}  // namespace

Totals run_compare(const Settings& settings) {
  RunOptions options;
  options.concurrency = settings.concurrency;
  options.backend = settings.backend;
  options.timeout = settings.timeout;
  Totals totals;
  std::vector<std::string> frequencies;
  std::array<std::vector<std::string>, 3> seconds;
  std::printf("Frequency | Sequential | Threading | Asyncio\n");
  for (const std::size_t frequency : settings.compare) {
    const std::vector<std::string> urls(frequency, settings.urls.front());
    std::array<double, 3> row{};
    for (std::size_t column = 0; column < kCompared.size(); ++column) {
      const Clock::time_point start = Clock::now();
      const std::vector<Outcome> outcomes = run_mode(kCompared[column], urls, options);
      row[column] = std::chrono::duration<double>(Clock::now() - start).count();
      for (const Outcome& outcome : outcomes) {
        if (outcome.ok) {
          ++totals.ok;
        } else {
          ++totals.failed;
          std::fprintf(stderr, "fetch: %s\n", outcome.error.c_str());
        }
      }
      char text[32];
      std::snprintf(text, sizeof text, "%.4f", row[column]);
      seconds[column].push_back(text);
    }
    frequencies.push_back(std::to_string(frequency));
    std::printf("%9zu | %10.4f | %9.4f | %7.4f\n", frequency, row[0], row[1], row[2]);
    std::fflush(stdout);
  }
  if (!settings.plot.empty()) plot(settings.plot, frequencies, seconds);
  return totals;
}

}  // namespace fetch
