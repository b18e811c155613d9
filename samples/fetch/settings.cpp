#include "settings.hpp"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string_view>

namespace fetch {
namespace {

constexpr const char* kUsage =
    "usage: fetch [--mode async|threads|sequential|executor] [--count N] [--concurrency K]\n"
    "             [--backend uring|epoll] [--timeout MS] [--quiet]\n"
    "             [--compare N,N,... [--plot FILE.png]] URL [URL...]\n";

constexpr const char* kHelp =
    "\n"
    "Fetches each URL (--count times) and prints one line per request (status, body bytes,\n"
    "milliseconds), then the summary 'seconds=S ok=K failed=F' as the last line. A request is\n"
    "ok when a response arrived, whatever its status; a failure prints one line on stderr.\n"
    "\n"
    "  --mode M         async: http::Client on the loop, one task per request (default)\n"
    "                   threads: a BlockingClient on each of K threads\n"
    "                   sequential: one BlockingClient, one request after another\n"
    "                   executor: BlockingClient through offload() from the loop\n"
    "  --count N        fetch each URL N times (default 1)\n"
    "  --concurrency K  at most K requests in flight (default: all at once)\n"
    "  --backend B      the loop's backend for async and executor: uring or epoll\n"
    "  --timeout MS     connect and total timeout of each request\n"
    "  --quiet          print only the summary line (failures still go to stderr)\n"
    "  --compare LIST   time LIST's numbers of fetches of the one URL sequentially, with\n"
    "                   threads and async, and print the table\n"
    "  --plot FILE      with --compare: draw the table as a line chart (python3-matplotlib)\n"
    "\n"
    "Exit status: 0 when every request got a response, 1 when any failed, 2 for bad flags.\n";

[[noreturn]] void usage_error(const std::string& message) {
  std::fprintf(stderr, "fetch: %s\n%s", message.c_str(), kUsage);
  std::exit(2);
}

std::size_t parse_number(const std::string& flag, std::string_view text, std::size_t low,
                         std::size_t high) {
  const std::string copy(text);
  char* end = nullptr;
  errno = 0;
  const unsigned long long value = std::strtoull(copy.c_str(), &end, 10);
  if (copy.empty() || copy[0] == '-' || copy[0] == '+' || *end != '\0' || errno != 0 ||
      value < low || value > high) {
    usage_error(flag + " needs an integer from " + std::to_string(low) + " to " +
                std::to_string(high) + ", got '" + copy + "'");
  }
  return static_cast<std::size_t>(value);
}

Mode parse_mode(const std::string& text) {
  for (Mode mode : {Mode::async, Mode::threads, Mode::sequential, Mode::executor}) {
    if (text == mode_name(mode)) return mode;
  }
  usage_error("--mode must be async, threads, sequential or executor, got '" + text + "'");
}

std::vector<std::size_t> parse_list(const std::string& text) {
  std::vector<std::size_t> numbers;
  std::string_view rest = text;
  for (;;) {
    const std::size_t comma = rest.find(',');
    numbers.push_back(parse_number("--compare", rest.substr(0, comma), 1, 100000));
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  return numbers;
}

bool takes_value(const std::string& flag) {
  return flag == "--mode" || flag == "--count" || flag == "--concurrency" || flag == "--backend" ||
         flag == "--timeout" || flag == "--compare" || flag == "--plot";
}

}  // namespace

const char* mode_name(Mode mode) noexcept {
  switch (mode) {
    case Mode::async:
      return "async";
    case Mode::threads:
      return "threads";
    case Mode::sequential:
      return "sequential";
    case Mode::executor:
      return "executor";
  }
  return "?";
}

Settings parse_flags(int argc, char** argv) {
  Settings settings;
  bool count_given = false;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      std::printf("%s%s", kUsage, kHelp);
      std::exit(0);
    }
    if (flag == "--quiet") {
      settings.quiet = true;
      continue;
    }
    if (flag.rfind("-", 0) != 0) {
      settings.urls.push_back(flag);
      continue;
    }
    if (!takes_value(flag)) usage_error("unknown flag '" + flag + "'");
    if (i + 1 >= argc) usage_error(flag + " needs a value");
    const std::string value = argv[++i];
    if (flag == "--mode") {
      settings.mode = parse_mode(value);
    } else if (flag == "--count") {
      settings.count = parse_number(flag, value, 1, 1000000);
      count_given = true;
    } else if (flag == "--concurrency") {
      settings.concurrency = parse_number(flag, value, 1, 100000);
    } else if (flag == "--timeout") {
      settings.timeout = std::chrono::milliseconds(parse_number(flag, value, 1, 86400000));
    } else if (flag == "--compare") {
      settings.compare = parse_list(value);
    } else if (flag == "--plot") {
      if (value.empty()) usage_error("--plot needs a file name");
      settings.plot = value;
    } else {
      try {
        settings.backend = ringloop::io::parse_backend_kind(value);
      } catch (const std::invalid_argument&) {
        usage_error("--backend must be uring or epoll, got '" + value + "'");
      }
    }
  }
  if (settings.urls.empty()) usage_error("no URL given");
  if (!settings.plot.empty() && settings.compare.empty()) usage_error("--plot needs --compare");
  if (!settings.compare.empty()) {
    if (settings.urls.size() != 1) usage_error("--compare takes exactly one URL");
    if (count_given) usage_error("--count does not apply to --compare (its list gives counts)");
  }
  return settings;
}

}  // namespace fetch
