// TcpListener::accept when the process is out of descriptors (EMFILE), on both backends: the
// accept loop of a server keeps running (it waits and retries, counting descriptor_exhaustions())
// while connections wait in the backlog, and once descriptors free up it accepts every one of
// them and each carries a message both ways. An accept waiting through EMFILE can be cancelled,
// and closing its listener ends it with EBADF.
//
// How the table is filled: RLIMIT_NOFILE's soft limit is lowered just above the highest open
// descriptor and the rest is taken by dup()s of /dev/null. Client sockets are created before
// that, and connected afterwards (connect needs no new descriptor; the server's accept does).
// The accept starts after the table is full: io_uring reads RLIMIT_NOFILE when an accept is
// submitted, so one submitted before the limit was lowered would still get a descriptor.
// Every test restores the limit and closes what it opened, so the fixture's descriptor count
// matches at teardown.

#include <dirent.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdlib>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "support/descriptors.hpp"
#include "support/loop_fixture.hpp"
#include "support/sockets.hpp"

namespace ringloop::testing {
namespace {

using namespace std::chrono_literals;

class AcceptEmfileTest : public LoopTest {};

// ---- helpers ---------------------------------------------------------------------------------

/// Upper bound for one test's coroutine: a hang becomes a TimeoutError (a failure).
constexpr Duration test_deadline = 10s;

/// How many clients wait in the backlog while the table is full.
constexpr int waiting_clients = 4;

/// The highest descriptor number open in this process (-1 if /proc is unreadable).
int highest_open_descriptor() {
  int highest = -1;
  if (DIR* directory = ::opendir("/proc/self/fd")) {
    const int own = ::dirfd(directory);
    while (const dirent* entry = ::readdir(directory)) {
      char* end = nullptr;
      const long number = std::strtol(entry->d_name, &end, 10);
      if (end != entry->d_name && *end == '\0' && number != own) {
        highest = std::max(highest, static_cast<int>(number));
      }
    }
    ::closedir(directory);
  }
  return highest;
}

/// Takes every free descriptor (dups of /dev/null) once the soft limit is low, so the process
/// has none left; release() or the destructor gives them back.
class DescriptorTableFiller {
 public:
  DescriptorTableFiller() = default;
  DescriptorTableFiller(const DescriptorTableFiller&) = delete;
  DescriptorTableFiller& operator=(const DescriptorTableFiller&) = delete;
  ~DescriptorTableFiller() { release(); }

  /// Lowers the soft limit a little above the highest open descriptor and dups until EMFILE.
  /// False (with everything undone) if the table did not end up full.
  bool fill(DescriptorLimitGuard* limit) {
    source_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    const int highest = highest_open_descriptor();
    if (source_ < 0 || highest < 0 || !limit->set_soft(static_cast<rlim_t>(highest) + 1 + 16)) {
      release();
      limit->restore();
      return false;
    }
    for (;;) {
      const int copy = ::fcntl(source_, F_DUPFD_CLOEXEC, 0);
      if (copy < 0) {
        if (errno == EMFILE) return true;
        release();
        limit->restore();
        return false;
      }
      copies_.push_back(copy);
    }
  }

  void release() noexcept {
    for (const int copy : copies_)
      ::close(copy);
    copies_.clear();
    if (source_ >= 0) ::close(std::exchange(source_, -1));
  }

 private:
  int source_ = -1;
  std::vector<int> copies_;
};

/// Blocking TCP sockets made while descriptors are available, connected later; each becomes a
/// TcpStream (non-blocking) through take(), or is closed with the set.
class ClientSockets {
 public:
  explicit ClientSockets(int count) {
    for (int i = 0; i < count; ++i) {
      const int descriptor = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (descriptor < 0) throw std::system_error(errno, std::system_category(), "socket");
      descriptors_.push_back(descriptor);
    }
  }
  ClientSockets(const ClientSockets&) = delete;
  ClientSockets& operator=(const ClientSockets&) = delete;
  ~ClientSockets() {
    for (const int descriptor : descriptors_)
      if (descriptor >= 0) ::close(descriptor);
  }

  /// Connects every socket (a loopback handshake completes at once into the listener's
  /// backlog, accepted or not); false if one failed.
  bool connect_all(const SocketAddress& address) {
    for (const int descriptor : descriptors_) {
      if (::connect(descriptor, address.native(), address.native_length()) != 0) return false;
    }
    return true;
  }

  TcpStream take(std::size_t index) {
    const int descriptor = std::exchange(descriptors_.at(index), -1);
    ::fcntl(descriptor, F_SETFL, ::fcntl(descriptor, F_GETFL) | O_NONBLOCK);
    return TcpStream(descriptor);
  }

 private:
  std::vector<int> descriptors_;
};

/// Waits until `listener` has met EMFILE at least `count` times; false after ~5 s.
Task<bool> wait_for_exhaustions(const Listener* listener, std::size_t count) {
  for (int i = 0; i < 5000 && listener->descriptor_exhaustions() < count; ++i)
    co_await sleep(1ms);
  co_return listener->descriptor_exhaustions() >= count;
}

Task<> echo_one_line(TcpStream stream) {
  const std::string line = co_await stream.readline();
  co_await stream.write_all(line);
  co_await stream.close();
}

/// A server's accept loop: accepts `count` connections, each answered by its own task.
Task<> serve_lines(TcpListener* listener, int count, int* accepted) {
  TaskGroup handlers;
  for (int i = 0; i < count; ++i) {
    TcpStream stream = co_await listener->accept();
    ++*accepted;
    handlers.spawn(echo_one_line(std::move(stream)), "line echo");
  }
  co_await handlers.join();
}

Task<bool> line_round_trip(TcpStream stream, int index) {
  const std::string message = "hello from waiting client " + std::to_string(index) + "\n";
  co_await stream.write_all(message);
  const std::string echo = co_await stream.readline();
  co_await stream.close();
  co_return echo == message;
}

Task<> sleep_for_long() {
  co_await sleep(10s);
}

/// Takes, while descriptors are plentiful, the paths a test then takes with none left. Needed by
/// the UndefinedBehaviorSanitizer build: its vptr check, the first time it meets a pair of dynamic
/// and static types, probes memory through pipe(2), which a full table refuses, and then reports
/// a false "invalid vptr". Pairs seen once are cached, so the later checks need no descriptor.
Task<> rehearse_with_descriptors_to_spare() {
  TcpListener listener = TcpListener::bind(SocketAddress::loopback(0), 64);
  int accepted = 0;
  TaskHandle<> server = spawn(serve_lines(&listener, 1, &accepted), "rehearsal server");
  TcpStream client = co_await TcpStream::connect(listener.local_address());
  const bool echoed = co_await line_round_trip(std::move(client), -1);
  EXPECT_TRUE(echoed);
  co_await server;
  EXPECT_EQ(accepted, 1);
  co_await sleep(1ms);
  TaskHandle<> sleeper = spawn(sleep_for_long(), "rehearsal sleeper");
  co_await let_others_run();
  sleeper.cancel();
  const bool sleep_cancelled = co_await ends_cancelled(sleeper);
  EXPECT_TRUE(sleep_cancelled);
  TaskHandle<TcpStream> accepting = spawn(listener.accept(), "rehearsal accept");
  co_await let_others_run();
  accepting.cancel();
  const bool accept_cancelled = co_await ends_cancelled(accepting);
  EXPECT_TRUE(accept_cancelled);
  accepting = spawn(listener.accept(), "rehearsal accept");
  co_await let_others_run();
  co_await listener.close();
  bool accept_failed = false;
  try {
    TcpStream stream = co_await accepting;
  } catch (const std::system_error& error) {
    accept_failed = error.code().value() == EBADF;
  }
  EXPECT_TRUE(accept_failed);
}

// ---- the accept loop survives EMFILE ---------------------------------------------------------

Task<> accept_loop_survives_emfile(DescriptorLimitGuard* limit) {
  co_await rehearse_with_descriptors_to_spare();
  TcpListener listener = TcpListener::bind(SocketAddress::loopback(0), 64);
  ClientSockets clients(waiting_clients);
  DescriptorTableFiller filler;
  if (!filler.fill(limit)) {
    ADD_FAILURE() << "could not fill the descriptor table";
    co_return;
  }
  int accepted = 0;
  TaskHandle<> server = spawn(serve_lines(&listener, waiting_clients, &accepted), "server");
  co_await let_others_run();  // the server's accept is pending
  // The clients connect into the backlog; the server's accept now fails with EMFILE.
  EXPECT_TRUE(clients.connect_all(listener.local_address()));
  // Two exhaustions: the accept loop met EMFILE, waited, and tried again instead of dying.
  const bool retried = co_await wait_for_exhaustions(&listener, 2);
  EXPECT_TRUE(retried) << "accept never reported running out of descriptors";
  EXPECT_FALSE(server.done()) << "the accept loop ended while out of descriptors";
  EXPECT_EQ(accepted, 0);

  filler.release();
  limit->restore();
  // Every connection that waited in the backlog is accepted and answers.
  std::vector<Task<bool>> round_trips;
  for (int i = 0; i < waiting_clients; ++i)
    round_trips.push_back(line_round_trip(clients.take(static_cast<std::size_t>(i)), i));
  const std::vector<bool> echoed = co_await gather(std::move(round_trips));
  co_await server;
  EXPECT_EQ(accepted, waiting_clients);
  EXPECT_EQ(std::count(echoed.begin(), echoed.end(), true), waiting_clients)
      << "clients whose message did not come back";
  EXPECT_GT(listener.descriptor_exhaustions(), 0u);
  co_await listener.close();
  // io_uring: the multishot accept ends once its cancellation is confirmed.
  for (int i = 0; i < 100 && Loop::current().backend().in_flight() != 0; ++i)
    co_await yield_now();
  EXPECT_EQ(Loop::current().backend().in_flight(), 0u);
}

TEST_P(AcceptEmfileTest,
       AnAcceptLoopOutOfDescriptorsKeepsRunningAndLaterAcceptsEveryWaitingClient) {
  DescriptorLimitGuard limit;
  run(wait_for(accept_loop_survives_emfile(&limit), test_deadline));
}

// ---- cancelling or closing under EMFILE ------------------------------------------------------

Task<> cancel_accept_out_of_descriptors(DescriptorLimitGuard* limit) {
  co_await rehearse_with_descriptors_to_spare();
  TcpListener listener = TcpListener::bind(SocketAddress::loopback(0), 64);
  ClientSockets clients(1);
  DescriptorTableFiller filler;
  if (!filler.fill(limit)) {
    ADD_FAILURE() << "could not fill the descriptor table";
    co_return;
  }
  TaskHandle<TcpStream> accepting = spawn(listener.accept(), "accept");
  co_await let_others_run();
  EXPECT_TRUE(clients.connect_all(listener.local_address()));
  const bool exhausted = co_await wait_for_exhaustions(&listener, 1);
  EXPECT_TRUE(exhausted);
  EXPECT_FALSE(accepting.done());
  accepting.cancel();
  const bool cancelled = co_await ends_cancelled(accepting);
  EXPECT_TRUE(cancelled) << "an accept waiting out EMFILE did not end with CancelledError";
  EXPECT_EQ(Loop::current().backend().in_flight(), 0u);

  filler.release();
  limit->restore();
  // The connection stayed in the backlog: a new accept takes it.
  TcpStream server = co_await listener.accept();
  TcpStream client = clients.take(0);
  TaskHandle<> echo = spawn(echo_one_line(std::move(server)), "echo");
  const bool echoed = co_await line_round_trip(std::move(client), 0);
  EXPECT_TRUE(echoed);
  co_await echo;
  co_await listener.close();
}

TEST_P(AcceptEmfileTest, AnAcceptWaitingOutEmfileCanBeCancelledAndTheConnectionStaysQueued) {
  DescriptorLimitGuard limit;
  run(wait_for(cancel_accept_out_of_descriptors(&limit), test_deadline));
}

Task<> close_listener_out_of_descriptors(DescriptorLimitGuard* limit) {
  co_await rehearse_with_descriptors_to_spare();
  TcpListener listener = TcpListener::bind(SocketAddress::loopback(0), 64);
  ClientSockets clients(1);
  DescriptorTableFiller filler;
  if (!filler.fill(limit)) {
    ADD_FAILURE() << "could not fill the descriptor table";
    co_return;
  }
  TaskHandle<TcpStream> accepting = spawn(listener.accept(), "accept");
  co_await let_others_run();
  EXPECT_TRUE(clients.connect_all(listener.local_address()));
  const bool exhausted = co_await wait_for_exhaustions(&listener, 1);
  EXPECT_TRUE(exhausted);
  co_await listener.close();
  bool failed = false;
  try {
    TcpStream stream = co_await accepting;
    ADD_FAILURE() << "accept gave a connection from a closed listener";
  } catch (const std::system_error& error) {
    failed = true;
    EXPECT_EQ(error.code().value(), EBADF) << error.what();
  }
  EXPECT_TRUE(failed) << "closing the listener did not end the accept waiting out EMFILE";
  EXPECT_EQ(Loop::current().backend().in_flight(), 0u);
  filler.release();
  limit->restore();
}

TEST_P(AcceptEmfileTest, ClosingTheListenerEndsAnAcceptWaitingOutEmfileWithEbadf) {
  DescriptorLimitGuard limit;
  run(wait_for(close_listener_out_of_descriptors(&limit), test_deadline));
}

RINGLOOP_ON_BOTH_BACKENDS(AcceptEmfileTest);

}  // namespace
}  // namespace ringloop::testing
