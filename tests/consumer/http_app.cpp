// A program outside ringloop's tree that uses the HTTP client (ringloop::http, or pkg-config's
// ringloop-http): GETs a page from a tiny server on 127.0.0.1 twice over one kept-alive
// connection. Exits 0 and prints "consumer ok: ..." when both answers were right.

#include <cstdio>
#include <exception>
#include <string>

#include <ringloop/http.hpp>
#include <ringloop/ringloop.hpp>

namespace {

ringloop::Task<> answer_twice(ringloop::TcpStream stream) {
  for (int request = 0; request < 2; ++request) {
    co_await stream.read_until("\r\n\r\n");
    co_await stream.write_all(
        std::string_view("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"));
  }
  co_await stream.close();
}

ringloop::Task<int> main_task() {
  ringloop::TcpServer server = co_await ringloop::start_server(answer_twice, "127.0.0.1", 0);
  const std::string url = "http://127.0.0.1:" + std::to_string(server.address().port()) + "/";
  ringloop::http::Client client;
  std::string bodies;
  for (int request = 0; request < 2; ++request) {
    ringloop::http::Response response = co_await client.get(url);
    const std::string body = co_await response.text();
    bodies += body;
  }
  const auto stats = client.stats();
  co_await server.close();
  if (bodies != "hellohello" || stats.connections_opened != 1) {
    std::fprintf(stderr, "consumer: got '%s' over %llu connections\n", bodies.c_str(),
                 static_cast<unsigned long long>(stats.connections_opened));
    co_return 1;
  }
  std::printf("consumer ok: backend %s, http client: two GETs over one connection\n",
              std::string(ringloop::Loop::current().backend_name()).c_str());
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
