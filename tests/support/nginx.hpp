#pragma once
// NginxServer: a real nginx (Debian's nginx-light and its echo module) started as a child process
// on 127.0.0.1 for the HTTP client's tests, with a config generated into a temporary directory
// (pid file, logs, temp paths and the served files all inside it). One process (`master_process
// off`), so stopping it is one SIGTERM and one waitpid; it runs as root and as non-root alike.
//
// Endpoints of the main server (url(path), port()):
//   /bytes/N       N in body_sizes: expected_body(N), static, with Content-Length
//   /chunked/N     the same N bytes with Transfer-Encoding: chunked (an echo_location subrequest
//                  of /bytes/N: the main response has no length, so nginx chunks it), every N
//   /close/N       as /bytes/N, but "Connection: close" and nginx closes after it
//   /status/404    a missing file (nginx's 404 page)
//   /status/500    `return 500` (nginx answers it with "Connection: close")
//   /delay/50ms    echo_sleep 0.05, then delayed_body ("slept 50ms\n"), chunked
//   /delay/1s      echo_sleep 1, then "slept 1s\n", chunked
//   /redirect/301, /302, /303, /307, /308
//                  that status with "Location: http://127.0.0.1:PORT/bytes/1024"
//   /redirect/loop         302 to itself (absolute Location)
//   /redirect/relative     302 with "Location: /bytes/1024" (absolute_redirect off)
//   /redirect/relative-path 302 with "Location: ../bytes/1024" (a relative path reference)
//   /page          page_body(): a 1 KiB text/html page, with Content-Length
// The short keep-alive server (short_keepalive_url(path), short_keepalive_port()) serves the same
// /bytes/N with `keepalive_timeout 1s`: it closes a connection idle for 1 s.
//
// The access log (both servers, one line per request, written once the response went out) is
// "$server_port $connection $connection_requests "$request" $status": access_log(),
// distinct_connections() and wait_for_access_log() read it.
//
// Without /usr/sbin/nginx or its echo module the tests skip (RINGLOOP_SKIP_WITHOUT_NGINX()), unless
// CI or RINGLOOP_REQUIRE_NGINX=1 is set (scripts/test.sh sets it): then they fail.

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "tcp.hpp"
#include "temporary_directory.hpp"

namespace ringloop::testing {

inline constexpr const char* nginx_binary = "/usr/sbin/nginx";
inline constexpr const char* nginx_echo_module = "/usr/lib/nginx/modules/ngx_http_echo_module.so";

/// The sizes /bytes/N, /chunked/N and /close/N serve.
inline constexpr std::array<std::size_t, 7> nginx_body_sizes = {0,     1,       1023,   1024,
                                                                65536, 1 * MiB, 8 * MiB};

/// The body of /bytes/N: N bytes of tcp.hpp's pattern_byte(offset).
inline std::string expected_body(std::size_t size) {
  std::string body(size, '\0');
  for (std::size_t i = 0; i < size; ++i)
    body[i] = static_cast<char>(pattern_byte(i));
  return body;
}

/// The body of /page: 1024 bytes of HTML.
inline std::string page_body() {
  std::string page = "<!DOCTYPE html>\n<html><head><title>ringloop</title></head><body>\n";
  const std::string tail = "</body></html>\n";
  std::size_t line = 0;
  while (page.size() + tail.size() < 1024) {
    std::string text = "<p>line " + std::to_string(line++) + " of the benchmark page</p>\n";
    page += text.substr(0, 1024 - tail.size() - page.size());
  }
  return page + tail;
}

/// The body of /delay/50ms.
inline constexpr std::string_view delayed_body = "slept 50ms\n";

/// Why nginx cannot run here (binary or echo module missing), or nothing when it can.
inline std::optional<std::string> nginx_unavailable() {
  if (::access(nginx_binary, X_OK) != 0) {
    return std::string(nginx_binary) + " is missing (apt-get install nginx-light)";
  }
  if (::access(nginx_echo_module, R_OK) != 0) {
    return std::string(nginx_echo_module) + " is missing (apt-get install nginx-light)";
  }
  return std::nullopt;
}

/// Whether a missing nginx must fail the test instead of skipping it: in CI (CI set) or with
/// RINGLOOP_REQUIRE_NGINX=1 (scripts/test.sh), where nginx-light is installed.
inline bool nginx_required() {
  const char* ci = std::getenv("CI");
  const char* required = std::getenv("RINGLOOP_REQUIRE_NGINX");
  return (ci && *ci && std::string_view(ci) != "0" && std::string_view(ci) != "false") ||
         (required && std::string_view(required) == "1");
}

/// In a test body or SetUp(): skips the test when nginx is unavailable, fails it instead when
/// nginx_required().
#define RINGLOOP_SKIP_WITHOUT_NGINX()                                               \
  do {                                                                              \
    if (const auto ringloop_nginx_why = ::ringloop::testing::nginx_unavailable()) { \
      if (::ringloop::testing::nginx_required()) {                                  \
        FAIL() << "nginx is required here (CI or RINGLOOP_REQUIRE_NGINX=1) but "    \
               << *ringloop_nginx_why;                                              \
      }                                                                             \
      GTEST_SKIP() << *ringloop_nginx_why;                                          \
    }                                                                               \
  } while (false)

/// One line of the access log.
struct AccessLogEntry {
  std::uint16_t server_port = 0;          ///< which server answered ($server_port)
  std::uint64_t connection = 0;           ///< $connection: the TCP connection's serial number
  std::uint64_t connection_requests = 0;  ///< $connection_requests: 1 for a connection's first
  std::string request;                    ///< $request: "GET /bytes/1 HTTP/1.1"
  int status = 0;                         ///< $status
};

/// A running nginx. Construction writes the files and the config, starts nginx and waits until
/// both servers accept connections (throws std::runtime_error with nginx's error log if it
/// cannot); destruction stops it (SIGTERM, then SIGKILL after 5 s; always reaped) and removes the
/// directory. Holds no descriptor of its own between calls (fixtures' leak checks stay exact).
class NginxServer {
 public:
  NginxServer() {
    if (const auto why = nginx_unavailable()) throw std::runtime_error(*why);
    write_files();
    std::string failure;
    for (int attempt = 0; attempt < 5; ++attempt) {
      port_ = free_port();
      short_keepalive_port_ = free_port();
      if (port_ == short_keepalive_port_) continue;
      write_config();
      start();
      failure = wait_until_listening();
      if (failure.empty()) return;
      stop();
      if (!contains(failure, "Address already in use")) break;  // else another process won
    }
    throw std::runtime_error("nginx did not start: " + failure);
  }
  NginxServer(const NginxServer&) = delete;
  NginxServer& operator=(const NginxServer&) = delete;
  ~NginxServer() { stop(); }

  [[nodiscard]] std::uint16_t port() const noexcept { return port_; }
  [[nodiscard]] std::uint16_t short_keepalive_port() const noexcept {
    return short_keepalive_port_;
  }
  /// "http://127.0.0.1:PORT" + path.
  [[nodiscard]] std::string url(std::string_view path) const { return url_on(port_, path); }
  /// The same on the short keep-alive server.
  [[nodiscard]] std::string short_keepalive_url(std::string_view path) const {
    return url_on(short_keepalive_port_, path);
  }
  [[nodiscard]] const std::string& directory() const noexcept { return directory_.path(); }
  [[nodiscard]] pid_t pid() const noexcept { return pid_; }

  /// The access log's entries so far (both servers), oldest first.
  [[nodiscard]] std::vector<AccessLogEntry> access_log() const {
    std::vector<AccessLogEntry> entries;
    const std::string log = read_file(directory_.file("access.log"));
    // Only whole lines: a line nginx is writing right now is left for the next call.
    for (std::size_t start = 0, end; (end = log.find('\n', start)) != std::string::npos;
         start = end + 1) {
      if (auto entry = parse_access_line(log.substr(start, end - start))) {
        entries.push_back(std::move(*entry));
      }
    }
    return entries;
  }
  /// TCP connections that carried at least one logged request.
  [[nodiscard]] std::size_t distinct_connections() const {
    std::set<std::uint64_t> connections;
    for (const AccessLogEntry& entry : access_log())
      connections.insert(entry.connection);
    return connections.size();
  }
  /// Blocks (polling every 5 ms, at most `limit`) until the log holds at least `count` entries;
  /// returns them (fewer only if the limit passed: the test's assertion shows it).
  [[nodiscard]] std::vector<AccessLogEntry> wait_for_access_log(
      std::size_t count, std::chrono::milliseconds limit = std::chrono::seconds(5)) const {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    for (;;) {
      std::vector<AccessLogEntry> entries = access_log();
      if (entries.size() >= count || std::chrono::steady_clock::now() >= deadline) return entries;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  /// nginx's error log (and what it printed), for failure messages.
  [[nodiscard]] std::string error_log() const {
    return read_file(directory_.file("error.log")) + read_file(directory_.file("output.log"));
  }

 private:
  static std::string url_on(std::uint16_t port, std::string_view path) {
    return "http://127.0.0.1:" + std::to_string(port) + std::string(path);
  }

  static std::string read_file(const std::string& path) {
    std::ifstream file(path, std::ios::binary);
    std::ostringstream text;
    text << file.rdbuf();
    return text.str();
  }

  static void write_file(const std::string& path, const std::string& contents) {
    std::ofstream file(path, std::ios::binary | std::ios::trunc);
    file.write(contents.data(), static_cast<std::streamsize>(contents.size()));
    if (!file) throw std::runtime_error("cannot write " + path);
  }

  /// A port nobody listens on now (bind port 0, read it, close): nginx may still lose it to
  /// another process before it binds, which the constructor's retry covers.
  static std::uint16_t free_port() {
    sockaddr_in address{};
    Fd socket = bound_loopback_socket(address);
    return ntohs(address.sin_port);
  }

  /// `$server_port $connection $connection_requests "$request" $status`
  static std::optional<AccessLogEntry> parse_access_line(const std::string& line) {
    const std::size_t open = line.find('"');
    const std::size_t close = line.rfind('"');
    if (open == std::string::npos || close == open) return std::nullopt;
    AccessLogEntry entry;
    std::istringstream numbers(line.substr(0, open));
    unsigned port = 0;
    if (!(numbers >> port >> entry.connection >> entry.connection_requests)) return std::nullopt;
    entry.server_port = static_cast<std::uint16_t>(port);
    entry.request = line.substr(open + 1, close - open - 1);
    std::istringstream status(line.substr(close + 1));
    if (!(status >> entry.status)) return std::nullopt;
    return entry;
  }

  void write_files() const {
    std::filesystem::create_directories(directory_.file("www/bytes"));
    std::filesystem::create_directories(directory_.file("temp"));
    for (std::size_t size : nginx_body_sizes)
      write_file(directory_.file("www/bytes/" + std::to_string(size)), expected_body(size));
    write_file(directory_.file("www/page"), page_body());
  }

  /// The config: nginx.conf's text with @DIR@, @PORT@, @SHORT_KEEPALIVE_PORT@, @USER@ and
  /// @REDIRECTS@ filled in.
  static constexpr std::string_view config_template = R"(load_module @ECHO_MODULE@;
@USER@
daemon off;
master_process off;
worker_processes 1;
pid @DIR@/nginx.pid;
lock_file @DIR@/nginx.lock;
error_log @DIR@/error.log info;
events { worker_connections 1024; }
http {
  default_type application/octet-stream;
  log_format connections '$server_port $connection $connection_requests "$request" $status';
  access_log @DIR@/access.log connections;
  client_body_temp_path @DIR@/temp/client_body;
  proxy_temp_path @DIR@/temp/proxy;
  fastcgi_temp_path @DIR@/temp/fastcgi;
  uwsgi_temp_path @DIR@/temp/uwsgi;
  scgi_temp_path @DIR@/temp/scgi;
  gzip off;
  server {
    listen 127.0.0.1:@PORT@;
    root @DIR@/www;
    location /bytes/ { }
    location = /page { default_type text/html; }
    location /close/ { alias @DIR@/www/bytes/; keepalive_timeout 0; }
    # The subrequest's output reaches the client through the echo module: the main response has
    # no Content-Length, so HTTP/1.1 gets it chunked (an empty file too).
    location ~ ^/chunked/([0-9]+)$ { echo_location /bytes/$1; }
    location = /status/404 { }
    location = /status/500 { return 500; }
    location = /delay/50ms { echo_sleep 0.05; echo "slept 50ms"; }
    location = /delay/1s { echo_sleep 1; echo "slept 1s"; }
@REDIRECTS@    location = /redirect/loop { return 302 /redirect/loop; }
    location = /redirect/relative { absolute_redirect off; return 302 /bytes/1024; }
    location = /redirect/relative-path { return 302 ../bytes/1024; }
  }
  server {
    listen 127.0.0.1:@SHORT_KEEPALIVE_PORT@;
    root @DIR@/www;
    keepalive_timeout 1s;
    location /bytes/ { }
  }
}
)";

  static void replace_all(std::string& text, std::string_view placeholder,
                          const std::string& value) {
    for (std::size_t at = text.find(placeholder); at != std::string::npos;
         at = text.find(placeholder, at + value.size())) {
      text.replace(at, placeholder.size(), value);
    }
  }

  void write_config() const {
    std::string redirects;
    for (const char* code : {"301", "302", "303", "307", "308"}) {
      redirects += std::string("    location = /redirect/") + code + " { return " + code +
                   " /bytes/1024; }\n";
    }
    std::string config(config_template);
    replace_all(config, "@ECHO_MODULE@", nginx_echo_module);
    // As root, nginx would chown its temp paths to nobody (its default user); without a master
    // process nobody changes user anyway. As non-root the directive would only warn.
    replace_all(config, "@USER@", ::geteuid() == 0 ? "user root;" : "");
    replace_all(config, "@DIR@", directory_.path());
    replace_all(config, "@PORT@", std::to_string(port_));
    replace_all(config, "@SHORT_KEEPALIVE_PORT@", std::to_string(short_keepalive_port_));
    replace_all(config, "@REDIRECTS@", redirects);
    write_file(directory_.file("nginx.conf"), config);
  }

  /// fork + exec of nginx in the foreground, its stdout and stderr into output.log. Everything the
  /// child needs is prepared before fork() (the test process may have threads).
  void start() {
    const std::string dir = directory_.path();
    std::vector<std::string> arguments = {nginx_binary,        "-p", dir + "/",         "-c",
                                          dir + "/nginx.conf", "-e", dir + "/error.log"};
    std::vector<char*> argv;
    for (std::string& argument : arguments)
      argv.push_back(argument.data());
    argv.push_back(nullptr);
    const std::string output = directory_.file("output.log");
    const int output_fd =
        ::open(output.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_APPEND, 0644);
    if (output_fd < 0) fail_errno("opening nginx's output.log");
    ::unlink(directory_.file("access.log").c_str());
    ::unlink(directory_.file("error.log").c_str());
    const pid_t parent = ::getpid();
    const pid_t child = ::fork();
    if (child < 0) {
      ::close(output_fd);
      fail_errno("fork");
    }
    if (child == 0) exec_nginx(argv.data(), output_fd, parent);
    ::close(output_fd);
    pid_ = child;
  }

  /// In the child: only async-signal-safe calls until execv().
  [[noreturn]] static void exec_nginx(char** argv, int output_fd, pid_t parent) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // a crashed test run leaves no nginx behind
    if (::getppid() != parent) ::_exit(127);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);  // the loop's blocked signals stay ours
    const int null_fd = ::open("/dev/null", O_RDONLY);
    if (null_fd >= 0) ::dup2(null_fd, STDIN_FILENO);
    ::dup2(output_fd, STDOUT_FILENO);
    ::dup2(output_fd, STDERR_FILENO);
    ::close_range(3, ~0u, 0);  // descriptors the test forgot to mark close-on-exec
    ::execv(argv[0], argv);
    ::_exit(127);
  }

  /// "" once both ports accept connections; else why not (nginx exited, or 10 s passed).
  std::string wait_until_listening() {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return "nginx exited (status " + std::to_string(status) + "); its log:\n" + error_log();
      }
      if (accepts(port_) && accepts(short_keepalive_port_)) return "";
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return "nginx did not listen on ports " + std::to_string(port_) + " and " +
           std::to_string(short_keepalive_port_) + " within 10 s; its log:\n" + error_log();
  }

  static bool accepts(std::uint16_t port) {
    Fd probe = tcp_socket();
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons(port);
    if (::connect(probe.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) == 0) {
      return true;
    }
    if (errno != EINPROGRESS) return false;
    pollfd waiting{probe.get(), POLLOUT, 0};
    if (::poll(&waiting, 1, 1000) != 1) return false;
    return socket_option(probe.get(), SOL_SOCKET, SO_ERROR) == 0;
  }

  /// SIGTERM (nginx's fast shutdown: open connections are closed), SIGKILL if it is still there
  /// after 5 s; reaped either way.
  void stop() noexcept {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    int status = 0;
    for (;;) {
      const pid_t reaped = ::waitpid(pid_, &status, WNOHANG);
      if (reaped == pid_ || (reaped < 0 && errno != EINTR)) break;
      if (std::chrono::steady_clock::now() >= deadline) {
        ::kill(pid_, SIGKILL);
        while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
        }
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    pid_ = -1;
  }

  TemporaryDirectory directory_;
  std::uint16_t port_ = 0;
  std::uint16_t short_keepalive_port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace ringloop::testing
