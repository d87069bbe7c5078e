#pragma once
// Constant answers compared in quad precision (evaluate_wide.cpp), where doubles cannot tell: a sum that
// cancels loses its terms' rounding many times over ((3-2\sqrt{2})^8 is 7.5e-7, its expansion
// 665857 - 470832\sqrt{2} carries 1e-10 of error in doubles: 1.4e-4 of the value), and values below the
// doubles' 1e-12 absolute floor all looked like zero (e^{-30} had equalled e^{-31}). Quad precision (113
// bits: 34 digits) has 19 more digits to lose. For the comparer (detail/comparer.h); not part of the installed headers.
#include <map>
#include <optional>
#include <string>

#include "cotnpot/answer/expr.h"

namespace cotnpot::answer::detail {

struct WideRule {
  double most_relative;  // never more apart than this, relative to the larger value (the comparer's rel_tol)
  bool integer;          // one side is an exact integer: then also nearer to it than to any other
  bool percent;          // also equal where one side is 100 times the other (50\% and 0.5)
  // Refutation only (the far sample points): different only where the values are further apart than
  // most_relative as well; at |x| ~ 30 a function of a large argument (\sin((x+3)^5): 3e7) carries
  // more than quad's tolerance of rounding from it, and equal forms had differed there (a breaker).
  bool refute_only = false;
};

// Whether the two expressions have equal values, constants or at the sample point `variables` (every free
// variable given a value), within the error quad precision leaves (a few hundred units of its last place,
// grown by what their sums cancelled); nullopt where there is no verdict: a side that is not a finite real
// number this evaluator takes (a complex value, a negative base under a fractional power, an unknown
// function, a variable without a value), a budget run out, or a platform with no quad type (then doubles
// decide, as before).
std::optional<bool> wide_equal(const Node& a, const Node& b, const WideRule& rule, Budget& budget,
                               const std::map<std::string, double>& variables = {});

}  // namespace cotnpot::answer::detail
