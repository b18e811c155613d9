/* The io_uring peer of echo_epoll_server.c for bench/run_echo.py: a TCP echo server in plain C
 * on liburing, single-threaded, one ring, no library in between. It tells what ringloop's
 * io_uring backend costs above the bare ring, as echo_epoll_server does for the epoll backend.
 *
 *   ./echo_uring_server [--port P] [--send-zc]
 *
 * Listens on 127.0.0.1:P (P = 0: a free port) and prints, flushed, "listening on 127.0.0.1:P".
 * Accepts with one multishot IORING_OP_ACCEPT (plain accepts, one at a time, on a kernel that
 * refuses multishot). Per connection, as echo_epoll_server: a 256 KiB buffer, one IORING_OP_RECV
 * of up to the whole buffer, then IORING_OP_SEND of what arrived (a short send sends the rest),
 * then the next recv; so at most one operation per connection is in flight and a slow reader
 * cannot make memory grow. TCP_NODELAY on every connection, as the other servers.
 *
 * --send-zc sends with IORING_OP_SEND_ZC (kernel 6.0+): each send then gives a second completion,
 * the notification (IORING_CQE_F_NOTIF), once the kernel no longer reads the buffer, which for TCP
 * is when the peer has ACKed the data. A connection then has two 256 KiB buffers and alternates:
 * the next recv goes into the other one, and waits only if that one still waits for its
 * notifications. (With one buffer every echo waited for the peer's ACK before reading again, and a
 * peer that delays its ACK stalled the connection for 40 ms.) On the first notification a line on
 * stderr says whether the kernel sent from the buffer or copied it (loopback copies). A kernel
 * without SEND_ZC: an error message and exit status 1.
 *
 * SIGINT and SIGTERM end it (default action). Exit status: 1 on setup failure, 2 for bad flags. */

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* liburing 2.3's headers predate these (kernel 6.2): with REPORT_USAGE the notification's res
 * has ZC_COPIED set when the kernel copied the data after all. */
#ifndef IORING_SEND_ZC_REPORT_USAGE
#define IORING_SEND_ZC_REPORT_USAGE (1U << 3)
#endif
#ifndef IORING_NOTIF_USAGE_ZC_COPIED
#define IORING_NOTIF_USAGE_ZC_COPIED (1U << 31)
#endif

enum { BUFFER_SIZE = 256 * 1024, RING_ENTRIES = 1024, LISTEN_BACKLOG = 1024 };

/* What a completion is for, in the low bits of user_data: the kind in bits 0-1 and the buffer a
 * send used in bit 2 (a connection is malloc'd, so aligned to at least 8); the listener's accept
 * has no connection. */
enum kind { ACCEPT = 0, RECV = 1, SEND = 2, KIND_MASK = 3, BUFFER_BIT = 4, TAG_MASK = 7 };
_Static_assert(_Alignof(max_align_t) >= 8, "malloc'd pointers leave 3 low bits for the tag");

struct connection {
  int fd;
  int closing;               /* the socket is closed; free once no notification is due */
  unsigned current;          /* the buffer recv and send use now: 0, or 0 and 1 in turn (zc) */
  unsigned notifications[2]; /* SEND_ZC notifications due per buffer (the kernel's till then) */
  int recv_when_notified;    /* the echo is sent: recv once buffers[current] is notified */
  size_t pending_start;      /* bytes of the current buffer [pending_start, pending_end) to send */
  size_t pending_end;
  char buffers[]; /* BUFFER_SIZE each: one, or two with --send-zc */
};

static char* buffer(struct connection* connection, unsigned index) {
  return connection->buffers + (size_t)index * BUFFER_SIZE;
}

static struct io_uring ring;
static int listener = -1;
static int send_zc = 0;
static unsigned zc_flags = IORING_SEND_ZC_REPORT_USAGE;
static int multishot_accept = 1;
static int reported_usage = 0;

static void usage(const char* message, const char* value) {
  if (message) fprintf(stderr, "echo_uring_server: %s '%s'\n", message, value);
  fprintf(stderr, "usage: echo_uring_server [--port P] [--send-zc]\n");
  exit(2);
}

static int parse_port(const char* text) {
  char* end = NULL;
  errno = 0;
  const unsigned long value = strtoul(text, &end, 10);
  if (*text == '\0' || *text == '-' || *end != '\0' || errno != 0 || value > 65535) {
    usage("--port needs a number from 0 to 65535, got", text);
  }
  return (int)value;
}

/* A free submission entry; a full queue is submitted first to make room. */
static struct io_uring_sqe* get_sqe(void) {
  struct io_uring_sqe* sqe = io_uring_get_sqe(&ring);
  while (!sqe) {
    io_uring_submit(&ring);
    sqe = io_uring_get_sqe(&ring);
  }
  return sqe;
}

static void tag(struct io_uring_sqe* sqe, struct connection* connection, unsigned bits) {
  io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)connection | (uint64_t)bits);
}

static void arm_accept(void) {
  struct io_uring_sqe* sqe = get_sqe();
  if (multishot_accept) {
    io_uring_prep_multishot_accept(sqe, listener, NULL, NULL, SOCK_CLOEXEC);
  } else {
    io_uring_prep_accept(sqe, listener, NULL, NULL, SOCK_CLOEXEC);
  }
  tag(sqe, NULL, ACCEPT);
}

static void arm_recv(struct connection* connection) {
  struct io_uring_sqe* sqe = get_sqe();
  io_uring_prep_recv(sqe, connection->fd, buffer(connection, connection->current), BUFFER_SIZE, 0);
  tag(sqe, connection, RECV);
}

static void arm_send(struct connection* connection) {
  struct io_uring_sqe* sqe = get_sqe();
  const char* start = buffer(connection, connection->current) + connection->pending_start;
  const size_t length = connection->pending_end - connection->pending_start;
  if (send_zc) {
    io_uring_prep_send_zc(sqe, connection->fd, start, length, MSG_NOSIGNAL, zc_flags);
  } else {
    io_uring_prep_send(sqe, connection->fd, start, length, MSG_NOSIGNAL);
  }
  tag(sqe, connection, SEND | (connection->current ? BUFFER_BIT : 0));
}

/* No operation of this connection is in flight when this is called (one at a time); a
 * notification may still be due, and the buffer lives until it comes. */
static void close_connection(struct connection* connection) {
  close(connection->fd);
  connection->closing = 1;
  if (connection->notifications[0] == 0 && connection->notifications[1] == 0) free(connection);
}

static void on_accept(const struct io_uring_cqe* cqe) {
  /* Without F_MORE the multishot accept has ended (or it was a plain one): arm another. */
  if (!(cqe->flags & IORING_CQE_F_MORE)) {
    if (cqe->res == -EINVAL && multishot_accept) {
      multishot_accept = 0; /* a kernel before 5.19 */
    }
    arm_accept();
  }
  if (cqe->res < 0) {
    if (cqe->res != -EINVAL && cqe->res != -ECONNABORTED && cqe->res != -EINTR) {
      fprintf(stderr, "echo_uring_server: accept: %s\n", strerror(-cqe->res));
    }
    return;
  }
  const int fd = cqe->res;
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  struct connection* connection =
      malloc(sizeof *connection + (size_t)BUFFER_SIZE * (send_zc ? 2 : 1));
  if (!connection) {
    close(fd);
    return;
  }
  connection->fd = fd;
  connection->closing = 0;
  connection->current = 0;
  connection->notifications[0] = connection->notifications[1] = 0;
  connection->recv_when_notified = 0;
  connection->pending_start = connection->pending_end = 0;
  arm_recv(connection);
}

static void on_recv(struct connection* connection, int result) {
  if (result <= 0) {
    if (result == -EINTR || result == -EAGAIN) {
      arm_recv(connection);
      return;
    }
    close_connection(connection); /* 0: the peer closed; < 0: reset or another error */
    return;
  }
  connection->pending_start = 0;
  connection->pending_end = (size_t)result;
  arm_send(connection);
}

static void on_send(struct connection* connection, unsigned index, const struct io_uring_cqe* cqe) {
  /* SEND_ZC: F_MORE on the send's completion means a notification follows. */
  if (send_zc && (cqe->flags & IORING_CQE_F_MORE)) ++connection->notifications[index];
  const int result = cqe->res;
  if (result == -EINTR || result == -EAGAIN) {
    arm_send(connection);
    return;
  }
  if (send_zc && result == -EINVAL && (zc_flags & IORING_SEND_ZC_REPORT_USAGE)) {
    zc_flags &= ~IORING_SEND_ZC_REPORT_USAGE; /* a 6.0 or 6.1 kernel: zero-copy, no report */
    arm_send(connection);
    return;
  }
  if (send_zc && (result == -EINVAL || result == -EOPNOTSUPP)) {
    fprintf(stderr, "echo_uring_server: the kernel refuses IORING_OP_SEND_ZC on this socket: %s\n",
            strerror(-result));
    exit(1);
  }
  if (result <= 0) {
    close_connection(connection);
    return;
  }
  connection->pending_start += (size_t)result;
  if (connection->pending_start < connection->pending_end) {
    arm_send(connection); /* short send: the rest; the part already sent is not touched */
    return;
  }
  if (send_zc) connection->current ^= 1; /* this buffer waits for its ACK; read into the other */
  if (connection->notifications[connection->current] > 0) {
    connection->recv_when_notified = 1; /* the kernel may still read that buffer too */
  } else {
    arm_recv(connection);
  }
}

static void on_notification(struct connection* connection, unsigned index,
                            const struct io_uring_cqe* cqe) {
  if (!reported_usage && (zc_flags & IORING_SEND_ZC_REPORT_USAGE)) {
    reported_usage = 1;
    fprintf(stderr, "echo_uring_server: first SEND_ZC notification: %s\n",
            ((unsigned)cqe->res & IORING_NOTIF_USAGE_ZC_COPIED)
                ? "the kernel copied the data (no zero-copy on this path, e.g. loopback)"
                : "the kernel sent from the buffer (zero-copy)");
  }
  --connection->notifications[index];
  if (connection->closing) {
    if (connection->notifications[0] == 0 && connection->notifications[1] == 0) free(connection);
  } else if (connection->recv_when_notified && index == connection->current &&
             connection->notifications[index] == 0) {
    connection->recv_when_notified = 0;
    arm_recv(connection);
  }
}

static void on_completion(const struct io_uring_cqe* cqe) {
  const uint64_t data = io_uring_cqe_get_data64(cqe);
  struct connection* connection = (struct connection*)(uintptr_t)(data & ~(uint64_t)TAG_MASK);
  const unsigned index = (data & BUFFER_BIT) ? 1 : 0;
  switch ((enum kind)(data & KIND_MASK)) {
    case ACCEPT:
      on_accept(cqe);
      break;
    case RECV:
      on_recv(connection, cqe->res);
      break;
    case SEND:
      if (cqe->flags & IORING_CQE_F_NOTIF) {
        on_notification(connection, index, cqe);
      } else {
        on_send(connection, index, cqe);
      }
      break;
    default:
      break;
  }
}

/* The flags ringloop's io_uring backend asks for, falling back as it does: kernels before 6.1
 * refuse DEFER_TASKRUN and before 6.0 SINGLE_ISSUER (EINVAL); COOP_TASKRUN is 5.19. So the
 * comparison is with the same ring, not a slower or faster one. */
static int create_ring(void) {
  const unsigned attempts[] = {
      IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_COOP_TASKRUN,
      IORING_SETUP_COOP_TASKRUN, 0};
  int result = -EINVAL;
  for (size_t i = 0; i < sizeof attempts / sizeof attempts[0]; ++i) {
    struct io_uring_params params;
    memset(&params, 0, sizeof params);
    params.flags = attempts[i] | IORING_SETUP_CQSIZE;
    params.cq_entries = RING_ENTRIES * 4;
    result = io_uring_queue_init_params(RING_ENTRIES, &ring, &params);
    if (result != -EINVAL) return result;
  }
  return result;
}

static int send_zc_supported(void) {
  struct io_uring_probe* probe = io_uring_get_probe_ring(&ring);
  if (!probe) return 0;
  const int supported = io_uring_opcode_supported(probe, IORING_OP_SEND_ZC);
  io_uring_free_probe(probe);
  return supported;
}

int main(int argc, char** argv) {
  int port = 8888;
  for (int i = 1; i < argc; ++i) {
    if (strcmp(argv[i], "--port") == 0) {
      if (i + 1 >= argc) usage("--port needs a value after", argv[i]);
      port = parse_port(argv[++i]);
    } else if (strcmp(argv[i], "--send-zc") == 0) {
      send_zc = 1;
    } else {
      usage("unknown flag", argv[i]);
    }
  }
  signal(SIGPIPE, SIG_IGN);

  const int created = create_ring();
  if (created < 0) {
    fprintf(stderr, "echo_uring_server: io_uring_queue_init: %s\n", strerror(-created));
    return 1;
  }
  if (send_zc && !send_zc_supported()) {
    fprintf(stderr,
            "echo_uring_server: --send-zc: this kernel has no IORING_OP_SEND_ZC (needs 6.0+)\n");
    return 1;
  }

  listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listener < 0) {
    perror("echo_uring_server: socket");
    return 1;
  }
  const int one = 1;
  setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in address;
  memset(&address, 0, sizeof address);
  address.sin_family = AF_INET;
  address.sin_port = htons((unsigned short)port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  if (bind(listener, (struct sockaddr*)&address, sizeof address) != 0 ||
      listen(listener, LISTEN_BACKLOG) != 0 ||
      getsockname(listener, (struct sockaddr*)&address, &length) != 0) {
    perror("echo_uring_server: bind/listen");
    return 1;
  }
  arm_accept();
  printf("listening on 127.0.0.1:%u\n", (unsigned)ntohs(address.sin_port));
  fflush(stdout);

  for (;;) {
    const int submitted = io_uring_submit_and_wait(&ring, 1);
    if (submitted < 0 && submitted != -EINTR && submitted != -EAGAIN && submitted != -EBUSY) {
      fprintf(stderr, "echo_uring_server: io_uring_submit_and_wait: %s\n", strerror(-submitted));
      return 1;
    }
    struct io_uring_cqe* cqe;
    unsigned head;
    unsigned seen = 0;
    io_uring_for_each_cqe(&ring, head, cqe) {
      on_completion(cqe);
      ++seen;
    }
    io_uring_cq_advance(&ring, seen);
  }
}
