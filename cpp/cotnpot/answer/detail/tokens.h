#pragma once
// The tokens of a normalized answer (tokenize.cpp), for the parser; not part of the installed headers.
#include <string>
#include <string_view>
#include <vector>

#include "cotnpot/answer/detail/ascii.h"

namespace cotnpot::answer::detail {

enum class Tok { End, Number, Letter, Command, Char, RowSep };

struct Token {
  Tok type = Tok::End;
  std::string text;
};

// The tokens of s, ending with Tok::End; ok = false for a character no answer holds.
std::vector<Token> tokenize(std::string_view s, bool& ok);

}  // namespace cotnpot::answer::detail
