#include <ringloop/runtime/file.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <coroutine>
#include <cstring>
#include <limits>
#include <system_error>
#include <utility>

#include <ringloop/runtime/io_operation.hpp>
#include <ringloop/runtime/loop.hpp>
#include <ringloop/runtime/offload.hpp>

#include "io/system_call.hpp"
#include "runtime/system_error.hpp"

namespace ringloop {
namespace detail {

class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) noexcept : fd_(fd) {}
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  // Errors have nowhere to go here; File::close() is the way to hear about them.
  ~FileDescriptor() {
    if (const int fd = fd_.load(std::memory_order_relaxed); fd >= 0) ::close(fd);
  }

  [[nodiscard]] int get() const noexcept { return fd_.load(std::memory_order_relaxed); }
  void adopt(int fd) noexcept { fd_.store(fd, std::memory_order_relaxed); }
  int release() noexcept { return fd_.exchange(-1, std::memory_order_relaxed); }

 private:
  // Atomic: a closing thread takes the number after use_count() said it was the only owner, a
  // relaxed observation that does not order it after the last reader on another thread.
  std::atomic<int> fd_;
};

}  // namespace detail

namespace {

using Descriptor = std::shared_ptr<detail::FileDescriptor>;

// Linux moves at most this many bytes per read/write call (and io_uring per operation).
constexpr std::size_t kMaxTransfer = io::max_transfer_bytes;
// read_all's first buffer when fstat gives no useful size, and its smallest growth step.
constexpr std::size_t kReadChunk = 64 * 1024;

[[noreturn]] void throw_file_error(int error, const char* operation, const std::string& path) {
  detail::throw_system_error(error, std::string(operation) + " '" + path + "'");
}

// The file layer asks the backend what it can do and never names it.
bool loop_has_native_file_io() {
  return Loop::current().backend().native_file_io();
}

// pread/pwrite take a signed off_t; io_uring would read offset 2^64-1 as "the file position".
void check_offset(std::uint64_t offset, const char* operation, const std::string& path) {
  if (offset > static_cast<std::uint64_t>(std::numeric_limits<off_t>::max())) {
    throw_file_error(EINVAL, operation, path);
  }
}

// A native operation whose failure names the file: the errno is kept, the message becomes
// "read '<path>'" instead of "read on fd 7". Lives in the awaiting frame, like the operation.
class FileOperation {
 public:
  FileOperation(IoOperation operation, const char* name, const std::string& path) noexcept
      : operation_(std::move(operation)), name_(name), path_(&path) {}

  bool await_ready() const noexcept { return false; }
  bool await_suspend(std::coroutine_handle<> awaiting) {
    reached_backend_ = operation_.await_suspend(awaiting);
    return reached_backend_;
  }
  std::int32_t await_resume() {
    try {
      return operation_.await_resume();
    } catch (const std::system_error& error) {
      throw_file_error(error.code().value(), name_, *path_);
    }
  }
  /// Whether the backend took the operation (it then ran, unless CancelledError says otherwise).
  [[nodiscard]] bool reached_backend() const noexcept { return reached_backend_; }

 private:
  IoOperation operation_;
  const char* name_;
  const std::string* path_;
  bool reached_backend_ = false;
};

// ---- blocking halves, run on an offload worker ------------------------------------------------
// They take everything by value and return what they produced in memory they own: a cancelled
// task resumes while its job runs on, so a job never touches the caller's buffers.

struct Opened {
  Descriptor descriptor;
  int error = 0;
};

Opened blocking_open(std::string path, int flags, mode_t mode) {
  Opened opened;
  // Allocated first, so an opened descriptor always has an owner that closes it, even if the
  // result is thrown away because the awaiting task was cancelled.
  opened.descriptor = std::make_shared<detail::FileDescriptor>(-1);
  const int fd = io::retry_on_interrupt([&] { return ::open(path.c_str(), flags, mode); });
  if (fd < 0) {
    opened.error = errno;
    opened.descriptor.reset();
  } else {
    opened.descriptor->adopt(fd);
  }
  return opened;
}

struct ReadChunk {
  std::unique_ptr<std::byte[]> data;
  std::size_t size = 0;
  int error = 0;
};

ReadChunk blocking_read_at(Descriptor descriptor, std::size_t length, std::uint64_t offset) {
  ReadChunk chunk;
  length = std::min(length, kMaxTransfer);
  chunk.data.reset(new std::byte[length]);  // not zeroed: pread overwrites what it reports
  const ssize_t got = io::retry_on_interrupt([&] {
    return ::pread(descriptor->get(), chunk.data.get(), length, static_cast<off_t>(offset));
  });
  if (got < 0) {
    chunk.error = errno;
  } else {
    chunk.size = static_cast<std::size_t>(got);
  }
  return chunk;
}

struct Written {
  std::size_t size = 0;
  int error = 0;
};

Written blocking_write_at(Descriptor descriptor, std::vector<std::byte> bytes,
                          std::uint64_t offset) {
  Written written;
  const ssize_t count = io::retry_on_interrupt([&] {
    return ::pwrite(descriptor->get(), bytes.data(), std::min(bytes.size(), kMaxTransfer),
                    static_cast<off_t>(offset));
  });
  if (count < 0) {
    written.error = errno;
  } else {
    written.size = static_cast<std::size_t>(count);
  }
  return written;
}

// Writes everything at the file position. Returns 0 or an errno.
int write_everything(int fd, const std::vector<std::byte>& bytes) {
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t count = io::retry_on_interrupt([&] {
      return ::write(fd, bytes.data() + done, std::min(bytes.size() - done, kMaxTransfer));
    });
    if (count < 0) return errno;
    if (count == 0) return EIO;  // no progress and no error: do not spin
    done += static_cast<std::size_t>(count);
  }
  return 0;
}

int blocking_write_all(Descriptor descriptor, std::vector<std::byte> bytes) {
  return write_everything(descriptor->get(), bytes);
}

int blocking_fsync(Descriptor descriptor) {
  return io::retry_on_interrupt([&] { return ::fsync(descriptor->get()); }) == 0 ? 0 : errno;
}

// Closes the descriptor if this is its last owner; another pending operation otherwise holds it
// and closes it when it ends. Returns 0 or an errno.
int close_if_last(Descriptor& descriptor) {
  if (descriptor.use_count() > 1) return 0;
  const int fd = descriptor->release();
  // Never retried on EINTR: on Linux the number is released whatever close(2) answers.
  return ::close(fd) == 0 ? 0 : errno;
}

int blocking_close(Descriptor descriptor) {
  return close_if_last(descriptor);
}

struct WholeFile {
  std::vector<std::byte> data;
  int error = 0;
  const char* operation = nullptr;
};

// The first buffer for read_all: the size fstat reports plus one byte, so the read that finds the
// end of file needs no second buffer. Files that lie about their size (size 0 in /proc) grow it.
std::size_t first_capacity(int fd, int& error) {
  struct stat status {};
  if (::fstat(fd, &status) != 0) {
    error = errno;
    return 0;
  }
  if (S_ISREG(status.st_mode)) return static_cast<std::size_t>(status.st_size) + 1;
  return kReadChunk;
}

void grow(std::vector<std::byte>& data) {
  data.resize(data.size() + std::max(data.size(), kReadChunk));
}

WholeFile read_everything(int fd) {
  WholeFile whole;
  const std::size_t capacity = first_capacity(fd, whole.error);
  if (whole.error != 0) {
    whole.operation = "stat";
    return whole;
  }
  whole.data.resize(capacity);
  std::size_t filled = 0;
  for (;;) {
    if (filled == whole.data.size()) grow(whole.data);
    const std::size_t room = std::min(whole.data.size() - filled, kMaxTransfer);
    const ssize_t got = io::retry_on_interrupt(
        [&] { return ::pread(fd, whole.data.data() + filled, room, static_cast<off_t>(filled)); });
    if (got < 0) {
      whole.error = errno;
      whole.operation = "read";
      whole.data.clear();
      return whole;
    }
    if (got == 0) break;
    filled += static_cast<std::size_t>(got);
  }
  whole.data.resize(filled);
  return whole;
}

WholeFile blocking_read_all(Descriptor descriptor) {
  return read_everything(descriptor->get());
}

WholeFile blocking_read_file(std::string path) {
  Opened opened = blocking_open(std::move(path), O_RDONLY | O_CLOEXEC, 0);
  if (opened.error != 0) return WholeFile{{}, opened.error, "open"};
  WholeFile whole = read_everything(opened.descriptor->get());
  if (whole.error == 0) {
    if (const int error = close_if_last(opened.descriptor); error != 0) {
      return WholeFile{{}, error, "close"};
    }
  }
  return whole;
}

struct Failure {
  int error = 0;
  const char* operation = nullptr;
};

Failure blocking_write_file(std::string path, std::vector<std::byte> bytes) {
  Opened opened = blocking_open(std::move(path), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (opened.error != 0) return {opened.error, "open"};
  if (const int error = write_everything(opened.descriptor->get(), bytes); error != 0) {
    return {error, "write"};
  }
  if (const int error = close_if_last(opened.descriptor); error != 0) return {error, "close"};
  return {};
}

// ---- the operations: native operations, or one offloaded job --------------------------------
// Coroutines with value parameters only (PITFALLS.md section 13); each holds the descriptor while
// it runs, so closing or destroying the File meanwhile cannot free the number under it.

Task<std::size_t> read_at_task(Descriptor descriptor, std::span<std::byte> buffer,
                               std::uint64_t offset, std::string path) {
  if (!descriptor) throw_file_error(EBADF, "read", path);
  check_offset(offset, "read", path);
  if (loop_has_native_file_io()) {
    auto reading = FileOperation(ops::read(descriptor->get(), buffer, offset), "read", path);
    const std::int32_t got = co_await reading;
    co_return static_cast<std::size_t>(got);
  }
  auto reading = offload(blocking_read_at, std::move(descriptor), buffer.size(), offset);
  ReadChunk chunk = co_await reading;
  if (chunk.error != 0) throw_file_error(chunk.error, "read", path);
  // The caller's memory is written here, on the loop thread, and only if the task is still waiting.
  if (chunk.size > 0) std::memcpy(buffer.data(), chunk.data.get(), chunk.size);
  co_return chunk.size;
}

Task<std::size_t> write_at_task(Descriptor descriptor, std::span<const std::byte> bytes,
                                std::uint64_t offset, std::string path) {
  if (!descriptor) throw_file_error(EBADF, "write", path);
  check_offset(offset, "write", path);
  if (loop_has_native_file_io()) {
    auto writing = FileOperation(ops::write(descriptor->get(), bytes, offset), "write", path);
    const std::int32_t count = co_await writing;
    co_return static_cast<std::size_t>(count);
  }
  // A copy the job owns: the caller's bytes may be gone while a cancelled task's job still runs.
  const std::size_t length = std::min(bytes.size(), kMaxTransfer);
  auto writing = offload(blocking_write_at, std::move(descriptor),
                         std::vector<std::byte>(bytes.begin(), bytes.begin() + length), offset);
  const Written written = co_await writing;
  if (written.error != 0) throw_file_error(written.error, "write", path);
  co_return written.size;
}

Task<std::vector<std::byte>> read_all_task(Descriptor descriptor, std::string path) {
  if (!descriptor) throw_file_error(EBADF, "read", path);
  if (!loop_has_native_file_io()) {
    auto reading = offload(blocking_read_all, std::move(descriptor));
    WholeFile whole = co_await reading;
    if (whole.error != 0) throw_file_error(whole.error, whole.operation, path);
    co_return std::move(whole.data);
  }
  const int fd = descriptor->get();
  int error = 0;
  // fstat on the loop thread: the open descriptor pins the inode, so this reads memory, not the
  // disk (a network file system may revalidate, the one place this can wait).
  std::vector<std::byte> data(first_capacity(fd, error));
  if (error != 0) throw_file_error(error, "stat", path);
  std::size_t filled = 0;
  for (;;) {
    if (filled == data.size()) grow(data);
    const std::span<std::byte> room = std::span(data).subspan(filled);
    auto reading = FileOperation(ops::read(fd, room, filled), "read", path);
    const std::int32_t got = co_await reading;
    if (got == 0) break;
    filled += static_cast<std::size_t>(got);
  }
  data.resize(filled);
  co_return std::move(data);
}

Task<> write_all_task(Descriptor descriptor, std::span<const std::byte> bytes, std::string path) {
  if (!descriptor) throw_file_error(EBADF, "write", path);
  if (!loop_has_native_file_io()) {
    auto writing = offload(blocking_write_all, std::move(descriptor),
                           std::vector<std::byte>(bytes.begin(), bytes.end()));
    const int error = co_await writing;
    if (error != 0) throw_file_error(error, "write", path);
    co_return;
  }
  const int fd = descriptor->get();
  std::size_t done = 0;
  while (done < bytes.size()) {
    // No offset: the file position, as write(2) uses it.
    auto writing = FileOperation(ops::write(fd, bytes.subspan(done)), "write", path);
    const std::int32_t count = co_await writing;
    if (count == 0) throw_file_error(EIO, "write", path);  // no progress and no error: do not spin
    done += static_cast<std::size_t>(count);
  }
}

Task<> fsync_task(Descriptor descriptor, std::string path) {
  if (!descriptor) throw_file_error(EBADF, "fsync", path);
  if (!loop_has_native_file_io()) {
    auto syncing = offload(blocking_fsync, std::move(descriptor));
    const int error = co_await syncing;
    if (error != 0) throw_file_error(error, "fsync", path);
    co_return;
  }
  auto syncing = FileOperation(ops::fsync(descriptor->get()), "fsync", path);
  co_await syncing;
}

Task<> close_task(Descriptor descriptor, std::string path) {
  if (!descriptor) throw_file_error(EBADF, "close", path);
  if (!loop_has_native_file_io()) {
    auto closing = offload(blocking_close, std::move(descriptor));
    const int error = co_await closing;
    if (error != 0) throw_file_error(error, "close", path);
    co_return;
  }
  // Another pending operation still uses the number: the last owner closes it.
  if (descriptor.use_count() > 1) co_return;
  auto closing = FileOperation(ops::close(descriptor->get()), "close", path);
  try {
    co_await closing;
  } catch (const std::system_error&) {
    // close(2) releases the number even when it fails; only a refused submission leaves it open.
    if (closing.reached_backend()) descriptor->release();
    throw;
  }
  // CancelledError skips this: the close never ran, and the owner closes the descriptor as the
  // frame unwinds.
  descriptor->release();
}

}  // namespace

// ---- File --------------------------------------------------------------------------------------

File::File() noexcept = default;
File::File(File&& other) noexcept = default;
File::~File() = default;

File& File::operator=(File&& other) noexcept {
  if (this != &other) {
    descriptor_ = std::move(other.descriptor_);
    path_ = std::move(other.path_);
  }
  return *this;
}

File::File(std::shared_ptr<detail::FileDescriptor> descriptor, std::string path) noexcept
    : descriptor_(std::move(descriptor)), path_(std::move(path)) {}

int File::native_handle() const noexcept {
  return descriptor_ ? descriptor_->get() : -1;
}

Task<File> File::open(std::string path, int flags, mode_t mode) {
  flags |= O_CLOEXEC;
  if (!loop_has_native_file_io()) {
    auto opening = offload(blocking_open, path, flags, mode);
    Opened opened = co_await opening;
    if (opened.error != 0) throw_file_error(opened.error, "open", path);
    co_return File(std::move(opened.descriptor), std::move(path));
  }
  // The owner exists before the descriptor does: an open that completes after a cancellation
  // was requested still returns its descriptor here, and it must not leak.
  auto descriptor = std::make_shared<detail::FileDescriptor>(-1);
  auto opening = FileOperation(ops::openat(path.c_str(), flags, mode), "open", path);
  const std::int32_t fd = co_await opening;
  descriptor->adopt(fd);
  co_return File(std::move(descriptor), std::move(path));
}

Task<std::size_t> File::read_at(std::span<std::byte> buffer, std::uint64_t offset) const {
  return read_at_task(descriptor_, buffer, offset, path_);
}

Task<std::size_t> File::write_at(std::span<const std::byte> bytes, std::uint64_t offset) const {
  return write_at_task(descriptor_, bytes, offset, path_);
}

Task<std::vector<std::byte>> File::read_all() const {
  return read_all_task(descriptor_, path_);
}

Task<> File::write_all(std::span<const std::byte> bytes) const {
  return write_all_task(descriptor_, bytes, path_);
}

Task<> File::fsync() const {
  return fsync_task(descriptor_, path_);
}

Task<> File::close() {
  return close_task(std::move(descriptor_), path_);
}

// ---- one-shot helpers --------------------------------------------------------------------------

Task<std::vector<std::byte>> read_file(std::string path) {
  if (!loop_has_native_file_io()) {
    auto reading = offload(blocking_read_file, path);
    WholeFile whole = co_await reading;
    if (whole.error != 0) throw_file_error(whole.error, whole.operation, path);
    co_return std::move(whole.data);
  }
  auto opening = File::open(path, O_RDONLY);
  File file = co_await opening;
  auto reading = file.read_all();
  std::vector<std::byte> data = co_await reading;
  auto closing = file.close();
  co_await closing;
  co_return std::move(data);
}

Task<> write_file(std::string path, std::span<const std::byte> bytes) {
  if (!loop_has_native_file_io()) {
    // A copy the job owns (see read_at_task): the caller's bytes may not outlive a cancellation.
    auto writing =
        offload(blocking_write_file, path, std::vector<std::byte>(bytes.begin(), bytes.end()));
    const Failure failure = co_await writing;
    if (failure.error != 0) throw_file_error(failure.error, failure.operation, path);
    co_return;
  }
  auto opening = File::open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  File file = co_await opening;
  auto writing = file.write_all(bytes);
  co_await writing;
  auto closing = file.close();
  co_await closing;
}

}  // namespace ringloop
