#include "cotnpot/losses/detail/check.h"

#include <ATen/ATen.h>

#include <cmath>
#include <string>

namespace cotnpot::losses::detail {

void check_vector(const char* op, const char* name, const at::Tensor& t) {
  TORCH_CHECK(t.defined(), op, ": ", name, " must be a tensor, got None");
  TORCH_CHECK(t.dim() == 1, op, ": ", name, " must be 1-D [B], got ", t.dim(), "-D with shape ", t.sym_sizes());
  TORCH_CHECK(at::isFloatingType(t.scalar_type()), op, ": ", name, " must be a floating-point tensor, got ",
              t.scalar_type());
}

void check_same_batch(const char* op, std::initializer_list<std::pair<const char*, const at::Tensor*>> tensors) {
  const auto& [first_name, first] = *tensors.begin();
  for (const auto& [name, t] : tensors) {
    check_vector(op, name, *t);
    TORCH_CHECK(t->sym_size(0) == first->sym_size(0), op, ": ", name, " must have the batch size of ", first_name,
                " (", first->sym_size(0), "), got ", t->sym_size(0));
    TORCH_CHECK(t->device() == first->device(), op, ": ", name, " must be on ", first_name, "'s device ",
                first->device(), ", got ", t->device());
  }
}

void check_positive(const char* op, const char* name, double value) {
  TORCH_CHECK(value > 0.0 && std::isfinite(value), op, ": ", name, " must be finite and > 0, got ", value);
}

void check_finite(const char* op, const char* name, double value) {
  TORCH_CHECK(std::isfinite(value), op, ": ", name, " must be finite, got ", value);
}

void check_choice(const char* op, const char* name, std::string_view value,
                  std::initializer_list<std::string_view> valid) {
  for (std::string_view v : valid)
    if (v == value) return;
  std::string listed;
  for (std::string_view v : valid) listed += (listed.empty() ? "'" : ", '") + std::string(v) + "'";
  TORCH_CHECK(false, op, ": ", name, " must be one of ", listed, ", got '", std::string(value), "'");
}

at::Tensor reduce(const char* op, const at::Tensor& losses, std::string_view reduction) {
  check_choice(op, "reduction", reduction, {"mean", "sum", "none"});
  if (reduction == "mean") return losses.mean();
  if (reduction == "sum") return losses.sum();
  return losses;
}

}  // namespace cotnpot::losses::detail
