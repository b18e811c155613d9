// Load generator for echo_server (or any echo server): C connections, each sending S bytes and
// reading the echo back, again and again until D seconds have passed.
//
//   ./echo_client [--host 127.0.0.1] [--port 8888] [--conns 10] [--size 1024] [--duration 5]
//                 [--backend uring|epoll]
//
// Each connection is a task: it sends one message (write_all), reads exactly as many bytes back
// (read_exactly), checks every byte, and records the round trip's latency. Messages are windows
// of one fixed pseudo-random pattern, each starting at a different offset, so an echo that comes
// back shifted, stale or from another connection fails the check. `--duration` may be fractional.
// All connections are opened before the clock starts. Output, exactly one line:
//
//   reqs_per_s=R mib_per_s=M p50_us=P p99_us=Q errors=E
//
// reqs_per_s counts round trips completed per second over all connections; mib_per_s is
// reqs_per_s x size in MiB (one direction); p50_us and p99_us are round-trip latency percentiles;
// errors counts messages whose echo differed and connections that failed mid-run.
//
// Exit status: 0 when errors=0, 1 when errors > 0 or a connection could not be opened (with a
// message on stderr), 2 for bad flags.

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include <ringloop/ringloop.hpp>

namespace {

using Clock = std::chrono::steady_clock;

struct Settings {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8888;
  std::size_t connections = 10;
  std::size_t size = 1024;
  double duration = 5.0;
  std::optional<ringloop::io::BackendKind> backend;
};

// Messages start at offset (request % kOffsets) of the pattern.
constexpr std::size_t kOffsets = 251;
constexpr auto kConnectTimeout = std::chrono::seconds(5);

struct ConnectionResult {
  std::vector<std::uint32_t> latencies_ns;  ///< one per completed round trip
  std::size_t errors = 0;
};

[[noreturn]] void usage_error(const std::string& message) {
  if (!message.empty()) std::fprintf(stderr, "echo_client: %s\n", message.c_str());
  std::fprintf(stderr,
               "usage: echo_client [--host HOST] [--port PORT] [--conns C] [--size S] "
               "[--duration D] [--backend uring|epoll]\n");
  std::exit(2);
}

unsigned long long parse_unsigned(const std::string& flag, const char* text, unsigned long long low,
                                  unsigned long long high) {
  char* end = nullptr;
  errno = 0;
  const unsigned long long value = std::strtoull(text, &end, 10);
  if (*text == '\0' || *text == '-' || *end != '\0' || errno != 0 || value < low || value > high) {
    usage_error(flag + " needs an integer from " + std::to_string(low) + " to " +
                std::to_string(high) + ", got '" + text + "'");
  }
  return value;
}

double parse_duration(const char* text) {
  char* end = nullptr;
  errno = 0;
  const double value = std::strtod(text, &end);
  if (*text == '\0' || *end != '\0' || errno != 0 || !std::isfinite(value) || value <= 0.0 ||
      value > 86400.0) {
    usage_error(std::string("--duration needs seconds above 0 (fractions allowed), got '") + text +
                "'");
  }
  return value;
}

Settings parse_flags(int argc, char** argv) {
  Settings settings;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      std::printf(
          "usage: echo_client [--host HOST] [--port PORT] [--conns C] [--size S] "
          "[--duration D] [--backend uring|epoll]\n");
      std::exit(0);
    }
    if (flag != "--host" && flag != "--port" && flag != "--conns" && flag != "--size" &&
        flag != "--duration" && flag != "--backend") {
      usage_error("unknown flag '" + flag + "'");
    }
    if (i + 1 >= argc) usage_error(flag + " needs a value");
    const char* value = argv[++i];
    if (flag == "--host") {
      if (*value == '\0') usage_error("--host needs a non-empty value");
      settings.host = value;
    } else if (flag == "--port") {
      settings.port = static_cast<std::uint16_t>(parse_unsigned(flag, value, 1, 65535));
    } else if (flag == "--conns") {
      settings.connections = static_cast<std::size_t>(parse_unsigned(flag, value, 1, 10000));
    } else if (flag == "--size") {
      settings.size = static_cast<std::size_t>(parse_unsigned(flag, value, 1, 1ULL << 30));
    } else if (flag == "--duration") {
      settings.duration = parse_duration(value);
    } else {
      try {
        settings.backend = ringloop::io::parse_backend_kind(value);
      } catch (const std::invalid_argument&) {
        usage_error(std::string("--backend must be uring or epoll, got '") + value + "'");
      }
    }
  }
  return settings;
}

// xorshift bytes: no period a shifted echo could line up with.
std::vector<std::byte> make_pattern(std::size_t size) {
  std::vector<std::byte> pattern(size + kOffsets);
  std::uint32_t state = 0x9e37'79b9u;
  for (std::byte& value : pattern) {
    state ^= state << 13;
    state ^= state >> 17;
    state ^= state << 5;
    value = static_cast<std::byte>(state >> 24);
  }
  return pattern;
}

ringloop::Task<ringloop::SocketAddress> server_address(std::string host, std::uint16_t port) {
  try {
    co_return ringloop::SocketAddress::from_host_port(host, port);
  } catch (const std::invalid_argument&) {
    // Not numeric: a name.
  }
  auto resolving = ringloop::resolve(host, std::to_string(port));
  std::vector<ringloop::SocketAddress> addresses = co_await resolving;
  co_return addresses.front();  // resolve() throws rather than give none
}

ringloop::Task<ringloop::TcpStream> connect_one(ringloop::SocketAddress address) {
  auto connecting = ringloop::wait_for(ringloop::TcpStream::connect(address), kConnectTimeout);
  ringloop::TcpStream stream = co_await connecting;
  stream.set_nodelay(true);
  co_return stream;
}

// Round trips on one connection until `deadline`. A failure ends this connection only.
ringloop::Task<ConnectionResult> run_connection(ringloop::TcpStream stream,
                                                const std::vector<std::byte>* pattern,
                                                std::size_t size, Clock::time_point deadline,
                                                std::size_t first_offset) {
  ConnectionResult result;
  std::vector<std::byte> echo(size);
  std::size_t offset = first_offset % kOffsets;
  try {
    while (Clock::now() < deadline) {
      const std::span<const std::byte> message(pattern->data() + offset, size);
      const Clock::time_point sent = Clock::now();
      auto writing = stream.write_all(message);
      co_await writing;
      auto reading = stream.read_exactly(echo);
      co_await reading;
      const auto elapsed =
          std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - sent);
      result.latencies_ns.push_back(
          static_cast<std::uint32_t>(std::min<std::int64_t>(elapsed.count(), UINT32_MAX)));
      if (std::memcmp(echo.data(), message.data(), size) != 0) ++result.errors;
      offset = (offset + 1) % kOffsets;
    }
    auto closing = stream.close();
    co_await closing;
  } catch (const std::exception& error) {
    std::fprintf(stderr, "echo_client: connection failed: %s\n", error.what());
    ++result.errors;
  }
  co_return result;
}

double percentile_us(std::vector<std::uint32_t>& values, double fraction) {
  if (values.empty()) return 0.0;
  const auto rank = static_cast<std::size_t>(fraction * static_cast<double>(values.size() - 1));
  std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(rank),
                   values.end());
  return static_cast<double>(values[rank]) / 1000.0;
}

ringloop::Task<int> run_client(Settings settings) {
  // A slower loop must never pass for a fast one: say so when io_uring could not run here.
  if (!ringloop::Loop::current().backend_fallback_reason().empty()) {
    std::fprintf(stderr, "echo_client: backend: %s\n",
                 ringloop::Loop::current().backend_description().c_str());
  }
  ringloop::SocketAddress address;
  std::vector<ringloop::TcpStream> streams;
  try {
    auto resolving = server_address(settings.host, settings.port);
    address = co_await resolving;
    std::vector<ringloop::Task<ringloop::TcpStream>> connecting;
    for (std::size_t i = 0; i < settings.connections; ++i) {
      connecting.push_back(connect_one(address));
    }
    auto gathering = ringloop::gather(std::move(connecting));
    streams = co_await gathering;
  } catch (const std::exception& error) {
    std::fprintf(stderr, "echo_client: cannot connect to %s port %u: %s\n", settings.host.c_str(),
                 static_cast<unsigned>(settings.port), error.what());
    co_return 1;
  }

  const std::vector<std::byte> pattern = make_pattern(settings.size);
  const Clock::time_point start = Clock::now();
  const auto deadline = start + std::chrono::duration_cast<Clock::duration>(
                                    std::chrono::duration<double>(settings.duration));
  std::vector<ringloop::Task<ConnectionResult>> running;
  for (std::size_t i = 0; i < streams.size(); ++i) {
    running.push_back(
        run_connection(std::move(streams[i]), &pattern, settings.size, deadline, i * 17));
  }
  auto gathering = ringloop::gather(std::move(running));
  std::vector<ConnectionResult> results = co_await gathering;
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();

  std::vector<std::uint32_t> latencies;
  std::size_t errors = 0;
  for (const ConnectionResult& result : results) {
    latencies.insert(latencies.end(), result.latencies_ns.begin(), result.latencies_ns.end());
    errors += result.errors;
  }
  const double requests_per_second = static_cast<double>(latencies.size()) / elapsed;
  const double mib_per_second =
      requests_per_second * static_cast<double>(settings.size) / (1024.0 * 1024.0);
  const double p50 = percentile_us(latencies, 0.50);
  const double p99 = percentile_us(latencies, 0.99);
  std::printf("reqs_per_s=%.1f mib_per_s=%.2f p50_us=%.1f p99_us=%.1f errors=%zu\n",
              requests_per_second, mib_per_second, p50, p99, errors);
  std::fflush(stdout);
  co_return errors == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  const Settings settings = parse_flags(argc, argv);
  try {
    ringloop::LoopOptions options;
    options.backend = settings.backend;
    return ringloop::run(run_client(settings), std::move(options));
  } catch (const std::exception& error) {
    std::fprintf(stderr, "echo_client: %s\n", error.what());
    return 1;
  }
}
