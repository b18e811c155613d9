#include <ringloop/io/backend.hpp>

#include <cstdlib>
#include <cstring>
#include <string>

#include "epoll_backend.hpp"
#include "operation_traits.hpp"
#include "receive_buffers.hpp"
#ifdef RINGLOOP_HAVE_URING
#include <liburing.h>

#include "uring_backend.hpp"
#endif

namespace ringloop::io {

const char* op_name(OpCode code) noexcept {
  const auto index = static_cast<std::size_t>(code);
  return index < operation_traits.size() ? operation_traits[index].name : "unknown";
}

Backend::Backend(BackendCapabilities capabilities, bool idle_poll_is_empty)
    : capabilities_(capabilities),
      idle_poll_is_empty_(idle_poll_is_empty),
      receive_buffers_(new ReceiveBufferPool) {
  receive_buffers_->add_ref();
}

Backend::~Backend() {
  receive_buffers_->detach_ring();
  receive_buffers_->release();
}

bool Backend::multishot_receive() const noexcept {
  return receive_buffers_->has_ring();
}

ReceiveBufferStats Backend::receive_buffer_stats() const noexcept {
  return receive_buffers_->stats();
}

bool Backend::resubmit_interrupted(Operation& operation, std::int32_t& result) {
  if (!traits_of(operation.code).retried_when_interrupted) return false;
  if (operation.state == OpState::cancelling) {
    result = -ECANCELED;  // the cancellation asked for is what the submitter hears
    return false;
  }
  ++stats_.resubmitted;
  submit(operation);  // the backend took it out of in_flight_ before delivering; submit() counts it

  return true;
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
  // Every opcode the backend submits: the table's, and the cancellations it sends itself.
  auto require = [&](int opcode, const char* name) {
    if (complete && !io_uring_opcode_supported(probe, opcode)) {
      complete = false;
      if (why)
        *why = std::string("io_uring lacks ") + name + " (opcode " + std::to_string(opcode) + ")";
    }
  };
  for (const OperationTraits& row : operation_traits)
    require(row.uring_opcode, row.name);
  require(IORING_OP_ASYNC_CANCEL, "async cancel");
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
                                      const BackendOptions& options, std::string* fallback_reason) {
  if (fallback_reason) fallback_reason->clear();
  if (!kind) {
    if (const char* forced = std::getenv("RINGLOOP_BACKEND"); forced && *forced) {
      kind = parse_backend_kind(forced);
    }
  }
  if (kind == BackendKind::epoll) return std::make_unique<EpollBackend>(options);
  std::string why;
#ifdef RINGLOOP_HAVE_URING
  if (!kind) {
    // Automatic choice: io_uring when it works here, else epoll. The ring itself may still be
    // refused (memlock, seccomp installed after the probe): that also falls back.
    if (uring_available(&why)) {
      try {
        return std::make_unique<UringBackend>(options);
      } catch (const BackendUnavailable& refused) {
        why = refused.reason();
      }
    }
    if (fallback_reason) *fallback_reason = why;
    return std::make_unique<EpollBackend>(options);
  }
  if (!uring_available(&why)) {
    throw BackendUnavailable("was requested but cannot run here", why);
  }
  return std::make_unique<UringBackend>(options);
#else
  uring_available(&why);
  if (!kind) {
    if (fallback_reason) *fallback_reason = why;
    return std::make_unique<EpollBackend>(options);
  }
  throw BackendUnavailable("was requested but cannot run here", why);
#endif
}

}  // namespace ringloop::io
