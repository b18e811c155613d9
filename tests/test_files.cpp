// Async file I/O (File, read_file, write_file) on both backends: io_uring runs native operations,
// epoll runs each call on the offload pool. Round trips of 0 bytes, 1 byte and 64 MiB checked
// byte for byte, offsets, fsync, empty files, files that report size 0, every error path with the
// errno and the path in what(), the epoll backend refusing file opcodes, and cancellation in the
// middle of a 64 MiB read leaving nothing in flight and no write into the caller's memory.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <span>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "support/bytes.hpp"
#include "support/loop_fixture.hpp"
#include "support/temporary_directory.hpp"

namespace ringloop::testing {
namespace {

using Bytes = std::vector<std::byte>;

constexpr std::size_t kMiB = 1024 * 1024;
constexpr std::size_t kLarge = 64 * kMiB;

/// Deterministic bytes that do not repeat with any small period, so a shifted offset shows up.
Bytes pattern(std::size_t size, std::uint32_t seed = 1) {
  Bytes bytes(size);
  std::uint32_t state = seed * 2654435761u + 1;
  for (std::size_t i = 0; i < size; ++i) {
    state ^= state << 13;
    state ^= state >> 17;
    state ^= state << 5;
    bytes[i] = static_cast<std::byte>(state >> 24);
  }
  return bytes;
}

/// "" when equal, else where they first differ (never prints 64 MiB into the test log).
std::string difference(const Bytes& actual, const Bytes& expected) {
  if (actual.size() == expected.size() &&
      (actual.empty() || std::memcmp(actual.data(), expected.data(), actual.size()) == 0)) {
    return "";
  }
  if (actual.size() != expected.size()) {
    return "size " + std::to_string(actual.size()) + ", expected " +
           std::to_string(expected.size());
  }
  const auto mismatch = std::mismatch(actual.begin(), actual.end(), expected.begin());
  return "first difference at byte " + std::to_string(mismatch.first - actual.begin());
}

/// The file's contents read with plain system calls, independent of the code under test.
Bytes read_plainly(const std::string& path) {
  Bytes result;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw std::system_error(errno, std::system_category(), "open " + path);
  std::byte chunk[65536];
  for (;;) {
    const ssize_t got = ::read(fd, chunk, sizeof chunk);
    if (got <= 0) break;
    result.insert(result.end(), chunk, chunk + got);
  }
  ::close(fd);
  return result;
}

/// What an operation expected to fail threw.
struct Failure {
  bool threw = false;
  int code = 0;
  std::string what;
};

/// The message a failed `operation` on `path` must carry.
std::string expected_message(const char* operation, const std::string& path, int error) {
  return std::string(operation) + " '" + path + "': " + std::strerror(error);
}

template <class T>
Task<Failure> failure_of(Task<T> operation) {
  Failure failure;
  try {
    co_await operation;
  } catch (const std::system_error& error) {
    failure.threw = true;
    failure.code = error.code().value();
    failure.what = error.what();
  }
  co_return failure;
}

class FileTest : public TwoOffloadWorkersLoopTest {
 protected:
  TemporaryDirectory directory;
};

// ---- round trips ------------------------------------------------------------------------------

Task<Bytes> write_then_read_file(std::string path, Bytes bytes) {
  auto writing = write_file(path, bytes);
  co_await writing;
  auto reading = read_file(path);
  Bytes back = co_await reading;
  co_return back;
}

TEST_P(FileTest, WriteFileThenReadFileRoundTripsZeroOneAnd64MiB) {
  for (const std::size_t size : {std::size_t{0}, std::size_t{1}, kLarge}) {
    SCOPED_TRACE("size " + std::to_string(size));
    const std::string path = directory.file("round-trip-" + std::to_string(size));
    const Bytes bytes = pattern(size, static_cast<std::uint32_t>(size));
    const Bytes back = run(write_then_read_file(path, bytes));
    EXPECT_EQ(difference(back, bytes), "");
    EXPECT_EQ(difference(read_plainly(path), bytes), "") << "what reached the disk";
  }
}

TEST_P(FileTest, WriteFileReplacesLongerContents) {
  const std::string path = directory.file("shrinks");
  run(write_then_read_file(path, pattern(4096)));
  const Bytes shorter = pattern(10, 7);
  EXPECT_EQ(difference(run(write_then_read_file(path, shorter)), shorter), "");
}

// Writes `bytes` at `offset` with as many write_at calls as short writes need.
Task<> write_at_fully(const File* file, std::span<const std::byte> bytes, std::uint64_t offset) {
  while (!bytes.empty()) {
    auto writing = file->write_at(bytes, offset);
    const std::size_t count = co_await writing;
    if (count == 0) throw std::runtime_error("write_at made no progress");
    bytes = bytes.subspan(count);
    offset += count;
  }
}

// Reads into `buffer` from `offset` until it is full or the file ends; gives the bytes read.
Task<std::size_t> read_at_fully(const File* file, std::span<std::byte> buffer,
                                std::uint64_t offset) {
  std::size_t filled = 0;
  while (filled < buffer.size()) {
    auto reading = file->read_at(buffer.subspan(filled), offset + filled);
    const std::size_t got = co_await reading;
    if (got == 0) break;
    filled += got;
  }
  co_return filled;
}

struct OffsetResults {
  Bytes whole;             // read back in odd-sized pieces at odd offsets
  std::size_t tail = 0;    // read_at across the end of the file
  std::size_t at_end = 0;  // read_at at the end of the file
  std::size_t past_end = 0;
};

Task<OffsetResults> write_and_read_at_offsets(std::string path, Bytes bytes) {
  auto opening = File::open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
  File file = co_await opening;
  const std::span<const std::byte> all(bytes);
  // Out of order, at unaligned offsets: the second part first, then the first, then the last.
  const std::size_t first_cut = std::min(bytes.size(), bytes.size() / 3 + 17);
  const std::size_t second_cut =
      std::max(first_cut, std::min(bytes.size(), 2 * bytes.size() / 3 + 5));
  auto second = write_at_fully(&file, all.subspan(first_cut, second_cut - first_cut), first_cut);
  co_await second;
  auto first = write_at_fully(&file, all.first(first_cut), 0);
  co_await first;
  auto last = write_at_fully(&file, all.subspan(second_cut), second_cut);
  co_await last;

  OffsetResults results;
  results.whole.assign(bytes.size(), std::byte{0});
  constexpr std::size_t kPiece = 3 * kMiB + 4093;
  for (std::size_t offset = 0; offset < bytes.size(); offset += kPiece) {
    const std::size_t length = std::min(kPiece, bytes.size() - offset);
    auto piece = read_at_fully(&file, std::span(results.whole).subspan(offset, length), offset);
    co_await piece;
  }
  std::vector<std::byte> small(100);
  auto tail = file.read_at(small, bytes.size() - std::min<std::size_t>(bytes.size(), 10));
  results.tail = co_await tail;
  auto at_end = file.read_at(small, bytes.size());
  results.at_end = co_await at_end;
  auto past_end = file.read_at(small, bytes.size() + 4096);
  results.past_end = co_await past_end;
  auto closing = file.close();
  co_await closing;
  co_return results;
}

TEST_P(FileTest, WriteAtAndReadAtAtUnalignedOffsetsMoveEvery64MiBByte) {
  const std::string path = directory.file("offsets");
  const Bytes bytes = pattern(kLarge, 3);
  const OffsetResults results = run(write_and_read_at_offsets(path, bytes));
  EXPECT_EQ(difference(results.whole, bytes), "");
  EXPECT_EQ(results.tail, 10u) << "a read across the end gives what is left";
  EXPECT_EQ(results.at_end, 0u) << "a read at the end gives 0";
  EXPECT_EQ(results.past_end, 0u);
  EXPECT_EQ(difference(read_plainly(path), bytes), "");
}

TEST_P(FileTest, WriteAtAndReadAtOfZeroAndOneByte) {
  for (const std::size_t size : {std::size_t{0}, std::size_t{1}}) {
    SCOPED_TRACE("size " + std::to_string(size));
    const std::string path = directory.file("small-" + std::to_string(size));
    const Bytes bytes = pattern(size, 9);
    const OffsetResults results = run(write_and_read_at_offsets(path, bytes));
    EXPECT_EQ(difference(results.whole, bytes), "");
    EXPECT_EQ(results.tail, size);
    EXPECT_EQ(results.at_end, 0u);
    EXPECT_EQ(difference(read_plainly(path), bytes), "");
  }
}

Task<Bytes> write_all_twice_then_read_all(std::string path, std::string first, std::string second) {
  auto opening = File::open(path, O_RDWR | O_CREAT | O_TRUNC);
  File file = co_await opening;
  auto writing_first = file.write_all(bytes_of(first));
  co_await writing_first;
  auto writing_second = file.write_all(bytes_of(second));
  co_await writing_second;
  auto reading = file.read_all();
  Bytes all = co_await reading;
  co_return all;
}

TEST_P(FileTest, WriteAllContinuesAtTheFilePositionAndReadAllStartsAtZero) {
  const Bytes all =
      run(write_all_twice_then_read_all(directory.file("appended"), "hello ", "file"));
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(all.data()), all.size()), "hello file");
}

Task<Bytes> append_with_o_append(std::string path, std::string more) {
  auto opening = File::open(path, O_WRONLY | O_APPEND);
  File file = co_await opening;
  auto writing = file.write_all(bytes_of(more));
  co_await writing;
  auto closing = file.close();
  co_await closing;
  auto reading = read_file(path);
  Bytes all = co_await reading;
  co_return all;
}

TEST_P(FileTest, WriteAllHonoursOAppend) {
  const std::string path = directory.file("log");
  const Bytes start = pattern(5000, 4);
  run(write_then_read_file(path, start));
  Bytes expected = start;
  const std::string more = "one more line\n";
  for (char c : more)
    expected.push_back(static_cast<std::byte>(c));
  EXPECT_EQ(difference(run(append_with_o_append(path, more)), expected), "");
}

Task<Bytes> write_fsync_close(std::string path, Bytes bytes) {
  auto opening = File::open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  File file = co_await opening;
  auto writing = file.write_all(bytes);
  co_await writing;
  auto syncing = file.fsync();
  co_await syncing;
  auto closing = file.close();
  co_await closing;
  EXPECT_FALSE(file.is_open());
  auto reading = read_file(path);
  Bytes back = co_await reading;
  co_return back;
}

TEST_P(FileTest, FsyncAfterWriteAllSucceedsAndTheDataIsThere) {
  const std::string path = directory.file("synced");
  const Bytes bytes = pattern(3 * kMiB + 1, 5);
  EXPECT_EQ(difference(run(write_fsync_close(path, bytes)), bytes), "");
  EXPECT_EQ(difference(read_plainly(path), bytes), "");
}

Task<Bytes> read_all_of(std::string path) {
  auto opening = File::open(path, O_RDONLY);
  File file = co_await opening;
  auto reading = file.read_all();
  Bytes all = co_await reading;
  co_return all;
}

TEST_P(FileTest, ReadAllOfAnEmptyFileIsEmpty) {
  const std::string path = directory.file("empty");
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  ASSERT_GE(fd, 0);
  ::close(fd);
  EXPECT_TRUE(run(read_all_of(path)).empty());
  EXPECT_TRUE(run(read_file(path)).empty());
}

TEST_P(FileTest, ReadAllReadsAFileThatReportsSizeZero) {
  // /proc files say st_size 0: the size is only a hint, the reads go on until end of file.
  const Bytes status = run(read_file("/proc/self/status"));
  const std::string text(reinterpret_cast<const char*>(status.data()), status.size());
  EXPECT_NE(text.find("Name:"), std::string::npos);
  EXPECT_NE(text.find("VmRSS:"), std::string::npos) << "read whole, not just a first chunk";
}

Task<std::size_t> read_through_a_destroyed_file(std::string path, std::span<std::byte> buffer) {
  auto opening = File::open(path, O_RDONLY);
  File file = co_await opening;
  // The operation holds the descriptor from the call on: destroying the File does not close it
  // under the pending read.
  auto reading = file.read_at(buffer, 0);
  { File gone = std::move(file); }
  EXPECT_FALSE(file.is_open());
  const std::size_t got = co_await reading;
  co_return got;
}

TEST_P(FileTest, AnOperationKeepsTheDescriptorWhenTheFileIsDestroyed) {
  const std::string path = directory.file("kept");
  const Bytes bytes = pattern(1000, 6);
  run(write_then_read_file(path, bytes));
  Bytes buffer(1000);
  EXPECT_EQ(run(read_through_a_destroyed_file(path, buffer)), 1000u);
  EXPECT_EQ(difference(buffer, bytes), "");
}

// ---- errors: errno and path in what() ----------------------------------------------------------

Task<Failure> open_failure(std::string path, int flags) {
  auto opening = failure_of(File::open(path, flags));
  co_return co_await opening;
}

TEST_P(FileTest, OpeningAMissingFileThrowsENOENTNamingThePath) {
  const std::string path = directory.file("missing/x");
  const Failure failure = run(open_failure(path, O_RDONLY));
  ASSERT_TRUE(failure.threw);
  EXPECT_EQ(failure.code, ENOENT);
  EXPECT_EQ(failure.what, expected_message("open", path, ENOENT));
  const Failure read_failure = run(failure_of(read_file(path)));
  EXPECT_EQ(read_failure.code, ENOENT);
  EXPECT_EQ(read_failure.what, expected_message("open", path, ENOENT));
}

TEST_P(FileTest, OpeningAPathUnderARegularFileThrowsENOTDIR) {
  const Failure failure = run(open_failure("/etc/passwd/x", O_RDONLY));
  EXPECT_EQ(failure.code, ENOTDIR);
  EXPECT_EQ(failure.what, expected_message("open", "/etc/passwd/x", ENOTDIR));
}

// A real EACCES. As a normal user: a file with mode 0000. Root passes every permission check on
// ordinary files, but sysfs refuses to open a read-only attribute for writing even to root.
TEST_P(FileTest, OpeningWithoutPermissionThrowsEACCES) {
  std::string path;
  int flags = O_RDONLY;
  if (::geteuid() != 0) {
    path = directory.file("no-access");
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0000);
    ASSERT_GE(fd, 0);
    ::close(fd);
  } else {
    path = "/sys/devices/system/cpu/online";
    flags = O_WRONLY;
    const int fd = ::open(path.c_str(), flags | O_CLOEXEC);
    if (fd >= 0) ::close(fd);
    if (fd >= 0 || errno != EACCES) {
      GTEST_SKIP() << "running as root and " << path
                   << " does not refuse writing with EACCES here: no EACCES to provoke";
    }
  }
  const Failure failure = run(open_failure(path, flags));
  EXPECT_EQ(failure.code, EACCES);
  EXPECT_EQ(failure.what, expected_message("open", path, EACCES));
}

TEST_P(FileTest, OpeningADirectoryForWritingThrowsEISDIR) {
  const Failure failure = run(open_failure(directory.path(), O_WRONLY));
  EXPECT_EQ(failure.code, EISDIR);
  EXPECT_EQ(failure.what, expected_message("open", directory.path(), EISDIR));
  const Bytes some = pattern(10);
  const Failure write_failure = run(failure_of(write_file(directory.path(), some)));
  EXPECT_EQ(write_failure.code, EISDIR);
  EXPECT_EQ(write_failure.what, expected_message("open", directory.path(), EISDIR));
  // A directory opens for reading; reading it is what fails.
  const Failure read_failure = run(failure_of(read_file(directory.path())));
  EXPECT_EQ(read_failure.code, EISDIR);
  EXPECT_EQ(read_failure.what, expected_message("read", directory.path(), EISDIR));
}

struct ClosedFailures {
  std::vector<Failure> failures;
};

Task<ClosedFailures> operations_after_close(std::string path) {
  auto opening = File::open(path, O_RDWR | O_CREAT, 0600);
  File file = co_await opening;
  auto closing = file.close();
  co_await closing;
  ClosedFailures result;
  std::byte buffer[8]{};
  auto read_at = failure_of(file.read_at(buffer, 0));
  result.failures.push_back(co_await read_at);
  auto write_at = failure_of(file.write_at(buffer, 0));
  result.failures.push_back(co_await write_at);
  auto read_all = failure_of(file.read_all());
  result.failures.push_back(co_await read_all);
  auto write_all = failure_of(file.write_all(buffer));
  result.failures.push_back(co_await write_all);
  auto fsync = failure_of(file.fsync());
  result.failures.push_back(co_await fsync);
  auto close_again = failure_of(file.close());
  result.failures.push_back(co_await close_again);
  co_return result;
}

TEST_P(FileTest, EveryOperationAfterCloseThrowsEBADFNamingThePath) {
  const std::string path = directory.file("closed");
  const ClosedFailures result = run(operations_after_close(path));
  const char* operations[] = {"read", "write", "read", "write", "fsync", "close"};
  ASSERT_EQ(result.failures.size(), 6u);
  for (std::size_t i = 0; i < 6; ++i) {
    EXPECT_TRUE(result.failures[i].threw) << operations[i];
    EXPECT_EQ(result.failures[i].code, EBADF) << operations[i];
    EXPECT_EQ(result.failures[i].what, expected_message(operations[i], path, EBADF));
  }
}

Task<Failure> write_to_read_only(std::string path) {
  auto opening = File::open(path, O_RDONLY);
  File file = co_await opening;
  const std::string text = "nope";
  auto writing = failure_of(file.write_at(bytes_of(text), 0));
  co_return co_await writing;
}

TEST_P(FileTest, WritingAFileOpenedReadOnlyThrowsTheKernelsEBADF) {
  const std::string path = directory.file("read-only");
  run(write_then_read_file(path, pattern(10)));
  const Failure failure = run(write_to_read_only(path));
  EXPECT_EQ(failure.code, EBADF);
  EXPECT_EQ(failure.what, expected_message("write", path, EBADF));
}

TEST_P(FileTest, AClosedDefaultFileFailsWithEBADF) {
  File file;
  EXPECT_FALSE(file.is_open());
  EXPECT_EQ(file.native_handle(), -1);
  const Failure failure = run(failure_of(file.fsync()));
  EXPECT_EQ(failure.code, EBADF);
}

Task<Failure> read_at_far_offset(std::string path) {
  auto opening = File::open(path, O_RDONLY);
  File file = co_await opening;
  std::byte buffer[4];
  // 2^64-1 would mean "the file position" to io_uring; both paths must refuse it alike.
  auto reading = failure_of(file.read_at(buffer, ~std::uint64_t{0}));
  co_return co_await reading;
}

TEST_P(FileTest, OffsetsBeyondOffTAreRejectedWithEINVAL) {
  const std::string path = directory.file("far");
  run(write_then_read_file(path, pattern(10)));
  const Failure far = run(read_at_far_offset(path));
  EXPECT_EQ(far.code, EINVAL);
  EXPECT_EQ(far.what, expected_message("read", path, EINVAL));
}

// ---- the backends' answer to file opcodes -----------------------------------------------------

struct NativeOutcome {
  Failure open;
  Failure sync;
};

Task<NativeOutcome> native_open_and_fsync(std::string path, int fd) {
  NativeOutcome outcome;
  try {
    auto opening = ops::openat(path.c_str(), O_RDONLY | O_CLOEXEC, 0);
    const std::int32_t opened = co_await opening;
    ::close(opened);
  } catch (const std::system_error& error) {
    outcome.open = {true, error.code().value(), error.what()};
  }
  try {
    auto syncing = ops::fsync(fd);
    co_await syncing;
  } catch (const std::system_error& error) {
    outcome.sync = {true, error.code().value(), error.what()};
  }
  co_return outcome;
}

TEST_P(FileTest, FileOpcodesRunNativelyOnUringAndAreRefusedWithEOPNOTSUPPOnEpoll) {
  const std::string path = directory.file("native");
  run(write_then_read_file(path, pattern(10)));
  const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  const NativeOutcome outcome = run(native_open_and_fsync(path, fd));
  ::close(fd);
  const bool uring = GetParam() == io::BackendKind::uring;
  EXPECT_EQ(loop().backend().native_file_io(), uring);
  if (uring) {
    EXPECT_FALSE(outcome.open.threw) << outcome.open.what;
    EXPECT_FALSE(outcome.sync.threw) << outcome.sync.what;
  } else {
    EXPECT_EQ(outcome.open.code, EOPNOTSUPP) << outcome.open.what;
    EXPECT_EQ(outcome.sync.code, EOPNOTSUPP) << outcome.sync.what;
  }
}

// ---- cancellation ------------------------------------------------------------------------------

/// Yields until the file work of a task just spawned is under way: an operation in the backend
/// (io_uring) or a job taken by a pool worker (epoll), or until `done` says it is over.
Task<> wait_until_started(Loop* loop, std::uint64_t jobs_before, const TaskRef* task) {
  const bool native = loop->backend().native_file_io();
  for (int turns = 0; turns < 100000 && !task->done(); ++turns) {
    if (native ? loop->backend().in_flight() > 0
               : loop->default_offload_pool().stats().executed > jobs_before) {
      co_return;
    }
    co_await yield_now();
  }
}

struct CancelOutcome {
  bool cancelled = false;
  bool finished = false;
  std::size_t in_flight_when_done = 99;
  Bytes data;  // what a task that finished first produced
};

Task<Bytes> read_whole_file(std::string path) {
  auto reading = read_file(path);
  Bytes data = co_await reading;
  co_return data;
}

Task<CancelOutcome> cancel_read_file_midway(Loop* loop, std::string path) {
  const std::uint64_t jobs_before = loop->default_offload_pool().stats().executed;
  auto reader = spawn(read_whole_file(path));
  auto waiting = wait_until_started(loop, jobs_before, &reader);
  co_await waiting;
  reader.cancel();
  CancelOutcome outcome;
  try {
    outcome.data = co_await reader;
    outcome.finished = true;
  } catch (const CancelledError&) {
    outcome.cancelled = true;
  }
  outcome.in_flight_when_done = loop->backend().in_flight();
  co_return outcome;
}

TEST_P(FileTest, CancellingA64MiBReadFileMidwayLeavesNothingInFlight) {
  const std::string path = directory.file("big");
  const Bytes bytes = pattern(kLarge, 11);
  run(write_then_read_file(path, bytes));
  const CancelOutcome outcome = run(cancel_read_file_midway(&loop(), path));
  EXPECT_TRUE(outcome.cancelled || outcome.finished);
  EXPECT_EQ(outcome.in_flight_when_done, 0u) << "the task ended before the backend let go";
  if (outcome.finished) {
    EXPECT_EQ(difference(outcome.data, bytes), "");
  }
  // The loop still reads correctly afterwards.
  EXPECT_EQ(difference(run(read_whole_file(path)), bytes), "");
}

// The reader's frame owns the 64 MiB buffer: when a cancelled task ends, the frame and the buffer
// go. Under ASan, a kernel or worker still writing into it would be a use-after-free.
Task<std::size_t> read_into_own_buffer(const File* file) {
  Bytes buffer(kLarge);
  auto reading = file->read_at(buffer, 0);
  const std::size_t got = co_await reading;
  co_return got;
}

Task<std::size_t> read_into(const File* file, std::span<std::byte> buffer) {
  auto reading = file->read_at(buffer, 0);
  const std::size_t got = co_await reading;
  co_return got;
}

/// Opens `path`, spawns a reader of it (the buffer its own, or `buffer` when given), cancels the
/// reader once its read is under way, and reports how it ended.
Task<CancelOutcome> cancel_read_at_midway(Loop* loop, std::string path,
                                          std::span<std::byte> buffer) {
  auto opening = File::open(path, O_RDONLY);
  File file = co_await opening;
  const std::uint64_t jobs_before = loop->default_offload_pool().stats().executed;
  auto reader =
      buffer.empty() ? spawn(read_into_own_buffer(&file)) : spawn(read_into(&file, buffer));
  auto waiting = wait_until_started(loop, jobs_before, &reader);
  co_await waiting;
  reader.cancel();
  CancelOutcome outcome;
  try {
    co_await reader;
    outcome.finished = true;
  } catch (const CancelledError&) {
    outcome.cancelled = true;
  }
  outcome.in_flight_when_done = loop->backend().in_flight();
  co_return outcome;
}

TEST_P(FileTest, CancellingA64MiBReadAtMidwayFreesTheBufferOnlyWhenSafe) {
  const std::string path = directory.file("big-at");
  run(write_then_read_file(path, pattern(kLarge, 12)));
  for (int round = 0; round < 3; ++round) {
    const CancelOutcome outcome = run(cancel_read_at_midway(&loop(), path, {}));
    EXPECT_TRUE(outcome.cancelled || outcome.finished);
    EXPECT_EQ(outcome.in_flight_when_done, 0u);
  }
}

// The offload path's promise: once a cancelled task has resumed, its job never writes into the
// caller's buffer (it reads into memory of its own). Shutting the pool down waits for the job.
TEST_P(FileTest, AnOffloadedReadCancelledMidwayNeverWritesIntoTheCallersBuffer) {
  if (GetParam() == io::BackendKind::uring) {
    GTEST_SKIP() << "io_uring reads natively: the task resumes only after the kernel is done";
  }
  const std::string path = directory.file("sentinel");
  const Bytes bytes = pattern(kLarge, 13);
  run(write_then_read_file(path, bytes));
  Bytes buffer(kLarge, std::byte{0x5a});
  const CancelOutcome outcome = run(cancel_read_at_midway(&loop(), path, buffer));
  loop().default_offload_pool().shutdown(PendingJobs::finish);  // the detached job is done now
  if (outcome.cancelled) {
    EXPECT_EQ(std::count(buffer.begin(), buffer.end(), std::byte{0x5a}),
              static_cast<std::ptrdiff_t>(kLarge))
        << "the job wrote into the cancelled caller's buffer";
  } else {
    EXPECT_EQ(difference(buffer, bytes), "") << "the read finished before the cancellation";
  }
}

Task<File> open_fifo_for_reading(std::string path) {
  auto opening = File::open(path, O_RDONLY);
  File file = co_await opening;
  co_return file;
}

Task<CancelOutcome> cancel_blocked_open(Loop* loop, std::string path, int* writer) {
  const std::uint64_t jobs_before = loop->default_offload_pool().stats().executed;
  auto opener = spawn(open_fifo_for_reading(path));
  auto waiting = wait_until_started(loop, jobs_before, &opener);
  co_await waiting;
  co_await sleep(std::chrono::milliseconds(20));  // well inside the blocking open(2) by now
  opener.cancel();
  // Time for io_uring to interrupt the open on its io-wq worker (asynchronous, like every cancel).
  co_await sleep(std::chrono::milliseconds(20));
  // Unblock the open, in case it still waits: its descriptor then arrives with nobody to take it.
  *writer = ::open(path.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
  CancelOutcome outcome;
  try {
    File file = co_await opener;
    outcome.finished = true;
  } catch (const CancelledError&) {
    outcome.cancelled = true;
  }
  outcome.in_flight_when_done = loop->backend().in_flight();
  co_return outcome;
}

// open(2) of a FIFO for reading blocks until a writer comes. On the offload path the job blocks on
// a pool worker; cancelled, the task ends at once, and the descriptor the job gets once a writer
// arrives is closed by its owner, not leaked (the fixture counts descriptors).
TEST_P(FileTest, CancellingAnOpenBlockedOnAFifoLeaksNoDescriptor) {
  const std::string path = directory.file("fifo");
  ASSERT_EQ(::mkfifo(path.c_str(), 0600), 0);
  int writer = -1;
  const CancelOutcome outcome = run(cancel_blocked_open(&loop(), path, &writer));
  if (GetParam() == io::BackendKind::epoll) {
    EXPECT_TRUE(outcome.cancelled) << "open(2) of a FIFO waits for a writer";
  } else {
    // io_uring's first, non-blocking attempt opens a FIFO for reading without waiting for a
    // writer: the open may be over before the cancellation. Either way nothing may leak.
    EXPECT_TRUE(outcome.cancelled || outcome.finished);
  }
  EXPECT_EQ(outcome.in_flight_when_done, 0u);
  // The pool waits for its jobs: the offloaded open has finished and dropped its descriptor.
  loop().default_offload_pool().shutdown(PendingJobs::finish);
  if (writer >= 0) ::close(writer);
}

struct StepCounts {
  int cancelled = 0;
  int finished = 0;
};

// Cancels a read_file after 0, 1, 2... loop turns (each step of a native read_file: before the
// start, in the open, the fstat and reads, the close), then after longer and longer waits (an
// offloaded job queued, running, done); the last round lets the read finish first. The waits are
// sleeps, not loop turns: a turn with nothing to poll costs no system call, so even a thousand of
// them can pass before a worker thread has started the job.
Task<StepCounts> cancel_at_every_step(Loop* loop, std::string path, int rounds) {
  StepCounts counts;
  for (int round = 0; round < rounds; ++round) {
    auto reader = spawn(read_whole_file(path));
    if (round < 10) {
      for (int i = 0; i < round; ++i)
        co_await yield_now();
    } else if (round < rounds - 1) {
      co_await sleep(std::chrono::microseconds(100 * (round - 9)));
    } else {
      for (int i = 0; i < 10000 && !reader.done(); ++i)
        co_await sleep(std::chrono::milliseconds(1));
    }
    reader.cancel();
    try {
      co_await reader;
      ++counts.finished;
    } catch (const CancelledError&) {
      ++counts.cancelled;
    }
    EXPECT_EQ(loop->backend().in_flight(), 0u) << "after round " << round;
  }
  co_return counts;
}

// Cancelled while opening, reading, or closing: the fixture checks no descriptor leaked.
TEST_P(FileTest, CancellationAtEveryStepOfReadFileLeaksNoDescriptor) {
  const std::string path = directory.file("steps");
  run(write_then_read_file(path, pattern(256 * 1024, 14)));
  const StepCounts counts = run(cancel_at_every_step(&loop(), path, 40));
  EXPECT_GT(counts.cancelled, 0);
  EXPECT_GT(counts.finished, 0) << "the last round waits for the read to finish";
}

RINGLOOP_ON_BOTH_BACKENDS(FileTest);

}  // namespace
}  // namespace ringloop::testing
