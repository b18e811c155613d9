#pragma once
// Shared fixture: every loop test runs once per backend (io_uring and epoll), or once per backend
// and case (LoopCaseTest). It captures what reaches the loop's exception handler (a test that
// expects reports must check and clear `reports`), and checks at teardown that no operation is left
// in flight and no descriptor leaked.

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include <ringloop/ringloop.hpp>

#include "descriptors.hpp"

namespace ringloop::testing {

/// Test-name suffix for a backend parameter.
inline std::string backend_param_name(const ::testing::TestParamInfo<io::BackendKind>& info) {
  return std::string(io::backend_name(info.param));
}

/// Test-name suffix for a (backend, case) parameter: "<backend>_<case.name>".
struct BackendAndCaseName {
  template <class Case>
  std::string operator()(
      const ::testing::TestParamInfo<std::tuple<io::BackendKind, Case>>& info) const {
    return std::string(io::backend_name(std::get<0>(info.param))) + "_" +
           std::get<1>(info.param).name;
  }
};

/// The backend a test parameter names: the parameter itself, or the first of a (backend, case).
inline io::BackendKind backend_of(io::BackendKind kind) {
  return kind;
}
template <class Case>
io::BackendKind backend_of(const std::tuple<io::BackendKind, Case>& param) {
  return std::get<0>(param);
}

/// The loop fixture for a parameter `Param` that names a backend (see backend_of).
template <class Param>
class BasicLoopTest : public ::testing::TestWithParam<Param> {
 protected:
  void SetUp() override {
    if (const auto why = backend_unavailable(backend_kind())) {
      GTEST_SKIP() << "io_uring unavailable here: " << *why;
    }
    leak_check_.start();
    loop_.emplace(options());
    loop_->set_exception_handler(
        [this](Loop&, const ExceptionContext& context) { reports.push_back(context); });
  }

  void TearDown() override {
    if (loop_) {
      LeakCheck::expect_nothing_in_flight(loop_->backend());
      loop_.reset();
    } else if (!closed_by_test_) {
      return;  // skipped
    }
    for (const ExceptionContext& report : reports) {
      ADD_FAILURE() << "unexpected report: " << report.message << " (task '" << report.task_name
                    << "'): " << describe_exception(report.exception);
    }
    leak_check_.expect_no_descriptor_leak();
  }

  /// Options for the loop under test; override to change them.
  virtual LoopOptions options() const {
    LoopOptions result;
    result.backend = backend_kind();
    return result;
  }

  /// The backend under test.
  [[nodiscard]] io::BackendKind backend_kind() const { return backend_of(this->GetParam()); }

  Loop& loop() { return *loop_; }

  /// Destroys the loop now (tests of teardown); its reports still land in `reports`.
  void close_loop() {
    loop_.reset();
    closed_by_test_ = true;
  }

  /// Runs `task` on the loop under test until it completes.
  template <class T>
  T run(Task<T> task) {
    return loop_->run_until_complete(std::move(task));
  }

  /// Reports received by the exception handler; tests that expect some clear it.
  std::vector<ExceptionContext> reports;

 private:
  std::optional<Loop> loop_;
  LeakCheck leak_check_;
  bool closed_by_test_ = false;
};

/// A loop test run once per backend.
using LoopTest = BasicLoopTest<io::BackendKind>;

/// A loop test whose loop has exactly two offload workers, so a test can occupy all of them.
class TwoOffloadWorkersLoopTest : public LoopTest {
 protected:
  LoopOptions options() const override {
    LoopOptions result = LoopTest::options();
    result.offload_threads = 2;
    return result;
  }
};

/// A loop test run once per backend and per `Case` (a struct with a `name` for the test name):
/// near-identical tests written once.
template <class Case>
class LoopCaseTest : public BasicLoopTest<std::tuple<io::BackendKind, Case>> {
 protected:
  [[nodiscard]] const Case& test_case() const { return std::get<1>(this->GetParam()); }
};

}  // namespace ringloop::testing

/// Runs every TEST_P of `suite` on both backends.
#define RINGLOOP_ON_BOTH_BACKENDS(suite)                                                         \
  INSTANTIATE_TEST_SUITE_P(                                                                      \
      Backends, suite,                                                                           \
      ::testing::Values(::ringloop::io::BackendKind::uring, ::ringloop::io::BackendKind::epoll), \
      ::ringloop::testing::backend_param_name)

/// Runs every TEST_P of `suite` (a LoopCaseTest<Case>) on both backends for each case given.
#define RINGLOOP_ON_BOTH_BACKENDS_FOR_EACH(suite, ...)                          \
  INSTANTIATE_TEST_SUITE_P(                                                     \
      Backends, suite,                                                          \
      ::testing::Combine(::testing::Values(::ringloop::io::BackendKind::uring,  \
                                           ::ringloop::io::BackendKind::epoll), \
                         ::testing::Values(__VA_ARGS__)),                       \
      ::ringloop::testing::BackendAndCaseName{})
