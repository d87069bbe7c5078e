#pragma once
// Words after a number that change it or join it to another ("5 million", "3 eighths", "5 or 6", "2
// squared", "12 below zero"): a number followed by one is not that number alone. For the normalizer's
// counted nouns ("8 cookies" is 8) and the extractor's stated final answers. Not part of the installed headers.
#include <string_view>

namespace cotnpot::answer::detail {

// w in lowercase ASCII letters.
bool is_number_word(std::string_view w);

}  // namespace cotnpot::answer::detail
