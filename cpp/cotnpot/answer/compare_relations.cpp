// Comparer (detail/comparer.h): equations and inequalities, equal as relations (up to a constant factor
// and the direction of an inequality).
#include <algorithm>
#include <cmath>
#include <complex>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "cotnpot/answer/detail/comparer.h"
#include "cotnpot/answer/detail/number_ops.h"

namespace cotnpot::answer::detail {

bool Comparer::relations_equal(const Node& a, const Node& b) {
  if (a.name == b.name && a.kids.size() == b.kids.size()) {
    bool all = true;
    for (size_t i = 0; i < a.kids.size() && all; ++i) all = equal(a.kids[i], b.kids[i]);
    if (all) return true;
  }
  // Two-sided relations: the same up to a non-zero factor, e.g. 2x = 4 and x - 2 = 0; for inequalities
  // the factor must be positive (-x > -1 is x < 1).
  if (a.name != b.name || a.kids.size() != 2 || b.kids.size() != 2) return false;
  const bool ordered = a.name == "<" || a.name == "\\le";
  std::vector<std::string> vars;
  for (const Node* n : {&a, &b}) collect_variables(*n, vars);
  const bool written_exact = !has_decimal(a) && !has_decimal(b);
  std::optional<Number> ratio;
  double magnitude = 0.0;   // the largest difference seen
  for (int k = 0; k < kIntegerEnd; ++k) {
    if (k == kSmallEnd) k = kLargeEnd;   // relations: no large points
    const auto env = point(vars, k);
    EvalTrace trace;
    auto d1 = difference(a, env, trace), d2 = difference(b, env, trace);
    if (budget_.exhausted()) return false;
    if (k >= kPositivePoints && (!d1 || !d2 || trace.left_reals)) continue;   // outside the real domain
    if (k >= kLargeEnd && !(written_exact && d1->exact && d2->exact)) continue;   // integer points: exact only
    if (!d1 || !d2) return false;
    const std::complex<double> v1 = d1->value(), v2 = d2->value();
    if (std::abs(v1) < 1e-12 && std::abs(v2) < 1e-12) continue;
    if (std::abs(v2) < 1e-12) return false;
    std::optional<Number> r;   // exact where both differences are (x^2 + 1000000 = 0 is not x^2 + 1000001 = 0)
    if (written_exact && d1->exact && d2->exact)
      if (auto inverse = detail::power(*d2, Number::rational(-1), budget_)) r = detail::mul(*d1, *inverse, budget_);
    if (!r) r = Number::inexact(v1 / v2);
    const std::complex<double> rv = r->value();
    if (std::abs(rv) < 1e-12) return false;
    if (ratio && !(written_exact && r->exact && ratio->exact
                       ? same_exact(*r, *ratio)
                       : std::abs(rv - ratio->value()) <= options_.rel_tol * std::abs(ratio->value()) + 1e-9))
      return false;
    if (ordered && (std::abs(rv.imag()) > 1e-9 || rv.real() <= 0)) return false;
    ratio = r;
    magnitude = std::max({magnitude, std::abs(v1), std::abs(v2)});
  }
  return !ratio || (written_exact && ratio->exact) || scaled_ratio_holds(a, b, vars, *ratio, ordered, magnitude,
                                                                         written_exact ? 1e-9 : options_.rel_tol);
}

// Where a constant dwarfs what the sides vary by at the sample points, the ratio of two relations is nearly
// constant there whatever the constant: 3x = 3000000 had equalled 3x = 3600000.0, x^2 + y^2 = 10000
// equalled x^2 + y^2 = 10001.0 (a breaker). So the ratio is checked again with the variables scaled to the
// differences' size (magnitude): by its square root and by itself. Exact relations are compared exactly
// (relations_equal); a point outside the domain, or where a difference cancels to noise, is no evidence.
// Written without a decimal (x + y = 10^7 + \sqrt{2}), within float error: `tolerance` is 1e-9 then.
bool Comparer::scaled_ratio_holds(const Node& a, const Node& b, const std::vector<std::string>& vars,
                                  const Number& ratio, bool ordered, double magnitude, double tolerance) {
  if (vars.empty() || !(magnitude > 100.0) || !std::isfinite(magnitude)) return true;
  const std::complex<double> wanted = ratio.value();
  for (const double factor : {std::sqrt(magnitude), magnitude})
    for (int k = 0; k < kPositivePoints; ++k) {
      auto env = point(vars, k);
      for (auto& entry : env) entry.second *= factor;
      EvalTrace trace;
      auto d1 = difference(a, env, trace), d2 = difference(b, env, trace);
      if (budget_.exhausted()) return false;
      if (!d1 || !d2 || trace.left_reals) continue;
      const std::complex<double> v1 = d1->value(), v2 = d2->value();
      if (!std::isfinite(std::abs(v1)) || !std::isfinite(std::abs(v2))) continue;
      if (std::max(std::abs(v1), std::abs(v2)) <= 1e-6 * trace.largest_term) continue;   // cancelled to noise
      if (std::abs(v2) == 0.0) return false;
      const std::complex<double> rv = v1 / v2;
      if (std::abs(rv - wanted) > tolerance * std::abs(wanted) + 1e-12) return false;
      if (ordered && rv.real() <= 0) return false;
    }
  return true;
}

// The two sides' difference, exact where both sides are.
std::optional<Number> Comparer::difference(const Node& rel, const std::map<std::string, double>& env,
                                           EvalTrace& trace) {
  auto l = evaluate(rel.kids[0], env, budget_, &trace), r = evaluate(rel.kids[1], env, budget_, &trace);
  if (!l || !r) return std::nullopt;
  return detail::add(*l, detail::neg(*r), budget_);
}

}  // namespace cotnpot::answer::detail
