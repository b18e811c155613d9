/* A libuv peer for bench/run_echo.py: a TCP echo server in plain C on libuv (the loop under
 * Node.js, and what uvloop wraps), single-threaded, to compare ringloop with a mature C event
 * loop without Python in between.
 *
 *   ./echo_libuv_server [--port P]
 *
 * Listens on 127.0.0.1:P (P = 0: a free port) and prints, flushed, "listening on 127.0.0.1:P".
 * Per connection: uv_read_start with an alloc callback that mallocs a 64 KiB buffer per read (the
 * size libuv itself suggests), uv_write of what arrived, the buffer freed once the write is done.
 * While a write waits in libuv's queue (the peer does not take it at once) reading stops, as
 * echo_epoll_server waits for EPOLLOUT, so a slow reader cannot make memory grow. TCP_NODELAY on
 * every connection (uv_tcp_nodelay), as the other servers. SIGINT and SIGTERM stop the loop
 * (a uv_signal_t). Exit status: 1 on setup failure, 2 for bad flags. */

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

enum { READ_SIZE = 64 * 1024, LISTEN_BACKLOG = 1024 };

struct connection {
  uv_tcp_t tcp; /* first, so a uv_handle_t* / uv_stream_t* of it is the connection */
  int closing;
  int read_stopped; /* reading waits for the write queue to drain */
};

struct write_request {
  uv_write_t request;
  char* base; /* the read buffer being echoed, freed when the write completes */
};

static void usage(const char* message, const char* value) {
  if (message) fprintf(stderr, "echo_libuv_server: %s '%s'\n", message, value);
  fprintf(stderr, "usage: echo_libuv_server [--port P]\n");
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

static void on_closed(uv_handle_t* handle) {
  free(handle);
}

static void close_connection(struct connection* connection) {
  if (connection->closing) return;
  connection->closing = 1;
  uv_close((uv_handle_t*)&connection->tcp, on_closed);
}

/* libuv asks only when the socket is readable, so an idle connection holds no buffer. */
static void on_alloc(uv_handle_t* handle, size_t suggested, uv_buf_t* buffer) {
  (void)handle;
  (void)suggested;
  buffer->base = malloc(READ_SIZE);
  buffer->len = buffer->base ? READ_SIZE : 0;
}

static void on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buffer);

static void on_written(uv_write_t* request, int status) {
  struct write_request* write = (struct write_request*)request;
  struct connection* connection = (struct connection*)request->handle;
  free(write->base);
  free(write);
  if (connection->closing) return;
  if (status < 0) {
    close_connection(connection);
    return;
  }
  /* The queue drained: the peer took the echo, so read again if on_read stopped. (Only then:
   * uv_read_start on a reading stream fails with UV_EALREADY.) */
  if (connection->read_stopped &&
      uv_stream_get_write_queue_size((uv_stream_t*)&connection->tcp) == 0) {
    connection->read_stopped = 0;
    if (uv_read_start((uv_stream_t*)&connection->tcp, on_alloc, on_read) != 0) {
      close_connection(connection);
    }
  }
}

static void on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buffer) {
  struct connection* connection = (struct connection*)stream;
  if (nread <= 0) {
    free(buffer->base);                          /* 0 is EAGAIN: nothing read, nothing owed */
    if (nread < 0) close_connection(connection); /* UV_EOF or an error */
    return;
  }
  struct write_request* write = malloc(sizeof *write);
  if (!write) {
    free(buffer->base);
    close_connection(connection);
    return;
  }
  write->base = buffer->base;
  const uv_buf_t echo = uv_buf_init(buffer->base, (unsigned)nread);
  if (uv_write(&write->request, stream, &echo, 1, on_written) != 0) {
    free(write->base);
    free(write);
    close_connection(connection);
    return;
  }
  /* uv_write sends at once what the socket takes; what is left waits for POLLOUT. */
  if (uv_stream_get_write_queue_size(stream) > 0) {
    uv_read_stop(stream);
    connection->read_stopped = 1;
  }
}

static void on_connection(uv_stream_t* listener, int status) {
  if (status < 0) {
    fprintf(stderr, "echo_libuv_server: listen: %s\n", uv_strerror(status));
    return;
  }
  struct connection* connection = malloc(sizeof *connection);
  if (!connection) return;
  connection->closing = 0;
  connection->read_stopped = 0;
  uv_tcp_init(listener->loop, &connection->tcp);
  if (uv_accept(listener, (uv_stream_t*)&connection->tcp) != 0) {
    close_connection(connection);
    return;
  }
  uv_tcp_nodelay(&connection->tcp, 1);
  if (uv_read_start((uv_stream_t*)&connection->tcp, on_alloc, on_read) != 0) {
    close_connection(connection);
  }
}

static void on_signal(uv_signal_t* handle, int number) {
  (void)number;
  uv_stop(handle->loop);
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

  /* libuv writes with writev, so a peer that resets would raise SIGPIPE; the error is taken
   * from the write's status instead. SIGTERM and SIGINT end the loop through signal handles. */
  signal(SIGPIPE, SIG_IGN);
  uv_loop_t* loop = uv_default_loop();
  uv_signal_t terminate;
  uv_signal_t interrupt;
  uv_signal_init(loop, &terminate);
  uv_signal_init(loop, &interrupt);
  uv_signal_start(&terminate, on_signal, SIGTERM);
  uv_signal_start(&interrupt, on_signal, SIGINT);

  uv_tcp_t listener;
  struct sockaddr_in address;
  int result = uv_tcp_init(loop, &listener);
  if (result == 0) result = uv_ip4_addr("127.0.0.1", port, &address);
  if (result == 0) result = uv_tcp_bind(&listener, (const struct sockaddr*)&address, 0);
  if (result == 0) result = uv_listen((uv_stream_t*)&listener, LISTEN_BACKLOG, on_connection);
  int length = sizeof address;
  if (result == 0) result = uv_tcp_getsockname(&listener, (struct sockaddr*)&address, &length);
  if (result != 0) {
    fprintf(stderr, "echo_libuv_server: bind/listen: %s\n", uv_strerror(result));
    return 1;
  }
  printf("listening on 127.0.0.1:%u\n", (unsigned)ntohs(address.sin_port));
  fflush(stdout);

  uv_run(loop, UV_RUN_DEFAULT);
  return 0;
}
