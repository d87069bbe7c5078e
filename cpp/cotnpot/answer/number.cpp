// Exact rational arithmetic while it stays exact (int64 numerator and denominator, overflow-checked; integers
// past int64 as BigInteger up to kMaxIntegerDigits digits), complex doubles once it cannot: the numbers of
// expr.h.
#include "cotnpot/answer/detail/number_ops.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "cotnpot/answer/detail/big_integer.h"
#include "cotnpot/answer/limits.h"

namespace cotnpot::answer {

Number Number::rational(int64_t p, int64_t q) {
  // INT64_MIN has no negation in int64 ((-2)^63 gets here from model text): an integer of its own then, and
  // as a denominator a double.
  if (p == INT64_MIN && q == 1) return integer(detail::BigInteger::of(p));
  if (p == INT64_MIN || q == INT64_MIN) return inexact({double(p) / double(q), 0.0});
  if (q < 0) p = -p, q = -q;
  const int64_t g = std::gcd(p < 0 ? -p : p, q);
  Number n;
  n.p = g ? p / g : 0, n.q = g ? q / g : 1;
  return n;
}

Number Number::inexact(std::complex<double> z) {
  Number n;
  n.exact = false;
  n.z = z;
  return n;
}

Number Number::integer(detail::BigInteger big) {
  if (const auto small = big.to_int64()) return rational(*small);
  Number n;
  n.z = {big.to_double(), 0.0};
  n.big = std::make_shared<const detail::BigInteger>(std::move(big));
  return n;
}


namespace detail {

namespace {

// The integer an exact number holds, as a BigInteger; nullopt for fractions and inexact numbers.
std::optional<BigInteger> integer_of(const Number& n) {
  if (n.big) return *n.big;
  if (n.exact && n.q == 1) return BigInteger::of(n.p);
  return std::nullopt;
}

// Big-integer work, charged to the budget by its size in limbs; false once the budget is gone.
bool charge(Budget& budget, size_t limb_products) { return budget.spend(1 + long(limb_products / 64)); }

// The exact integer when it stays within kMaxIntegerDigits, else its double.
Number bounded(BigInteger n) {
  if (n.digit_count() > kMaxIntegerDigits) return Number::inexact({n.to_double(), 0.0});
  return Number::integer(std::move(n));
}

bool is_exact_zero(const Number& n) { return n.exact && !n.big && n.p == 0; }

}  // namespace

Number add(const Number& a, const Number& b, Budget& budget) {
  if (a.exact && b.exact && !a.big && !b.big) {
    // over the least common denominator: sums of a polynomial at a point of 1/64ths share powers of 64, whose
    // product overflowed where their lcm (the larger) does not
    const int64_t g = std::gcd(a.q, b.q), aq = a.q / g, bq = b.q / g;
    int64_t x, y, n, d;
    if (!__builtin_mul_overflow(a.p, bq, &x) && !__builtin_mul_overflow(b.p, aq, &y) &&
        !__builtin_add_overflow(x, y, &n) && !__builtin_mul_overflow(a.q, bq, &d))
      return Number::rational(n, d);
  }
  const auto x = integer_of(a), y = integer_of(b);
  if (x && y && charge(budget, std::max(x->limbs.size(), y->limbs.size()))) return bounded(*x + *y);
  return Number::inexact(a.value() + b.value());
}

Number mul(const Number& a, const Number& b, Budget& budget) {
  if (a.exact && b.exact && !a.big && !b.big) {
    int64_t n, d;
    if (!__builtin_mul_overflow(a.p, b.p, &n) && !__builtin_mul_overflow(a.q, b.q, &d)) return Number::rational(n, d);
  }
  // Exact zero times anything is zero, also times a number past double's range (0 * inf would be NaN).
  if (is_exact_zero(a) || is_exact_zero(b)) return Number::rational(0);
  // Integers past int64: exact while the product's digits (at most the sum of the factors') stay within
  // bounds. A fraction with a big integer is a double, as past int64 before (2^{70}/2 is 2^{69} within
  // rel_tol, not digit for digit): exact fractions would make whether a rounded 5.192297 \times 10^{33}
  // equals 2^{112} depend on how many decimals it has.
  const auto x = integer_of(a), y = integer_of(b);
  if (x && y && x->digit_count() + y->digit_count() <= kMaxIntegerDigits + 1 &&
      charge(budget, x->limbs.size() * y->limbs.size()))
    return bounded(*x * *y);
  return Number::inexact(a.value() * b.value());
}

Number neg(const Number& a) {
  if (a.big) return Number::integer(-*a.big);
  // (an exact rational never holds INT64_MIN: rational() makes it a big integer or a double)
  if (a.exact && a.p != INT64_MIN) return Number::rational(-a.p, a.q);
  // A real stays on the real axis with +0 in its imaginary part: -(x + 0i) as -x - 0i took \sqrt{-\pi} to the
  // lower branch, -i\sqrt{\pi} (a breaker)
  const std::complex<double> z = a.value();
  return Number::inexact({-z.real(), z.imag() == 0.0 ? 0.0 : -z.imag()});
}

Number absolute(const Number& a) {
  if (a.big) return Number::integer(a.big->abs());
  if (a.exact) return a.p < 0 ? neg(a) : a;
  return Number::inexact({std::abs(a.value()), 0.0});
}

static std::optional<Number> inverse(const Number& a) {
  if (a.big) return Number::inexact({1.0 / a.z.real(), 0.0});
  if (a.exact) {
    if (a.p == 0) return std::nullopt;
    return Number::rational(a.q, a.p);
  }
  if (std::abs(a.z) == 0.0) return std::nullopt;
  return Number::inexact(1.0 / a.z);
}

// Exact integer root of a non-negative int64 when there is one.
static std::optional<int64_t> exact_root(int64_t x, int64_t n) {
  if (x < 0 || n < 1) return std::nullopt;
  const double guess = std::round(std::pow(double(x), 1.0 / double(n)));
  for (int64_t r = std::max<int64_t>(0, int64_t(guess) - 1); r <= int64_t(guess) + 1; ++r) {
    int64_t acc = 1;
    bool overflow = false;
    for (int64_t i = 0; i < n && !overflow; ++i) overflow = __builtin_mul_overflow(acc, r, &acc);
    if (!overflow && acc == x) return r;
  }
  return std::nullopt;
}

std::optional<Number> power(const Number& base, const Number& exponent, Budget& budget) {
  // 1 and -1 to any integer power, also one past int64 (its double would lose the parity).
  if (base.exact && !base.big && base.q == 1 && (base.p == 1 || base.p == -1) && exponent.is_integer()) {
    const bool odd = exponent.big ? (exponent.big->limbs[0] & 1) : (exponent.p & 1);
    return Number::rational(base.p == -1 && odd ? -1 : 1);
  }
  // An integer to an integer power: exact, by squaring, when the result's digits stay within bounds
  // (2^{70}, 3^{100}); past them a double.
  const auto integer_base = integer_of(base);
  if (integer_base && !integer_base->is_zero() && exponent.exact && !exponent.big && exponent.q == 1 && exponent.p != INT64_MIN) {
    const int64_t e = exponent.p < 0 ? -exponent.p : exponent.p;
    // base^e has floor(e log10|base|) + 1 digits; mul keeps each product within the bound exactly. (A big
    // base past double's range: its digit count bounds log10|base|.)
    const double log10_base = base.big ? double(base.big->digit_count())
                                       : std::log10(std::max(1.0, std::abs(base.value().real())));
    const double digits = double(e) * log10_base;
    if (digits < double(kMaxIntegerDigits)) {
      Number acc = Number::rational(1), square = base;
      for (int64_t k = e; k > 0; k >>= 1) {
        if (k & 1) acc = mul(acc, square, budget);
        if (k > 1) square = mul(square, square, budget);
      }
      return exponent.p < 0 ? inverse(acc) : std::optional<Number>(acc);
    }
  }
  if (exponent.exact && !exponent.big && exponent.q == 1 && base.exact && !base.big && std::llabs(exponent.p) <= 64) {
    Number acc = Number::rational(1);
    for (int64_t i = 0; i < std::llabs(exponent.p); ++i) acc = mul(acc, base, budget);
    return exponent.p < 0 ? inverse(acc) : std::optional<Number>(acc);
  }
  if (exponent.exact && !exponent.big && base.exact && !base.big && base.p >= 0 && exponent.q <= 64 &&
      std::llabs(exponent.p) <= 64) {
    const auto rp = exact_root(base.p, exponent.q), rq = exact_root(base.q, exponent.q);
    if (rp && rq) return power(Number::rational(*rp, *rq), Number::rational(exponent.p), budget);
  }
  const std::complex<double> b = base.value(), e = exponent.value();
  if (std::abs(b) == 0.0) {
    if (e.real() > 0) return Number::rational(0);
    return std::nullopt;
  }
  // Real roots of negative numbers with odd denominators stay real: (-8)^(1/3) = -2.
  if (b.imag() == 0 && b.real() < 0 && exponent.exact && exponent.q % 2 == 1)
    return Number::inexact({(exponent.p % 2 ? -1.0 : 1.0) * std::pow(-b.real(), e.real()), 0.0});
  return Number::inexact(std::pow(b, e));
}

std::optional<Number> factorial(const Number& n, Budget& budget) {
  // A real value that is no integer: Gamma(x + 1), so that an expression's factorials have values at the
  // fractional sample points (n! at n = 0.6 ...; (n+1)! had never equalled (n+1)n!). None at the poles
  // (negative integers) nor for complex values; none past a double's range.
  if (!n.is_integer() && !n.big) {
    const std::complex<double> z = n.value();
    if (z.imag() != 0.0) return std::nullopt;
    const double gamma = std::tgamma(z.real() + 1.0);
    // Gamma is never 0: a 0 is an underflow ((n-200)! at the sample points had equalled 0; a breaker)
    if (!std::isfinite(gamma) || gamma == 0.0) return std::nullopt;
    return Number::inexact({gamma, 0.0});
  }
  // 449! has 997 digits, 450! 1001
  if (n.big || n.p < 0 || n.p > 449) return std::nullopt;
  BigInteger acc = BigInteger::of(1);
  for (int64_t k = 2; k <= n.p; ++k) {
    if (!charge(budget, acc.limbs.size())) return std::nullopt;
    acc = acc.times_small(uint32_t(k));
  }
  return Number::integer(std::move(acc));
}

// binom(n, k) for a natural k and any n: n (n - 1) ... (n - k + 1) / k!, a polynomial in n -- exact for a
// rational n -- so that \binom{n}{2} has values at the fractional sample points (it had never equalled
// \frac{n(n-1)}{2}). k up to 64: a product of k factors.
static std::optional<Number> falling_binomial(const Number& n, int64_t k, Budget& budget) {
  if (k > 64) return std::nullopt;
  Number acc = Number::rational(1);
  for (int64_t j = 0; j < k; ++j) {
    if (!budget.spend()) return std::nullopt;
    acc = mul(acc, mul(add(n, Number::rational(-j), budget), Number::rational(1, j + 1), budget), budget);
  }
  return acc;
}

std::optional<Number> binomial(const Number& n, const Number& k, Budget& budget) {
  // A lower index that is no exact integer (\binom{2n}{n} at the fractional sample points): the Gamma
  // function's Gamma(n + 1) / (Gamma(k + 1) Gamma(n - k + 1)) for real values; none at its poles, nor for
  // complex values. (It had been 0: \binom{10}{2.0} equalled 0.)
  if (!k.exact || k.big || k.q != 1) {
    const std::complex<double> a = n.value(), b = k.value();
    if (a.imag() != 0.0 || b.imag() != 0.0) return std::nullopt;
    const double top = std::tgamma(a.real() + 1.0);
    const double value = top / (std::tgamma(b.real() + 1.0) * std::tgamma(a.real() - b.real() + 1.0));
    if (!std::isfinite(value) || top == 0.0) return std::nullopt;   // 0: an underflow (above)
    return Number::inexact({value, 0.0});
  }
  if (!n.is_integer() && !n.big) return k.p < 0 ? Number::rational(0) : falling_binomial(n, k.p, budget);
  // binom(n, k) <= 2^n: n up to 3000 stays within 1000 digits
  if (n.big || n.p < 0 || n.p > 3000) return std::nullopt;
  if (k.p < 0 || k.p > n.p) return Number::rational(0);
  const int64_t j_max = std::min(k.p, n.p - k.p);
  BigInteger acc = BigInteger::of(1);
  for (int64_t j = 1; j <= j_max; ++j) {  // acc = binom(n - j_max + j, j) at each step: the division is exact
    if (!charge(budget, acc.limbs.size())) return std::nullopt;
    auto next = acc.times_small(uint32_t(n.p - j_max + j)).divided_exactly(uint32_t(j));
    if (!next) return std::nullopt;  // cannot happen (an integer at every step); refused rather than wrong
    acc = std::move(*next);
  }
  return Number::integer(std::move(acc));
}

}  // namespace detail
}  // namespace cotnpot::answer
