// ParseRfc3339Millis / FormatRfc3339Millis.
#include <catch2/catch.hpp>
#include <cstdint>
#include <random>
#include <string>

#include "codec/json_record.h"

namespace eddy::codec {
namespace {

constexpr int64_t k2024May1Noon = 1714564800000;   // 2024-05-01T12:00:00Z
constexpr int64_t kYear0 = -62167219200000;        // 0000-01-01T00:00:00.000Z
constexpr int64_t kYear1 = -62135596800000;        // 0001-01-01T00:00:00.000Z
constexpr int64_t kYear9999End = 253402300799999;  // 9999-12-31T23:59:59.999Z

int64_t Ms(std::string_view text) {
  Result<int64_t> ms = ParseRfc3339Millis(text);
  INFO("text: " << text << " error: " << ms.status().message());
  REQUIRE(ms.ok());
  return *ms;
}

std::string Error(std::string_view text) {
  Result<int64_t> ms = ParseRfc3339Millis(text);
  INFO("text: " << text);
  REQUIRE_FALSE(ms.ok());
  CHECK(ms.status().code() == StatusCode::kInvalidArgument);
  return ms.status().message();
}

TEST_CASE("RFC 3339 UTC timestamps", "[codec][rfc3339]") {
  CHECK(Ms("1970-01-01T00:00:00Z") == 0);
  CHECK(Ms("2024-05-01T12:00:00Z") == k2024May1Noon);
  CHECK(Ms("2000-01-01T00:00:00Z") == 946684800000);
  CHECK(Ms("0000-01-01T00:00:00Z") == kYear0);
  CHECK(Ms("0001-01-01T00:00:00Z") == kYear1);
  CHECK(Ms("9999-12-31T23:59:59.999Z") == kYear9999End);
}

TEST_CASE("RFC 3339 negative epoch", "[codec][rfc3339]") {
  CHECK(Ms("1969-12-31T23:59:59.999Z") == -1);
  CHECK(Ms("1969-12-31T23:59:59Z") == -1000);
  CHECK(Ms("1900-01-01T00:00:00Z") == -2208988800000);
  CHECK(FormatRfc3339Millis(-1) == "1969-12-31T23:59:59.999Z");
  CHECK(FormatRfc3339Millis(-86400000) == "1969-12-31T00:00:00.000Z");
  CHECK(FormatRfc3339Millis(-2208988800000) == "1900-01-01T00:00:00.000Z");
}

TEST_CASE("RFC 3339 offsets are applied", "[codec][rfc3339]") {
  CHECK(Ms("2024-05-01T14:00:00+02:00") == k2024May1Noon);
  CHECK(Ms("2024-05-01T06:30:00-05:30") == k2024May1Noon);
  CHECK(Ms("2024-05-01T12:00:00+00:00") == k2024May1Noon);
  CHECK(Ms("2024-05-01T12:00:00-00:00") == k2024May1Noon);
  // Across a day and year boundary.
  CHECK(Ms("2024-01-01T01:00:00+02:00") == Ms("2023-12-31T23:00:00Z"));
  CHECK(Ms("2023-12-31T20:00:00-05:00") == Ms("2024-01-01T01:00:00Z"));
  CHECK(Ms("2024-05-01T12:00:00+23:59") == k2024May1Noon - (23 * 60 + 59) * 60000);
  // Year 0 with a positive offset lands before year 0 UTC: still a valid instant.
  CHECK(Ms("0000-01-01T00:00:00+01:00") == kYear0 - 3600000);
}

TEST_CASE("RFC 3339 fractions of any length, truncated to ms", "[codec][rfc3339]") {
  CHECK(Ms("2024-05-01T12:00:00.1Z") == k2024May1Noon + 100);
  CHECK(Ms("2024-05-01T12:00:00.12Z") == k2024May1Noon + 120);
  CHECK(Ms("2024-05-01T12:00:00.123Z") == k2024May1Noon + 123);
  CHECK(Ms("2024-05-01T12:00:00.1239Z") == k2024May1Noon + 123);
  CHECK(Ms("2024-05-01T12:00:00.123456789Z") == k2024May1Noon + 123);
  CHECK(Ms("2024-05-01T12:00:00.999999999999999999999Z") == k2024May1Noon + 999);
  CHECK(Ms("2024-05-01T12:00:00.000Z") == k2024May1Noon);
  CHECK(Ms("2024-05-01T14:00:00.5+02:00") == k2024May1Noon + 500);
  // Before 1970 truncation is still toward the earlier instant (the fraction is positive).
  CHECK(Ms("1969-12-31T23:59:59.9999Z") == -1);
}

TEST_CASE("RFC 3339 lower-case and space separator", "[codec][rfc3339]") {
  CHECK(Ms("2024-05-01t12:00:00z") == k2024May1Noon);
  CHECK(Ms("2024-05-01 12:00:00Z") == k2024May1Noon);
  CHECK(Ms("2024-05-01 14:00:00.000+02:00") == k2024May1Noon);
}

TEST_CASE("RFC 3339 leap days", "[codec][rfc3339]") {
  CHECK(Ms("2024-02-29T00:00:00Z") == Ms("2024-03-01T00:00:00Z") - 86400000);
  CHECK(Ms("2000-02-29T00:00:00Z") == 951782400000);
  CHECK(Ms("0000-02-29T00:00:00Z") == kYear0 + 59 * 86400000LL);  // year 0 is a leap year
  CHECK(Error("2023-02-29T00:00:00Z") ==
        "invalid RFC 3339 timestamp '2023-02-29T00:00:00Z': day out of range for 2023-02 at "
        "offset 8");
  CHECK_FALSE(ParseRfc3339Millis("1900-02-29T00:00:00Z").ok());  // century, not a leap year
  CHECK_FALSE(ParseRfc3339Millis("2024-02-30T00:00:00Z").ok());
}

TEST_CASE("RFC 3339 leap second is clamped to the end of its minute", "[codec][rfc3339]") {
  CHECK(Ms("2016-12-31T23:59:60Z") == Ms("2016-12-31T23:59:59.999Z"));
  CHECK(Ms("2016-12-31T23:59:60.5Z") == Ms("2016-12-31T23:59:59.999Z"));
  CHECK(Ms("2017-01-01T00:59:60+01:00") == Ms("2016-12-31T23:59:59.999Z"));
  CHECK_FALSE(ParseRfc3339Millis("2016-12-31T23:59:61Z").ok());
}

TEST_CASE("RFC 3339 out-of-range fields", "[codec][rfc3339]") {
  CHECK(Error("2024-13-01T00:00:00Z") ==
        "invalid RFC 3339 timestamp '2024-13-01T00:00:00Z': month out of range 01-12 at offset 5");
  CHECK(Error("2024-00-01T00:00:00Z").find("month out of range") != std::string::npos);
  CHECK(Error("2024-04-31T00:00:00Z").find("day out of range for 2024-04") != std::string::npos);
  CHECK(Error("2024-04-00T00:00:00Z").find("day out of range") != std::string::npos);
  CHECK(Error("2024-01-32T00:00:00Z").find("day out of range") != std::string::npos);
  CHECK(Error("2024-01-01T24:00:00Z") ==
        "invalid RFC 3339 timestamp '2024-01-01T24:00:00Z': hour out of range 00-23 at offset 11");
  CHECK(Error("2024-01-01T12:60:00Z").find("minute out of range 00-59 at offset 14") !=
        std::string::npos);
  CHECK(Error("2024-01-01T12:00:99Z").find("second out of range 00-60 at offset 17") !=
        std::string::npos);
  CHECK(Error("2024-01-01T12:00:00+24:00").find("time zone offset out of range at offset 20") !=
        std::string::npos);
  CHECK(Error("2024-01-01T12:00:00+01:60").find("time zone offset out of range") !=
        std::string::npos);
}

TEST_CASE("RFC 3339 syntax errors", "[codec][rfc3339]") {
  CHECK(Error("2024-05-01T12:00:00") ==
        "invalid RFC 3339 timestamp '2024-05-01T12:00:00': expected a time zone ('Z' or +HH:MM "
        "/ -HH:MM) at offset 19");
  CHECK(Error("2024-05-01T12:00:00.123").find("expected a time zone") != std::string::npos);
  CHECK(Error("2024-05-01T12:00:00Zjunk") ==
        "invalid RFC 3339 timestamp '2024-05-01T12:00:00Zjunk': unexpected trailing characters "
        "at offset 20");
  CHECK(Error("2024-05-01T12:00:00+02:00 ").find("trailing") != std::string::npos);
  CHECK(Error("2024-05-01T12:00:00.Z") ==
        "invalid RFC 3339 timestamp '2024-05-01T12:00:00.Z': expected a digit after '.' at "
        "offset 20");
  CHECK(Error("2024-05-01X12:00:00Z").find("expected 'T' or ' '") != std::string::npos);
  CHECK(Error("2024-5-01T12:00:00Z") ==
        "invalid RFC 3339 timestamp '2024-5-01T12:00:00Z': expected a digit at offset 6");
  CHECK(Error("2024/05/01T12:00:00Z") ==
        "invalid RFC 3339 timestamp '2024/05/01T12:00:00Z': expected '-' at offset 4");
  CHECK(Error("24-05-01T12:00:00Z").find("expected") != std::string::npos);
  CHECK(Error("12024-05-01T12:00:00Z").find("expected '-' at offset 4") != std::string::npos);
  CHECK(Error("2024-05-01T12:00Z").find("expected ':'") != std::string::npos);
  CHECK(Error("2024-05-01T12:00:00+0200").find("expected ':'") != std::string::npos);
  CHECK(Error("2024-05-01T12:00:00+02").find("expected ':'") != std::string::npos);
  CHECK(Error("2024-05-01T12:00:00 Z").find("expected a time zone") != std::string::npos);
  CHECK(Error("2024-05-01").find("expected 'T'") != std::string::npos);
  CHECK(Error("").find("expected a digit at offset 0") != std::string::npos);
  CHECK(Error(" 2024-05-01T12:00:00Z").find("offset 0") != std::string::npos);
  CHECK(Error("-2024-05-01T12:00:00Z").find("offset 0") != std::string::npos);
  CHECK(Error("1714564800000").find("expected '-'") != std::string::npos);
  CHECK_FALSE(ParseRfc3339Millis(std::string_view("2024-05-01T12:00:00Z\0", 21)).ok());
}

TEST_CASE("RFC 3339 errors quote at most 64 bytes of input", "[codec][rfc3339]") {
  const std::string long_text = "2024-05-01T12:00:00Z" + std::string(1000, 'x');
  const std::string message = Error(long_text);
  CHECK(message.size() < 200);
  CHECK(message.find("...") != std::string::npos);
}

TEST_CASE("FormatRfc3339Millis", "[codec][rfc3339]") {
  CHECK(FormatRfc3339Millis(0) == "1970-01-01T00:00:00.000Z");
  CHECK(FormatRfc3339Millis(k2024May1Noon) == "2024-05-01T12:00:00.000Z");
  CHECK(FormatRfc3339Millis(k2024May1Noon + 7) == "2024-05-01T12:00:00.007Z");
  CHECK(FormatRfc3339Millis(kYear0) == "0000-01-01T00:00:00.000Z");
  CHECK(FormatRfc3339Millis(kYear9999End) == "9999-12-31T23:59:59.999Z");
  CHECK(FormatRfc3339Millis(Ms("2024-02-29T23:59:59.5Z")) == "2024-02-29T23:59:59.500Z");
  // Outside 0000-9999: ISO 8601 expanded years, which Parse rejects.
  CHECK(FormatRfc3339Millis(kYear9999End + 1) == "+10000-01-01T00:00:00.000Z");
  CHECK(FormatRfc3339Millis(kYear0 - 1) == "-0001-12-31T23:59:59.999Z");
  CHECK_FALSE(ParseRfc3339Millis(FormatRfc3339Millis(kYear0 - 1)).ok());
  // Extremes do not overflow.
  CHECK(FormatRfc3339Millis(INT64_MAX).rfind("+292278994-08-17T07:12:55.807Z", 0) == 0);
  CHECK(FormatRfc3339Millis(INT64_MIN).rfind("-292275055-05-16T16:47:04.192Z", 0) == 0);
}

TEST_CASE("RFC 3339 round trip Format(Parse(x))", "[codec][rfc3339]") {
  for (std::string_view text :
       {"1970-01-01T00:00:00.000Z", "2024-05-01T12:00:00.123Z", "2024-02-29T23:59:59.999Z",
        "1969-07-20T20:17:40.000Z", "0000-01-01T00:00:00.000Z", "0000-02-29T12:00:00.000Z",
        "0001-01-01T00:00:00.000Z", "1600-02-29T00:00:00.001Z", "9999-12-31T23:59:59.999Z",
        "2100-03-01T00:00:00.000Z"}) {
    CHECK(FormatRfc3339Millis(Ms(text)) == text);
  }
}

TEST_CASE("RFC 3339 randomized round trip Parse(Format(ms))", "[codec][rfc3339]") {
  std::mt19937_64 rng(20240501);
  std::uniform_int_distribution<int64_t> dist(kYear1, kYear9999End);
  for (int i = 0; i < 100000; ++i) {
    const int64_t ms = dist(rng);
    const std::string text = FormatRfc3339Millis(ms);
    Result<int64_t> parsed = ParseRfc3339Millis(text);
    INFO("ms " << ms << " text " << text);
    REQUIRE(parsed.ok());
    REQUIRE(*parsed == ms);
  }
  // Every day boundary of a few leap cycles, including centuries.
  for (int64_t day = -800000; day < -600000; day += 1) {
    const int64_t ms = day * 86400000;
    if (ms < kYear0) continue;
    REQUIRE(*ParseRfc3339Millis(FormatRfc3339Millis(ms)) == ms);
  }
}

}  // namespace
}  // namespace eddy::codec
