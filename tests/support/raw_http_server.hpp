#pragma once
// RawHttpServer: a scripted TCP server on the test's loop (either backend) for what nginx never
// sends: truncated or malformed responses, a reset in the middle, a silent server, a connection
// closed after N requests. Every accepted connection reads one request head (up to "\r\n\r\n"),
// records it, then runs its RawScript; the connection closes gracefully when the script ends.
//
//   RawHttpServer server(RawScript().send(http_response(200, "hi")).close());
//   ... the client under test fetches server.url("/x") ...
//   co_await server.close();   // before the test's coroutine ends: cancels every connection
//
// Build, use and close it inside the loop's coroutine. Errors on a connection (the client reset
// it, say) end that connection and are kept in connection_errors(), never reported to the loop.

#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tcp.hpp"

namespace ringloop::testing {

/// "HTTP/1.1 <status> <reason>\r\n" + Content-Length + `extra_headers` (each ending in "\r\n") +
/// "\r\n" + body.
inline std::string http_response(int status, std::string_view body,
                                 std::string_view extra_headers = "") {
  const char* reason = status == 200   ? "OK"
                       : status == 204 ? "No Content"
                       : status == 301 ? "Moved Permanently"
                       : status == 302 ? "Found"
                       : status == 304 ? "Not Modified"
                       : status == 404 ? "Not Found"
                       : status == 500 ? "Internal Server Error"
                                       : "Status";
  return "HTTP/1.1 " + std::to_string(status) + " " + reason +
         "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" +
         std::string(extra_headers) + "\r\n" + std::string(body);
}

/// One step of a connection's script.
struct RawAction {
  enum class Kind {
    send,          ///< write `bytes` (all of them)
    sleep,         ///< wait `delay`
    read_request,  ///< read and record the next request head
    close,         ///< graceful close (FIN after what was sent); ends the script
    reset,         ///< SO_LINGER 0 then close: the client gets a RST; ends the script
    hold,          ///< never answer: keep the connection open until the server closes
    read_to_end,   ///< read and discard until the client closes its side (counted)
  };
  Kind kind;
  std::string bytes;
  Duration delay{};
};

/// What a connection does after its first request head was read. Built by chaining.
class RawScript {
 public:
  RawScript& send(std::string bytes) { return add({RawAction::Kind::send, std::move(bytes)}); }
  RawScript& sleep(Duration delay) { return add({RawAction::Kind::sleep, {}, delay}); }
  RawScript& read_request() { return add({RawAction::Kind::read_request, {}}); }
  RawScript& close() { return add({RawAction::Kind::close, {}}); }
  RawScript& reset() { return add({RawAction::Kind::reset, {}}); }
  RawScript& hold() { return add({RawAction::Kind::hold, {}}); }
  RawScript& read_to_end() { return add({RawAction::Kind::read_to_end, {}}); }
  /// Answers `count` requests on the connection with `response` (the first is already read),
  /// then closes it.
  RawScript& serve_requests(std::size_t count, const std::string& response) {
    for (std::size_t i = 0; i < count; ++i) {
      if (i > 0) read_request();
      send(response);
    }
    return close();
  }

  [[nodiscard]] const std::vector<RawAction>& actions() const noexcept { return actions_; }

 private:
  RawScript& add(RawAction action) {
    actions_.push_back(std::move(action));
    return *this;
  }
  std::vector<RawAction> actions_;
};

/// A request head as the server read it.
struct RecordedRequest {
  std::size_t connection = 0;  ///< 0 for the first accepted connection, 1 for the next...
  std::string head;            ///< the bytes up to and including "\r\n\r\n"

  /// The request line ("GET /x HTTP/1.1").
  [[nodiscard]] std::string request_line() const { return head.substr(0, head.find("\r\n")); }
  /// The value of the first field `name` (case-insensitive), surrounding blanks trimmed; nothing
  /// if the head has no such field.
  [[nodiscard]] std::optional<std::string> header(std::string_view name) const {
    for (std::size_t start = head.find("\r\n"); start != std::string::npos;) {
      start += 2;
      const std::size_t end = head.find("\r\n", start);
      if (end == std::string::npos || end == start) break;
      const std::string_view line(head.data() + start, end - start);
      const std::size_t colon = line.find(':');
      if (colon == name.size() &&
          std::equal(name.begin(), name.end(), line.begin(), [](char a, char b) {
            return std::tolower(static_cast<unsigned char>(a)) ==
                   std::tolower(static_cast<unsigned char>(b));
          })) {
        std::string_view value = line.substr(colon + 1);
        while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
          value.remove_prefix(1);
        while (!value.empty() && (value.back() == ' ' || value.back() == '\t'))
          value.remove_suffix(1);
        return std::string(value);
      }
      start = end;
    }
    return std::nullopt;
  }
};

namespace detail {

struct RawServerState {
  std::vector<RawScript> scripts;
  std::size_t accepted = 0;
  std::size_t client_closes = 0;
  std::vector<RecordedRequest> requests;
  std::vector<std::string> errors;
};

/// Reads one request head into the record; false if the client closed (or failed) first.
inline Task<bool> read_request_head(RawServerState* state, TcpStream* stream,
                                    std::size_t connection) {
  std::string head;
  try {
    head = co_await stream->read_until("\r\n\r\n", 64 * KiB);
  } catch (const IncompleteReadError&) {
    co_return false;  // the client closed (an idle pooled connection, most likely)
  }
  state->requests.push_back({connection, std::move(head)});
  co_return true;
}

inline Task<> run_raw_script(RawServerState* state, TcpStream* stream, std::size_t connection,
                             const RawScript& script) {
  if (!co_await read_request_head(state, stream, connection)) co_return;
  for (const RawAction& action : script.actions()) {
    switch (action.kind) {
      case RawAction::Kind::send:
        co_await stream->write_all(std::string_view(action.bytes));
        break;
      case RawAction::Kind::sleep:
        co_await ringloop::sleep(action.delay);
        break;
      case RawAction::Kind::read_request:
        if (!co_await read_request_head(state, stream, connection)) co_return;
        break;
      case RawAction::Kind::close:
        co_return;
      case RawAction::Kind::reset: {
        const linger abort_on_close{1, 0};
        ::setsockopt(stream->native_handle(), SOL_SOCKET, SO_LINGER, &abort_on_close,
                     sizeof abort_on_close);
        co_return;
      }
      case RawAction::Kind::hold:
        co_await ringloop::sleep(std::chrono::hours(24));  // until close() cancels it
        break;
      case RawAction::Kind::read_to_end: {
        std::vector<std::byte> buffer(16 * KiB);
        while (co_await stream->read_some(buffer) != 0) {
        }
        ++state->client_closes;
        break;
      }
    }
  }
}

inline Task<> serve_raw_connection(std::shared_ptr<RawServerState> state, TcpStream stream) {
  const std::size_t connection = state->accepted++;
  const RawScript& script = state->scripts[std::min(connection, state->scripts.size() - 1)];
  try {
    co_await run_raw_script(state.get(), &stream, connection, script);
  } catch (const std::exception& error) {
    state->errors.push_back("connection " + std::to_string(connection) + ": " + error.what());
  }
  try {
    co_await stream.close();  // FIN, or RST after reset()
  } catch (const std::exception& error) {
    state->errors.push_back("connection " + std::to_string(connection) + ": " + error.what());
  }
}

}  // namespace detail

/// A scripted server on 127.0.0.1 (a port of its own), accepting from construction until close().
class RawHttpServer {
 public:
  /// Every connection runs `script`.
  explicit RawHttpServer(RawScript script) : RawHttpServer(std::vector<RawScript>{script}) {}
  /// Connection i runs scripts[i], the last one from there on (`scripts` must not be empty).
  explicit RawHttpServer(std::vector<RawScript> scripts)
      : state_(make_state(std::move(scripts))),
        server_(TcpListener::bind(SocketAddress::loopback(0)), [state = state_](TcpStream stream) {
          return detail::serve_raw_connection(state, std::move(stream));
        }) {}

  [[nodiscard]] std::uint16_t port() const { return server_.address().port(); }
  /// "http://127.0.0.1:PORT" + path.
  [[nodiscard]] std::string url(std::string_view path) const {
    return "http://127.0.0.1:" + std::to_string(port()) + std::string(path);
  }
  [[nodiscard]] std::size_t accepted_connections() const noexcept { return state_->accepted; }
  /// Every request head read so far, in order.
  [[nodiscard]] const std::vector<RecordedRequest>& requests() const noexcept {
    return state_->requests;
  }
  /// Connections whose read_to_end() saw the client close.
  [[nodiscard]] std::size_t client_closes() const noexcept { return state_->client_closes; }
  /// What ended connections early (a reset by the client, for one).
  [[nodiscard]] const std::vector<std::string>& connection_errors() const noexcept {
    return state_->errors;
  }

  /// Waits (polling, at most ~10 s; a test failure then) until `count` request heads were read.
  [[nodiscard]] Task<> wait_for_requests(std::size_t count) const {
    return wait_until(state_, count, &detail::RawServerState::requests, "request heads");
  }
  /// Waits (likewise) until `count` read_to_end() actions saw the client close.
  [[nodiscard]] Task<> wait_for_client_closes(std::size_t count) const {
    return wait_until(state_, count, &detail::RawServerState::client_closes, "client closes");
  }

  /// Stops accepting, closes the listener, cancels every connection and waits for them.
  [[nodiscard]] Task<> close() { return server_.close(); }

 private:
  static std::shared_ptr<detail::RawServerState> make_state(std::vector<RawScript> scripts) {
    if (scripts.empty()) throw std::invalid_argument("RawHttpServer: no script");
    auto state = std::make_shared<detail::RawServerState>();
    state->scripts = std::move(scripts);
    return state;
  }

  static std::size_t count_of(const std::vector<RecordedRequest>& requests) {
    return requests.size();
  }
  static std::size_t count_of(std::size_t count) { return count; }

  template <class Member>
  static Task<> wait_until(std::shared_ptr<detail::RawServerState> state, std::size_t count,
                           Member member, const char* what) {
    for (int i = 0; i < 10000 && count_of((*state).*member) < count; ++i)
      co_await ringloop::sleep(std::chrono::milliseconds(1));
    EXPECT_GE(count_of((*state).*member), count)
        << "the raw server never saw " << count << " " << what;
  }

  std::shared_ptr<detail::RawServerState> state_;
  TcpServer server_;
};

}  // namespace ringloop::testing
