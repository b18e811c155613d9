/* The baseline for bench/run_echo.py: a TCP echo server in plain C on epoll, single-threaded,
 * level-triggered, non-blocking, with no library in between. What ringloop's echo_server costs
 * per message is compared with what this one costs.
 *
 *   ./echo_epoll_server [--port P]
 *
 * Listens on 127.0.0.1:P (P = 0: a free port) and prints, flushed, "listening on 127.0.0.1:P".
 * Per connection: read up to 256 KiB (the whole buffer), write it back; what the peer does not take
 * at once is kept and the connection waits for EPOLLOUT instead of reading more (so a slow reader
 * cannot make memory grow). TCP_NODELAY on every connection, as the other servers in the
 * comparison. SIGINT and SIGTERM end it (default action). Exit status: 1 on setup failure, 2 for
 * bad flags. */

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

enum { BUFFER_SIZE = 256 * 1024, MAX_EVENTS = 128 };

struct connection {
  int fd;
  size_t pending_start; /* bytes of buffer[pending_start, pending_end) still to send */
  size_t pending_end;
  char buffer[BUFFER_SIZE];
};

static void usage(const char* message, const char* value) {
  if (message) fprintf(stderr, "echo_epoll_server: %s '%s'\n", message, value);
  fprintf(stderr, "usage: echo_epoll_server [--port P]\n");
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

static void close_connection(int epoll_fd, struct connection* connection) {
  epoll_ctl(epoll_fd, EPOLL_CTL_DEL, connection->fd, NULL);
  close(connection->fd);
  free(connection);
}

static int watch(int epoll_fd, int operation, struct connection* connection, unsigned events) {
  struct epoll_event event;
  memset(&event, 0, sizeof event);
  event.events = events;
  event.data.ptr = connection;
  return epoll_ctl(epoll_fd, operation, connection->fd, &event);
}

/* Sends what is pending. Returns 1 when all is sent, 0 when the socket is full, -1 on error. */
static int send_pending(struct connection* connection) {
  while (connection->pending_start < connection->pending_end) {
    const ssize_t sent = send(connection->fd, connection->buffer + connection->pending_start,
                              connection->pending_end - connection->pending_start, MSG_NOSIGNAL);
    if (sent > 0) {
      connection->pending_start += (size_t)sent;
    } else if (sent < 0 && errno == EINTR) {
      continue;
    } else if (sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      return 0;
    } else {
      return -1;
    }
  }
  connection->pending_start = connection->pending_end = 0;
  return 1;
}

/* Readable: one read, echoed at once. Returns -1 when the connection is done. */
static int on_readable(int epoll_fd, struct connection* connection) {
  const ssize_t received = recv(connection->fd, connection->buffer, BUFFER_SIZE, 0);
  if (received == 0) return -1;
  if (received < 0) return (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) ? 0 : -1;
  connection->pending_start = 0;
  connection->pending_end = (size_t)received;
  const int sent = send_pending(connection);
  if (sent < 0) return -1;
  if (sent == 0) return watch(epoll_fd, EPOLL_CTL_MOD, connection, EPOLLOUT);
  return 0;
}

/* Writable again: finish the pending echo, then go back to reading. */
static int on_writable(int epoll_fd, struct connection* connection) {
  const int sent = send_pending(connection);
  if (sent < 0) return -1;
  if (sent == 1) return watch(epoll_fd, EPOLL_CTL_MOD, connection, EPOLLIN);
  return 0;
}

static void accept_all(int epoll_fd, int listener) {
  for (;;) {
    const int fd = accept4(listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) perror("echo_epoll_server: accept4");
      return;
    }
    const int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct connection* connection = malloc(sizeof *connection);
    if (!connection) {
      close(fd);
      continue;
    }
    connection->fd = fd;
    connection->pending_start = connection->pending_end = 0;
    if (watch(epoll_fd, EPOLL_CTL_ADD, connection, EPOLLIN) != 0) {
      close(fd);
      free(connection);
    }
  }
}

int main(int argc, char** argv) {
  int port = 8888;
  for (int i = 1; i < argc; ++i) {
    if (strcmp(argv[i], "--port") == 0) {
      if (i + 1 >= argc) usage("--port needs a value after", argv[i]);
      port = parse_port(argv[++i]);
    } else {
      usage("unknown flag", argv[i]);
    }
  }
  signal(SIGPIPE, SIG_IGN);

  const int listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (listener < 0) {
    perror("echo_epoll_server: socket");
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
      listen(listener, 1024) != 0 ||
      getsockname(listener, (struct sockaddr*)&address, &length) != 0) {
    perror("echo_epoll_server: bind/listen");
    return 1;
  }

  const int epoll_fd = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event event;
  memset(&event, 0, sizeof event);
  event.events = EPOLLIN;
  event.data.ptr = NULL; /* NULL marks the listener */
  if (epoll_fd < 0 || epoll_ctl(epoll_fd, EPOLL_CTL_ADD, listener, &event) != 0) {
    perror("echo_epoll_server: epoll");
    return 1;
  }
  printf("listening on 127.0.0.1:%u\n", (unsigned)ntohs(address.sin_port));
  fflush(stdout);

  struct epoll_event events[MAX_EVENTS];
  for (;;) {
    const int ready = epoll_wait(epoll_fd, events, MAX_EVENTS, -1);
    if (ready < 0) {
      if (errno == EINTR) continue;
      perror("echo_epoll_server: epoll_wait");
      return 1;
    }
    for (int i = 0; i < ready; ++i) {
      struct connection* connection = events[i].data.ptr;
      if (!connection) {
        accept_all(epoll_fd, listener);
        continue;
      }
      /* The state, not the event, decides: EPOLLERR/EPOLLHUP come whatever was asked for. */
      const int outcome = connection->pending_start < connection->pending_end
                              ? on_writable(epoll_fd, connection)
                              : on_readable(epoll_fd, connection);
      if (outcome < 0) close_connection(epoll_fd, connection);
    }
  }
}
