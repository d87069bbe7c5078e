#pragma once
// Exact integers past int64 for the evaluator (number.cpp): an answer such as 2^{70}, 25! or
// \binom{100}{50} is compared digit for digit with the integer it is written against, not as two doubles
// that round 2^{70} and 2^{70}+1 to the same value. Small by design: sign and magnitude in base 10^9, the
// operations the evaluator needs, and kMaxIntegerDigits (limits.h) as a bound its callers check before
// they multiply. Not part of the installed headers.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cotnpot::answer::detail {

struct BigInteger {
  bool negative = false;
  std::vector<uint32_t> limbs;  // base 10^9, least significant first, no leading zero limb (0: none)

  static BigInteger of(int64_t value);
  // Decimal digits alone (no sign); nullopt for anything else.
  static std::optional<BigInteger> from_digits(std::string_view digits);

  bool is_zero() const { return limbs.empty(); }
  size_t digit_count() const;  // of the magnitude; 0 has none
  std::string to_string() const;
  double to_double() const;  // correctly rounded (through the digits); +-inf past double's range
  std::optional<int64_t> to_int64() const;

  BigInteger operator-() const;
  BigInteger abs() const;
  BigInteger times_small(uint32_t factor) const;
  // The exact quotient by divisor when it divides this number; nullopt otherwise (or for 0).
  std::optional<BigInteger> divided_exactly(uint32_t divisor) const;
  friend BigInteger operator+(const BigInteger& a, const BigInteger& b);
  friend BigInteger operator*(const BigInteger& a, const BigInteger& b);
  friend bool operator==(const BigInteger& a, const BigInteger& b) {
    return a.negative == b.negative && a.limbs == b.limbs;
  }
};

}  // namespace cotnpot::answer::detail
