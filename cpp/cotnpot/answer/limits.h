#pragma once
// Bounds that keep every grading call small and finite, whatever the input.
#include <cstddef>

namespace cotnpot::answer {

// Longer texts are cut to their last kMaxTextBytes before extraction (the answer sits at the end).
inline constexpr std::size_t kMaxTextBytes = 1 << 20;
// Longer answers are not parsed: they compare as normalized strings only; past four times as long they are not
// normalized either, and compare as their whole text (never by a prefix; case and spacing aside, as words).
inline constexpr std::size_t kMaxAnswerBytes = 4096;
// Nesting the parser follows before it gives up on an answer: brackets, and chains of signs, carets,
// factorials and \pm, each a level of the tree (and of every recursive walk of it).
inline constexpr int kMaxDepth = 64;
// Parser and evaluator steps per comparison: a deterministic budget instead of a timer.
inline constexpr long kMaxSteps = 200000;
// Integers past int64 stay exact up to this many digits (2^{70}, 25!, \binom{100}{50}); longer ones, and
// powers that would be, are doubles.
inline constexpr std::size_t kMaxIntegerDigits = 1000;

}  // namespace cotnpot::answer
