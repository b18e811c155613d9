// The parallel_mean sample as a user runs it, at small sizes on each backend: the three output
// lines in their exact formats, bit-identical results and exit 0, and exit 2 with a message on
// stderr for bad flags. Timings are printed, never asserted (DESIGN.md "Measuring").

#include <cctype>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "support/child_process.hpp"
#include "support/line_format.hpp"
#include "support/loop_fixture.hpp"

namespace ringloop::testing {
namespace {

class ParallelMeanSample : public LoopTest {};

void expect_report(const CommandOutcome& outcome) {
  ASSERT_EQ(outcome.lines.size(), 3u);
  EXPECT_TRUE(fits(outcome.lines[0], "sequential: *.### s")) << outcome.lines[0];
  EXPECT_TRUE(fits(outcome.lines[1], "offloaded: *.### s (speedup *.##x)")) << outcome.lines[1];
  EXPECT_EQ(outcome.lines[2], "results identical: yes");
  EXPECT_EQ(outcome.exit_status, 0);
}

TEST_P(ParallelMeanSample, SmallMatrixPrintsTheThreeLinesAndIdenticalResults) {
  expect_report(
      run_command(sample_command(GetParam(), "parallel_mean", "--rows 12 --columns 20000")));
}

TEST_P(ParallelMeanSample, ScaleMultipliesTheDefaultColumns) {
  // 50 rows x 8,000,000 x 0.0005 = 4,000 columns.
  expect_report(run_command(sample_command(GetParam(), "parallel_mean", "--scale 0.0005")));
}

TEST(ParallelMeanFormat, FitsChecksTheLineShapes) {
  EXPECT_TRUE(fits("sequential: 0.339 s", "sequential: *.### s"));
  EXPECT_TRUE(fits("offloaded: 12.301 s (speedup 1.13x)", "offloaded: *.### s (speedup *.##x)"));
  EXPECT_FALSE(fits("sequential: 0.33 s", "sequential: *.### s"));
  EXPECT_FALSE(fits("sequential: .339 s", "sequential: *.### s"));
  EXPECT_FALSE(fits("sequential: 0.339 s extra", "sequential: *.### s"));
  EXPECT_FALSE(fits("offloaded: 0.301 s (speedup infx)", "offloaded: *.### s (speedup *.##x)"));
}

TEST_P(ParallelMeanSample, OneRowOfOneColumnStillWorks) {
  expect_report(run_command(sample_command(GetParam(), "parallel_mean", "--rows 1 --columns 1")));
}

/// stderr goes to the pipe, stdout is dropped: the message must be on stderr.
CommandOutcome run_for_stderr(io::BackendKind backend, const std::string& arguments) {
  return run_command(sample_command(backend, "parallel_mean", arguments + " 2>&1 >/dev/null"));
}

TEST_P(ParallelMeanSample, BadFlagsExitTwoWithAMessageOnStderr) {
  struct Case {
    const char* arguments;
    const char* mentions;
  };
  const Case cases[] = {
      {"--rows abc", "--rows"},      {"--rows 0", "--rows"},      {"--columns -5", "--columns"},
      {"--scale 0", "--scale"},      {"--scale x", "--scale"},    {"--rows", "--rows"},
      {"--bogus 1", "unknown flag"}, {"--scale 1e-9", "--scale"},
  };
  for (const Case& bad : cases) {
    const CommandOutcome outcome = run_for_stderr(GetParam(), bad.arguments);
    EXPECT_EQ(outcome.exit_status, 2) << bad.arguments;
    ASSERT_FALSE(outcome.lines.empty()) << "nothing on stderr for " << bad.arguments;
    EXPECT_NE(outcome.lines[0].find(bad.mentions), std::string::npos)
        << bad.arguments << ": " << outcome.lines[0];
  }
}

RINGLOOP_ON_BOTH_BACKENDS(ParallelMeanSample);

}  // namespace
}  // namespace ringloop::testing
