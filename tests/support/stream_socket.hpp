#pragma once
// What the StreamSocket tests share (test_stream_socket_reads.cpp, test_stream_socket_writes.cpp,
// test_stream_socket_cancellation.cpp): a byte pattern, waiting for buffered bytes, reading a
// pattern back and checking it, and a writer that sends pieces apart.

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

#include "loop_fixture.hpp"
#include "sockets.hpp"

namespace ringloop::testing {

using namespace std::chrono_literals;

inline constexpr std::size_t chunk_size = 64 * 1024;

/// The byte at `offset` of a stream whose every position is distinct enough that a lost,
/// repeated or reordered chunk shows.
inline std::byte stream_pattern_byte(std::size_t offset) {
  const std::uint64_t mixed = static_cast<std::uint64_t>(offset) * 2654435761u;
  return static_cast<std::byte>((mixed >> 13) ^ (offset >> 16));
}

inline std::vector<std::byte> pattern(std::size_t offset, std::size_t size) {
  std::vector<std::byte> bytes(size);
  for (std::size_t i = 0; i < size; ++i)
    bytes[i] = stream_pattern_byte(offset + i);
  return bytes;
}

/// Waits until `stream` has buffered at least `count` received bytes; a test failure after ~10 s.
inline Task<> wait_for_buffered(const StreamSocket* stream, std::size_t count) {
  for (int i = 0; i < 10000 && stream->read_buffer_size() < count; ++i)
    co_await sleep(1ms);
  EXPECT_GE(stream->read_buffer_size(), count) << "the bytes never reached the read buffer";
}

/// Waits until `count` bytes have arrived for `stream` and wait to be read, wherever they are: in
/// the kernel (FIONREAD) or already taken by the stream (read_buffer_size(): on io_uring its
/// multishot receive stays armed between reads); a test failure after ~10 s.
inline Task<> wait_for_arrived(const StreamSocket* stream, std::size_t count) {
  std::size_t arrived = 0;
  for (int i = 0; i < 10000; ++i) {
    int in_kernel = 0;
    if (::ioctl(stream->native_handle(), FIONREAD, &in_kernel) != 0) in_kernel = 0;
    arrived = static_cast<std::size_t>(in_kernel) + stream->read_buffer_size();
    if (arrived >= count) co_return;
    co_await sleep(1ms);
  }
  ADD_FAILURE() << "only " << arrived << " of " << count << " bytes ever arrived";
}

/// Operations a stream that has been read may keep in flight between reads: on io_uring with
/// multishot receive its receive stays armed for the next bytes; elsewhere none.
inline std::size_t armed_receives(std::size_t streams_read) {
  return Loop::current().backend().multishot_receive() ? streams_read : 0;
}

/// What a reader that reads to the end of the stream saw of a pattern stream.
struct PatternCheck {
  std::size_t received = 0;
  std::size_t first_mismatch = SIZE_MAX;  // offset of the first wrong byte, if any
  bool clean_end = false;                 // ended with read_some() == 0, not an exception
};

/// Reads `stream` to its end, in `piece`-byte reads, comparing with pattern(0, ...).
inline Task<> read_pattern_to_end(StreamSocket* stream, std::size_t piece, PatternCheck* check) {
  std::vector<std::byte> buffer(piece);
  for (;;) {
    const std::size_t got = co_await stream->read_some(buffer);
    if (got == 0) break;
    for (std::size_t i = 0; i < got; ++i) {
      if (check->first_mismatch == SIZE_MAX &&
          buffer[i] != stream_pattern_byte(check->received + i)) {
        check->first_mismatch = check->received + i;
      }
    }
    check->received += got;
  }
  check->clean_end = true;
}

inline Task<> write_pieces_apart(StreamSocket* stream, std::vector<std::string> pieces) {
  for (const std::string& piece : pieces) {
    co_await stream->write_all(piece);
    co_await sleep(2ms);  // separate segments, most likely (the test passes either way)
  }
}

/// What one read_some() of at most 64 bytes gives, as text.
inline Task<std::string> read_some_text(StreamSocket* stream) {
  std::array<std::byte, 64> buffer{};
  const std::size_t got = co_await stream->read_some(buffer);
  co_return text_of(std::span(buffer).first(got));
}

}  // namespace ringloop::testing
