// The DPO family as ATen composites: autograd derives every backward from the elementwise ops.
#include "cotnpot/losses/dpo_loss.h"

#include <ATen/ATen.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/library.h>

#include <cmath>
#include <string>

#include "cotnpot/detail/check_values.h"
#include "cotnpot/losses/detail/check.h"

namespace cotnpot::losses {
namespace {

constexpr const char* kOp = "dpo_loss";

// -(1 - eps) log s(x) - eps log s(-x): the label-smoothed sigmoid loss.
at::Tensor smoothed_sigmoid_loss(const at::Tensor& x, double eps) {
  at::Tensor loss = -at::log_sigmoid(x) * (1.0 - eps);
  if (eps > 0.0) loss = loss - at::log_sigmoid(-x) * eps;
  return loss;
}

at::Tensor sorted(const at::Tensor& x) { return std::get<0>(at::sort(x, 0)); }

at::Tensor checked_lengths(const c10::optional<at::Tensor>& lengths, const char* name, const at::Tensor& like) {
  TORCH_CHECK(lengths.has_value() && lengths->defined(), kOp, ": loss_type 'ipo' averages log-probs over tokens "
              "(as current TRL does) and needs ", name, "; pass the token counts, or ipo_length_normalize=False "
              "for the older form on summed log-probs");
  const at::Tensor& n = *lengths;
  TORCH_CHECK(n.dim() == 1 && n.sym_size(0) == like.sym_size(0), kOp, ": ", name, " must be 1-D [B] with B = ",
              like.sym_size(0), ", got shape ", n.sym_sizes());
  TORCH_CHECK(n.device() == like.device(), kOp, ": ", name, " must be on ", like.device(), ", got ", n.device());
  TORCH_CHECK(!at::isComplexType(n.scalar_type()) && n.scalar_type() != at::kBool, kOp, ": ", name,
              " must hold token counts (integer or float), got ", n.scalar_type());
  // Finite too: an infinite count scaled its pair's loss to 0 without a word.
  const at::Tensor ok = n.is_floating_point() ? (n > 0) & at::isfinite(n) : n > 0;
  cotnpot::detail::check_all(ok, c10::str(kOp, ": ", name, " must be finite and > 0"), [&] {
    return c10::str(kOp, ": ", name, " must be finite and > 0, got ", n.masked_select(ok.logical_not())[0].item<double>());
  });
  // In float32 at least: a count past float16's range (65504) had become inf after the check above, and its
  // pair's log-ratio 0 (a breaker)
  return n.to(at::promote_types(like.scalar_type(), at::kFloat));
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> dpo_loss_composite(
    const at::Tensor& chosen_logps, const at::Tensor& rejected_logps, const at::Tensor& ref_chosen_logps,
    const at::Tensor& ref_rejected_logps, double beta, double label_smoothing, c10::string_view loss_type_view,
    const c10::optional<at::Tensor>& chosen_lengths, const c10::optional<at::Tensor>& rejected_lengths,
    bool ipo_length_normalize, const c10::optional<at::Tensor>& bco_delta, bool ipo_rewards_on_sums) {
  std::string_view loss_type(loss_type_view.data(), loss_type_view.size());
  if (loss_type == "aot_unpaired") loss_type = "aot_pair";  // TRL >= 1.0's name of the same loss
  detail::check_same_batch(kOp, {{"chosen_logps", &chosen_logps},
                                 {"rejected_logps", &rejected_logps},
                                 {"ref_chosen_logps", &ref_chosen_logps},
                                 {"ref_rejected_logps", &ref_rejected_logps}});
  detail::check_positive(kOp, "beta", beta);
  detail::check_choice(kOp, "loss_type", loss_type,
                       {"sigmoid", "hinge", "ipo", "robust", "bco_pair", "sppo_hard", "nca_pair", "exo_pair", "aot",
                        "aot_pair", "aot_unpaired", "apo_zero", "apo_down"});
  TORCH_CHECK(label_smoothing >= 0.0 && label_smoothing <= 0.5, kOp,
              ": label_smoothing must be in [0, 0.5], got ", label_smoothing);
  TORCH_CHECK(loss_type != "robust" || label_smoothing < 0.5, kOp,
              ": loss_type 'robust' divides by 1 - 2 * label_smoothing and needs label_smoothing < 0.5, got ",
              label_smoothing);

  at::Tensor pc = chosen_logps, pr = rejected_logps, rc = ref_chosen_logps, rr = ref_rejected_logps;
  if (loss_type == "ipo" && ipo_length_normalize) {
    const at::Tensor nc = checked_lengths(chosen_lengths, "chosen_lengths", pc);
    const at::Tensor nr = checked_lengths(rejected_lengths, "rejected_lengths", pr);
    const auto per_token = [](const at::Tensor& logps, const at::Tensor& n) { return (logps / n).to(logps.scalar_type()); };
    pc = per_token(pc, nc), rc = per_token(rc, nc), pr = per_token(pr, nr), rr = per_token(rr, nr);
  }
  const at::Tensor chosen_ratio = pc - rc, rejected_ratio = pr - rr;
  const at::Tensor logits = (pc - pr) - (rc - rr);
  const double eps = label_smoothing;
  at::Tensor losses;
  if (loss_type == "sigmoid") {
    losses = smoothed_sigmoid_loss(logits * beta, eps);
  } else if (loss_type == "hinge") {
    losses = at::relu(1.0 - logits * beta);
  } else if (loss_type == "ipo") {
    losses = (logits - 1.0 / (2.0 * beta)).pow(2);
  } else if (loss_type == "robust") {
    const at::Tensor x = logits * beta;
    losses = (-at::log_sigmoid(x) * (1.0 - eps) + at::log_sigmoid(-x) * eps) / (1.0 - 2.0 * eps);
  } else if (loss_type == "bco_pair") {
    at::Tensor delta;
    if (bco_delta.has_value() && bco_delta->defined()) {
      TORCH_CHECK(bco_delta->sym_numel() == 1, kOp, ": bco_delta must hold one value (the running mean reward), "
                  "got shape ", bco_delta->sym_sizes());
      TORCH_CHECK(bco_delta->device() == pc.device(), kOp, ": bco_delta must be on chosen_logps's device ",
                  pc.device(), ", got ", bco_delta->device());
      delta = bco_delta->reshape({}).to(pc.scalar_type()).detach();
    } else {
      delta = at::cat({chosen_ratio, rejected_ratio}).mul(beta).mean().detach();
    }
    losses = -at::log_sigmoid(chosen_ratio * beta - delta) - at::log_sigmoid(-(rejected_ratio * beta - delta));
  } else if (loss_type == "sppo_hard") {
    losses = (chosen_ratio - 0.5 / beta).pow(2) + (rejected_ratio + 0.5 / beta).pow(2);
  } else if (loss_type == "nca_pair") {
    const at::Tensor cr = chosen_ratio * beta, rj = rejected_ratio * beta;
    losses = -at::log_sigmoid(cr) - 0.5 * at::log_sigmoid(-cr) - 0.5 * at::log_sigmoid(-rj);
  } else if (loss_type == "exo_pair") {
    const double e = eps == 0.0 ? 1e-3 : eps;  // as TRL: exo needs a non-zero smoothing
    const at::Tensor x = logits * beta;
    losses = at::sigmoid(x) * (at::log_sigmoid(x) - std::log(1.0 - e)) +
             at::sigmoid(-x) * (at::log_sigmoid(-x) - std::log(e));
  } else if (loss_type == "aot") {
    losses = smoothed_sigmoid_loss((sorted(pc - pr) - sorted(rc - rr)) * beta, eps);
  } else if (loss_type == "aot_pair") {
    losses = smoothed_sigmoid_loss((sorted(chosen_ratio) - sorted(rejected_ratio)) * beta, eps);
  } else if (loss_type == "apo_zero") {
    losses = (1.0 - at::sigmoid(chosen_ratio * beta)) + at::sigmoid(rejected_ratio * beta);
  } else {  // apo_down
    losses = at::sigmoid(chosen_ratio * beta) + (1.0 - at::sigmoid((chosen_ratio - rejected_ratio) * beta));
  }
  if (loss_type == "ipo" && ipo_rewards_on_sums)
    return {losses, ((chosen_logps - ref_chosen_logps) * beta).detach(),
            ((rejected_logps - ref_rejected_logps) * beta).detach()};
  return {losses, (chosen_ratio * beta).detach(), (rejected_ratio * beta).detach()};
}

}  // namespace

std::tuple<at::Tensor, at::Tensor, at::Tensor> dpo_loss(
    const at::Tensor& chosen_logps, const at::Tensor& rejected_logps, const at::Tensor& ref_chosen_logps,
    const at::Tensor& ref_rejected_logps, double beta, double label_smoothing, std::string_view loss_type,
    const std::optional<at::Tensor>& chosen_lengths, const std::optional<at::Tensor>& rejected_lengths,
    bool ipo_length_normalize, const std::optional<at::Tensor>& bco_delta, bool ipo_rewards_on_sums) {
  static const auto op = c10::Dispatcher::singleton()
                             .findSchemaOrThrow("cotnpot::dpo_loss", "")
                             .typed<decltype(dpo_loss_composite)>();
  const auto opt = [](const std::optional<at::Tensor>& t) {
    return t.has_value() ? c10::optional<at::Tensor>(*t) : c10::nullopt;
  };
  return op.call(chosen_logps, rejected_logps, ref_chosen_logps, ref_rejected_logps, beta, label_smoothing,
                 c10::string_view(loss_type.data(), loss_type.size()), opt(chosen_lengths), opt(rejected_lengths),
                 ipo_length_normalize, opt(bco_delta), ipo_rewards_on_sums);
}

TORCH_LIBRARY_IMPL(cotnpot, CompositeImplicitAutograd, m) { m.impl("dpo_loss", &dpo_loss_composite); }

}  // namespace cotnpot::losses
