// The first asyncio program people write, in ringloop: a main task starts two background tasks
// that sleep 2 s and 1 s, carries on, sleeps 1 s, then waits for both.
//
//   ./hello_tasks [--scale F]    (F multiplies every sleep; tests use 0.01)

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include <ringloop/ringloop.hpp>

namespace {

using Seconds = std::chrono::duration<double>;

ringloop::Task<> background_work(Seconds duration) {
  co_await ringloop::sleep(duration);
}

void announce_finish(ringloop::TaskHandle<>& task) {
  std::printf("finished %s\n", task.name().c_str());
  std::fflush(stdout);
}

ringloop::Task<> main_function(double scale) {
  // A slower loop must never pass for a fast one: say so when io_uring could not run here.
  if (!ringloop::Loop::current().backend_fallback_reason().empty()) {
    std::fprintf(stderr, "hello_tasks: backend: %s\n",
                 ringloop::Loop::current().backend_description().c_str());
  }
  auto slow = ringloop::spawn(background_work(Seconds(2.0 * scale)));
  slow.add_done_callback(announce_finish);
  auto quick = ringloop::spawn(background_work(Seconds(1.0 * scale)));
  quick.add_done_callback(announce_finish);

  std::printf("Continuing the main function...\n");
  std::fflush(stdout);
  co_await ringloop::sleep(Seconds(1.0 * scale));

  co_await slow;
  co_await quick;
  std::printf("Main function completed!\n");
}

}  // namespace

int main(int argc, char** argv) {
  double scale = 1.0;
  constexpr const char* kUsage = "usage: hello_tasks [--scale F]\n";
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--help") == 0 || std::strcmp(argv[i], "-h") == 0) {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (std::strcmp(argv[i], "--scale") == 0 && i + 1 < argc) {
      char* end = nullptr;
      scale = std::strtod(argv[++i], &end);
      if (*end != '\0' || scale < 0) {
        std::fprintf(stderr, "hello_tasks: --scale needs a non-negative number, got '%s'\n",
                     argv[i]);
        return 2;
      }
    } else {
      // One line, usage included: scripts read the first line of stderr.
      if (std::strcmp(argv[i], "--scale") == 0) {
        std::fprintf(stderr, "hello_tasks: missing value after --scale; %s", kUsage);
      } else {
        std::fprintf(stderr, "hello_tasks: unknown flag '%s'; %s", argv[i], kUsage);
      }
      return 2;
    }
  }
  try {
    ringloop::run(main_function(scale));
  } catch (const std::exception& error) {
    std::fprintf(stderr, "hello_tasks: %s\n", error.what());
    return 1;
  }
  return 0;
}
