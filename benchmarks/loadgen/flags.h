// Flags: the command-line flags of one eddy-loadgen subcommand: "--name value" or
// "--name=value", and switches ("--no-sentinels") that take no value. Unknown, repeated
// and valueless flags, and stray positional arguments, are errors; so is a value out of its
// range. Nothing falls back to a default silently: a flag given is a flag used.
//
// Thread-safety: a value type.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace eddy::loadgen {

struct FlagSpec {
  std::string name;  // without the leading "--"
  bool takes_value = true;
};

class Flags {
 public:
  // Parses args (the arguments after the subcommand).
  static Result<Flags> Parse(const std::vector<std::string>& args,
                             const std::vector<FlagSpec>& specs);

  bool Has(std::string_view name) const { return values_.find(name) != values_.end(); }

  // The value of a required flag; InvalidArgument if absent.
  Result<std::string> Required(std::string_view name) const;
  std::string String(std::string_view name, std::string fallback) const;
  // Integers and decimals within [min, max]; `fallback` when the flag is absent.
  Result<int64_t> Int(std::string_view name, int64_t fallback, int64_t min, int64_t max) const;
  Result<double> Double(std::string_view name, double fallback, double min, double max) const;

 private:
  std::map<std::string, std::string, std::less<>> values_;  // a switch maps to ""
};

}  // namespace eddy::loadgen
