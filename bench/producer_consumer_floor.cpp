// The physical limit of the 500k-action workload: the same 1,000,000 queue hand-offs (500,000
// puts, 500,000 gets) and 500,000 timestamp reads in a plain loop, with no scheduler at all.
//
//   producer_consumer_floor [--actions N]

#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>

namespace {

struct Item {
  std::int64_t square;
  double timestamp;
};

double wall_clock_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

int main(int argc, char** argv) {
  std::int64_t actions = 500'000;
  if (argc == 3 && std::strcmp(argv[1], "--actions") == 0) {
    char* end = nullptr;
    actions = std::strtoll(argv[2], &end, 10);
    if (*end != '\0' || actions < 2) {
      std::fprintf(stderr, "producer_consumer_floor: --actions needs an integer >= 2\n");
      return 2;
    }
  } else if (argc != 1) {
    std::fprintf(stderr, "usage: producer_consumer_floor [--actions N]\n");
    return 2;
  }
  std::printf("Running floor loop with %" PRId64 " actions.\n", actions);
  const auto started = std::chrono::steady_clock::now();
  std::deque<Item> queue;
  std::int64_t sum = 0;
  const std::int64_t per_producer = actions / 2;
  // The two producers and the consumer take turns as they do on the loop: each round both
  // producers put one item and the consumer gets one, so the queue grows by one item a round
  // (to ~250,000 items, 4 MB, for 500,000 actions) and the consumer drains it afterwards.
  const std::int64_t second_count = actions - per_producer;
  std::int64_t first_done = 0;
  std::int64_t second_done = 0;
  for (std::int64_t taken = 0; taken < actions; ++taken) {
    if (first_done < per_producer) {
      ++first_done;
      queue.push_back(Item{first_done * first_done, wall_clock_seconds()});
    }
    if (second_done < second_count) {
      ++second_done;
      queue.push_back(Item{second_done * second_done, wall_clock_seconds()});
    }
    sum += queue.front().square;
    queue.pop_front();
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::printf("App exiting, total time: %.4f sec.\n", seconds);
  std::printf("checksum: %" PRId64 "\n", sum);
  return 0;
}
