// Device-generic kernels of token_logprob, written with ATen ops: they serve every backend without a
// dedicated kernel (CUDA among them). Unlike the CPU kernels they materialize [B,T,V] temporaries.
#include <ATen/ATen.h>
#include <torch/library.h>

#include <limits>

#include "cotnpot/detail/check_values.h"
#include "cotnpot/logprob/detail/token_logprob_ops.h"

namespace cotnpot::logprob::detail {
namespace {

// The predicting logits and the predicted labels: with shift, logits[:, :-1] predict labels[:, 1:].
std::pair<at::Tensor, at::Tensor> aligned(const at::Tensor& logits, const at::Tensor& labels, bool shift) {
  if (!shift) return {logits, labels};
  return {logits.slice(1, 0, logits.size(1) - 1), labels.slice(1, 1)};
}

}  // namespace

std::tuple<at::Tensor, at::Tensor> token_logprob_forward_composite(const at::Tensor& logits,
                                                                   const at::Tensor& labels, int64_t ignore_index,
                                                                   bool shift) {
  check_token_logprob_inputs("_token_logprob_forward", logits, labels, shift);
  const auto [x, y] = aligned(logits, labels, shift);
  const at::Tensor valid = y != ignore_index;
  // On CUDA a device-side assert: no sync. (gather would also assert, with a less helpful message.)
  const int64_t vocab = logits.size(2);
  cotnpot::detail::check_all(
      valid.logical_not().logical_or((y >= 0).logical_and(y < vocab)),
      "token_logprob: labels must be in [0, V) or equal ignore_index", [&] {
        const at::Tensor bad = valid.logical_and((y < 0).logical_or(y >= vocab));
        const at::Tensor where = bad.nonzero()[0];
        const int64_t b = where[0].item<int64_t>(), t = where[1].item<int64_t>() + (shift ? 1 : 0);
        return bad_label_message(labels[b][t].item<int64_t>(), b, t, vocab, ignore_index);
      });
  const at::Tensor safe = at::where(valid, y, at::zeros_like(y));
  const at::Tensor xs = x.to(logprob_dtype(logits));
  // lse = max + log(sum exp(x - max)) kept in double (see row_kernels.h: rounded to float at the logits'
  // magnitude, it was off by half their ulp), and the log-prob (x[y] - max) - log(sum): no rounding at
  // that magnitude either. A row of -inf: lse -inf, log-prob NaN; a row holding +inf: NaN, as log_softmax
  // and the kernels give.
  const at::Tensor row_max = std::get<0>(xs.max(-1));
  const at::Tensor safe_max = at::where(at::isinf(row_max), at::zeros_like(row_max), row_max);
  const at::Tensor log_sum = at::exp(xs - safe_max.unsqueeze(-1)).sum(-1, false, at::kDouble).log_();
  const at::Tensor plus_inf = row_max == std::numeric_limits<double>::infinity();
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const at::Tensor lse = at::where(plus_inf, nan, safe_max.to(at::kDouble) + log_sum);
  const at::Tensor picked = xs.gather(-1, safe.unsqueeze(-1)).squeeze(-1);
  const at::Tensor logp = at::where(plus_inf, nan, (picked - safe_max).to(at::kDouble) - log_sum).to(xs.scalar_type());
  return {at::where(valid, logp, at::zeros_like(logp)), at::where(valid, lse, at::zeros_like(lse))};
}

at::Tensor token_logprob_backward_composite(const at::Tensor& grad, const at::Tensor& logits,
                                            const at::Tensor& labels, const at::Tensor& lse, int64_t ignore_index,
                                            bool shift) {
  check_token_logprob_backward_inputs(grad, logits, labels, lse, shift);
  const auto [x, y] = aligned(logits, labels, shift);
  const at::Tensor valid = y != ignore_index;
  const at::Tensor safe = at::where(valid, y, at::zeros_like(y)).unsqueeze(-1);
  const auto acc_type = logprob_dtype(logits);
  const at::Tensor g = at::where(valid, grad.to(acc_type), at::zeros_like(lse, acc_type)).unsqueeze(-1);
  // The double lse as hi + lo in the logits' accumulation type: (x - hi) - lo keeps the digits that
  // x - float(lse) loses at the logits' magnitude (see row_kernels.h).
  const at::Tensor lse64 = lse.to(at::kDouble).unsqueeze(-1);
  const at::Tensor hi = lse64.to(acc_type);
  const at::Tensor lo = at::where(at::isfinite(lse64), lse64 - hi.to(at::kDouble), 0.0).to(acc_type);
  const at::Tensor xa = x.to(acc_type);
  // Ignored positions saved lse = 0: exp(x - 0) overflows for x >= 89 (and inf - inf is NaN), and
  // inf * 0 is NaN. They get -inf before the exp, so their softmax is 0 whatever their logits hold.
  const at::Tensor minus_inf = at::scalar_tensor(-std::numeric_limits<double>::infinity(),
                                                 at::TensorOptions().dtype(acc_type).device(x.device()));
  at::Tensor gx = at::where(valid.unsqueeze(-1), (xa - hi).sub_(lo), minus_inf).exp_().mul_(g).neg_();
  // The label's value g * (1 - p) as -g * expm1(x[y] - lse), in double: 1 - p lost its digits to p's
  // rounding where p is near 1. Ignored positions keep their 0.
  const at::Tensor label_logp = xa.gather(-1, safe).to(at::kDouble) - lse64;
  const at::Tensor label_grad = at::where(valid.unsqueeze(-1), at::expm1(label_logp).mul_(g.to(at::kDouble)).neg_(), 0.0);
  gx.scatter_(-1, safe, label_grad.to(acc_type));
  if (shift) gx = at::cat({gx, at::zeros_like(logits.slice(1, 0, 1), acc_type)}, 1);
  return gx.to(logits.scalar_type());
}

TORCH_LIBRARY_IMPL(cotnpot, CompositeExplicitAutograd, m) {
  m.impl("_token_logprob_forward", &token_logprob_forward_composite);
  m.impl("_token_logprob_backward", &token_logprob_backward_composite);
}

}  // namespace cotnpot::logprob::detail
