// A listener's accept on io_uring is one multishot operation that stays armed and queues
// connections for accept(); on epoll each accept is its own operation. Either way no connection
// is lost or leaked: not when nobody accepts for a while, not when the listener is destroyed
// with connections queued, not when the loop goes away with the operation armed.

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "support/loop_fixture.hpp"

namespace ringloop::testing {
namespace {

class MultishotAcceptTest : public LoopTest {};

/// A blocking client socket connected to `address` (the handshake completes in the kernel, into
/// the listener's backlog, whether or not anyone accepts). Closes on destruction.
class Client {
 public:
  explicit Client(const SocketAddress& address)
      : descriptor_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    if (descriptor_ < 0 || ::connect(descriptor_, address.native(), address.native_length()) != 0) {
      ADD_FAILURE() << "client connect to " << address.to_string() << ": " << std::strerror(errno);
    }
  }
  Client(Client&& other) noexcept : descriptor_(std::exchange(other.descriptor_, -1)) {}
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;
  ~Client() {
    if (descriptor_ >= 0) ::close(descriptor_);
  }
  [[nodiscard]] SocketAddress local_address() const {
    sockaddr_storage storage{};
    socklen_t length = sizeof storage;
    ::getsockname(descriptor_, reinterpret_cast<sockaddr*>(&storage), &length);
    return SocketAddress::from_native(reinterpret_cast<sockaddr*>(&storage), length);
  }
  /// Whether the server side was closed: a read gives end of stream (or a reset) at once.
  [[nodiscard]] bool sees_server_closed() const {
    timeval limit{5, 0};  // a safety net against hanging, not a timing assertion
    ::setsockopt(descriptor_, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
    char byte = 0;
    const ssize_t got = ::recv(descriptor_, &byte, 1, 0);
    return got == 0 || (got < 0 && errno == ECONNRESET);
  }

 private:
  int descriptor_;
};

std::vector<Client> connect_clients(const SocketAddress& address, int count) {
  std::vector<Client> clients;
  for (int i = 0; i < count; ++i)
    clients.emplace_back(address);
  return clients;
}

/// Runs the loop for a while so the backend can reap what the kernel did meanwhile.
Task<> let_the_loop_turn(int turns = 20) {
  for (int i = 0; i < turns; ++i)
    co_await yield_now();
}

Task<> settle_in_flight() {
  for (int i = 0; i < 200 && Loop::current().backend().in_flight() != 0; ++i)
    co_await yield_now();
}

Task<> accept_through_one_operation() {
  TcpListener listener = TcpListener::bind(SocketAddress::loopback(0), 128);
  std::vector<Client> clients = connect_clients(listener.local_address(), 20);
  const io::Backend& backend = Loop::current().backend();
  const std::uint64_t submitted_before = backend.stats().submitted;
  std::set<std::string> peers;
  for (int i = 0; i < 20; ++i) {
    TcpStream stream = co_await listener.accept();
    peers.insert(stream.peer_address().to_string());
  }
  const std::uint64_t submissions = backend.stats().submitted - submitted_before;
  if (backend.multishot_accept()) {
    EXPECT_EQ(submissions, 1u)
        << "20 connections in the backlog took more than one multishot accept";
  } else {
    EXPECT_EQ(submissions, 20u) << "one accept per connection expected";
  }
  std::set<std::string> expected;
  for (const Client& client : clients)
    expected.insert(client.local_address().to_string());
  EXPECT_EQ(peers, expected) << "the accepted connections are not the clients'";
  co_await listener.close();
  co_await settle_in_flight();
}

TEST_P(MultishotAcceptTest, TwentyQueuedConnectionsAreAcceptedEachOnceThroughOneArmedOperation) {
  run(accept_through_one_operation());
}

Task<> queue_limit_pushes_back() {
  TcpListener listener = TcpListener::bind(SocketAddress::loopback(0), 128);
  const SocketAddress address = listener.local_address();
  std::vector<Client> clients = connect_clients(address, 1);
  {
    TcpStream first = co_await listener.accept();  // arms the multishot accept on io_uring
  }
  // Nobody accepts now: the listener queues at most its limit and leaves the rest to the kernel.
  constexpr int more_clients = 40;
  static_assert(more_clients > 32, "must exceed MultishotAccept::kQueueLimit");
  std::vector<Client> waiting = connect_clients(address, more_clients);
  co_await let_the_loop_turn();
  co_await settle_in_flight();
  EXPECT_EQ(Loop::current().backend().in_flight(), 0u)
      << "the armed accept kept accepting with nobody taking the connections";
  std::set<std::string> peers;
  for (int i = 0; i < more_clients; ++i) {
    TcpStream stream = co_await listener.accept();
    peers.insert(stream.peer_address().to_string());
  }
  std::set<std::string> expected;
  for (const Client& client : waiting)
    expected.insert(client.local_address().to_string());
  EXPECT_EQ(peers, expected) << "a connection was lost or accepted twice";
  co_await listener.close();
  co_await settle_in_flight();
}

TEST_P(MultishotAcceptTest, NobodyAcceptingStopsTheArmedAcceptAtItsQueueLimitAndLosesNothing) {
  run(queue_limit_pushes_back());
}

Task<> destroy_listener_with_queued_connections(bool close_first) {
  std::vector<Client> late;
  {
    TcpListener listener = TcpListener::bind(SocketAddress::loopback(0), 128);
    std::vector<Client> first = connect_clients(listener.local_address(), 1);
    { TcpStream stream = co_await listener.accept(); }
    late = connect_clients(listener.local_address(), 3);
    co_await let_the_loop_turn();  // on io_uring they are accepted into the listener's queue now
    if (close_first) co_await listener.close();
  }  // ~TcpListener
  // Whether queued in the listener or still in the kernel's backlog, each connection is closed.
  for (const Client& client : late)
    EXPECT_TRUE(client.sees_server_closed());
  co_await settle_in_flight();
  EXPECT_EQ(Loop::current().backend().in_flight(), 0u);
}

TEST_P(MultishotAcceptTest, DestroyingAListenerClosesTheConnectionsItQueuedAndEndsItsAccept) {
  run(destroy_listener_with_queued_connections(false));
}

TEST_P(MultishotAcceptTest, ClosingAListenerClosesTheConnectionsItQueuedAndEndsItsAccept) {
  run(destroy_listener_with_queued_connections(true));
}

Task<> arm_and_keep(TcpListener* listener, std::vector<Client>* clients) {
  clients->emplace_back(listener->local_address());
  { TcpStream stream = co_await listener->accept(); }
  clients->emplace_back(listener->local_address());
  co_await let_the_loop_turn();
}

// The loop's backend goes away first (teardown hook: the record keeps what arrives), then the
// listener (it frees the idle record and closes the queued connection). ASan checks the record.
TEST_P(MultishotAcceptTest, DestroyingTheLoopWhileTheListenerStillLivesLeaksNothing) {
  std::vector<Client> clients;
  std::optional<TcpListener> listener(TcpListener::bind(SocketAddress::loopback(0), 16));
  run(arm_and_keep(&*listener, &clients));
  close_loop();
  listener.reset();
  EXPECT_TRUE(clients.back().sees_server_closed());
}

// The listener goes first, between two runs of the loop: its record waits for the kernel's last
// completion, which arrives only while the backend is torn down. The record must free itself
// then, and close the connection it accepted meanwhile.
TEST_P(MultishotAcceptTest, DestroyingTheLoopBeforeAnOrphanedAcceptEndsLeaksNothing) {
  std::vector<Client> clients;
  std::optional<TcpListener> listener(TcpListener::bind(SocketAddress::loopback(0), 16));
  run(arm_and_keep(&*listener, &clients));
  listener.reset();  // cancellation asked for, not yet confirmed
  close_loop();
  EXPECT_TRUE(clients.back().sees_server_closed());
}

RINGLOOP_ON_BOTH_BACKENDS(MultishotAcceptTest);

}  // namespace
}  // namespace ringloop::testing
