// Exact integers past int64 for the evaluator: detail/big_integer.h.
#include "cotnpot/answer/detail/big_integer.h"

#include <algorithm>
#include <cstdlib>

namespace cotnpot::answer::detail {
namespace {

constexpr uint32_t kBase = 1000000000u;

void trim(std::vector<uint32_t>& limbs) {
  while (!limbs.empty() && limbs.back() == 0) limbs.pop_back();
}

// -1, 0, 1 as |a| is below, equal to or above |b|.
int compare_magnitudes(const std::vector<uint32_t>& a, const std::vector<uint32_t>& b) {
  if (a.size() != b.size()) return a.size() < b.size() ? -1 : 1;
  for (size_t i = a.size(); i-- > 0;)
    if (a[i] != b[i]) return a[i] < b[i] ? -1 : 1;
  return 0;
}

std::vector<uint32_t> add_magnitudes(const std::vector<uint32_t>& a, const std::vector<uint32_t>& b) {
  std::vector<uint32_t> out(std::max(a.size(), b.size()) + 1, 0);
  uint64_t carry = 0;
  for (size_t i = 0; i < out.size(); ++i) {
    const uint64_t sum = carry + (i < a.size() ? a[i] : 0) + (i < b.size() ? b[i] : 0);
    out[i] = uint32_t(sum % kBase);
    carry = sum / kBase;
  }
  trim(out);
  return out;
}

// |a| - |b| for |a| >= |b|.
std::vector<uint32_t> subtract_magnitudes(const std::vector<uint32_t>& a, const std::vector<uint32_t>& b) {
  std::vector<uint32_t> out(a.size(), 0);
  int64_t borrow = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    int64_t d = int64_t(a[i]) - borrow - (i < b.size() ? int64_t(b[i]) : 0);
    borrow = d < 0;
    out[i] = uint32_t(d < 0 ? d + kBase : d);
  }
  trim(out);
  return out;
}

}  // namespace

BigInteger BigInteger::of(int64_t value) {
  BigInteger n;
  n.negative = value < 0;
  // The magnitude in uint64: -INT64_MIN does not fit in int64.
  uint64_t m = value < 0 ? uint64_t(0) - uint64_t(value) : uint64_t(value);
  while (m) {
    n.limbs.push_back(uint32_t(m % kBase));
    m /= kBase;
  }
  return n;
}

std::optional<BigInteger> BigInteger::from_digits(std::string_view digits) {
  if (digits.empty()) return std::nullopt;
  BigInteger n;
  for (size_t end = digits.size(); end > 0;) {
    const size_t start = end >= 9 ? end - 9 : 0;
    uint32_t limb = 0;
    for (size_t i = start; i < end; ++i) {
      if (digits[i] < '0' || digits[i] > '9') return std::nullopt;
      limb = limb * 10 + uint32_t(digits[i] - '0');
    }
    n.limbs.push_back(limb);
    end = start;
  }
  trim(n.limbs);
  return n;
}

std::string BigInteger::to_string() const {
  if (limbs.empty()) return "0";
  std::string out = negative ? "-" : "";
  out += std::to_string(limbs.back());
  for (size_t i = limbs.size() - 1; i-- > 0;) {
    const std::string part = std::to_string(limbs[i]);
    out += std::string(9 - part.size(), '0') + part;
  }
  return out;
}

size_t BigInteger::digit_count() const {
  if (limbs.empty()) return 0;
  size_t top = 0;
  for (uint32_t v = limbs.back(); v; v /= 10) ++top;
  return 9 * (limbs.size() - 1) + top;
}

double BigInteger::to_double() const { return std::strtod(to_string().c_str(), nullptr); }

std::optional<int64_t> BigInteger::to_int64() const {
  if (limbs.size() > 3) return std::nullopt;
  unsigned __int128 m = 0;
  for (size_t i = limbs.size(); i-- > 0;) m = m * kBase + limbs[i];
  // INT64_MIN stays a BigInteger: the rationals of number.cpp never hold it (it has no negation).
  if (m > uint64_t(INT64_MAX)) return std::nullopt;
  return negative ? -int64_t(m) : int64_t(m);
}

BigInteger BigInteger::operator-() const {
  BigInteger n = *this;
  n.negative = !n.limbs.empty() && !negative;
  return n;
}

BigInteger BigInteger::abs() const {
  BigInteger n = *this;
  n.negative = false;
  return n;
}

BigInteger BigInteger::times_small(uint32_t factor) const {
  BigInteger n;
  n.negative = negative;
  n.limbs.resize(limbs.size(), 0);
  uint64_t carry = 0;
  for (size_t i = 0; i < limbs.size(); ++i) {
    const uint64_t product = uint64_t(limbs[i]) * factor + carry;  // < 10^9 * 2^32 + 2^33
    n.limbs[i] = uint32_t(product % kBase);
    carry = product / kBase;
  }
  for (; carry; carry /= kBase) n.limbs.push_back(uint32_t(carry % kBase));  // factor > 10^9: two limbs
  trim(n.limbs);
  if (n.limbs.empty()) n.negative = false;
  return n;
}

std::optional<BigInteger> BigInteger::divided_exactly(uint32_t divisor) const {
  if (divisor == 0) return std::nullopt;
  BigInteger n;
  n.negative = negative;
  n.limbs.resize(limbs.size(), 0);
  uint64_t remainder = 0;
  for (size_t i = limbs.size(); i-- > 0;) {
    const uint64_t current = remainder * kBase + limbs[i];
    n.limbs[i] = uint32_t(current / divisor);
    remainder = current % divisor;
  }
  if (remainder != 0) return std::nullopt;
  trim(n.limbs);
  if (n.limbs.empty()) n.negative = false;
  return n;
}

BigInteger operator+(const BigInteger& a, const BigInteger& b) {
  BigInteger n;
  if (a.negative == b.negative) {
    n.limbs = add_magnitudes(a.limbs, b.limbs);
    n.negative = a.negative;
  } else if (compare_magnitudes(a.limbs, b.limbs) >= 0) {
    n.limbs = subtract_magnitudes(a.limbs, b.limbs);
    n.negative = a.negative;
  } else {
    n.limbs = subtract_magnitudes(b.limbs, a.limbs);
    n.negative = b.negative;
  }
  if (n.limbs.empty()) n.negative = false;
  return n;
}

BigInteger operator*(const BigInteger& a, const BigInteger& b) {
  BigInteger n;
  if (a.limbs.empty() || b.limbs.empty()) return n;
  std::vector<uint64_t> acc(a.limbs.size() + b.limbs.size() + 1, 0);
  for (size_t i = 0; i < a.limbs.size(); ++i) {
    uint64_t carry = 0;
    for (size_t j = 0; j < b.limbs.size(); ++j) {
      // < 10^18 + 10^9 + 10^9: no overflow of uint64
      const uint64_t t = acc[i + j] + uint64_t(a.limbs[i]) * b.limbs[j] + carry;
      acc[i + j] = t % kBase;
      carry = t / kBase;
    }
    for (size_t k = i + b.limbs.size(); carry; ++k) {
      const uint64_t t = acc[k] + carry;
      acc[k] = t % kBase;
      carry = t / kBase;
    }
  }
  n.limbs.assign(acc.begin(), acc.end());
  trim(n.limbs);
  n.negative = a.negative != b.negative;
  return n;
}

}  // namespace cotnpot::answer::detail
