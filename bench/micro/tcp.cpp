// TCP: tcp_ping_pong/<backend>  one loopback connection with both ends in the same loop; the
// client writes 1 byte and reads the 1-byte echo, the server task echoes it; items are round
// trips (two sends and two receives each).

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include <ringloop/runtime/task_handle.hpp>
#include <ringloop/sockets/socket_address.hpp>
#include <ringloop/sockets/tcp.hpp>

#include "common.hpp"

namespace micro {
namespace {

struct Connection {
  ringloop::TcpListener listener;
  ringloop::TcpStream client;
  ringloop::TcpStream server;
  ringloop::TaskHandle<> echo;
  std::int64_t echoed = 0;
};

// Echoes every byte until the client closes its end.
ringloop::Task<> echo_bytes(Connection* connection) {
  std::array<std::byte, 1> byte{};
  for (;;) {
    const std::size_t received = co_await connection->server.read_some(byte);
    if (received == 0) break;
    co_await connection->server.write_all(std::span<const std::byte>(byte.data(), received));
    ++connection->echoed;
  }
  co_await connection->server.close();
}

ringloop::Task<> open_connection(Connection* connection) {
  connection->listener = ringloop::TcpListener::bind(ringloop::SocketAddress::loopback(0));
  const ringloop::SocketAddress address = connection->listener.local_address();
  ringloop::TaskHandle<ringloop::TcpStream> accepted =
      ringloop::spawn(connection->listener.accept());
  connection->client = co_await ringloop::TcpStream::connect(address);
  connection->server = co_await accepted;
  connection->client.set_nodelay(true);
  connection->server.set_nodelay(true);
  connection->echo = ringloop::spawn(echo_bytes(connection));
}

ringloop::Task<> close_connection(Connection* connection) {
  co_await connection->client.close();
  co_await connection->echo;
  co_await connection->listener.close();
}

ringloop::Task<> ping_pong_kernel(Connection* connection, std::int64_t operations,
                                  std::int64_t* round_trips) {
  std::array<std::byte, 1> byte{std::byte{42}};
  for (std::int64_t i = 0; i < operations; ++i) {
    co_await connection->client.write_all(std::span<const std::byte>(byte));
    co_await connection->client.read_exactly(byte);
    check(byte[0] == std::byte{42}, "tcp_ping_pong: the byte came back");
    ++*round_trips;
  }
}

void tcp_ping_pong(benchmark::State& state, BackendKind backend) {
  std::optional<ringloop::Loop> loop;
  if (!make_loop(state, backend, loop)) return;
  Connection connection;  // destroyed before the loop
  loop->run_until_complete(open_connection(&connection));
  std::int64_t round_trips = 0;
  loop->run_until_complete(
      drive_batches(&state, kBatch, [&connection, &round_trips](std::int64_t operations) {
        return ping_pong_kernel(&connection, operations, &round_trips);
      }));
  loop->run_until_complete(close_connection(&connection));
  check(round_trips == static_cast<std::int64_t>(state.iterations()) &&
            connection.echoed == round_trips,
        "tcp_ping_pong: every byte echoed");
  state.SetItemsProcessed(round_trips);
}

}  // namespace

void register_tcp_benchmarks(std::vector<CallgrindCase>& /*cases*/) {
  for (benchmark::internal::Benchmark* registered :
       register_on_both_backends("tcp_ping_pong", tcp_ping_pong)) {
    registered->UseRealTime();
  }
}

}  // namespace micro
