// Autograd for token_logprob: the forward saves only the per-position log-sum-exp ([B,T'], not the
// softmax), and the backward recomputes the softmax row by row from the logits.
#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/core/grad_mode.h>
#include <torch/csrc/autograd/custom_function.h>
#include <torch/library.h>

#include "cotnpot/logprob/detail/token_logprob_ops.h"

namespace cotnpot::logprob::detail {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

std::tuple<at::Tensor, at::Tensor> call_forward(const at::Tensor& logits, const at::Tensor& labels,
                                                int64_t ignore_index, bool shift) {
  static const auto op = c10::Dispatcher::singleton()
                             .findSchemaOrThrow("cotnpot::_token_logprob_forward", "")
                             .typed<std::tuple<at::Tensor, at::Tensor>(const at::Tensor&, const at::Tensor&,
                                                                       int64_t, bool)>();
  return op.call(logits, labels, ignore_index, shift);
}

at::Tensor call_backward(const at::Tensor& grad, const at::Tensor& logits, const at::Tensor& labels,
                         const at::Tensor& lse, int64_t ignore_index, bool shift) {
  static const auto op = c10::Dispatcher::singleton()
                             .findSchemaOrThrow("cotnpot::_token_logprob_backward", "")
                             .typed<at::Tensor(const at::Tensor&, const at::Tensor&, const at::Tensor&,
                                               const at::Tensor&, int64_t, bool)>();
  return op.call(grad, logits, labels, lse, ignore_index, shift);
}

class TokenLogprob : public torch::autograd::Function<TokenLogprob> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& logits, const at::Tensor& labels,
                            int64_t ignore_index, bool shift) {
    at::AutoDispatchBelowADInplaceOrView guard;
    auto [logp, lse] = call_forward(logits, labels, ignore_index, shift);
    ctx->save_for_backward({logits, labels, lse});
    ctx->saved_data["ignore_index"] = ignore_index;
    ctx->saved_data["shift"] = shift;
    return logp;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    // The backward op has no autograd kernel of its own: under create_graph its result would silently carry
    // no graph, and a second derivative (a Hessian) would come out zero. Refuse, as the fused op does.
    TORCH_CHECK(!at::GradMode::is_enabled(),
                "token_logprob: double backward (create_graph=True) is not supported; compute the log-probs "
                "with torch.log_softmax where second derivatives are needed");
    const auto saved = ctx->get_saved_variables();
    const at::Tensor grad_logits = call_backward(grads[0], saved[0], saved[1], saved[2],
                                                 ctx->saved_data["ignore_index"].toInt(),
                                                 ctx->saved_data["shift"].toBool());
    return {grad_logits, at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

// The inputs were checked by token_logprob / sequence_logprob, the ops users call; this one is internal.
at::Tensor token_logprob_autograd(const at::Tensor& logits, const at::Tensor& labels, int64_t ignore_index,
                                  bool shift) {
  return TokenLogprob::apply(logits, labels, ignore_index, shift);
}

// Below autograd (no grad needed, or inference mode): just the forward.
at::Tensor token_logprob_no_grad(const at::Tensor& logits, const at::Tensor& labels, int64_t ignore_index,
                                 bool shift) {
  return std::get<0>(call_forward(logits, labels, ignore_index, shift));
}

}  // namespace

TORCH_LIBRARY_IMPL(cotnpot, Autograd, m) { m.impl("_token_logprob", &token_logprob_autograd); }
TORCH_LIBRARY_IMPL(cotnpot, CompositeExplicitAutograd, m) { m.impl("_token_logprob", &token_logprob_no_grad); }

}  // namespace cotnpot::logprob::detail
