// Input validation shared by every kernel of the log-prob ops.
#include "cotnpot/logprob/detail/token_logprob_ops.h"

#include "cotnpot/detail/check_values.h"

namespace cotnpot::logprob::detail {

at::ScalarType logprob_dtype(const at::Tensor& logits) {
  return logits.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
}

std::string bad_label_message(int64_t label, int64_t b, int64_t t, int64_t vocab, int64_t ignore_index) {
  return c10::str("token_logprob: labels must be in [0, V) = [0, ", vocab, ") or equal ignore_index = ", ignore_index,
                  ", got ", label, " at labels[", b, ", ", t, "]");
}

void check_token_logprob_inputs(const char* op, const at::Tensor& logits, const at::Tensor& labels, bool shift) {
  // each named: "logits and labels must be defined" had not said which was not (a C++ user)
  cotnpot::detail::check_defined(op, "logits", logits);
  cotnpot::detail::check_defined(op, "labels", labels);
  // sym_sizes: under torch.compile with dynamic shapes the sizes are symbols, and sizes() would throw.
  TORCH_CHECK(logits.dim() == 3, op, ": logits must be 3-D [B,T,V], got ", logits.dim(), "-D with shape ",
              logits.sym_sizes());
  TORCH_CHECK(labels.dim() == 2, op, ": labels must be 2-D [B,T], got ", labels.dim(), "-D with shape ",
              labels.sym_sizes());
  const auto st = logits.scalar_type();
  TORCH_CHECK(st == at::kFloat || st == at::kDouble || st == at::kHalf || st == at::kBFloat16, op,
              ": logits must be float32, float64, float16 or bfloat16, got ", st);
  TORCH_CHECK(labels.scalar_type() == at::kLong, op, ": labels must be int64, got ", labels.scalar_type());
  TORCH_CHECK(logits.device() == labels.device(), op, ": logits and labels must be on the same device, got logits on ",
              logits.device(), " and labels on ", labels.device());
  TORCH_CHECK(labels.sym_size(0) == logits.sym_size(0) && labels.sym_size(1) == logits.sym_size(1), op,
              ": labels must have shape [B,T] = ", logits.sym_sizes().slice(0, 2), " to match logits ",
              logits.sym_sizes(), ", got ", labels.sym_sizes());
  TORCH_CHECK(logits.sym_size(2) >= 1, op, ": logits must have a vocabulary dimension V >= 1, got V = ",
              logits.sym_size(2));
  TORCH_CHECK(!shift || logits.sym_size(1) >= 1, op, ": shift=True needs T >= 1, got T = ", logits.sym_size(1));
}

void check_token_logprob_backward_inputs(const at::Tensor& grad, const at::Tensor& logits, const at::Tensor& labels,
                                         const at::Tensor& lse, bool shift) {
  constexpr const char* op = "_token_logprob_backward";
  check_token_logprob_inputs(op, logits, labels, shift);
  cotnpot::detail::check_defined(op, "grad", grad);
  cotnpot::detail::check_defined(op, "lse", lse);
  const c10::SymInt steps = logits.sym_size(1) - (shift ? 1 : 0);
  TORCH_CHECK(grad.dim() == 2 && lse.dim() == 2 && grad.sym_size(0) == logits.sym_size(0) &&
                  grad.sym_size(1) == steps && lse.sym_sizes() == grad.sym_sizes(),
              op, ": grad and lse must have shape [", logits.sym_size(0), ", ", steps, "], got ", grad.sym_sizes(),
              " and ", lse.sym_sizes());
  // floating-point, as its fused sibling's: an integer, bool or complex grad had been cast silently (a breaker)
  TORCH_CHECK(at::isFloatingType(grad.scalar_type()) && at::isFloatingType(lse.scalar_type()), op,
              ": grad and lse must be floating-point, got ", grad.scalar_type(), " and ", lse.scalar_type());
  TORCH_CHECK(grad.device() == logits.device() && lse.device() == logits.device(), op,
              ": grad and lse must be on logits' device ", logits.device(), ", got ", grad.device(), " and ",
              lse.device());
}

}  // namespace cotnpot::logprob::detail
