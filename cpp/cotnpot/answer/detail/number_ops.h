#pragma once
// Arithmetic on expr.h's numbers (number.cpp): exact while the rationals fit in int64 (overflow checked),
// complex doubles after. For the evaluator; not part of the installed headers.
#include <optional>

#include "cotnpot/answer/expr.h"

namespace cotnpot::answer::detail {

Number add(const Number& a, const Number& b);
Number mul(const Number& a, const Number& b);
Number neg(const Number& a);
// base^exponent: exact for rational bases and integer exponents (and exact roots), nullopt for 0^negative.
std::optional<Number> power(const Number& base, const Number& exponent);

}  // namespace cotnpot::answer::detail
