// Which backend a loop gets: automatic selection (io_uring when it works, else epoll), forcing by
// RINGLOOP_BACKEND or LoopOptions::backend (the option wins), and what happens where io_uring is
// blocked by seccomp (as under Docker's default profile): forcing it is a clear error, automatic
// selection falls back to epoll and still runs tasks.

#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/io_uring.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>

#include "support/environment.hpp"
#include "support/loop_fixture.hpp"

namespace ringloop::testing {
namespace {

io::BackendKind expected_automatic_kind() {
  return io::uring_available() ? io::BackendKind::uring : io::BackendKind::epoll;
}

LoopOptions forcing(io::BackendKind kind) {
  LoopOptions options;
  options.backend = kind;
  return options;
}

// ---- in this process -------------------------------------------------------------------------

TEST(BackendSelectionTest, AutomaticSelectionPicksUringWhenAvailableElseEpoll) {
  ScopedEnvironment environment("RINGLOOP_BACKEND", nullptr);
  EXPECT_EQ(io::make_backend(std::nullopt)->kind(), expected_automatic_kind());
  Loop loop;
  EXPECT_EQ(loop.backend_name(), io::backend_name(expected_automatic_kind()));
  EXPECT_EQ(loop.backend().kind(), expected_automatic_kind());
}

TEST(BackendSelectionTest, NoFallbackReasonWhenNothingFellBack) {
  ScopedEnvironment environment("RINGLOOP_BACKEND", nullptr);
  std::string why;
  if (io::uring_available(&why)) {
    Loop automatic;
    EXPECT_EQ(automatic.backend_fallback_reason(), "");
    EXPECT_EQ(automatic.backend_description(), "uring");
  } else {
    // Here automatic selection does fall back, and says why.
    Loop automatic;
    EXPECT_EQ(automatic.backend_fallback_reason(), why);
    EXPECT_EQ(automatic.backend_description(), "epoll; io_uring unavailable: " + why);
  }
  Loop forced(forcing(io::BackendKind::epoll));  // asked for: not a fallback
  EXPECT_EQ(forced.backend_fallback_reason(), "");
  EXPECT_EQ(forced.backend_description(), "epoll");
  std::string reason = "stale";
  (void)io::make_backend(io::BackendKind::epoll, {}, &reason);
  EXPECT_EQ(reason, "") << "make_backend must clear the reason when nothing fell back";
}

TEST(BackendSelectionTest, EmptyRingloopBackendMeansAutomaticSelection) {
  ScopedEnvironment environment("RINGLOOP_BACKEND", "");
  Loop loop;
  EXPECT_EQ(loop.backend().kind(), expected_automatic_kind());
}

TEST(BackendSelectionTest, RingloopBackendEpollForcesEpoll) {
  ScopedEnvironment environment("RINGLOOP_BACKEND", "epoll");
  EXPECT_EQ(io::make_backend(std::nullopt)->kind(), io::BackendKind::epoll);
  Loop loop;
  EXPECT_EQ(loop.backend_name(), "epoll");
}

TEST(BackendSelectionTest, RingloopBackendUringForcesUringOrFailsClearly) {
  for (const char* spelling : {"uring", "io_uring"}) {
    ScopedEnvironment environment("RINGLOOP_BACKEND", spelling);
    std::string why;
    if (io::uring_available(&why)) {
      Loop loop;
      EXPECT_EQ(loop.backend_name(), "uring") << spelling;
    } else {
      // No silent fallback when io_uring was asked for.
      EXPECT_THROW(Loop{}, io::BackendUnavailable) << spelling << " (" << why << ")";
    }
  }
}

TEST(BackendSelectionTest, LoopOptionsBackendForcesEpollOverTheEnvironment) {
  ScopedEnvironment environment("RINGLOOP_BACKEND", "uring");
  Loop loop(forcing(io::BackendKind::epoll));
  EXPECT_EQ(loop.backend_name(), "epoll");
}

TEST(BackendSelectionTest, LoopOptionsBackendForcesUringOverTheEnvironment) {
  std::string why;
  if (!io::uring_available(&why)) GTEST_SKIP() << "io_uring unavailable here: " << why;
  ScopedEnvironment environment("RINGLOOP_BACKEND", "epoll");
  Loop loop(forcing(io::BackendKind::uring));
  EXPECT_EQ(loop.backend_name(), "uring");
}

TEST(BackendSelectionTest, LoopOptionsBackendIsUsedEvenWithABogusEnvironment) {
  ScopedEnvironment environment("RINGLOOP_BACKEND", "bogus");
  Loop loop(forcing(io::BackendKind::epoll));
  EXPECT_EQ(loop.backend_name(), "epoll");
  EXPECT_THROW(Loop{}, std::invalid_argument);
}

// ---- in a child whose seccomp filter refuses io_uring_setup ----------------------------------

// Exit codes of the child (anything else: it crashed or threw something unexpected).
enum ChildResult : int {
  kChildOk = 0,
  kSeccompUnavailable = 90,  // the kernel would not install the filter: skip
  kFilterIneffective = 91,   // io_uring_setup still worked after the filter
  kNoThrow = 92,             // the forced io_uring loop was built anyway
  kWrongMessage = 93,        // BackendUnavailable did not say io_uring cannot run
  kWrongException = 94,      // something other than BackendUnavailable
  kWrongBackend = 95,        // automatic selection did not give epoll
  kTaskFailed = 96,          // the task on the fallback loop did not produce its value
  kEnvironmentNoThrow = 97,  // RINGLOOP_BACKEND=uring did not throw
  kUnexpectedException = 98,
  kNoFallbackReason = 99,  // the fallback loop did not say why io_uring could not run
};

/// Makes io_uring_setup fail with EPERM for this process (Docker's default profile does the same).
bool refuse_io_uring_setup() {
#if defined(__x86_64__)
  sock_filter filter[] = {
      // Only x86-64 system call numbers are meaningful below; kill anything else.
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  sock_fprog program{static_cast<unsigned short>(sizeof filter / sizeof filter[0]), filter};
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return false;
  return ::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &program) == 0;
#else
  return false;
#endif
}

bool io_uring_setup_is_refused() {
  io_uring_params params{};
  const long fd = ::syscall(__NR_io_uring_setup, 2, &params);
  if (fd >= 0) {
    ::close(static_cast<int>(fd));
    return false;
  }
  return errno == EPERM;
}

/// Runs `body` in a fork()ed child with io_uring_setup refused; returns its exit code (or
/// 128 + signal).
int run_in_child_without_io_uring(int (*body)()) {
  std::fflush(stdout);
  std::fflush(stderr);
  const pid_t child = ::fork();
  if (child < 0) return -1;
  if (child == 0) {
    int code = kSeccompUnavailable;
    if (refuse_io_uring_setup()) {
      try {
        code = io_uring_setup_is_refused() ? body() : kFilterIneffective;
      } catch (...) {
        code = kUnexpectedException;
      }
    }
    ::_exit(code);
  }
  int status = 0;
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

const char* describe_child_result(int code) {
  switch (code) {
    case kChildOk:
      return "ok";
    case kFilterIneffective:
      return "io_uring_setup still worked under the seccomp filter";
    case kNoThrow:
      return "a loop forced to io_uring was built although io_uring_setup is refused";
    case kWrongMessage:
      return "BackendUnavailable::what() does not say io_uring cannot run";
    case kWrongException:
      return "forcing io_uring threw something other than BackendUnavailable";
    case kWrongBackend:
      return "automatic selection did not fall back to epoll";
    case kTaskFailed:
      return "the task on the fallback loop did not run to its value";
    case kEnvironmentNoThrow:
      return "RINGLOOP_BACKEND=uring built a loop without io_uring";
    case kUnexpectedException:
      return "unexpected exception in the child";
    case kNoFallbackReason:
      return "backend_fallback_reason()/backend_description() do not name io_uring_setup's EPERM";
    default:
      return "the child crashed or was killed";
  }
}

/// Runs the child and turns its exit code into a test result.
void expect_child_succeeds(int (*body)()) {
  std::string why;
  // Computed (and cached) here, before fork(): the child inherits "io_uring works", so it proves
  // that the backends cope with a ring that cannot be created after the probe said yes.
  const bool available_in_parent = io::uring_available(&why);
  const int code = run_in_child_without_io_uring(body);
  if (code == kSeccompUnavailable) GTEST_SKIP() << "cannot install a seccomp filter here";
  EXPECT_EQ(code, kChildOk) << describe_child_result(code) << " (exit code " << code
                            << "; io_uring in the parent: "
                            << (available_in_parent ? "available" : why) << ")";
}

bool says_io_uring_cannot_run(const std::string& message) {
  return message.find("io_uring") != std::string::npos &&
         message.find("cannot run") != std::string::npos;
}

int forced_uring_loop_is_a_clear_error() {
  ::unsetenv("RINGLOOP_BACKEND");
  try {
    Loop loop(forcing(io::BackendKind::uring));
    return kNoThrow;
  } catch (const io::BackendUnavailable& error) {
    if (!says_io_uring_cannot_run(error.what())) {
      std::fprintf(stderr, "child: BackendUnavailable says: %s\n", error.what());
      return kWrongMessage;
    }
  } catch (...) {
    return kWrongException;
  }
  try {
    (void)io::make_backend(io::BackendKind::uring);
    return kNoThrow;
  } catch (const io::BackendUnavailable& error) {
    if (!says_io_uring_cannot_run(error.what())) return kWrongMessage;
  } catch (...) {
    return kWrongException;
  }
  return kChildOk;
}

int uring_forced_by_environment_is_a_clear_error() {
  ::setenv("RINGLOOP_BACKEND", "uring", 1);
  try {
    Loop loop;
    return kEnvironmentNoThrow;
  } catch (const io::BackendUnavailable& error) {
    if (!says_io_uring_cannot_run(error.what())) return kWrongMessage;
  } catch (...) {
    return kWrongException;
  }
  return kChildOk;
}

Task<int> add_through_the_backend(int a, int b) {
  int fds[2];
  if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) co_return -1;
  const char byte = static_cast<char>(b);
  const std::span<const std::byte> out = std::as_bytes(std::span(&byte, 1));
  const std::int32_t written = co_await ops::write(fds[1], out);
  char received = 0;
  const std::span<std::byte> in = std::as_writable_bytes(std::span(&received, 1));
  const std::int32_t read = co_await ops::read(fds[0], in);
  co_await ops::nop();
  ::close(fds[0]);
  ::close(fds[1]);
  if (written != 1 || read != 1) co_return -1;
  co_return a + received;
}

int automatic_selection_falls_back_to_epoll() {
  ::unsetenv("RINGLOOP_BACKEND");
  if (io::make_backend(std::nullopt)->kind() != io::BackendKind::epoll) return kWrongBackend;
  std::string reason;
  if (io::make_backend(std::nullopt, {}, &reason)->kind() != io::BackendKind::epoll) {
    return kWrongBackend;
  }
  const std::string expected_reason = std::string("io_uring_setup: ") + std::strerror(EPERM);
  if (reason != expected_reason) {
    std::fprintf(stderr, "child: make_backend's fallback reason: '%s'\n", reason.c_str());
    return kNoFallbackReason;
  }
  Loop loop;
  if (loop.backend_name() != "epoll") return kWrongBackend;
  if (loop.backend_fallback_reason() != expected_reason ||
      loop.backend_description() != "epoll; io_uring unavailable: " + expected_reason) {
    std::fprintf(stderr, "child: the loop says '%s'\n", loop.backend_description().c_str());
    return kNoFallbackReason;
  }
  if (loop.run_until_complete(add_through_the_backend(40, 2)) != 42) return kTaskFailed;
  if (run(add_through_the_backend(1, 2)) != 3) return kTaskFailed;
  return kChildOk;
}

TEST(BackendSelectionWithoutUringTest, ForcingUringWhereSeccompRefusesItThrowsBackendUnavailable) {
  expect_child_succeeds(&forced_uring_loop_is_a_clear_error);
}

TEST(BackendSelectionWithoutUringTest, RingloopBackendUringWhereSeccompRefusesItThrows) {
  expect_child_succeeds(&uring_forced_by_environment_is_a_clear_error);
}

TEST(BackendSelectionWithoutUringTest, AutomaticSelectionFallsBackToEpollAndRunsATask) {
  expect_child_succeeds(&automatic_selection_falls_back_to_epoll);
}

// ---- selection errors ------------------------------------------------------------------------

TEST(BackendKindTest, ParseBackendKindAcceptsTheDocumentedNames) {
  EXPECT_EQ(io::parse_backend_kind("uring"), io::BackendKind::uring);
  EXPECT_EQ(io::parse_backend_kind("io_uring"), io::BackendKind::uring);
  EXPECT_EQ(io::parse_backend_kind("epoll"), io::BackendKind::epoll);
  EXPECT_EQ(io::backend_name(io::BackendKind::uring), "uring");
  EXPECT_EQ(io::backend_name(io::BackendKind::epoll), "epoll");
}

TEST(BackendKindTest, ParseBackendKindRejectsAnUnknownNameNamingIt) {
  try {
    (void)io::parse_backend_kind("bogus");
    ADD_FAILURE() << "parse_backend_kind(\"bogus\") did not throw";
  } catch (const std::invalid_argument& error) {
    EXPECT_NE(std::string(error.what()).find("bogus"), std::string::npos) << error.what();
  }
}

TEST(BackendKindTest, BogusRingloopBackendEnvironmentMakesAutomaticSelectionThrow) {
  ScopedEnvironment environment("RINGLOOP_BACKEND", "bogus");
  try {
    (void)io::make_backend(std::nullopt);
    ADD_FAILURE() << "make_backend(nullopt) accepted RINGLOOP_BACKEND=bogus";
  } catch (const std::invalid_argument& error) {
    EXPECT_NE(std::string(error.what()).find("bogus"), std::string::npos) << error.what();
  }
  // An explicit kind does not consult the environment.
  EXPECT_EQ(io::make_backend(io::BackendKind::epoll)->kind(), io::BackendKind::epoll);
}

}  // namespace
}  // namespace ringloop::testing
