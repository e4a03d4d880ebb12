// Base64UrlEncode / Base64UrlDecode: the cursors of GET /v1/views/{view}. A cursor carries a
// key's raw bytes, so every byte string must survive the round trip, and a client's edit of
// a cursor must be refused rather than silently decoded to some other key.
#include <catch2/catch.hpp>
#include <random>
#include <string>

#include "http/server.h"

namespace eddy::http {
namespace {

using namespace std::string_literals;

TEST_CASE("Base64UrlEncode matches RFC 4648's test vectors, unpadded", "[http][base64]") {
  CHECK(Base64UrlEncode("") == "");
  CHECK(Base64UrlEncode("f") == "Zg");
  CHECK(Base64UrlEncode("fo") == "Zm8");
  CHECK(Base64UrlEncode("foo") == "Zm9v");
  CHECK(Base64UrlEncode("foob") == "Zm9vYg");
  CHECK(Base64UrlEncode("fooba") == "Zm9vYmE");
  CHECK(Base64UrlEncode("foobar") == "Zm9vYmFy");
  // The URL-safe alphabet: 62 and 63 are '-' and '_', not '+' and '/'.
  CHECK(Base64UrlEncode("\xFB\xFF\xBF") == "-_-_");
  CHECK(Base64UrlEncode("\0\0\0"s) == "AAAA");
}

TEST_CASE("Base64UrlDecode inverts Base64UrlEncode for any bytes", "[http][base64]") {
  std::mt19937 random(20261125);
  for (int i = 0; i < 2000; ++i) {
    std::string bytes(random() % 40, '\0');
    for (char& c : bytes) c = static_cast<char>(random() % 256);
    const std::string encoded = Base64UrlEncode(bytes);
    INFO("case " << i << " encoded " << encoded);
    CHECK(encoded.find_first_not_of(
              "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") ==
          std::string::npos);
    CHECK(encoded.size() == (bytes.size() * 4 + 2) / 3);
    CHECK(Base64UrlDecode(encoded) == std::optional<std::string>(bytes));
  }
}

TEST_CASE("Base64UrlDecode accepts each byte string's one encoding only", "[http][base64]") {
  CHECK(Base64UrlDecode("") == std::optional<std::string>(""));
  CHECK(Base64UrlDecode("Zm9vYmFy") == std::optional<std::string>("foobar"));
  CHECK(Base64UrlDecode("-_-_") == std::optional<std::string>("\xFB\xFF\xBF"));
  // Padding, the standard alphabet, whitespace and other bytes are not base64url.
  CHECK_FALSE(Base64UrlDecode("Zg=="));
  CHECK_FALSE(Base64UrlDecode("Zg="));
  CHECK_FALSE(Base64UrlDecode("+/+/"));
  CHECK_FALSE(Base64UrlDecode("Zm9v YmFy"));
  CHECK_FALSE(Base64UrlDecode("Zm9v\n"));
  CHECK_FALSE(Base64UrlDecode("Zm9v\0"s));
  CHECK_FALSE(Base64UrlDecode("\xC3\xA9"));
  // A length no byte count encodes to.
  CHECK_FALSE(Base64UrlDecode("Z"));
  CHECK_FALSE(Base64UrlDecode("Zm9vY"));
  // Non-zero unused trailing bits: "Zh" would otherwise decode to "f" like "Zg".
  CHECK_FALSE(Base64UrlDecode("Zh"));
  CHECK_FALSE(Base64UrlDecode("Zm9"));
  CHECK(Base64UrlDecode("Zm8") == std::optional<std::string>("fo"));

  // Every 2- and 3-character string either is rejected or is the encoding of what it
  // decodes to: no two cursors name the same key.
  const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  size_t accepted = 0;
  for (char a : alphabet) {
    for (char b : alphabet) {
      for (const std::string& text : {std::string{a, b}, std::string{a, b, 'A'}}) {
        const std::optional<std::string> decoded = Base64UrlDecode(text);
        if (!decoded) continue;
        ++accepted;
        INFO(text);
        CHECK(Base64UrlEncode(*decoded) == text);
      }
    }
  }
  // 2 characters: the second's low 4 bits must be zero (4 of 64), so the 256 one-byte
  // strings; 3 characters ending in 'A' (low 2 bits zero): all 64 * 64.
  CHECK(accepted == 256 + 64 * 64);
}

}  // namespace
}  // namespace eddy::http
