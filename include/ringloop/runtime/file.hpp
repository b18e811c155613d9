#pragma once
// Asynchronous regular-file I/O: File (open, read_at, write_at, read_all, write_all, fsync, close)
// and the one-shot helpers read_file() and write_file().
//
// Where the work runs: on a backend with native_file_io() (io_uring) every call is one or more
// native operations (OPENAT, READ, WRITE, FSYNC, CLOSE). Without it (epoll, which cannot wait on
// regular files: they are always "ready" and a read then blocks on the disk) each call runs its
// blocking system calls as one job on the loop's default offload pool. The loop thread never
// waits for the disk either way; the file layer asks the backend, never names it.
//
// Errors: std::system_error whose code() is the errno and whose what() names the operation and
// the path, e.g. "open '/nope/x': No such file or directory".
//
// Memory: spans are taken by value and point at the caller's memory, which must stay valid until
// the await ends. Cancellation is safe on both paths: on io_uring the task stays suspended until
// the kernel has let go of the buffer (DESIGN.md rule 1); an offloaded job reads into and writes
// from memory it owns (results are copied on the loop thread), because offload() resumes a
// cancelled task at once while the job runs on — the job must never touch the caller's memory.
// Such a job also holds its own reference to the descriptor, so closing or destroying the File
// meanwhile cannot let the number be reused under it.

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <ringloop/runtime/task.hpp>

namespace ringloop {

namespace detail {
/// Owns one descriptor, shared by a File and its pending operations; the last owner closes it.
class FileDescriptor;
}  // namespace detail

/// An open regular file. Move-only; owns its descriptor (opened with O_CLOEXEC). Operations are
/// started by awaiting the returned Task; they hold the descriptor themselves, so the File may be
/// moved or destroyed while one is pending. Use one File from one loop at a time.
class File {
 public:
  /// A closed File: every operation fails with EBADF.
  File() noexcept;
  File(File&& other) noexcept;
  /// Closes what this File held (as the destructor does), then takes `other`'s descriptor.
  File& operator=(File&& other) noexcept;
  File(const File&) = delete;
  File& operator=(const File&) = delete;
  /// Closes the descriptor with close(2) on this thread if it is still open, ignoring errors
  /// (await close() to hear about them). If an operation is still pending (a cancelled task's
  /// offloaded job, for instance), that operation closes it when it ends.
  ~File();

  /// Opens `path` with open(2) `flags` (O_CLOEXEC is always added) and `mode` for a created file.
  static Task<File> open(std::string path, int flags, mode_t mode = 0644);

  /// One pread(2) of up to buffer.size() bytes at `offset`; gives the count, 0 at end of file.
  /// Like pread it may read fewer bytes than asked (at end of file, or rarely mid-file).
  Task<std::size_t> read_at(std::span<std::byte> buffer, std::uint64_t offset) const;
  /// One pwrite(2) of up to bytes.size() bytes at `offset`; gives the count, which may be short.
  Task<std::size_t> write_at(std::span<const std::byte> bytes, std::uint64_t offset) const;
  /// The whole file, from offset 0 to its end (the file position does not move). A
  /// std::vector<std::byte> like every other byte buffer here; the size from fstat(2) is only a
  /// hint, so files that grow, or report size 0 as /proc files do, are read whole too.
  Task<std::vector<std::byte>> read_all() const;
  /// Writes all of `bytes` at the file position (write(2), which advances it; O_APPEND appends),
  /// looping over short writes.
  Task<> write_all(std::span<const std::byte> bytes) const;
  /// fsync(2): the data and metadata reach the device before the await ends.
  Task<> fsync() const;
  /// Closes the file; the File is closed from this call on. If other operations on it are still
  /// pending, the last of them closes the descriptor when it ends and this reports success.
  Task<> close();

  /// Whether the File holds a descriptor (it was opened and close() was not called).
  [[nodiscard]] bool is_open() const noexcept { return descriptor_ != nullptr; }
  /// The descriptor, or -1 when closed (for ioctl and the like; do not close it yourself).
  [[nodiscard]] int native_handle() const noexcept;
  /// The path given to open() (kept after close(), for messages).
  [[nodiscard]] const std::string& path() const noexcept { return path_; }

 private:
  File(std::shared_ptr<detail::FileDescriptor> descriptor, std::string path) noexcept;

  std::shared_ptr<detail::FileDescriptor> descriptor_;
  std::string path_;
};

/// The whole contents of `path` (open, read_all, close; a single offloaded job without native file
/// I/O).
Task<std::vector<std::byte>> read_file(std::string path);

/// Replaces the contents of `path` with `bytes`, creating it with mode 0644 if needed (open with
/// O_WRONLY|O_CREAT|O_TRUNC, write_all, close). No fsync: open the File and call fsync() for that.
Task<> write_file(std::string path, std::span<const std::byte> bytes);

}  // namespace ringloop
