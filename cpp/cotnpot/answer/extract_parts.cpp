// The parts of a stated answer: math spans and boxes, which of them make one answer (join_parts), and the
// words that deny a part or make it a bound. extract.cpp decides where the answer is; this file, what it is
// made of there.
#include "cotnpot/answer/detail/answer_parts.h"

#include <algorithm>
#include <unordered_set>
#include <utility>
#include <vector>

#include "cotnpot/answer/detail/ascii.h"
#include "cotnpot/answer/detail/text_scan.h"
#include "cotnpot/answer/equiv.h"

namespace cotnpot::answer::detail {
namespace {

// Functions written without a backslash ("$2 sin x cos x$"): math, not prose.
bool is_function_name(std::string_view w) {
  for (std::string_view f : {"sin", "cos", "tan", "sec", "csc", "cot", "log", "exp", "sqrt", "max", "min", "gcd",
                             "lcm", "mod", "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh"})
    if (w == f) return true;
  return false;
}

// Whether the text between two single $ is prose between two prices ("at $2 each, so she makes $18") rather
// than math: it begins with the first price's digits and crosses a line or holds two words of three or more
// letters outside braces and commands ("$cos x + sin x$" is math).
bool is_money_span(std::string_view content) {
  if (content.empty() || !is_ascii_digit(content[0])) return false;
  if (content.find('\n') != std::string_view::npos) return true;
  int words = 0, depth = 0;
  for (size_t i = 0; i < content.size(); ++i) {
    const char c = content[i];
    if (c == '{') ++depth;
    if (c == '}' && depth > 0) --depth;
    if (!is_ascii_alpha(c)) continue;
    size_t j = i;
    while (j < content.size() && is_ascii_alpha(content[j])) ++j;
    if (j - i >= 3 && depth == 0 && (i == 0 || content[i - 1] != '\\') && !is_function_name(content.substr(i, j - i)) &&
        ++words >= 2)
      return true;
    i = j - 1;
  }
  return false;
}

}  // namespace

// "not", "cannot", "never", "neither", "nor", or a word ending in "n't" ("isn't", "can't"; the typographic
// apostrophe too: "can’t" had not denied, a breaker).
bool is_negation(std::string_view word) {
  const std::string w = lowercase(word);
  const auto ends_with = [&](std::string_view tail) {
    return w.size() > tail.size() && w.compare(w.size() - tail.size(), tail.size(), tail) == 0;
  };
  return w == "not" || w == "cannot" || w == "never" || w == "neither" || w == "nor" || ends_with("n't") ||
         ends_with("n\xE2\x80\x99t");
}

// Whether the words right before s[at] deny what follows: a negation, then at most "be", "been", "equal",
// "to" or "exactly" ("cannot be 18", "is not equal to 18"), or "instead of", "rather than", "as opposed to"
// ("$16$ instead of $17$"): "The answer cannot be 18." had been 18, credited against a gold 18 (a breaker).
// Spaces and math openers ($, \(, \[) between are skipped ("not \(3\)" had left the 3 to the last-number
// rule: a breaker). A negation further back is some other phrase's: in "the sticks that are not used is
// \boxed{16}" or "who did not pass total 5" it is the subject's (a differential run on ToRA's outputs: the
// first had become no answer).
bool denied(std::string_view s, size_t at) {
  size_t i = at;
  std::string later;   // the word after the current one, read before it
  for (int words = 0; words < 4 && i > 0; ++words) {
    while (i > 0 && (is_ascii_space(s[i - 1]) || s[i - 1] == '$' ||
                     (i >= 2 && s[i - 2] == '\\' && (s[i - 1] == '(' || s[i - 1] == '['))))
      i -= (s[i - 1] == '(' || s[i - 1] == '[') ? 2 : 1;
    size_t begin = i;
    const std::string word = word_before(s, i, begin);
    if (begin == i) return false;   // punctuation or math: the sentence or the phrase ended
    i = begin;
    if (is_negation(word)) return true;
    if ((word == "instead" && later == "of") || (word == "rather" && later == "than") ||
        (word == "opposed" && later == "to"))
      return true;
    if (word != "be" && word != "been" && word != "equal" && word != "to" && word != "exactly" && word != "of" &&
        word != "than")
      return false;
    later = word;
  }
  return false;
}

// Whether the words right before s[at] make the answer there a strict bound, "more than 3", "greater than
// \\boxed{3}", "over $3$": such an answer excludes its number (credited, it had rewarded a hedge: a breaker and
// a reviewer). Not "at least" or "at most", nor a negated comparison ("cannot be less than $\\boxed{5}$"):
// those state the extreme value itself, as MATH500's solutions do ("at most $\\boxed{2}$"); keeping them whole
// in words had cost "The final answer is at least 25 cookies" its credit.
bool strictly_bounded(std::string_view s, size_t at) {
  size_t i = at, begin = at;
  while (i > 0 && (is_ascii_space(s[i - 1]) || s[i - 1] == '$')) --i;
  const std::string word = word_before(s, i, begin);
  if (word != "than" && word != "over" && word != "under" && word != "above" && word != "below" &&
      word != "exceeding")
    return false;
  for (int words = 0; words < 3; ++words) {   // "cannot be less than", "no more than", "not over"
    i = begin;
    while (i > 0 && is_ascii_space(s[i - 1])) --i;
    const std::string earlier = word_before(s, i, begin);
    if (begin == i) break;
    if (is_negation(earlier) || earlier == "no") return false;
  }
  return true;
}

namespace {

struct MathSpan {
  size_t begin, end;         // the delimiters' extent in the text
  std::string_view content;
};

// The $...$, $$...$$, \(...\) and \[...\] segments of s in the order they begin, none inside another; single
// $ paired left to right, skipping escaped \$ and $$, and none that is prose between two prices ("$2 each, so
// she makes $18" had been the answer: a breaker).
std::vector<MathSpan> math_spans(std::string_view s) {
  std::vector<MathSpan> spans;
  for (const auto& [open, close] : std::vector<std::pair<std::string_view, std::string_view>>{
           {"\\(", "\\)"}, {"\\[", "\\]"}, {"$$", "$$"}}) {
    size_t from = 0;
    while (true) {
      const size_t a = s.find(open, from);
      if (a == std::string_view::npos) break;
      const size_t b = s.find(close, a + open.size());
      if (b == std::string_view::npos) break;
      spans.push_back({a, b + close.size(), s.substr(a + open.size(), b - a - open.size())});
      from = b + close.size();
    }
  }
  std::vector<size_t> dollars;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '$' || (i > 0 && s[i - 1] == '\\')) continue;
    if (i + 1 < s.size() && s[i + 1] == '$') {
      ++i;
      continue;
    }
    dollars.push_back(i);
  }
  for (size_t k = 0; k + 1 < dollars.size(); k += 2)
    if (const std::string_view content = s.substr(dollars[k] + 1, dollars[k + 1] - dollars[k] - 1);
        !is_money_span(content))
      spans.push_back({dollars[k], dollars[k + 1] + 1, content});
  std::stable_sort(spans.begin(), spans.end(), [](const MathSpan& a, const MathSpan& b) { return a.begin < b.begin; });
  std::vector<MathSpan> outer;
  for (const MathSpan& span : spans)
    if (outer.empty() || span.begin >= outer.back().end) outer.push_back(span);
  return outer;
}

}  // namespace


namespace {

// How many pairs of an answer's parts extraction compares (is_equiv, each with its own step budget, the default
// options) to tell a restatement from a list: a text of a million parts stays linear.
constexpr int kComparedLinks = 4;
constexpr int kBoxGapWords = 4;

// What the words between two parts of an answer (boxes, math spans) make of them.
enum class PartLink {
  kList,          // a few words or none: one answer of several parts ("x = \\boxed{1}, y = \\boxed{2}", "$3$ and $4$")
  kFollows,       // the later follows from the earlier or restates it: the later alone
  kApproximates,  // the later is a rounded form of the earlier: the earlier, exact one in its place
  kRestatesIf,    // a leading "=", or "or": the later alone where the two are equal, else both (join_parts)
  kApart,         // more words than the limit: the later alone
};

// "so", "thus", "i.e.", an arrow of implication (anywhere; read lowercased, \\Rightarrow too; not "->", which also
// maps a name to its value, "x -> \\boxed{2}, y -> \\boxed{3}": a reviewer): the later part follows from the
// earlier or restates it ("\\boxed{18} dollars, i.e. \\boxed{\\$18}", "x = \\boxed{3}, so 2x+1 = \\boxed{7}" had
// been joined as the answers "18, \\$18" and "3, 7": a breaker); a gap that opens with "\\approx",
// "approximately" or "about" (after "or" too) gives a rounded form of the earlier ("\\boxed{\\sqrt{2}} \\approx
// \\boxed{1.414}" is \\sqrt{2}: the rounded form had failed against an exact gold, a breaker; anywhere in the
// gap, the word had made a box paragraphs back the answer: a reviewer); a leading "=" or an "or" restates only
// if the parts are equal. `word` comes lowercased (gap_link).
PartLink word_link(std::string word, bool first) {
  while (!word.empty() && (word.back() == '.' || word.back() == ':' || word.back() == ';')) word.pop_back();
  for (std::string_view w : {"so", "thus", "hence", "therefore", "i.e", "ie", "\\rightarrow", "\\implies",
                             "\\therefore", "equivalently", "\\longrightarrow", "=>"})
    if (word == w) return PartLink::kFollows;
  if (first && (word == "\\approx" || word == "\\equiv" || word == "approximately" || word == "approx" ||
                word == "roughly" || word == "about"))
    return PartLink::kApproximates;
  if ((first && word == "=") || word == "or") return PartLink::kRestatesIf;
  return PartLink::kList;
}

// The whole gap is read: a word that derives wins wherever it stands, then the distance (more than
// `max_words`; negative: no limit), then an approximation, then "=" or "or" (an "or" or a leading "=" had
// decided before the words after it were seen, joining "\\boxed{6} = 6 cookies, so ... = \\boxed{24}" as "6, 24":
// a reviewer).
PartLink gap_link(std::string_view gap, int max_words) {
  // One pass, each filler replaced by a space (a find-and-replace loop per filler rescanned the gap from its
  // start after every hit: quadratic in a gap of a million commas).
  std::string g;
  g.reserve(gap.size());
  for (size_t i = 0; i < gap.size();) {
    bool filler_here = false;
    // parentheses too: "$3$ (or $3.0$)" is an "or" (its word had been "(or": a reviewer)
    for (std::string_view filler : {"\\qquad", "\\quad", "\\text", "\\(", "\\)", "\\[", "\\]", "$", "{", "}", ",",
                                    "(", ")"}) {
      if (gap.compare(i, filler.size(), filler) == 0) {
        g += ' ';
        i += filler.size();
        filler_here = true;
        break;
      }
    }
    if (!filler_here) g += gap[i++];
  }
  int words = 0, leading_ors = 0;   // a word after a leading "or" opens the gap too: "or approximately"
  bool approximates = false, restates_if_equal = false;
  for (size_t i = 0; i < g.size(); ++i) {
    if (is_ascii_space(g[i]) || (i > 0 && !is_ascii_space(g[i - 1])))
      continue;
    size_t e = i;
    while (e < g.size() && !is_ascii_space(g[e])) ++e;
    const std::string word = lowercase(std::string_view(g).substr(i, e - i));
    const PartLink link = word_link(word, words == leading_ors);
    if (words == leading_ors && word == "or") ++leading_ors;
    if (link == PartLink::kFollows) return link;
    approximates = approximates || link == PartLink::kApproximates;
    restates_if_equal = restates_if_equal || link == PartLink::kRestatesIf;
    ++words;
  }
  if (max_words >= 0 && words > max_words) return PartLink::kApart;
  if (approximates) return PartLink::kApproximates;
  return restates_if_equal ? PartLink::kRestatesIf : PartLink::kList;
}

struct Part {
  size_t begin, end;   // its extent in the text, delimiters included
  std::string content;
};

std::vector<Part> math_parts(std::string_view s) {
  std::vector<Part> parts;
  for (const MathSpan& span : math_spans(s))
    if (std::string content = trim(span.content); !content.empty()) parts.push_back({span.begin, span.end, content});
  return parts;
}

// The parts that make one answer with the last, joined with commas. Denied parts are left out first
// ("\\boxed{3}, not \\boxed{4}" is 3; "The answer is not \\boxed{3}." has none: a breaker). Then, walking back
// from the last part, each earlier one joins unless the words between (gap_link) say the later follows from
// it or stands apart; a rounded form gives way to the exact one before it, which joins in its place (a
// reviewer: the whole list had given way); two parts linked by "=" or "or" are one answer written twice
// where they are equal ("\\boxed{\\frac{1}{2}} = \\boxed{0.5}": the later), else alternatives or a false equation,
// both ("\\boxed{3} or \\boxed{4}", "\\boxed{3} = \\boxed{4}" had been 4, a hedge credited: a breaker), which a single
// gold never equals, while the roots "x = \\boxed{2} or x = \\boxed{-3}" equal "-3, 2". Only the first
// kComparedLinks such pairs are compared; past them, parts so linked stay a list. `once`: a part written again
// joins once (boxes); math parts keep their multiplicity ("$1$, $1$, $2$").
std::string join_parts(std::string_view text, std::vector<Part> parts, int max_gap_words, bool once) {
  parts.erase(std::remove_if(parts.begin(), parts.end(), [&](const Part& p) { return denied(text, p.begin); }),
              parts.end());
  if (parts.empty()) return {};
  std::vector<bool> rounded(parts.size(), false);   // a rounded form of the part before it: left out
  int compared = 0;
  size_t first = parts.size() - 1;
  for (; first > 0; --first) {
    const Part &earlier = parts[first - 1], &later = parts[first];
    const PartLink link = gap_link(text.substr(earlier.end, later.begin - earlier.end), max_gap_words);
    if (link == PartLink::kFollows || link == PartLink::kApart) break;
    if (link == PartLink::kApproximates) rounded[first] = true;
    if (link == PartLink::kRestatesIf && compared++ < kComparedLinks && is_equiv(earlier.content, later.content))
      break;
  }
  std::unordered_set<std::string_view> seen;
  std::string answer;
  for (size_t k = first; k < parts.size(); ++k) {
    if (strictly_bounded(text, parts[k].begin)) return {};
    if (rounded[k] || (once && !seen.insert(parts[k].content).second)) continue;
    if (!answer.empty()) answer += ", ";
    answer += parts[k].content;
  }
  return answer;
}

// The \\boxed{} and \\fbox{} of a text that box something, in order.
std::vector<Part> box_parts(std::string_view text) {
  std::vector<Part> boxes;
  // The next \boxed and the next \fbox at or after `from`, each searched again only once `from` has passed
  // it: searching both after every box rescanned the text to its end for the absent one (quadratic).
  constexpr std::string_view kCommands[] = {"\\boxed", "\\fbox"};
  size_t next_at[] = {text.find(kCommands[0]), text.find(kCommands[1])};
  size_t from = 0;
  while (true) {
    size_t at = std::string_view::npos, len = 0;
    for (int c = 0; c < 2; ++c) {
      if (next_at[c] != std::string_view::npos && next_at[c] < from) next_at[c] = text.find(kCommands[c], from);
      if (next_at[c] != std::string_view::npos && next_at[c] < at) at = next_at[c], len = kCommands[c].size();
    }
    if (at == std::string_view::npos) break;
    size_t i = at + len;
    while (i < text.size() && text[i] == ' ') ++i;
    size_t end = i;
    std::string content;
    if (i < text.size() && text[i] == '{') {
      const std::string_view inner = braced(text, i, end);
      if (end == std::string_view::npos) break;
      content = trim(inner);
      ++end;
    } else {
      while (end < text.size() && !is_ascii_space(text[end]) && text[end] != '$') ++end;
      content = trim(text.substr(i, end - i));
    }
    if (!content.empty()) boxes.push_back({at, end, content});
    from = end > at ? end : at + len;
  }
  return boxes;
}

}  // namespace

// Every math segment of a stated answer's sentence, as one answer (join_parts at any distance: "\\(3\\) or
// \\(4\\)" had been its last, 4, a hedge credited, since only single $ counted: a breaker).
std::string all_math(std::string_view s) {
  std::vector<Part> parts = math_parts(s), outside;
  // A span inside a parenthesized aside explains the answer, "$12$ (that is, $3 \\times 4$)": left out where
  // the sentence has one outside (it had joined the answer as "12, 3 \\times 4": a differential run). So is
  // one that offers another, "$3$ (or $4$)": 3, the credit of its first option only, as if it stood alone
  // (keeping it had made "$\\sqrt{2}$ (or approximately $1.414$)" and "$5$ dollars (or $500$ cents)" lists:
  // a reviewer).
  int depth = 0;
  for (size_t i = 0, k = 0; i < s.size(); ++i) {
    if (k < parts.size() && i == parts[k].begin) {
      if (depth == 0) outside.push_back(parts[k]);
      i = parts[k++].end - 1;
    } else if (s[i] == '(') {
      ++depth;
    } else if (s[i] == ')' && depth > 0) {
      --depth;
    }
  }
  return join_parts(s, outside.empty() ? std::move(parts) : std::move(outside), /*max_gap_words=*/-1,
                    /*once=*/false);
}

// The last math segment's content; nothing where the words before it deny it ("So the answer is not $3$." had
// been 3: a breaker). Alone: a final sentence's earlier spans are mostly its conditions ("Plugging in $t = 3$,
// we get $h = 45$"; joining them as boxes are joined had made it a list: a reviewer).
std::string last_math(std::string_view s) {
  const std::vector<MathSpan> spans = math_spans(s);
  for (auto span = spans.rbegin(); span != spans.rend(); ++span)   // the last that is not blank
    if (std::string content = trim(span->content); !content.empty())
      return denied(s, span->begin) ? std::string() : content;
  return {};
}

std::string all_boxed(std::string_view text, bool (*skip)(std::string_view content)) {
  std::vector<Part> boxes = box_parts(text);
  if (skip != nullptr)
    boxes.erase(std::remove_if(boxes.begin(), boxes.end(), [&](const Part& box) { return skip(box.content); }),
                boxes.end());
  return join_parts(text, std::move(boxes), kBoxGapWords, /*once=*/true);
}

}  // namespace cotnpot::answer::detail
