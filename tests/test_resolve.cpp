// resolve() on both backends, with getaddrinfo running on the loop's offload pool (so this file
// also runs under ThreadSanitizer): names, numeric hosts and services, IPv6 literals, the family,
// socket-type and passive hints, ResolveError naming the host or service and gai_strerror's text,
// cancellation while the lookup is queued, before it is submitted and right after (the loop goes
// on and no job is lost), and 200 concurrent lookups each getting its own answer.

#include <arpa/inet.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <string>
#include <thread>
#include <vector>

#include "support/loop_fixture.hpp"

namespace ringloop::testing {
namespace {

using namespace std::chrono_literals;

/// Bound on every test's loop run, so a lookup that never comes back fails instead of hanging.
/// Generous: a failing DNS lookup without network may wait for the resolver's timeout.
constexpr auto kDeadline = 30s;

class ResolveTest : public TwoOffloadWorkersLoopTest {
 protected:
  /// Frees workers a failing test left occupied; the loop's teardown waits for their jobs.
  void TearDown() override {
    release_workers.store(true);
    LoopTest::TearDown();
  }

  OffloadPool& pool() { return loop().default_offload_pool(); }

  // Members, not test-body locals: pool workers read them until the loop is destroyed in TearDown.
  std::atomic<bool> release_workers{false};
  std::atomic<int> workers_held{0};
};

// ---- helpers ---------------------------------------------------------------------------------

bool is_loopback(const SocketAddress& address) {
  if (address.is_ipv4()) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(address.native());
    return (ntohl(v4->sin_addr.s_addr) >> 24) == 127;
  }
  if (address.is_ipv6()) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(address.native());
    return IN6_IS_ADDR_LOOPBACK(&v6->sin6_addr);
  }
  return false;
}

std::string describe(const std::vector<SocketAddress>& addresses) {
  std::string text;
  for (const SocketAddress& address : addresses)
    text.append(text.empty() ? "" : ", ").append(address.to_string());
  return "[" + text + "]";
}

/// What a resolve() that should fail threw.
struct Failure {
  bool resolve_error = false;  // it threw ResolveError
  int code = 0;                // ResolveError::code()
  std::string message;         // what()
  std::string otherwise;       // what happened instead of a ResolveError
};

Task<Failure> resolve_failure(std::string host, std::string service, ResolveOptions options) {
  Failure failure;
  try {
    std::vector<SocketAddress> addresses =
        co_await resolve(std::move(host), std::move(service), options);
    failure.otherwise = "no error, addresses " + describe(addresses);
  } catch (const ResolveError& error) {
    failure.resolve_error = true;
    failure.code = error.code();
    failure.message = error.what();
  } catch (const std::exception& error) {
    failure.otherwise = std::string("another exception: ") + error.what();
  }
  co_return failure;
}

/// Runs on a pool worker until `release` is set: keeps that worker busy.
void hold_worker(std::atomic<bool>* release, std::atomic<int>* held) {
  held->fetch_add(1);
  while (!release->load())
    std::this_thread::sleep_for(100us);
}

Task<> occupy_a_worker(std::atomic<bool>* release, std::atomic<int>* held) {
  co_await offload(hold_worker, release, held);
}

// ---- successful lookups ----------------------------------------------------------------------

TEST_P(ResolveTest, LocalhostGivesOnlyLoopbackAddressesWithTheNumericServicePort) {
  const std::vector<SocketAddress> addresses = run(wait_for(resolve("localhost", "80"), kDeadline));
  ASSERT_FALSE(addresses.empty());
  for (const SocketAddress& address : addresses) {
    SCOPED_TRACE(address.to_string());
    EXPECT_TRUE(is_loopback(address));
    EXPECT_EQ(address.port(), 80);
  }
}

TEST_P(ResolveTest, NumericHostWithANamedServiceGivesThePortOfTheServicesDatabase) {
  const servent* http = ::getservbyname("http", "tcp");
  if (http == nullptr) GTEST_SKIP() << "no 'http' in this host's services database";
  const std::uint16_t port = ntohs(static_cast<std::uint16_t>(http->s_port));
  const std::vector<SocketAddress> addresses =
      run(wait_for(resolve("127.0.0.1", "http"), kDeadline));
  ASSERT_EQ(addresses.size(), 1u) << describe(addresses);
  EXPECT_EQ(addresses[0], SocketAddress::loopback(port));
  EXPECT_EQ(port, 80);
}

TEST_P(ResolveTest, NumericHostAndServiceGiveExactlyThatAddressLookedUpOnThePool) {
  const std::uint64_t executed_before = pool().stats().executed;
  const std::vector<SocketAddress> addresses =
      run(wait_for(resolve("127.0.0.1", "8080"), kDeadline));
  // One address, not one per socket type: the SOCK_STREAM hint reached getaddrinfo.
  ASSERT_EQ(addresses.size(), 1u) << describe(addresses);
  EXPECT_EQ(addresses[0], SocketAddress::parse("127.0.0.1:8080"));
  EXPECT_EQ(pool().stats().executed, executed_before + 1) << "getaddrinfo ran on the offload pool";

  ResolveOptions datagram;
  datagram.socket_type = SOCK_DGRAM;
  const std::vector<SocketAddress> udp =
      run(wait_for(resolve("127.0.0.1", "53", datagram), kDeadline));
  ASSERT_EQ(udp.size(), 1u) << describe(udp);
  EXPECT_EQ(udp[0], SocketAddress::parse("127.0.0.1:53"));
}

TEST_P(ResolveTest, Ipv6LiteralGivesExactlyThatAddress) {
  const std::vector<SocketAddress> addresses = run(wait_for(resolve("::1", "8080"), kDeadline));
  ASSERT_EQ(addresses.size(), 1u) << describe(addresses);
  EXPECT_TRUE(addresses[0].is_ipv6());
  EXPECT_EQ(addresses[0], SocketAddress::parse("[::1]:8080"));
  EXPECT_EQ(addresses[0].to_string(), "[::1]:8080");
}

TEST_P(ResolveTest, ScopedIpv6LiteralKeepsItsScope) {
  const unsigned loopback_index = ::if_nametoindex("lo");
  if (loopback_index == 0) GTEST_SKIP() << "no interface named 'lo' here";
  const std::vector<SocketAddress> addresses = run(wait_for(resolve("fe80::1%lo", "1"), kDeadline));
  ASSERT_EQ(addresses.size(), 1u) << describe(addresses);
  EXPECT_EQ(addresses[0], SocketAddress::parse("[fe80::1%lo]:1"));
}

TEST_P(ResolveTest, EmptyServiceGivesPortZero) {
  const std::vector<SocketAddress> addresses = run(wait_for(resolve("127.0.0.1", ""), kDeadline));
  ASSERT_EQ(addresses.size(), 1u) << describe(addresses);
  EXPECT_EQ(addresses[0], SocketAddress::loopback(0));
}

TEST_P(ResolveTest, FamilyHintKeepsOnlyThatFamily) {
  ResolveOptions ipv4_only;
  ipv4_only.family = AF_INET;
  const std::vector<SocketAddress> addresses =
      run(wait_for(resolve("localhost", "80", ipv4_only), kDeadline));
  ASSERT_FALSE(addresses.empty());
  for (const SocketAddress& address : addresses) {
    EXPECT_TRUE(address.is_ipv4()) << address.to_string();
    EXPECT_TRUE(is_loopback(address)) << address.to_string();
  }

  // A numeric host of the other family has no address of the requested one.
  const Failure v6_as_v4 = run(wait_for(resolve_failure("::1", "80", ipv4_only), kDeadline));
  EXPECT_TRUE(v6_as_v4.resolve_error) << v6_as_v4.otherwise;
  EXPECT_NE(v6_as_v4.message.find("'::1'"), std::string::npos) << v6_as_v4.message;

  ResolveOptions ipv6_only;
  ipv6_only.family = AF_INET6;
  const Failure v4_as_v6 = run(wait_for(resolve_failure("127.0.0.1", "80", ipv6_only), kDeadline));
  EXPECT_TRUE(v4_as_v6.resolve_error) << v4_as_v6.otherwise;
  EXPECT_NE(v4_as_v6.message.find("'127.0.0.1'"), std::string::npos) << v4_as_v6.message;
}

TEST_P(ResolveTest, EmptyHostGivesLoopbackOrWithPassiveTheWildcardOfTheFamily) {
  ResolveOptions options;
  options.family = AF_INET;
  const std::vector<SocketAddress> loopback4 =
      run(wait_for(resolve("", "8080", options), kDeadline));
  ASSERT_EQ(loopback4.size(), 1u) << describe(loopback4);
  EXPECT_EQ(loopback4[0], SocketAddress::loopback(8080));

  options.passive = true;
  const std::vector<SocketAddress> any4 = run(wait_for(resolve("", "8080", options), kDeadline));
  ASSERT_EQ(any4.size(), 1u) << describe(any4);
  EXPECT_EQ(any4[0], SocketAddress::any(8080));

  options.family = AF_INET6;
  const std::vector<SocketAddress> any6 = run(wait_for(resolve("", "8080", options), kDeadline));
  ASSERT_EQ(any6.size(), 1u) << describe(any6);
  EXPECT_EQ(any6[0], SocketAddress::any(8080, true));

  options.passive = false;
  const std::vector<SocketAddress> loopback6 =
      run(wait_for(resolve("", "8080", options), kDeadline));
  ASSERT_EQ(loopback6.size(), 1u) << describe(loopback6);
  EXPECT_EQ(loopback6[0], SocketAddress::loopback(8080, true));
}

// ---- failures --------------------------------------------------------------------------------

TEST_P(ResolveTest, UnknownHostThrowsResolveErrorNamingTheHostAndGaiStrerror) {
  // RFC 2606: .invalid never resolves. Without network the answer may be EAI_NONAME or EAI_AGAIN,
  // so only the shape of the message is checked, against gai_strerror of whatever code came back.
  const Failure failure =
      run(wait_for(resolve_failure("no-such-host.invalid", "80", {}), kDeadline));
  ASSERT_TRUE(failure.resolve_error) << failure.otherwise;
  EXPECT_NE(failure.code, 0);
  const std::string reason = ::gai_strerror(failure.code);
  EXPECT_FALSE(reason.empty());
  EXPECT_NE(failure.message.find("'no-such-host.invalid'"), std::string::npos) << failure.message;
  EXPECT_NE(failure.message.find(reason), std::string::npos) << failure.message;
  EXPECT_GT(failure.message.size(), std::string("no-such-host.invalid").size() + reason.size());
}

TEST_P(ResolveTest, UnknownServiceThrowsResolveErrorNamingTheService) {
  const Failure failure =
      run(wait_for(resolve_failure("127.0.0.1", "no-such-service-xyz", {}), kDeadline));
  ASSERT_TRUE(failure.resolve_error) << failure.otherwise;
  EXPECT_EQ(failure.code, EAI_SERVICE) << ::gai_strerror(failure.code);
  EXPECT_NE(failure.message.find("'no-such-service-xyz'"), std::string::npos) << failure.message;
  EXPECT_NE(failure.message.find(::gai_strerror(failure.code)), std::string::npos)
      << failure.message;
}

// ---- cancellation ----------------------------------------------------------------------------

/// With every worker held, a lookup stays queued; cancelling its task must take the job off the
/// queue and raise CancelledError at once, and the pool and the loop must go on working.
Task<> cancel_a_queued_lookup(OffloadPool* pool, std::atomic<bool>* release,
                              std::atomic<int>* held) {
  const int workers = static_cast<int>(pool->threads());
  std::vector<TaskHandle<>> holders;
  for (int i = 0; i < workers; ++i)
    holders.push_back(spawn(occupy_a_worker(release, held)));
  while (held->load() < workers)
    co_await sleep(1ms);
  const OffloadPoolStats before = pool->stats();

  auto lookup = spawn(resolve("localhost", "80"));
  co_await yield_now();  // the lookup submits its job, which queues behind the held workers
  EXPECT_FALSE(lookup.done());
  lookup.cancel();
  co_await yield_now();
  EXPECT_TRUE(lookup.cancelled()) << "a queued lookup's task must end at once when cancelled";
  EXPECT_THROW(lookup.result(), CancelledError);
  EXPECT_EQ(pool->stats().cancelled_queued, before.cancelled_queued + 1);

  release->store(true);
  for (auto& holder : holders)
    co_await holder;
  const std::vector<SocketAddress> later = co_await resolve("127.0.0.1", "80");
  EXPECT_EQ(later.size(), 1u);
  EXPECT_EQ(later.at(0), SocketAddress::loopback(80));
  EXPECT_EQ(pool->stats().executed, before.executed + 1) << "the withdrawn lookup never ran";
}

TEST_P(ResolveTest, CancellingAQueuedLookupWithdrawsItAndTheLoopGoesOn) {
  run(wait_for(cancel_a_queued_lookup(&pool(), &release_workers, &workers_held), kDeadline));
}

Task<> cancel_before_submission(OffloadPool* pool) {
  const OffloadPoolStats before = pool->stats();
  auto lookup = spawn(resolve("localhost", "80"));
  lookup.cancel();  // before the task ever ran: its first await must not submit anything
  co_await yield_now();
  EXPECT_TRUE(lookup.cancelled());
  EXPECT_THROW(lookup.result(), CancelledError);
  EXPECT_EQ(pool->stats().executed, before.executed);
  EXPECT_EQ(pool->stats().cancelled_queued, before.cancelled_queued);
  const std::vector<SocketAddress> later = co_await resolve("localhost", "80");
  EXPECT_FALSE(later.empty());
}

TEST_P(ResolveTest, CancellingBeforeTheLookupStartsNeverReachesThePool) {
  run(wait_for(cancel_before_submission(&pool()), kDeadline));
}

/// Cancels lookups right after they are submitted, when each may be queued, running on a worker,
/// or already back: the task must end at once either way (cancelled, or with the right answer if
/// the answer was in first), every job must be withdrawn or run exactly once, and the results of
/// the detached ones must be dropped safely when they come back.
Task<> cancel_lookups_in_flight(OffloadPool* pool, int rounds) {
  const OffloadPoolStats before = pool->stats();
  int cancelled = 0;
  int answered = 0;
  for (int i = 0; i < rounds; ++i) {
    auto lookup = spawn(resolve("localhost", std::to_string(1000 + i)));
    co_await yield_now();  // the lookup submits its job
    lookup.cancel();
    co_await yield_now();
    EXPECT_TRUE(lookup.done()) << "round " << i << ": the task waited for its job";
    if (!lookup.done()) break;
    if (lookup.cancelled()) {
      ++cancelled;
      continue;
    }
    ++answered;
    const std::vector<SocketAddress>& addresses = lookup.result();
    EXPECT_FALSE(addresses.empty());
    for (const SocketAddress& address : addresses)
      EXPECT_EQ(address.port(), 1000 + i);
  }
  const OffloadPoolStats after = pool->stats();
  EXPECT_EQ((after.executed - before.executed) + (after.cancelled_queued - before.cancelled_queued),
            static_cast<std::uint64_t>(rounds))
      << "every job is either withdrawn or taken by a worker, once";
  const std::vector<SocketAddress> later = co_await resolve("127.0.0.1", "80");
  EXPECT_EQ(later.size(), 1u);
  std::printf("[ info     ] %d cancelled, %d answered first; %d withdrawn, %d taken by a worker\n",
              cancelled, answered,
              static_cast<int>(after.cancelled_queued - before.cancelled_queued),
              static_cast<int>(after.executed - before.executed));
}

TEST_P(ResolveTest, CancellingRightAfterSubmissionEndsTheAwaitAtOnceAndLosesNoJob) {
  run(wait_for(cancel_lookups_in_flight(&pool(), 50), kDeadline));
}

/// Blocks the loop thread until a worker has taken `before + 1` jobs in all (false after 5 s). The
/// loop is held on purpose: the job's result cannot be delivered meanwhile, so a cancellation that
/// follows finds the job running, or finished but not yet back, and must detach it.
bool wait_until_a_worker_takes_it(OffloadPool* pool, std::uint64_t before) {
  const auto give_up = std::chrono::steady_clock::now() + 5s;
  while (pool->stats().executed <= before) {
    if (std::chrono::steady_clock::now() > give_up) return false;
    std::this_thread::sleep_for(20us);
  }
  return true;
}

Task<> cancel_lookups_a_worker_took(OffloadPool* pool, int rounds) {
  for (int i = 0; i < rounds; ++i) {
    const OffloadPoolStats before = pool->stats();
    auto lookup = spawn(resolve("localhost", std::to_string(2000 + i)));
    co_await yield_now();  // the lookup submits its job...
    co_await yield_now();  // ...and a worker is woken for it when that iteration ends
    const bool taken = wait_until_a_worker_takes_it(pool, before.executed);
    EXPECT_TRUE(taken) << "round " << i << ": no worker took the job";
    lookup.cancel();
    co_await yield_now();
    EXPECT_TRUE(lookup.cancelled()) << "round " << i << ": the task waited for its running job";
    EXPECT_EQ(pool->stats().cancelled_queued, before.cancelled_queued) << "round " << i;
    if (!taken || !lookup.cancelled()) break;
  }
  // The detached jobs' answers come back to a loop where nobody waits: dropped, not delivered.
  const std::vector<SocketAddress> later = co_await resolve("127.0.0.1", "80");
  EXPECT_EQ(later.size(), 1u);
}

TEST_P(ResolveTest, CancellingALookupAWorkerTookEndsTheAwaitAtOnceAndDropsItsAnswer) {
  run(wait_for(cancel_lookups_a_worker_took(&pool(), 20), kDeadline));
}

// ---- concurrency -----------------------------------------------------------------------------

Task<> many_concurrent_lookups(int count) {
  std::vector<TaskHandle<std::vector<SocketAddress>>> lookups;
  for (int i = 0; i < count; ++i)
    lookups.push_back(spawn(resolve("127.0.0.1", std::to_string(10000 + i))));
  for (int i = 0; i < count; ++i) {
    // Each port differs, so an answer delivered to the wrong task shows.
    const std::vector<SocketAddress> addresses = co_await lookups[static_cast<std::size_t>(i)];
    EXPECT_EQ(addresses.size(), 1u) << "lookup " << i;
    if (!addresses.empty()) {
      EXPECT_EQ(addresses[0], SocketAddress::loopback(static_cast<std::uint16_t>(10000 + i)));
    }
  }
}

TEST_P(ResolveTest, TwoHundredConcurrentLookupsEachGetTheirOwnAnswer) {
  run(wait_for(many_concurrent_lookups(200), kDeadline));
}

RINGLOOP_ON_BOTH_BACKENDS(ResolveTest);

}  // namespace
}  // namespace ringloop::testing
