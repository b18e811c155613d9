// Every sample answers --help with its usage on stdout and exit 0, and refuses an unknown flag
// with its usage on stderr and exit 2 (issue 9: `producer_consumer --help` used to say "missing
// value after --help").

#include <sys/wait.h>

#include <cstdio>
#include <string>

#include "support/loop_fixture.hpp"

namespace ringloop::testing {
namespace {

class SampleFlags : public LoopTest {
 protected:
  struct Outcome {
    std::string output;    ///< what the command wrote on the stream the test kept
    int exit_status = -1;  ///< the exit code, or -1 if it did not exit normally
  };

  /// Runs sample `name` with `arguments` on this test's backend through the shell; keeps stdout,
  /// or stderr when `keep_stderr`.
  Outcome run_sample(const std::string& name, const std::string& arguments,
                     bool keep_stderr) const {
    const std::string command = "RINGLOOP_BACKEND=" + std::string(io::backend_name(GetParam())) +
                                " '" + RINGLOOP_SAMPLES_DIR + "/" + name + "' " + arguments +
                                (keep_stderr ? " 2>&1 >/dev/null" : " 2>/dev/null");
    Outcome outcome;
    FILE* pipe = ::popen(command.c_str(), "r");
    if (!pipe) return outcome;
    char chunk[256];
    while (const std::size_t got = std::fread(chunk, 1, sizeof chunk, pipe))
      outcome.output.append(chunk, got);
    const int status = ::pclose(pipe);
    if (status != -1 && WIFEXITED(status)) outcome.exit_status = WEXITSTATUS(status);
    return outcome;
  }

  void expect_help_and_unknown_flag(const std::string& name) {
    const std::string usage = "usage: " + name + " [";
    for (const char* help : {"--help", "-h"}) {
      SCOPED_TRACE(name + " " + help);
      const Outcome answered = run_sample(name, help, false);
      EXPECT_EQ(answered.exit_status, 0);
      EXPECT_EQ(answered.output.rfind(usage, 0), 0u) << answered.output;
    }
    SCOPED_TRACE(name + " --no-such-flag");
    const Outcome refused = run_sample(name, "--no-such-flag", true);
    EXPECT_EQ(refused.exit_status, 2);
    EXPECT_NE(refused.output.find("unknown flag '--no-such-flag'"), std::string::npos)
        << refused.output;
    EXPECT_NE(refused.output.find(usage), std::string::npos) << refused.output;
    EXPECT_EQ(run_sample(name, "--no-such-flag", false).output, "") << "nothing on stdout";
  }
};

TEST_P(SampleFlags, HelloTasks) {
  expect_help_and_unknown_flag("hello_tasks");
}

TEST_P(SampleFlags, ParallelMean) {
  expect_help_and_unknown_flag("parallel_mean");
}

TEST_P(SampleFlags, ProducerConsumer) {
  expect_help_and_unknown_flag("producer_consumer");
}

TEST_P(SampleFlags, EchoServer) {
  expect_help_and_unknown_flag("echo_server");
}

// Issue 11: --read-mode copy keeps the old per-connection buffer for comparison; --help lists it
// and a bad mode is refused like any bad value.
TEST_P(SampleFlags, EchoServerReadMode) {
  const Outcome help = run_sample("echo_server", "--help", false);
  EXPECT_NE(help.output.find("--read-mode receive|copy"), std::string::npos) << help.output;
  EXPECT_NE(help.output.find("--read-mode copy"), std::string::npos) << help.output;
  const Outcome refused = run_sample("echo_server", "--read-mode sideways", true);
  EXPECT_EQ(refused.exit_status, 2);
  EXPECT_NE(refused.output.find("--read-mode must be receive or copy, got 'sideways'"),
            std::string::npos)
      << refused.output;
  const Outcome missing = run_sample("echo_server", "--read-mode", true);
  EXPECT_EQ(missing.exit_status, 2);
  EXPECT_NE(missing.output.find("--read-mode needs a value"), std::string::npos) << missing.output;
}

// The io_uring ring's size comes from flags, checked like any number (1-32768 buffers of
// 1 KiB-16 MiB).
TEST_P(SampleFlags, EchoServerReceiveBufferFlags) {
  const Outcome help = run_sample("echo_server", "--help", false);
  EXPECT_NE(help.output.find("--receive-buffers COUNT"), std::string::npos) << help.output;
  EXPECT_NE(help.output.find("--receive-buffer-size BYTES"), std::string::npos) << help.output;
  const struct {
    const char* flags;
    const char* message;
  } refusals[] = {
      {"--receive-buffers 0", "--receive-buffers needs a number from 1 to 32768, got '0'"},
      {"--receive-buffers 40000", "--receive-buffers needs a number from 1 to 32768, got '40000'"},
      {"--receive-buffers -1", "--receive-buffers needs a number from 1 to 32768, got '-1'"},
      {"--receive-buffers many", "--receive-buffers needs a number from 1 to 32768, got 'many'"},
      {"--receive-buffer-size 100",
       "--receive-buffer-size needs a number from 1024 to 16777216, got '100'"},
      {"--receive-buffer-size 16777217",
       "--receive-buffer-size needs a number from 1024 to 16777216, got '16777217'"},
      {"--receive-buffer-size", "--receive-buffer-size needs a value"},
  };
  for (const auto& refusal : refusals) {
    SCOPED_TRACE(refusal.flags);
    const Outcome refused = run_sample("echo_server", refusal.flags, true);
    EXPECT_EQ(refused.exit_status, 2);
    EXPECT_NE(refused.output.find(refusal.message), std::string::npos) << refused.output;
  }
}

TEST_P(SampleFlags, EchoClient) {
  expect_help_and_unknown_flag("echo_client");
}

RINGLOOP_ON_BOTH_BACKENDS(SampleFlags);

}  // namespace
}  // namespace ringloop::testing
