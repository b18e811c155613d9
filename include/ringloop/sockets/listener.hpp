#pragma once
// Listener: what TCP and Unix listening sockets share (accepting a descriptor, address, close).

#include <cstddef>

#include <ringloop/runtime/io_operation.hpp>
#include <ringloop/runtime/task.hpp>
#include <ringloop/sockets/socket_address.hpp>

namespace ringloop {

namespace detail {
class MultishotAccept;
}

/// A listening stream socket. Move-only; owns its descriptor. Loop thread only.
class Listener {
 public:
  Listener() noexcept = default;
  Listener(Listener&& other) noexcept;
  Listener& operator=(Listener&& other) noexcept;
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;
  /// Closes the descriptor if still open.
  ~Listener();

  /// getsockname(2): the bound address (with the port the kernel picked for port 0).
  [[nodiscard]] SocketAddress local_address() const;
  /// Stops listening. An accept pending in another task fails with std::system_error (EBADF).
  /// Closing twice is a no-op.
  Task<> close();
  [[nodiscard]] bool is_open() const noexcept { return descriptor_ >= 0; }
  [[nodiscard]] int native_handle() const noexcept { return descriptor_; }
  /// How many times accept() found the process out of descriptors and waited.
  [[nodiscard]] std::size_t descriptor_exhaustions() const noexcept { return exhaustions_; }

 protected:
  /// Binds and listens on a new socket of the address's family. Throws std::system_error.
  static int open_listening(const SocketAddress& address, int backlog, bool reuse_port);
  /// std::invalid_argument naming `who` when `backlog` is negative (listen(2) would quietly take
  /// a negative backlog as its maximum).
  static void check_backlog(int backlog, const char* who);
  /// Accepts one connection's descriptor, retrying through EMFILE/ENFILE with backoff. On
  /// io_uring (Linux 5.19+) one multishot accept serves every call; elsewhere one accept each.
  Task<int> accept_descriptor();

  int descriptor_ = -1;
  std::size_t exhaustions_ = 0;
  IoOperation* pending_accept_ = nullptr;  // so close() can cancel it

 private:
  bool uses_multishot();
  void release_multishot(bool wake_waiters) noexcept;

  detail::MultishotAccept* multishot_ = nullptr;  // created by the first accept on io_uring
  bool multishot_declined_ = false;               // the backend or the kernel cannot do it
};

}  // namespace ringloop
