#pragma once
// The tokens of a normalized answer (tokenize.cpp), for the parser; not part of the installed headers.
#include <cctype>
#include <string>
#include <string_view>
#include <vector>

namespace cotnpot::answer::detail {

enum class Tok { End, Number, Letter, Command, Char, RowSep };

struct Token {
  Tok type = Tok::End;
  std::string text;
};

inline bool is_letter(char c) { return std::isalpha(static_cast<unsigned char>(c)) != 0; }
inline bool is_digit(char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; }

// The tokens of s, ending with Tok::End; ok = false for a character no answer holds.
std::vector<Token> tokenize(std::string_view s, bool& ok);

}  // namespace cotnpot::answer::detail
