#pragma once
// Input checks shared by the preference and ORM losses; every message names the op, the argument and
// what it saw.
#include <ATen/core/Tensor.h>

#include <initializer_list>
#include <string_view>
#include <utility>

namespace cotnpot::losses::detail {

// A floating-point 1-D tensor.
void check_vector(const char* op, const char* name, const at::Tensor& t);
// All named 1-D float tensors have the same length and device as the first.
void check_same_batch(const char* op, std::initializer_list<std::pair<const char*, const at::Tensor*>> tensors);
// Finite and > 0 (an infinite beta or weight turns every loss into inf or NaN).
void check_positive(const char* op, const char* name, double value);
// Not NaN or infinite.
void check_finite(const char* op, const char* name, double value);
// One of `valid` (listed in the message when it is not).
void check_choice(const char* op, const char* name, std::string_view value,
                  std::initializer_list<std::string_view> valid);
// mean / sum / none of per-example losses.
at::Tensor reduce(const char* op, const at::Tensor& losses, std::string_view reduction);

}  // namespace cotnpot::losses::detail
