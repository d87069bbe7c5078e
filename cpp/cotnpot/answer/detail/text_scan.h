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

// Whether s[i] begins an apostrophe: ASCII, or the typographic one (U+2019, three bytes in UTF-8).
inline size_t apostrophe_size(std::string_view s, size_t i) {
  if (s[i] == '\'') return 1;
  return s.substr(i, 3) == "\xE2\x80\x99" ? 3 : 0;
}

// A word of letters and apostrophes, "isn't", "can’t": where the one that starts at s[begin] ends.
inline size_t word_end(std::string_view s, size_t begin) {
  size_t end = begin;
  while (end < s.size()) {
    if (is_ascii_alpha(s[end])) {
      ++end;
    } else if (const size_t apostrophe = apostrophe_size(s, end)) {
      end += apostrophe;
    } else {
      break;
    }
  }
  return end;
}

// The same word read backwards: the one that ends at s[end], lowercase, its start in `begin`.
inline std::string word_before(std::string_view s, size_t end, size_t& begin) {
  begin = end;
  while (begin > 0) {
    if (is_ascii_alpha(s[begin - 1]) || s[begin - 1] == '\'') {
      --begin;
    } else if (begin >= 3 && s.substr(begin - 3, 3) == "\xE2\x80\x99") {
      begin -= 3;
    } else {
      break;
    }
  }
  return lowercase(s.substr(begin, end - begin));
}

// Where the sentence that holds text[at] starts: after the last newline, or ".", "!" or "?" and a space, before it.
inline size_t sentence_start(std::string_view text, size_t at) {
  for (size_t i = at; i > 0; --i) {
    const char c = text[i - 1];
    if (c == '\n') return i;
    if ((c == '.' || c == '!' || c == '?') && i < text.size() && is_ascii_space(text[i])) return i;
  }
  return 0;
}

// a < b for numbers written as digits without leading zeros: a proper fraction's numerator and denominator.
inline bool digits_less(std::string_view a, std::string_view b) {
  return a.size() < b.size() || (a.size() == b.size() && a < b);
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
