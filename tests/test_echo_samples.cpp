// The echo_server and echo_client samples as processes, on each backend: the server's
// "listening on" line with the port it picked, echoes of several sizes (up to 1 MiB) and on
// several connections at once over plain sockets, echo_client's one output line against it with
// errors=0, exit 0 on SIGTERM and on SIGINT with connections open (and those connections closed),
// exit 1 when the port is taken or nobody listens, exit 2 with a message for bad flags, and
// echo_client counting the errors of a server that corrupts its echoes. A process that hangs is
// killed after a few seconds and fails the test instead of hanging it. Throughput is printed by
// bench/run_echo.py, never asserted here.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "support/descriptors.hpp"
#include "support/line_format.hpp"
#include "support/loop_fixture.hpp"

extern char** environ;

namespace ringloop::testing {
namespace {

using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

constexpr auto kStartTimeout = 10s;  // generous: sanitizer builds start slowly
constexpr auto kExitTimeout = 5s;    // after a signal, or for a short echo_client run
constexpr auto kEchoTimeout = 10s;

const std::string kServer = RINGLOOP_SAMPLES_DIR "/echo_server";
const std::string kClient = RINGLOOP_SAMPLES_DIR "/echo_client";

/// How a child process ended.
struct ExitStatus {
  bool timed_out = false;  ///< it did not end in time and was killed with SIGKILL
  int code = -1;           ///< the exit code, -1 when it did not exit normally
  int signal = 0;          ///< the signal that ended it, 0 when it exited
};

std::string describe(const ExitStatus& status) {
  if (status.timed_out) return "hung (killed after the timeout)";
  if (status.signal != 0) return "killed by signal " + std::to_string(status.signal);
  return "exit " + std::to_string(status.code);
}

/// A program started with posix_spawn, its stdout and stderr on pipes. The destructor kills and
/// reaps it if it is still running, so a failed assertion leaves no process behind.
class ChildProcess {
 public:
  ChildProcess(const std::string& program, const std::vector<std::string>& arguments) {
    int out[2];
    int err[2];
    if (::pipe2(out, O_CLOEXEC) != 0) return;
    stdout_ = Fd(out[0]);
    Fd out_write(out[1]);
    if (::pipe2(err, O_CLOEXEC) != 0) return;
    stderr_ = Fd(err[0]);
    Fd err_write(err[1]);

    posix_spawn_file_actions_t actions;
    ::posix_spawn_file_actions_init(&actions);
    ::posix_spawn_file_actions_adddup2(&actions, out_write.get(), STDOUT_FILENO);
    ::posix_spawn_file_actions_adddup2(&actions, err_write.get(), STDERR_FILENO);
    // A clean start whatever this process did: the loop under test ignores SIGPIPE, and an
    // ignored disposition or a blocked signal would carry over through exec.
    posix_spawnattr_t attributes;
    ::posix_spawnattr_init(&attributes);
    sigset_t defaults;
    sigemptyset(&defaults);
    sigaddset(&defaults, SIGPIPE);
    sigaddset(&defaults, SIGINT);
    sigaddset(&defaults, SIGTERM);
    ::posix_spawnattr_setsigdefault(&attributes, &defaults);
    sigset_t none;
    sigemptyset(&none);
    ::posix_spawnattr_setsigmask(&attributes, &none);
    ::posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);

    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(program.c_str()));
    for (const std::string& argument : arguments)
      argv.push_back(const_cast<char*>(argument.c_str()));
    argv.push_back(nullptr);
    pid_t pid = -1;
    const int failed =
        ::posix_spawn(&pid, program.c_str(), &actions, &attributes, argv.data(), environ);
    ::posix_spawnattr_destroy(&attributes);
    ::posix_spawn_file_actions_destroy(&actions);
    if (failed == 0) pid_ = pid;
  }
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  ~ChildProcess() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      int ignored = 0;
      ::waitpid(pid_, &ignored, 0);
    }
  }

  [[nodiscard]] bool started() const { return pid_ > 0; }

  void send_signal(int signal_number) const {
    if (pid_ > 0) ::kill(pid_, signal_number);
  }

  /// The next line on its stdout (without the newline); nullopt at end of stream or timeout.
  std::optional<std::string> read_stdout_line(std::chrono::milliseconds timeout) {
    const auto deadline = SteadyClock::now() + timeout;
    for (;;) {
      const std::size_t newline = stdout_text_.find('\n');
      if (newline != std::string::npos) {
        std::string line = stdout_text_.substr(0, newline);
        stdout_text_.erase(0, newline + 1);
        return line;
      }
      if (!read_some(stdout_, stdout_text_, deadline)) return std::nullopt;
    }
  }

  /// Everything left on its stdout and stderr until it closes them, then its exit. Kills it with
  /// SIGKILL if either takes longer than `timeout`.
  ExitStatus finish(std::chrono::milliseconds timeout) {
    const auto deadline = SteadyClock::now() + timeout;
    while (stdout_.get() >= 0 || stderr_.get() >= 0) {
      pollfd fds[2] = {{stdout_.get(), POLLIN, 0}, {stderr_.get(), POLLIN, 0}};
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now());
      if (left.count() <= 0) break;
      if (::poll(fds, 2, static_cast<int>(left.count())) < 0 && errno != EINTR) break;
      if (fds[0].revents != 0) drain_into(stdout_, stdout_text_);
      if (fds[1].revents != 0) drain_into(stderr_, stderr_text_);
    }
    return wait_for_exit(deadline);
  }

  /// What it wrote on stdout that read_stdout_line() has not returned, and on stderr (complete
  /// after finish()).
  [[nodiscard]] const std::string& stdout_text() const { return stdout_text_; }
  [[nodiscard]] const std::string& stderr_text() const { return stderr_text_; }

 private:
  // One read into `text`; false at end of stream, on error or past the deadline.
  static bool read_some(Fd& pipe, std::string& text, SteadyClock::time_point deadline) {
    if (pipe.get() < 0) return false;
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now());
    if (left.count() <= 0) return false;
    pollfd fd{pipe.get(), POLLIN, 0};
    if (::poll(&fd, 1, static_cast<int>(left.count())) <= 0) return false;
    return drain_into(pipe, text);
  }

  // Reads once; closes the pipe at end of stream. False when nothing more will come.
  static bool drain_into(Fd& pipe, std::string& text) {
    char chunk[4096];
    const ssize_t got = ::read(pipe.get(), chunk, sizeof chunk);
    if (got > 0) {
      text.append(chunk, static_cast<std::size_t>(got));
      return true;
    }
    if (got < 0 && errno == EINTR) return true;
    pipe.reset();
    return false;
  }

  ExitStatus wait_for_exit(SteadyClock::time_point deadline) {
    ExitStatus status;
    if (pid_ <= 0) return status;
    int raw = 0;
    for (;;) {
      const pid_t reaped = ::waitpid(pid_, &raw, WNOHANG);
      if (reaped == pid_) break;
      if (reaped < 0 && errno != EINTR) return status;
      if (SteadyClock::now() >= deadline) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &raw, 0);
        status.timed_out = true;
        break;
      }
      std::this_thread::sleep_for(5ms);
    }
    pid_ = -1;
    if (WIFEXITED(raw)) status.code = WEXITSTATUS(raw);
    if (WIFSIGNALED(raw)) status.signal = WTERMSIG(raw);
    return status;
  }

  pid_t pid_ = -1;
  Fd stdout_;
  Fd stderr_;
  std::string stdout_text_;
  std::string stderr_text_;
};

/// The value of `key=` in echo_client's line, or -1.
double field(const std::string& line, const std::string& key) {
  const std::size_t at = line.find(key + "=");
  if (at == std::string::npos) return -1;
  return std::strtod(line.c_str() + at + key.size() + 1, nullptr);
}

/// The port in "listening on 127.0.0.1:PORT (backend: NAME)", or 0.
std::uint16_t port_of(const std::string& line) {
  const std::size_t colon = line.find(':');
  if (colon == std::string::npos) return 0;
  return static_cast<std::uint16_t>(std::strtoul(line.c_str() + colon + 1, nullptr, 10));
}

/// A blocking TCP socket connected to 127.0.0.1:`port`, or an empty Fd.
Fd connect_to(std::uint16_t port) {
  Fd socket(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(socket.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    return Fd();
  }
  return socket;
}

std::vector<std::byte> message_of(std::size_t size, std::uint32_t seed) {
  std::vector<std::byte> bytes(size);
  std::uint32_t state = seed | 1u;
  for (std::byte& value : bytes) {
    state = state * 1664525u + 1013904223u;
    value = static_cast<std::byte>(state >> 24);
  }
  return bytes;
}

/// Sends messages[i] on sockets[i] and reads as many bytes back from each, interleaving sends
/// and receives with poll() so that neither side blocks on a full buffer (the sockets stay
/// blocking; each call passes MSG_DONTWAIT). Gives what came back on each socket.
std::vector<std::vector<std::byte>> echo_through(
    const std::vector<int>& sockets, const std::vector<std::vector<std::byte>>& messages) {
  const std::size_t count = sockets.size();
  std::vector<std::vector<std::byte>> received(count);
  std::vector<std::size_t> sent(count, 0);
  std::vector<bool> ended(count, false);
  const auto deadline = SteadyClock::now() + kEchoTimeout;
  for (;;) {
    std::vector<pollfd> fds;
    bool busy = false;
    for (std::size_t i = 0; i < count; ++i) {
      short events = 0;
      if (!ended[i] && received[i].size() < messages[i].size()) events |= POLLIN;
      if (!ended[i] && sent[i] < messages[i].size()) events |= POLLOUT;
      fds.push_back({events != 0 ? sockets[i] : -1, events, 0});
      busy = busy || events != 0;
    }
    if (!busy || SteadyClock::now() >= deadline) break;
    if (::poll(fds.data(), fds.size(), 100) < 0 && errno != EINTR) break;
    for (std::size_t i = 0; i < count; ++i) {
      if (fds[i].revents & POLLOUT) {
        const ssize_t put = ::send(sockets[i], messages[i].data() + sent[i],
                                   messages[i].size() - sent[i], MSG_DONTWAIT | MSG_NOSIGNAL);
        if (put > 0) sent[i] += static_cast<std::size_t>(put);
        if (put < 0 && errno != EAGAIN && errno != EINTR) ended[i] = true;
      }
      if (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) {
        std::byte chunk[64 * 1024];
        const ssize_t got = ::recv(sockets[i], chunk, sizeof chunk, MSG_DONTWAIT);
        if (got > 0) received[i].insert(received[i].end(), chunk, chunk + got);
        if (got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR)) ended[i] = true;
      }
    }
  }
  return received;
}

/// echo_through() on one socket.
std::vector<std::byte> echo_through(int socket, const std::vector<std::byte>& message) {
  return echo_through(std::vector<int>{socket}, std::vector<std::vector<std::byte>>{message})[0];
}

/// What a blocking recv() on `socket` gives within a few seconds: 0 at end of stream, -errno on
/// error, 1 if bytes arrived, -ETIMEDOUT if nothing happened.
int next_event(int socket) {
  pollfd fd{socket, POLLIN, 0};
  if (::poll(&fd, 1, 5000) <= 0) return -ETIMEDOUT;
  char byte;
  const ssize_t got = ::recv(socket, &byte, 1, MSG_DONTWAIT);
  if (got < 0) return -errno;
  return got == 0 ? 0 : 1;
}

class EchoSamples : public LoopTest {
 protected:
  [[nodiscard]] std::string backend() const { return std::string(io::backend_name(GetParam())); }

  /// Starts echo_server on a free port and reads its first line; the port, or 0 on failure.
  std::uint16_t start_server(std::optional<ChildProcess>& server,
                             const std::vector<std::string>& extra_flags = {}) {
    std::vector<std::string> flags{"--host", "127.0.0.1", "--port", "0", "--backend", backend()};
    flags.insert(flags.end(), extra_flags.begin(), extra_flags.end());
    server.emplace(kServer, flags);
    EXPECT_TRUE(server->started()) << "cannot start " << kServer;
    const std::optional<std::string> line = server->read_stdout_line(kStartTimeout);
    if (!line) {
      ADD_FAILURE() << "no 'listening on' line; stderr: "
                    << (server->finish(kExitTimeout), server->stderr_text());
      return 0;
    }
    EXPECT_TRUE(fits(*line, "listening on 127.0.0.1:* (backend: " + backend() + ")")) << *line;
    const std::uint16_t port = port_of(*line);
    EXPECT_NE(port, 0) << *line;
    return port;
  }

  /// Runs echo_client against `port`; its stdout lines, its stderr and how it ended.
  struct ClientRun {
    std::string stdout_text;
    std::string stderr_text;
    ExitStatus status;
  };
  ClientRun run_client(std::uint16_t port, const std::string& connections, const std::string& size,
                       const std::string& duration) {
    ChildProcess client(
        kClient, {"--host", "127.0.0.1", "--port", std::to_string(port), "--conns", connections,
                  "--size", size, "--duration", duration, "--backend", backend()});
    EXPECT_TRUE(client.started()) << "cannot start " << kClient;
    ClientRun run;
    run.status = client.finish(kStartTimeout + kExitTimeout);
    run.stdout_text = client.stdout_text();
    run.stderr_text = client.stderr_text();
    return run;
  }

  /// Sends `signal_number` to the server and expects exit 0 within kExitTimeout.
  static void expect_clean_stop(ChildProcess& server, int signal_number) {
    server.send_signal(signal_number);
    const ExitStatus status = server.finish(kExitTimeout);
    EXPECT_FALSE(status.timed_out) << "echo_server hung after signal " << signal_number;
    EXPECT_EQ(status.code, 0) << describe(status) << "; stderr: " << server.stderr_text();
  }
};

constexpr const char* kClientLine = "reqs_per_s=*.# mib_per_s=*.## p50_us=*.# p99_us=*.# errors=*";

TEST_P(EchoSamples, ServerPrintsItsPortAndEchoesEverySizeUpToOneMebibyte) {
  std::optional<ChildProcess> server;
  const std::uint16_t port = start_server(server);
  ASSERT_NE(port, 0);
  Fd connection = connect_to(port);
  ASSERT_GE(connection.get(), 0) << "cannot connect to port " << port;

  const std::size_t sizes[] = {1, 100, 4096, 64 * 1024 + 1, 1024 * 1024};
  std::uint32_t seed = 1;
  for (const std::size_t size : sizes) {
    const std::vector<std::byte> message = message_of(size, seed++);
    const std::vector<std::byte> echo = echo_through(connection.get(), message);
    ASSERT_EQ(echo.size(), size) << "short echo of " << size << " bytes";
    EXPECT_TRUE(echo == message) << "echo of " << size << " bytes differs";
  }
  expect_clean_stop(*server, SIGTERM);
}

// A tiny ring of small buffers (io_uring; epoll ignores the flags): a 1 MiB message spans hundreds
// of buffers, bursts go back gathered, the ring runs dry and refills; every byte comes back.
TEST_P(EchoSamples, ServerWithATinyReceiveRingEchoesEveryByte) {
  std::optional<ChildProcess> server;
  const std::uint16_t port =
      start_server(server, {"--receive-buffers", "4", "--receive-buffer-size", "1024"});
  ASSERT_NE(port, 0);
  Fd connection = connect_to(port);
  ASSERT_GE(connection.get(), 0) << "cannot connect to port " << port;
  const std::size_t sizes[] = {1, 1500, 64 * 1024 + 1, 1024 * 1024};
  std::uint32_t seed = 7;
  for (const std::size_t size : sizes) {
    const std::vector<std::byte> message = message_of(size, seed++);
    const std::vector<std::byte> echo = echo_through(connection.get(), message);
    ASSERT_EQ(echo.size(), size) << "short echo of " << size << " bytes";
    EXPECT_TRUE(echo == message) << "echo of " << size << " bytes differs";
  }
  expect_clean_stop(*server, SIGTERM);
}

TEST_P(EchoSamples, ServerEchoesSeveralConnectionsAtOnceEachItsOwnBytes) {
  std::optional<ChildProcess> server;
  const std::uint16_t port = start_server(server);
  ASSERT_NE(port, 0);
  std::vector<Fd> connections;
  std::vector<int> sockets;
  for (int i = 0; i < 4; ++i) {
    connections.push_back(connect_to(port));
    ASSERT_GE(connections.back().get(), 0);
    sockets.push_back(connections.back().get());
  }
  // Different bytes on every connection: crossed streams would show.
  for (std::size_t round = 0; round < 3; ++round) {
    std::vector<std::vector<std::byte>> messages;
    for (std::size_t i = 0; i < sockets.size(); ++i) {
      messages.push_back(message_of(200 * 1024, static_cast<std::uint32_t>(round * 10 + i + 7)));
    }
    // One connection at a time while the others stay open, then all of them at once.
    for (std::size_t i = 0; i < sockets.size(); ++i) {
      const std::vector<std::byte> echo = echo_through(sockets[i], messages[i]);
      ASSERT_EQ(echo.size(), messages[i].size());
      EXPECT_TRUE(echo == messages[i]) << "connection " << i << " round " << round;
    }
    const auto together = echo_through(sockets, messages);
    for (std::size_t i = 0; i < sockets.size(); ++i) {
      ASSERT_EQ(together[i].size(), messages[i].size()) << "connection " << i << " (concurrent)";
      EXPECT_TRUE(together[i] == messages[i]) << "connection " << i << " (concurrent)";
    }
  }
  expect_clean_stop(*server, SIGTERM);
}

TEST_P(EchoSamples, ClientAgainstServerPrintsOneLineWithNoErrors) {
  std::optional<ChildProcess> server;
  const std::uint16_t port = start_server(server);
  ASSERT_NE(port, 0);
  struct Load {
    const char* connections;
    const char* size;
  };
  for (const Load load : {Load{"4", "1024"}, Load{"2", "100000"}}) {
    const ClientRun run = run_client(port, load.connections, load.size, "0.5");
    EXPECT_FALSE(run.status.timed_out) << "echo_client hung";
    EXPECT_EQ(run.status.code, 0) << describe(run.status) << "; stderr: " << run.stderr_text;
    ASSERT_FALSE(run.stdout_text.empty()) << "stderr: " << run.stderr_text;
    ASSERT_EQ(run.stdout_text.back(), '\n');
    const std::string line = run.stdout_text.substr(0, run.stdout_text.size() - 1);
    EXPECT_EQ(line.find('\n'), std::string::npos) << "more than one line: " << run.stdout_text;
    EXPECT_TRUE(fits(line, kClientLine)) << line;
    EXPECT_EQ(field(line, "errors"), 0) << line;
    EXPECT_GT(field(line, "reqs_per_s"), 0) << line;
    EXPECT_GT(field(line, "mib_per_s"), 0) << line;
    EXPECT_GT(field(line, "p50_us"), 0) << line;
    EXPECT_GE(field(line, "p99_us"), field(line, "p50_us")) << line;
  }
  expect_clean_stop(*server, SIGTERM);
}

/// Open connections (one idle, one that has echoed, one with a half-sent message), a signal:
/// the server exits 0 and every connection reads its end.
void stop_with_open_connections(std::uint16_t port, ChildProcess& server, int signal_number) {
  Fd idle = connect_to(port);
  Fd used = connect_to(port);
  Fd partial = connect_to(port);
  ASSERT_GE(idle.get(), 0);
  ASSERT_GE(used.get(), 0);
  ASSERT_GE(partial.get(), 0);
  const std::vector<std::byte> message = message_of(1000, 3);
  ASSERT_TRUE(echo_through(used.get(), message) == message);
  ASSERT_EQ(::send(partial.get(), message.data(), 10, MSG_NOSIGNAL), 10);
  // The 10 bytes come back before the signal, so the server is inside that connection's loop.
  ASSERT_EQ(next_event(partial.get()), 1);

  server.send_signal(signal_number);
  const ExitStatus status = server.finish(kExitTimeout);
  EXPECT_FALSE(status.timed_out) << "echo_server hung after signal " << signal_number;
  EXPECT_EQ(status.code, 0) << describe(status) << "; stderr: " << server.stderr_text();
  for (const int socket : {idle.get(), used.get()}) {
    const int event = next_event(socket);
    EXPECT_TRUE(event == 0 || event == -ECONNRESET) << "after the signal: " << event;
  }
}

TEST_P(EchoSamples, SigtermWithConnectionsOpenExitsZeroAndClosesThem) {
  std::optional<ChildProcess> server;
  const std::uint16_t port = start_server(server);
  ASSERT_NE(port, 0);
  stop_with_open_connections(port, *server, SIGTERM);
}

TEST_P(EchoSamples, SigintWithConnectionsOpenExitsZeroAndClosesThem) {
  std::optional<ChildProcess> server;
  const std::uint16_t port = start_server(server);
  ASSERT_NE(port, 0);
  stop_with_open_connections(port, *server, SIGINT);
}

TEST_P(EchoSamples, SignalBeforeAnyConnectionStillExitsZero) {
  std::optional<ChildProcess> server;
  const std::uint16_t port = start_server(server);
  ASSERT_NE(port, 0);
  expect_clean_stop(*server, SIGINT);
}

/// A listening socket of this process on 127.0.0.1 with a kernel-chosen port.
Fd listening_socket(bool listen, std::uint16_t* port) {
  Fd socket(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  if (::bind(socket.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0 ||
      (listen && ::listen(socket.get(), 16) != 0) ||
      ::getsockname(socket.get(), reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    return Fd();
  }
  *port = ntohs(address.sin_port);
  return socket;
}

TEST_P(EchoSamples, ServerExitsOneWhenItsPortIsTaken) {
  std::uint16_t port = 0;
  const Fd taken = listening_socket(true, &port);
  ASSERT_GE(taken.get(), 0);
  ChildProcess server(kServer, {"--port", std::to_string(port), "--backend", backend()});
  const ExitStatus status = server.finish(kStartTimeout);
  EXPECT_EQ(status.code, 1) << describe(status);
  EXPECT_NE(server.stderr_text().find("in use"), std::string::npos) << server.stderr_text();
  EXPECT_EQ(server.stdout_text(), "");
}

TEST_P(EchoSamples, ClientExitsNonZeroWhenNobodyListens) {
  std::uint16_t port = 0;
  // Bound, not listening: the port is ours and a connection to it is refused.
  const Fd reserved = listening_socket(false, &port);
  ASSERT_GE(reserved.get(), 0);
  const ClientRun run = run_client(port, "2", "100", "0.2");
  EXPECT_FALSE(run.status.timed_out);
  EXPECT_EQ(run.status.code, 1) << describe(run.status);
  EXPECT_NE(run.stderr_text.find("cannot connect"), std::string::npos) << run.stderr_text;
  EXPECT_EQ(run.stdout_text, "");
}

// A server that flips the first byte of every chunk it echoes, on the loop under test.
Task<> echo_corrupted(TcpListener* listener) {
  auto accepting = listener->accept();
  TcpStream stream = co_await accepting;
  std::vector<std::byte> buffer(64 * 1024);
  for (;;) {
    auto reading = stream.read_some(buffer);
    const std::size_t received = co_await reading;
    if (received == 0) break;
    buffer[0] ^= std::byte{0xff};
    auto writing = stream.write_all(std::span<const std::byte>(buffer.data(), received));
    co_await writing;
  }
  co_await stream.close();
}

TEST_P(EchoSamples, ClientCountsCorruptedEchoesAsErrorsAndExitsOne) {
  TcpListener listener = TcpListener::bind(SocketAddress::loopback(0));
  const std::uint16_t port = listener.local_address().port();
  ChildProcess client(kClient, {"--port", std::to_string(port), "--conns", "1", "--size", "512",
                                "--duration", "0.2", "--backend", backend()});
  ASSERT_TRUE(client.started());
  run(wait_for(echo_corrupted(&listener), kStartTimeout + kExitTimeout));
  run(listener.close());
  const ExitStatus status = client.finish(kExitTimeout);
  EXPECT_EQ(status.code, 1) << describe(status) << "; stderr: " << client.stderr_text();
  const std::string& output = client.stdout_text();
  ASSERT_FALSE(output.empty());
  const std::string line = output.substr(0, output.size() - 1);
  EXPECT_TRUE(fits(line, kClientLine)) << line;
  EXPECT_GT(field(line, "errors"), 0) << line;
}

/// Runs `program` with `arguments`; its exit status and stderr.
std::pair<ExitStatus, std::string> run_for_stderr(const std::string& program,
                                                  const std::vector<std::string>& arguments) {
  ChildProcess child(program, arguments);
  const ExitStatus status = child.finish(kStartTimeout);
  return {status, child.stderr_text()};
}

TEST_P(EchoSamples, BadFlagsExitTwoWithAMessageOnStderr) {
  struct Case {
    const std::string* program;
    std::vector<std::string> arguments;
    const char* mentions;
  };
  const Case cases[] = {
      {&kServer, {"--port", "abc"}, "--port"},
      {&kServer, {"--port", "70000"}, "--port"},
      {&kServer, {"--port", "-1"}, "--port"},
      {&kServer, {"--port"}, "--port"},
      {&kServer, {"--backend", "kqueue"}, "--backend"},
      {&kServer, {"--bogus", "1"}, "unknown flag"},
      {&kServer, {"--host", ""}, "--host"},
      {&kClient, {"--conns", "0"}, "--conns"},
      {&kClient, {"--size", "0"}, "--size"},
      {&kClient, {"--size", "12k"}, "--size"},
      {&kClient, {"--duration", "0"}, "--duration"},
      {&kClient, {"--duration", "-1"}, "--duration"},
      {&kClient, {"--duration", "soon"}, "--duration"},
      {&kClient, {"--port", "0"}, "--port"},
      {&kClient, {"--backend", "select"}, "--backend"},
      {&kClient, {"--verbose"}, "unknown flag"},
  };
  for (const Case& bad : cases) {
    std::string shown = *bad.program;
    for (const std::string& argument : bad.arguments)
      shown += " '" + argument + "'";
    const auto [status, errors] = run_for_stderr(*bad.program, bad.arguments);
    EXPECT_EQ(status.code, 2) << shown << ": " << describe(status);
    EXPECT_NE(errors.find(bad.mentions), std::string::npos) << shown << ": " << errors;
    EXPECT_NE(errors.find("usage:"), std::string::npos) << shown << ": " << errors;
  }
}

TEST(EchoSamplesFormat, FitsChecksTheClientLine) {
  EXPECT_TRUE(
      fits("reqs_per_s=45506.5 mib_per_s=44.44 p50_us=82.6 p99_us=186.3 errors=0", kClientLine));
  EXPECT_FALSE(
      fits("reqs_per_s=45506.5 mib_per_s=44.4 p50_us=82.6 p99_us=186.3 errors=0", kClientLine));
  EXPECT_FALSE(
      fits("reqs_per_s=nan mib_per_s=44.44 p50_us=82.6 p99_us=186.3 errors=0", kClientLine));
  EXPECT_EQ(field("reqs_per_s=1.5 errors=3", "errors"), 3);
  EXPECT_EQ(port_of("listening on 127.0.0.1:4242 (backend: epoll)"), 4242);
}

RINGLOOP_ON_BOTH_BACKENDS(EchoSamples);

}  // namespace
}  // namespace ringloop::testing
