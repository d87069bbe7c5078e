#pragma once
// Deciding whether two answers are the same, and grading many pairs at once.
//
// Steps: normalize both (normalize.h); equal strings are equal; else parse both (expr.h) and compare:
//  - numbers: integers exactly; other exact values within rel_tol (1e-6 by default) where one is a long
//    (computed) decimal, else not an integer against a non-integer, and the coarser decimal the other
//    rounded; an irrational value written without a decimal (\sqrt{2} + 10^7) within float error (a
//    billionth), as it stands for an exact value; anything else inexact within rel_tol, relative; with
//    percent = true also x vs x/100 (50\% = 0.5);
//  - expressions with variables: evaluated at fixed points (positive, negative, of magnitude below 1, and
//    where needed larger ones); every point where both stay real must agree (and three must be such; else
//    their complex values at the positive points); exact values where no decimal is written exactly (and
//    inexact ones within float error), a written decimal within its rounding; at small integers, differing
//    exact values refute;
//  - sets and bare lists ("2, 3": roots) without order; tuples, intervals and matrices in order, with
//    bracket types respected ((1,2) is the open interval or the pair, never [1,2]);
//  - "x = 3" vs "3": the value of a single-variable equation; an equation chain's last side; "x = 3" vs
//    another equation ("x - 3 = 0"), the two equations; a gold "17" vs the prediction "m + n = 17" (a
//    sum of distinct names; one way: a gold "x + y + z = 0" is not answered by "0"; votes group both ways);
//  - temperatures: "30 °C" is not "30 °F" (the scales compared in order);
//  - a \pm b vs the pair {a + b, a - b}.
// Unparseable answers compare as normalized strings. Every call is bounded (limits.h); bad input
// (empty, unbalanced, huge, invalid UTF-8) gives false, never an error; options out of range (rel_tol
// not in [0, 1)) throw std::invalid_argument.
//
// No LibTorch here (the cotnpot::answer library links without it); the tensor forms of grade_pairs and
// answer_class_ids are in grade.h.
//
// Example:
//   cotnpot::answer::is_equiv("\\frac{1}{2}", "0.5")        // true
//   cotnpot::answer::is_equiv("[1,2)", "(1,2)")              // false
#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace cotnpot::answer {

struct EquivOptions {
  double rel_tol = 1e-6;
  bool percent = false;  // also accept x = y/100 and x/100 = y (50\% vs 0.5)
  // Compare a set membership "x \in [a, b]" with the inequality chain "a \le x \le b", and an interval (or a
  // membership in one) with a one-sided inequality, "(2, \infty)" with "x > 2" (Math-Verify's
  // allow_set_relation_comp). A chain always equals the bare interval: "a < x < b" vs "(a, b)".
  bool set_relation = false;
};

bool is_equiv(std::string_view gold, std::string_view pred, const EquivOptions& options = {});

// Whether this build compares real constants and sampled values in quad precision (docs/answer.md): g++
// with libquadmath (x86-64, where CMake finds it) or a long double of 106+ bits (aarch64); elsewhere
// doubles alone decide, and sums that cancel heavily or values below 1e-12 are told apart less well.
bool has_quad_precision();

// The parser and evaluator steps is_equiv(gold, pred) takes: the deterministic measure of its work
// (bounded by limits.h's kMaxSteps per parse and comparison), for tests and fuzzing.
long grading_steps(std::string_view gold, std::string_view pred, const EquivOptions& options = {});

// Extracts the final answer from each text (extract.h, mode "cot") and compares them.
bool verify(std::string_view gold_text, std::string_view pred_text, const EquivOptions& options = {});

// How the many-answer functions spread their independent items over threads: called once with n and a
// body that handles [begin, end); it may run the body on ranges in parallel. Empty: one call on the
// caller's thread. (grade.h passes at::parallel_for.)
using ParallelFor = std::function<void(int64_t n, const std::function<void(int64_t begin, int64_t end)>& body)>;

// Setting *stop (from another thread: Ctrl-C) ends either of the two calls below within one item's work
// (each is bounded by kMaxSteps) with std::runtime_error("grade: stopped") or ("group_answers: stopped"), the
// names of the Python functions they serve. The body given to parallel_for never throws: an exception in it
// (the stop among them) is rethrown on the caller's thread once parallel_for has returned.

// is_equiv for each pair: 1 or 0 per pair. Throws std::invalid_argument when the lengths differ.
std::vector<uint8_t> grade_pairs(const std::vector<std::string>& golds, const std::vector<std::string>& preds,
                                 const EquivOptions& options = {}, const ParallelFor& parallel_for = {},
                                 const std::atomic<bool>* stop = nullptr);

// Equivalence-class ids for voting: answers[i] and answers[j] get the same id when equivalent; ids are
// numbered in order of first appearance (0, 1, ...). An empty answer gets -1. Equivalence is not transitive
// (17 equals m+n=17 and p+q=17, which differ), so a class is whatever equals its first member, answers
// prepared alike (17, \boxed{17}) taken as one form, bare values first, then the most voted forms, ties by
// their text: the classes do not depend on the answers' order. parallel_for spreads the preparing of the
// answers and each answer's comparisons with the classes so far; the verdicts are taken in class order, so
// the classes do not depend on it either.
std::vector<int64_t> answer_class_ids(const std::vector<std::string>& answers, const EquivOptions& options = {},
                                      const ParallelFor& parallel_for = {}, const std::atomic<bool>* stop = nullptr);

}  // namespace cotnpot::answer
