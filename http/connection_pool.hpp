#pragma once
// The Client's connection pool (private to ringloop::http): open connections per origin, the
// global and per-host limits, the FIFO of requests waiting for a connection slot, and closing
// idle connections when their keep-alive time is up.
//
// A *slot* is one open (or opening) connection counted against the limits. A ConnectionLease
// holds one slot while a request uses it; an idle pooled connection holds one too. Every slot
// goes back exactly once: to the idle list (a connection that finished a response and may carry
// another) or by closing (anything else), and each release serves the oldest waiter it can.

#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <ringloop/http/client.hpp>
#include <ringloop/http/response_parser.hpp>
#include <ringloop/runtime/clock.hpp>
#include <ringloop/runtime/event.hpp>
#include <ringloop/runtime/handle.hpp>
#include <ringloop/runtime/task.hpp>
#include <ringloop/sockets/tcp.hpp>

namespace ringloop::http::detail {

/// One TCP connection to an origin and the bytes received on it but not parsed yet.
struct PooledConnection {
  /// Receive buffer size: large enough that an 8 MiB body takes few reads, small enough that a
  /// pool of 100 connections stays a few MiB.
  static constexpr std::size_t buffer_size = 32 * 1024;

  TcpStream stream;
  std::string origin;
  std::vector<char> buffer = std::vector<char>(buffer_size);
  std::size_t unread_begin = 0;  ///< unparsed bytes are buffer[unread_begin, unread_end)
  std::size_t unread_end = 0;
  ResponseParser parser;
  TimePoint idle_deadline{};    ///< while idle: when the pool closes it
  std::uint64_t responses = 0;  ///< responses completed on it (0: fresh)
};

class ConnectionPool;

/// One slot of the pool, with its connection once there is one. Destroying a lease closes its
/// connection and frees the slot; keep_alive() returns the connection to the pool instead.
class ConnectionLease {
 public:
  ConnectionLease() = default;
  ConnectionLease(std::shared_ptr<ConnectionPool> pool, std::string origin,
                  std::unique_ptr<PooledConnection> connection) noexcept;
  ConnectionLease(ConnectionLease&&) noexcept = default;
  ConnectionLease& operator=(ConnectionLease&& other) noexcept;
  ~ConnectionLease() { close(); }

  /// The connection, or null while the slot waits for its connection to be opened.
  [[nodiscard]] PooledConnection* connection() const noexcept { return connection_.get(); }
  /// Whether the connection came from the idle list (it may have been closed by the server).
  [[nodiscard]] bool reused() const noexcept { return connection_ && connection_->responses > 0; }
  [[nodiscard]] const std::string& origin() const noexcept { return origin_; }
  [[nodiscard]] bool holds_slot() const noexcept { return pool_ != nullptr; }
  /// Gives the slot its newly opened connection.
  void attach(TcpStream stream);
  /// Returns the connection to the idle list for at most `idle_for`, and frees the lease.
  void keep_alive(Duration idle_for) noexcept;
  /// Closes the connection (if any) and frees the slot. Idempotent.
  void close() noexcept;

 private:
  std::shared_ptr<ConnectionPool> pool_;
  std::string origin_;
  std::unique_ptr<PooledConnection> connection_;
};

/// Connections of one Client, by origin ("host:port").
class ConnectionPool : public std::enable_shared_from_this<ConnectionPool> {
 public:
  explicit ConnectionPool(ClientOptions options);
  ~ConnectionPool();
  ConnectionPool(const ConnectionPool&) = delete;
  ConnectionPool& operator=(const ConnectionPool&) = delete;

  /// A slot for `origin`: an idle connection when there is one (newest first), else a free slot
  /// to connect on, else waits (FIFO) until one frees up. Cancellable.
  Task<ConnectionLease> acquire(std::string origin);
  /// Closes every idle connection.
  void close_idle_connections() noexcept;
  [[nodiscard]] ClientStats stats() const noexcept;
  [[nodiscard]] const ClientOptions& options() const noexcept { return options_; }

  /// Counted by the requests themselves.
  void count_reuse() noexcept { ++connections_reused_; }
  void count_retry() noexcept { ++retries_; }
  void count_open() noexcept { ++connections_opened_; }

 private:
  friend class ConnectionLease;
  struct Origin {
    std::vector<std::unique_ptr<PooledConnection>> idle;  // oldest first
    std::size_t open = 0;                                 // slots held (idle ones included)
  };
  // A request waiting for a slot, in its own frame; it leaves the queue when destroyed.
  struct Waiter {
    Waiter(ConnectionPool& owner, std::string key);
    ~Waiter();
    Waiter(const Waiter&) = delete;
    Waiter& operator=(const Waiter&) = delete;

    ConnectionPool* pool;
    std::string origin;
    Event ready;
    std::optional<ConnectionLease> grant;
    std::list<Waiter*>::iterator position;
    bool queued = false;
  };

  std::optional<ConnectionLease> try_acquire(const std::string& origin);
  bool has_room(const Origin& origin) const noexcept;
  bool evict_idle_elsewhere(const std::string& except) noexcept;
  void release_slot(const std::string& origin) noexcept;
  void return_idle(std::unique_ptr<PooledConnection> connection, Duration idle_for) noexcept;
  void serve_waiters() noexcept;
  void return_grant(ConnectionLease lease) noexcept;
  void close_expired_idle() noexcept;
  void arm_idle_timer(TimePoint when) noexcept;

  ClientOptions options_;
  std::unordered_map<std::string, Origin> origins_;
  std::list<Waiter*> waiters_;
  std::size_t open_ = 0;
  std::size_t idle_ = 0;
  std::optional<TimePoint> idle_timer_at_;
  Handle idle_timer_;
  std::uint64_t connections_opened_ = 0;
  std::uint64_t connections_reused_ = 0;
  std::uint64_t retries_ = 0;
};

}  // namespace ringloop::http::detail
