// PercentDecode, JsonEscape, ParseRequest and the Response factories.
#include <catch2/catch.hpp>
#include <string>

#include "http/server.h"

namespace eddy::http {
namespace {

using namespace std::string_literals;

TEST_CASE("PercentDecode decodes %XY and leaves everything else alone", "[http][util]") {
  CHECK(PercentDecode("") == "");
  CHECK(PercentDecode("plain") == "plain");
  CHECK(PercentDecode("a%2Fb") == "a/b");
  CHECK(PercentDecode("a%2fb") == "a/b");
  CHECK(PercentDecode("x%20y") == "x y");
  CHECK(PercentDecode("%41%42%43") == "ABC");
  CHECK(PercentDecode("a+b") == "a+b");  // '+' is a space only in query strings
  CHECK(PercentDecode("%C3%A9t%C3%A9") == "\xC3\xA9t\xC3\xA9");  // "été"
  CHECK(PercentDecode("nul%00byte") == "nul\0byte"s);
  CHECK(PercentDecode("%25") == "%");
  CHECK(PercentDecode("%2525") == "%25");  // decoded once only
}

TEST_CASE("PercentDecode keeps malformed escapes literally", "[http][util]") {
  CHECK(PercentDecode("%") == "%");
  CHECK(PercentDecode("abc%") == "abc%");
  CHECK(PercentDecode("%4") == "%4");
  CHECK(PercentDecode("%zz") == "%zz");
  CHECK(PercentDecode("%g1%41") == "%g1A");
  CHECK(PercentDecode("100%") == "100%");
}

TEST_CASE("JsonEscape", "[http][util]") {
  CHECK(JsonEscape("") == "");
  CHECK(JsonEscape("plain text") == "plain text");
  CHECK(JsonEscape(R"(say "hi")") == R"(say \"hi\")");
  CHECK(JsonEscape(R"(C:\dir)") == R"(C:\\dir)");
  CHECK(JsonEscape("line\nbreak") == R"(line\u000abreak)");
  CHECK(JsonEscape("tab\there\r") == R"(tab\u0009here\u000d)");
  CHECK(JsonEscape("\x01\x1f"s) == R"(\u0001\u001f)");
  CHECK(JsonEscape("nul\0"s) == R"(nul\u0000)");
  CHECK(JsonEscape("\x7f") == "\x7f");  // DEL needs no escape in JSON
  CHECK(JsonEscape("caf\xC3\xA9 \xE2\x82\xAC") == "caf\xC3\xA9 \xE2\x82\xAC");  // UTF-8 as is
  CHECK(JsonEscape("/") == "/");
}

TEST_CASE("ParseRequest decodes the path and the query", "[http][util]") {
  Result<Request> request = ParseRequest("GET", "/v1/views/x%20y/keys/a%2Fb?from=1&to=a+b%2Bc");
  REQUIRE(request.ok());
  CHECK(request->method == "GET");
  CHECK(request->target == "/v1/views/x%20y/keys/a%2Fb?from=1&to=a+b%2Bc");
  CHECK(request->path == "/v1/views/x y/keys/a/b");
  REQUIRE(request->query.size() == 2);
  CHECK(request->query[0] == std::pair<std::string, std::string>("from", "1"));
  CHECK(request->query[1] == std::pair<std::string, std::string>("to", "a b+c"));
  CHECK(request->QueryValue("to") == "a b+c");
  CHECK(request->QueryValue("missing") == "");
}

TEST_CASE("ParseRequest query edge cases", "[http][util]") {
  Result<Request> request = ParseRequest("GET", "/p?&flag&k=&=v&k=second&a%3Db=c%26d&&e=f=g#frag");
  REQUIRE(request.ok());
  std::vector<std::pair<std::string, std::string>> expected = {
      {"flag", ""}, {"k", ""}, {"", "v"}, {"k", "second"}, {"a=b", "c&d"}, {"e", "f=g"}};
  CHECK(request->query == expected);
  CHECK(request->QueryValue("k") == "");  // the first one wins
  CHECK(request->path == "/p");

  Result<Request> no_query = ParseRequest("GET", "/p?");
  REQUIRE(no_query.ok());
  CHECK(no_query->query.empty());
  CHECK(no_query->path == "/p");
}

TEST_CASE("ParseRequest rejects targets not in origin form", "[http][util]") {
  for (const char* target : {"", "*", "http://host/x", "v1/views"}) {
    Result<Request> request = ParseRequest("GET", target);
    INFO("target: " << target);
    REQUIRE_FALSE(request.ok());
    CHECK(request.status().code() == StatusCode::kInvalidArgument);
  }
  CHECK(ParseRequest("OPTIONS", "*").status().message() ==
        "request target must start with '/': \"*\"");
}

TEST_CASE("Request::Param", "[http][util]") {
  Request request;
  request.params = {{"view", "v"}, {"key", "a/b"}};
  CHECK(request.Param("view") == "v");
  CHECK(request.Param("key") == "a/b");
  CHECK(request.Param("nope") == "");
}

TEST_CASE("Response factories", "[http][util]") {
  Response json = Response::Json(201, R"({"ok":true})");
  CHECK(json.status == 201);
  CHECK(json.content_type == "application/json");
  CHECK(json.body == R"({"ok":true})");

  Response text = Response::Text(200, "hello");
  CHECK(text.content_type == "text/plain; charset=utf-8");
  CHECK(Response::Text(200, "# HELP", "text/plain; version=0.0.4").content_type ==
        "text/plain; version=0.0.4");

  Response error = Response::Error(404, "no view \"a\"\n");
  CHECK(error.status == 404);
  CHECK(error.content_type == "application/json");
  CHECK(error.body == R"({"error":{"code":404,"message":"no view \"a\"\u000a"}})");
}

}  // namespace
}  // namespace eddy::http
