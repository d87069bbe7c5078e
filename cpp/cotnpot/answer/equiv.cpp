#include "cotnpot/answer/equiv.h"

#include <algorithm>
#include <atomic>
#include <exception>
#include <memory>
#include <mutex>
#include <numeric>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>

#include "cotnpot/answer/detail/ascii.h"
#include "cotnpot/answer/detail/comparer.h"
#include "cotnpot/answer/detail/text_scan.h"
#include "cotnpot/answer/expr.h"
#include "cotnpot/answer/extract.h"
#include "cotnpot/answer/limits.h"
#include "cotnpot/answer/normalize.h"

namespace cotnpot::answer {
namespace {

// An answer normalized and parsed once, compared many times (voting compares each with many others).
struct Prepared {
  std::string text;
  bool percent = false;
  std::optional<Node> node;
  std::string label;   // "x" of "x = 3", which normalizing removed (text "3")
  bool percent_inside = false;   // and the form with percent signs as factors (normalize.h)
  std::string percent_factors;
  std::string temperature_scales;   // "C" of "30 °C", "CF" of "30 °C, 40 °F": normalizing removed them
  bool written_as_words = false;    // the whole answer is text of letters: "\\text{no}" (written_as_words)
};

// Whether the whole answer is a text command holding letters and spaces only, two letters or more
// ("\\text{no}", "$\\textbf{odd}$"): words, which no reading as a product of names may reorder (normalizing
// drops the command, and "no" had equalled "\\text{on}", "odd" "\\text{dod}": a breaker).
bool written_as_words(std::string_view answer) {
  while (!answer.empty() && (detail::is_ascii_space(answer.front()) || answer.front() == '$')) answer.remove_prefix(1);
  while (!answer.empty() && (detail::is_ascii_space(answer.back()) || answer.back() == '$' || answer.back() == '.'))
    answer.remove_suffix(1);
  // The text commands the normalizer unwraps (normalize.cpp: strip_text_commands), a space before the brace too
  for (std::string_view cmd : {"\\textnormal", "\\textbf", "\\textrm", "\\textit", "\\text", "\\mbox",
                               "\\mathrm", "\\mathbf"}) {
    if (answer.substr(0, cmd.size()) != cmd) continue;
    size_t open = cmd.size();
    while (open < answer.size() && answer[open] == ' ') ++open;
    if (open >= answer.size() || answer[open] != '{' || answer.back() != '}') return false;
    const std::string_view content = answer.substr(open + 1, answer.size() - open - 2);
    size_t letters = 0;
    for (char c : content) {
      if (detail::is_ascii_alpha(c)) ++letters;
      else if (!detail::is_ascii_space(c)) return false;
    }
    return letters >= 2;
  }
  return false;
}

Prepared prepare(std::string_view answer, Budget& budget) {
  Normalized n = normalize_answer(answer);
  Prepared p{std::move(n.text), n.had_percent, std::nullopt, std::move(n.label), n.percent_inside,
             std::move(n.percent_factors), std::move(n.temperature_scales), written_as_words(answer)};
  p.node = parse_answer(p.text, budget);
  return p;
}

// The answer with its percent signs as factors of 1/100; itself where it has none.
Prepared with_percent_factors(const Prepared& p, Budget& budget) {
  if (p.percent_factors.empty()) return p;
  Prepared q{p.percent_factors, false, std::nullopt, "", false, "", p.temperature_scales, p.written_as_words};
  q.node = parse_answer(q.text, budget);
  return q;
}

std::string squeeze_lower(std::string_view s) {
  std::string out;
  for (char c : s)
    if (!detail::is_ascii_space(c)) out += detail::lowercase(c);
  return out;
}

// Words and letters, which compare without case: choices ("A, C", "(B)"), names, "North-East", "Sunday!".
// Not math: no digit, operator, command or subscript, a hyphen only inside a word of two letters or more
// ("R-r" is a difference), and no lone letter in both cases (in "(R, r)" they are two names).
bool words_only(std::string_view text) {
  const auto letters_from = [&](size_t from, int step) {   // the run of letters from `from` on, one way
    int n = 0;
    for (long j = long(from); j >= 0 && j < long(text.size()) && detail::is_ascii_alpha(text[j]);
         j += step)
      ++n;
    return n;
  };
  bool lower[26] = {}, upper[26] = {};   // lone letters seen
  for (size_t i = 0; i < text.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (detail::is_ascii_digit(text[i]) || std::string_view("+*/^=<>_{}\\|").find(text[i]) != std::string_view::npos) return false;
    if (c == '-' && (i == 0 || letters_from(i - 1, -1) < 2 || letters_from(i + 1, 1) < 2)) return false;
    const bool starts_run = detail::is_ascii_alpha(text[i]) && (i == 0 || !detail::is_ascii_alpha(text[i - 1]));
    const int run = starts_run ? letters_from(i, 1) : 0;
    // A word is lowercase, uppercase or capitalized: "xY" and "Xy" are products of two names (a breaker)
    if (run > 1) {
      const std::string_view word = text.substr(i, run);
      const auto lower = [](char l) { return detail::is_ascii_lower(l); };
      const auto upper = [](char l) { return detail::is_ascii_upper(l); };
      const bool lower_rest = std::all_of(word.begin() + 1, word.end(), lower);
      const bool upper_all = std::all_of(word.begin(), word.end(), upper);
      if (!lower_rest && !upper_all) return false;
    }
    // a letter right before a bracket is a function applied: P(A) is not P(a) (a breaker)
    if (run > 0 && i + run < text.size() && text[i + run] == '(') return false;
    const bool lone = run == 1;
    if (lone && detail::is_ascii_lower(text[i])) lower[c - 'a'] = true;   // ASCII: a locale's letter had indexed past 26
    if (lone && detail::is_ascii_upper(text[i])) upper[c - 'A'] = true;
  }
  for (int k = 0; k < 26; ++k)
    if (lower[k] && upper[k]) return false;
  return true;
}

// Whether text holds a word: a run of four or more lowercase letters, or a capitalized one of three or more
// ("Evelyn"). Where words_only holds, letters were compared as a product of names, so anagrams were equal:
// "listen" and "silent", "Evelyn" and "Evelny" (a breaker). Shorter runs stay products ("xy" is "yx"), as do
// runs of capitals (ABCD).
bool has_word(std::string_view text) {
  for (size_t i = 0; i < text.size();) {
    size_t j = i;
    while (j < text.size() && detail::is_ascii_alpha(text[j])) ++j;
    const std::string_view run = text.substr(i, j - i);
    const auto lower = [](char l) { return detail::is_ascii_lower(l); };
    if (!run.empty() && std::all_of(run.begin() + 1, run.end(), lower) &&
        (run.size() >= 4 || (run.size() >= 3 && detail::is_ascii_upper(run[0]))))
      return true;
    i = j > i ? j : i + 1;
  }
  return false;
}

// A name's letters, lowercased and sorted; nothing where it holds anything but letters.
std::optional<std::string> name_letters(std::string_view name) {
  std::string letters;
  for (char c : name) {
    if (!detail::is_ascii_alpha(c)) return std::nullopt;
    letters += detail::lowercase(c);
  }
  std::sort(letters.begin(), letters.end());
  return letters;
}

// The value a sum of distinct names is stated to have: 17 of "m + n = 17" (AIME's "find m + n"; Math-Verify
// takes it too). Only names added, each once, and a constant on the right: "a + 3z = 0" and "2x = 17" state
// no value of what was asked, nor does "m + \pi = 17" (\pi, e and i are constants, not names: a breaker);
// nullptr otherwise. Names compare without case, as labels do: "x + X = 17" is 2x = 17, no sum of names. The
// letters e and i are names among three or more other names ("a + b + c + d + e = 17" asks for five
// unknowns' sum; it had stated nothing), constants otherwise ("m + e = 17"); i is a name beside j too. A
// Greek letter's variant is the letter: "\phi + \varphi = 17" is 2\phi = 17.
const Node* stated_value_of_sum(const Node& n) {
  if (n.kind != Kind::Relation || n.name != "=" || n.kids.size() != 2 || n.kids[0].kind != Kind::Add) return nullptr;
  std::vector<std::string> names, constant;
  size_t constant_letters = 0;
  bool i_constant = false;
  for (const Node& term : n.kids[0].kids) {
    std::vector<std::string> variables;
    if (term.kind == Kind::Sym) collect_variables(term, variables);
    const bool letter_constant = term.kind == Kind::Sym && (term.name == "e" || term.name == "i");
    if (variables.size() != 1 && !letter_constant) return nullptr;
    std::string name = detail::lowercase(term.name);
    if (name.rfind("\\var", 0) == 0) name.erase(1, 3);   // \varphi is \phi written otherwise: one name
    if (std::find(names.begin(), names.end(), name) != names.end()) return nullptr;
    names.push_back(name);
    constant_letters += letter_constant;
    i_constant |= letter_constant && term.name == "i";
  }
  // With j among them, i is an index too ("i + j + k = 17"; it had stated nothing)
  if (i_constant && std::find(names.begin(), names.end(), "j") != names.end()) --constant_letters;
  collect_variables(n.kids[1], constant);
  const bool enough = names.size() >= 2 && names.size() - constant_letters >= (constant_letters ? 3 : 2);
  return enough && constant.empty() ? &n.kids[1] : nullptr;
}

// A text with its spaces removed: what two answers written alike but spaced otherwise share.
std::string without_spaces(std::string text) {
  text.erase(std::remove(text.begin(), text.end(), ' '), text.end());
  return text;
}

// A multiple-choice letter, A to E.
bool is_choice(char c) { return c >= 'A' && c <= 'E'; }

// A choice, "C" or "(C)": its letter; 0 where text is none.
char choice_letter(std::string_view text) {
  if (text.size() == 1 && is_choice(text[0])) return text[0];
  if (text.size() == 3 && text[0] == '(' && text[2] == ')' && is_choice(text[1])) return text[1];
  return 0;
}

// Whether text names a choice as a choice is written, "(D)", "D)" or "D.", starting the text or after a space
// and followed by a space or its end: the text of an option holds none. A letter in a function's argument,
// "\\sin(A)", "P(A)", is no choice (it had been: a reviewer).
bool names_a_choice(std::string_view text) {
  const auto starts_item = [&](size_t i) { return i == 0 || detail::is_ascii_space(text[i - 1]); };
  const auto ends_item = [&](size_t i) { return i >= text.size() || detail::is_ascii_space(text[i]); };
  // "(B) 12, not (C) 14" names C to rule it out (it had lost B its credit: a differential run)
  const auto ruled_out = [&](size_t at) {
    while (at > 0 && (detail::is_ascii_space(text[at - 1]) || text[at - 1] == ',')) --at;
    size_t begin = at;
    const std::string word = detail::word_before(text, at, begin);
    return word == "not" || word == "no";
  };
  // A bare letter standing alone as a word ("(C) or D", "(C) \\text{12 or D}"), and how many the text holds.
  const auto bare_letter = [&](size_t i) {
    return is_choice(text[i]) && (i == 0 || detail::is_ascii_space(text[i - 1])) &&
           !(i + 1 < text.size() && (detail::is_ascii_alnum(text[i + 1]) || text[i + 1] == '(' ||
                                     text[i + 1] == '_' || text[i + 1] == '^' || text[i + 1] == '\''));
  };
  size_t bare_letters = 0;
  for (size_t i = 0; i < text.size(); ++i) bare_letters += bare_letter(i);
  // The one bare letter of a text, after "or", "and" or a comma and at its end, offers another choice: "(C) or
  // D", "(C) 12 and D" had been credited against a gold C (a breaker). Not where the text names several ("(D) Both A and B",
  // "(C) A, B and C are collinear": points, or choices the option is about; a reviewer), nor a text that is a
  // letter alone ("(C) A", a point's name).
  const auto bare_alternative = [&](size_t i) {
    if (bare_letters != 1 || !bare_letter(i)) return false;
    // and it ends the text: a letter that goes on, "and A alone takes 20 days", "and E is the midpoint", is a
    // sentence's subject (a regression hunt)
    for (size_t k = i + 1; k < text.size(); ++k)
      if (!(detail::is_ascii_space(text[k]) || text[k] == '}' || text[k] == ')' || text[k] == '.' || text[k] == ','))
        return false;
    size_t at = i;
    while (at > 0 && detail::is_ascii_space(text[at - 1])) --at;
    if (at > 0 && text[at - 1] == ',') return true;   // the normalizer's comma for "or" and "and", or a list's
    size_t begin = at;
    const std::string word = detail::word_before(text, at, begin);
    return word == "or" || word == "and";
  };
  for (size_t i = 0; i < text.size(); ++i) {
    if (is_choice(text[i]) && bare_alternative(i)) return true;
    if (!is_choice(text[i]) || i + 1 >= text.size()) continue;
    if (i > 0 && text[i - 1] == '(' && text[i + 1] == ')' && starts_item(i - 1) && ends_item(i + 2) &&
        !ruled_out(i - 1))
      return true;
    if ((text[i + 1] == ')' || text[i + 1] == '.') && starts_item(i) && ends_item(i + 2) && !ruled_out(i))
      return true;
  }
  return false;
}

// The choice an answer opens with before the option's text, "(C) 12", "C) 12", "C. 12": its letter; 0 where
// none, and where what follows names another choice: "(A) or (B)" and "(C) 12, (D) 14" are two choices, not
// one with its text (each had been credited against a gold A or C: a breaker).
char leading_choice(std::string_view text) {
  char letter = 0;
  size_t rest = 0;
  if (text.size() > 4 && text[0] == '(' && text[2] == ')' && text[3] == ' ' && is_choice(text[1])) {
    letter = text[1], rest = 3;
  } else if (text.size() > 3 && (text[1] == ')' || text[1] == '.') && text[2] == ' ' && is_choice(text[0])) {
    letter = text[0], rest = 2;
  }
  return letter && !names_a_choice(text.substr(rest)) ? letter : 0;
}

// `peers`: two answers of equal standing (voting), not a gold and a prediction; see the sum rule below.
bool prepared_equal(const Prepared& g, const Prepared& p, const EquivOptions& options, Budget& budget,
                    bool peers = false) {
  // Temperatures in other scales: 30 °C is not 30 °F, nor "30 °C, 40 °F" "30 °F, 40 °C", nor 30 °C "30 °F + 0 °C"
  // (a breaker). Where one has no scale, it stays a value: 30 against 30 °C.
  if (!g.temperature_scales.empty() && !p.temperature_scales.empty()) {
    if (g.temperature_scales != p.temperature_scales) return false;
    // Two scales in one answer ("30 °C, 40 °F"): the scales are not tied to their numbers here, so such answers
    // are equal only written alike: "40 °C, 30 °F" had equalled it as a list without order (a reviewer).
    if (g.temperature_scales.find_first_not_of(g.temperature_scales[0]) != std::string::npos)
      return !g.text.empty() && without_spaces(g.text) == without_spaces(p.text);
  }
  // Both named, by other names: answers about different unknowns ("x = 2" and "y = 2", "AB = 5" and "CD = 5"
  // had been equal, the names dropped; Math-Verify tells them apart). Names of letters only, compared without
  // case or order: AB and BA are one segment, xy and yx one product (a reviewer), x and X one name for
  // Math-Verify too; x' or a1 against x or a decide nothing. One name against none stays a value.
  if (!g.label.empty() && !p.label.empty()) {
    const auto gold_name = name_letters(g.label), pred_name = name_letters(p.label);
    if (gold_name && pred_name && *gold_name != *pred_name) return false;
    // Values of other functions or at other arguments, "f(2) = 5" against "f(3) = 5" or "g(2) = 5", state
    // other facts (the names had decided nothing: a reviewer)
    if (g.label.find('(') != std::string::npos && p.label.find('(') != std::string::npos &&
        without_spaces(g.label) != without_spaces(p.label))
      return false;
  }
  // A percent sign inside a product on either side: both compared with every percent sign a factor
  if (g.percent_inside || p.percent_inside)
    return prepared_equal(with_percent_factors(g, budget), with_percent_factors(p, budget), options, budget, peers);
  if (g.text.empty() || p.text.empty()) return false;
  if (g.text == p.text) return true;
  if ((g.written_as_words || p.written_as_words) && words_only(g.text) && words_only(p.text))
    return squeeze_lower(g.text) == squeeze_lower(p.text);
  // A choice against that choice with its option's text, "(C)" and "(C) 12" (it had been false: a breaker)
  for (const auto& [choice, other] : {std::pair{&g, &p}, std::pair{&p, &g}})
    if (const char letter = choice_letter(choice->text))
      if (const char chosen = leading_choice(other->text)) return letter == chosen;
  if (words_only(g.text) && words_only(p.text) && (has_word(g.text) || has_word(p.text)))
    return squeeze_lower(g.text) == squeeze_lower(p.text);   // words, not a product of names
  if (g.node && p.node) {
    detail::Comparer comparer(options, budget);
    if (comparer.equal(*g.node, *p.node)) return true;
    // "x = 3" (normalized to "3") against an equation, "x - 3 = 0" or "3 = x": the two equations compared
    // (Math-Verify's semantics; the value 3 is no equation's value here, so it had been false)
    // The value must be the other equation's root, too: the equations' ratio is compared at sample points
    // within rel_tol, which a root far from them passes (n = 1500 had equalled 1.05n = 1575.5; a breaker).
    for (const auto& [named, other] : {std::pair{&g, &p}, std::pair{&p, &g}}) {
      if (named->label.empty() || other->node->kind != Kind::Relation) continue;
      if (auto equation = parse_answer(named->label + "=" + named->text, budget))
        if (comparer.equal(*equation, *other->node) && comparer.holds_at(*other->node, named->label, *named->node))
          return true;
    }
    // A gold 17 against the prediction "m + n = 17"; not against "x = 17" (a value of another name), nor
    // against an equation. One way only: a gold equation, "x + y + z = 0" (a plane), is not answered by its
    // constant, 0 (a breaker); between peers (votes), both ways.
    for (const auto& [value, other] : {std::pair{&g, &p}, std::pair{&p, &g}}) {
      if (value == &p && !peers) continue;
      if (!value->label.empty() || value->node->kind == Kind::Relation) continue;
      if (const Node* stated = stated_value_of_sum(*other->node); stated && comparer.equal(*value->node, *stated))
        return true;
    }
  }
  // Without case only for words and letters ("Evelyn" and "evelyn", choice "(C)" and "(c)"): in math, R and r
  // are two names (R - r had equalled r - R, \frac{M}{M+m} \frac{m}{M+m}, 3R^2 3r^2: a breaker).
  return words_only(g.text) && words_only(p.text) && squeeze_lower(g.text) == squeeze_lower(p.text);
}

// How many words of three or more letters text holds.
size_t long_words(std::string_view text) {
  size_t n = 0;
  for (size_t i = 0; i < text.size();) {
    size_t j = i;
    while (j < text.size() && detail::is_ascii_alpha(text[j])) ++j;
    n += j - i >= 3;
    i = j > i ? j : i + 1;
  }
  return n;
}

// A text that is itself an answer (no prose): "10/9", "x^2+1", "\frac{1}{2}". Prose has words; an
// environment's name ("\begin{pmatrix}") and a short text ("\frac{270}7\text{ degrees}", "\text{Evelyn}",
// "864 \mbox{ inches}^2") are none: such golds of MATH500 had gone to extraction, and their last number had
// been the answer (a breaker). Up to an answer's bound, kMaxAnswerBytes: a 339-byte polynomial and a
// 4x4 matrix had gone to extraction too, and a boxed 49, their last number, had been credited (a breaker).
bool looks_like_bare_answer(std::string_view text) {
  if (text.size() > kMaxAnswerBytes) return false;
  for (size_t i = 0; i < text.size(); ++i) {
    if (!detail::is_ascii_alpha(text[i])) continue;
    size_t j = i;
    while (j < text.size() && detail::is_ascii_alpha(text[j])) ++j;
    const bool command = i > 0 && text[i - 1] == '\\';
    if (command && j < text.size() && text[j] == '{') {
      const std::string_view name = text.substr(i, j - i);
      const size_t close = text.find('}', j);
      const bool environment = name == "begin" || name == "end";
      // A short text that is the whole answer ("\text{Evelyn}") or follows a value (a unit: "7\text{ degrees}");
      // not one before it ("\textbf{Answer:} 5", "\text{We have} 12": prose, left to extraction; a reviewer)
      size_t before = i - 1;
      while (before > 0 && text[before - 1] == ' ') --before;
      const bool whole = before == 0 && close != std::string_view::npos &&
                         text.find_first_not_of(' ', close + 1) == std::string_view::npos;
      const bool after_value = before > 0 && (detail::is_ascii_digit(text[before - 1]) || text[before - 1] == '}' ||
                                              text[before - 1] == ')');
      const bool short_text = (name == "text" || name == "mbox" || name == "textbf" || name == "mathrm" ||
                               name == "textrm") && (whole || after_value) && long_words(text.substr(j, close - j)) <= 2;
      if (close != std::string_view::npos && (environment || short_text)) {
        i = close;
        continue;
      }
    }
    if (!command && j - i >= 3) {
      const std::string_view word = text.substr(i, j - i);
      if (word != "sqrt" && word != "frac" && word != "sin" && word != "cos" && word != "tan" && word != "log" &&
          word != "exp" && word != "infty" && word != "pi")
        return false;
    }
    i = j;
  }
  return true;
}

// A text's answer: what an explicit marker (box, ####, "final answer", "the answer is", "A:") sets off;
// else the text itself when it is a bare answer; else what the weaker rules (math, last number) find.
std::string answer_of(std::string_view text) {
  Extraction e = extract_answer(text);
  const bool marked = e.rule == "boxed" || e.rule == "gsm8k" || e.rule == "final_answer" || e.rule == "answer_is" ||
                      e.rule == "a_line";
  if (!marked && looks_like_bare_answer(text)) return std::string(text);
  return std::move(e.answer);
}

}  // namespace

namespace {
bool is_equiv_counted(std::string_view gold, std::string_view pred, const EquivOptions& options, Budget& budget) {
  try {
    const Prepared g = prepare(gold, budget), p = prepare(pred, budget);
    return prepared_equal(g, p, options, budget);
  } catch (const std::exception&) {
    return false;  // e.g. std::bad_alloc on absurd input: an answer that cannot be graded is not equal
  }
}
}  // namespace

namespace {
// Bad options are the caller's error, not the answer's: they throw, where bad answers compare false.
void check_options(const char* op, const EquivOptions& options) {
  // NaN or inf (or a tolerance of 1 or more) would make "1" equal "2.5"; a negative one, nothing equal.
  if (!(options.rel_tol >= 0.0 && options.rel_tol < 1.0)) {
    std::ostringstream message;
    message << op << ": rel_tol must be in [0, 1), got " << options.rel_tol;
    throw std::invalid_argument(message.str());
  }
}
}  // namespace

bool is_equiv(std::string_view gold, std::string_view pred, const EquivOptions& options) {
  check_options("is_equiv", options);
  Budget budget;
  return is_equiv_counted(gold, pred, options, budget);
}

long grading_steps(std::string_view gold, std::string_view pred, const EquivOptions& options) {
  check_options("grading_steps", options);
  Budget budget;
  is_equiv_counted(gold, pred, options, budget);
  return budget.steps;
}

bool verify(std::string_view gold_text, std::string_view pred_text, const EquivOptions& options) {
  check_options("verify", options);
  try {
    return is_equiv(answer_of(gold_text), answer_of(pred_text), options);
  } catch (const std::exception&) {
    return false;
  }
}

namespace {
void throw_if_stopped(const std::atomic<bool>* stop, const char* function) {
  if (stop != nullptr && stop->load(std::memory_order_relaxed)) throw std::runtime_error(std::string(function) + ": stopped");
}

// body(i) for every i in [0, n), on parallel_for's threads where there is one, until the caller's stop is
// set. Nothing throws into parallel_for: the first exception (a stop, an allocation failure) is kept and
// rethrown here, on the caller's thread, once every range has returned; the other ranges end at their next
// index instead of grading to their end for nothing. A caller's own parallel_for over plain std::threads had
// ended the process in std::terminate when a stop was set, and one that caught the bodies' exceptions got its
// ungraded pairs back as 0, not equivalent (a breaker).
void for_each_index(int64_t n, const ParallelFor& parallel_for, const std::atomic<bool>* stop, const char* function,
                    const std::function<void(int64_t)>& body) {
  if (n == 0) return;
  std::mutex mutex;
  std::exception_ptr first;
  std::atomic<bool> failed{false};
  // which items the ranges covered, to see that parallel_for handed over each of [0, n) once (a count alone
  // took [0, n/2) twice for all of them: a reviewer)
  const std::unique_ptr<std::atomic<uint8_t>[]> handed(new std::atomic<uint8_t>[size_t(n)]());
  const auto range = [&](int64_t begin, int64_t end) {
    try {
      // A parallel_for that breaks its contract: a range past [0, n) had read and written out of bounds
      // (a crash), and one that never called the body returned 0 for every pair (a C++ user).
      if (begin < 0 || end > n || begin > end)
        throw std::out_of_range(std::string(function) + ": parallel_for called the body with [" + std::to_string(begin) +
                                ", " + std::to_string(end) + "), outside [0, " + std::to_string(n) + ")");
      for (int64_t i = begin; i < end; ++i)
        if (handed[size_t(i)].exchange(1, std::memory_order_relaxed) != 0)
          throw std::logic_error(std::string(function) + ": parallel_for handed the body item " + std::to_string(i) +
                                 " twice");
      for (int64_t i = begin; i < end && !failed.load(std::memory_order_relaxed); ++i) {
        throw_if_stopped(stop, function);
        body(i);
      }
    } catch (...) {
      const std::lock_guard<std::mutex> lock(mutex);
      if (!first) first = std::current_exception();
      failed.store(true, std::memory_order_relaxed);
    }
  };
  if (parallel_for) {
    parallel_for(n, range);
  } else {
    range(0, n);
  }
  if (first) std::rethrow_exception(first);
  for (int64_t i = 0; i < n; ++i)
    if (handed[size_t(i)].load(std::memory_order_relaxed) == 0)
      throw std::logic_error(std::string(function) + ": parallel_for never handed the body item " + std::to_string(i) +
                             " of [0, " + std::to_string(n) + ")");
}

}  // namespace

std::vector<uint8_t> grade_pairs(const std::vector<std::string>& golds, const std::vector<std::string>& preds,
                                 const EquivOptions& options, const ParallelFor& parallel_for,
                                 const std::atomic<bool>* stop) {
  if (golds.size() != preds.size()) {
    throw std::invalid_argument("grade: golds and preds must have the same length, got " +
                                std::to_string(golds.size()) + " and " + std::to_string(preds.size()));
  }
  check_options("grade", options);
  std::vector<uint8_t> out(golds.size());
  for_each_index(int64_t(golds.size()), parallel_for, stop, "grade",
                 [&](int64_t i) { out[i] = is_equiv(golds[i], preds[i], options); });
  return out;
}

namespace {

// What identifies a prepared answer whole: answers with the same key are one answer (\boxed{17} and 17).
std::string prepared_key(const Prepared& p) {
  std::string key = p.text;
  for (const std::string* part : {&p.label, &p.percent_factors, &p.temperature_scales}) key += '\0', key += *part;
  key += p.percent ? '%' : '-';
  key += p.percent_inside ? '%' : '-';
  return key;
}

// A bare value: no label ("x = 5") and no relation ("m + n = 17"). Such answers are hubs of the grader's
// equality, which is not transitive: 17 equals m+n=17 and p+q=17, which differ.
bool is_bare_value(const Prepared& p) { return p.label.empty() && !(p.node && p.node->kind == Kind::Relation); }

}  // namespace

std::vector<int64_t> answer_class_ids(const std::vector<std::string>& answers, const EquivOptions& options,
                                      const ParallelFor& parallel_for, const std::atomic<bool>* stop) {
  check_options("group_answers", options);
  // Each distinct answer prepared once; answers whose prepared forms are the same (their key) are one answer.
  std::unordered_map<std::string_view, size_t> distinct_of;
  std::vector<std::string_view> distinct;
  std::vector<size_t> answer_distinct(answers.size());
  for (size_t i = 0; i < answers.size(); ++i) {
    const auto [it, added] = distinct_of.try_emplace(answers[i], distinct.size());
    if (added) distinct.push_back(answers[i]);
    answer_distinct[i] = it->second;
  }
  std::vector<Prepared> prepared(distinct.size());
  for_each_index(int64_t(distinct.size()), parallel_for, stop, "group_answers", [&](int64_t d) {
    Budget budget;
    try {
      prepared[d] = prepare(distinct[d], budget);
    } catch (const std::exception&) {
      prepared[d] = Prepared{};
    }
  });
  std::unordered_map<std::string, size_t> form_of;
  std::vector<size_t> distinct_form(distinct.size()), form_first;   // a form's first distinct answer
  std::vector<std::string> form_key;
  std::vector<size_t> votes;
  for (size_t d = 0; d < distinct.size(); ++d) {
    std::string key = prepared_key(prepared[d]);
    const auto [it, added] = form_of.try_emplace(key, form_key.size());
    if (added) form_key.push_back(std::move(key)), form_first.push_back(d), votes.push_back(0);
    distinct_form[d] = it->second;
  }
  for (size_t i = 0; i < answers.size(); ++i) ++votes[distinct_form[answer_distinct[i]]];
  // The forms in an order that does not depend on the answers' order: a class is what equals its first member,
  // and the classes of one problem's answers had depended on which came first. Bare values first (a value
  // that m+n=17 and p+q=17 both state gathers both), then the most voted forms, ties by their key.
  std::vector<size_t> order(form_key.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    const bool va = is_bare_value(prepared[form_first[a]]), vb = is_bare_value(prepared[form_first[b]]);
    if (va != vb) return va;
    return votes[a] != votes[b] ? votes[a] > votes[b] : form_key[a] < form_key[b];
  });
  std::vector<int64_t> class_of(form_key.size(), -1);
  std::vector<size_t> representatives;  // the first member of each class (a form)
  // Each comparison has its budget, and the call one of kMaxSteps per form: n answers in up to n classes
  // would otherwise take n^2 / 2 full budgets (adversarial 4 KB answers: seconds for a dozen, minutes for 64;
  // found by a breaker). Once it is spent, the rest join a class only of their own form.
  long left = kMaxSteps * long(std::max<size_t>(form_key.size(), 1));
  // One answer against the classes so far, a block of them at a time on parallel_for's threads, each comparison
  // with a budget of its own; the verdicts are then taken in class order, as one thread would, so the classes
  // do not depend on the threads. Blocks double from kFirstBlock while nothing matches: what is compared past
  // a match or the budget's end, uncounted, is at most what was compared before it plus one first block
  // (adversarial answers stay bounded: at most twice the counted work and kFirstBlock comparisons an answer).
  constexpr size_t kFirstBlock = 16, kLastBlock = 1024;
  std::vector<uint8_t> equal;
  std::vector<long> steps;
  for (const size_t f : order) {
    throw_if_stopped(stop, "group_answers");
    const Prepared& answer = prepared[form_first[f]];
    if (answer.text.empty()) continue;
    size_t block = parallel_for ? kFirstBlock : 1;
    for (size_t first = 0; first < representatives.size() && class_of[f] < 0 && left > 0;
         first += block, block = parallel_for ? std::min(2 * block, kLastBlock) : 1) {
      const size_t n = std::min(block, representatives.size() - first);
      equal.assign(n, 0);
      steps.assign(n, 0);
      // stop checked per comparison: one answer against every class so far takes seconds, for many
      for_each_index(int64_t(n), n > 1 ? parallel_for : ParallelFor{}, stop, "group_answers", [&](int64_t k) {
        Budget budget;
        equal[k] = prepared_equal(prepared[form_first[representatives[first + k]]], answer, options, budget,
                                  /*peers=*/true);
        steps[k] = budget.steps;
      });
      for (size_t k = 0; k < n && class_of[f] < 0 && left > 0; ++k) {
        if (equal[k]) class_of[f] = int64_t(first + k);
        left -= steps[k];
      }
    }
    if (class_of[f] < 0) {
      class_of[f] = int64_t(representatives.size());
      representatives.push_back(f);
    }
  }
  // Numbered in order of first appearance among the answers.
  std::vector<int64_t> number(representatives.size(), -1), out(answers.size(), -1);
  int64_t next = 0;
  for (size_t i = 0; i < answers.size(); ++i) {
    const int64_t c = class_of[distinct_form[answer_distinct[i]]];
    if (c < 0) continue;
    if (number[c] < 0) number[c] = next++;
    out[i] = number[c];
  }
  return out;
}

}  // namespace cotnpot::answer
