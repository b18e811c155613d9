// StreamSocket reads over loopback TCP on both backends: read_exactly, read_until, readline,
// read_some, the errors that leave the stream usable, and one reader at a time.

#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include "support/loop_fixture.hpp"
#include "support/sockets.hpp"
#include "support/stream_socket.hpp"
namespace ringloop::testing {
namespace {

using namespace std::chrono_literals;

class StreamSocketTest : public LoopTest {};

// ---- read_exactly ----------------------------------------------------------------------------

Task<> read_exactly_across_small_writes() {
  Connection c = co_await connect_over_loopback();
  c.server.set_nodelay(true);
  TaskHandle<> peer =
      spawn(write_pieces_apart(&c.server, {"ab", "cde", "f", "ghij", "KLM"}), "peer");
  std::array<std::byte, 10> ten{};
  co_await c.client.read_exactly(ten);
  EXPECT_EQ(text_of(ten), "abcdefghij");
  std::array<std::byte, 3> three{};
  co_await c.client.read_exactly(three);
  EXPECT_EQ(text_of(three), "KLM");
  co_await peer;
  std::array<std::byte, 0> none{};
  co_await c.client.read_exactly(none);  // zero bytes: returns at once
  EXPECT_EQ(c.client.read_buffer_size(), 0u);
  co_await c.client.close();
  co_await c.server.close();
}

TEST_P(StreamSocketTest, ReadExactlyGathersExactlyTheBytesOfSeveralSmallPeerWrites) {
  run(read_exactly_across_small_writes());
}

Task<> read_exactly_leaves_the_rest_buffered() {
  Connection c = co_await connect_over_loopback();
  co_await c.server.write_all("0123456789tail");
  co_await wait_for_kernel_bytes(c.client.native_handle(), 14);
  std::array<std::byte, 10> ten{};
  co_await c.client.read_exactly(ten);
  EXPECT_EQ(text_of(ten), "0123456789");
  std::array<std::byte, 64> rest{};
  const std::size_t got = co_await c.client.read_some(rest);
  EXPECT_EQ(text_of(std::span(rest).first(got)), "tail");
  co_await c.client.close();
  co_await c.server.close();
}

TEST_P(StreamSocketTest, ReadExactlyLeavesTheBytesBeyondItsCountForTheNextRead) {
  run(read_exactly_leaves_the_rest_buffered());
}

Task<> read_exactly_meets_end_of_stream() {
  Connection c = co_await connect_over_loopback();
  co_await c.server.write_all("partial");
  co_await c.server.close();
  std::array<std::byte, 20> twenty{};
  bool threw = false;
  try {
    co_await c.client.read_exactly(twenty);
  } catch (const IncompleteReadError& error) {
    threw = true;
    EXPECT_EQ(error.partial(), "partial");
    EXPECT_EQ(error.expected(), 20u);
  }
  EXPECT_TRUE(threw) << "read_exactly(20) returned although only 7 bytes were ever sent";
  EXPECT_TRUE(c.client.at_eof());
  EXPECT_EQ(c.client.read_buffer_size(), 0u);
  std::array<std::byte, 4> more{};
  const std::size_t got = co_await c.client.read_some(more);
  EXPECT_EQ(got, 0u);
  co_await c.client.close();
}

TEST_P(StreamSocketTest, ReadExactlyAtEndOfStreamThrowsIncompleteReadErrorWithThePartialBytes) {
  run(read_exactly_meets_end_of_stream());
}

// ---- read_until ------------------------------------------------------------------------------

Task<> read_until_split_delimiter() {
  Connection c = co_await connect_over_loopback();
  c.server.set_nodelay(true);
  TaskHandle<std::string> reader = spawn(c.client.read_until("\r\n\r\n"), "reader");
  // Each piece reaches the reader's buffer before the next is sent: the delimiter is split across
  // three receives, and "\r\n" inside the first piece is a false start.
  co_await c.server.write_all("GET / HTTP/1.1\r\nHost: x\r");
  co_await wait_for_buffered(&c.client, 24);
  co_await c.server.write_all("\n\r");
  co_await wait_for_buffered(&c.client, 26);
  EXPECT_FALSE(reader.done());
  co_await c.server.write_all("\nbody");
  const std::string head = co_await reader;
  EXPECT_EQ(head, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  co_await wait_for_buffered(&c.client, 4);
  EXPECT_EQ(c.client.read_buffer_size(), 4u);
  std::array<std::byte, 4> body{};
  co_await c.client.read_exactly(body);
  EXPECT_EQ(text_of(body), "body");
  co_await c.client.close();
  co_await c.server.close();
}

TEST_P(StreamSocketTest, ReadUntilFindsAMultiByteDelimiterSplitAcrossPeerWrites) {
  run(read_until_split_delimiter());
}

Task<> read_until_one_message_at_a_time() {
  Connection c = co_await connect_over_loopback();
  co_await c.server.write_all("one;two;;three;a--b----c--");
  co_await wait_for_kernel_bytes(c.client.native_handle(), 26);
  std::vector<std::string> got;
  for (int i = 0; i < 4; ++i) {
    std::string message = co_await c.client.read_until(";");
    got.push_back(message);
  }
  for (int i = 0; i < 4; ++i) {
    std::string message = co_await c.client.read_until("--");
    got.push_back(message);
  }
  const std::vector<std::string> expected = {"one;", "two;", ";",  "three;",
                                             "a--",  "b--",  "--", "c--"};
  EXPECT_EQ(got, expected);
  EXPECT_EQ(c.client.read_buffer_size(), 0u);
  co_await c.client.close();
  co_await c.server.close();
}

TEST_P(StreamSocketTest, ReadUntilGivesSeveralMessagesOfOnePeerWriteOneAtATime) {
  run(read_until_one_message_at_a_time());
}

Task<> read_until_overruns_then_continues() {
  Connection c = co_await connect_over_loopback();
  const std::string long_line = std::string(100, 'x') + "END\n";
  co_await c.server.write_all(long_line + "next\n");
  co_await wait_for_kernel_bytes(c.client.native_handle(), 109);
  bool overran = false;
  try {
    std::string line = co_await c.client.read_until("\n", 64);
    ADD_FAILURE() << "read_until gave '" << line << "' past max_bytes";
  } catch (const LimitOverrunError& error) {
    overran = true;
    EXPECT_GE(error.buffered(), 64u);
    EXPECT_EQ(error.buffered(), c.client.read_buffer_size());
  }
  EXPECT_TRUE(overran);
  // Nothing was lost: the next reads give the same bytes, from the first one on.
  std::array<std::byte, 10> first{};
  const std::size_t got = co_await c.client.read_some(first);
  EXPECT_EQ(text_of(std::span(first).first(got)), std::string(got, 'x'));
  EXPECT_GT(got, 0u);
  std::vector<std::byte> rest(100 - got);
  co_await c.client.read_exactly(rest);
  EXPECT_EQ(text_of(rest), std::string(100 - got, 'x'));
  const std::string end = co_await c.client.read_until("\n", 64);
  EXPECT_EQ(end, "END\n");
  const std::string next = co_await c.client.readline();
  EXPECT_EQ(next, "next\n");
  co_await c.client.close();
  co_await c.server.close();
}

TEST_P(StreamSocketTest, ReadUntilWithoutDelimiterWithinMaxBytesThrowsLimitOverrunAndLosesNothing) {
  run(read_until_overruns_then_continues());
}

Task<> read_until_overruns_while_waiting() {
  Connection c = co_await connect_over_loopback();
  c.server.set_nodelay(true);
  // The delimiter never comes: the reader must give up once max_bytes are buffered, not wait.
  TaskHandle<> peer =
      spawn(write_pieces_apart(&c.server,
                               {std::string(30, 'a'), std::string(30, 'b'), std::string(30, 'c')}),
            "peer");
  bool overran = false;
  try {
    std::string line = co_await c.client.read_until("|", 50);
    ADD_FAILURE() << "read_until gave '" << line << "'";
  } catch (const LimitOverrunError& error) {
    overran = true;
    EXPECT_GE(error.buffered(), 50u);
  }
  EXPECT_TRUE(overran);
  co_await peer;
  co_await c.server.write_all("|");
  const std::string all = co_await c.client.read_until("|", 1000);
  EXPECT_EQ(all, std::string(30, 'a') + std::string(30, 'b') + std::string(30, 'c') + "|");
  co_await c.client.close();
  co_await c.server.close();
}

TEST_P(StreamSocketTest, ReadUntilGivesUpWhenMaxBytesArriveWithoutDelimiterAndTheBytesStay) {
  run(read_until_overruns_while_waiting());
}

Task<> read_until_meets_end_of_stream() {
  Connection c = co_await connect_over_loopback();
  co_await c.server.write_all("no delimiter here");
  co_await c.server.shutdown_write();
  bool threw = false;
  try {
    std::string line = co_await c.client.read_until("\n");
    ADD_FAILURE() << "read_until gave '" << line << "'";
  } catch (const IncompleteReadError& error) {
    threw = true;
    EXPECT_EQ(error.partial(), "no delimiter here");
  }
  EXPECT_TRUE(threw);
  EXPECT_TRUE(c.client.at_eof());
  co_await c.client.close();
  co_await c.server.close();
}

TEST_P(StreamSocketTest, ReadUntilAtEndOfStreamBeforeTheDelimiterThrowsIncompleteReadError) {
  run(read_until_meets_end_of_stream());
}

Task<> read_until_empty_delimiter() {
  Connection c = co_await connect_over_loopback();
  bool rejected = false;
  try {
    std::string line = co_await c.client.read_until("");
    ADD_FAILURE() << "read_until(\"\") gave '" << line << "'";
  } catch (const std::invalid_argument&) {
    rejected = true;
  }
  EXPECT_TRUE(rejected);
  // The refusal did not leave the stream marked as being read.
  co_await c.server.write_all("ok\n");
  const std::string line = co_await c.client.read_until("\n");
  EXPECT_EQ(line, "ok\n");
  co_await c.client.close();
  co_await c.server.close();
}

TEST_P(StreamSocketTest, ReadUntilWithAnEmptyDelimiterThrowsInvalidArgument) {
  run(read_until_empty_delimiter());
}

// ---- readline --------------------------------------------------------------------------------

Task<> readline_lines_then_eof() {
  Connection c = co_await connect_over_loopback();
  c.server.set_nodelay(true);
  TaskHandle<> peer =
      spawn(write_pieces_apart(&c.server, {"first\nsec", "ond\n", "\n", "last"}), "peer");
  std::vector<std::string> lines;
  for (int i = 0; i < 3; ++i) {
    std::string line = co_await c.client.readline();
    lines.push_back(line);
  }
  co_await peer;
  co_await c.server.shutdown_write();
  for (int i = 0; i < 3; ++i) {
    std::string line = co_await c.client.readline();
    lines.push_back(line);
  }
  const std::vector<std::string> expected = {"first\n", "second\n", "\n", "last", "", ""};
  EXPECT_EQ(lines, expected);
  EXPECT_TRUE(c.client.at_eof());
  co_await c.client.close();
  co_await c.server.close();
}

TEST_P(StreamSocketTest, ReadlineGivesLinesThenTheUnterminatedLastLineThenEmptyAtEof) {
  run(readline_lines_then_eof());
}

// ---- read_some, at_eof, read_buffer_size -----------------------------------------------------

Task<> read_some_after_buffered_read() {
  Connection c = co_await connect_over_loopback();
  co_await c.server.write_all("line\nrest-of-data");
  co_await wait_for_kernel_bytes(c.client.native_handle(), 17);
  EXPECT_EQ(c.client.read_buffer_size(), 0u);
  const std::string line = co_await c.client.readline();
  EXPECT_EQ(line, "line\n");
  EXPECT_EQ(c.client.read_buffer_size(), 12u);
  EXPECT_FALSE(c.client.at_eof());

  std::array<std::byte, 4> four{};
  std::size_t got = co_await c.client.read_some(four);
  EXPECT_EQ(text_of(std::span(four).first(got)), "rest");
  EXPECT_EQ(c.client.read_buffer_size(), 8u);
  std::array<std::byte, 0> none{};
  got = co_await c.client.read_some(none);
  EXPECT_EQ(got, 0u);
  EXPECT_FALSE(c.client.at_eof()) << "an empty read_some is not the end of the stream";

  // More bytes have arrived now (in the kernel, or taken by an armed receive), but the buffered
  // ones come first, alone.
  co_await c.server.write_all("MORE");
  co_await wait_for_arrived(&c.client, 8 + 4);
  std::array<std::byte, 100> big{};
  got = co_await c.client.read_some(big);
  EXPECT_EQ(text_of(std::span(big).first(got)), "-of-data");
  EXPECT_LE(c.client.read_buffer_size(), 4u) << "only the newer bytes may be waiting";
  got = co_await c.client.read_some(big);
  EXPECT_EQ(text_of(std::span(big).first(got)), "MORE");

  co_await c.server.close();
  got = co_await c.client.read_some(big);
  EXPECT_EQ(got, 0u);
  EXPECT_TRUE(c.client.at_eof());
  got = co_await c.client.read_some(big);
  EXPECT_EQ(got, 0u) << "the end of the stream is sticky";
  co_await c.client.close();
}

TEST_P(StreamSocketTest, ReadSomeGivesBufferedBytesFirstAndAtEofOnlyOnceTheEndIsRead) {
  run(read_some_after_buffered_read());
}

// ---- one reader at a time --------------------------------------------------------------------

Task<> two_concurrent_readers() {
  Connection c = co_await connect_over_loopback();
  TaskHandle<std::string> first = spawn(read_some_text(&c.client), "first reader");
  co_await let_others_run();
  EXPECT_FALSE(first.done());
  int refused = 0;
  try {
    std::string text = co_await read_some_text(&c.client);
    ADD_FAILURE() << "second read_some gave '" << text << "'";
  } catch (const InvalidStateError&) {
    ++refused;
  }
  try {
    std::string line = co_await c.client.read_until("\n");
    ADD_FAILURE() << "second read_until gave '" << line << "'";
  } catch (const InvalidStateError&) {
    ++refused;
  }
  try {
    std::array<std::byte, 1> one{};
    co_await c.client.read_exactly(one);
    ADD_FAILURE() << "second read_exactly returned";
  } catch (const InvalidStateError&) {
    ++refused;
  }
  EXPECT_EQ(refused, 3);
  co_await c.server.write_all("for the first");
  const std::string text = co_await first;
  EXPECT_EQ(text, "for the first");
  // Once the first read is over, another may start.
  co_await c.server.write_all("then\n");
  const std::string line = co_await c.client.readline();
  EXPECT_EQ(line, "then\n");
  co_await c.client.close();
  co_await c.server.close();
}

TEST_P(StreamSocketTest, ASecondConcurrentReadThrowsInvalidStateErrorAndTheFirstIsUndisturbed) {
  run(two_concurrent_readers());
}

RINGLOOP_ON_BOTH_BACKENDS(StreamSocketTest);

}  // namespace
}  // namespace ringloop::testing
