// The public log-prob ops: their schemas, the reductions, and the C++ entry points.
#include "cotnpot/logprob/sequence_logprob.h"

#include <ATen/ATen.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/library.h>

#include <string>

#include "cotnpot/logprob/detail/token_logprob_ops.h"

namespace cotnpot::logprob {
namespace {

// The differentiable op behind both public ones (Autograd kernel in token_logprob_autograd.cpp).
at::Tensor call_token_logprob(const at::Tensor& logits, const at::Tensor& labels, int64_t ignore_index, bool shift) {
  static const auto op = c10::Dispatcher::singleton()
                             .findSchemaOrThrow("cotnpot::_token_logprob", "")
                             .typed<at::Tensor(const at::Tensor&, const at::Tensor&, int64_t, bool)>();
  return op.call(logits, labels, ignore_index, shift);
}

// Both public ops are composites over _token_logprob, so autograd comes from its backward and the
// reduction's, and torch.compile traces through them. Each checks its inputs once, under its own name.
at::Tensor token_logprob_composite(const at::Tensor& logits, const at::Tensor& labels, int64_t ignore_index,
                                   bool shift) {
  detail::check_token_logprob_inputs("token_logprob", logits, labels, shift);
  return call_token_logprob(logits, labels, ignore_index, shift);
}

at::Tensor sequence_logprob_composite(const at::Tensor& logits, const at::Tensor& labels, int64_t ignore_index,
                                      c10::string_view reduction, bool shift) {
  TORCH_CHECK(reduction == "sum" || reduction == "mean" || reduction == "none",
              "sequence_logprob: reduction must be one of 'sum', 'mean', 'none', got '", std::string(reduction), "'");
  detail::check_token_logprob_inputs("sequence_logprob", logits, labels, shift);
  const at::Tensor logp = call_token_logprob(logits, labels, ignore_index, shift);
  if (reduction == "none") return logp;
  const at::Tensor total = logp.sum(-1);
  if (reduction == "sum") return total;
  const at::Tensor used = shift ? labels.slice(1, 1) : labels;
  // A row with no valid token averages to 0, not 0/0.
  const at::Tensor count = (used != ignore_index).sum(-1).clamp_min(1).to(total.scalar_type());
  return total / count;
}

}  // namespace

at::Tensor token_logprob(const at::Tensor& logits, const at::Tensor& labels, int64_t ignore_index, bool shift) {
  static const auto op = c10::Dispatcher::singleton()
                             .findSchemaOrThrow("cotnpot::token_logprob", "")
                             .typed<at::Tensor(const at::Tensor&, const at::Tensor&, int64_t, bool)>();
  return op.call(logits, labels, ignore_index, shift);
}

at::Tensor sequence_logprob(const at::Tensor& logits, const at::Tensor& labels, int64_t ignore_index,
                            std::string_view reduction, bool shift) {
  static const auto op =
      c10::Dispatcher::singleton()
          .findSchemaOrThrow("cotnpot::sequence_logprob", "")
          .typed<at::Tensor(const at::Tensor&, const at::Tensor&, int64_t, c10::string_view, bool)>();
  return op.call(logits, labels, ignore_index, c10::string_view(reduction.data(), reduction.size()), shift);
}

TORCH_LIBRARY_IMPL(cotnpot, CompositeImplicitAutograd, m) {
  m.impl("token_logprob", &token_logprob_composite);
  m.impl("sequence_logprob", &sequence_logprob_composite);
}

}  // namespace cotnpot::logprob
