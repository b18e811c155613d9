#pragma once
// Checking the shape of a line a sample printed, digits left open.

#include <cctype>
#include <cstddef>
#include <string_view>

namespace ringloop::testing {

/// Whether `line` fits `format`, where '*' stands for one or more digits and '#' for exactly one.
/// (Not std::regex: g++ 12 warns inside <regex> at -O2 with sanitizers, which -Werror rejects.)
inline bool fits(std::string_view line, std::string_view format) {
  std::size_t at = 0;
  for (const char wanted : format) {
    const auto digit = [&] {
      return at < line.size() && std::isdigit(static_cast<unsigned char>(line[at]));
    };
    if (wanted == '*') {
      if (!digit()) return false;
      while (digit())
        ++at;
    } else if (wanted == '#') {
      if (!digit()) return false;
      ++at;
    } else {
      if (at >= line.size() || line[at] != wanted) return false;
      ++at;
    }
  }
  return at == line.size();
}

}  // namespace ringloop::testing
