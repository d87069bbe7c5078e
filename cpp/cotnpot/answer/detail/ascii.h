#pragma once
// ASCII case for the grader's word rules (answers' words are English; a non-ASCII byte stays as it is, where
// std::tolower would depend on the C locale). Not part of the installed headers.
#include <string>
#include <string_view>

namespace cotnpot::answer::detail {

inline char lowercase(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

inline std::string lowercase(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = lowercase(c);
  return out;
}

}  // namespace cotnpot::answer::detail
