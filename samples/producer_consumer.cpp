// The classic 500,000-action producer/consumer program that was used to show uvloop beating
// asyncio, in ringloop: two producers each put 250,000 items (idx*idx, timestamp) into one
// unbounded queue and yield after every put; one consumer gets all 500,000 and yields after every
// get. It runs on the "standard" loop (epoll backend) and/or the "optimized" one (io_uring).
// The allocator is chosen at link time: this binary is built twice, `producer_consumer` with the
// system allocator and `producer_consumer_mimalloc` with mimalloc (see the README).
//
//   producer_consumer [--actions N] [--loop standard|optimized|both]

#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>

#include <ringloop/ringloop.hpp>

namespace {

struct Item {
  std::int64_t square;
  double timestamp;
};

double wall_clock_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

ringloop::Task<> producer(ringloop::Queue<Item>* queue, std::int64_t count) {
  for (std::int64_t idx = 1; idx <= count; ++idx) {
    co_await queue->put(Item{idx * idx, wall_clock_seconds()});
    co_await ringloop::yield_now();
  }
}

ringloop::Task<> consumer(ringloop::Queue<Item>* queue, std::int64_t count, std::int64_t* sum) {
  for (std::int64_t i = 0; i < count; ++i) {
    const Item item = co_await queue->get();
    *sum += item.square;
    co_await ringloop::yield_now();
  }
}

ringloop::Task<std::int64_t> application(std::int64_t actions) {
  ringloop::Queue<Item> queue;
  std::int64_t sum = 0;
  const std::int64_t per_producer = actions / 2;
  auto first = ringloop::spawn(producer(&queue, per_producer));
  auto second = ringloop::spawn(producer(&queue, actions - per_producer));
  auto taker = ringloop::spawn(consumer(&queue, actions, &sum));
  co_await first;
  co_await second;
  co_await taker;
  co_return sum;
}

std::string with_thousands(std::int64_t value) {
  const std::string digits = std::to_string(value);
  std::string grouped;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) grouped.push_back(',');
    grouped.push_back(digits[i]);
  }
  return grouped;
}

void run_configuration(const char* label, ringloop::io::BackendKind backend, std::int64_t actions) {
  std::printf("Running %s loop with %s actions.\n", label, with_thousands(actions).c_str());
  ringloop::LoopOptions options;
  options.backend = backend;
  // The standard loop asks epoll for readiness on every iteration, as asyncio does, even though
  // this program registers no descriptor: that is the discipline its row measures.
  options.backend_options.poll_when_idle = backend == ringloop::io::BackendKind::epoll;
  const auto started = std::chrono::steady_clock::now();
  const std::int64_t sum = ringloop::run(application(actions), options);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::printf("App exiting, total time: %.4f sec.\n", seconds);
  std::printf("checksum: %" PRId64 " (backend: %s, allocator: %s)\n", sum,
              std::string(ringloop::io::backend_name(backend)).c_str(), RINGLOOP_ALLOCATOR_NAME);
  std::fflush(stdout);
}

constexpr const char* kUsage =
    "usage: producer_consumer [--actions N] [--loop standard|optimized|both]\n";

[[noreturn]] void usage(const char* problem) {
  std::fprintf(stderr, "producer_consumer: %s\n%s", problem, kUsage);
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  std::int64_t actions = 500'000;
  std::string loop = "both";
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (flag != "--actions" && flag != "--loop") usage(("unknown flag '" + flag + "'").c_str());
    if (i + 1 >= argc) usage(("missing value after " + flag).c_str());
    const std::string value = argv[++i];
    if (flag == "--actions") {
      char* end = nullptr;
      actions = std::strtoll(value.c_str(), &end, 10);
      if (*end != '\0' || actions < 2)
        usage(("--actions needs an integer >= 2, got '" + value + "'").c_str());
    } else if (flag == "--loop") {
      if (value != "standard" && value != "optimized" && value != "both") {
        usage(("--loop must be standard, optimized or both, got '" + value + "'").c_str());
      }
      loop = value;
    }
  }
  try {
    if (loop != "optimized")
      run_configuration("standard", ringloop::io::BackendKind::epoll, actions);
    if (loop != "standard")
      run_configuration("optimized", ringloop::io::BackendKind::uring, actions);
  } catch (const std::exception& error) {
    std::fprintf(stderr, "producer_consumer: %s\n", error.what());
    return 1;
  }
  return 0;
}
