#pragma once
// Running a command through the shell and collecting its output line by line, and the command
// line that runs one of the sample programs on a chosen backend.

#include <sys/wait.h>

#include <cstdio>
#include <string>
#include <vector>

#include <ringloop/ringloop.hpp>

namespace ringloop::testing {

struct CommandOutcome {
  std::vector<std::string> lines;  ///< what the command wrote on its stdout, line by line
  int exit_status = -1;            ///< the exit code, or -1 if it did not exit normally
};

/// Runs `command` through the shell and collects its stdout.
inline CommandOutcome run_command(const std::string& command) {
  CommandOutcome outcome;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (!pipe) return outcome;
  std::string line;
  char chunk[256];
  while (std::fgets(chunk, sizeof chunk, pipe)) {
    line += chunk;
    if (!line.empty() && line.back() == '\n') {
      line.pop_back();
      outcome.lines.push_back(line);
      line.clear();
    }
  }
  if (!line.empty()) outcome.lines.push_back(line);
  const int status = ::pclose(pipe);
  if (status != -1 && WIFEXITED(status)) outcome.exit_status = WEXITSTATUS(status);
  return outcome;
}

/// The shell command running the sample program `sample` (built into RINGLOOP_SAMPLES_DIR) with
/// `arguments`, RINGLOOP_BACKEND forcing `backend`.
inline std::string sample_command(io::BackendKind backend, const std::string& sample,
                                  const std::string& arguments) {
  return "RINGLOOP_BACKEND=" + std::string(io::backend_name(backend)) + " '" +
         std::string(RINGLOOP_SAMPLES_DIR "/") + sample + "' " + arguments;
}

}  // namespace ringloop::testing
