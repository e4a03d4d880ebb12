// Hashing for unordered containers keyed by std::string and looked up by std::string_view.
//
// Thread-safety: stateless.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace eddy {

// Hashes a std::string and a std::string_view alike. With std::equal_to<> it makes a
// container's find() take a string_view, so a lookup by a record's key copies nothing.
struct StringViewHash {
  using is_transparent = void;
  size_t operator()(std::string_view text) const noexcept {
    return std::hash<std::string_view>{}(text);
  }
};

// An unordered_map from std::string that find() accepts a std::string_view for.
template <typename Value>
using StringMap = std::unordered_map<std::string, Value, StringViewHash, std::equal_to<>>;

}  // namespace eddy
