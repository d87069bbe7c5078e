#pragma once
// Words after a number that change it or join it to another ("5 million", "3 eighths", "5 or 6", "2
// squared", "12 below zero"): a number followed by one is not that number alone. For the normalizer's
// counted nouns ("8 cookies" is 8) and the extractor's stated final answers. Not part of the installed headers.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cotnpot::answer::detail {

// w in lowercase ASCII letters.
bool is_number_word(std::string_view w);

// A number spelled in words at the start of `words` (lowercase, split at spaces and hyphens): "five",
// "twenty five", "three hundred and two", "a hundred"; its value and how many words it took.
struct SpelledNumber {
  int value;
  size_t words;
};
std::optional<SpelledNumber> spelled_number(const std::vector<std::string>& words);

// "2.5" "million" -> "2500000", "3" "dozen" -> "36": a plain decimal number (sign, digits, thousands commas,
// one point) times a scale word (hundred, thousand, million, billion, trillion, dozen), exactly.
std::optional<std::string> scaled_number(std::string_view number, std::string_view scale);

}  // namespace cotnpot::answer::detail
