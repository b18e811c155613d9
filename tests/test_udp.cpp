// UdpSocket over 127.0.0.1 (and ::1 where the host has IPv6), on both backends: send_to/recv_from
// with the sender's address, datagram boundaries, connect + send/recv and the connected peer
// filter, truncation, zero-length datagrams, close() waking a pending receive, operations on a
// closed socket, and cancellation of a pending receive.

#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstddef>
#include <span>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include "support/loop_fixture.hpp"
#include "support/sockets.hpp"

namespace ringloop::testing {
namespace {

class UdpTest : public LoopTest {};

// ---- helpers ---------------------------------------------------------------------------------

struct Received {
  std::string text;
  Datagram datagram;
};

Task<Received> receive_text(UdpSocket* socket, std::size_t capacity) {
  std::vector<std::byte> buffer(capacity);
  Received received;
  received.datagram = co_await socket->recv_from(buffer);
  received.text = text_of(std::span(buffer).first(std::min(received.datagram.size, capacity)));
  co_return received;
}

Task<std::size_t> send_text(UdpSocket* socket, std::string text, SocketAddress peer) {
  const std::size_t sent = co_await socket->send_to(bytes_of(text), peer);
  co_return sent;
}

// ---- send_to / recv_from ---------------------------------------------------------------------

Task<> round_trip(UdpSocket* a, UdpSocket* b) {
  const SocketAddress a_address = a->local_address();
  const SocketAddress b_address = b->local_address();
  EXPECT_NE(a_address.port(), 0u);
  EXPECT_NE(a_address.port(), b_address.port());

  const std::size_t sent = co_await send_text(a, "ping", b_address);
  EXPECT_EQ(sent, 4u);
  const Received ping = co_await receive_text(b, 64);
  EXPECT_EQ(ping.text, "ping");
  EXPECT_EQ(ping.datagram.size, 4u);
  EXPECT_FALSE(ping.datagram.truncated);
  EXPECT_EQ(ping.datagram.sender, a_address) << ping.datagram.sender.to_string();
  EXPECT_EQ(ping.datagram.sender.to_string(), a_address.to_string());

  // Reply to whoever sent it.
  const std::size_t replied = co_await send_text(b, "pong!", ping.datagram.sender);
  EXPECT_EQ(replied, 5u);
  const Received pong = co_await receive_text(a, 64);
  EXPECT_EQ(pong.text, "pong!");
  EXPECT_EQ(pong.datagram.sender, b_address);

  // Datagram boundaries are kept: three sends, three receives of their own sizes.
  const std::vector<std::string> texts = {"x", "yy", "zzz"};
  for (const std::string& text : texts) {
    const std::size_t count = co_await send_text(a, text, b_address);
    EXPECT_EQ(count, text.size());
  }
  std::vector<std::string> got;
  for (int i = 0; i < 3; ++i) {
    const Received each = co_await receive_text(b, 64);
    got.push_back(each.text);
  }
  EXPECT_EQ(got, texts);
  co_await a->close();
  co_await b->close();
}

TEST_P(UdpTest, SendToAndRecvFromCarryDatagramsBothWaysWithTheSendersAddress) {
  UdpSocket a = UdpSocket::bind(SocketAddress::loopback(0));
  UdpSocket b = UdpSocket::bind(SocketAddress::loopback(0));
  EXPECT_EQ(a.local_address().host(), "127.0.0.1");
  run(round_trip(&a, &b));
  EXPECT_FALSE(a.is_open());
}

Task<> connected_exchange(UdpSocket* a, UdpSocket* b, UdpSocket* stranger) {
  a->connect(b->local_address());
  b->connect(a->local_address());
  const std::string hello = "hello over connect";
  const std::size_t sent = co_await a->send(bytes_of(hello));
  EXPECT_EQ(sent, hello.size());
  std::array<std::byte, 64> buffer{};
  std::size_t got = co_await b->recv(buffer);
  EXPECT_EQ(text_of(std::span(buffer).first(got)), hello);

  // b only hears from a now: the stranger's datagram is dropped, a's arrives.
  const std::size_t stray = co_await send_text(stranger, "stray", b->local_address());
  EXPECT_EQ(stray, 5u);
  const std::string reply = "from a again";
  const std::size_t again = co_await a->send(bytes_of(reply));
  EXPECT_EQ(again, reply.size());
  got = co_await b->recv(buffer);
  EXPECT_EQ(text_of(std::span(buffer).first(got)), reply);

  const std::size_t back = co_await b->send(bytes_of(std::string_view("back")));
  EXPECT_EQ(back, 4u);
  const Received answer = co_await receive_text(a, 64);
  EXPECT_EQ(answer.text, "back");
  EXPECT_EQ(answer.datagram.sender, b->local_address());
  co_await a->close();
  co_await b->close();
  co_await stranger->close();
}

TEST_P(UdpTest, ConnectedSocketsSendAndRecvAndIgnoreOtherSenders) {
  UdpSocket a = UdpSocket::bind(SocketAddress::loopback(0));
  UdpSocket b = UdpSocket::bind(SocketAddress::loopback(0));
  UdpSocket stranger = UdpSocket::bind(SocketAddress::loopback(0));
  run(connected_exchange(&a, &b, &stranger));
}

Task<> truncated_datagram(UdpSocket* a, UdpSocket* b) {
  std::string big(100, '\0');
  for (std::size_t i = 0; i < big.size(); ++i)
    big[i] = static_cast<char>('A' + i % 26);
  const std::size_t sent = co_await send_text(a, big, b->local_address());
  EXPECT_EQ(sent, 100u);
  std::array<std::byte, 10> small{};
  const Datagram datagram = co_await b->recv_from(small);
  EXPECT_TRUE(datagram.truncated) << "a 100-byte datagram in a 10-byte buffer";
  // The size is what landed in the buffer (recvfrom's count) or the datagram's full size.
  EXPECT_TRUE(datagram.size == 10u || datagram.size == 100u) << datagram.size;
  EXPECT_EQ(text_of(small), "ABCDEFGHIJ");
  EXPECT_EQ(datagram.sender, a->local_address());
  // The rest of it is gone: the next receive gets the next datagram, whole.
  const std::size_t next = co_await send_text(a, "next", b->local_address());
  EXPECT_EQ(next, 4u);
  const Received after = co_await receive_text(b, 64);
  EXPECT_EQ(after.text, "next");
  EXPECT_FALSE(after.datagram.truncated);
  co_await a->close();
  co_await b->close();
}

TEST_P(UdpTest, ADatagramLargerThanTheBufferComesTruncatedAndTheRestIsDropped) {
  UdpSocket a = UdpSocket::bind(SocketAddress::loopback(0));
  UdpSocket b = UdpSocket::bind(SocketAddress::loopback(0));
  run(truncated_datagram(&a, &b));
}

Task<> empty_datagram(UdpSocket* a, UdpSocket* b) {
  const std::size_t sent = co_await send_text(a, "", b->local_address());
  EXPECT_EQ(sent, 0u);
  const Received empty = co_await receive_text(b, 64);
  EXPECT_EQ(empty.datagram.size, 0u);
  EXPECT_EQ(empty.text, "");
  EXPECT_FALSE(empty.datagram.truncated);
  EXPECT_EQ(empty.datagram.sender, a->local_address());
  // An empty datagram is a datagram, not the end of anything: the next one follows.
  const std::size_t more = co_await send_text(a, "after", b->local_address());
  EXPECT_EQ(more, 5u);
  const Received after = co_await receive_text(b, 64);
  EXPECT_EQ(after.text, "after");
  co_await a->close();
  co_await b->close();
}

TEST_P(UdpTest, AZeroLengthDatagramIsSentAndReceivedAsSuch) {
  UdpSocket a = UdpSocket::bind(SocketAddress::loopback(0));
  UdpSocket b = UdpSocket::bind(SocketAddress::loopback(0));
  run(empty_datagram(&a, &b));
}

Task<> ipv6_round_trip(UdpSocket* a, UdpSocket* b) {
  const SocketAddress b_address = b->local_address();
  EXPECT_TRUE(b_address.is_ipv6());
  EXPECT_EQ(b_address.to_string(), "[::1]:" + std::to_string(b_address.port()));
  const std::size_t sent = co_await send_text(a, "over six", b_address);
  EXPECT_EQ(sent, 8u);
  const Received got = co_await receive_text(b, 64);
  EXPECT_EQ(got.text, "over six");
  EXPECT_TRUE(got.datagram.sender.is_ipv6());
  EXPECT_EQ(got.datagram.sender, a->local_address());
  EXPECT_EQ(got.datagram.sender.host(), "::1");
  co_await a->close();
  co_await b->close();
}

TEST_P(UdpTest, SendToAndRecvFromWorkOverIpv6Loopback) {
  UdpSocket a;
  UdpSocket b;
  try {
    a = UdpSocket::bind(SocketAddress::loopback(0, true));
    b = UdpSocket::bind(SocketAddress::loopback(0, true));
  } catch (const std::system_error& error) {
    GTEST_SKIP() << "no IPv6 loopback here: " << error.what();
  }
  run(ipv6_round_trip(&a, &b));
}

// ---- close, closed sockets, cancellation -----------------------------------------------------

Task<> close_wakes_pending_receive(UdpSocket* socket) {
  TaskHandle<Received> receiver = spawn(receive_text(socket, 64), "receiver");
  co_await let_others_run();
  EXPECT_FALSE(receiver.done());
  co_await socket->close();
  EXPECT_FALSE(socket->is_open());
  bool failed = false;
  try {
    const Received received = co_await receiver;
    ADD_FAILURE() << "the receive pending at close() gave a datagram of " << received.datagram.size
                  << " bytes";
  } catch (const std::system_error& error) {
    failed = true;
    EXPECT_NE(std::string(error.what()), "");
  }
  EXPECT_TRUE(failed);
  EXPECT_EQ(in_flight_now(), 0u);
  co_await socket->close();  // twice: a no-op
}

TEST_P(UdpTest, CloseWhileRecvFromIsPendingInAnotherTaskEndsItWithSystemError) {
  UdpSocket socket = UdpSocket::bind(SocketAddress::loopback(0));
  run(close_wakes_pending_receive(&socket));
}

Task<> use_after_close(UdpSocket* socket, SocketAddress peer) {
  co_await socket->close();
  int ebadf = 0;
  try {
    const std::size_t sent = co_await send_text(socket, "nobody", peer);
    ADD_FAILURE() << "send_to on a closed socket sent " << sent << " bytes";
  } catch (const std::system_error& error) {
    EXPECT_EQ(error.code(), std::error_code(EBADF, std::system_category())) << error.what();
    ++ebadf;
  }
  try {
    const Received received = co_await receive_text(socket, 16);
    ADD_FAILURE() << "recv_from on a closed socket gave " << received.datagram.size << " bytes";
  } catch (const std::system_error& error) {
    EXPECT_EQ(error.code(), std::error_code(EBADF, std::system_category())) << error.what();
    ++ebadf;
  }
  try {
    const std::size_t sent = co_await socket->send(bytes_of(std::string_view("x")));
    ADD_FAILURE() << "send on a closed socket sent " << sent << " bytes";
  } catch (const std::system_error& error) {
    EXPECT_EQ(error.code(), std::error_code(EBADF, std::system_category())) << error.what();
    ++ebadf;
  }
  EXPECT_EQ(ebadf, 3);
}

TEST_P(UdpTest, SendToOnAClosedSocketThrowsSystemErrorEbadf) {
  UdpSocket socket = UdpSocket::bind(SocketAddress::loopback(0));
  UdpSocket peer = UdpSocket::bind(SocketAddress::loopback(0));
  run(use_after_close(&socket, peer.local_address()));
}

Task<> cancel_pending_receive(UdpSocket* a, UdpSocket* b) {
  TaskHandle<Received> receiver = spawn(receive_text(b, 64), "receiver");
  co_await let_others_run();
  EXPECT_FALSE(receiver.done());
  receiver.cancel();
  bool cancelled = false;
  try {
    const Received received = co_await receiver;
    ADD_FAILURE() << "the cancelled recv_from gave '" << received.text << "'";
  } catch (const CancelledError&) {
    cancelled = true;
  }
  EXPECT_TRUE(cancelled);
  EXPECT_EQ(in_flight_now(), 0u) << "the cancelled receive is still in flight";
  // The socket still works, and the next datagram goes to the next receive, not to the
  // cancelled one.
  const std::size_t sent = co_await send_text(a, "after cancel", b->local_address());
  EXPECT_EQ(sent, 12u);
  const Received got = co_await receive_text(b, 64);
  EXPECT_EQ(got.text, "after cancel");
  EXPECT_EQ(got.datagram.sender, a->local_address());
  co_await a->close();
  co_await b->close();
}

TEST_P(UdpTest, CancellingAPendingRecvFromEndsWithCancelledErrorAndTheSocketStillReceives) {
  UdpSocket a = UdpSocket::bind(SocketAddress::loopback(0));
  UdpSocket b = UdpSocket::bind(SocketAddress::loopback(0));
  run(cancel_pending_receive(&a, &b));
}

TEST(UdpBindTest, BindRejectsANonInternetAddressAndAPortInUse) {
  EXPECT_THROW(UdpSocket::bind(SocketAddress::unix_abstract("ringloop-udp")),
               std::invalid_argument);
  UdpSocket first = UdpSocket::bind(SocketAddress::loopback(0));
  try {
    UdpSocket second = UdpSocket::bind(first.local_address());
    ADD_FAILURE() << "two sockets bound to " << first.local_address().to_string();
  } catch (const std::system_error& error) {
    EXPECT_EQ(error.code(), std::error_code(EADDRINUSE, std::system_category())) << error.what();
    EXPECT_NE(std::string(error.what()).find(first.local_address().to_string()), std::string::npos)
        << error.what();
  }
}

RINGLOOP_ON_BOTH_BACKENDS(UdpTest);

}  // namespace
}  // namespace ringloop::testing
