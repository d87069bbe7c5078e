#pragma once
// The comparer behind is_equiv (equiv.cpp): whether two parsed answers are equal, within one comparison's
// budget. One class, its parts by concern: the structure of answers (compare_structure.cpp), relations
// (compare_relations.cpp), scalar expressions (compare_scalars.cpp) and two numbers (compare_numbers.cpp).
// Not part of the installed headers.
#include <complex>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "cotnpot/answer/detail/number_ops.h"
#include "cotnpot/answer/equiv.h"
#include "cotnpot/answer/expr.h"

namespace cotnpot::answer::detail {

class Comparer {
 public:
  Comparer(const EquivOptions& options, Budget& budget) : options_(options), budget_(budget) {}

  bool equal(const Node& a, const Node& b);
  bool holds_at(const Node& equation, const std::string& name, const Node& value);

  // An interval of a union (compare_intervals.cpp): its ends as written and as values (\pm HUGE_VAL).
  struct Piece {
    Node low_node, high_node;
    double low = 0.0, high = 0.0;
    bool low_closed = false, high_closed = false;
    Number low_value, high_value;   // the ends' values, exact where they are (unset at \pm\infty)
  };

 private:
  // ---- compare_structure.cpp: solution sets, tuples, intervals, lists and sets, equations and chains
  // A name for a value: symbols, products and quotients of them, tuples of them ("x", "AB", "NO/BO",
  // "(p,q)"), or a constant. "a + 3z" is not: "a + 3z = 0" does not state the value 0. Nor are a multiple
  // or a power of a name ("2x", "x^2", "\\sqrt{x}"): "2x = 3" does not say x is 3, yet it matched the gold
  // "x = 3" (found by a breaker; Math-Verify refuses them too).
  static bool is_label(const Node& n) { return is_label_part(n, true); }
  static std::optional<Node> solution_tuples(const Node& n);
  std::optional<Node> scaled_matrix(const Node& n);
  static bool is_assignment(const Node& n);
  static bool is_label_part(const Node& n, bool whole);
  bool value_of_chain(const Node& chain, const Node& value);
  bool rounds_to(const Node& value, const Node& rounded);
  static bool relatively_close(std::complex<double> a, std::complex<double> b, double tol);
  static std::optional<Node> chain_interval(const Node& n);
  static std::optional<Node> one_sided_interval(const Node& n);
  static Node canonical(const Node& rel);
  bool ordered_equal(const std::vector<Node>& a, const std::vector<Node>& b);
  static long size_of(const Node& n);
  static Node expand(const Node& pm);
  static bool has_plus_minus(const std::vector<Node>& items);
  std::optional<std::vector<Node>> with_plus_minus_expanded(const std::vector<Node>& items);
  bool unordered_equal(const std::vector<Node>& a, const std::vector<Node>& b);
  std::vector<Node> distinct(const std::vector<Node>& items);

  // ---- compare_intervals.cpp: unions of intervals as sets (merged, in order)
  std::optional<Piece> interval_piece(const Node& n);
  std::optional<std::vector<Piece>> interval_union(const Node& n);
  bool same_pieces(const std::vector<Piece>& a, const std::vector<Piece>& b);

  // ---- compare_relations.cpp: equations and inequalities, equal up to a constant factor
  bool relations_equal(const Node& a, const Node& b);
  bool scaled_ratio_holds(const Node& a, const Node& b, const std::vector<std::string>& vars, const Number& ratio,
                          bool ordered, double magnitude, double tolerance);
  std::optional<Number> difference(const Node& rel, const std::map<std::string, double>& env, EvalTrace& trace);

  // ---- compare_scalars.cpp: scalar expressions, exact where both are, else at sample points
  // The sample points of expressions with variables: five with positive values, then three with negative
  // ones (all negative twice, alternating signs once), which tell |x| and \sqrt{x^2} from x (a breaker);
  // six of magnitudes in [0.1, 0.45], four positive: the domain of \arcsin 2x, \sqrt{1-4x^2} and
  // \sqrt{\frac{x}{1-2x}}, and where |4x^2-1| differs from 4x^2-1 (\cos(\arcsin x) had not equalled
  // \sqrt{1-x^2}; a breaker); then, only where those left fewer than three real points, three in [3.5, 9]
  // (\ln(x-2)-\ln(x-3), real from 3 on). Last, three at small integers, where a polynomial with integer
  // coefficients stays exact however large (as a big integer): there, exact values that differ refute
  // (x^{10}+10^8 had equalled x^{10}+10^8+1: at the other points x^{10} overflowed int64 and rel_tol decided).
  static constexpr int kPositivePoints = 5, kPoints = 8, kSmallEnd = 14, kLargeEnd = 17, kIntegerEnd = 20;
  // Far points for refutation (scalars_equal), where the build has quad precision: magnitudes 12 to 613
  // (|x-40| had equalled 40-x with the first three alone: a second breaker), two negative for a lone
  // variable, the signs of every other variable flipped; off the 1/64 grid (inexact, so quad precision
  // compares them), where \sin(64\pi x) vanishes at every other point (it had equalled 0; a breaker).
  static constexpr int kFarPoints = 5;
  // How two values at one sample point compare: equal, different, or equal only within what a cancelling sum
  // at the top may have lost in floats (a multiple of its largest term) where that is more than rel_tol of
  // the values. Such a point is no evidence either way (the sampling loop counts it as no real point):
  // accepted as equal, one answer whose sum cancels huge terms (10^{30}\sqrt{2} - 10^{30}\sqrt{2},
  // x^2 + e^{100} - e^{100}) had equalled any value at all (a breaker), while a point near a root of an
  // expanded polynomial still loses more than rel_tol there, and the other points decide.
  enum class Agreement { Equal, Different, WithinCancellation };
  // The decimal digits of an integer literal (or its negation): exact for int64 and, by the digits the
  // parser kept, for longer ones; `big` when they are past int64.
  struct IntegerText {
    std::string text;
    bool big = false;
  };
  static bool has_decimal(const Node& n);
  static void decimal_leaves(Node& n, std::vector<Node*>& out);
  std::optional<bool> within_rounding(const Node& a, const Node& b, const std::map<std::string, double>& env,
                                      const Number& x, const Number& y);
  static std::map<std::string, double> point(const std::vector<std::string>& vars, int k);
  std::optional<bool> quad_verdict(const Node& a, const Node& b, const std::map<std::string, double>& env,
                                   const Number& x, const Number& y, bool percent, bool refute_only = false);
  static bool has_irrational_part(const Node& n);
  static std::map<std::string, double> far_point(const std::vector<std::string>& vars, int j);
  Agreement sampled_agreement(const Number& x, const Number& y, const EvalTrace& trace, bool written_exact) const;
  static int infinity_sign(const Node& n);
  static std::optional<IntegerText> integer_text(const Node& n);
  bool scalars_equal(const Node& a, const Node& b);

  // ---- compare_numbers.cpp: two numbers (exact, rounded decimals, float noise, percent)
  // How far a program's float result may be from the exact value it stands for (repr of 100/3 is
  // 33.333333333333336; sums of a few terms drift a few ulps).
  static constexpr double kFloatNoise = 1e-12;
  // The decimal places of 1/q when it terminates (q = 2^a 5^b: max(a, b)); kNonTerminating, finer than any,
  // when it does not.
  static constexpr int kNonTerminating = 1 << 20;
  // n times 100: what `percent` compares each value with besides itself (50\% against 0.5).
  Number hundredfold(const Number& n) const { return detail::mul(n, Number::rational(100), budget_); }
  bool within_float_error(const Number& x, const Number& y, const EvalTrace& trace) const;
  bool tiny_values_differ(const Node& a, const Node& b, const Number& x, const Number& y, const EvalTrace& trace) const;
  static bool same_exact(const Number& x, const Number& y);
  bool numbers_equal(const Number& x, const Number& y, bool decimals_written) const;
  bool exact_values_close(const Number& x, const Number& y, bool decimals_written) const;
  static bool looks_computed(const Number& n);
  static int decimal_places(int64_t q);
  bool values_equal(const Number& x, const Number& y, bool decimals_written) const;

  const EquivOptions& options_;
  Budget& budget_;
};

}  // namespace cotnpot::answer::detail
