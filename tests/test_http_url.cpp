// Url without a loop: parsing (scheme, host, port, target, fragment), every malformed URL giving
// a UrlError that names it and its problem, https refused as "TLS is not supported", redirect
// resolution by RFC 3986 5.2 (its normal examples included), authority, to_string, same_origin.

#include <gtest/gtest.h>

#include <string>

#include <ringloop/http/errors.hpp>
#include <ringloop/http/url.hpp>

namespace ringloop::http {
namespace {

/// The message of the UrlError `parse(text)` throws; fails the test if it throws nothing or
/// something else.
std::string parse_failure(const std::string& text) {
  try {
    const Url url = Url::parse(text);
    ADD_FAILURE() << text << " accepted, giving " << url.to_string();
  } catch (const UrlError& error) {
    return error.what();
  } catch (const std::exception& error) {
    ADD_FAILURE() << "threw another type: " << error.what();
  }
  return {};
}

TEST(HttpUrl, parses_host_port_and_target) {
  const Url url = Url::parse("http://example.com:8080/a/b?x=1&y=2");
  EXPECT_EQ(url.scheme, "http");
  EXPECT_EQ(url.host, "example.com");
  EXPECT_EQ(url.port, 8080);
  EXPECT_TRUE(url.explicit_port);
  EXPECT_EQ(url.target, "/a/b?x=1&y=2");
}

TEST(HttpUrl, defaults_port_80_and_target_slash) {
  const Url url = Url::parse("http://example.com");
  EXPECT_EQ(url.port, 80);
  EXPECT_FALSE(url.explicit_port);
  EXPECT_EQ(url.target, "/");
  EXPECT_EQ(Url::parse("http://example.com?q").target, "/?q");
  EXPECT_EQ(Url::parse("http://example.com:/x").port, 80);
}

TEST(HttpUrl, lower_cases_scheme_and_host_but_not_target) {
  const Url url = Url::parse("HTTP://Example.COM/Path?Q=A");
  EXPECT_EQ(url.scheme, "http");
  EXPECT_EQ(url.host, "example.com");
  EXPECT_EQ(url.target, "/Path?Q=A");
}

TEST(HttpUrl, drops_the_fragment_and_keeps_the_query) {
  EXPECT_EQ(Url::parse("http://h/p?q=1#frag").target, "/p?q=1");
  EXPECT_EQ(Url::parse("http://h#frag").target, "/");
}

TEST(HttpUrl, parses_ipv4_and_ipv6_literals) {
  EXPECT_EQ(Url::parse("http://127.0.0.1:9/").host, "127.0.0.1");
  const Url v6 = Url::parse("http://[::1]:8080/x");
  EXPECT_EQ(v6.host, "::1");
  EXPECT_EQ(v6.port, 8080);
  EXPECT_EQ(v6.authority(), "[::1]:8080");
  EXPECT_EQ(Url::parse("http://[2001:DB8::1]/").host, "2001:db8::1");
}

TEST(HttpUrl, refuses_https_as_tls_not_supported) {
  const std::string message = parse_failure("https://example.com/");
  EXPECT_NE(message.find("TLS is not supported"), std::string::npos) << message;
  EXPECT_NE(message.find("https://example.com/"), std::string::npos) << message;
  EXPECT_NE(parse_failure("HTTPS://example.com/").find("TLS is not supported"), std::string::npos);
}

TEST(HttpUrl, refuses_other_schemes) {
  for (const char* text : {"ftp://example.com/", "ws://h/", "file:///etc/passwd"}) {
    const std::string message = parse_failure(text);
    EXPECT_NE(message.find("unsupported scheme"), std::string::npos) << message;
    EXPECT_NE(message.find(text), std::string::npos) << message;
  }
}

TEST(HttpUrl, refuses_relative_and_schemeless_text) {
  EXPECT_NE(parse_failure("example.com/x").find("not an absolute URL"), std::string::npos);
  EXPECT_NE(parse_failure("/x").find("not an absolute URL"), std::string::npos);
  EXPECT_NE(parse_failure("http:example.com").find("expected \"//\""), std::string::npos);
}

TEST(HttpUrl, refuses_an_empty_host) {
  for (const char* text : {"http://", "http:///x", "http://:80/", "http://?q"}) {
    EXPECT_NE(parse_failure(text).find("empty host"), std::string::npos) << text;
  }
}

TEST(HttpUrl, refuses_bad_ports) {
  for (const char* text : {"http://h:0/", "http://h:65536/", "http://h:99999999999/",
                           "http://h:8a/", "http://h:-1/", "http://h:+80/"}) {
    const std::string message = parse_failure(text);
    EXPECT_NE(message.find("invalid port"), std::string::npos) << message;
    EXPECT_NE(message.find(text), std::string::npos) << message;
  }
  EXPECT_EQ(Url::parse("http://h:65535/").port, 65535);
}

TEST(HttpUrl, refuses_user_info) {
  EXPECT_NE(parse_failure("http://user:pass@h/").find("user info"), std::string::npos);
  EXPECT_NE(parse_failure("http://@h/").find("user info"), std::string::npos);
}

TEST(HttpUrl, refuses_spaces_and_control_characters) {
  for (const char* text :
       {"http://h/a b", "http://h/\r\nX: y", "http://h\t/", " http://h/", "http://h/\x7f"}) {
    EXPECT_NE(parse_failure(text).find("spaces and control characters"), std::string::npos);
  }
}

TEST(HttpUrl, refuses_unbalanced_brackets_and_bad_ipv6) {
  EXPECT_NE(parse_failure("http://[::1/").find("unbalanced '['"), std::string::npos);
  EXPECT_NE(parse_failure("http://::1]/").find("unbalanced brackets"), std::string::npos);
  EXPECT_NE(parse_failure("http://h]/").find("unbalanced brackets"), std::string::npos);
  EXPECT_NE(parse_failure("http://[::g]/").find("invalid IPv6 address"), std::string::npos);
  EXPECT_NE(parse_failure("http://[1.2.3.4]/").find("invalid IPv6 address"), std::string::npos);
  EXPECT_NE(parse_failure("http://[]/").find("invalid IPv6 address"), std::string::npos);
  EXPECT_NE(parse_failure("http://[::1]x/").find("after the IPv6 address"), std::string::npos);
  EXPECT_NE(parse_failure("http://::1/").find("must be in brackets"), std::string::npos);
}

TEST(HttpUrl, refuses_invalid_host_characters) {
  EXPECT_NE(parse_failure("http://ex<ample/").find("in the host"), std::string::npos);
  EXPECT_NE(parse_failure("http://ex%41mple/").find("in the host"), std::string::npos);
}

TEST(HttpUrl, authority_and_to_string_omit_the_default_port) {
  EXPECT_EQ(Url::parse("http://h:80/x").authority(), "h");
  EXPECT_EQ(Url::parse("http://h:81/x").authority(), "h:81");
  EXPECT_EQ(Url::parse("http://H:81/x?y#z").to_string(), "http://h:81/x?y");
  EXPECT_EQ(Url::parse("http://[::1]").to_string(), "http://[::1]/");
}

TEST(HttpUrl, same_origin_compares_scheme_host_and_port) {
  const Url base = Url::parse("http://h:8080/a");
  EXPECT_TRUE(base.same_origin(Url::parse("http://H:8080/b?c")));
  EXPECT_FALSE(base.same_origin(Url::parse("http://h:8081/a")));
  EXPECT_FALSE(base.same_origin(Url::parse("http://g:8080/a")));
  EXPECT_TRUE(Url::parse("http://h/").same_origin(Url::parse("http://h:80/")));
}

// RFC 3986 5.4.1's normal examples, base "http://a/b/c/d;p?q" (those not using a scheme other
// than http).
TEST(HttpUrl, resolves_rfc3986_normal_examples) {
  const Url base = Url::parse("http://a/b/c/d;p?q");
  const std::pair<const char*, const char*> cases[] = {
      {"g", "http://a/b/c/g"},
      {"./g", "http://a/b/c/g"},
      {"g/", "http://a/b/c/g/"},
      {"/g", "http://a/g"},
      {"//g", "http://g/"},
      {"?y", "http://a/b/c/d;p?y"},
      {"g?y", "http://a/b/c/g?y"},
      {"#s", "http://a/b/c/d;p?q"},
      {"g#s", "http://a/b/c/g"},
      {"g?y#s", "http://a/b/c/g?y"},
      {";x", "http://a/b/c/;x"},
      {"g;x", "http://a/b/c/g;x"},
      {"", "http://a/b/c/d;p?q"},
      {".", "http://a/b/c/"},
      {"./", "http://a/b/c/"},
      {"..", "http://a/b/"},
      {"../", "http://a/b/"},
      {"../g", "http://a/b/g"},
      {"../..", "http://a/"},
      {"../../", "http://a/"},
      {"../../g", "http://a/g"},
      {"../../../g", "http://a/g"},
      {"../../../../g", "http://a/g"},
      {"/./g", "http://a/g"},
      {"/../g", "http://a/g"},
      {"g.", "http://a/b/c/g."},
      {".g", "http://a/b/c/.g"},
      {"g..", "http://a/b/c/g.."},
      {"..g", "http://a/b/c/..g"},
      {"./../g", "http://a/b/g"},
      {"./g/.", "http://a/b/c/g/"},
      {"g/./h", "http://a/b/c/g/h"},
      {"g/../h", "http://a/b/c/h"},
      {"g;x=1/./y", "http://a/b/c/g;x=1/y"},
      {"g;x=1/../y", "http://a/b/c/y"},
      {"g?y/./x", "http://a/b/c/g?y/./x"},
      {"http://x/a/../b", "http://x/b"},
      {"HTTP://X:81", "http://x:81/"},
  };
  for (const auto& [reference, expected] : cases) {
    EXPECT_EQ(base.resolve(reference).to_string(), expected) << reference;
  }
}

TEST(HttpUrl, resolve_keeps_the_base_port_and_rejects_what_parse_rejects) {
  const Url base = Url::parse("http://h:8080/dir/page");
  EXPECT_EQ(base.resolve("other").to_string(), "http://h:8080/dir/other");
  EXPECT_EQ(base.resolve("//g:9/x").to_string(), "http://g:9/x");
  try {
    (void)base.resolve("https://h/");
    ADD_FAILURE() << "https accepted";
  } catch (const UrlError& error) {
    EXPECT_NE(std::string(error.what()).find("TLS is not supported"), std::string::npos);
  }
  EXPECT_THROW((void)base.resolve("a b"), UrlError);
  EXPECT_THROW((void)base.resolve("ftp://h/"), UrlError);
  EXPECT_THROW((void)base.resolve("//u@h/"), UrlError);
}

}  // namespace
}  // namespace ringloop::http
