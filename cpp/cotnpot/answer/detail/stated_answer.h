// Whether a stated final answer ("The final answer is 3.") still stands when boxes follow it: where the
// solution's own text ends, which boxes are a template's placeholders, and which words doubt the statement.
// extract.cpp decides with them; they know nothing of where the answer is.
#pragma once

#include <string>
#include <string_view>

namespace cotnpot::answer::detail {

// Where s stops being the solution's own text: the first special token ("<|eot_id|>", "</s>", "[/INST]",
// "<eos>") or line that opens a code block, a few-shot prompt's next problem or a chat turn ("Problem 2:",
// "### Question:", "Q:", "Human:", "user"); s.size() where none does.
size_t own_text_end(std::string_view s);

// Whether a box's content is a template's placeholder ("answer", "\text{your answer here}", "?", "\square"),
// not an answer.
bool is_placeholder(std::string_view boxed);

// Whether words doubt or take back a stated answer: in the sentence that states it ("suppose", "my guess", "a
// common mistake", "but let me") or in or after it ("hold on", "I made an error", "is wrong", an interjected
// "Wait,"); not the words of a solution that goes on to check its answer ("I think", "let me verify").
bool doubted(std::string_view statement, std::string_view after);

}  // namespace cotnpot::answer::detail
