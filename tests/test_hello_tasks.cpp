// The hello_tasks sample as a user runs it: exact output and exit status on each backend, and the
// usage error for a bad flag.

#include <sys/wait.h>

#include <cstdio>
#include <string>
#include <vector>

#include "support/loop_fixture.hpp"

namespace ringloop::testing {
namespace {

class HelloTasksTest : public LoopTest {};

struct Outcome {
  std::vector<std::string> lines;  ///< what the command wrote on its stdout, line by line
  int exit_status = -1;            ///< the exit code, or -1 if it did not exit normally
};

/// Runs `command` through the shell and collects its stdout.
Outcome run_command(const std::string& command) {
  Outcome outcome;
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

std::string sample_command(io::BackendKind backend, const std::string& arguments) {
  return "RINGLOOP_BACKEND=" + std::string(io::backend_name(backend)) + " '" +
         std::string(RINGLOOP_SAMPLES_DIR "/hello_tasks") + "' " + arguments;
}

TEST_P(HelloTasksTest, PrintsTheExpectedLinesInOrderAndExitsZero) {
  const Outcome outcome = run_command(sample_command(GetParam(), "--scale 0.01"));
  EXPECT_EQ(outcome.lines,
            (std::vector<std::string>{"Continuing the main function...", "finished Task-3",
                                      "finished Task-2", "Main function completed!"}));
  EXPECT_EQ(outcome.exit_status, 0);
}

TEST_P(HelloTasksTest, BadScaleExitsTwoWithAMessageOnStderr) {
  // stderr goes to the pipe, stdout is dropped: the message must be on stderr.
  const Outcome outcome = run_command(sample_command(GetParam(), "--scale abc 2>&1 >/dev/null"));
  EXPECT_EQ(outcome.exit_status, 2);
  ASSERT_FALSE(outcome.lines.empty()) << "nothing on stderr";
  EXPECT_NE(outcome.lines[0].find("--scale"), std::string::npos) << outcome.lines[0];
}

TEST_P(HelloTasksTest, UnknownFlagExitsTwoWithUsageOnStderr) {
  const Outcome outcome = run_command(sample_command(GetParam(), "--bogus 2>&1 >/dev/null"));
  EXPECT_EQ(outcome.exit_status, 2);
  ASSERT_FALSE(outcome.lines.empty()) << "nothing on stderr";
  EXPECT_NE(outcome.lines[0].find("usage"), std::string::npos) << outcome.lines[0];
}

RINGLOOP_ON_BOTH_BACKENDS(HelloTasksTest);

}  // namespace
}  // namespace ringloop::testing
