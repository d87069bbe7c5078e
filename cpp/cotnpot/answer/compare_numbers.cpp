// Comparer (detail/comparer.h): the rules for two numbers. Exact rationals, written decimals and what they
// may have rounded, a program's float output, float noise of functions, tiny values, percent.
#include <algorithm>
#include <cmath>
#include <complex>

#include "cotnpot/answer/detail/big_integer.h"
#include "cotnpot/answer/detail/comparer.h"
#include "cotnpot/answer/detail/number_ops.h"

namespace cotnpot::answer::detail {

// Two values of expressions written without a decimal, one of them irrational (\sqrt{2}, \pi, e^x): both
// stand for exact values, so they differ by float error at most, or they are not equal. rel_tol had made
// \sqrt{2} + 10^7 equal \sqrt{2} + 10^7 + 1 (1e-7 apart; a breaker). Float error here is
//  - relative: a billionth, or 1e-14 times what a sum cancelled (EvalTrace::cancellation:
//    1/(\sqrt{10^8+1} - 10^4) is 2e-8 off its rationalized form; breakers), never more than rel_tol;
//  - a few hundred ulps of the largest term a cancelling sum added (\sqrt{2}\sqrt{2} - 2 is 4e-16; not a
//    billionth of it, which made \pi + 10^{10} - 10^{10} equal \pi + 1: a breaker);
//  - never more than rel_tol of the values: 10^{30}\sqrt{2} - 10^{30}\sqrt{2} had equalled 42 (a breaker),
//    and a cap of 1e-4 let a padding 10^{15}\sqrt{2} - 10^{15}\sqrt{2}, or a sum cancelling inside a
//    function, widen any comparison to 1e-4 (a later one). So (2-\sqrt{3})^{10}, 3e-5 off its expansion
//    262087 - 151316\sqrt{3} in doubles, is not equal to it here: real constants are compared in quad
//    precision first (detail/wide_compare.h), and this rule decides for the rest. Against an
//    integer, nearer to it than to any other (10^{12} + \sqrt{2} had equalled some 2,000 integers);
//  - 1e-12 absolute, for zeros that a function computes as noise (\sin\pi is 1.2e-16, \cos\frac{\pi}{2}
//    6e-17: polar coordinates and rotation matrices had stopped equalling their values; a breaker).
bool Comparer::within_float_error(const Number& x, const Number& y, const EvalTrace& trace) const {
  const std::complex<double> a = x.value(), b = y.value();
  const double d = std::abs(a - b), scale = std::max(std::abs(a), std::abs(b));
  const double most = std::max(1e-9, options_.rel_tol);
  const double relative = std::min(std::max(1e-9, 1e-14 * trace.cancellation), most);
  const bool integer = x.is_integer() || y.is_integer();   // big ones too (2^{70} + 12345, a breaker)
  return std::isfinite(d) && (!integer || d < 0.5) &&
         d <= std::min(std::max(relative * scale, 1e-13 * trace.largest_term), most * scale) + 1e-12;
}

// Tiny values written as numbers (1.6 \times 10^{-19}, 1.6e-19: past int64's denominators, so doubles). With
// no function, constant or root on either side there is no function's noise for relatively_close's 1e-12
// absolute floor to allow for, and that floor made every value below it equal (1.6e-19 and 1.6e-18, 6.63e-34
// and 9.11e-31, 10^{-19} and 0.0: a breaker). Such a pair differs where it differs by more than rel_tol of
// the larger (or than a cancelling sum's rounding, as in within_float_error); with `percent`, where it
// differs so in each of values_equal's three comparisons (a reviewer).
bool Comparer::tiny_values_differ(const Node& a, const Node& b, const Number& x, const Number& y,
                                  const EvalTrace& trace) const {
  const std::complex<double> u = x.value(), v = y.value();
  const double d = std::abs(u - v), scale = std::max(std::abs(u), std::abs(v));
  if (!(scale < 1e-6) || has_irrational_part(a) || has_irrational_part(b)) return false;
  return !(d <= options_.rel_tol * scale + 1e-13 * trace.largest_term);
}

bool Comparer::same_exact(const Number& x, const Number& y) {
  if (x.big || y.big) return x.big && y.big && *x.big == *y.big;
  return x.p == y.p && x.q == y.q;
}

// `decimals_written`: whether either answer holds a written decimal (has_decimal), the only case in which two
// different exact rationals may be one the other rounded (exact_values_close).
bool Comparer::numbers_equal(const Number& x, const Number& y, bool decimals_written) const {
  // Two integers are equal or not: 1450001 is not 1450000, however close in relative terms; nor is 2^{70}
  // 2^{70} + 1 (both exact: a big integer is never one that fits in int64).
  if (x.big || y.big) {
    if (x.big && y.big) return *x.big == *y.big;
    if (x.is_integer() && y.is_integer()) return false;
    // a big integer against a non-integer: an integer is exact, or only the nearest to a float (2^{70} +
    // \frac{1}{2} had equalled every integer within rel_tol of it, some 10^{15}: a breaker)
    if ((x.big ? y : x).exact) return false;
    if (std::abs(x.value() - y.value()) >= 0.5) return false;
  } else if (x.exact && y.exact) {
    if (x.p == y.p && x.q == y.q) return true;
    if (x.q == 1 && y.q == 1) return false;
    return exact_values_close(x, y, decimals_written);
  }
  return relatively_close(x.value(), y.value(), options_.rel_tol);
}

// Two different exact rationals (p/q in int64), not both integers, their difference taken exactly (in
// doubles, past 1e10 its rounding alone was over the tolerance). Within float noise they are equal; past
// rel_tol, not. Between the two, it depends on what they are:
//  - a decimal of 15 or more significant digits is a computation's output (a program's 10.026098026734564
//    for a solution's 10.02609801394532, or for its 100,282): its last digits are noise, rel_tol decides;
//    against a shorter decimal, that one must also be it rounded to its places (333333.6666666667 is not
//    333333.9); against an integer, it must also be nearer to it than to any other: rel_tol had let 100000050.000001
//    equal every integer from 99999950 to 100000150, and 1000000.49999999 both 1000000 and 1000001 (a
//    breaker), while 100282.0143884892, a program's value for a solution's 100,282, stays equal;
//  - else an integer is exact: 1000000.5, \frac{3000001}{3} and 7.000001 are not 1000000 or 7 (a breaker);
//  - else the coarser, a terminating decimal, must be the other rounded to its places: 33.333 is 100/3 at
//    rel_tol 1e-4 and 0.333333 is 1/3, but 1000000.4 is not 1000000.5.
// All of it only where a decimal is written: two different values written exactly are different, and a
// fraction whose value happens to terminate is no rounding (\frac{2793}{2800} = 0.9975 had equalled
// \frac{2792}{2799}, and \frac{1000001}{1000000} \frac{1000000}{999999} within float noise: a breaker).
bool Comparer::exact_values_close(const Number& x, const Number& y, bool decimals_written) const {
  if (!decimals_written) return false;   // two fractions, or a fraction and an integer: exact, and different
  const __int128 numerator = static_cast<__int128>(x.p) * y.q - static_cast<__int128>(y.p) * x.q;
  const __int128 denominator = static_cast<__int128>(x.q) * y.q;
  const double difference = std::abs(static_cast<double>(numerator) / static_cast<double>(denominator));
  const double scale = std::max(std::abs(x.value()), std::abs(y.value()));
  if (difference <= std::min(options_.rel_tol, kFloatNoise) * scale) return true;
  // The difference is exact: no absolute allowance (1e-12 had let 1.6e-17 equal 1.64e-17 by the rounding
  // rule below, and 10^{-13} equal 1.4 \times 10^{-13}: a reviewer), only the doubles' rounding of a
  // difference at rel_tol itself (0.333333 is 1/3 at 1e-6, where the two sides meet).
  if (difference > options_.rel_tol * scale * (1.0 + 1e-9)) return false;
  if (looks_computed(x) || looks_computed(y)) {
    if (x.q == 1 || y.q == 1) return difference < 0.5;   // against an integer, nearer to it than to any other
    // Against a shorter terminating decimal, that decimal must be the computed value rounded to its places
    // (give or take the float noise): rel_tol alone let 333333.6666666667 equal 333333.9, and every decimal
    // of one place within 0.33 of it (a breaker). Against another computed value or a fraction that does not
    // terminate, rel_tol decides.
    const Number& other = looks_computed(x) ? y : x;
    const int places = decimal_places(other.q);
    if (looks_computed(other) || places == kNonTerminating) return true;
    return difference <= 0.5 * std::pow(10.0, -places) * (1.0 + 1e-9) + kFloatNoise * scale;
  }
  if (x.q == 1 || y.q == 1) return false;
  const int places = std::min(decimal_places(x.q), decimal_places(y.q));
  return places < kNonTerminating && difference <= 0.5 * std::pow(10.0, -places) * (1.0 + 1e-9);
}

// A non-integer terminating decimal of 15 or more significant digits, as a float's repr has
// (exact_values_close). A threshold, so not monotone near it (1000000.49999999 matches 1000000, 1000000.4 does
// not); at 12 digits human-written decimals reached it (1000000.49999, 7.00000100001: a reviewer). In long
// double: |p| 10^places / q overflowed int128.
bool Comparer::looks_computed(const Number& n) {
  const int places = decimal_places(n.q);
  if (n.q == 1 || places == kNonTerminating) return false;
  const long double digits = std::fabs(static_cast<long double>(n.p)) * std::pow(10.0L, places) / n.q;
  return digits >= 1e14L;
}

int Comparer::decimal_places(int64_t q) {
  int twos = 0, fives = 0;
  for (; q % 2 == 0; q /= 2) ++twos;
  for (; q % 5 == 0; q /= 5) ++fives;
  return q == 1 ? std::max(twos, fives) : kNonTerminating;
}

bool Comparer::values_equal(const Number& x, const Number& y, bool decimals_written) const {
  if (numbers_equal(x, y, decimals_written)) return true;
  if (!options_.percent) return false;
  return numbers_equal(hundredfold(x), y, decimals_written) || numbers_equal(x, hundredfold(y), decimals_written);
}

}  // namespace cotnpot::answer::detail
