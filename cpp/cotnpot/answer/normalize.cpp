#include "cotnpot/answer/normalize.h"

#include <algorithm>
#include <cstdint>
#include <optional>
#include <vector>

#include "cotnpot/answer/detail/ascii.h"
#include "cotnpot/answer/detail/number_words.h"
#include "cotnpot/answer/detail/text_scan.h"
#include "cotnpot/answer/limits.h"

namespace cotnpot::answer {
namespace {

using detail::is_ascii_alpha;
using detail::is_ascii_digit;

// A number's degree marks, longest first where one contains another.
constexpr std::string_view kDegreeMarks[] = {"^{\\circ}", "^\\circ", "\\circ", "\\degree", "°"};

void replace_all(std::string& s, std::string_view from, std::string_view to) {
  if (from.empty()) return;
  size_t p = 0;
  while ((p = s.find(from, p)) != std::string::npos) {
    s.replace(p, from.size(), to);
    p += to.size();
  }
}

// Removes a LaTeX command that is not a prefix of a longer one (e.g. "\le" but not "\left").
void remove_command(std::string& s, std::string_view cmd) {
  size_t p = 0;
  while ((p = s.find(cmd, p)) != std::string::npos) {
    const size_t e = p + cmd.size();
    // not the start of a longer command, nor the second backslash of a row separator
    if ((e < s.size() && is_ascii_alpha(s[e]) && is_ascii_alpha(cmd.back())) || (p > 0 && s[p - 1] == '\\' && cmd[0] == '\\')) {
      p = e;
      continue;
    }
    s.erase(p, cmd.size());
  }
}

std::string trim(std::string s) {
  size_t b = 0, e = s.size();
  while (b < e && detail::is_ascii_space(s[b])) ++b;
  while (e > b && detail::is_ascii_space(s[e - 1])) --e;
  return s.substr(b, e - b);
}

// Index of the '}' closing the '{' at `open`, or npos.
size_t closing_brace(const std::string& s, size_t open) {
  int depth = 0;
  for (size_t i = open; i < s.size(); ++i) {
    if (s[i] == '{') ++depth;
    if (s[i] == '}' && --depth == 0) return i;
  }
  return std::string::npos;
}

const char* const kUnitWords[] = {
    "units", "unit", "meters", "meter", "metres", "cm", "mm", "km", "m", "inches", "inch", "feet", "foot", "ft",
    "miles", "mile", "yards", "degrees", "degree", "dollars", "dollar", "cents", "cent", "percent", "percentage",
    "pct", "hours", "hour", "minutes", "minute", "seconds", "second", "days", "day", "years", "year", "sq", "square",
    "cubic", "pounds", "pound", "kg", "g", "grams", "liters", "l", "ml", "mph", "students", "people", "apples",
    "lb", "lbs", "oz", "ounces", "ounce", "hr", "hrs", "km/h", "kph", "m/s", "mi/h", "ft/s", "cm/s"};

// Units of a slash, which the trailing-word scan (letters only) does not see as words: "10 km/h" (spaced
// from what comes before: "2m/s" may be algebra).
const char* const kSlashUnits[] = {"km/h", "m/s", "mi/h", "ft/s", "cm/s"};

bool is_unit_word(std::string_view w) {
  for (const char* u : kUnitWords)
    if (w == u) return true;
  return false;
}

// A word as written is a unit: kUnitWords without case, except that a one-letter capital is no unit but L
// (liters): "\$5M" is five million, not 5 meters (it had equalled 5: a breaker).
bool is_unit_as_written(std::string_view word) {
  if (word.size() == 1 && detail::is_ascii_upper(word[0]) && word[0] != 'L') return false;
  return is_unit_word(detail::lowercase(word));
}

// Whether s[0, p) ends with a value that a unit may follow: a digit, a closing bracket or a command's name,
// past spaces and spacing commands ("5\,\mathrm{m}", "\frac{10}{2}\text{ m}", "(2+3)~\text{g}", "2\pi\,\text{m}").
bool follows_a_value(const std::string& s, size_t p) {
  while (p > 0) {
    const char c = s[p - 1];
    if (c == ' ' || c == '~') {
      --p;
    } else if (p >= 2 && s[p - 2] == '\\' && (c == ',' || c == ';' || c == ':' || c == '!')) {
      p -= 2;
    } else if (detail::is_ascii_alpha(c)) {   // a command's name is a value: "2\pi\,\text{m}" (a reviewer)
      while (p > 0 && detail::is_ascii_alpha(s[p - 1])) --p;
      return p > 0 && s[p - 1] == '\\';
    } else {
      return is_ascii_digit(c) || c == '}' || c == ')' || c == ']' || c == '.';
    }
  }
  return false;
}

// \text{...}, \mbox{...}, \textbf{...}, \mathrm{...}: unit words go, other text stays (unwrapped). A
// one-letter unit (m, g, l) goes only after a value: in "\text{m}+\text{n}=17" it is a name (the m had gone,
// leaving "+n=17", equal to n=17).
void strip_text_commands(std::string& s) {
  for (std::string_view cmd : {"\\textnormal", "\\textbf", "\\textrm", "\\textit", "\\text", "\\mbox", "\\mathrm",
                               "\\mathbf"}) {
    size_t p = 0;
    while ((p = s.find(cmd, p)) != std::string::npos) {
      size_t open = p + cmd.size();
      while (open < s.size() && s[open] == ' ') ++open;
      if (open >= s.size() || s[open] != '{') {
        ++p;
        continue;
      }
      const size_t close = closing_brace(s, open);
      if (close == std::string::npos) break;
      // "5\\text{ eggs}": the space written inside stays, so the word is not glued to the number (strip_counted_nouns)
      const bool spaced = open + 1 < close && s[open + 1] == ' ';
      std::string content = trim(s.substr(open + 1, close - open - 1));
      bool units = !content.empty();
      for (size_t i = 0, w = 0; i <= content.size(); ++i) {
        if (i == content.size() || content[i] == ' ' || content[i] == '^') {
          const std::string_view word = std::string_view(content).substr(w, i - w);
          // a unit's power written inside, "\\text{ cm^2}"; digits elsewhere are no unit ("3\\text{4}" is 34)
          const bool power = w > 0 && content[w - 1] == '^' && word.size() <= 2 && is_ascii_digit(word[0]);
          if (!word.empty() && !is_unit_as_written(word) && !power) units = false;
          w = i + 1;
        }
      }
      if (units && content.size() == 1 && !follows_a_value(s, p)) units = false;
      // A unit's own power goes with it: "12\text{ cm}^2" left "12^2", which equalled 144 and not 12.
      size_t end = close + 1;
      if (units) {
        size_t q = end;
        while (q < s.size() && s[q] == ' ') ++q;
        if (q + 1 < s.size() && s[q] == '^' && is_ascii_digit(s[q + 1])) {
          end = q + 2;
        } else if (q + 1 < s.size() && s[q] == '^' && s[q + 1] == '{') {
          const size_t power_close = closing_brace(s, q + 1);
          bool digits = power_close != std::string::npos && power_close > q + 2;
          for (size_t d = q + 2; digits && d < power_close; ++d) digits = is_ascii_digit(s[d]);
          if (digits) end = power_close + 1;
        }
      }
      const std::string rest = trim(s.substr(0, p) + s.substr(end));
      const bool joins = content == "and" || content == "or";
      if (joins) content = " , ";  // spaced: never a decimal comma
      // a unit between two numbers leaves them apart: "3\\text{ hours }4\\text{ minutes}" had become 34 (a breaker)
      s = (units && !rest.empty()) ? s.substr(0, p) + " " + s.substr(end)
                                   : s.substr(0, p) + (spaced && !joins ? " " : "") + content + s.substr(close + 1);
    }
  }
}

// "8 cookies", "12 Eggs left": a plain number (digits, separators, a sign) and then only words of three or
// more letters, none of kNumberWords, count the number's things: the number. GSM8K answers name what they
// count with any noun ("The answer is 8 cookies." had not been 8: a breaker), beyond kUnitWords.
void strip_counted_nouns(std::string& s) {
  size_t i = 0;
  if (i < s.size() && s[i] == '-') ++i;
  const size_t digits = i;
  while (i < s.size() && (is_ascii_digit(s[i]) || s[i] == ',' || s[i] == '.')) ++i;
  if (i == digits || !is_ascii_digit(s[digits]) || !is_ascii_digit(s[i - 1]) || i >= s.size()) return;
  // a fraction, "3/4 cups", or a mixed number, "2 1/2 cups" (they had kept their nouns: a breaker)
  const auto fraction_end = [&](size_t at) {
    size_t k = at;
    while (k < s.size() && is_ascii_digit(s[k])) ++k;
    if (k == at || k + 1 >= s.size() || s[k] != '/' || !is_ascii_digit(s[k + 1])) return at;
    for (++k; k < s.size() && is_ascii_digit(s[k]);) ++k;
    return k;
  };
  if (s[i] == '/') {
    i = fraction_end(digits);
  } else if (s[i] == ' ' && i + 1 < s.size() && s.find_first_not_of("0123456789,.", digits) == i) {
    size_t after = i;
    while (after < s.size() && s[after] == ' ') ++after;
    if (const size_t end = fraction_end(after); end > after) i = end;
  }
  if (i >= s.size() || s[i] != ' ') return;
  const size_t number_end = i;
  while (i < s.size()) {
    while (i < s.size() && s[i] == ' ') ++i;
    const size_t b = i;
    while (i < s.size() && is_ascii_alpha(s[i])) ++i;
    if (i == b) return;   // not a word: math, punctuation
    const std::string word = detail::lowercase(std::string_view(s).substr(b, i - b));
    if (word.size() < 3 || detail::is_number_word(word)) return;
  }
  s.resize(number_end);
}

// Numbers in words at the answer's start: "five" is 5, "Three trucks" 3 trucks (then counted: 3), "5
// million" 5000000, "2 dozen eggs" 24 eggs. They had stayed words (a breaker); after them the words are left to
// the unit and counted-noun rules.
// Spelled groups below a thousand, each but the last with a scale word larger than the next one's: "two
// thousand twenty four" (2024), "one million two hundred thousand and five"; its value and how many words it
// took, or nothing where no scale word follows the first group.
std::optional<std::pair<int64_t, size_t>> compound_number(const std::vector<std::string>& words) {
  const auto scale_of = [](const std::string& w) -> int64_t {
    if (w == "thousand") return 1000;
    if (w == "million") return 1000000;
    if (w == "billion") return 1000000000;
    if (w == "trillion") return 1000000000000;
    return 0;
  };
  int64_t total = 0, last_scale = 0;
  size_t at = 0;
  while (true) {
    const auto group = detail::spelled_number({words.begin() + static_cast<std::ptrdiff_t>(at), words.end()});
    if (!group || group->value == 0) break;
    const size_t after = at + group->words;
    const int64_t scale = after < words.size() ? scale_of(words[after]) : 0;
    if (scale == 0 || (last_scale != 0 && scale >= last_scale)) {
      if (last_scale == 0) return std::nullopt;
      return std::make_pair(total + group->value, after);
    }
    total += group->value * scale, last_scale = scale, at = after + 1;
    if (at < words.size() && words[at] == "and") {
      const auto tail = detail::spelled_number({words.begin() + static_cast<std::ptrdiff_t>(at) + 1, words.end()});
      if (tail && tail->value > 0 && (at + 1 + tail->words >= words.size() || !scale_of(words[at + 1 + tail->words])))
        return std::make_pair(total + tail->value, at + 1 + tail->words);
    }
  }
  if (last_scale == 0) return std::nullopt;
  return std::make_pair(total, at);
}

void numbers_in_words(std::string& s) {
  std::vector<std::string> words;   // lowercase, split at spaces and hyphens
  std::vector<size_t> ends;         // where each ends in s
  bool complete = true;             // the words cover s
  for (size_t i = 0; i < s.size();) {
    if (s[i] == ' ' || s[i] == '-') {
      ++i;
      continue;
    }
    if (words.size() == 8) {
      complete = false;
      break;
    }
    size_t j = i;
    while (j < s.size() && s[j] != ' ' && s[j] != '-') ++j;
    words.push_back(detail::lowercase(std::string_view(s).substr(i, j - i))), ends.push_back(j);
    i = j;
  }
  const auto only_words_from = [&](size_t from) {
    for (size_t k = from; k < words.size(); ++k)
      if (!std::all_of(words[k].begin(), words[k].end(), [](char c) { return is_ascii_alpha(c); })) return false;
    return complete || from == words.size();
  };
  if (words.empty()) return;
  if (const auto spelled = detail::spelled_number(words); spelled && is_ascii_alpha(s[0])) {
    // times a scale word right after it ("five million", "two dozen"), else not where a word right after it
    // changes it ("zero point five", "one half")
    const size_t next = spelled->words;
    // a compound of scales, "two thousand twenty four", "five million three hundred thousand": it had been
    // cut at its first scale word, 2000 (a breaker)
    if (const auto compound = compound_number(words); compound && compound->second > next + 1) {
      const size_t end = compound->second;
      const bool changed = end < words.size() && (detail::is_number_word(words[end]) ||
                                                  detail::spelled_number({words.begin() + end, words.end()}));
      if (!changed && only_words_from(end)) s = std::to_string(compound->first) + s.substr(ends[end - 1]);
      return;
    }
    if (next < words.size() && only_words_from(next + 1))
      if (const auto value = detail::scaled_number(std::to_string(spelled->value), words[next])) {
        s = *value + s.substr(ends[next]);
        return;
      }
    // nor before another number ("two fifty" is 250 or 2:50, not 2)
    const bool changed = next < words.size() && (detail::is_number_word(words[next]) ||
                                                 detail::spelled_number({words.begin() + next, words.end()}));
    if (!changed && only_words_from(next)) s = std::to_string(spelled->value) + s.substr(ends[next - 1]);
    return;
  }
  // "<number> <scale>", the number with its sign (not split at its '-'), its leading zero perhaps left out
  // (".5 million")
  const size_t number_end = s.find(' ');
  const size_t digits = s[0] == '-' ? 1 : 0, first_digit = digits + (s.compare(digits, 1, ".") == 0 ? 1 : 0);
  if (number_end == std::string::npos || first_digit >= number_end || !is_ascii_digit(s[first_digit])) return;
  size_t scale_begin = number_end;
  while (scale_begin < s.size() && s[scale_begin] == ' ') ++scale_begin;
  size_t scale_end = scale_begin;
  while (scale_end < s.size() && is_ascii_alpha(s[scale_end])) ++scale_end;
  if (scale_end < s.size() && s[scale_end] != ' ') return;
  const std::string scale = detail::lowercase(std::string_view(s).substr(scale_begin, scale_end - scale_begin));
  for (size_t k = scale_end; k < s.size(); ++k)
    if (s[k] != ' ' && !is_ascii_alpha(s[k])) return;   // "5 million dollars": words after it, or nothing
  if (const auto value = detail::scaled_number(std::string_view(s).substr(0, number_end), scale))
    s = *value + s.substr(scale_end);
}

// Trailing unit words written without \text: "28 percent", "5 meters".
void strip_trailing_words(std::string& s) {
  while (true) {
    size_t e = s.size();
    while (e > 0 && s[e - 1] == ' ') --e;
    bool slash_unit = false;
    for (std::string_view u : kSlashUnits)
      if (e > u.size() && s[e - u.size() - 1] == ' ' &&
          std::equal(u.begin(), u.end(), s.begin() + static_cast<std::ptrdiff_t>(e - u.size()),
                     [](char a, char b) { return a == detail::lowercase(b); })) {
        s = trim(s.substr(0, e - u.size()));
        slash_unit = true;
        break;
      }
    if (slash_unit) continue;
    size_t b = e;
    while (b > 0 && is_ascii_alpha(s[b - 1])) --b;
    if (b == e || (b > 0 && s[b - 1] == '\\')) return;
    const std::string_view word = std::string_view(s).substr(b, e - b);
    if (!is_unit_as_written(word) || trim(s.substr(0, b)).empty()) {
      strip_counted_nouns(s);
      return;
    }
    s = trim(s.substr(0, b));
  }
}

// The scale a word after a degree mark names: C, F or K, or a start of Celsius, centigrade, Fahrenheit or Kelvin
// ("°Cels"); 0 for any other word.
char temperature_scale_of(std::string_view word) {
  if (word == "C" || word == "F" || word == "K") return word[0];
  if (word.size() < 2) return 0;
  const std::string lower = detail::lowercase(word);
  for (const auto& [name, scale] : {std::pair<std::string_view, char>{"celsius", 'C'}, {"centigrade", 'C'},
                                    {"fahrenheit", 'F'}, {"kelvin", 'K'}})
    if (name.substr(0, lower.size()) == lower) return scale;
  return 0;
}

// "75^\\circ \\text{F}", "10 °C": the scale's letter after a number's degree mark goes with the mark (it had
// stayed, and "75 F" was no number: a breaker). Only C, F and K, only after a number (`g \\circ C` composes). The
// scales are kept in `scales`, in order (Normalized::temperature_scales), a scale's word's too ("30 °Celsius").
void strip_temperature_scales(std::string& s, std::string& scales) {
  for (size_t p = 0; p < s.size(); ++p) {
    std::string_view mark;
    for (std::string_view m : kDegreeMarks)
      if (s.compare(p, m.size(), m) == 0) {
        mark = m;
        break;
      }
    if (mark.empty()) continue;
    size_t d = p;
    while (d > 0 && s[d - 1] == ' ') --d;
    if (d == 0 || !is_ascii_digit(s[d - 1])) continue;
    size_t i = p + mark.size();
    while (i < s.size() && s[i] == ' ') ++i;
    bool braced = false;
    for (std::string_view cmd : {"\\text{", "\\mathrm{"})
      if (s.compare(i, cmd.size(), cmd) == 0) {
        i += cmd.size(), braced = true;
        break;
      }
    while (braced && i < s.size() && s[i] == ' ') ++i;
    size_t e = i;
    while (e < s.size() && is_ascii_alpha(s[e])) ++e;
    const char scale = temperature_scale_of(std::string_view(s).substr(i, e - i));
    if (!scale) continue;
    if (e - i > 1) {   // a word ("°Celsius") stays for the unit rules; its scale counts (a reviewer)
      scales += scale;
      continue;
    }
    while (braced && e < s.size() && s[e] == ' ') ++e;
    if (braced && (e >= s.size() || s[e++] != '}')) continue;
    scales += scale;
    s.erase(p + mark.size(), e - p - mark.size());
  }
}

// "52_{8}" -> "52_8": a numeral's base, which MATH's golds write braced or not (52_8, 4210_{5}); the two
// forms had differed (a breaker). Only after a digit: a letter's subscript is the parser's.
void unbrace_number_bases(std::string& s) {
  for (size_t p = s.find("_{"); p != std::string::npos; p = s.find("_{", p + 1)) {
    if (p == 0 || !is_ascii_digit(s[p - 1])) continue;
    const size_t close = s.find('}', p + 2);
    if (close == std::string::npos || close == p + 2 ||
        !std::all_of(s.begin() + p + 2, s.begin() + close, [](char c) { return is_ascii_digit(c); }))
      continue;
    s.erase(close, 1);
    s.erase(p + 1, 1);
  }
}

// TeX's "{1 \over 2}" -> \frac{1}{2}: what stands before \over in its group over what stands after it (it had
// been no number: a breaker). Not \overline, \overset.
void over_as_frac(std::string& s) {
  for (size_t at = s.find("\\over"); at != std::string::npos; at = s.find("\\over", at + 1)) {
    if (at + 5 < s.size() && is_ascii_alpha(s[at + 5])) continue;
    size_t open = at, depth = 0;   // the group's '{', or the text's start
    while (open > 0) {
      const char c = s[open - 1];
      if (c == '}') ++depth;
      if (c == '{' && depth-- == 0) break;
      --open;
    }
    const size_t close = open == 0 ? std::string::npos : closing_brace(s, open - 1);
    if (open > 0 && close == std::string::npos) return;
    const size_t end = open == 0 ? s.size() : close;
    const std::string numerator = s.substr(open, at - open), denominator = s.substr(at + 5, end - at - 5);
    const std::string frac = "\\frac{" + numerator + "}{" + denominator + "}";
    const size_t from = open == 0 ? 0 : open - 1, to = open == 0 ? s.size() : close + 1;
    s.replace(from, to - from, frac);
    at = from;
  }
}

// \frac12 -> \frac{1}{2}, \frac1{2} -> \frac{1}{2}, \sqrt2 -> \sqrt{2}, \frac\pi4 -> \frac{\pi}{4}
void brace_short_arguments(std::string& s) {
  for (std::string_view cmd : {"\\frac", "\\sqrt"}) {
    const int args = cmd == "\\frac" ? 2 : 1;
    size_t p = 0;
    while ((p = s.find(cmd, p)) != std::string::npos) {
      size_t i = p + cmd.size();
      if (i < s.size() && is_ascii_alpha(s[i])) {  // \fracx is not \frac x
        p = i;
        continue;
      }
      for (int a = 0; a < args && i < s.size(); ++a) {
        while (i < s.size() && s[i] == ' ') s.erase(i, 1);
        if (i < s.size() && s[i] == '[' && cmd == "\\sqrt") {  // \sqrt[n]{x}
          const size_t close = s.find(']', i);
          if (close == std::string::npos) break;
          i = close + 1;
          --a;
          continue;
        }
        if (i >= s.size()) break;
        if (s[i] == '{') {
          const size_t close = closing_brace(s, i);
          if (close == std::string::npos) break;
          i = close + 1;
        } else if (s[i] == '\\') {
          // a symbol's command, "\frac\pi4", "\sqrt\pi" (they had become \frac{\}{p}i4: a breaker); not one
          // that takes arguments of its own
          size_t e = i + 1;
          while (e < s.size() && is_ascii_alpha(s[e])) ++e;
          const std::string_view name = std::string_view(s).substr(i + 1, e - i - 1);
          if (name.empty() || name == "frac" || name == "sqrt" || name == "text" || name == "left" ||
              name == "mathrm" || name == "mathbf" || name == "operatorname" || name == "overline")
            break;
          s.insert(e, "}");
          s.insert(i, "{");
          i = e + 2;
        } else {
          s.insert(i, "{");
          s.insert(i + 2, "}");
          i += 3;
        }
      }
      p += cmd.size();
    }
  }
}

bool all_digits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!is_ascii_digit(c)) return false;
  return true;
}

// 1,000,000 -> 1000000 and 1 000 -> 1000 (a first group of 1-3 digits, then groups of exactly three);
// 1,22 -> 1.22 (the whole answer: digits, one comma, exactly two digits; "1,2" stays a list). Inside
// brackets a comma separates items, never thousands: "[0,360)" had equalled 360, "(2,12) \cup (12,102)"
// equalled "(2,12) \cup 12102" and not "(12, 102)" (a breaker).
void fix_number_separators(std::string& s) {
  std::string out;
  int depth = 0;  // open ( [ \{ around the scan
  for (size_t i = 0; i < s.size();) {
    if (s[i] == '(' || s[i] == '[' || s.compare(i, 2, "\\{") == 0) ++depth;
    if ((s[i] == ')' || s[i] == ']' || s.compare(i, 2, "\\}") == 0) && depth > 0) --depth;
    if (!is_ascii_digit(s[i]) || (i > 0 && (is_ascii_digit(s[i - 1]) || s[i - 1] == '.'))) {
      out += s[i++];
      continue;
    }
    size_t j = i;
    while (j < s.size() && is_ascii_digit(s[j])) ++j;
    std::string number = s.substr(i, j - i);
    if (number.size() <= 3) {
      char used = 0;  // one kind of separator per number
      while (j < s.size()) {
        const bool braced = s.compare(j, 3, "{,}") == 0;
        const char sep = braced ? '{' : s[j];
        const size_t step = braced ? 3 : 1;
        if (!(sep == ',' || sep == ' ' || braced) || (used && sep != used) || (sep == ',' && depth > 0)) break;
        if (j + step + 3 > s.size() || !all_digits(std::string_view(s).substr(j + step, 3))) break;
        if (j + step + 3 < s.size() && is_ascii_digit(s[j + step + 3])) break;
        used = sep;
        number += s.substr(j + step, 3);
        j += step + 3;
      }
    }
    out += number;
    i = j;
  }
  s = out;
  const size_t comma = s.find(',');
  if (comma != std::string::npos && comma > 0 && s.find(',', comma + 1) == std::string::npos &&
      all_digits(std::string_view(s).substr(0, comma)) && s.size() - comma - 1 == 2 &&
      all_digits(std::string_view(s).substr(comma + 1)))
    s[comma] = '.';
}

// 2\frac{1}{2} -> (2+\frac{1}{2}) when an integer precedes a fraction of integers, directly or after spaces
// ("137 \frac{1}{2}", a MATH500 gold: LaTeX sets it as the same mixed number; read as a product it had
// equalled 68.5, and 28 of 800 Qwen answers written so were graded wrong: a breaker).
void fix_mixed_numbers(std::string& s) {
  size_t p = 0;
  while ((p = s.find("\\frac{", p)) != std::string::npos) {
    size_t digits_end = p;
    while (digits_end > 0 && s[digits_end - 1] == ' ') --digits_end;
    size_t b = digits_end;
    while (b > 0 && is_ascii_digit(s[b - 1])) --b;
    const size_t num_close = closing_brace(s, p + 5);
    if (b == digits_end || (b > 0 && (is_ascii_alpha(s[b - 1]) || s[b - 1] == '.' || s[b - 1] == '}' || s[b - 1] == '^')) ||
        num_close == std::string::npos || num_close + 1 >= s.size() || s[num_close + 1] != '{') {
      p += 6;
      continue;
    }
    const size_t den_close = closing_brace(s, num_close + 1);
    if (den_close == std::string::npos || !all_digits(std::string_view(s).substr(p + 6, num_close - p - 6)) ||
        !all_digits(std::string_view(s).substr(num_close + 2, den_close - num_close - 2))) {
      p += 6;
      continue;
    }
    const std::string whole = s.substr(b, digits_end - b), fraction = s.substr(p, den_close + 1 - p);
    s = s.substr(0, b) + "(" + whole + "+" + fraction + ")" + s.substr(den_close + 1);
    p = b + whole.size() + fraction.size() + 3;
  }
}

// "2 1/2" -> (2+1/2): a whole number, spaces, and a proper fraction of integers, written in plain text, is
// the mixed number it reads as ("1 1/2 cups"); as a product it had equalled 0.5 (a breaker). Not where a
// number or a letter runs into either end ("x 1/2", "1 1/2x", "1.5 1/2", "1,000 1/2"), nor "10 000/3" (a
// numerator with a leading 0 continues a number split by a space).
void fix_plain_mixed_numbers(std::string& s) {
  const auto digits_from = [&](size_t i) {
    while (i < s.size() && is_ascii_digit(s[i])) ++i;
    return i;
  };
  for (size_t i = 0; i < s.size(); ++i) {
    if (!is_ascii_digit(s[i]) || (i > 0 && (detail::is_ascii_alnum(s[i - 1]) || s[i - 1] == '.' || s[i - 1] == '}' ||
                                            s[i - 1] == '^' || s[i - 1] == '/' || s[i - 1] == '\\' ||
                                            (s[i - 1] == ',' && i >= 2 && is_ascii_digit(s[i - 2])))))
      continue;
    const size_t whole_end = digits_from(i);
    size_t num = whole_end;
    while (num < s.size() && s[num] == ' ') ++num;
    const size_t num_end = digits_from(num);
    if (num == whole_end || num_end == num || s[num] == '0' || num_end >= s.size() || s[num_end] != '/') {
      i = whole_end - 1;
      continue;
    }
    const size_t den_end = digits_from(num_end + 1);
    const bool ends = den_end == s.size() || !(detail::is_ascii_alnum(s[den_end]) || s[den_end] == '.' ||
                                               s[den_end] == '^' || s[den_end] == '\\' || s[den_end] == '{');
    const std::string numerator = s.substr(num, num_end - num), denominator = s.substr(num_end + 1, den_end - num_end - 1);
    const bool proper = !denominator.empty() && denominator[0] != '0' && detail::digits_less(numerator, denominator);
    if (!ends || !proper) {
      i = whole_end - 1;
      continue;
    }
    const std::string mixed = "(" + s.substr(i, whole_end - i) + "+" + numerator + "/" + denominator + ")";
    s.replace(i, den_end - i, mixed);
    i += mixed.size() - 1;
  }
}

// "2, 3, and 5", "6 and 8", "(1,2) or (2,1)": the words join list items.
void replace_words_with_commas(std::string& s) {
  replace_all(s, ", and ", ", ");
  replace_all(s, ",and ", ", ");
  replace_all(s, ",  , ", ", ");
  replace_all(s, ", , ", ", ");
  replace_all(s, ", ,", ", ");
  for (std::string_view word : {"and", "or"}) {
    size_t p = 0;
    while ((p = s.find(word, p)) != std::string::npos) {
      const size_t e = p + word.size();
      const bool left_ok = p == 0 || !is_ascii_alpha(s[p - 1]) || s[p - 1] == ' ';
      const bool right_ok = e == s.size() || !is_ascii_alpha(s[e]);
      if (left_ok && right_ok && (p == 0 || s[p - 1] != '\\') && p > 0 && e < s.size()) {
        s.replace(p, word.size(), " , ");
        p += 3;
      } else {
        p = e;
      }
    }
  }
}

}  // namespace

// "\\boxed{X}" and "\\fbox{X}" as X: a box marks an answer, it is not part of it (nested braces kept;
// an unbalanced box is left as it is).
static void unwrap_boxes(std::string& s) {
  for (std::string_view cmd : {"\\boxed{", "\\fbox{"}) {
    size_t at;
    while ((at = s.find(cmd)) != std::string::npos) {
      const size_t open = at + cmd.size() - 1;
      int depth = 0;
      size_t close = std::string::npos;
      for (size_t i = open; i < s.size(); ++i) {
        if (s[i] == '{') ++depth;
        if (s[i] == '}' && --depth == 0) {
          close = i;
          break;
        }
      }
      if (close == std::string::npos) break;
      s = s.substr(0, at) + s.substr(open + 1, close - open - 1) + s.substr(close + 1);
    }
  }
}

// A repeating decimal, "0.\overline{3}", "0.\bar{3}", "1.1\overline{6}" or "0.\dot{3}" (one repeating digit), as the exact
// fraction it is, "\frac{3-0}{9}": A.B\overline{C} is (ABC - AB) / (9...9 0...0), n nines for C's n digits
// and m zeros for B's m; the parser's exact integers do the arithmetic. It had parsed as 0 times a bar.
static void repeating_decimals(std::string& s) {
  for (std::string_view mark : {"\\overline", "\\dot", "\\bar"}) {
    for (size_t at = s.find(mark); at != std::string::npos; at = s.find(mark, at + 1)) {
      size_t c0 = at + mark.size(), c1;   // the repeating digits are s[c0, c1)
      const bool braced = c0 < s.size() && s[c0] == '{';
      if (braced) {
        c1 = s.find('}', c0);
        if (c1 == std::string::npos) break;
        ++c0;
      } else {
        c1 = c0 + 1;   // \overline3: one digit
      }
      if (c1 > s.size() || c1 == c0 || c1 - c0 > 400) continue;
      const std::string repeating = s.substr(c0, c1 - c0);
      if (!std::all_of(repeating.begin(), repeating.end(), [](char c) { return is_ascii_digit(c); })) continue;
      if (mark == "\\dot" && repeating.size() != 1) continue;
      // the decimal before the mark: digits, a point, digits (the integer part may be empty: ".\overline{3}")
      size_t b = at;
      while (b > 0 && is_ascii_digit(s[b - 1])) --b;
      if (b == 0 || s[b - 1] != '.') continue;
      const std::string fraction_digits = s.substr(b, at - b);
      size_t a = b - 1;
      while (a > 0 && is_ascii_digit(s[a - 1])) --a;
      if (a > 0 && (is_ascii_alpha(s[a - 1]) || s[a - 1] == '.' || s[a - 1] == '_' || s[a - 1] == '^'))
        continue;   // not a number of its own ("x_1.\\overline{3}")
      const std::string integer_digits = s.substr(a, b - 1 - a);
      const std::string prefix = (integer_digits.empty() ? "0" : integer_digits) + fraction_digits;
      const std::string denominator =
          std::string(repeating.size(), '9') + std::string(fraction_digits.size(), '0');
      const std::string fraction = "\\frac{" + prefix + repeating + "-" + prefix + "}{" + denominator + "}";
      s.replace(a, c1 + (braced ? 1 : 0) - a, fraction);
      at = a + fraction.size() - 1;
    }
  }
}

// Percent signs. A trailing one is the answer's unit, dropped: "50\%" is 50 (and 0.5 under the percent
// option). One inside a product ("50\%x", "5\% \cdot 200", "20\%(x+1)") is a factor of 1/100: dropped too,
// "50\%x" had equalled 50x and "5\% \cdot 200" 1000. So an answer with one inside a product is also
// normalized with every percent sign a factor (Normalized::percent_factors), and compared in that form
// with the other answer's: "25\%" then equals "50\% \cdot \frac{1}{2}", and "x \cdot 50\%" "50\% x".
// Inside means followed by a one-letter variable, a bracket, or a product's command or sign; a word ("50\%
// chance") is not.
enum class PercentFollower { End, Operand, Operator };

static PercentFollower percent_follower(const std::string& s, size_t next) {
  static constexpr std::string_view kOperators[] = {"cdot", "times", "div"};
  static constexpr std::string_view kOperands[] = {"frac", "sqrt", "pi"};
  while (next < s.size() && s[next] == ' ') ++next;
  if (next >= s.size()) return PercentFollower::End;
  if (s[next] == '*' || s[next] == '/') return PercentFollower::Operator;
  if (s[next] == '(' || (is_ascii_alpha(s[next]) && (next + 1 == s.size() || !is_ascii_alpha(s[next + 1]))))
    return PercentFollower::Operand;
  if (s[next] == '\\') {
    size_t end = next + 1;
    while (end < s.size() && is_ascii_alpha(s[end])) ++end;
    const std::string_view command = std::string_view(s).substr(next + 1, end - next - 1);
    for (std::string_view c : kOperators)
      if (command == c) return PercentFollower::Operator;
    for (std::string_view c : kOperands)
      if (command == c) return PercentFollower::Operand;
  }
  return PercentFollower::End;
}

// Calls f(at, sign length, follower) for each percent sign ("\%", or a bare "%") of s, left to right; f may
// replace the sign and returns where to search on.
template <class F>
static void for_each_percent(std::string& s, F&& f) {
  for (size_t at = 0; at < s.size(); ++at) {
    size_t length = 0;
    if (s[at] == '\\' && at + 1 < s.size() && s[at + 1] == '%') length = 2;
    else if (s[at] == '%') length = 1;
    if (length == 0) continue;
    at = f(at, length, percent_follower(s, at + length));
  }
}

static bool has_percent_inside_product(std::string s) {
  bool inside = false;
  for_each_percent(s, [&](size_t at, size_t length, PercentFollower follower) {
    inside |= follower != PercentFollower::End;
    return at + length - 1;
  });
  return inside;
}

// Every percent sign as a factor of 1/100, trailing ones too. After a number it binds to that number, as a
// postfix sign does: "25\% \div 5\%" is "\frac{25}{100} \div \frac{5}{100}", 5 (read as a factor it
// was 0.0005).
// A thousands separator ("1,000\%", "1{,}000\%", "2 500\%") is part of the number: only "000" had become
// the factor. Inside brackets a plain comma separates items, as fix_number_separators reads it ("(5,100\% x)"
// is a pair). A number after "^" or "_" is an exponent or an index, not what the sign binds to ("10^2\%" is
// 1). The bracket depth is counted as the signs are met, left to right (a count from the start at each sign
// had made 16 KiB of percent signs take 35 s: a reviewer); the factors put in hold no bracket.
static void percents_as_factors(std::string& s) {
  size_t scanned = 0;
  int depth = 0;   // open ( [ \{ before `scanned`
  for_each_percent(s, [&](size_t at, size_t length, PercentFollower follower) {
    for (; scanned < at; ++scanned) {
      if (s[scanned] == '(' || s[scanned] == '[' || s.compare(scanned, 2, "\\{") == 0) ++depth;
      if ((s[scanned] == ')' || s[scanned] == ']' || s.compare(scanned, 2, "\\}") == 0) && depth > 0) --depth;
    }
    size_t number = at;
    for (;;) {
      if (number > 0 && (is_ascii_digit(s[number - 1]) || s[number - 1] == '.')) {
        --number;
        continue;
      }
      const bool comma = depth == 0 && number >= 1 && s[number - 1] == ',';
      const size_t separator = number >= 3 && s.compare(number - 3, 3, "{,}") == 0 ? 3
                               : number >= 1 && (comma || s[number - 1] == ' ')  ? 1
                                                                                  : 0;
      if (separator == 0 || number < separator + 1 || !is_ascii_digit(s[number - separator - 1]) || number + 3 > at ||
          !all_digits(std::string_view(s).substr(number, 3)) || (number + 3 < at && is_ascii_digit(s[number + 3])))
        break;
      number -= separator;
    }
    const bool after_number = number < at && is_ascii_digit(s[number]) &&
                              (number == 0 || (!is_ascii_alpha(s[number - 1]) && s[number - 1] != '^' && s[number - 1] != '_'));
    const std::string then = follower == PercentFollower::Operand ? "\\cdot " : "";
    const size_t begin = after_number ? number : at;
    const std::string factor = after_number ? "\\frac{" + s.substr(number, at - number) + "}{100}" + then
                                            : "\\cdot\\frac{1}{100}" + then;
    s.replace(begin, at + length - begin, factor);
    scanned = begin + factor.size();   // [begin, at) held digits and separators only: the depth stands
    return begin + factor.size() - 1;
  });
}

// The reals without one value, "\mathbb{R} \setminus \{0\}" (the reals already written (-\infty,\infty)):
// the union (-\infty,0)\cup(0,\infty), a domain's usual answer (it had parsed as nothing: a breaker).
static void reals_without_one_value(std::string& s) {
  std::string compact;
  for (char c : s)
    if (c != ' ') compact += c;
  for (std::string_view minus : {"\\setminus", "\\backslash", "-"}) {
    const std::string head = "(-\\infty,\\infty)" + std::string(minus) + "\\{";
    if (compact.size() <= head.size() + 2 || compact.compare(0, head.size(), head) != 0 ||
        compact.compare(compact.size() - 2, 2, "\\}") != 0)
      continue;
    const std::string value = compact.substr(head.size(), compact.size() - head.size() - 2);
    // several values, or a set inside: left as written
    if (value.find(',') != std::string::npos || value.find("\\{") != std::string::npos ||
        value.find("\\}") != std::string::npos)
      return;
    s = "(-\\infty," + value + ")\\cup(" + value + ",\\infty)";
    return;
  }
}

// A function's value or formula named by its argument: "f(2)", "f^{-1}(x)", "g'(x)", "P(A)" (a letter, an
// inverse's ^{-1} or primes, one parenthesized argument: no parentheses, '=' or sum). "f(2) = 5" answers 5,
// "f^{-1}(x) = \frac{x-3}{2}" that formula (they had been equations, a multiple and a power of f by its
// argument, and no name: a breaker).
static bool is_function_value(std::string_view lhs) {
  if (lhs.size() < 4 || !is_ascii_alpha(lhs[0])) return false;
  size_t i = 1;
  if (lhs.compare(i, 5, "^{-1}") == 0) i += 5;
  while (i < lhs.size() && lhs[i] == '\'') ++i;
  if (i >= lhs.size() || lhs[i] != '(' || lhs.back() != ')' || i + 2 >= lhs.size()) return false;
  // An argument without a sum or the name's own letter: "x(x-1) = 0", "k(k+1) = 12" and "a(b+c)" are
  // products (they had been read as values named x(x-1): a reviewer)
  const std::string_view argument = lhs.substr(i + 1, lhs.size() - i - 2);
  return argument.find_first_of("()=+") == std::string_view::npos && argument.find('-', 1) == std::string_view::npos &&
         argument.find(lhs[0]) == std::string_view::npos;
}

static Normalized normalize_with(std::string_view answer, bool percent_factors) {
  Normalized out;
  // An answer too long to normalize is kept whole, compared as text: it had been cut to its first 16 KiB,
  // so two that differed after them were equal (and a box past them lost).
  if (answer.size() > kMaxAnswerBytes * 4) {
    out.text = std::string(answer);
    return out;
  }
  std::string s(answer);
  // Unicode spaces: no-break, thin, narrow no-break and figure spaces as spaces ("1 000" with a thin space is
  // 1000), zero-width ones and a byte-order mark dropped. They had stayed bytes of the answer (a breaker).
  if (s.find('\xC2') != std::string::npos || s.find('\xE2') != std::string::npos || s.find('\xEF') != std::string::npos) {
    for (std::string_view space : {"\xC2\xA0", "\xE2\x80\x89", "\xE2\x80\xAF", "\xE2\x80\x87", "\xE2\x80\x88"})
      replace_all(s, space, " ");
    for (std::string_view none : {"\xE2\x80\x8B", "\xE2\x80\x8C", "\xE2\x80\x8D", "\xEF\xBB\xBF"}) replace_all(s, none, "");
  }
  unwrap_boxes(s);
  for (std::string_view d : {"\\(", "\\)", "\\[", "\\]", "$"}) {
    if (d == "$") {
      std::string t;
      for (size_t i = 0; i < s.size(); ++i)
        if (s[i] != '$' || (i > 0 && s[i - 1] == '\\')) t += s[i];
      s = t;
    } else {
      replace_all(s, d, " ");
    }
  }
  replace_all(s, "\n", " ");
  // An escaped backslash before a command ("\\\\frac", from JSON-escaped LaTeX) is the command itself.
  for (size_t i = 0; i + 2 < s.size(); ++i)
    if (s[i] == '\\' && s[i + 1] == '\\' && is_ascii_alpha(s[i + 2]) && (i == 0 || s[i - 1] != '\\')) s.erase(i, 1);
  for (std::string_view cmd : {"\\qquad", "\\quad"}) replace_all(s, cmd, " ");
  // "32,\\! 349": a thousands separator written with negative space
  for (std::string_view sep : {",\\! ", ",\\!"}) replace_all(s, sep, ",");
  replace_all(s, "{, }", "{,}");
  replace_all(s, " {,}", "{,}");
  for (std::string_view cmd : {"\\left", "\\right", "\\displaystyle", "\\bigl", "\\bigr", "\\Bigl", "\\Bigr",
                               "\\big", "\\Big", "\\!", "\\,", "\\;", "\\:", "\\ ", "~"})
    remove_command(s, cmd);
  replace_all(s, ">=", "\\ge ");
  replace_all(s, "<=", "\\le ");
  replace_all(s, "!=", "\\ne ");
  replace_all(s, "\\lt", "<");
  replace_all(s, "\\gt", ">");
  for (std::string_view f : {"\\dfrac", "\\tfrac", "\\cfrac"}) replace_all(s, f, "\\frac");
  strip_temperature_scales(s, out.temperature_scales);
  for (std::string_view mark : kDegreeMarks) replace_all(s, mark, "");
  if (percent_factors)
    percents_as_factors(s);
  else
    out.percent_inside = has_percent_inside_product(s);
  for (std::string_view p : {"\\%", "%"}) {
    if (s.find(p) != std::string::npos) out.had_percent = true;
    replace_all(s, p, "");
  }
  for (std::string_view c : {"\\$", "€", "£", "\\euro"}) replace_all(s, c, "");
  // A unit with its power goes ("15 cm²"); any other superscript is a power: "3x²" had been "3x" (the ²
  // was dropped everywhere: a breaker), and "½" a fraction (a mixed number "2½" as 2\frac{1}{2} is).
  // (only for a non-ASCII answer, which is rare: the others skip the scans)
  if (std::any_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) >= 0x80; })) {
    for (std::string_view unit : {"cm²", "mm²", "km²", "ft²", "m²", "cm³", "mm³", "ft³", "m³"})
      replace_all(s, unit, "");
    for (const auto& [glyph, latex] : {std::pair<std::string_view, std::string_view>{"²", "^2"}, {"³", "^3"},
                                       {"½", "\\frac{1}{2}"}, {"⅓", "\\frac{1}{3}"}, {"⅔", "\\frac{2}{3}"},
                                       {"¼", "\\frac{1}{4}"}, {"¾", "\\frac{3}{4}"}})
      replace_all(s, glyph, latex);
    // an en dash or a Unicode hyphen as the sign of the answer ("–6", "‐2"); between numbers it is a range
    // ("3–5" is not -2: a breaker; "3‐5" neither: a regression hunt)
    const size_t first = s.find_first_not_of(' ');
    for (std::string_view dash : {"–", "‐", "‑"})
      if (first != std::string::npos && s.compare(first, dash.size(), dash) == 0) s.replace(first, dash.size(), "-");
  }
  for (std::string_view reals : {"\\mathbb{R}", "\\mathbb R"}) replace_all(s, reals, "(-\\infty,\\infty)");   // the reals
  reals_without_one_value(s);
  replace_all(s, "\\emptyset", "\\{\\}");
  replace_all(s, "\\varnothing", "\\{\\}");
  replace_all(s, "\\infinity", "\\infty");
  // \leqslant and \leqq (Qwen and DeepSeek write them) before \leq, which would leave "\leslant" (a breaker)
  for (std::string_view le : {"\\leqslant", "\\leqq", "\\leq"}) replace_all(s, le, "\\le");
  for (std::string_view ge : {"\\geqslant", "\\geqq", "\\geq"}) replace_all(s, ge, "\\ge");
  replace_all(s, "\\neq", "\\ne");
  // other names of the same symbols
  for (const auto& [name, same] : {std::pair<std::string_view, std::string_view>{"\\lbrace", "\\{"}, {"\\rbrace", "\\}"},
                                   {"\\varphi", "\\phi"}, {"\\vartheta", "\\theta"}, {"\\varepsilon", "\\epsilon"}})
    replace_all(s, name, same);
  strip_text_commands(s);
  s = trim(s);
  // A value stated approximately, "\approx 5", is the value (Math-Verify's too; it had been no number)
  if (s.rfind("\\approx", 0) == 0 && !(s.size() > 7 && detail::is_ascii_alpha(s[7]))) s = trim(s.substr(7));
  numbers_in_words(s);   // before the words become commas: "three hundred and two"
  replace_words_with_commas(s);
  s = trim(s);
  strip_trailing_words(s);
  // trailing punctuation
  while (!s.empty() && (s.back() == '.' || s.back() == ' ' || s.back() == ';')) s.pop_back();
  while (!s.empty() && s.front() == ' ') s.erase(0, 1);
  unbrace_number_bases(s);
  over_as_frac(s);
  brace_short_arguments(s);   // before the separators: "\\frac12,345" is a list, not \frac{1}{2}12345
  fix_plain_mixed_numbers(s);   // before the separators: "1 234/567" is no thousands
  fix_number_separators(s);   // before: "1,000.\\overline{3}" and "1,000 \\frac{1}{2}" are numbers of their own
  repeating_decimals(s);
  fix_mixed_numbers(s);
  // "x = 5" (one '=' and a short left side) -> "5"
  const size_t eq = s.find('=');
  if (eq != std::string::npos && s.find('=', eq + 1) == std::string::npos && s.find(',') == std::string::npos) {
    const std::string lhs = trim(s.substr(0, eq));
    const std::string rhs = trim(s.substr(eq + 1));
    bool rhs_has_variables = false;  // "y = -x/2 + 3/4" is a relation between variables: keep it
    for (size_t i = 0; i < rhs.size(); ++i) {
      if (rhs[i] == '\\') {
        while (i + 1 < rhs.size() && is_ascii_alpha(rhs[i + 1])) ++i;
      } else if (is_ascii_alpha(rhs[i])) {
        rhs_has_variables = true;
      }
    }
    if ((!lhs.empty() && lhs.size() <= 2 && is_ascii_alpha(lhs[0]) && !rhs_has_variables) ||
        (!rhs.empty() && is_function_value(lhs))) {
      out.label = lhs;
      s = rhs;
    }
  }
  // collapse spaces
  std::string collapsed;
  for (char c : s)
    if (c != ' ' || (!collapsed.empty() && collapsed.back() != ' ')) collapsed += c;
  out.text = trim(collapsed);
  return out;
}

Normalized normalize_answer(std::string_view answer) {
  Normalized out = normalize_with(answer, false);
  if (out.had_percent) out.percent_factors = normalize_with(answer, true).text;
  return out;
}

}  // namespace cotnpot::answer
