#pragma once
// Finding the final answer in a solution text.
//
// Rules, tried in this order on a chain-of-thought solution (mode "cot"):
//   boxed        the last \boxed{...} or \fbox{...} (nested braces), or \boxed 5
//   gsm8k        the text after the last "####" (GSM8K's gold format)
//   final_answer "Final Answer: ..." / "The final answer is ...", up to the end of the sentence
//   answer_is    "the answer is ...", up to the end of the sentence
//   a_line       a final line "A: 26" (OpenAI's GSM8K example solutions) or "Answer: C"
//   math         the last $...$, \(...\) or \[...\] segment
//   last_number  the last number in the text (off with last_number_fallback = false)
// For program output (mode "program"): the last non-empty printed line ("last_line").
//
// Example:
//   auto e = cotnpot::answer::extract_answer("so the total is \\boxed{\\frac{1}{2}}.");
//   // e.answer == "\\frac{1}{2}", e.rule == "boxed"
#include <string>
#include <string_view>

namespace cotnpot::answer {

struct Extraction {
  std::string answer;  // empty when nothing was found
  std::string rule;    // which rule matched: "boxed", "gsm8k", ..., or "none"
};

struct ExtractOptions {
  std::string mode = "cot";     // "cot" or "program" (owned: a view of a temporary string would dangle)
  bool last_number_fallback = true;
};

// Throws std::invalid_argument for a mode other than "cot" or "program" (a typo extracted as "cot").
Extraction extract_answer(std::string_view text, const ExtractOptions& options = {});

// The content of the last \boxed{...} / \fbox{...} in text, or "" (exposed for tests and tools).
std::string last_boxed(std::string_view text);

}  // namespace cotnpot::answer
