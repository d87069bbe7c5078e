#pragma once
// SimPO, the reference-free preference loss (Meng, Xia and Chen, 2024), on length-averaged log-probs.
//
//   z      = beta * (chosen_logps - rejected_logps) - gamma,   gamma = gamma_beta_ratio * beta unless given
//   sigmoid: loss = -(1 - eps) * log sigmoid(z) - eps * log sigmoid(-z)      (eps = label_smoothing)
//   hinge:   loss = relu(1 - z)
//   plus sft_weight * (-chosen_logps), the mean token NLL of the chosen sequence, when sft_weight > 0
//
// Defaults are the SimPO authors' trainer's (beta 2.0, gamma_beta_ratio 0.25, eps 0, no SFT term); TRL's
// CPOTrainer(loss_type="simpo") is gamma given absolutely (simpo_gamma, default 0.5), beta 0.1 and
// sft_weight 1.0 (its cpo_alpha). Returns (losses[B], chosen_rewards[B], rejected_rewards[B]) with
// rewards = beta * logps, detached.
//
// Example:
//   auto [losses, chosen_r, rejected_r] = cotnpot::losses::simpo_loss(chosen_avg_logps, rejected_avg_logps);
//   losses.mean().backward();
#include <ATen/core/Tensor.h>

#include <optional>
#include <string_view>
#include <tuple>

namespace cotnpot::losses {

std::tuple<at::Tensor, at::Tensor, at::Tensor> simpo_loss(const at::Tensor& chosen_logps,
                                                          const at::Tensor& rejected_logps, double beta = 2.0,
                                                          std::optional<double> gamma = std::nullopt,
                                                          double gamma_beta_ratio = 0.25,
                                                          double label_smoothing = 0.0,
                                                          std::string_view loss_type = "sigmoid",
                                                          double sft_weight = 0.0);

}  // namespace cotnpot::losses
