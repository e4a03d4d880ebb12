#include "engine/fixture_sink.h"

#include <cassert>
#include <utility>

namespace eddy::engine {

Status FixtureSink::Send(SinkRecord record) {
  if (fail_next_send_) {
    Status status = std::move(*fail_next_send_);
    fail_next_send_.reset();
    return status;
  }
  pending_.push_back(std::move(record));
  return Status::Ok();
}

Status FixtureSink::Flush(std::chrono::milliseconds /*timeout*/) {
  ++flush_count_;
  if (fail_next_flush_) {
    Status status = std::move(*fail_next_flush_);
    fail_next_flush_.reset();
    return status;
  }
  delivered_.reserve(delivered_.size() + pending_.size());
  for (SinkRecord& record : pending_) delivered_.push_back(std::move(record));
  pending_.clear();
  return Status::Ok();
}

void FixtureSink::FailNextSend(Status status) {
  assert(!status.ok());
  fail_next_send_ = std::move(status);
}

void FixtureSink::FailNextFlush(Status status) {
  assert(!status.ok());
  fail_next_flush_ = std::move(status);
}

}  // namespace eddy::engine
