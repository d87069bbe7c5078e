// Text scanning shared by extraction's files (ASCII, case-insensitive where it says so).
#pragma once

#include <string>
#include <string_view>

#include "cotnpot/answer/detail/ascii.h"

namespace cotnpot::answer::detail {

inline std::string trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && is_ascii_space(s[b])) ++b;
  while (e > b && is_ascii_space(s[e - 1])) --e;
  return std::string(s.substr(b, e - b));
}

// Case-insensitive search for the last occurrence of needle (ASCII).
inline size_t rfind_nocase(std::string_view hay, std::string_view needle) {
  if (needle.size() > hay.size()) return std::string_view::npos;
  for (size_t i = hay.size() - needle.size() + 1; i-- > 0;) {
    bool match = true;
    for (size_t j = 0; j < needle.size() && match; ++j)
      match = lowercase(hay[i + j]) == lowercase(needle[j]);
    if (match) return i;
  }
  return std::string_view::npos;
}

inline bool starts_with_nocase(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && rfind_nocase(s.substr(0, prefix.size()), prefix) == 0;
}

// The letters of s from i on, lowercase; i is left past them.
inline std::string lowercase_word(std::string_view s, size_t& i) {
  const size_t begin = i;
  while (i < s.size() && is_ascii_alpha(s[i])) ++i;
  return lowercase(s.substr(begin, i - begin));
}

// From pos, the content of a {...} group with nested braces; npos in `end` when unbalanced.
inline std::string_view braced(std::string_view s, size_t open, size_t& end) {
  int depth = 0;
  for (size_t i = open; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 1 < s.size() && (s[i + 1] == '{' || s[i + 1] == '}')) {
      ++i;
      continue;
    }
    if (s[i] == '{') ++depth;
    if (s[i] == '}' && --depth == 0) {
      end = i;
      return s.substr(open + 1, i - open - 1);
    }
  }
  end = std::string_view::npos;
  return {};
}

}  // namespace cotnpot::answer::detail
