// Whether a stated final answer still stands when boxes follow it (detail/stated_answer.h). Each rule here was
// drawn from a breaker's or a reviewer's case: a solution that takes its statement back ("The final answer is
// 3. Wait, I made an error. ... \boxed{4}") against one that goes on to check it, explain it or run into the
// next problem of a few-shot prompt.
#include "cotnpot/answer/detail/stated_answer.h"

#include <algorithm>
#include <functional>

#include "cotnpot/answer/detail/ascii.h"
#include "cotnpot/answer/detail/text_scan.h"

namespace cotnpot::answer::detail {
namespace {

bool is_line_end(std::string_view s, size_t i) { return i >= s.size() || s[i] == '\n' || s[i] == '\r'; }

// The first special token of a chat template or a tokenizer in s: "<|eot_id|>" (letters, digits, "_", "-",
// "." or non-ASCII bytes between "<|" and "|>", so the math "|x-1|<|x+1|" is none: a breaker), DeepSeek's
// full-width "<｜end▁of▁sentence｜>", "</s>", "<eos>", "[INST]", "[/INST]", Gemma's turns.
size_t first_special_token(std::string_view s) {
  size_t first = s.size();
  for (std::string_view token : {"</s>", "<eos>", "[INST]", "[/INST]", "<start_of_turn>", "<end_of_turn>",
                                 "<\xEF\xBD\x9C"})
    first = std::min(first, s.find(token));
  for (size_t at = s.find("<|"); at != std::string_view::npos && at < first; at = s.find("<|", at + 2)) {
    size_t i = at + 2;
    const auto in_name = [&](char c) {
      return is_ascii_alnum(c) || c == '_' || c == '-' || c == '.' || static_cast<unsigned char>(c) >= 0x80;
    };
    while (i < s.size() && i < at + 64 && in_name(s[i])) ++i;
    if (i > at + 2 && s.compare(i, 2, "|>") == 0) return at;
  }
  return first;
}

// Whether the line from `line` on opens something other than the solution: a code block, a chat turn
// ("Human:", a bare "assistant"), a few-shot prompt's next problem ("Problem 2:", "Problem 2.", "## Problem
// 2", "Question:", "Q:") or, under a heading, an instruction format's part ("### Response:", "### Input:").
// Not a heading alone: long solutions go on in "### Step 2" after a tentative answer; nor "Example:" or
// "Input:" in the solution's own words (a reviewer).
bool opens_continuation(std::string_view s, size_t line) {
  size_t i = line;
  bool heading = false;
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '#' || s[i] == '*')) heading |= s[i++] == '#';
  if (s.compare(i, 3, "```") == 0) return true;
  const std::string word = lowercase_word(s, i);
  bool numbered = false;
  while (i < s.size() && (s[i] == ' ' || is_ascii_digit(s[i]))) numbered |= is_ascii_digit(s[i++]);
  while (i < s.size() && s[i] == '*') ++i;
  const bool colon = i < s.size() && s[i] == ':';
  const bool ends = is_line_end(s, i) || (numbered && (s[i] == '.' || s[i] == ')'));
  if (word == "human" || word == "user" || word == "assistant") return colon || is_line_end(s, i);
  if (word == "problem" || word == "question" || word == "q") return colon || ends || (heading && numbered);
  if (word == "instruction" || word == "response" || word == "input" || word == "example" || word == "exercise")
    return heading && (colon || is_line_end(s, i));
  return false;
}

// "Wait" as an interjection: the word followed by punctuation or a line's end ("Wait,", "Wait!", "*Wait*",
// "Wait\u2014", "But wait\n"), not by a space ("the wait time").
bool interjected_wait(std::string_view text) {
  const std::string s = lowercase(text);   // "WAIT." too
  for (size_t at = s.find("ait", 1); at != std::string::npos; at = s.find("ait", at + 1)) {
    const size_t w = at - 1, after = at + 3;
    if (s[w] != 'w' || (w > 0 && is_ascii_alpha(s[w - 1]))) continue;
    if (after == s.size() || (!is_ascii_alpha(s[after]) && s[after] != ' ')) return true;
  }
  return false;
}


}  // namespace

// "answer", "\text{your answer here}", "[answer]", "<answer>", "?", "\ldots", "\_\_", "\square", "\quad". "<"
// or ">" alone is an answer (a comparison), and so is any other command ("\infty", "\pi") or a single letter
// ("x", "C").
bool is_placeholder(std::string_view boxed) {
  std::string letters;
  bool angle = false;
  for (size_t i = 0; i < boxed.size(); ++i) {
    const char c = boxed[i];
    if (c == '\\') {
      size_t e = i + 1;
      while (e < boxed.size() && is_ascii_alpha(boxed[e])) ++e;
      const std::string_view name = boxed.substr(i + 1, e - i - 1);
      if (name.empty() && (e == boxed.size() || boxed[e] == '_' || boxed[e] == ' ')) {
        e = std::min(e + 1, boxed.size());   // "\_", "\ " (trimmed to "\" at the end: a reviewer)
      } else if (name != "text" && name != "textbf" && name != "textit" && name != "mathrm" && name != "mathbf" &&
                 name != "ldots" && name != "dots" && name != "cdots" && name != "square" && name != "Box" &&
                 name != "quad" && name != "qquad" && name != "boxed") {
        return false;
      }
      i = e - 1;
    } else if (is_ascii_alnum(c)) {
      letters += lowercase(c);
    } else if (c == '<' || c == '>') {
      angle = true;
    } else if (std::string_view("?._{}[]:").find(c) == std::string_view::npos && !is_ascii_space(c)) {
      return false;
    }
  }
  if (letters.empty()) return !angle;
  for (std::string_view prefix : {"", "your", "final", "the", "yourfinal", "insert", "insertyour"})
    for (std::string_view suffix : {"answer", "answerhere"})
      if (letters.size() == prefix.size() + suffix.size() && letters.compare(0, prefix.size(), prefix) == 0 &&
          letters.compare(prefix.size(), suffix.size(), suffix) == 0)
        return true;
  return false;
}

size_t own_text_end(std::string_view s) {
  const size_t token = first_special_token(s);
  for (size_t line = 0; line < token;) {
    if (opens_continuation(s, line)) return line;
    const size_t newline = s.find('\n', line);
    if (newline == std::string_view::npos) break;
    line = newline + 1;
  }
  return token;
}

// Whole words only ("waiting" is no "wait", "errors" no "an error in"), and "wait" as an interjection only
// (interjected_wait). Not "I think", "let me verify", "recheck",
// "revisit", "hmm", "actually", "the correct answer" ("is indeed 3"), "incorrect" but as a verdict ("is
// incorrect", not "an incorrect approach gives"), "assume", "error" or "contradiction" alone: a solution that
// goes on to check its answer, a problem's own terms ("the error term", "wait time", "assume the speed is
// constant") and "proof by contradiction" had let a checking box take the answer's place (a breaker and a
// reviewer). Searched with Boyer-Moore-Horspool: a megabyte of one-letter words had taken 30 plain searches
// 77 ms (a breaker).
bool doubted(std::string_view statement, std::string_view after) {
  const auto holds = [](const std::string& hay, std::string_view cue) {
    return std::search(hay.begin(), hay.end(), std::boyer_moore_horspool_searcher(cue.begin(), cue.end())) !=
           hay.end();
  };
  // lowercase letters, each run of other bytes one space
  const auto words_of = [](std::string_view part, std::string& words) {
    for (const char c : part) {
      const char w = is_ascii_alpha(c) ? lowercase(c) : ' ';
      if (w != ' ' || words.back() != ' ') words += w;
    }
    words += ' ';
  };
  std::string stated = " ";
  words_of(statement, stated);
  // Words that doubt an answer as it is stated, in its own sentence only: after it, "A common mistake is to
  // answer \boxed{4}" or "maybe" describe something else (a breaker).
  for (std::string_view cue : {" suppose ", " my guess ", " i guess ", " common mistake ", " maybe ", " probably ",
                               " might be ", " tentative ", " not sure ", " but let me "})
    if (holds(stated, cue)) return true;
  std::string words = stated;
  words_of(after, words);
  for (std::string_view cue :
       {" hold on ", " oops ", " made an error ", " made a mistake ", " made some errors ", " made some mistakes ",
        " an error in ", " a mistake in ", " my mistake ", " my error ", " is wrong ", " was wrong ", " s wrong ",
        " is not right ", " s not right ", " is not correct ", " s not correct ", " is incorrect ",
        " was incorrect ", " s incorrect ", " correction ", " on second thought ", " misread ", " miscounted ",
        " miscalculated ", " misunderstood ", " wait a second ", " wait a minute ", " wait a moment ", " but wait ",
        " upon re evaluation ", " upon reflection ", " re evaluate ", " re evaluating ", " doesn t seem right ",
        " can t be right ", " isn t right ", " calculation error ", " was a mistake ", " i apologize ",
        " let me correct "})
    if (holds(words, cue)) return true;
  return interjected_wait(statement) || interjected_wait(after);
}

}  // namespace cotnpot::answer::detail
