// The tokenizer of normalized answers: numbers, letters, LaTeX commands, single characters, matrix row
// separators.
#include "cotnpot/answer/detail/tokens.h"
#include "cotnpot/answer/detail/ascii.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace cotnpot::answer::detail {

namespace {
const char* const kWordCommands[] = {"sqrt", "sin", "cos", "tan", "log", "ln", "exp", "pi", "infty", "inf",
                                     "arcsin", "arccos", "arctan", "sec", "csc", "cot"};

}  // namespace

std::vector<Token> tokenize(std::string_view s, bool& ok) {
  std::vector<Token> out;
  ok = true;
  for (size_t i = 0; i < s.size();) {
    const char c = s[i];
    if (detail::is_ascii_space(c)) {
      ++i;
      continue;
    }
    if (is_ascii_digit(c) || (c == '.' && i + 1 < s.size() && is_ascii_digit(s[i + 1]))) {
      size_t j = i;
      bool dot = false;
      while (j < s.size() && (is_ascii_digit(s[j]) || (s[j] == '.' && !dot && j + 1 < s.size() && is_ascii_digit(s[j + 1])))) {
        dot |= s[j] == '.';
        ++j;
      }
      // Scientific notation as Python prints floats: "e", a sign and at least two digits (1e-05, 5e+17,
      // 1e+100; numpy the same), or Decimal's "E" and a sign (1E-7): the mantissa times 10 to the exponent, as
      // tokens, so it stays exact. Read as a letter, "1e-05" was 1*e - 5 (e being Euler's number), and a
      // program's 0.00001 equalled -2.28. Nothing looser: 2e+1, 3e2 and \frac{2e+1}{3} are Euler's e.
      size_t k = j;
      if (k + 1 < s.size() && (s[k] == 'e' || s[k] == 'E') && (s[k + 1] == '+' || s[k + 1] == '-')) {
        const size_t min_digits = s[k] == 'e' ? 2 : 1;
        const bool negative = s[k + 1] == '-';
        k += 2;
        size_t digits = k;
        while (digits < s.size() && is_ascii_digit(s[digits])) ++digits;
        if (digits >= k + min_digits && (digits == s.size() || !(is_ascii_alpha(s[digits]) || s[digits] == '.'))) {
          out.push_back({Tok::Char, "("});
          out.push_back({Tok::Number, std::string(s.substr(i, j - i))});
          out.push_back({Tok::Char, "*"});
          out.push_back({Tok::Number, "10"});
          out.push_back({Tok::Char, "^"});
          out.push_back({Tok::Char, "("});
          if (negative) out.push_back({Tok::Char, "-"});
          out.push_back({Tok::Number, std::string(s.substr(k, digits - k))});
          out.push_back({Tok::Char, ")"});
          out.push_back({Tok::Char, ")"});
          i = digits;
          continue;
        }
      }
      // Two numbers in a row are no product: "3 4" had equalled 12, and the list "1 2 3" 6 (a breaker); but a
      // subscript's number is a base's, "\\log_2 8", and an exponent's ends a factor, "2^3 3^2" (a reviewer)
      if (!out.empty() && out.back().type == Tok::Number &&
          !(out.size() >= 2 && out[out.size() - 2].type == Tok::Char &&
            (out[out.size() - 2].text == "_" || out[out.size() - 2].text == "^"))) {
        ok = false;
        return out;
      }
      out.push_back({Tok::Number, std::string(s.substr(i, j - i))});
      i = j;
      continue;
    }
    if (c == '*' && i + 1 < s.size() && s[i + 1] == '*') {   // Python's power, as programs print it (2**3)
      out.push_back({Tok::Char, "^"});
      i += 2;
      continue;
    }
    if (c == '\\') {
      if (i + 1 < s.size() && s[i + 1] == '\\') {
        out.push_back({Tok::RowSep, "\\\\"});
        i += 2;
        continue;
      }
      size_t j = i + 1;
      while (j < s.size() && is_ascii_alpha(s[j])) ++j;
      if (j == i + 1) {  // \{ \} \| and other escaped characters
        if (i + 1 < s.size()) out.push_back({Tok::Command, std::string(s.substr(i, 2))});
        i += 2;
        continue;
      }
      out.push_back({Tok::Command, std::string(s.substr(i, j - i))});
      i = j;
      continue;
    }
    if (is_ascii_alpha(c)) {
      size_t j = i;
      while (j < s.size() && is_ascii_alpha(s[j])) ++j;
      const std::string word(s.substr(i, j - i));
      bool known = false;
      for (const char* w : kWordCommands) known |= word == w;
      if (known) {
        out.push_back({Tok::Command, "\\" + word});
      } else {
        for (char l : word) out.push_back({Tok::Letter, std::string(1, l)});
      }
      i = j;
      continue;
    }
    // A few UTF-8 symbols that answers use.
    static const std::pair<std::string_view, std::string_view> kUnicode[] = {
        {"π", "\\pi"}, {"√", "\\sqrt"}, {"∞", "\\infty"}, {"×", "*"}, {"·", "*"}, {"−", "-"}, {"÷", "/"},
        {"≤", "\\le"}, {"≥", "\\ge"}, {"±", "\\pm"}, {"∪", "\\cup"}, {"≠", "\\ne"}, {"⋅", "*"}, {"∙", "*"},
        {"α", "\\alpha"}, {"β", "\\beta"}, {"γ", "\\gamma"}, {"δ", "\\delta"},
        {"θ", "\\theta"}, {"λ", "\\lambda"}, {"σ", "\\sigma"}, {"φ", "\\phi"}, {"ω", "\\omega"}};
    bool matched = false;
    for (const auto& [u, cmd] : kUnicode) {
      if (s.compare(i, u.size(), u) == 0) {
        out.push_back({cmd[0] == '\\' ? Tok::Command : Tok::Char, std::string(cmd)});
        i += u.size();
        matched = true;
        break;
      }
    }
    if (matched) continue;
    if (std::string_view("+-*/^_()[]{},=<>!|;:'&").find(c) != std::string_view::npos) {
      out.push_back({Tok::Char, std::string(1, c)});
      ++i;
      continue;
    }
    ok = false;  // a character no math answer uses: leave it to string comparison
    return out;
  }
  out.push_back({Tok::End, ""});
  return out;
}

}  // namespace cotnpot::answer::detail
