// The words that change or join a number; see detail/number_words.h.
#include "cotnpot/answer/detail/number_words.h"

#include "cotnpot/answer/detail/ascii.h"

#include <algorithm>

namespace cotnpot::answer::detail {
namespace {

// Words that change or join a number ("5 million", "5 or 6", "2 squared"): a number followed by one of them
// keeps its words (normalize.cpp: strip_counted_nouns; extract.cpp: a stated final answer). Not "per": "$18 per
// day" is 18 (it had stayed "18 per": a breaker), and "5 per cent" is 5, as "5\%" is.
const char* const kNumberWords[] = {
    "and", "or", "nor", "not", "to", "plus", "minus", "times", "over", "divided", "by", "mod", "pmod", "modulo",
    "sqrt", "root", "roots", "squared", "cubed", "factorial", "power", "hundred", "hundreds", "thousand",
    "thousands", "million", "millions", "billion", "billions", "trillion", "dozen", "dozens", "half", "halves",
    "third", "thirds", "quarter", "quarters", "fourth", "fourths", "fifth", "fifths", "sixth", "sixths",
    "seventh", "sevenths", "eighth", "eighths", "ninth", "ninths", "tenth", "tenths", "eleventh", "elevenths",
    "twelfth", "twelfths", "hundredth", "hundredths", "thousandth", "thousandths", "millionth", "millionths",
    "negative", "positive", "score", "scores", "gross", "cube", "cubes", "grand", "lakh", "lakhs", "crore",
    "crores", "zillion", "zillions", "tens", "below", "above", "under",
    "percent", "percentage", "pct", "cent", "point", "less", "more", "than", "least", "most", "about",
    "approximately", "sin", "cos", "tan", "log", "exp", "pi", "degree", "degrees", "radian", "radians"};

// Nouns ending in "th" or "ths" that are no ordinal ("3 months" counts months; "3 sixteenths" is a fraction)
const char* const kNounsInTh[] = {"month", "months", "width", "widths", "length", "lengths", "depth", "depths",
                                  "tooth", "teeth", "booth", "booths", "cloth", "cloths", "path", "paths",
                                  "bath", "baths", "moth", "moths", "truth", "truths", "birth", "births"};

}  // namespace

bool is_number_word(std::string_view w) {
  for (const char* u : kNumberWords)
    if (w == u) return true;
  const auto ends_with = [&](std::string_view end) { return w.size() > end.size() && w.substr(w.size() - end.size()) == end; };
  const bool ordinal_form = ends_with("th") || ends_with("ths");
  if (!ordinal_form) return false;
  for (const char* u : kNounsInTh)
    if (w == u) return false;
  return true;   // sixteenths, hundredths, twentieth...
}

namespace {

const char* const kUnits[] = {"zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
                              "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen",
                              "seventeen", "eighteen", "nineteen"};
const char* const kTens[] = {"twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"};

int index_in(std::string_view w, const char* const* words, int count) {
  for (int i = 0; i < count; ++i)
    if (w == words[i]) return i;
  return -1;
}

// A number below 100 from words[at]: "seven", "twenty", "twenty-five" (split: "twenty", "five"); -1 if none.
int below_hundred(const std::vector<std::string>& words, size_t& at) {
  if (at >= words.size()) return -1;
  if (const int unit = index_in(words[at], kUnits, 20); unit >= 0) return ++at, unit;
  const int tens = index_in(words[at], kTens, 8);
  if (tens < 0) return -1;
  ++at;
  if (at < words.size())
    if (const int unit = index_in(words[at], kUnits, 10); unit >= 1) return ++at, 20 + 10 * tens + unit;
  return 20 + 10 * tens;
}

}  // namespace

std::optional<SpelledNumber> spelled_number(const std::vector<std::string>& words) {
  size_t at = 0;
  int value = below_hundred(words, at);
  if (value < 0 && !words.empty() && words[0] == "a" && words.size() > 1 && words[1] == "hundred") value = 1, at = 1;
  if (value < 0) return std::nullopt;
  if (at < words.size() && words[at] == "hundred" && value >= 1 && value <= 9) {
    value *= 100, ++at;
    size_t rest = at + (at < words.size() && words[at] == "and" ? 1 : 0);
    if (const int tail = below_hundred(words, rest); tail >= 0) value += tail, at = rest;
  }
  return SpelledNumber{value, at};
}

std::optional<std::string> scaled_number(std::string_view number, std::string_view scale) {
  if (scale.size() > 1 && scale.back() == 's') scale.remove_suffix(1);   // "5 millions", "3 dozens"
  int power = 0;
  int factor = 1;
  if (scale == "hundred") power = 2;
  else if (scale == "thousand") power = 3;
  else if (scale == "million") power = 6;
  else if (scale == "billion") power = 9;
  else if (scale == "trillion") power = 12;
  else if (scale == "dozen") factor = 12;
  else return std::nullopt;
  const bool negative = !number.empty() && number[0] == '-';
  std::string digits;
  int decimals = -1;
  for (size_t i = negative ? 1 : 0; i < number.size(); ++i) {
    const char c = number[i];
    if (c == ',') {   // a thousands separator: three digits follow, and no point came before ("1,5" is no number)
      bool group = decimals < 0 && !digits.empty() && i + 4 <= number.size() &&
                   (i + 4 == number.size() || number[i + 4] == ',' || number[i + 4] == '.');
      for (size_t k = i + 1; group && k < i + 4; ++k) group = is_ascii_digit(number[k]);
      if (!group) return std::nullopt;
      continue;
    }
    if (c == '.') {
      if (decimals >= 0) return std::nullopt;
      decimals = 0;
      continue;
    }
    if (!is_ascii_digit(c) || digits.size() > 40) return std::nullopt;
    digits += c;
    if (decimals >= 0) ++decimals;
  }
  if (digits.empty()) return std::nullopt;
  if (factor != 1) {   // digits x factor, schoolbook
    std::string product(digits.size() + 2, '0');
    int carry = 0;
    for (size_t i = digits.size(), k = product.size(); i-- > 0;) {
      const int d = (digits[i] - '0') * factor + carry;
      product[--k] = static_cast<char>('0' + d % 10), carry = d / 10;
    }
    product[1] = static_cast<char>('0' + carry % 10), product[0] = static_cast<char>('0' + carry / 10);
    digits = product;
  }
  int shift = power - std::max(decimals, 0);   // the decimal point moves right by shift
  if (shift >= 0) {
    digits.append(static_cast<size_t>(shift), '0');
  } else {
    if (digits.size() <= static_cast<size_t>(-shift)) digits.insert(0, static_cast<size_t>(-shift) - digits.size() + 1, '0');
    digits.insert(digits.size() - static_cast<size_t>(-shift), ".");
    while (digits.back() == '0') digits.pop_back();
    if (digits.back() == '.') digits.pop_back();
  }
  const size_t first = std::min(digits.find_first_not_of('0'), digits.size() - 1);
  digits.erase(0, digits[first] == '.' ? first - 1 : first);
  return (negative ? "-" : "") + digits;
}

}  // namespace cotnpot::answer::detail
