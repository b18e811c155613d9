#include <ringloop/io/backend.hpp>

#include <cstdlib>
#include <cstring>
#include <string>

#include "epoll_backend.hpp"
#ifdef RINGLOOP_HAVE_URING
#include <liburing.h>

#include "uring_backend.hpp"
#endif

namespace ringloop::io {

const char* op_name(OpCode code) noexcept {
  switch (code) {
    case OpCode::nop:
      return "nop";
    case OpCode::read:
      return "read";
    case OpCode::write:
      return "write";
    case OpCode::recv:
      return "recv";
    case OpCode::send:
      return "send";
    case OpCode::accept:
      return "accept";
    case OpCode::connect:
      return "connect";
    case OpCode::poll:
      return "poll";
    case OpCode::close:
      return "close";
    case OpCode::timeout:
      return "timeout";
    case OpCode::openat:
      return "openat";
    case OpCode::accept_multishot:
      return "accept (multishot)";
    case OpCode::fsync:
      return "fsync";
    case OpCode::recvmsg:
      return "recvmsg";
    case OpCode::sendmsg:
      return "sendmsg";
  }
  return "unknown";
}

std::string_view backend_name(BackendKind kind) noexcept {
  return kind == BackendKind::uring ? "uring" : "epoll";
}

BackendKind parse_backend_kind(std::string_view text) {
  if (text == "uring" || text == "io_uring") return BackendKind::uring;
  if (text == "epoll") return BackendKind::epoll;
  throw std::invalid_argument("unknown ringloop backend '" + std::string(text) +
                              "' (expected 'uring' or 'epoll')");
}

namespace {

#ifdef RINGLOOP_HAVE_URING
bool probe_uring(std::string* why) {
  io_uring ring{};
  const int created = io_uring_queue_init(2, &ring, 0);
  if (created < 0) {
    // EPERM: seccomp (Docker's default profile) or kernel.io_uring_disabled; ENOSYS: no io_uring.
    if (why) *why = std::string("io_uring_setup: ") + std::strerror(-created);
    return false;
  }
  io_uring_probe* probe = io_uring_get_probe_ring(&ring);
  bool complete = probe != nullptr;
  const int needed[] = {IORING_OP_NOP,     IORING_OP_READ,         IORING_OP_WRITE,
                        IORING_OP_RECV,    IORING_OP_SEND,         IORING_OP_ACCEPT,
                        IORING_OP_CONNECT, IORING_OP_POLL_ADD,     IORING_OP_CLOSE,
                        IORING_OP_TIMEOUT, IORING_OP_ASYNC_CANCEL, IORING_OP_OPENAT,
                        IORING_OP_FSYNC,   IORING_OP_RECVMSG,      IORING_OP_SENDMSG};
  for (int opcode : needed) {
    if (complete && !io_uring_opcode_supported(probe, opcode)) {
      complete = false;
      if (why) *why = "io_uring lacks opcode " + std::to_string(opcode);
    }
  }
  if (!probe && why) *why = "io_uring probe failed (kernel < 5.6)";
  if (probe) io_uring_free_probe(probe);
  io_uring_queue_exit(&ring);
  return complete;
}
#endif

}  // namespace

bool uring_available(std::string* why) {
#ifdef RINGLOOP_HAVE_URING
  // The answer cannot change while the process lives; probe once (a ring setup and teardown).
  static std::string reason;
  static const bool available = probe_uring(&reason);
  if (why) *why = reason;
  return available;
#else
  if (why) *why = "ringloop was built without liburing";
  return false;
#endif
}

std::unique_ptr<Backend> make_backend(std::optional<BackendKind> kind,
                                      const BackendOptions& options) {
  if (!kind) {
    if (const char* forced = std::getenv("RINGLOOP_BACKEND"); forced && *forced) {
      kind = parse_backend_kind(forced);
    }
  }
  if (kind == BackendKind::epoll) return std::make_unique<EpollBackend>();
#ifdef RINGLOOP_HAVE_URING
  std::string why;
  if (!kind) {
    // Automatic choice: io_uring when it works here, else epoll. The ring itself may still be
    // refused (memlock, seccomp installed after the probe): that also falls back.
    if (uring_available()) {
      try {
        return std::make_unique<UringBackend>(options);
      } catch (const BackendUnavailable&) {
      }
    }
    return std::make_unique<EpollBackend>();
  }
  if (!uring_available(&why)) {
    throw BackendUnavailable("io_uring backend was requested but cannot run here: " + why);
  }
  return std::make_unique<UringBackend>(options);
#else
  (void)options;
  if (!kind) return std::make_unique<EpollBackend>();
  throw BackendUnavailable(
      "io_uring backend was requested but cannot run here: ringloop was built without liburing");
#endif
}

}  // namespace ringloop::io
