#include "support/loop_fixture.hpp"

namespace ringloop::testing {
namespace {

class SmokeTest : public LoopTest {};

Task<int> answer() {
  co_await yield_now();
  co_return 42;
}

TEST_P(SmokeTest, RunsATaskToCompletion) {
  EXPECT_EQ(run(answer()), 42);
  EXPECT_EQ(loop().backend_name(), io::backend_name(GetParam()));
}

RINGLOOP_ON_BOTH_BACKENDS(SmokeTest);

}  // namespace
}  // namespace ringloop::testing
