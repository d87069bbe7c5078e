#include "cotnpot/answer/extract.h"

#include <algorithm>
#include <optional>
#include <stdexcept>
#include <vector>

#include "cotnpot/answer/detail/answer_parts.h"
#include "cotnpot/answer/detail/ascii.h"
#include "cotnpot/answer/detail/number_words.h"
#include "cotnpot/answer/detail/stated_answer.h"
#include "cotnpot/answer/detail/text_scan.h"
#include "cotnpot/answer/limits.h"

namespace cotnpot::answer {
namespace {

using detail::all_boxed;
using detail::all_math;
using detail::braced;
using detail::denied;
using detail::doubted;
using detail::is_negation;
using detail::is_placeholder;
using detail::last_math;
using detail::lowercase_word;
using detail::own_text_end;
using detail::rfind_nocase;
using detail::sentence_start;
using detail::starts_with_nocase;
using detail::strictly_bounded;
using detail::trim;

// Words that may qualify a stated number before it: "about 18", "exactly 5".
constexpr std::string_view kNumberQualifiers[] = {"approximately ", "approx. ", "about ", "around ", "roughly ",
                                                  "exactly ", "only ", "just "};

// Whether the number that ends at text[i] is followed by a word that changes it ("5 million", "3 eighths";
// detail/number_words.h). Its position, not a search for its digits: "2 million m^2" had found the 2 of "^2".
bool followed_by_number_word(std::string_view text, size_t i) {
  while (i < text.size() && (text[i] == ' ' || text[i] == '(')) ++i;   // "5 (million)" too
  const std::string word = lowercase_word(text, i);
  return !word.empty() && detail::is_number_word(word);
}

// Words that say something of an answer given before them instead of stating one: a reason ("because",
// "since"), a reference to it ("above", "boxed"), or its sign or kind ("positive", "an integer").
bool describes_an_answer(std::string_view words) {
  for (std::string_view w : {"because", "since", "above", "boxed", "as shown", "as computed"})
    if (rfind_nocase(words, w) != std::string_view::npos) return true;
  for (std::string_view w : {"positive", "negative", "correct", "an integer", "a whole number", "the same"})
    if (starts_with_nocase(words, w)) return true;
  return false;
}

// Where the word ending at the '.' at s[dot] begins (its letters and inner dots: "i.e").
size_t abbreviation_start(std::string_view s, size_t dot) {
  size_t b = dot;
  while (b > 0 && (detail::is_ascii_alpha(s[b - 1]) || s[b - 1] == '.')) --b;
  return b;
}

// What the '.' at s[dot] ends: a sentence, or an abbreviation that goes on with it: one that restates what
// came before ("i.e.", "e.g."), one that sets something beside it ("cf.", "vs."), or one that qualifies a
// number ("approx. 18", "18 approx.").
enum class Abbreviation { None, Restating, Beside, Qualifying };
Abbreviation abbreviation_at(std::string_view s, size_t dot) {
  const size_t b = abbreviation_start(s, dot);
  if (b > 0 && !detail::is_ascii_space(s[b - 1]) && s[b - 1] != '(' && s[b - 1] != ',')
    return Abbreviation::None;
  const std::string word = detail::lowercase(s.substr(b, dot - b));
  for (std::string_view a : {"i.e", "e.g", "ie", "eg", "viz"})
    if (word == a) return Abbreviation::Restating;
  for (std::string_view a : {"cf", "resp", "vs"})
    if (word == a) return Abbreviation::Beside;
  for (std::string_view a : {"approx", "ca", "appr", "est"})
    if (word == a) return Abbreviation::Qualifying;
  return Abbreviation::None;
}

// The dollar signs of s that are no math delimiters: escaped ("\\$18") and, on a line with an odd number of
// them, the first that a digit follows ("$18. I hope it is correct."). Read as math, they had run a sentence
// into the next: "The final answer is \\$18. I hope it is correct." had been "correct." (a breaker).
std::vector<bool> currency_dollars(std::string_view s) {
  std::vector<bool> currency(s.size(), false);
  for (size_t line = 0; line < s.size();) {
    size_t end = s.find('\n', line);
    if (end == std::string_view::npos) end = s.size();
    int unescaped = 0;
    size_t first_price = std::string_view::npos;
    for (size_t i = line; i < end; ++i) {
      if (s[i] != '$') continue;
      if (i > 0 && s[i - 1] == '\\') {
        currency[i] = true;
        continue;
      }
      ++unescaped;
      if (first_price == std::string_view::npos && i + 1 < end && detail::is_ascii_digit(s[i + 1])) first_price = i;
    }
    if (unescaped % 2 == 1 && first_price != std::string_view::npos) currency[first_price] = true;
    line = end + 1;
  }
  return currency;
}

// Which abbreviations a sentence goes on through.
enum class Through { kNone, kRestating, kAll };

// A sentence ends at a newline, or at ". " / a final "." that is not a decimal point. An abbreviation goes
// on with it where nothing precedes it ("approx. 18"), "i.e."/"e.g." where asked (kRestating), every one
// where asked (kAll: the sentence as written); else after words "approx." ends it ("18 approx. I hope it is
// correct." is "18 approx"), and the others end it before themselves: "5, i.e. 500 cents" is "5" (it had
// been "5, i.e").
std::string until_sentence_end(std::string_view s, Through through = Through::kNone) {
  size_t end = s.size();
  int depth = 0;
  bool in_math = false;
  const std::vector<bool> currency = currency_dollars(s);
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '$' && !currency[i]) in_math = !in_math;
    if (c == '{' || c == '(' || c == '[') ++depth;
    if ((c == '}' || c == ')' || c == ']') && depth > 0) --depth;
    if (c == '\n' && !in_math) {
      end = i;
      break;
    }
    if (c == '.' && depth == 0 && !in_math &&
        (i + 1 == s.size() || detail::is_ascii_space(s[i + 1]))) {
      if (const Abbreviation a = abbreviation_at(s, i); a != Abbreviation::None) {
        size_t before = abbreviation_start(s, i);
        while (before > 0 && (detail::is_ascii_space(s[before - 1]) || s[before - 1] == ',' ||
                              s[before - 1] == ';' || s[before - 1] == ':' || s[before - 1] == '('))
          --before;
        if (before == 0 || through == Through::kAll || (through == Through::kRestating && a == Abbreviation::Restating))
          continue;
        end = a == Abbreviation::Qualifying ? i : before;
        break;
      }
      end = i;
      break;
    }
  }
  return trim(s.substr(0, end));
}


bool is_number_char(char c) { return detail::is_ascii_digit(c) || c == '.' || c == ','; }

// Whether the letters right before s[caret] ('^') name a unit of length or area ("cm^2", "m^3"), or the time
// of an acceleration ("m/s^2").
bool unit_before_power(std::string_view s, size_t caret) {
  size_t b = caret;
  while (b > 0 && detail::is_ascii_alpha(s[b - 1])) --b;
  if (b > 0 && s[b - 1] == '\\') return false;   // a command's power
  const std::string_view word = s.substr(b, caret - b);
  for (std::string_view unit : {"cm", "m", "mm", "km", "ft", "in", "yd", "mi", "units", "meters", "inches", "feet"})
    if (word == unit) return true;
  return word == "s" && b > 0 && s[b - 1] == '/';   // an acceleration: "5 m/s^2" is 5 (it had been 2; a breaker)
}

// The last number of s ("" if none), and where it begins (at, if given).
std::string last_number(std::string_view s, size_t* at = nullptr) {
  for (size_t i = s.size(); i-- > 0;) {
    if (!detail::is_ascii_digit(s[i])) continue;
    size_t b = i;
    while (b > 0 && is_number_char(s[b - 1])) --b;
    while (b < i && !detail::is_ascii_digit(s[b])) ++b;  // no leading '.' or ','
    // a unit's power is no number of its own: "The area is 10 cm^2." is 10 (it had been 2: a breaker)
    const size_t caret = b > 0 && s[b - 1] == '{' ? b - 1 : b;
    if (caret > 1 && s[caret - 1] == '^' && unit_before_power(s, caret - 1)) {
      i = caret - 1;
      continue;
    }
    if (b > 0 && s[b - 1] == '.') --b;                                    // but keep ".5"
    // a number's power is that power, "2^10 ways" (not 10: a regression hunt); a letter's stays its exponent
    if (caret > 1 && s[caret - 1] == '^' && detail::is_ascii_digit(s[caret - 2])) {
      size_t base = caret - 1;
      while (base > 0 && is_number_char(s[base - 1])) --base;
      while (base < caret - 1 && !detail::is_ascii_digit(s[base])) ++base;
      const bool braced = caret < b;   // "2^{10}"
      const size_t end = i + 1 + (braced && i + 1 < s.size() && s[i + 1] == '}' ? 1 : 0);
      if (at) *at = base;
      return std::string(s.substr(base, end - base));
    }
    if (b > 1 && s[b - 1] == '/' && detail::is_ascii_digit(s[b - 2])) {  // "2/3"
      --b;
      while (b > 0 && detail::is_ascii_digit(s[b - 1])) --b;
      // a mixed number, "2 1/2 pizzas" (not 1/2: a regression hunt): a whole number, a space, a proper fraction
      size_t w = b;
      while (w > 0 && s[w - 1] == ' ') --w;
      size_t whole = w;
      while (whole > 0 && detail::is_ascii_digit(s[whole - 1])) --whole;
      const size_t slash = s.find('/', b);
      const std::string_view numerator = s.substr(b, slash - b), denominator = s.substr(slash + 1, i - slash);
      if (w < b && whole < w && (whole == 0 || !(is_number_char(s[whole - 1]) || detail::is_ascii_alpha(s[whole - 1]))) &&
          numerator[0] != '0' && detail::digits_less(numerator, denominator))
        b = whole;
    }
    if (b > 0 && s[b - 1] == '-') --b;
    if (at) *at = b;
    return std::string(s.substr(b, i - b + 1));
  }
  return {};
}

// Where the number whose first digit is s[i] ends: its digits and the points and separators between them.
size_t number_end(std::string_view s, size_t i) {
  while (i < s.size() && (detail::is_ascii_digit(s[i]) ||
                          ((s[i] == '.' || s[i] == ',') && i + 1 < s.size() &&
                           detail::is_ascii_digit(s[i + 1]))))
    ++i;
  return i;
}

// How many numbers s holds, counted up to 2.
// but_powers: not a power's ("36 units^2", "9.8 m/s^2" hold one).
int count_numbers(std::string_view s, bool but_powers = false) {
  int count = 0;
  for (size_t i = 0; i < s.size() && count < 2; ++i) {
    if (!detail::is_ascii_digit(s[i])) continue;
    size_t before = i;
    while (but_powers && before > 0 && (s[before - 1] == '{' || s[before - 1] == ' ')) --before;
    if (!(but_powers && before > 0 && s[before - 1] == '^')) ++count;
    i = number_end(s, i) - 1;
  }
  return count;
}

// The text's final sentence (sentence_start; a final period dropped).
std::string last_sentence(std::string_view text) {
  std::string t = trim(text);
  while (!t.empty() && (t.back() == '.' || t.back() == '!')) t.pop_back();
  return trim(std::string_view(t).substr(sentence_start(t, t.size())));
}

// Words of three or more letters outside LaTeX commands: a sentence, not an answer.
bool is_prose(std::string_view s) {
  for (size_t i = 0; i < s.size(); ++i) {
    if (!detail::is_ascii_alpha(s[i])) continue;
    size_t j = i;
    while (j < s.size() && detail::is_ascii_alpha(s[j])) ++j;
    if (j - i >= 3 && (i == 0 || s[i - 1] != '\\')) return true;
    i = j;
  }
  return false;
}

// A parenthesized aside in words with a number ("(not 3)", "(rounded from 5.8)", "(or 240 minutes)", "(if she
// sells all 6 boxes)") left out of a stated answer; a parenthesis of math ("(3, 4)") stays, and so does one
// without a number, which may change the answer's ("5 (million)", "4 (squared)"). An aside that hedges, "3
// (possibly 4)", is left out too: keeping such asides whole had cost the credit of far more asides that
// convert or explain the answer (a differential run of hand-written endings), and a hedge earns one
// alternative's credit only.
std::string without_asides(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '(') {
      const size_t close = s.find(')', i);
      const std::string_view inside = close == std::string_view::npos ? std::string_view() : s.substr(i + 1, close - i - 1);
      if (close != std::string_view::npos && is_prose(inside) && count_numbers(inside) > 0) {
        i = close;
        continue;
      }
    }
    out += s[i];
  }
  return out;
}

// The last number of s, with the word right after it where that makes it millions or more ("5 million"; the
// normalizer computes it). Not "5 hundred-dollar bills", nor "3 dozen" (a question may count dozens); nothing
// where the words before it deny it (denied).
std::string last_number_scaled(std::string_view s) {
  size_t at = 0;
  const std::string number = last_number(s, &at);
  if (number.empty() || denied(s, at)) return {};
  size_t i = at + number.size();
  while (i < s.size() && s[i] == ' ') ++i;
  const std::string word = lowercase_word(s, i);
  if (i < s.size() && s[i] == '-') return number;
  for (std::string_view scale : {"million", "billion", "trillion", "millions", "billions", "trillions"})
    if (word == scale) return number + " " + word;
  return number;
}

// Where the {...} group that closes at s[close] opens; npos when unbalanced (the mirror of braced).
size_t group_open(std::string_view s, size_t close) {
  int depth = 0;
  for (size_t i = close + 1; i-- > 0;) {
    if (i > 0 && s[i - 1] == '\\' && (s[i] == '{' || s[i] == '}')) continue;   // an escaped brace
    if (s[i] == '}') ++depth;
    if (s[i] == '{' && --depth == 0) return i;
  }
  return std::string_view::npos;
}

// The last number of s as last_number_scaled gives it, or, where that number is a whole argument of a
// command, the command with all its arguments, nested ones too: "So the area is \frac{\sqrt{3}}{2} square
// units." is \frac{\sqrt{3}}{2} (it had been its denominator, 2: a breaker).
std::string last_number_or_command(std::string_view s) {
  size_t at = 0;
  const std::string number = last_number(s, &at);
  if (number.empty() || denied(s, at)) return {};
  size_t begin = at, end = at + number.size();
  while (!number.empty() && begin > 0 && s[begin - 1] == '{' && end < s.size() && s[end] == '}') {
    size_t open = begin - 1;
    while (open > 0 && s[open - 1] == '}') {   // the command's earlier arguments ("\frac{1}{2}")
      const size_t earlier = group_open(s, open - 1);
      if (earlier == std::string_view::npos) break;
      open = earlier;
    }
    size_t name = open;
    while (name > 0 && detail::is_ascii_alpha(s[name - 1])) --name;
    if (name == open || name == 0 || s[name - 1] != '\\') break;   // no command's argument ("x^{2}")
    size_t close = end + 1;
    while (close < s.size() && s[close] == '{') {   // its later arguments
      size_t group_end = 0;
      braced(s, close, group_end);
      if (group_end == std::string_view::npos) break;
      close = group_end + 1;
    }
    begin = name - 1, end = close;
  }
  if (begin != at && denied(s, begin)) return {};   // "It is not \\boxed{3}": the command denied
  return begin == at ? last_number_scaled(s) : std::string(s.substr(begin, end - begin));
}

// Whether s holds a LaTeX command (a backslash and a letter; "\$18" is an escaped dollar, no command).
bool has_command(std::string_view s) {
  for (size_t i = 0; i + 1 < s.size(); ++i)
    if (s[i] == '\\' && detail::is_ascii_alpha(s[i + 1])) return true;
  return false;
}

// A stated answer in words up to the reason given for it ("18, since 9 x 2 = 18" is "18").
std::string_view before_reason(std::string_view s) {
  size_t end = s.size();
  for (std::string_view reason : {" because ", " since ", ", as ", ", which ", ", so ", "; "}) {
    for (size_t i = 1; i + reason.size() <= end; ++i)
      if (starts_with_nocase(s.substr(i), reason)) {
        end = i;
        break;
      }
  }
  return s.substr(0, end);
}

// A stated answer without the reason given for it where that holds math: "$18$, since $9 \\times 2 = 18$" had
// been the list "18, 9 \\times 2 = 18", and "18, since $9 \\times 2 = 18$" the reason's equation (a breaker).
// A reason in words stays: the rules for prose cut it.
std::string without_reasons_math(std::string_view sentence) {
  const std::string_view stated = before_reason(sentence);
  const std::string_view reason = sentence.substr(stated.size());
  // a box in it marks the answer: "$a+b$, which is $\\boxed{5}$" is 5 (a breaker)
  if (stated.size() == sentence.size() || all_math(reason).empty() || reason.find("\\boxed") != std::string_view::npos ||
      reason.find("\\fbox") != std::string_view::npos)
    return std::string(sentence);
  std::string out = trim(stated);
  while (!out.empty() && (out.back() == ',' || out.back() == ';' || out.back() == ':')) out.pop_back();
  return out.empty() ? std::string(sentence) : out;
}

// Words of a stated answer are a phrase, not a page: a longer span is no answer, and bounds the scans of it
// (leaving out asides searched each '(' its ')': quadratic in a span of a million parentheses).
constexpr size_t kMaxPhraseBytes = 1000;

// Words that make several numbers alternatives or operands rather than a derivation ending in its result:
// "5 or 6", "5, not 6", "between 3 and 4", "10 minus 3", "12 out of 20".
bool offers_alternatives(std::string_view s) {
  for (std::string_view w : {" or ", "not ", "between ", " to ", " and ", "minus", "plus", "times", "divided",
                             " less ", " more ", " than ", "percent of", "out of", "over ", "under "})
    if (rfind_nocase(s, w) != std::string_view::npos) return true;
  return false;
}

// Where the number that words lead with may begin (its sign, or its first digit): past at most a qualifier
// ("about 5 ...") and a dollar sign.
size_t leading_number_at(std::string_view words) {
  size_t i = 0;
  for (std::string_view qualifier : kNumberQualifiers)
    if (starts_with_nocase(words, qualifier)) {
      i = qualifier.size();
      break;
    }
  return i < words.size() && words[i] == '$' ? i + 1 : i;
}

// Whether words begin with a number, after at most a qualifier, a dollar sign or a sign.
bool leads_with_number(std::string_view words) {
  const std::string plain = trim(words);
  size_t i = leading_number_at(plain);
  if (i < plain.size() && plain[i] == '-') ++i;
  return i < plain.size() && detail::is_ascii_digit(plain[i]);
}

// "9 * 2 equals 18 dollars": what follows a derivation's last verb, as what follows its last '=', where that
// begins with a number ("12 is the number of eggs after 3 days" stays whole). Those words after "the final
// answer is" had been kept whole, and lost the credit of their last number (a regression hunt).
std::string_view after_derivation_in_words(std::string_view s) {
  const std::string lower = detail::lowercase(s);
  size_t from = std::string::npos;
  for (std::string_view verb : {" equals ", " equal ", " gives ", " gives us ", " makes ", " yields ", " totals ",
                                " results in ", " becomes ", " leaves ", " gets us ", " for a total of ", " so ",
                                " is ", " which is "}) {
    const size_t at = lower.rfind(verb);
    if (at != std::string::npos && (from == std::string::npos || at + verb.size() > from)) from = at + verb.size();
  }
  if (from == std::string::npos || !leads_with_number(s.substr(from))) return s;
  return s.substr(from);
}

// A stated final answer in words: its number ("18 dollars per day", "2 (not 3)": asides in parentheses that
// hold a number left out, unless the answer's number is in one: "the total cost (18 dollars)"), the last
// side's where it is a derivation ("20 + 5 = 25 cookies" is 25, "Each of the 4 friends gets 6 cookies" 6), or
// the words whole where a word right after the number changes it ("5 million", "2 dozen eggs"). Empty where
// its several numbers are alternatives or operands ("5 or 6", "10 minus 3", "5, not 6": a number taken from
// them had equalled a wrong gold), where it holds none, or LaTeX ("\frac{1}{2} of the cake").
std::string number_of_prose(std::string_view answer) {
  if (answer.size() > kMaxPhraseBytes || has_command(answer)) return {};
  answer = before_reason(answer);
  if (const size_t eq = answer.rfind('='); eq != std::string_view::npos) answer = answer.substr(eq + 1);
  std::string plain = without_asides(answer);
  if (count_numbers(plain) == 0) plain = std::string(answer);
  plain = std::string(after_derivation_in_words(plain));   // outside asides: "12 pencils (the total cost is $18)"
  const int numbers = count_numbers(plain);
  if (numbers == 0 || (numbers > 1 && offers_alternatives(plain))) return {};
  // words that begin with a number and hold another are the number's phrase, not a derivation: "12 cookies
  // after 3 days" had been 3, "2 1/2 cups" 1/2 (a breaker); the words whole
  if (numbers > 1 && leads_with_number(plain) && count_numbers(plain, true) > 1) return {};
  size_t at = 0;
  const std::string number = last_number(plain, &at);
  if (strictly_bounded(plain, at)) return {};   // the words whole: "more than 3"
  return followed_by_number_word(plain, at + number.size()) ? trim(plain) : number;
}

// "The answer is ..." in words: a number that leads them, after at most a word that qualifies it, and is
// followed by words only ("18 dollars per day", "approximately 18", "18, since 9 x 2 = 18"), else nothing:
// "2x dollars", "n + 1 apples", "over 18 dollars" or "negative 5" are no plain number (they had given 2,
// 1, 18 and 5: a breaker).
std::string leading_number_of_prose(std::string_view answer) {
  if (answer.size() > kMaxPhraseBytes || has_command(answer)) return {};
  const std::string plain = trim(without_asides(before_reason(answer)));
  size_t i = leading_number_at(plain);
  const bool negative = i < plain.size() && plain[i] == '-';
  if (negative) ++i;
  if (i >= plain.size() || !detail::is_ascii_digit(plain[i])) return {};
  const size_t begin = negative ? i - 1 : i, end = number_end(plain, i);
  if (end < plain.size() && detail::is_ascii_alpha(plain[end])) return {};   // "2x dollars"
  for (size_t k = end; k < plain.size(); ++k) {   // then words only: letters, spaces, a comma, a final period
    const char c = plain[k];
    if (!(detail::is_ascii_alpha(c) || c == ' ' || c == ',' || c == '.' || c == '\'')) return {};
  }
  const std::string number = plain.substr(begin, end - begin);
  return followed_by_number_word(plain, end) ? plain : number;
}

// Whether a word ends at text[at]: "answer is" in "answer isn't" is no marker ("The final answer isn't $3$."
// had been 3: a reviewer).
bool ends_a_word(std::string_view text, size_t at) {
  return at >= text.size() || !detail::is_ascii_alpha(text[at]);
}

// Whether a stated answer begins by denying: "not 5", "never $3$", "can't be 5", "n't 3" (after "answer is"
// in "isn't"), either apostrophe ("can’t be $5$" had been 5).
bool states_no_answer(std::string_view answer) {
  const size_t end = detail::word_end(answer, 0);
  const std::string_view word = answer.substr(0, end);
  return end > 0 && (is_negation(word) || word == "n't" || word == "n\xE2\x80\x99t");
}

// "The volume of $V$ is 120": what follows the last " is ", when the sentence has one, outside a pair of
// parentheses ("12 pencils (the total cost is $18)" had been "$18)"). Pairs matched left to right: the ")"
// of a half-open interval closes nothing ("The range is [0, 2)." had been 2: a reviewer).
std::string after_is(std::string answer) {
  std::vector<int> change(answer.size() + 1, 0);   // +1 where a matched pair opens, -1 after it closes
  std::vector<size_t> open;
  for (size_t i = 0; i < answer.size(); ++i) {
    if (answer[i] == '(') open.push_back(i);
    if (answer[i] == ')' && !open.empty()) {
      ++change[open.back()], --change[i + 1];
      open.pop_back();
    }
  }
  size_t p = std::string::npos;
  for (size_t i = 0, depth = 0; i < answer.size(); ++i) {
    depth += change[i];
    if (depth == 0 && starts_with_nocase(std::string_view(answer).substr(i), " is ")) p = i;
  }
  if (p == std::string::npos) return answer;
  std::string rest = trim(std::string_view(answer).substr(p + 4));
  return rest.empty() ? answer : rest;
}

}  // namespace

std::string last_boxed(std::string_view text) {
  size_t at = std::string_view::npos;
  size_t len = 0;
  for (std::string_view cmd : {"\\boxed", "\\fbox"}) {
    const size_t p = text.rfind(cmd);
    if (p != std::string_view::npos && (at == std::string_view::npos || p > at)) at = p, len = cmd.size();
  }
  if (at == std::string_view::npos) return {};
  size_t i = at + len;
  while (i < text.size() && text[i] == ' ') ++i;
  if (i < text.size() && text[i] == '{') {
    size_t end = 0;
    const std::string_view content = braced(text, i, end);
    return end == std::string_view::npos ? std::string() : trim(content);
  }
  // "\boxed 5": up to the next space or $
  size_t e = i;
  while (e < text.size() && !detail::is_ascii_space(text[e]) && text[e] != '$') ++e;
  return trim(text.substr(i, e - i));
}

namespace {

// Markdown's bold markers dropped ("**Final Answer:** 18", "The answer is **18**."): they had stayed in the
// answer (a breaker). Python's power ("2**3", "2 ** 10") stays.
std::string without_markdown_bold(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text.compare(i, 2, "**") == 0) {
      size_t e = i;
      while (e < text.size() && text[e] == '*') ++e;
      // Python's power: an operand right before and after it ("2**-1", "x**.5"), or a space on both sides ("2 ** 10")
      const bool left_operand = i > 0 && (detail::is_ascii_alnum(text[i - 1]) || text[i - 1] == ')');
      const bool next_is_digit = e + 1 < text.size() && detail::is_ascii_digit(text[e + 1]);
      const bool right_operand = e < text.size() && (detail::is_ascii_alnum(text[e]) ||
                                                     text[e] == '(' || ((text[e] == '-' || text[e] == '.') && next_is_digit));
      const bool spaced = i > 0 && text[i - 1] == ' ' && e < text.size() && text[e] == ' ';
      if (!(left_operand && right_operand) && !spaced) {
        i = e - 1;
        continue;
      }
    }
    out += text[i];
  }
  return out;
}

// Whether "final answer" at text[at, end) is a heading: alone on its line but for markup ("**Final Answer**",
// "### Final Answer:"), and followed by math or a box ("\\boxed{5}", "\\[ \\boxed{5} \\]"). A step's title ("##
// Step 3: Compute the final answer") or words ("It takes 2 hours and 30 minutes, i.e. 2.5 hours.") after it
// had been taken for the answer (a breaker).
bool is_answer_heading(std::string_view text, size_t at, size_t end) {
  const auto markup = [](char c) { return c == ' ' || c == '\t' || c == '*' || c == '#' || c == ':' || c == '\r'; };
  for (size_t i = at; i > 0 && text[i - 1] != '\n'; --i)
    if (!markup(text[i - 1])) return false;
  while (end < text.size() && markup(text[end])) ++end;
  if (end < text.size() && text[end] != '\n') return false;
  while (end < text.size() && detail::is_ascii_space(text[end])) ++end;
  const std::string_view next = text.substr(end, 16);
  return next.substr(0, 1) == "$" || next.substr(0, 2) == "\\[" || next.substr(0, 2) == "\\(" ||
         next.substr(0, 6) == "\\boxed" || next.substr(0, 5) == "\\fbox";
}

// A stated final answer, which wins over boxes (they may box intermediate results): the latest statement of
// the three forms ("The final answer is 3. ... Final answer: \boxed{4}" states 4; the first form had been read
// first: a reviewer). None where there is none, or where it states none: the rules after it decide.
std::optional<Extraction> stated_final_answer(std::string_view text) {
  size_t stated_at = std::string_view::npos;
  std::string_view marker;
  for (std::string_view form : {"final answer is", "final answer:", "final answer"}) {
    const size_t at = rfind_nocase(text, form);
    if (at == std::string_view::npos || !ends_a_word(text, at + form.size()) ||
        (stated_at != std::string_view::npos && at <= stated_at))
      continue;
    // "final answer" alone is a heading, a line of its own: "**Final Answer**\n\\boxed{5}" closes DeepSeek-R1's
    // and QwQ's solutions, after a tentative "the final answer is 4" in the thinking (a breaker)
    if (form == "final answer" && !is_answer_heading(text, at, at + form.size())) continue;
    stated_at = at, marker = form;
  }
  if (stated_at == std::string_view::npos) return std::nullopt;
  // The solution's own text ends where a continuation begins (detail/stated_answer.h), in the statement's
  // sentence too: "The final answer is 3.<eos>Now, what is $2+3$? \\boxed{5}" had been 5 (a breaker).
  const size_t own_end = stated_at + own_text_end(text.substr(stated_at));
  const size_t after_marker = stated_at + marker.size();
  std::string_view rest = text.substr(after_marker, own_end - std::min(own_end, after_marker));
  // "The final answer is:\n\n\\[\\boxed{5}\\]" had given ":" (7 of 800 Qwen outputs; a breaker)
  while (!rest.empty() && (rest.front() == ':' || detail::is_ascii_space(rest.front())))
    rest.remove_prefix(1);
  const std::string sentence = until_sentence_end(rest);
  // Where words doubt the statement, a box after its sentence (as written, abbreviations and all) is the
  // answer the solution went on to: "I think the final answer is 3, but let me verify. ... So the answer is
  // \boxed{4}." and "The final answer is \boxed{3}. Wait, I made an error. The correct answer is \boxed{4}."
  // had been 3 (a breaker). Without such words a later box checks or explains the statement, and one past
  // the solution's own text (a few-shot prompt's next problem, a chat turn, a code block) or a template's
  // ("\boxed{answer}") is none (reviewers; detail/stated_answer.h). One within its sentence is the
  // statement's ("7 hours and 30 minutes, i.e. \boxed{7.5}", below).
  const size_t written_end = size_t(rest.data() - text.data()) + until_sentence_end(rest, Through::kAll).size();
  const std::string_view own = text.substr(written_end, own_end - written_end);
  const size_t stated_from = sentence_start(text, stated_at);
  if (std::string later = all_boxed(own, is_placeholder);
      !later.empty() && doubted(text.substr(stated_from, written_end - stated_from), own))
    return Extraction{later, "boxed"};
  // the reason first: "$3$, since $4$ is excluded" had been "excluded", what followed the reason's "is"; a
  // reason in words too where the answer was stated before it: "$5$, which is the smallest prime that
  // works" had been its last words (a breaker), while "the number of eggs, which is 18" is 18, and "$a+b$,
  // which is \boxed{5}" is 5: a box marks the answer
  const std::string reasoned = without_reasons_math(sentence);
  std::string_view head = before_reason(reasoned);
  for (std::string_view clause : {", and this ", ", and that "})   // "$18$, and this is consistent"
    head = head.substr(0, std::min(head.size(), head.find(clause)));
  while (!head.empty() && (head.back() == ',' || head.back() == ';' || head.back() == ':' || head.back() == ' '))
    head.remove_suffix(1);
  const std::string_view reason = std::string_view(reasoned).substr(head.size());
  // the head states the answer where it begins with it: "$5$", "18 dollars", "\\boxed{5}" (not "the number of
  // primes less than 12, and that number is 5": a breaker)
  const bool head_states =
      !head.empty() && (detail::is_ascii_digit(head[0]) || head[0] == '$' || head[0] == '-' || head[0] == '\\') &&
      reason.find("\\boxed") == std::string_view::npos && reason.find("\\fbox") == std::string_view::npos;
  std::string answer = after_is(std::string(head_states ? head : std::string_view(reasoned)));
  // "The final answer is not 5." states no answer: the rules after it decide (it had given 5, over a box;
  // "not $5$" its math: a breaker)
  if (states_no_answer(answer)) return std::nullopt;
  bool marked = false;  // the answer is set off as math or a box: take it as it is
  if (std::string math = all_math(answer); !math.empty()) {
    // boxes inside its math are the answer ("$x = \boxed{5}$"), and so are boxes beside math without any:
    // "$3$ or \boxed{4}" is 4, as the rule for boxes reads it (its math alone had made it 3, a hedge's
    // first option credited: a breaker; the two as parts of one list had made "$18$ \boxed{18}" a list of
    // two: a reviewer)
    std::string boxed = all_boxed(math);
    if (boxed.empty()) boxed = all_boxed(answer);
    answer = boxed.empty() ? math : boxed, marked = true;
  } else if (std::string boxed = all_boxed(answer); !boxed.empty()) {
    answer = boxed, marked = true;
  }
  if (!marked && is_prose(answer)) {
    // "The final answer is 7 hours and 30 minutes, i.e. \\boxed{7.5}": the sentence had ended at "i.e.",
    // and its last number, 30, had been the answer (a breaker). A box later in the same sentence is it.
    const std::string extended = until_sentence_end(rest, Through::kRestating);
    if (extended.size() > sentence.size())
      if (std::string boxed = all_boxed(std::string_view(extended).substr(sentence.size())); !boxed.empty())
        return Extraction{boxed, "final_answer"};
    // the number alone, unless a word right after it changes it: "5 million" had been 5 (a breaker)
    if (std::string number = number_of_prose(answer); !number.empty()) {
      answer = number;
    } else if (std::string boxed = all_boxed(text); !boxed.empty() && describes_an_answer(sentence)) {
      // words without a number that describe the boxed answer ("=\boxed{\frac{130}{231}}. The final
      // answer is positive, because ..." in a MATH gold solution had given "positive, because ...": a
      // breaker): the box. Words that state an answer ("Evelyn and Bob") stay the answer (a reviewer).
      return Extraction{boxed, "boxed"};
    }
  }
  // only punctuation left (the answer is on a line of its own past the sentence): the rules after it find it
  if (std::any_of(answer.begin(), answer.end(),
                  [](unsigned char c) { return detail::is_ascii_alnum(static_cast<char>(c)) || c >= 0x80; }))
    return Extraction{answer, "final_answer"};
  return std::nullopt;
}

}  // namespace

Extraction extract_answer(std::string_view text, const ExtractOptions& options) {
  if (options.mode != "cot" && options.mode != "program") {
    throw std::invalid_argument("extract_answer: mode must be \"cot\" or \"program\", got \"" + options.mode + "\"");
  }
  if (text.size() > kMaxTextBytes) text = text.substr(text.size() - kMaxTextBytes);
  std::string unbolded;
  if (options.mode == "cot" && text.find("**") != std::string_view::npos) {
    unbolded = without_markdown_bold(text);
    text = unbolded;
  }
  if (options.mode == "program") {
    size_t end = text.size();
    while (end > 0) {
      const size_t start = text.rfind('\n', end - 1);
      const size_t b = start == std::string_view::npos ? 0 : start + 1;
      std::string line = trim(text.substr(b, end - b));
      if (!line.empty()) return {line, "last_line"};
      if (b == 0) break;
      end = b - 1;
    }
    return {"", "none"};
  }
  if (std::optional<Extraction> stated = stated_final_answer(text)) return *stated;
  if (std::string boxed = all_boxed(text); !boxed.empty()) return {boxed, "boxed"};
  if (const size_t p = text.rfind("####"); p != std::string_view::npos) {
    std::string rest = trim(text.substr(p + 4));
    rest = rest.substr(0, rest.find('\n'));
    if (!rest.empty()) return {trim(rest), "gsm8k"};
  }
  if (const size_t p = rfind_nocase(text, "answer is"); p != std::string_view::npos && ends_a_word(text, p + 9)) {
    std::string_view rest = text.substr(p + 9);
    while (!rest.empty() && (rest.front() == ':' || rest.front() == ' ')) rest.remove_prefix(1);
    // Every math part, as for a final answer: the last one alone had made "$3$ or $4$" 4 (a hedge credited)
    // and "$3$ and $4$" 4 (a breaker).
    std::string answer = without_reasons_math(until_sentence_end(rest));
    // "The answer is not $3$." states no answer: the rules below decide (its math had been the answer: a breaker)
    if (!states_no_answer(answer)) {
      if (std::string math = all_math(answer); !math.empty()) {
        answer = math;
      } else if (is_prose(answer)) {   // "The answer is 18 dollars per day." had been all of that (a breaker)
        if (std::string number = leading_number_of_prose(answer); !number.empty()) answer = number;
      }
      if (!answer.empty()) return {answer, "answer_is"};
    }
  }
  {
    std::string last = trim(text);
    const size_t nl = last.rfind('\n');
    const std::string line = trim(nl == std::string::npos ? std::string_view(last) : std::string_view(last).substr(nl + 1));
    if (line.size() > 2 && line[0] == 'A' && line[1] == ':') return {trim(std::string_view(line).substr(2)), "a_line"};
    // "Answer: C" (a multiple-choice reply; it had found nothing: a breaker). Its math, or the number that
    // leads its words ("Answer: 5 apples, since 2+3=5" is 5); words alone are left to the rules below
    // ("Answer: There are 7 ways" had been taken whole: a reviewer).
    if (starts_with_nocase(line, "answer:") && line.size() > 7) {
      std::string answer = until_sentence_end(trim(std::string_view(line).substr(7)));
      if (std::string math = last_math(answer); !math.empty()) {
        answer = math;
      } else if (is_prose(answer)) {
        answer = leading_number_of_prose(answer);
      }
      if (!answer.empty()) return {answer, "a_line"};
    }
  }
  if (std::string math = last_math(text); !math.empty()) {
    // "... $k = \\frac{60}{m}$ must divide 60. So there are 8 such numbers.": a final sentence that states
    // a plain number and holds no math is the answer, not the last math span before it.
    const std::string sentence = last_sentence(text);
    if (sentence.find('$') == std::string::npos && sentence.find("\\(") == std::string::npos &&
        sentence.find("\\[") == std::string::npos) {
      if (std::string number = last_number_scaled(sentence); !number.empty()) return {number, "last_sentence"};
    }
    return {math, "math"};
  }
  if (options.last_number_fallback) {
    if (std::string number = last_number_or_command(text); !number.empty()) return {number, "last_number"};
  }
  return {"", "none"};
}

}  // namespace cotnpot::answer
