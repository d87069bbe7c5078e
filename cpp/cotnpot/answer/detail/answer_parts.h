// The parts of a stated answer (extract_parts.cpp): math spans and boxes joined into one answer, and the words
// that deny a part or make it a bound. Internal to extraction.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace cotnpot::answer::detail {

// "not", "cannot", "never", "neither", "nor", or a word ending in "n't" ("isn't", "can’t").
bool is_negation(std::string_view word);

// Whether the words right before s[at] deny what follows ("cannot be 18", "is not \boxed{3}").
bool denied(std::string_view s, size_t at);

// Whether the words right before s[at] make the answer there a strict bound ("more than 3", "greater than
// \boxed{3}"); not "at least"/"at most", nor a negated comparison.
bool strictly_bounded(std::string_view s, size_t at);

// The last $...$, $$...$$, \(...\) or \[...\] segment's content, unless denied; "" where none.
std::string last_math(std::string_view s);

// Every math segment of a stated answer's sentence as one answer ("$3$ or $4$" is "3, 4"); "" where none.
std::string all_math(std::string_view s);

// Several \boxed{} close together box the parts of one answer ("\boxed{1} and \boxed{2}"): the last box and
// the boxes just before it (at most 4 words apart, spacing commands and $ not counted; join_parts) are joined
// with commas, in order, duplicates dropped. Boxes far apart box intermediate results: only the last counts.
// "" where there is none.
// `skip`: boxes whose content it holds for no answer are left out first (a template's placeholders).
std::string all_boxed(std::string_view text, bool (*skip)(std::string_view content) = nullptr);

}  // namespace cotnpot::answer::detail
