#pragma once
// Everything a ringloop user needs: the loop, tasks, futures, sleeping, cancellation, and
// awaitable descriptor operations, files and sockets.

#include <ringloop/io/backend.hpp>
#include <ringloop/io/operation.hpp>
#include <ringloop/runtime/barrier.hpp>
#include <ringloop/runtime/clock.hpp>
#include <ringloop/runtime/condition.hpp>
#include <ringloop/runtime/errors.hpp>
#include <ringloop/runtime/event.hpp>
#include <ringloop/runtime/file.hpp>
#include <ringloop/runtime/future.hpp>
#include <ringloop/runtime/gather.hpp>
#include <ringloop/runtime/handle.hpp>
#include <ringloop/runtime/io_operation.hpp>
#include <ringloop/runtime/lock.hpp>
#include <ringloop/runtime/loop.hpp>
#include <ringloop/runtime/offload.hpp>
#include <ringloop/runtime/offload_pool.hpp>
#include <ringloop/runtime/queue.hpp>
#include <ringloop/runtime/semaphore.hpp>
#include <ringloop/runtime/shield.hpp>
#include <ringloop/runtime/sleep.hpp>
#include <ringloop/runtime/task.hpp>
#include <ringloop/runtime/task_group.hpp>
#include <ringloop/runtime/task_handle.hpp>
#include <ringloop/runtime/timeout.hpp>
#include <ringloop/runtime/wait.hpp>
#include <ringloop/sockets/listener.hpp>
#include <ringloop/sockets/resolve.hpp>
#include <ringloop/sockets/server.hpp>
#include <ringloop/sockets/socket_address.hpp>
#include <ringloop/sockets/socket_errors.hpp>
#include <ringloop/sockets/stream_socket.hpp>
#include <ringloop/sockets/tcp.hpp>
#include <ringloop/sockets/udp.hpp>
#include <ringloop/sockets/unix_socket.hpp>
