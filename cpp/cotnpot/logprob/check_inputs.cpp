// Input validation shared by every kernel of the log-prob ops.
#include "cotnpot/logprob/detail/token_logprob_ops.h"

namespace cotnpot::logprob::detail {

at::ScalarType logprob_dtype(const at::Tensor& logits) {
  return logits.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
}

void check_token_logprob_inputs(const char* op, const at::Tensor& logits, const at::Tensor& labels,
                                int64_t ignore_index, bool shift, bool check_label_range) {
  TORCH_CHECK(logits.defined() && labels.defined(), op, ": logits and labels must be defined tensors");
  TORCH_CHECK(logits.dim() == 3, op, ": logits must be 3-D [B,T,V], got ", logits.dim(), "-D with shape ",
              logits.sizes());
  TORCH_CHECK(labels.dim() == 2, op, ": labels must be 2-D [B,T], got ", labels.dim(), "-D with shape ",
              labels.sizes());
  const auto st = logits.scalar_type();
  TORCH_CHECK(st == at::kFloat || st == at::kDouble || st == at::kHalf || st == at::kBFloat16, op,
              ": logits must be float32, float64, float16 or bfloat16, got ", st);
  TORCH_CHECK(labels.scalar_type() == at::kLong, op, ": labels must be int64, got ", labels.scalar_type());
  TORCH_CHECK(logits.device() == labels.device(), op, ": logits and labels must be on the same device, got logits on ",
              logits.device(), " and labels on ", labels.device());
  TORCH_CHECK(labels.size(0) == logits.size(0) && labels.size(1) == logits.size(1), op,
              ": labels must have shape [B,T] = ", logits.sizes().slice(0, 2), " to match logits ", logits.sizes(),
              ", got ", labels.sizes());
  const int64_t vocab = logits.size(2);
  TORCH_CHECK(vocab >= 1, op, ": logits must have a vocabulary dimension V >= 1, got V = ", vocab);
  TORCH_CHECK(!shift || logits.size(1) >= 1, op, ": shift=True needs T >= 1, got T = ", logits.size(1));

  if (!check_label_range) return;
  // With shift, labels[:, 0] is never predicted, so its value does not matter.
  const at::Tensor used = shift ? labels.slice(1, 1) : labels;
  const at::Tensor bad = (used != ignore_index).logical_and_((used < 0).logical_or_(used >= vocab));
  if (bad.any().item<bool>()) {
    const at::Tensor where = bad.nonzero()[0].cpu();
    const int64_t b = where[0].item<int64_t>(), t = where[1].item<int64_t>() + (shift ? 1 : 0);
    TORCH_CHECK(false, op, ": labels must be in [0, V) = [0, ", vocab, ") or equal ignore_index = ", ignore_index,
                ", got ", labels[b][t].item<int64_t>(), " at labels[", b, ", ", t, "]");
  }
}

}  // namespace cotnpot::logprob::detail
