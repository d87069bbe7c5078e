// Exact rational arithmetic while it stays exact (int64 numerator and denominator, overflow-checked),
// complex doubles once it cannot: the numbers of expr.h.
#include "cotnpot/answer/detail/number_ops.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <numeric>

namespace cotnpot::answer {

Number Number::rational(int64_t p, int64_t q) {
  // INT64_MIN has no negation in int64 ((-2)^63 gets here from model text): such a value stays inexact.
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


namespace detail {

Number add(const Number& a, const Number& b) {
  if (a.exact && b.exact) {
    int64_t x, y, n, d;
    if (!__builtin_mul_overflow(a.p, b.q, &x) && !__builtin_mul_overflow(b.p, a.q, &y) &&
        !__builtin_add_overflow(x, y, &n) && !__builtin_mul_overflow(a.q, b.q, &d))
      return Number::rational(n, d);
  }
  return Number::inexact(a.value() + b.value());
}

Number mul(const Number& a, const Number& b) {
  if (a.exact && b.exact) {
    int64_t n, d;
    if (!__builtin_mul_overflow(a.p, b.p, &n) && !__builtin_mul_overflow(a.q, b.q, &d)) return Number::rational(n, d);
  }
  return Number::inexact(a.value() * b.value());
}

Number neg(const Number& a) {
  if (a.exact && a.p != INT64_MIN) return Number::rational(-a.p, a.q);
  return Number::inexact(-a.value());
}

static std::optional<Number> inverse(const Number& a) {
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

std::optional<Number> power(const Number& base, const Number& exponent) {
  if (exponent.exact && exponent.q == 1 && base.exact && std::llabs(exponent.p) <= 64) {
    Number acc = Number::rational(1);
    for (int64_t i = 0; i < std::llabs(exponent.p); ++i) acc = mul(acc, base);
    return exponent.p < 0 ? inverse(acc) : std::optional<Number>(acc);
  }
  if (exponent.exact && base.exact && base.p >= 0 && exponent.q <= 64 && std::llabs(exponent.p) <= 64) {
    const auto rp = exact_root(base.p, exponent.q), rq = exact_root(base.q, exponent.q);
    if (rp && rq) return power(Number::rational(*rp, *rq), Number::rational(exponent.p));
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

}  // namespace detail
}  // namespace cotnpot::answer
