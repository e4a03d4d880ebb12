// "Did you mean 'x'?" for unknown keys and enum values in a config.
//
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace eddy::config {

// Optimal-string-alignment (restricted Damerau-Levenshtein) distance, ASCII
// case-insensitive: insertions, deletions, substitutions and adjacent transpositions each
// cost 1, so "sise" -> "size" and "cuont" -> "count" are both 1.
std::size_t EditDistance(std::string_view a, std::string_view b);

// The candidate closest to `word`, if it is close enough to be what the user meant: distance
// at most max(2, |word| / 3) and smaller than |word| (so "id" does not suggest "dir").
// Ties go to the earlier candidate.
std::optional<std::string> Suggest(std::string_view word,
                                   const std::vector<std::string>& candidates);

// "a, b, c"
std::string JoinNames(const std::vector<std::string>& names);

}  // namespace eddy::config
