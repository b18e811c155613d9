#pragma once
// asyncio's stream conveniences: open_connection() (resolve, then try each address in turn) and
// start_server() (an accept loop that gives every connection a task of its own running the
// handler, all cancelled by close()), for TCP and Unix-domain sockets.
//
//   Task<> echo(TcpStream stream);                       // a plain coroutine function
//   TcpServer server = co_await start_server(echo, "127.0.0.1", 8080);  // listening now
//   co_await server.serve_forever();                      // until cancelled or close()
//
// A handler that throws is reported to the loop's exception handler ("Task exception was never
// retrieved", task "connection from <peer>"), as asyncio logs it; the server goes on.

#include <algorithm>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

#include <ringloop/runtime/event.hpp>
#include <ringloop/runtime/task.hpp>
#include <ringloop/runtime/task_handle.hpp>
#include <ringloop/sockets/socket_address.hpp>
#include <ringloop/sockets/tcp.hpp>
#include <ringloop/sockets/unix_socket.hpp>

namespace ringloop {

/// Resolves `host` and connects to its addresses in getaddrinfo's order until one accepts
/// (asyncio.open_connection). Throws ResolveError when the name does not resolve, else the last
/// address's std::system_error with every address tried in its message.
[[nodiscard]] Task<TcpStream> open_connection(std::string host, std::uint16_t port);
/// Connects to the Unix-domain socket at `path` (asyncio.open_unix_connection).
[[nodiscard]] Task<UnixStream> open_unix_connection(std::string path);

/// What a server runs for each connection: a coroutine function taking the stream by value.
/// (On g++ 12 a capturing lambda must not be the coroutine itself: call a coroutine function.)
template <class Stream>
using ConnectionHandler = std::function<Task<>(Stream)>;

namespace detail {

template <class ListenerType, class Stream>
struct ServerState {
  ListenerType listener;
  ConnectionHandler<Stream> handler;
  std::vector<TaskRef> connections;  // pruned of finished ones as it grows
  TaskHandle<> accepting;
  Event closed;
};

template <class ListenerType, class Stream>
Task<> accept_connections(std::shared_ptr<ServerState<ListenerType, Stream>> state) {
  std::size_t prune_at = 64;
  for (;;) {
    Stream stream;
    try {
      stream = co_await state->listener.accept();
    } catch (const std::system_error&) {
      // accept() already rides out EMFILE and skips aborted connections: what remains (the
      // listener closed under it, for one) stops the server, and someone must hear of it now.
      Loop::current().call_exception_handler(
          {"server accept loop stopped", std::current_exception(), "server accept loop"});
      co_return;
    }
    std::string name = "connection";
    if constexpr (std::is_same_v<Stream, TcpStream>) {
      name += " from " + stream.peer_address().to_string();
    }
    state->connections.push_back(spawn(state->handler(std::move(stream)), std::move(name)));
    if (state->connections.size() >= prune_at) {
      std::erase_if(state->connections, [](const TaskRef& task) { return task.done(); });
      prune_at = std::max<std::size_t>(64, 2 * state->connections.size());
    }
  }
}

template <class ListenerType, class Stream>
Task<> close_server(std::shared_ptr<ServerState<ListenerType, Stream>> state) {
  state->accepting.cancel();
  try {
    co_await state->accepting;
  } catch (const CancelledError&) {
  }
  co_await state->listener.close();
  for (TaskRef& connection : state->connections)
    connection.cancel();
  // Waited for without reading their results: a handler's failure is still reported when its
  // task goes away, like an exception in any task nobody awaited.
  for (TaskRef& connection : state->connections) {
    if (connection.done()) continue;
    Event finished;
    connection.add_done_callback([&finished](TaskRef&) { finished.set(); });
    co_await finished.wait();
  }
  state->connections.clear();
  state->closed.set();
}

}  // namespace detail

/// A listening server (asyncio.Server): accepts in a task of its own from construction until
/// close(). Move-only; destroying it without close() cancels the accept task and the connections.
template <class ListenerType, class Stream>
class [[nodiscard]] BasicServer {
 public:
  BasicServer(ListenerType listener, ConnectionHandler<Stream> handler)
      : state_(std::make_shared<detail::ServerState<ListenerType, Stream>>()) {
    state_->listener = std::move(listener);
    state_->handler = std::move(handler);
    state_->accepting = spawn(detail::accept_connections(state_), "server accept loop");
  }
  BasicServer(BasicServer&&) noexcept = default;
  BasicServer& operator=(BasicServer&&) noexcept = default;
  ~BasicServer() {
    if (!state_ || state_->closed.is_set()) return;
    state_->accepting.cancel();
    for (TaskRef& connection : state_->connections)
      connection.cancel();
  }

  /// The bound address (the port the kernel picked for port 0).
  [[nodiscard]] SocketAddress address() const { return state_->listener.local_address(); }
  /// Connections whose handler has not finished.
  [[nodiscard]] std::size_t active_connections() const {
    std::size_t active = 0;
    for (const TaskRef& connection : state_->connections)
      active += connection.done() ? 0 : 1;
    return active;
  }
  /// co_await: stops accepting, closes the listener, cancels every connection's handler and
  /// waits for them. A second close() waits for the first.
  [[nodiscard]] Task<> close() {
    if (state_->accepting.done()) return wait_closed();
    return detail::close_server(state_);
  }
  /// co_await: until close() has finished.
  [[nodiscard]] Task<> wait_closed() { return wait_for_event(state_); }
  /// co_await: until close() has finished; cancelling the awaiting task closes the server
  /// (asyncio's serve_forever).
  [[nodiscard]] Task<> serve_forever() { return serve(state_); }

 private:
  using State = detail::ServerState<ListenerType, Stream>;
  static Task<> wait_for_event(std::shared_ptr<State> state) { co_await state->closed.wait(); }
  static Task<> serve(std::shared_ptr<State> state) {
    std::exception_ptr cancelled;
    try {
      co_await state->closed.wait();
    } catch (const CancelledError&) {
      cancelled = std::current_exception();
    }
    if (cancelled) {
      if (!state->accepting.done()) co_await detail::close_server(state);
      std::rethrow_exception(cancelled);
    }
  }

  std::shared_ptr<State> state_;
};

/// A TCP server.
using TcpServer = BasicServer<TcpListener, TcpStream>;
/// A Unix-domain stream server.
using UnixServer = BasicServer<UnixListener, UnixStream>;

/// Resolves `host` (empty: every interface) and listens on its first address with `port`
/// (0: the kernel picks; see address()), running `handler` for every connection
/// (asyncio.start_server).
[[nodiscard]] Task<TcpServer> start_server(ConnectionHandler<TcpStream> handler, std::string host,
                                           std::uint16_t port, int backlog = 1024);
/// Listens at the Unix-domain `path` (which must not exist yet), running `handler` for every
/// connection (asyncio.start_unix_server).
[[nodiscard]] UnixServer start_unix_server(ConnectionHandler<UnixStream> handler,
                                           const std::string& path, int backlog = 1024);

}  // namespace ringloop
