// The ORM loss and score as ATen composites.
#include "cotnpot/losses/orm_loss.h"

#include <ATen/ATen.h>
#include <ATen/OpMathType.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/library.h>

#include "cotnpot/detail/check_values.h"
#include "cotnpot/losses/detail/check.h"

namespace cotnpot::losses {
namespace {

void check_scores_and_mask(const char* op, const at::Tensor& scores, const at::Tensor& mask) {
  cotnpot::detail::check_defined(op, "scores", scores);
  cotnpot::detail::check_defined(op, "mask", mask);
  TORCH_CHECK(scores.dim() == 2, op, ": scores must be 2-D [B,T], got ", scores.dim(), "-D with shape ",
              scores.sym_sizes());
  TORCH_CHECK(at::isFloatingType(scores.scalar_type()), op, ": scores must be a floating-point tensor, got ",
              scores.scalar_type());
  TORCH_CHECK(mask.scalar_type() == at::kBool, op, ": mask must be bool, got ", mask.scalar_type());
  TORCH_CHECK(mask.sym_sizes() == scores.sym_sizes(), op, ": mask must have the shape of scores ",
              scores.sym_sizes(), ", got ", mask.sym_sizes());
  TORCH_CHECK(mask.device() == scores.device(), op, ": mask must be on scores' device ", scores.device(), ", got ",
              mask.device());
}

// The scores with 0 at masked positions: what the loss and the score read. Masking only their outputs left
// a NaN score at a padding position a NaN gradient there (0 times the BCE's or the sigmoid's
// derivative at NaN; a breaker); where() sends exactly 0 back to the positions it does not take.
at::Tensor valid_scores(const at::Tensor& scores, const at::Tensor& mask) {
  return at::where(mask, scores, at::zeros({}, scores.options()));
}

at::Tensor orm_loss_composite(const at::Tensor& scores, const at::Tensor& labels, const at::Tensor& mask,
                              c10::string_view reduction_view) {
  constexpr const char* op = "orm_loss";
  const std::string_view reduction(reduction_view.data(), reduction_view.size());
  check_scores_and_mask(op, scores, mask);
  detail::check_choice(op, "reduction", reduction, {"mean", "sum", "none"});
  cotnpot::detail::check_defined(op, "labels", labels);
  TORCH_CHECK(labels.dim() == 1 && labels.sym_size(0) == scores.sym_size(0), op,
              ": labels must be 1-D [B] with B = ", scores.sym_size(0), ", got shape ", labels.sym_sizes());
  TORCH_CHECK(labels.device() == scores.device(), op, ": labels must be on scores' device ", scores.device(),
              ", got ", labels.device());
  TORCH_CHECK(labels.scalar_type() == at::kBool || at::isFloatingType(labels.scalar_type()) ||
                  at::isIntegralType(labels.scalar_type(), /*includeBool=*/false),
              op, ": labels must be bool, integer or float, got ", labels.scalar_type());
  // Checked as given: after a cast to fp16 scores' dtype, a label of 1.0001 would read as 1.
  // The first bad label and its row: the whole tensor, as printed before, was 300 kB for 100k labels.
  const at::Tensor ok = (labels == 0) | (labels == 1);
  cotnpot::detail::check_all(ok, c10::str(op, ": labels must be 0 (wrong) or 1 (correct)"), [&] {
    const int64_t row = ok.logical_not().nonzero()[0][0].item<int64_t>();
    return c10::str(op, ": labels must be 0 (wrong) or 1 (correct), got ", labels[row].item(), " at row ", row);
  });
  const at::Tensor target = labels.to(scores.scalar_type());
  const at::Tensor per_token = at::binary_cross_entropy_with_logits(
      valid_scores(scores, mask), target.unsqueeze(1).expand_as(scores), /*weight=*/{}, /*pos_weight=*/{}, at::Reduction::None);
  const at::Tensor masked = at::where(mask, per_token, at::zeros_like(per_token));
  if (reduction == "none") return masked;
  // Summed and divided in float32 for 16-bit scores, then given the scores' dtype (a breaker: in fp16 a count
  // of 65,520 tokens or more, 16 x 4096 = 65,536, was inf and the mean 0 with no gradient). A sum past 65,504
  // is still inf in fp16, as torch's own sum gives: reduction="sum" returns the scores' dtype.
  const at::ScalarType acc = at::toOpMathType(masked.scalar_type());
  const at::Tensor total = masked.sum(acc);
  if (reduction == "sum") return total.to(masked.scalar_type());
  // Mean over valid tokens; no valid token at all gives 0, not 0/0.
  return (total / mask.sum().clamp_min(1).to(acc)).to(masked.scalar_type());
}

at::Tensor orm_score_composite(const at::Tensor& scores, const at::Tensor& mask, c10::string_view mode_view) {
  constexpr const char* op = "orm_score";
  const std::string_view mode(mode_view.data(), mode_view.size());
  check_scores_and_mask(op, scores, mask);
  detail::check_choice(op, "mode", mode, {"last", "mean"});
  const at::Tensor probs = at::sigmoid(valid_scores(scores, mask));
  const at::Tensor count = mask.sum(1);
  cotnpot::detail::check_all(count > 0, c10::str(op, ": every row of mask needs a valid token"), [&] {
    return c10::str(op, ": every row of mask needs a valid token, row ", count.argmin().item<int64_t>(), " has none");
  });
  if (mode == "mean") {   // in float32 for 16-bit scores, as orm_loss: a count past 65,504 was inf in fp16
    const at::ScalarType acc = at::toOpMathType(probs.scalar_type());
    return (at::where(mask, probs, at::zeros_like(probs)).sum(1, false, acc) / count.to(acc)).to(probs.scalar_type());
  }
  // No rows (the check above passed, so B = 0): [0], where amax over an empty dim would throw.
  if (scores.sym_numel() == 0) return probs.sum(1);
  // The last valid position: the largest index t with mask[b,t].
  const at::Tensor positions = at::arange(scores.sym_size(1), mask.options().dtype(at::kLong));
  const at::Tensor last = at::where(mask, positions, at::full_like(positions, -1)).amax(1);
  return probs.gather(1, last.unsqueeze(1)).squeeze(1);
}

}  // namespace

at::Tensor orm_loss(const at::Tensor& scores, const at::Tensor& labels, const at::Tensor& mask,
                    std::string_view reduction) {
  static const auto op =
      c10::Dispatcher::singleton().findSchemaOrThrow("cotnpot::orm_loss", "").typed<decltype(orm_loss_composite)>();
  return op.call(scores, labels, mask, c10::string_view(reduction.data(), reduction.size()));
}

at::Tensor orm_score(const at::Tensor& scores, const at::Tensor& mask, std::string_view mode) {
  static const auto op = c10::Dispatcher::singleton()
                             .findSchemaOrThrow("cotnpot::orm_score", "")
                             .typed<decltype(orm_score_composite)>();
  return op.call(scores, mask, c10::string_view(mode.data(), mode.size()));
}

TORCH_LIBRARY_IMPL(cotnpot, CompositeImplicitAutograd, m) {
  m.impl("orm_loss", &orm_loss_composite);
  m.impl("orm_score", &orm_score_composite);
}

}  // namespace cotnpot::losses
