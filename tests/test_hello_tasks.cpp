// The hello_tasks sample as a user runs it: exact output and exit status on each backend, and the
// usage error for a bad flag.

#include <cstdio>
#include <string>
#include <vector>

#include "support/child_process.hpp"
#include "support/loop_fixture.hpp"

namespace ringloop::testing {
namespace {

class HelloTasksTest : public LoopTest {};

TEST_P(HelloTasksTest, PrintsTheExpectedLinesInOrderAndExitsZero) {
  const CommandOutcome outcome =
      run_command(sample_command(GetParam(), "hello_tasks", "--scale 0.01"));
  EXPECT_EQ(outcome.lines,
            (std::vector<std::string>{"Continuing the main function...", "finished Task-3",
                                      "finished Task-2", "Main function completed!"}));
  EXPECT_EQ(outcome.exit_status, 0);
}

TEST_P(HelloTasksTest, BadScaleExitsTwoWithAMessageOnStderr) {
  // stderr goes to the pipe, stdout is dropped: the message must be on stderr.
  const CommandOutcome outcome =
      run_command(sample_command(GetParam(), "hello_tasks", "--scale abc 2>&1 >/dev/null"));
  EXPECT_EQ(outcome.exit_status, 2);
  ASSERT_FALSE(outcome.lines.empty()) << "nothing on stderr";
  EXPECT_NE(outcome.lines[0].find("--scale"), std::string::npos) << outcome.lines[0];
}

TEST_P(HelloTasksTest, UnknownFlagExitsTwoWithUsageOnStderr) {
  const CommandOutcome outcome =
      run_command(sample_command(GetParam(), "hello_tasks", "--bogus 2>&1 >/dev/null"));
  EXPECT_EQ(outcome.exit_status, 2);
  ASSERT_FALSE(outcome.lines.empty()) << "nothing on stderr";
  EXPECT_NE(outcome.lines[0].find("usage"), std::string::npos) << outcome.lines[0];
}

RINGLOOP_ON_BOTH_BACKENDS(HelloTasksTest);

}  // namespace
}  // namespace ringloop::testing
