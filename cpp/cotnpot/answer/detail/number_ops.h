#pragma once
// Arithmetic on expr.h's numbers (number.cpp): exact while the rationals fit in int64 (overflow checked)
// or, for integers, in kMaxIntegerDigits digits; complex doubles after. For the evaluator; not part of the
// installed headers.
#include <optional>

#include "cotnpot/answer/expr.h"

namespace cotnpot::answer::detail {

// The work on integers past int64 is charged to the budget (a product of two 1000-digit integers costs
// about 200 steps); once it runs out they are doubles.
Number add(const Number& a, const Number& b, Budget& budget);
Number mul(const Number& a, const Number& b, Budget& budget);
Number neg(const Number& a);
Number absolute(const Number& a);
// base^exponent: exact for rational bases and integer exponents (and exact roots; integers up to
// kMaxIntegerDigits digits), nullopt for 0^negative.
std::optional<Number> power(const Number& base, const Number& exponent, Budget& budget);
// n! and binom(n, k) for integers, exact (up to kMaxIntegerDigits digits); nullopt where not defined here.
std::optional<Number> factorial(const Number& n, Budget& budget);
std::optional<Number> binomial(const Number& n, const Number& k, Budget& budget);

}  // namespace cotnpot::answer::detail
