// The JSON values of benchmarks/DATA.md, formatted into a reused buffer: building a record
// allocates nothing once the buffer has grown to the largest value.
//
// Each Format* function replaces the buffer's contents with one value. Values that carry
// `pad` are padded with 'x' to exactly `value_bytes` bytes when the rest is shorter (a longer
// value gets an empty pad). Ids and keys are passed in as text: FormatName builds the usual
// prefix-and-number ones ("e" + 42 → "e42") into a second buffer; sentinels and probes pass
// theirs verbatim. Nothing is escaped: every id and key here is plain ASCII.
//
// Thread-safety: a RecordBuffer is used by one thread.
#pragma once

#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>

namespace eddy::loadgen {

class RecordBuffer {
 public:
  RecordBuffer() { text_.reserve(256); }

  std::string_view view() const { return text_; }

  void Clear() { text_.clear(); }
  RecordBuffer& Append(std::string_view s) {
    text_.append(s);
    return *this;
  }
  RecordBuffer& AppendInt(int64_t value) {
    char digits[24];
    const auto result = std::to_chars(digits, digits + sizeof digits, value);
    text_.append(digits, static_cast<size_t>(result.ptr - digits));
    return *this;
  }
  // Closes a value that ends with `"pad":"`: 'x' up to value_bytes - 2, then `"}`.
  void FinishPad(int64_t value_bytes);

 private:
  std::string text_;
};

// `k<n>`, `i<seq>`, `e<seq>`, … into a separate small buffer (keys and values are built
// side by side).
inline void FormatName(RecordBuffer& out, std::string_view prefix, int64_t number) {
  out.Clear();
  out.Append(prefix).AppendInt(number);
}

// events: {"id":"e<seq>","key":"<key>","amount":<amount>,"ts":<ts>,"pad":"xx…"}
void FormatEvent(RecordBuffer& out, std::string_view id, std::string_view key, int64_t amount,
                 int64_t ts, int64_t value_bytes);

// table: {"key":"<key>","segment":"s<segment>","name":"customer-<name>","ts":<ts>,"pad":"xx…"}
void FormatTableRow(RecordBuffer& out, std::string_view key, int64_t segment, int64_t name,
                    int64_t ts, int64_t value_bytes);

// impressions: {"id":"<id>","campaign":"c<campaign>","ts":<ts>,"pad":"xx…"}
void FormatImpression(RecordBuffer& out, std::string_view id, int64_t campaign, int64_t ts,
                      int64_t value_bytes);

// clicks: {"id":"<id>","cost":<cost>,"ts":<ts>} (no pad)
void FormatClick(RecordBuffer& out, std::string_view id, int64_t cost, int64_t ts);

}  // namespace eddy::loadgen
