#pragma once
// Expected accuracy of a vote over uniformly random size-k subsets of a problem's candidates: what
// maj@k, weighted@k and CoTnPoT's filtered vote at k mean when a problem has N >= k samples.
//
// Two routes, both with fair ties (a tie between classes counts each tied class equally, not the one seen
// first) and a class judged by the share of its members in the subset that are correct (the grader's
// tolerance is not transitive, so one class may hold members with different labels):
//   majority_accuracy_exact  unweighted majority, exact, every k at once: a generating-function count of
//                            the subsets in which a class wins with t votes, tied with e-1 others. O(n^3) per
//                            problem whatever the answers look like (n: the problem's candidates).
//   vote_accuracy            any vote (weights, a filter with fall-back, fair or first-seen ties) at one k:
//                            every subset when there are at most max_subsets of them, else `samples` subsets
//                            drawn per problem from a generator seeded by (seed, problem, k), so the result
//                            does not depend on the thread count; the variance of the sampled mean comes
//                            back with it (0 where every subset was counted).
// Tensors are [P,N] (P problems, N candidates with padding marked by valid=false) on any device; the work
// runs on the CPU (at::parallel_for over problems) and results come back on the inputs' device.
//
// Example:
//   at::Tensor acc = cotnpot::metrics::majority_accuracy_exact(classes, correct, valid);  // [P, N], column k-1
//   auto w = cotnpot::metrics::vote_accuracy(classes, correct, valid, weights, {}, "all", "fair", 8, 1000);
#include <ATen/core/Tensor.h>

#include <atomic>
#include <cstdint>
#include <string_view>

namespace cotnpot::metrics {

// classes [P,N] integer ids in [0,N) per problem (negative: no answer, does not vote); correct, valid [P,N]
// bool (valid undefined: all valid). Returns float64 [P,N]: column k-1 is the expected accuracy of a
// majority vote over a uniformly random k-subset of the problem's valid candidates (all of them when it
// has fewer than k). A subset in which nobody votes counts as wrong. Needs N <= 1000 (float64 counts).
at::Tensor majority_accuracy_exact(const at::Tensor& classes, const at::Tensor& correct, const at::Tensor& valid = {});

struct SubsetAccuracy {
  at::Tensor mean;      // [P] float64: expected accuracy at k
  at::Tensor variance;  // [P] float64: variance of `mean` from sampling subsets (0 when exact)
  at::Tensor exact;     // [P] bool: every subset was counted
};

// weights [P,N] non-negative floating or undefined (one vote each; a non-finite weight does not vote);
// keep [P,N] bool or undefined (no filter); fallback "all" | "none" as in selection::vote (applied per
// subset); ties "fair" | "first" (the class whose first member in the subset comes first, judged by that
// member's label: what selection::vote picks and what harnesses built on Counter.most_common report).
// Setting *stop (from another thread: Ctrl-C) ends the call within a few thousand subsets, with
// std::runtime_error("vote_accuracy: stopped").
SubsetAccuracy vote_accuracy(const at::Tensor& classes, const at::Tensor& correct, const at::Tensor& valid,
                             const at::Tensor& weights, const at::Tensor& keep, std::string_view fallback,
                             std::string_view ties, int64_t k, int64_t samples = 1000, int64_t max_subsets = 4096,
                             uint64_t seed = 0, const std::atomic<bool>* stop = nullptr);

}  // namespace cotnpot::metrics
