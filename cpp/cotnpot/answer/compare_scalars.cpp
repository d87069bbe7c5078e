// Comparer (detail/comparer.h): two scalar expressions. Exact where both are; else their values at sample
// points (and, with quad precision, far points that refute), within the rules of compare_numbers.cpp.
#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "cotnpot/answer/detail/comparer.h"
#include "cotnpot/answer/detail/wide_compare.h"
#include "cotnpot/answer/limits.h"

namespace cotnpot::answer::detail {

// A number written with a decimal point anywhere in n: its author may have rounded, so values computed
// from it are compared within rel_tol (0.333x is x/3 at math_equal's 1e-4) and within that rounding
// (within_rounding), never exactly.
bool Comparer::has_decimal(const Node& n) {
  if (n.decimals >= 0) return true;
  for (const Node& kid : n.kids)
    if (has_decimal(kid)) return true;
  return false;
}

// The decimals written in n, in a fixed walk order (so that a copy's are found at the same places).
void Comparer::decimal_leaves(Node& n, std::vector<Node*>& out) {
  if (n.kind == Kind::Num && n.decimals >= 0) out.push_back(&n);
  for (Node& kid : n.kids) decimal_leaves(kid, out);
}

// Whether the written decimals of a and b can explain the difference of their values x and y at env: each
// decimal stands for anything within half a unit of its last digit (33.333 for [33.3325, 33.3335]; 0.13
// for 0.125, rounded half up), and the larger effect of moving it either way is summed over all of them.
// rel_tol alone let x + 1000000.5 equal x + 1000000 and 0.5x + 10^7 equal x/2 + 10^7 + 1 (a breaker),
// while the constants 1000000.5 and 1000000 were already different. No verdict (nullopt) for a decimal of
// 15+ significant digits, a float's repr, left to rel_tol as for constants; nor where the check would
// take more than a quarter of the budget left (it evaluates each side twice per decimal: many decimals,
// equal in any order, had run the budget out, a difference then).
std::optional<bool> Comparer::within_rounding(const Node& a, const Node& b,
                                              const std::map<std::string, double>& env, const Number& x,
                                              const Number& y) {
  std::vector<Node*> counted;
  Node a_copy = a, b_copy = b;
  decimal_leaves(a_copy, counted);
  const size_t in_a = counted.size();
  decimal_leaves(b_copy, counted);
  const long cost = 2 * long(counted.size()) * (size_of(a) + size_of(b)) + size_of(a) + size_of(b);
  if (cost > (kMaxSteps - budget_.steps) / 4 || !budget_.spend(size_of(a) + size_of(b))) return std::nullopt;
  double allowance = 0.0;
  for (size_t i = 0; i < counted.size(); ++i) {
    Node* leaf = counted[i];
    if (!leaf->num.exact || leaf->num.big || looks_computed(leaf->num) || leaf->decimals > 17) return std::nullopt;
    const Node& side = i < in_a ? a_copy : b_copy;
    const Number& value = i < in_a ? x : y;
    const Number written = leaf->num;
    int64_t unit = 2;   // 2 * 10^decimals: half a unit of the last digit is 1 / unit
    for (int d = 0; d < leaf->decimals; ++d) unit *= 10;
    double largest = 0.0;
    for (const int64_t sign : {1, -1}) {
      leaf->num = detail::add(written, Number::rational(sign, unit), budget_);
      auto moved = evaluate(side, env, budget_);
      leaf->num = written;
      if (!moved || budget_.exhausted()) return std::nullopt;
      largest = std::max(largest, std::abs(moved->value() - value.value()));
    }
    allowance += largest;
  }
  const double difference = std::abs(x.value() - y.value());
  const double scale = std::max(std::abs(x.value()), std::abs(y.value()));
  return difference <= allowance * (1.0 + 1e-9) + kFloatNoise * scale;
}

// Deterministic "random" values in [0.6, 2.4], on a grid of 1/64, for each variable at sample k; for
// k >= kPositivePoints the values of sample k - kPositivePoints negated, and scaled (x 1, 2.5, 1.5) so that
// |x + 3| is told from x + 3 too; the later classes as above. A golden-ratio style sequence per variable,
// each with a step of its own: the earlier formula stepped 0.032 a sample for a lone variable, all five
// points in [1.40, 1.64] (a breaker).
std::map<std::string, double> Comparer::point(const std::vector<std::string>& vars, int k) {
  static constexpr double kSteps[] = {0.6180339887, 0.4142135624, 0.7320508076, 0.2360679775,
                                      0.6457513111, 0.3166247904, 0.6055512755, 0.1231056256};
  static constexpr double kNegativeScale[] = {1.0, 2.5, 1.5};
  const int j = k >= kLargeEnd  ? k - kLargeEnd
                : k >= kSmallEnd ? k - kSmallEnd
                : k >= kPoints   ? k - kPoints
                                 : k % kPositivePoints;   // a negative point: its positive one's value
  static constexpr double kIntegers[] = {3, -2, 5, 7, -3};
  std::map<std::string, double> env;
  for (size_t v = 0; v < vars.size(); ++v) {
    const double step = kSteps[v % 8] + 0.0710678119 * double(v / 8);
    const double u = std::fmod(0.5 + 0.3819660113 * double(v) + step * double(j + 1), 1.0);
    const bool negative = k >= kPositivePoints && (k != kPoints - 1 || v % 2 == 0);
    const double value = k >= kLargeEnd ? kIntegers[(j + v) % 5] * double(1 + v / 5)   // v, v + 5 apart
                         : k >= kSmallEnd ? 3.5 + 5.5 * u
                         : k >= kPoints   ? ((k - kPoints + int(v)) % 3 == 2 ? -1.0 : 1.0) * (0.1 + 0.35 * u)
                         : negative       ? -kNegativeScale[j] * (0.6 + 1.8 * u)
                                          : 0.6 + 1.8 * u;
    env[vars[v]] = std::round(value * kSampleGrid) / kSampleGrid;   // exact rationals (evaluate)
  }
  return env;
}

// The quad-precision verdict on a and b (written without a decimal) at env, whose values in doubles are x
// and y (detail/wide_compare.h); nullopt where it has none, and where both are exact (the exact rules
// decide) or either is past a double's range without an irrational part: such a value equals nothing but
// its own text (10^{1001} had equalled 10^{1001} + 1 in quad precision, which holds them but not their
// last digit; a breaker).
std::optional<bool> Comparer::quad_verdict(const Node& a, const Node& b, const std::map<std::string, double>& env,
                                           const Number& x, const Number& y, bool percent,
                                           bool refute_only) {
  if (x.exact && y.exact) return std::nullopt;
  // e^{(x+1)^6} is its expanded form (e^{1544} at a sample point; in doubles both were inf, which equals
  // nothing)
  const bool finite = std::isfinite(std::abs(x.value())) && std::isfinite(std::abs(y.value()));
  if (!finite && !(has_irrational_part(a) && has_irrational_part(b))) return std::nullopt;
  return detail::wide_equal(
      a, b, {std::max(1e-9, options_.rel_tol), x.is_integer() || y.is_integer(), percent, refute_only}, budget_, env);
}

// Whether n holds \pi, e, a function other than |.|, ! and \binom, or a power that is not a whole number's:
// a part whose value is irrational for almost every argument.
bool Comparer::has_irrational_part(const Node& n) {
  if (n.kind == Kind::Sym && (n.name == "\\pi" || n.name == "e")) return true;
  if (n.kind == Kind::Func && n.name != "abs" && n.name != "factorial" && n.name != "binom") return true;
  if (n.kind == Kind::Pow) {
    const Node& exponent = n.kids[1].kind == Kind::Neg ? n.kids[1].kids[0] : n.kids[1];
    if (!(exponent.kind == Kind::Num && exponent.num.is_integer())) return true;
  }
  for (const Node& kid : n.kids)
    if (has_irrational_part(kid)) return true;
  return false;
}

std::map<std::string, double> Comparer::far_point(const std::vector<std::string>& vars, int j) {
  static constexpr double kMagnitudes[] = {12.3456789012, 31.1734113571, 23.4519331729, 97.2718281828,
                                           613.1415926535};
  std::map<std::string, double> env;
  for (size_t v = 0; v < vars.size(); ++v) {
    static constexpr double kSigns[] = {1.0, 1.0, -1.0, -1.0, 1.0};
    const double sign = kSigns[j] * (v % 2 == 1 ? -1.0 : 1.0);
    env[vars[v]] = sign * (kMagnitudes[j] + 1.390625 * double(v % 16));
  }
  return env;
}

// Both exact, with no decimal written on either side (written_exact): equal or not, as exact values are
// (100001n had equalled 100000n at rel_tol 1e-4, x^2 + 1000000 equalled x^2 + 1000001 at any rel_tol: a
// breaker). Else within rel_tol, or within float error where no decimal is written (within_float_error);
// within a billionth of a cancelling sum's largest term ((5x+7)^4 and its expansion differ by 1.6e-5 of
// their value near -7/5), WithinCancellation.
Comparer::Agreement Comparer::sampled_agreement(const Number& x, const Number& y, const EvalTrace& trace,
                                                bool written_exact) const {
  if (written_exact && x.exact && y.exact) return same_exact(x, y) ? Agreement::Equal : Agreement::Different;
  if (written_exact ? within_float_error(x, y, trace)
                    : numbers_equal(Number::inexact(x.value()), Number::inexact(y.value()), /*decimals_written=*/true))
    return Agreement::Equal;
  const double d = std::abs(x.value() - y.value());
  const double lost = (written_exact ? 1e-13 : std::min(options_.rel_tol, 1e-9)) * trace.largest_term;
  return std::isfinite(d) && d <= lost + 1e-12 ? Agreement::WithinCancellation : Agreement::Different;
}

int Comparer::infinity_sign(const Node& n) {
  if (n.kind == Kind::Infinity) return 1;
  if (n.kind == Kind::Neg && n.kids[0].kind == Kind::Infinity) return -1;
  return 0;
}

std::optional<Comparer::IntegerText> Comparer::integer_text(const Node& n) {
  if (n.kind == Kind::Neg && n.kids.size() == 1) {
    auto inner = integer_text(n.kids[0]);
    if (inner && inner->text != "0") inner->text = inner->text[0] == '-' ? inner->text.substr(1) : "-" + inner->text;
    return inner;
  }
  if (n.kind != Kind::Num) return std::nullopt;
  if (!n.name.empty()) return IntegerText{n.name, true};
  if (n.num.exact && n.num.q == 1) return IntegerText{std::to_string(n.num.p), false};
  return std::nullopt;
}

bool Comparer::scalars_equal(const Node& a, const Node& b) {
  const int ia = infinity_sign(a), ib = infinity_sign(b);
  if (ia || ib) return ia == ib;
  // Two integers are equal or not (numbers_equal's rule), also past int64 where their doubles round.
  if (!options_.percent) {
    const auto ta = integer_text(a), tb = integer_text(b);
    if (ta && tb && (ta->big || tb->big)) return ta->text == tb->text;
  }
  std::vector<std::string> vars;
  collect_variables(a, vars);
  collect_variables(b, vars);
  // A value computed after the budget ran out is not trusted: the exact arithmetic may have fallen back
  // to doubles midway (2^{1023} + 1 then equalled 2^{1023}; found by a breaker).
  if (vars.empty()) {
    EvalTrace trace;
    auto x = evaluate(a, {}, budget_, &trace), y = evaluate(b, {}, budget_, &trace);
    if (!x || !y || budget_.exhausted()) return false;
    // exact values (integers, rationals) by numbers_equal's rules; an irrational one written without a
    // decimal, within float error (within_float_error)
    const bool decimals_written = has_decimal(a) || has_decimal(b);
    if (x->exact && y->exact) return values_equal(*x, *y, decimals_written);
    if (tiny_values_differ(a, b, *x, *y, trace)) {
      if (!options_.percent) return false;
      if (tiny_values_differ(a, b, hundredfold(*x), *y, trace) && tiny_values_differ(a, b, *x, hundredfold(*y), trace))
        return false;
    }
    if (decimals_written) return values_equal(*x, *y, true);
    // Real constants in quad precision where it takes them (quad_verdict): doubles had lost 1e-4 of
    // (3-2\sqrt{2})^8 written as its expansion, and every value below 1e-12 had been zero.
    if (const auto wide = quad_verdict(a, b, {}, *x, *y, options_.percent)) return *wide;
    if (within_float_error(*x, *y, trace)) return true;
    if (!options_.percent) return false;
    return within_float_error(hundredfold(*x), *y, trace) || within_float_error(*x, hundredfold(*y), trace);
  }
  // Every point where both sides stay real must agree, and at least three must be such points; with fewer,
  // the complex values at the positive points must agree (their branches decide then). A point outside
  // the reals is no evidence: there \sqrt{x}\sqrt{y} and \sqrt{xy} differ by complex branches, not in the
  // reals the answers mean.
  const bool written_exact = !has_decimal(a) && !has_decimal(b);
  int real_points = 0, uncertain = 0, complex_rounded = 0, points = 0;
  bool complex_agree = true;
  const long steps_before = budget_.steps;
  for (int k = 0; k < kLargeEnd; ++k, ++points) {
    if (k == kSmallEnd && real_points >= 3) break;   // the large points only where needed
    const auto env = point(vars, k);
    EvalTrace trace;
    auto x = evaluate(a, env, budget_, &trace), y = evaluate(b, env, budget_, &trace);
    if (budget_.exhausted()) return false;
    const bool positive = k < kPositivePoints;
    if (!x || !y) {
      if (positive) return false;   // each side must be defined there
      continue;                     // a negative value may leave a domain (1/x at 0, a factorial)
    }
    // Written without a decimal, with real values here: quad precision decides where it takes both sides
    // (detail/wide_compare.h), so a point near a root of an expanded polynomial is evidence too ((x-\pi)^{12}
    // had equalled its expansion plus 10^{-6}: in doubles that was within the expansion's float error)
    std::optional<bool> wide;
    if (written_exact && !trace.left_reals) wide = quad_verdict(a, b, env, *x, *y, false);
    const Agreement agreement = wide ? (*wide ? Agreement::Equal : Agreement::Different)
                                     : sampled_agreement(*x, *y, trace, written_exact);
    const bool agree = agreement != Agreement::Different;
    // Outside the reals only agreement within float error or rel_tol counts (\sqrt{-z^2} + 10^{100} - 10^{100}
    // had equalled anything: a breaker), and the decimals' rounding is checked as at real points
    // (\sqrt{x-10} + 1000000.5 had equalled both \sqrt{x-10} + 1000000 and \sqrt{x-10} + 1000001: a later one).
    if (trace.left_reals) {
      if (positive && agreement != Agreement::Equal) complex_agree = false;
      if (positive && complex_agree && !written_exact && complex_rounded < 3) {
        ++complex_rounded;
        if (within_rounding(a, b, env, *x, *y) == false || budget_.exhausted()) complex_agree = false;
      }
      continue;
    }
    if (!agree) return false;
    if (agreement == Agreement::WithinCancellation) {   // no evidence: the other points decide
      ++uncertain;
      continue;
    }
    // the decimals' rounding at the first three real points (each costs two evaluations per decimal)
    if (!written_exact && real_points < 3 && (within_rounding(a, b, env, *x, *y) == false || budget_.exhausted()))
      return false;
    ++real_points;
  }
  if (real_points < 3 && (!complex_agree || uncertain > 0)) return false;
  // Refutation only, at five points far out (|x| 12 to 613): |x-5| had equalled 5-x, \sqrt{x^2-20x+100}
  // 10-x and |x+10| x+10, equal wherever the points above lie (a breaker). A point where either side is
  // not a finite real, or that a sum cancelled to noise, says nothing. With a decimal written, far out its
  // rounding grows past rel_tol (e^{-0.13t} is e^{-t/8} rounded, 14% off at t = 31): there only sides
  // without an irrational part (doubles hold sums, products and powers of the variables and |.| well) are
  // compared, and they differ only where the decimals' rounding cannot explain it (|x-5| had equalled
  // 5.0-x: a second breaker). They are skipped where the budget left would not cover them at what the
  // points above cost (three times as much with decimals): a pair that fitted the budget before them had
  // run it out, a difference then (a breaker).
  const long per_point = (budget_.steps - steps_before) / std::max(points, 1);
  const bool far_decimals = !written_exact && !has_irrational_part(a) && !has_irrational_part(b);
  const bool far_points_fit =   // these five, the three below, one spare
      kMaxSteps - budget_.steps > (written_exact ? 9 : 27) * per_point;
  for (int j = 0; j < kFarPoints && (written_exact || far_decimals) && far_points_fit; ++j) {
    const auto env = far_point(vars, j);
    EvalTrace trace;
    auto x = evaluate(a, env, budget_, &trace), y = evaluate(b, env, budget_, &trace);
    if (budget_.exhausted()) return false;
    if (!x || !y || trace.left_reals || !std::isfinite(std::abs(x->value())) || !std::isfinite(std::abs(y->value())))
      continue;
    if (!written_exact) {
      if (sampled_agreement(*x, *y, trace, false) == Agreement::Different &&
          within_rounding(a, b, env, *x, *y) == false)
        return false;
      if (budget_.exhausted()) return false;
      continue;
    }
    // quad precision's verdict only: in doubles a function of a large argument there (\cos(e^{x}) at 613) is
    // noise, which had made equal forms differ
    const std::optional<bool> wide = quad_verdict(a, b, env, *x, *y, false, /*refute_only=*/true);
    if (wide && !*wide) return false;
  }
  if (written_exact)
    for (int k = kLargeEnd; k < kIntegerEnd; ++k) {   // refutation only: exact values that differ
      const auto env = point(vars, k);
      auto x = evaluate(a, env, budget_), y = evaluate(b, env, budget_);
      if (budget_.exhausted()) return false;
      if (x && y && x->exact && y->exact && !same_exact(*x, *y)) return false;
    }
  return true;
}

}  // namespace cotnpot::answer::detail
