#pragma once
// ASCII classes and case for the grader's rules (answers' words are English; a non-ASCII byte is no letter,
// digit or space, and stays as it is, where <cctype> would depend on the C locale). Not part of the installed
// headers.
#include <string>
#include <string_view>

namespace cotnpot::answer::detail {

// The <cctype> classes, for ASCII only: std::isalpha and the rest follow the C locale, which Python sets from the
// environment (under Latin-1, UTF-8's continuation bytes were letters and 0xA0 a space).
inline bool is_ascii_upper(char c) { return c >= 'A' && c <= 'Z'; }
inline bool is_ascii_lower(char c) { return c >= 'a' && c <= 'z'; }
inline bool is_ascii_alpha(char c) { return is_ascii_upper(c) || is_ascii_lower(c); }
inline bool is_ascii_digit(char c) { return c >= '0' && c <= '9'; }
inline bool is_ascii_alnum(char c) { return is_ascii_alpha(c) || is_ascii_digit(c); }
inline bool is_ascii_space(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

inline char lowercase(char c) { return is_ascii_upper(c) ? static_cast<char>(c - 'A' + 'a') : c; }

inline std::string lowercase(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = lowercase(c);
  return out;
}

}  // namespace cotnpot::answer::detail
