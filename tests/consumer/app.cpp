// A program outside ringloop's tree, built against an installed (or add_subdirectory) ringloop
// by scripts/check-consumers.sh: a 1 ms sleep, a nop through the backend and a TCP round trip
// over 127.0.0.1. Prints the backend and the allocator; exits 0 when all of it worked.

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <string>

#include <ringloop/ringloop.hpp>

using namespace std::chrono_literals;

// Defined only when the program links mimalloc (ringloop::mimalloc or -lmimalloc).
extern "C" int mi_version() __attribute__((weak));

namespace {

ringloop::Task<> echo_one_line(ringloop::TcpListener* listener) {
  ringloop::TcpStream stream = co_await listener->accept();
  const std::string line = co_await stream.readline();
  co_await stream.write_all(line);
  co_await stream.close();
}

ringloop::Task<int> main_task() {
  const auto started = std::chrono::steady_clock::now();
  co_await ringloop::sleep(1ms);
  if (std::chrono::steady_clock::now() - started < 1ms) {
    std::fprintf(stderr, "consumer: sleep(1ms) returned early\n");
    co_return 1;
  }
  if (const std::int32_t result = co_await ringloop::ops::nop(); result != 0) {
    std::fprintf(stderr, "consumer: nop gave %d\n", static_cast<int>(result));
    co_return 1;
  }

  auto listener = ringloop::TcpListener::bind(ringloop::SocketAddress::loopback(0));
  auto server = ringloop::spawn(echo_one_line(&listener), "echo");
  ringloop::TcpStream client = co_await ringloop::TcpStream::connect(listener.local_address());
  co_await client.write_all("ping\n");
  const std::string reply = co_await client.readline();
  co_await server;
  co_await client.close();
  co_await listener.close();
  if (reply != "ping\n") {
    std::fprintf(stderr, "consumer: echoed '%s'\n", reply.c_str());
    co_return 1;
  }

  const std::string backend(ringloop::Loop::current().backend_name());
  std::printf("consumer ok: backend %s, allocator %s, sleep + nop + tcp round trip\n",
              backend.c_str(), mi_version != nullptr ? "mimalloc" : "system");
  co_return 0;
}

}  // namespace

int main() {
  try {
    return ringloop::run(main_task());
  } catch (const std::exception& error) {
    std::fprintf(stderr, "consumer: %s\n", error.what());
    return 1;
  }
}
