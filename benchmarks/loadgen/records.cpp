#include "loadgen/records.h"

namespace eddy::loadgen {

void RecordBuffer::FinishPad(int64_t value_bytes) {
  const int64_t used = static_cast<int64_t>(text_.size()) + 2;  // + the closing `"}`
  if (value_bytes > used) text_.append(static_cast<size_t>(value_bytes - used), 'x');
  text_.append("\"}");
}

void FormatEvent(RecordBuffer& out, std::string_view id, std::string_view key, int64_t amount,
                 int64_t ts, int64_t value_bytes) {
  out.Clear();
  out.Append(R"({"id":")").Append(id);
  out.Append(R"(","key":")").Append(key);
  out.Append(R"(","amount":)").AppendInt(amount);
  out.Append(R"(,"ts":)").AppendInt(ts);
  out.Append(R"(,"pad":")");
  out.FinishPad(value_bytes);
}

void FormatTableRow(RecordBuffer& out, std::string_view key, int64_t segment, int64_t name,
                    int64_t ts, int64_t value_bytes) {
  out.Clear();
  out.Append(R"({"key":")").Append(key);
  out.Append(R"(","segment":"s)").AppendInt(segment);
  out.Append(R"(","name":"customer-)").AppendInt(name);
  out.Append(R"(","ts":)").AppendInt(ts);
  out.Append(R"(,"pad":")");
  out.FinishPad(value_bytes);
}

void FormatImpression(RecordBuffer& out, std::string_view id, int64_t campaign, int64_t ts,
                      int64_t value_bytes) {
  out.Clear();
  out.Append(R"({"id":")").Append(id);
  out.Append(R"(","campaign":"c)").AppendInt(campaign);
  out.Append(R"(","ts":)").AppendInt(ts);
  out.Append(R"(,"pad":")");
  out.FinishPad(value_bytes);
}

void FormatClick(RecordBuffer& out, std::string_view id, int64_t cost, int64_t ts) {
  out.Clear();
  out.Append(R"({"id":")").Append(id);
  out.Append(R"(","cost":)").AppendInt(cost);
  out.Append(R"(,"ts":)").AppendInt(ts);
  out.Append("}");
}

}  // namespace eddy::loadgen
