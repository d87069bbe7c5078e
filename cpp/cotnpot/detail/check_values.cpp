#include "cotnpot/detail/check_values.h"

#include <ATen/ATen.h>

namespace cotnpot::detail {

void check_defined(const char* op, const char* name, const at::Tensor& t) {
  TORCH_CHECK(t.defined(), op, ": ", name, " must be a tensor, got an undefined one");
}

bool is_traced(const at::Tensor& t) {
  const auto keys = t.key_set();
  return t.is_meta() || keys.has(c10::DispatchKey::Python) || keys.has(c10::DispatchKey::Functionalize) ||
         keys.has(c10::DispatchKey::PythonTLSSnapshot);
}

void check_all(const at::Tensor& ok, const std::string& message,
               const std::function<std::string()>& message_with_value) {
  if (is_traced(ok) || !ok.device().is_cpu()) {
    at::_assert_async(ok.all(), message);
    return;
  }
  TORCH_CHECK(ok.all().item<bool>(), message_with_value());
}

}  // namespace cotnpot::detail
