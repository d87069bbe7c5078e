// SimPO as an ATen composite: autograd derives the backward from the elementwise ops.
#include "cotnpot/losses/simpo_loss.h"

#include <ATen/ATen.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/library.h>

#include <cmath>

#include "cotnpot/losses/detail/check.h"

namespace cotnpot::losses {
namespace {

constexpr const char* kOp = "simpo_loss";

std::tuple<at::Tensor, at::Tensor, at::Tensor> simpo_loss_composite(const at::Tensor& chosen_logps,
                                                                    const at::Tensor& rejected_logps, double beta,
                                                                    c10::optional<double> gamma,
                                                                    double gamma_beta_ratio, double label_smoothing,
                                                                    c10::string_view loss_type, double sft_weight) {
  detail::check_same_batch(kOp, {{"chosen_logps", &chosen_logps}, {"rejected_logps", &rejected_logps}});
  detail::check_positive(kOp, "beta", beta);
  detail::check_choice(kOp, "loss_type", std::string_view(loss_type.data(), loss_type.size()),
                       {"sigmoid", "hinge"});
  TORCH_CHECK(label_smoothing >= 0.0 && label_smoothing <= 0.5, kOp,
              ": label_smoothing must be in [0, 0.5], got ", label_smoothing);
  TORCH_CHECK(sft_weight >= 0.0 && std::isfinite(sft_weight), kOp, ": sft_weight must be finite and >= 0, got ",
              sft_weight);
  if (gamma.has_value()) detail::check_finite(kOp, "gamma", *gamma);
  else detail::check_finite(kOp, "gamma_beta_ratio", gamma_beta_ratio);
  const double margin = gamma.has_value() ? *gamma : gamma_beta_ratio * beta;

  const at::Tensor z = (chosen_logps - rejected_logps) * beta - margin;
  at::Tensor losses;
  if (loss_type == "sigmoid") {
    losses = -at::log_sigmoid(z) * (1.0 - label_smoothing);
    if (label_smoothing > 0.0) losses = losses - at::log_sigmoid(-z) * label_smoothing;
  } else {
    losses = at::relu(1.0 - z);
  }
  // The chosen sequence's mean token NLL is minus its length-averaged log-prob.
  if (sft_weight > 0.0) losses = losses - chosen_logps * sft_weight;
  return {losses, (chosen_logps * beta).detach(), (rejected_logps * beta).detach()};
}

}  // namespace

std::tuple<at::Tensor, at::Tensor, at::Tensor> simpo_loss(const at::Tensor& chosen_logps,
                                                          const at::Tensor& rejected_logps, double beta,
                                                          std::optional<double> gamma, double gamma_beta_ratio,
                                                          double label_smoothing, std::string_view loss_type,
                                                          double sft_weight) {
  static const auto op = c10::Dispatcher::singleton()
                             .findSchemaOrThrow("cotnpot::simpo_loss", "")
                             .typed<decltype(simpo_loss_composite)>();
  return op.call(chosen_logps, rejected_logps, beta,
                 gamma.has_value() ? c10::optional<double>(*gamma) : c10::nullopt, gamma_beta_ratio,
                 label_smoothing, c10::string_view(loss_type.data(), loss_type.size()), sft_weight);
}

TORCH_LIBRARY_IMPL(cotnpot, CompositeImplicitAutograd, m) { m.impl("simpo_loss", &simpo_loss_composite); }

}  // namespace cotnpot::losses
