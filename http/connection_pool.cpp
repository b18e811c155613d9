#include "http/connection_pool.hpp"

#include <algorithm>
#include <utility>

#include <ringloop/runtime/errors.hpp>
#include <ringloop/runtime/loop.hpp>

namespace ringloop::http::detail {

// ---- ConnectionLease ----

ConnectionLease::ConnectionLease(std::shared_ptr<ConnectionPool> pool, std::string origin,
                                 std::unique_ptr<PooledConnection> connection) noexcept
    : pool_(std::move(pool)), origin_(std::move(origin)), connection_(std::move(connection)) {}

ConnectionLease& ConnectionLease::operator=(ConnectionLease&& other) noexcept {
  if (this != &other) {
    close();
    pool_ = std::move(other.pool_);
    origin_ = std::move(other.origin_);
    connection_ = std::move(other.connection_);
  }
  return *this;
}

void ConnectionLease::attach(TcpStream stream) {
  connection_ = std::make_unique<PooledConnection>();
  connection_->stream = std::move(stream);
  connection_->origin = origin_;
  connection_->parser = ResponseParser(pool_->options().limits);
  pool_->count_open();
}

void ConnectionLease::keep_alive(Duration idle_for) noexcept {
  if (!pool_) return;
  if (!connection_) return close();
  std::shared_ptr<ConnectionPool> pool = std::move(pool_);
  pool->return_idle(std::move(connection_), idle_for);
}

void ConnectionLease::close() noexcept {
  if (!pool_) return;
  connection_.reset();  // TcpStream's destructor closes the descriptor at once
  std::shared_ptr<ConnectionPool> pool = std::move(pool_);
  pool->release_slot(origin_);
}

// ---- ConnectionPool ----

ConnectionPool::ConnectionPool(ClientOptions options) : options_(std::move(options)) {}

ConnectionPool::~ConnectionPool() {
  idle_timer_.cancel();
}

bool ConnectionPool::has_room(const Origin& origin) const noexcept {
  const bool global_room = options_.max_connections == 0 || open_ < options_.max_connections;
  const bool host_room =
      options_.max_connections_per_host == 0 || origin.open < options_.max_connections_per_host;
  return global_room && host_room;
}

std::optional<ConnectionLease> ConnectionPool::try_acquire(const std::string& key) {
  Origin& origin = origins_[key];
  const TimePoint now = Clock::now();
  while (!origin.idle.empty()) {
    std::unique_ptr<PooledConnection> connection = std::move(origin.idle.back());
    origin.idle.pop_back();
    --idle_;
    if (connection->idle_deadline <= now) {
      connection.reset();
      --origin.open;
      --open_;
      continue;
    }
    return ConnectionLease(shared_from_this(), key, std::move(connection));
  }
  if (!has_room(origin)) {
    // The global limit may be reached by connections idling for other origins: one of those
    // gives its slot up (aiohttp does the same), else this request waits.
    const bool host_room =
        options_.max_connections_per_host == 0 || origin.open < options_.max_connections_per_host;
    if (!host_room || !evict_idle_elsewhere(key)) return std::nullopt;
  }
  ++origin.open;
  ++open_;
  return ConnectionLease(shared_from_this(), key, nullptr);
}

bool ConnectionPool::evict_idle_elsewhere(const std::string& except) noexcept {
  // The connection idle longest (earliest deadline) goes.
  Origin* oldest = nullptr;
  for (auto& [key, origin] : origins_) {
    if (key == except || origin.idle.empty()) continue;
    if (!oldest || origin.idle.front()->idle_deadline < oldest->idle.front()->idle_deadline) {
      oldest = &origin;
    }
  }
  if (!oldest) return false;
  oldest->idle.erase(oldest->idle.begin());
  --idle_;
  --oldest->open;
  --open_;
  return true;
}

Task<ConnectionLease> ConnectionPool::acquire(std::string origin) {
  // Every queued waiter is one serve_waiters() could not serve (it runs on each release), so a
  // slot free now is one none of them can use: taking it jumps no one. Queueing behind them
  // regardless would stall an origin with room behind another origin's per-host limit.
  if (std::optional<ConnectionLease> lease = try_acquire(origin)) co_return std::move(*lease);
  // Declared first so the pool outlives the waiter's unregistering destructor.
  std::shared_ptr<ConnectionPool> self = shared_from_this();
  Waiter waiter(*this, std::move(origin));
  try {
    co_await waiter.ready.wait();
  } catch (const CancelledError&) {
    // A grant made after the cancellation but before this task ran goes back to the pool (and
    // so to the next waiter); an ungranted waiter leaves the queue as it is destroyed.
    if (waiter.grant) return_grant(std::move(*waiter.grant));
    throw;
  }
  co_return std::move(*waiter.grant);
}

ConnectionPool::Waiter::Waiter(ConnectionPool& owner, std::string key)
    : pool(&owner), origin(std::move(key)) {
  pool->waiters_.push_back(this);
  position = std::prev(pool->waiters_.end());
  queued = true;
}

ConnectionPool::Waiter::~Waiter() {
  if (queued) pool->waiters_.erase(position);
}

void ConnectionPool::return_grant(ConnectionLease lease) noexcept {
  PooledConnection* connection = lease.connection();
  if (connection && connection->idle_deadline > Clock::now()) {
    lease.keep_alive(connection->idle_deadline - Clock::now());
  }
  // Otherwise the lease's destructor frees the slot.
}

void ConnectionPool::release_slot(const std::string& key) noexcept {
  auto found = origins_.find(key);
  if (found != origins_.end() && found->second.open > 0) {
    --found->second.open;
    --open_;
  }
  serve_waiters();
}

void ConnectionPool::return_idle(std::unique_ptr<PooledConnection> connection,
                                 Duration idle_for) noexcept {
  Origin& origin = origins_[connection->origin];
  connection->idle_deadline = Clock::now() + idle_for;
  const TimePoint deadline = connection->idle_deadline;
  origin.idle.push_back(std::move(connection));
  ++idle_;
  arm_idle_timer(deadline);
  serve_waiters();
}

void ConnectionPool::serve_waiters() noexcept {
  for (auto it = waiters_.begin(); it != waiters_.end();) {
    Waiter* waiter = *it;
    std::optional<ConnectionLease> lease = try_acquire(waiter->origin);
    if (!lease) {
      ++it;  // limited per host: a later waiter for another origin may still fit
      continue;
    }
    waiter->grant = std::move(lease);
    waiter->queued = false;
    it = waiters_.erase(it);
    waiter->ready.set();
  }
}

void ConnectionPool::arm_idle_timer(TimePoint when) noexcept {
  if (idle_timer_at_ && *idle_timer_at_ <= when) return;
  idle_timer_.cancel();
  idle_timer_at_ = when;
  std::weak_ptr<ConnectionPool> weak = weak_from_this();
  idle_timer_ = Loop::current().call_at(when, [weak] {
    if (std::shared_ptr<ConnectionPool> pool = weak.lock()) pool->close_expired_idle();
  });
}

void ConnectionPool::close_expired_idle() noexcept {
  idle_timer_at_.reset();
  const TimePoint now = Clock::now();
  std::optional<TimePoint> next;
  bool freed = false;
  for (auto& [key, origin] : origins_) {
    const auto expired = std::stable_partition(
        origin.idle.begin(), origin.idle.end(),
        [now](const std::unique_ptr<PooledConnection>& c) { return c->idle_deadline > now; });
    const auto closed = static_cast<std::size_t>(origin.idle.end() - expired);
    origin.idle.erase(expired, origin.idle.end());
    origin.open -= closed;
    open_ -= closed;
    idle_ -= closed;
    freed = freed || closed > 0;
    for (const auto& connection : origin.idle) {
      if (!next || connection->idle_deadline < *next) next = connection->idle_deadline;
    }
  }
  if (next) arm_idle_timer(*next);
  if (freed) serve_waiters();
}

void ConnectionPool::close_idle_connections() noexcept {
  for (auto& [key, origin] : origins_) {
    origin.open -= origin.idle.size();
    open_ -= origin.idle.size();
    origin.idle.clear();
  }
  idle_ = 0;
  idle_timer_.cancel();
  idle_timer_at_.reset();
  serve_waiters();
}

ClientStats ConnectionPool::stats() const noexcept {
  ClientStats stats;
  stats.connections_opened = connections_opened_;
  stats.connections_reused = connections_reused_;
  stats.retries = retries_;
  stats.idle_connections = idle_;
  stats.active_connections = open_ - idle_;
  stats.waiting_requests = waiters_.size();
  return stats;
}

}  // namespace ringloop::http::detail
