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
  if (auto refused = refused_.find(record.topic); refused != refused_.end()) {
    ++refused_count_;
    return refused->second;
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
  size_t failed = 0;
  for (SinkRecord& record : pending_) {
    if (auto rejected = rejected_.find(record.topic); rejected != rejected_.end()) {
      failed_.push_back({std::move(record), rejected->second});
      ++failed;
      continue;
    }
    delivered_.push_back(std::move(record));
  }
  pending_.clear();
  rejected_count_ += failed;
  if (failed > 0) {
    return Status::Unavailable(std::to_string(failed) + " record(s) not delivered");
  }
  return Status::Ok();
}

std::vector<FailedDelivery> FixtureSink::TakeFailed() {
  return std::exchange(failed_, {});
}

void FixtureSink::RejectTopic(const std::string& topic, Status status) {
  assert(!status.ok());
  rejected_.insert_or_assign(topic, std::move(status));
}

void FixtureSink::RefuseTopic(const std::string& topic, Status status) {
  assert(!status.ok());
  refused_.insert_or_assign(topic, std::move(status));
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
