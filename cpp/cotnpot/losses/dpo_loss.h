#pragma once
// The DPO family of preference losses, with the formulas of TRL's DPOTrainer.dpo_loss (docs/losses.md
// names the TRL version and the source of each).
//
// Inputs are summed sequence log-probs of the policy and of the reference model ([B] each; precomputed
// reference log-probs are plain tensors). With l = (chosen - rejected) - (ref_chosen - ref_rejected),
// cl = chosen - ref_chosen, rl = rejected - ref_rejected, eps = label_smoothing:
//   sigmoid   -(1-eps) log s(b l) - eps log s(-b l)         hinge     relu(1 - b l)
//   ipo       (l - 1/(2b))^2 on length-normalized log-probs (needs chosen_lengths, rejected_lengths;
//             ipo_length_normalize=false gives the older TRL form on sums)
//   robust    (-(1-eps) log s(b l) + eps log s(-b l)) / (1 - 2 eps)
//   bco_pair  -log s(b cl - d) - log s(-(b rl - d)), d = bco_delta (the running mean reward; the batch's
//             mean reward when not given)
//   sppo_hard (cl - 1/(2b))^2 + (rl + 1/(2b))^2
//   nca_pair  -log s(b cl) - 0.5 log s(-b cl) - 0.5 log s(-b rl)
//   exo_pair  s(b l)(log s(b l) - log(1-eps)) + s(-b l)(log s(-b l) - log eps), eps = 1e-3 when 0
//   aot       sigmoid form on sort(chosen - rejected) - sort(ref_chosen - ref_rejected) over the batch
//   aot_pair  sigmoid form on sort(cl) - sort(rl)  (TRL >= 1.0 calls it aot_unpaired: accepted too)
//   apo_zero  1 - s(b cl) + s(b rl)        apo_down  s(b cl) + 1 - s(b (cl - rl))
// Returns (losses[B], chosen_rewards[B], rejected_rewards[B]), rewards = b * cl and b * rl, detached; for
// ipo, cl and rl are length-normalized unless ipo_rewards_on_sums (TRL >= 1.0 logs rewards on sums).
//
// Example:
//   auto [losses, cr, rr] = cotnpot::losses::dpo_loss(pc, pr, rc, rr_ref, 0.1, 0.0, "sigmoid");
#include <ATen/core/Tensor.h>

#include <optional>
#include <string_view>
#include <tuple>

namespace cotnpot::losses {

std::tuple<at::Tensor, at::Tensor, at::Tensor> dpo_loss(
    const at::Tensor& chosen_logps, const at::Tensor& rejected_logps, const at::Tensor& ref_chosen_logps,
    const at::Tensor& ref_rejected_logps, double beta = 0.1, double label_smoothing = 0.0,
    std::string_view loss_type = "sigmoid", const std::optional<at::Tensor>& chosen_lengths = std::nullopt,
    const std::optional<at::Tensor>& rejected_lengths = std::nullopt, bool ipo_length_normalize = true,
    const std::optional<at::Tensor>& bco_delta = std::nullopt, bool ipo_rewards_on_sums = false);

}  // namespace cotnpot::losses
