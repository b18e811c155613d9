// The fetch sample as a process against a real nginx, on each backend: every mode (async,
// threads, sequential, executor) fetching /bytes/1024 twenty times, all at once and with
// --concurrency, gets twenty 200s of 1024 bytes and the summary line last; a bad URL, an https
// URL, a refused port and a 1 s delay under --timeout 100 each print one line on stderr naming
// the URL and the cause while the good URL of the same run succeeds (exit 1); --quiet prints only
// the summary; bad flags exit 2 with nothing on stdout; --compare prints the table and draws the
// PNG or says "plot skipped". Timings are printed, never asserted.

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "support/child_process.hpp"
#include "support/loop_fixture.hpp"
#include "support/nginx.hpp"
#include "support/temporary_directory.hpp"

namespace ringloop::testing {
namespace {

const std::vector<std::string> kModes = {"async", "threads", "sequential", "executor"};

struct FetchRun {
  std::vector<std::string> out;  ///< stdout lines
  std::vector<std::string> err;  ///< stderr lines
  int exit_status = -1;
};

bool starts_with(const std::string& text, const std::string& prefix) {
  return text.rfind(prefix, 0) == 0;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

class FetchSample : public LoopTest {
 protected:
  void SetUp() override {
    LoopTest::SetUp();
    if (IsSkipped()) return;
    RINGLOOP_SKIP_WITHOUT_NGINX();
  }

  /// Runs fetch with `arguments` on this test's backend (RINGLOOP_BACKEND and --backend both).
  FetchRun fetch(const std::string& arguments) const {
    const std::string errors = scratch_.file("stderr.txt");
    const std::string backend(io::backend_name(backend_kind()));
    CommandOutcome outcome = run_command(
        sample_command(backend_kind(), "fetch", "--backend " + backend + " " + arguments) + " 2>'" +
        errors + "'");
    FetchRun run;
    run.out = std::move(outcome.lines);
    run.exit_status = outcome.exit_status;
    std::ifstream file(errors);
    for (std::string line; std::getline(file, line);)
      run.err.push_back(line);
    return run;
  }

  /// The summary line's fields, or a failure when the last line is not one.
  static void expect_summary(const FetchRun& run, std::size_t ok, std::size_t failed) {
    ASSERT_FALSE(run.out.empty());
    const std::string& last = run.out.back();
    EXPECT_TRUE(starts_with(last, "seconds=")) << last;
    EXPECT_TRUE(contains(last, " ok=" + std::to_string(ok) + " failed=" + std::to_string(failed)))
        << last;
  }

  /// A port nobody listens on (bound, then closed again).
  static std::uint16_t refused_port() {
    sockaddr_in address{};
    Fd socket = bound_loopback_socket(address);
    return ntohs(address.sin_port);
  }

  TemporaryDirectory scratch_;
};

TEST_P(FetchSample, EveryModeGetsTwentyResponsesOfTheRightSize) {
  NginxServer nginx;
  const std::string url = nginx.url("/bytes/1024");
  for (const std::string& mode : kModes) {
    for (const char* concurrency : {"", "--concurrency 4 "}) {
      SCOPED_TRACE(mode + " " + concurrency);
      const FetchRun run = fetch("--mode " + mode + " --count 20 " + concurrency + url);
      EXPECT_EQ(run.exit_status, 0);
      EXPECT_TRUE(run.err.empty()) << run.err.front();
      ASSERT_EQ(run.out.size(), 21u);
      for (std::size_t i = 0; i < 20; ++i) {
        EXPECT_TRUE(starts_with(run.out[i], "status=200 bytes=1024 ms=")) << run.out[i];
        EXPECT_TRUE(contains(run.out[i], " url=" + url)) << run.out[i];
      }
      expect_summary(run, 20, 0);
    }
  }
}

TEST_P(FetchSample, EachFailurePrintsOneLineAndTheOthersSucceed) {
  NginxServer nginx;
  const std::string refused = "http://127.0.0.1:" + std::to_string(refused_port()) + "/";
  const std::string delayed = nginx.url("/delay/1s");
  const std::string good = nginx.url("/bytes/1024");
  for (const std::string& mode : kModes) {
    SCOPED_TRACE(mode);
    const FetchRun run = fetch("--mode " + mode + " --timeout 100 not-a-url https://127.0.0.1/ " +
                               refused + " " + delayed + " " + good);
    EXPECT_EQ(run.exit_status, 1);
    ASSERT_EQ(run.out.size(), 2u);
    EXPECT_TRUE(starts_with(run.out[0], "status=200 bytes=1024 ")) << run.out[0];
    expect_summary(run, 1, 4);
    ASSERT_EQ(run.err.size(), 4u);
    for (const std::string& line : run.err)
      EXPECT_TRUE(starts_with(line, "fetch: ")) << line;
    EXPECT_TRUE(contains(run.err[0], "not-a-url")) << run.err[0];
    EXPECT_TRUE(contains(run.err[1], "https://127.0.0.1/") && contains(run.err[1], "TLS"))
        << run.err[1];
    EXPECT_TRUE(contains(run.err[2], refused) && contains(run.err[2], "Connection refused"))
        << run.err[2];
    EXPECT_TRUE(contains(run.err[3], delayed) && contains(run.err[3], "timeout")) << run.err[3];
  }
}

TEST_P(FetchSample, QuietPrintsOnlyTheSummary) {
  NginxServer nginx;
  const FetchRun run = fetch("--quiet --count 3 " + nginx.url("/page"));
  EXPECT_EQ(run.exit_status, 0);
  ASSERT_EQ(run.out.size(), 1u);
  expect_summary(run, 3, 0);
}

TEST_P(FetchSample, BadFlagsExitTwoWithNothingOnStdout) {
  for (const char* arguments :
       {"--no-such-flag http://x/", "--mode bogus http://x/", "--count 0 http://x/",
        "--count many http://x/", "--concurrency -1 http://x/", "--timeout 0 http://x/",
        "--compare 1,,2 http://x/", "--plot x.png http://x/", "--compare 1,2 http://x/ http://y/",
        "", "--count"}) {
    SCOPED_TRACE(arguments);
    const FetchRun run = fetch(arguments);
    EXPECT_EQ(run.exit_status, 2);
    EXPECT_TRUE(run.out.empty()) << run.out.front();
    ASSERT_FALSE(run.err.empty());
    EXPECT_TRUE(starts_with(run.err[0], "fetch: ")) << run.err[0];
  }
  // An unknown backend is refused as well.
  const CommandOutcome backend = run_command(
      sample_command(backend_kind(), "fetch", "--backend nope http://x/") + " 2>/dev/null");
  EXPECT_EQ(backend.exit_status, 2);
}

TEST_P(FetchSample, HelpGoesToStdoutAndExitsZero) {
  const FetchRun run = fetch("--help");
  EXPECT_EQ(run.exit_status, 0);
  ASSERT_FALSE(run.out.empty());
  EXPECT_TRUE(starts_with(run.out[0], "usage: fetch [")) << run.out[0];
}

TEST_P(FetchSample, CompareTableAndPlot) {
  NginxServer nginx;
  const std::string png = scratch_.file("compare.png");
  const FetchRun run = fetch("--compare 1,2 " + nginx.url("/bytes/1024") + " --plot " + png);
  EXPECT_EQ(run.exit_status, 0) << (run.err.empty() ? "" : run.err.front());
  ASSERT_EQ(run.out.size(), 5u);
  EXPECT_EQ(run.out[0], "Frequency | Sequential | Threading | Asyncio");
  for (std::size_t row = 1; row <= 2; ++row) {
    std::istringstream fields(run.out[row]);
    std::size_t frequency = 0;
    std::string bar;
    double seconds[3] = {-1, -1, -1};
    fields >> frequency >> bar >> seconds[0] >> bar >> seconds[1] >> bar >> seconds[2];
    EXPECT_EQ(frequency, row) << run.out[row];
    for (const double value : seconds)
      EXPECT_GE(value, 0.0) << run.out[row];
  }
  if (starts_with(run.out[3], "plot: ")) {
    EXPECT_TRUE(std::filesystem::exists(png));
    EXPECT_GT(std::filesystem::file_size(png), 0u);
  } else {
    EXPECT_TRUE(starts_with(run.out[3], "plot skipped: ")) << run.out[3];
  }
  expect_summary(run, 9, 0);  // 1 + 2 fetches in each of three modes
}

RINGLOOP_ON_BOTH_BACKENDS(FetchSample);

}  // namespace
}  // namespace ringloop::testing
