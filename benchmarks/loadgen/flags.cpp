#include "loadgen/flags.h"

#include <charconv>
#include <cmath>

namespace eddy::loadgen {

namespace {

std::string Flag(std::string_view name) {
  return "--" + std::string(name);
}

// The shortest text that reads back as `value` ("0.5", not "0.500000").
std::string Shortest(double value) {
  char text[32];
  const auto result = std::to_chars(text, text + sizeof text, value);
  return std::string(text, result.ptr);
}

}  // namespace

Result<Flags> Flags::Parse(const std::vector<std::string>& args,
                           const std::vector<FlagSpec>& specs) {
  Flags flags;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg.size() < 3 || arg.compare(0, 2, "--") != 0) {
      return Status::InvalidArgument("unexpected argument '" + arg + "'");
    }
    std::string name = arg.substr(2);
    std::optional<std::string> value;
    if (const size_t eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name.resize(eq);
    }
    const FlagSpec* spec = nullptr;
    for (const FlagSpec& candidate : specs) {
      if (candidate.name == name) spec = &candidate;
    }
    if (spec == nullptr) return Status::InvalidArgument("unknown flag " + Flag(name));
    if (flags.Has(name)) return Status::InvalidArgument(Flag(name) + " given twice");
    if (!spec->takes_value) {
      if (value) return Status::InvalidArgument(Flag(name) + " takes no value");
      flags.values_.emplace(name, "");
      continue;
    }
    if (!value) {
      if (i + 1 >= args.size()) return Status::InvalidArgument(Flag(name) + " needs a value");
      value = args[++i];
    }
    flags.values_.emplace(name, *value);
  }
  return flags;
}

Result<std::string> Flags::Required(std::string_view name) const {
  const auto it = values_.find(name);
  if (it == values_.end()) return Status::InvalidArgument(Flag(name) + " is required");
  if (it->second.empty()) return Status::InvalidArgument(Flag(name) + " must not be empty");
  return it->second;
}

std::string Flags::String(std::string_view name, std::string fallback) const {
  const auto it = values_.find(name);
  return it == values_.end() ? fallback : it->second;
}

Result<int64_t> Flags::Int(std::string_view name, int64_t fallback, int64_t min,
                           int64_t max) const {
  const auto it = values_.find(name);
  if (it == values_.end()) return fallback;
  const std::string& text = it->second;
  int64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) {
    return Status::InvalidArgument(Flag(name) + ": '" + text + "' is not an integer");
  }
  if (value < min || value > max) {
    return Status::InvalidArgument(Flag(name) + ": " + text + " is out of range [" +
                                   std::to_string(min) + ", " + std::to_string(max) + "]");
  }
  return value;
}

Result<double> Flags::Double(std::string_view name, double fallback, double min, double max) const {
  const auto it = values_.find(name);
  if (it == values_.end()) return fallback;
  const std::string& text = it->second;
  double value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || !std::isfinite(value)) {
    return Status::InvalidArgument(Flag(name) + ": '" + text + "' is not a number");
  }
  if (value < min || value > max) {
    return Status::InvalidArgument(Flag(name) + ": " + text + " is out of range [" + Shortest(min) +
                                   ", " + Shortest(max) + "]");
  }
  return value;
}

}  // namespace eddy::loadgen
