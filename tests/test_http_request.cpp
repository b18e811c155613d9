// Headers (case-insensitive lookup, order kept, set/remove), equals_ignoring_case,
// list_contains_token, is_idempotent, and serialize_request: the exact bytes, defaults replaced
// in place by the request's own fields, and std::invalid_argument for methods other than
// GET/HEAD and for header injection.

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

#include <ringloop/http/headers.hpp>
#include <ringloop/http/request.hpp>
#include <ringloop/http/url.hpp>

namespace ringloop::http {
namespace {

std::string invalid_argument_message(const Request& request) {
  try {
    const std::string bytes = serialize_request(request, default_user_agent);
    ADD_FAILURE() << "serialized: " << bytes;
  } catch (const std::invalid_argument& error) {
    return error.what();
  } catch (const std::exception& error) {
    ADD_FAILURE() << "threw another type: " << error.what();
  }
  return {};
}

Request get(const char* url, Headers headers = {}) {
  return Request{"GET", Url::parse(url), std::move(headers)};
}

TEST(HttpHeaders, lookup_ignores_case_and_keeps_order_and_spelling) {
  Headers headers;
  headers.add("Set-Cookie", "a=1");
  headers.add("content-type", "text/plain");
  headers.add("SET-COOKIE", "b=2");
  EXPECT_EQ(headers.size(), 3u);
  EXPECT_EQ(headers.get("Content-Type"), "text/plain");
  EXPECT_EQ(headers.get("set-cookie"), "a=1");
  EXPECT_EQ(headers.get_all("Set-Cookie"), (std::vector<std::string_view>{"a=1", "b=2"}));
  EXPECT_FALSE(headers.get("missing").has_value());
  EXPECT_TRUE(headers.contains("CONTENT-TYPE"));
  EXPECT_EQ(headers.begin()->name, "Set-Cookie");
  EXPECT_EQ((headers.begin() + 2)->name, "SET-COOKIE");
}

TEST(HttpHeaders, set_replaces_every_field_of_the_name_in_the_first_place) {
  Headers headers{{"A", "1"}, {"b", "2"}, {"a", "3"}, {"C", "4"}};
  headers.set("a", "new");
  ASSERT_EQ(headers.size(), 3u);
  EXPECT_EQ(headers.begin()->name, "a");
  EXPECT_EQ(headers.begin()->value, "new");
  EXPECT_EQ((headers.begin() + 1)->name, "b");
  headers.set("D", "5");
  EXPECT_EQ(headers.get("d"), "5");
  EXPECT_EQ(headers.size(), 4u);
}

TEST(HttpHeaders, remove_counts_what_it_removed) {
  Headers headers{{"A", "1"}, {"b", "2"}, {"a", "3"}};
  EXPECT_EQ(headers.remove("a"), 2u);
  EXPECT_EQ(headers.remove("a"), 0u);
  EXPECT_EQ(headers.size(), 1u);
  headers.clear();
  EXPECT_TRUE(headers.empty());
}

TEST(HttpHeaders, equals_ignoring_case_is_ascii_only) {
  EXPECT_TRUE(equals_ignoring_case("Content-Length", "content-LENGTH"));
  EXPECT_FALSE(equals_ignoring_case("Content-Length", "Content-Lengt"));
  EXPECT_FALSE(equals_ignoring_case("a", "b"));
  EXPECT_TRUE(equals_ignoring_case("", ""));
  EXPECT_FALSE(equals_ignoring_case("\xc3\xa9", "\xc3\x89"));  // é, É
}

TEST(HttpHeaders, list_contains_token_splits_on_commas_and_trims_ows) {
  EXPECT_TRUE(list_contains_token("close", "close"));
  EXPECT_TRUE(list_contains_token("Keep-Alive, Upgrade", "upgrade"));
  EXPECT_TRUE(list_contains_token(" gzip ,\tchunked ", "chunked"));
  EXPECT_TRUE(list_contains_token("a,,close", "close"));
  EXPECT_FALSE(list_contains_token("closed", "close"));
  EXPECT_FALSE(list_contains_token("", "close"));
  EXPECT_FALSE(list_contains_token("x-close", "close"));
}

TEST(HttpRequest, idempotent_methods_are_case_sensitive) {
  for (const char* method : {"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"}) {
    EXPECT_TRUE(is_idempotent(method)) << method;
  }
  for (const char* method : {"POST", "PATCH", "CONNECT", "get", ""}) {
    EXPECT_FALSE(is_idempotent(method)) << method;
  }
}

TEST(HttpRequest, serializes_the_request_line_and_defaults) {
  EXPECT_EQ(serialize_request(get("http://Example.com:8080/a?b=1#f"), "agent/1"),
            "GET /a?b=1 HTTP/1.1\r\n"
            "Host: example.com:8080\r\n"
            "User-Agent: agent/1\r\n"
            "Accept-Encoding: identity\r\n"
            "\r\n");
  Request head{"HEAD", Url::parse("http://[::1]/"), {}};
  EXPECT_EQ(serialize_request(head, default_user_agent),
            "HEAD / HTTP/1.1\r\nHost: [::1]\r\nUser-Agent: ringloop-http/0.1\r\n"
            "Accept-Encoding: identity\r\n\r\n");
}

TEST(HttpRequest, request_headers_replace_defaults_in_place_and_follow_them) {
  const Request request =
      get("http://h/", {{"X-One", "1"}, {"user-agent", "mine"}, {"Connection", "close"}});
  EXPECT_EQ(serialize_request(request, default_user_agent),
            "GET / HTTP/1.1\r\nHost: h\r\nUser-Agent: mine\r\nAccept-Encoding: identity\r\n"
            "X-One: 1\r\nConnection: close\r\n\r\n");
  const Request host = get("http://h/", {{"HOST", "other"}, {"Accept-Encoding", "gzip"}});
  EXPECT_EQ(serialize_request(host, "a"),
            "GET / HTTP/1.1\r\nHost: other\r\nUser-Agent: a\r\nAccept-Encoding: gzip\r\n\r\n");
}

TEST(HttpRequest, rejects_methods_other_than_get_and_head) {
  for (const char* method : {"POST", "get", "DELETE", ""}) {
    Request request = get("http://h/");
    request.method = method;
    const std::string message = invalid_argument_message(request);
    EXPECT_NE(message.find("unsupported method \"" + std::string(method) + "\""), std::string::npos)
        << message;
  }
}

TEST(HttpRequest, rejects_header_injection_in_values) {
  for (const char* value : {"a\r\nX-Injected: 1", "a\nb", "a\rb"}) {
    const std::string message = invalid_argument_message(get("http://h/", {{"X-Test", value}}));
    EXPECT_NE(message.find("\"X-Test\""), std::string::npos) << message;
    EXPECT_NE(message.find("CR, LF or NUL"), std::string::npos) << message;
  }
  const std::string nul = invalid_argument_message(get("http://h/", {{"X-Nul", {"a\0b", 3}}}));
  EXPECT_NE(nul.find("\"X-Nul\""), std::string::npos) << nul;
  Request agent = get("http://h/");
  EXPECT_THROW((void)serialize_request(agent, "evil\r\nX: y"), std::invalid_argument);
}

TEST(HttpRequest, rejects_header_names_that_are_not_tokens) {
  for (const char* name : {"", "Bad Name", "Bad:Name", "Bad\r\nName", "(x)", "n\xc3\xa9"}) {
    const std::string message = invalid_argument_message(get("http://h/", {{name, "v"}}));
    EXPECT_NE(message.find("is not a token"), std::string::npos) << message;
  }
}

TEST(HttpRequest, rejects_a_tampered_target) {
  Request request = get("http://h/");
  request.url.target = "/ HTTP/1.1\r\nX: y";
  EXPECT_NE(invalid_argument_message(request).find("invalid request target"), std::string::npos);
  request.url.target = "noslash";
  EXPECT_NE(invalid_argument_message(request).find("invalid request target"), std::string::npos);
}

}  // namespace
}  // namespace ringloop::http
