// A TCP echo server: every byte received on a connection is sent back on it.
//
//   ./echo_server [--host 127.0.0.1] [--port 8888] [--backend uring|epoll]
//                 [--read-mode receive|copy] [--receive-buffers COUNT]
//                 [--receive-buffer-size BYTES]
//
// Once it accepts connections it prints, and flushes, one line:
//
//   listening on 127.0.0.1:PORT (backend: NAME)
//
// NAME is "uring" or "epoll"; when io_uring could not run here it also says why, e.g.
// "epoll; io_uring unavailable: io_uring_setup: Operation not permitted".
//
// `--port 0` lets the kernel pick a free port; the line gives it. `--host` takes a numeric IPv4 or
// IPv6 address, or a name (resolved with resolve(), first address). Without `--backend` the loop
// chooses (RINGLOOP_BACKEND, else io_uring when it runs here, else epoll).
//
// Structure: start_server() accepts and gives each connection a task of its own that reads what is
// there and writes it back (write_all), with TCP_NODELAY so small echoes leave at once. The default
// `--read-mode receive` takes each arrival as a buffer the loop lends (receive(): on io_uring a
// provided-buffer ring buffer, no copy) and gives it back once sent, so an idle connection holds no
// buffer. `--read-mode copy` reads with read_some into a 256 KiB vector of its own per connection,
// as earlier versions did (for comparison: it costs that vector per idle connection). In receive
// mode a burst that filled several buffers goes back in one gathered send (try_receive() takes
// what is already queued, write_all_vectored() sends it). `--receive-buffers` and
// `--receive-buffer-size` size the io_uring provided-buffer ring (BackendOptions; the defaults
// otherwise), for benchmarks that sweep them.
//
// SIGINT and SIGTERM stop it: they are blocked before the loop exists (so every thread inherits
// the mask) and read from a signalfd by a task. That task cancels serve_forever(), which closes
// the server: the accept task and every connection task are cancelled and waited for (each
// connection's socket is closed as its task unwinds); then the listener is closed and the program
// exits 0.
//
// Exit status: 0 after SIGINT/SIGTERM, 1 when it cannot listen or fails, 2 for bad flags.

#include <sys/signalfd.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <csignal>
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

struct Settings {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8888;
  std::optional<ringloop::io::BackendKind> backend;
  bool copy_mode = false;  // --read-mode copy
  ringloop::io::BackendOptions backend_options;
};

// --read-mode copy: per connection; larger messages simply take several reads.
constexpr std::size_t kBufferSize = 256 * 1024;

constexpr const char* kUsage =
    "usage: echo_server [--host HOST] [--port PORT] [--backend uring|epoll] "
    "[--read-mode receive|copy]\n"
    "                   [--receive-buffers COUNT] [--receive-buffer-size BYTES]\n";

[[noreturn]] void usage_error(const std::string& message) {
  if (!message.empty()) std::fprintf(stderr, "echo_server: %s\n", message.c_str());
  std::fprintf(stderr, "%s", kUsage);
  std::exit(2);
}

std::uint16_t parse_port(const char* text) {
  char* end = nullptr;
  errno = 0;
  const unsigned long value = std::strtoul(text, &end, 10);
  if (*text == '\0' || *text == '-' || *end != '\0' || errno != 0 || value > 65535) {
    usage_error(std::string("--port needs a number from 0 to 65535, got '") + text + "'");
  }
  return static_cast<std::uint16_t>(value);
}

// A whole number from `low` to `high` for `flag`, else a usage error.
std::uint32_t parse_count(const std::string& flag, const char* text, unsigned long low,
                          unsigned long high) {
  char* end = nullptr;
  errno = 0;
  const unsigned long value = std::strtoul(text, &end, 10);
  if (*text == '\0' || *text == '-' || *end != '\0' || errno != 0 || value < low || value > high) {
    usage_error(flag + " needs a number from " + std::to_string(low) + " to " +
                std::to_string(high) + ", got '" + text + "'");
  }
  return static_cast<std::uint32_t>(value);
}

Settings parse_flags(int argc, char** argv) {
  Settings settings;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      std::printf("%s", kUsage);
      std::printf(
          "  --read-mode receive  take each arrival as a buffer the loop lends (default)\n"
          "  --read-mode copy     read into a 256 KiB buffer per connection (for comparison)\n"
          "  --receive-buffers COUNT      io_uring provided buffers per loop (1-32768)\n"
          "  --receive-buffer-size BYTES  bytes per provided buffer (1024-16777216)\n");
      std::exit(0);
    }
    if (flag != "--host" && flag != "--port" && flag != "--backend" && flag != "--read-mode" &&
        flag != "--receive-buffers" && flag != "--receive-buffer-size") {
      usage_error("unknown flag '" + flag + "'");
    }
    if (i + 1 >= argc) usage_error(flag + " needs a value");
    const char* value = argv[++i];
    if (flag == "--host") {
      if (*value == '\0') usage_error("--host needs a non-empty value");
      settings.host = value;
    } else if (flag == "--port") {
      settings.port = parse_port(value);
    } else if (flag == "--read-mode") {
      const std::string mode = value;
      if (mode != "receive" && mode != "copy") {
        usage_error("--read-mode must be receive or copy, got '" + mode + "'");
      }
      settings.copy_mode = mode == "copy";
    } else if (flag == "--receive-buffers") {
      settings.backend_options.receive_buffer_count = parse_count(flag, value, 1, 32768);
    } else if (flag == "--receive-buffer-size") {
      settings.backend_options.receive_buffer_size = parse_count(flag, value, 1024, 16 << 20);
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

bool is_disconnection(const std::system_error& error) {
  const int code = error.code().value();
  return code == ECONNRESET || code == EPIPE || code == ETIMEDOUT || code == ECONNABORTED;
}

// Loaned buffers one gathered send takes at most.
constexpr std::size_t kGatheredBuffers = 8;

// Sends `first` and what else is already queued (up to kGatheredBuffers) in one gathered send. A
// coroutine of its own, so the arrays live only while a burst is sent: an idle connection's frame
// stays small.
ringloop::Task<> echo_burst(ringloop::TcpStream* stream, ringloop::ReceivedBytes first) {
  std::array<ringloop::ReceivedBytes, kGatheredBuffers> held;
  std::array<std::span<const std::byte>, kGatheredBuffers> pieces;
  held[0] = std::move(first);
  std::size_t count = 1;
  while (count < kGatheredBuffers) {
    held[count] = stream->try_receive();
    if (held[count].empty()) break;
    ++count;
  }
  for (std::size_t i = 0; i < count; ++i)
    pieces[i] = held[i].bytes();
  auto writing = stream->write_all_vectored(std::span(pieces.data(), count));
  co_await writing;
}

// --read-mode copy: a buffer of the connection's own, as earlier versions did.
ringloop::Task<> echo_copied(ringloop::TcpStream* stream) {
  std::vector<std::byte> buffer(kBufferSize);
  for (;;) {
    auto reading = stream->read_some(buffer);
    const std::size_t received = co_await reading;
    if (received == 0) break;
    auto writing = stream->write_all(std::span<const std::byte>(buffer.data(), received));
    co_await writing;
  }
}

bool copy_mode = false;  // set from --read-mode before the loop starts

// One connection: echo until the peer closes its side, then close ours. A peer that resets is
// simply dropped; no failure leaves this task (it would stop the whole group).
//
// --read-mode receive runs right here, not in a coroutine of its own, so an idle connection keeps
// one frame fewer: each arrival is a loaned buffer, sent back and then given back; buffers
// already queued behind it go in the same send.
ringloop::Task<> echo_connection(ringloop::TcpStream stream) {
  try {
    stream.set_nodelay(true);
    if (copy_mode) {
      auto echoing = echo_copied(&stream);
      co_await echoing;
    } else {
      for (;;) {
        auto receiving = stream.receive();
        ringloop::ReceivedBytes received = co_await receiving;
        if (received.empty()) break;
        if (stream.read_buffer_size() == 0) {
          auto writing = stream.write_all(received.bytes());
          co_await writing;
        } else {
          auto echoing = echo_burst(&stream, std::move(received));
          co_await echoing;
        }
      }
    }
    auto closing = stream.close();
    co_await closing;
  } catch (const std::system_error& error) {
    if (!is_disconnection(error)) std::fprintf(stderr, "echo_server: %s\n", error.what());
  } catch (const std::exception& error) {
    std::fprintf(stderr, "echo_server: connection dropped: %s\n", error.what());
  }
}

// Waits for SIGINT or SIGTERM on `signal_fd`, then cancels `serving`.
ringloop::Task<> cancel_on_signal(int signal_fd, ringloop::TaskRef serving, int* signal_number) {
  signalfd_siginfo info{};
  auto reading = ringloop::ops::read(signal_fd, std::as_writable_bytes(std::span(&info, 1)));
  co_await reading;
  *signal_number = static_cast<int>(info.ssi_signo);
  serving.cancel();
}

// start_server() runs echo_connection in a task per connection; serve_forever() ends when the
// signal task cancels it, after closing the listener and every connection.
ringloop::Task<int> run_server(Settings settings, int signal_fd) {
  auto starting = ringloop::start_server(echo_connection, settings.host, settings.port);
  ringloop::TcpServer server = co_await starting;
  // "(backend: epoll; io_uring unavailable: <why>)" when the automatic choice fell back.
  std::printf("listening on %s (backend: %s)\n", server.address().to_string().c_str(),
              ringloop::Loop::current().backend_description().c_str());
  std::fflush(stdout);

  auto serving = ringloop::spawn(server.serve_forever(), "serve");
  int signal_number = 0;
  auto watching = ringloop::spawn(cancel_on_signal(signal_fd, serving, &signal_number), "signals");
  try {
    co_await serving;
  } catch (const ringloop::CancelledError&) {
    // The signal task cancelled it: every connection is closed.
  }
  watching.cancel();
  try {
    co_await watching;
  } catch (const ringloop::CancelledError&) {
    // Stopped otherwise than by a signal.
  }
  if (signal_number != 0) {
    std::fprintf(stderr, "echo_server: %s, stopped\n", ::strsignal(signal_number));
  }
  co_return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const Settings settings = parse_flags(argc, argv);
  copy_mode = settings.copy_mode;

  // Before the loop and its threads exist, so that no thread ever takes these signals.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  if (::sigprocmask(SIG_BLOCK, &stop_signals, nullptr) != 0) {
    std::perror("echo_server: sigprocmask");
    return 1;
  }
  const int signal_fd = ::signalfd(-1, &stop_signals, SFD_CLOEXEC);
  if (signal_fd < 0) {
    std::perror("echo_server: signalfd");
    return 1;
  }

  int status = 1;
  try {
    ringloop::LoopOptions options;
    options.backend = settings.backend;
    options.backend_options = settings.backend_options;
    status = ringloop::run(run_server(settings, signal_fd), std::move(options));
  } catch (const std::exception& error) {
    std::fprintf(stderr, "echo_server: %s\n", error.what());
    status = 1;
  }
  ::close(signal_fd);
  return status;
}
