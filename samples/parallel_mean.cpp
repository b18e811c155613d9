// The mean of each row of a large matrix, computed twice: sequentially on the main thread, then
// with one offload() per row, all started at once and gathered on the loop in row order. The rows
// then run on the loop's default offload pool (one worker per core), so on N idle cores the second
// pass approaches N times faster, as far as memory bandwidth keeps up (each core streams its rows
// from RAM). Both passes call the same function, which sums each row left to right, so the means
// must be bit-identical.
//
//   ./parallel_mean [--rows R] [--columns C] [--scale F]
//
// Defaults: 50 rows of 8,000,000 columns, 400 million doubles: the matrix alone takes 3.2 GB
// (rows x columns x 8 bytes; the means are negligible). --scale multiplies the columns, so
// `--scale 0.01` needs 32 MB; tests use small sizes. The data is generated deterministically
// (splitmix64 per row), so every run sees the same numbers. Output, exactly:
//
//   sequential: X.XXX s
//   offloaded: Y.YYY s (speedup Z.ZZx)
//   results identical: yes
//
// The offloaded time covers the whole second pass as a user would write it: ringloop::run()
// creating the loop and its pool, the tasks, and the gather.
//
// Exit status: 0 when the means are identical, 1 when they differ (the last line then says "no")
// or the run fails, 2 for bad flags.

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <limits>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include <ringloop/ringloop.hpp>

namespace {

using Clock = std::chrono::steady_clock;

struct Settings {
  std::size_t rows = 50;
  std::size_t columns = 8'000'000;
  double scale = 1.0;
};

// splitmix64 (Steele, Lea, Flood): fast, and a fixed function of the seed on every platform.
std::uint64_t splitmix64(std::uint64_t& state) noexcept {
  std::uint64_t z = (state += 0x9e37'79b9'7f4a'7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58'476d'1ce4'e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d0'49bb'1331'11ebULL;
  return z ^ (z >> 31);
}

// Each row is its own stream, seeded by its index, with values in [0, 1).
void fill_matrix(double* data, std::size_t rows, std::size_t columns) {
  for (std::size_t row = 0; row < rows; ++row) {
    std::uint64_t state = row;
    double* values = data + row * columns;
    for (std::size_t column = 0; column < columns; ++column) {
      values[column] = static_cast<double>(splitmix64(state) >> 11) * 0x1.0p-53;
    }
  }
}

// Left to right, one accumulator: the summation order, and so the result, is fixed. Both passes
// call this one function.
double row_mean(const double* row, std::size_t columns) {
  double sum = 0.0;
  for (std::size_t column = 0; column < columns; ++column)
    sum += row[column];
  return sum / static_cast<double>(columns);
}

// One row on the offload pool. Pointer and size by value: no references in coroutines.
ringloop::Task<double> offloaded_row_mean(const double* row, std::size_t columns) {
  auto computing = ringloop::offload(row_mean, row, columns);
  co_return co_await computing;
}

// One task per row, gathered: gather() spawns them all at once, so every row is queued on the pool
// together, and gives the means back in row order.
ringloop::Task<std::vector<double>> offloaded_means(const double* data, std::size_t rows,
                                                    std::size_t columns) {
  // A slower loop must never pass for a fast one: say so when io_uring could not run here.
  if (!ringloop::Loop::current().backend_fallback_reason().empty()) {
    std::fprintf(stderr, "parallel_mean: backend: %s\n",
                 ringloop::Loop::current().backend_description().c_str());
  }
  std::vector<ringloop::Task<double>> tasks;
  tasks.reserve(rows);
  for (std::size_t row = 0; row < rows; ++row) {
    tasks.push_back(offloaded_row_mean(data + row * columns, columns));
  }
  auto gathering = ringloop::gather(std::move(tasks));
  co_return co_await gathering;
}

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

constexpr const char* kUsage = "usage: parallel_mean [--rows R] [--columns C] [--scale F]\n";

[[noreturn]] void usage_error(const char* message, const char* value) {
  if (message) std::fprintf(stderr, "parallel_mean: %s '%s'\n", message, value);
  std::fputs(kUsage, stderr);
  std::exit(2);
}

std::size_t parse_count(const char* flag, const char* text) {
  char* end = nullptr;
  errno = 0;
  const unsigned long long value = std::strtoull(text, &end, 10);
  if (*text == '\0' || *text == '-' || *end != '\0' || errno != 0 || value == 0) {
    std::fprintf(stderr, "parallel_mean: %s needs a positive integer, got '%s'\n", flag, text);
    std::exit(2);
  }
  return static_cast<std::size_t>(value);
}

Settings parse_flags(int argc, char** argv) {
  Settings settings;
  for (int i = 1; i < argc; ++i) {
    const char* flag = argv[i];
    if (std::strcmp(flag, "--help") == 0 || std::strcmp(flag, "-h") == 0) {
      std::fputs(kUsage, stdout);
      std::exit(0);
    }
    const bool known = std::strcmp(flag, "--rows") == 0 || std::strcmp(flag, "--columns") == 0 ||
                       std::strcmp(flag, "--scale") == 0;
    if (!known) usage_error("unknown flag", flag);
    if (i + 1 >= argc) usage_error("missing value after", flag);
    const char* value = argv[++i];
    if (std::strcmp(flag, "--rows") == 0) {
      settings.rows = parse_count(flag, value);
    } else if (std::strcmp(flag, "--columns") == 0) {
      settings.columns = parse_count(flag, value);
    } else {
      char* end = nullptr;
      settings.scale = std::strtod(value, &end);
      if (*value == '\0' || *end != '\0' || !std::isfinite(settings.scale) || settings.scale <= 0) {
        std::fprintf(stderr, "parallel_mean: --scale needs a positive number, got '%s'\n", value);
        std::exit(2);
      }
    }
  }
  const double scaled = std::round(static_cast<double>(settings.columns) * settings.scale);
  if (scaled < 1 ||
      scaled > static_cast<double>(std::numeric_limits<std::size_t>::max() / 8 / settings.rows)) {
    std::fprintf(stderr,
                 "parallel_mean: --scale %g gives %.0f columns (need 1 or more, and a "
                 "matrix that fits in memory)\n",
                 settings.scale, scaled);
    std::exit(2);
  }
  settings.columns = static_cast<std::size_t>(scaled);
  return settings;
}

}  // namespace

int main(int argc, char** argv) {
  const Settings settings = parse_flags(argc, argv);
  const std::size_t rows = settings.rows;
  const std::size_t columns = settings.columns;
  try {
    // new[] rather than a vector: the generator writes every element, so zeroing 3.2 GB first
    // would be wasted time.
    std::unique_ptr<double[]> data(new double[rows * columns]);
    fill_matrix(data.get(), rows, columns);
    std::vector<double> sequential(rows);

    const Clock::time_point sequential_start = Clock::now();
    for (std::size_t row = 0; row < rows; ++row) {
      sequential[row] = row_mean(data.get() + row * columns, columns);
    }
    const double sequential_seconds = seconds_since(sequential_start);

    const Clock::time_point offloaded_start = Clock::now();
    const std::vector<double> offloaded = ringloop::run(offloaded_means(data.get(), rows, columns));
    const double offloaded_seconds = seconds_since(offloaded_start);

    // Bit for bit: the same order of additions must give the same doubles.
    const bool identical =
        std::memcmp(sequential.data(), offloaded.data(), rows * sizeof(double)) == 0;
    std::printf("sequential: %.3f s\n", sequential_seconds);
    std::printf("offloaded: %.3f s (speedup %.2fx)\n", offloaded_seconds,
                offloaded_seconds > 0 ? sequential_seconds / offloaded_seconds : 0.0);
    std::printf("results identical: %s\n", identical ? "yes" : "no");
    return identical ? 0 : 1;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "parallel_mean: cannot allocate %zu x %zu doubles (%.2f GB)\n", rows,
                 columns, static_cast<double>(rows) * static_cast<double>(columns) * 8 / 1e9);
    return 1;
  } catch (const std::exception& error) {
    std::fprintf(stderr, "parallel_mean: %s\n", error.what());
    return 1;
  }
}
