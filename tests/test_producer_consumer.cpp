// The 500k-action sample, run as a process: its output lines, its checksum on both loops and
// with both allocators, and its handling of bad flags.

#include <sys/wait.h>

#include <cstdio>
#include <regex>
#include <string>

#include <gtest/gtest.h>

#include <ringloop/io/backend.hpp>

namespace {

struct Outcome {
  std::string output;
  int exit_code;
};

Outcome run_command(const std::string& command) {
  Outcome outcome{{}, -1};
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (!pipe) return outcome;
  char buffer[512];
  while (std::fgets(buffer, sizeof buffer, pipe))
    outcome.output += buffer;
  const int status = ::pclose(pipe);
  outcome.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return outcome;
}

void expect_both_loops(const std::string& binary, const std::string& allocator) {
  if (!ringloop::io::uring_available()) GTEST_SKIP() << "io_uring unavailable here";
  const Outcome outcome = run_command(binary + " --actions 1000 --loop both");
  ASSERT_EQ(outcome.exit_code, 0) << outcome.output;
  // 1000 actions: two producers of 500 items each, squares 1..500: 2 * 500*501*1001/6.
  const std::regex expected(
      "Running standard loop with 1,000 actions\\.\n"
      "App exiting, total time: [0-9]+\\.[0-9]{4} sec\\.\n"
      "checksum: 83583500 \\(backend: epoll, allocator: " +
      allocator +
      "\\)\n"
      "Running optimized loop with 1,000 actions\\.\n"
      "App exiting, total time: [0-9]+\\.[0-9]{4} sec\\.\n"
      "checksum: 83583500 \\(backend: uring, allocator: " +
      allocator + "\\)\n");
  EXPECT_TRUE(std::regex_match(outcome.output, expected)) << outcome.output;
}

const std::string kSamples = RINGLOOP_SAMPLES_DIR;

TEST(ProducerConsumerSample, PrintsBothLoopsWithTheRightChecksum) {
  expect_both_loops(kSamples + "/producer_consumer", "system");
}

TEST(ProducerConsumerSample, MimallocBuildPrintsBothLoopsWithTheRightChecksum) {
  if (run_command("test -x " + kSamples + "/producer_consumer_mimalloc").exit_code != 0) {
    GTEST_SKIP() << "built without mimalloc (or with sanitizers)";
  }
  expect_both_loops(kSamples + "/producer_consumer_mimalloc", "mimalloc");
}

TEST(ProducerConsumerSample, DefaultActionsGiveTheKnownChecksum) {
  const Outcome outcome = run_command(kSamples + "/producer_consumer --loop standard");
  ASSERT_EQ(outcome.exit_code, 0) << outcome.output;
  EXPECT_NE(outcome.output.find("Running standard loop with 500,000 actions."), std::string::npos);
  EXPECT_NE(outcome.output.find("checksum: 10416729166750000 "), std::string::npos)
      << outcome.output;
}

TEST(ProducerConsumerSample, RejectsBadFlagsWithAMessage) {
  for (const char* flags :
       {"--actions abc", "--actions 1", "--loop fastest", "--bogus 1", "--loop"}) {
    const Outcome outcome = run_command(kSamples + "/producer_consumer " + flags);
    EXPECT_EQ(outcome.exit_code, 2) << flags;
    EXPECT_NE(outcome.output.find("usage: producer_consumer"), std::string::npos) << flags;
  }
}

}  // namespace
