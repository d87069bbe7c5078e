#pragma once
// Picking one candidate per problem out of N: best-of-N by score and (score-weighted) votes over answer
// classes, each optionally under a filter (CoTnPoT's consistency mask) with a fall-back for problems whose
// every candidate is filtered out. ATen composites on [P,N] tensors, so they run on CPU and CUDA alike;
// ragged groups are padding + `valid` (false at padding).
//
// Ties are broken deterministically: best_of_n takes the first (lowest-index) best candidate, vote takes
// the class seen first. A problem with no eligible candidate gets -1.
//
// Example:
//   at::Tensor pick = cotnpot::selection::best_of_n(scores, valid);                    // [P] int64
//   at::Tensor pick2 = cotnpot::selection::best_of_n(scores, valid, consistent, "all"); // CoTnPoT
//   auto v = cotnpot::selection::vote(classes, valid);                                  // majority
//   auto w = cotnpot::selection::vote(classes, valid, scores);                          // score-weighted
#include <ATen/core/Tensor.h>

#include <string_view>

namespace cotnpot::selection {

// What a filtered selection does for a problem whose every valid candidate is filtered out:
// "all" selects over every valid candidate as if there were no filter (the default); "none" gives -1.
inline constexpr std::string_view kDefaultFallback = "all";

// scores [P,N] floating; valid [P,N] bool or undefined (all valid); NaN scores are never chosen.
// keep [P,N] bool or undefined (no filter). Returns the chosen index per problem, int64 [P].
at::Tensor best_of_n(const at::Tensor& scores, const at::Tensor& valid = {}, const at::Tensor& keep = {},
                     std::string_view fallback = kDefaultFallback);

struct Vote {
  at::Tensor answer_class;  // [P] int64: the winning class id, -1 when no candidate voted
  at::Tensor index;         // [P] int64: the first candidate of the winning class, -1 when none
  at::Tensor support;       // [P] float64: the winning class's vote count (or summed weight)
};

// classes [P,N] int64 answer-class ids in [0, N) per problem (as group_answers gives them); a negative id
// is "no answer" and does not vote. weights [P,N] non-negative floating or undefined (one vote each); candidates
// with a non-finite weight do not vote. valid/keep/fallback as for best_of_n.
Vote vote(const at::Tensor& classes, const at::Tensor& valid = {}, const at::Tensor& weights = {},
          const at::Tensor& keep = {}, std::string_view fallback = kDefaultFallback);

}  // namespace cotnpot::selection
