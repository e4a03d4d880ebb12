// Status and Result<T>: how errors cross subsystem boundaries in eddy.
//
// The rule (docs/architecture.md): every function that can fail at a boundary — config
// loading, RocksDB, Kafka, decoding a record, HTTP requests — returns a Status or a
// Result<T>. Third-party code that throws (yaml-cpp, simdjson's exception API, std::stoll)
// is wrapped by the adapter that calls it; no exception leaves an adapter. Programming
// errors (broken invariants) are assertions, not Statuses.
//
// Thread-safety: value types; no shared state.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace eddy {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,  // bad input: config, record, request
  kNotFound,
  kIoError,      // disk, RocksDB
  kUnavailable,  // Kafka broker, transient
  kInternal,
};

class [[nodiscard]] Status {
 public:
  Status() = default;
  static Status Ok() { return Status(); }
  static Status InvalidArgument(std::string msg) {
    return {StatusCode::kInvalidArgument, std::move(msg)};
  }
  static Status NotFound(std::string msg) { return {StatusCode::kNotFound, std::move(msg)}; }
  static Status IoError(std::string msg) { return {StatusCode::kIoError, std::move(msg)}; }
  static Status Unavailable(std::string msg) { return {StatusCode::kUnavailable, std::move(msg)}; }
  static Status Internal(std::string msg) { return {StatusCode::kInternal, std::move(msg)}; }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  std::string ToString() const;

 private:
  Status(StatusCode code, std::string msg) : code_(code), message_(std::move(msg)) {}
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

// Either a T or a non-OK Status. Constructing a Result from an OK Status is a bug.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}         // NOLINT: implicit by design
  Result(Status status) : value_(std::move(status)) {}  // NOLINT: implicit by design

  bool ok() const { return std::holds_alternative<T>(value_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(value_);
  }
  T& value() & { return std::get<T>(value_); }
  const T& value() const& { return std::get<T>(value_); }
  T&& value() && { return std::get<T>(std::move(value_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> value_;
};

}  // namespace eddy

#define EDDY_RETURN_IF_ERROR(expr)               \
  do {                                           \
    ::eddy::Status eddy_status_ = (expr);        \
    if (!eddy_status_.ok()) return eddy_status_; \
  } while (0)
