// Best-of-N and votes as ATen composites: a handful of [P,N] tensor ops, device-generic.
#include "cotnpot/selection/select.h"

#include <ATen/ATen.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/library.h>

#include <limits>
#include <string>
#include <tuple>

#include "cotnpot/detail/check_values.h"

namespace cotnpot::selection {
namespace {

void check_matrix(const char* op, const char* name, const at::Tensor& t) {
  cotnpot::detail::check_defined(op, name, t);
  TORCH_CHECK(t.dim() == 2, op, ": ", name, " must be 2-D [P,N], got ", t.dim(), "-D with shape ", t.sizes());
}

// valid (or all true) combined with the problem shape of `like`, checked.
at::Tensor mask_or_all(const char* op, const char* name, const at::Tensor& mask, const at::Tensor& like) {
  if (!mask.defined()) return at::ones(like.sizes(), like.options().dtype(at::kBool));
  TORCH_CHECK(mask.scalar_type() == at::kBool, op, ": ", name, " must be bool, got ", mask.scalar_type());
  TORCH_CHECK(mask.sizes() == like.sizes(), op, ": ", name, " must have shape ", like.sizes(), ", got ", mask.sizes());
  TORCH_CHECK(mask.device() == like.device(), op, ": ", name, " must be on device ", like.device(), ", got ",
              mask.device());
  return mask;
}

void check_fallback(const char* op, std::string_view fallback) {
  TORCH_CHECK(fallback == "all" || fallback == "none", op, ": fallback must be \"all\" or \"none\", got \"",
              std::string(fallback), "\"");
}

// The mask to select under: eligible & keep where a row keeps any candidate, else (fallback "all") the
// unfiltered mask. `keep` is checked against `like` here, once for both ops.
at::Tensor filtered_mask(const char* op, const at::Tensor& eligible, const at::Tensor& keep, const at::Tensor& like,
                         std::string_view fallback) {
  if (!keep.defined()) return eligible;
  const at::Tensor kept = eligible & mask_or_all(op, "keep", keep, like);
  if (fallback == "none") return kept;
  return at::where(kept.any(1, /*keepdim=*/true), kept, eligible);
}

at::Tensor best_of_n_kernel(const at::Tensor& scores, const c10::optional<at::Tensor>& valid_opt,
                            const c10::optional<at::Tensor>& keep_opt, c10::string_view fallback_view) {
  const at::Tensor valid = valid_opt.value_or(at::Tensor()), keep = keep_opt.value_or(at::Tensor());
  const std::string_view fallback(fallback_view.data(), fallback_view.size());
  constexpr const char* op = "best_of_n";
  check_matrix(op, "scores", scores);
  TORCH_CHECK(at::isFloatingType(scores.scalar_type()), op, ": scores must be floating-point, got ",
              scores.scalar_type());
  check_fallback(op, fallback);
  const at::Tensor eligible = mask_or_all(op, "valid", valid, scores) & ~at::isnan(scores);
  const at::Tensor mask = filtered_mask(op, eligible, keep, scores, fallback);
  if (scores.size(1) == 0) return at::full({scores.size(0)}, -1, scores.options().dtype(at::kLong));
  const at::Tensor ranked = at::where(mask, scores.to(at::kDouble), at::full_like(scores, -std::numeric_limits<double>::infinity(), at::kDouble));
  // Among eligible candidates with the best value, the first one (also when that value is -inf).
  const at::Tensor is_best = mask & (ranked == ranked.amax(1, /*keepdim=*/true));
  const at::Tensor pick = is_best.to(at::kByte).argmax(1);
  return at::where(mask.any(1), pick, at::full_like(pick, -1));
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> vote_kernel(const at::Tensor& classes,
                                                           const c10::optional<at::Tensor>& valid_opt,
                                                           const c10::optional<at::Tensor>& weights_opt,
                                                           const c10::optional<at::Tensor>& keep_opt,
                                                           c10::string_view fallback_view) {
  const at::Tensor valid = valid_opt.value_or(at::Tensor()), weights = weights_opt.value_or(at::Tensor()),
                   keep = keep_opt.value_or(at::Tensor());
  const std::string_view fallback(fallback_view.data(), fallback_view.size());
  constexpr const char* op = "vote";
  check_matrix(op, "classes", classes);
  TORCH_CHECK(classes.scalar_type() == at::kLong || classes.scalar_type() == at::kInt, op,
              ": classes must be int64 or int32 answer-class ids, got ", classes.scalar_type());
  check_fallback(op, fallback);
  const int64_t P = classes.size(0), N = classes.size(1);
  const at::Tensor ids = classes.to(at::kLong);
  // Only the candidates' ids are checked: padding (valid = false) may hold anything, and never votes.
  const at::Tensor in_use = mask_or_all(op, "valid", valid, ids);
  cotnpot::detail::check_all(~in_use | (ids < N), c10::str(op, ": classes must be ids in [0, N) per problem"), [&] {
    return c10::str(op, ": classes must be ids in [0, N) = [0, ", N, ") per problem (negative: no answer), got ",
                    at::where(in_use, ids, at::full_like(ids, -1)).max().item<int64_t>());
  });
  at::Tensor eligible = in_use & (ids >= 0);
  at::Tensor w;
  if (weights.defined()) {
    TORCH_CHECK(at::isFloatingType(weights.scalar_type()), op, ": weights must be floating-point, got ",
                weights.scalar_type());
    TORCH_CHECK(weights.sizes() == ids.sizes(), op, ": weights must have shape ", ids.sizes(), ", got ",
                weights.sizes());
    TORCH_CHECK(weights.device() == ids.device(), op, ": weights must be on device ", ids.device(), ", got ",
                weights.device());
    eligible = eligible & at::isfinite(weights);
    w = weights.to(at::kDouble);
    // A vote adds weights up: negative ones (a verifier's log-probs) would make bigger classes weigh less.
    cotnpot::detail::check_all(~eligible | (w >= 0), c10::str(op, ": weights must be non-negative"), [&] {
      return c10::str(op, ": weights must be non-negative (a vote adds them up), got ",
                      at::where(eligible, w, at::zeros_like(w)).min().item<double>(),
                      "; for a verifier's average log-probs weigh by their exp");
    });
  } else {
    w = at::ones(ids.sizes(), ids.options().dtype(at::kDouble));
  }
  const at::Tensor mask = filtered_mask(op, eligible, keep, ids, fallback);
  if (N == 0) {
    const at::Tensor none = at::full({P}, -1, ids.options());
    return {none, none.clone(), at::zeros({P}, w.options())};
  }

  // Column N collects everything that does not vote, so no real class is touched by it.
  const at::Tensor slot = at::where(mask, ids, at::full_like(ids, N));
  const at::Tensor tally = at::zeros({P, N + 1}, w.options()).scatter_add_(1, slot, at::where(mask, w, at::zeros_like(w)));
  const at::Tensor votes = at::zeros({P, N + 1}, ids.options()).scatter_add_(1, slot, mask.to(at::kLong));
  // Each class's first candidate: sort (class, position) keys per row; a class starts where the class
  // changes. (scatter_reduce "amin" would do it too, but is beta in torch 1.13.)
  const at::Tensor positions = at::arange(N, ids.options()).expand({P, N});
  const at::Tensor sorted = std::get<0>((slot * N + positions).sort(1));
  const at::Tensor sorted_class = sorted.div(N, "floor");
  const at::Tensor starts = at::cat({at::ones({P, 1}, mask.options()),
                                     sorted_class.narrow(1, 1, N - 1) != sorted_class.narrow(1, 0, N - 1)}, 1);
  // Every non-start goes to the dump column N, whose value is never read.
  const at::Tensor first = at::full({P, N + 1}, N, ids.options())
                               .scatter_(1, at::where(starts, sorted_class, at::full_like(sorted_class, N)),
                                         sorted.remainder(N));
  const at::Tensor present = votes.narrow(1, 0, N) > 0;
  const at::Tensor support_all = tally.narrow(1, 0, N);
  const at::Tensor best = at::where(present, support_all, at::full_like(support_all, -std::numeric_limits<double>::infinity()))
                              .amax(1, /*keepdim=*/true);
  // Among the classes with the most support, the one whose first candidate comes first.
  const at::Tensor tied = present & (support_all == best);
  const at::Tensor key = at::where(tied, first.narrow(1, 0, N), at::full_like(first.narrow(1, 0, N), N + 1));
  const at::Tensor winner = key.argmin(1);
  const at::Tensor any = present.any(1);
  return {at::where(any, winner, at::full_like(winner, -1)),
          at::where(any, first.gather(1, winner.unsqueeze(1)).squeeze(1), at::full_like(winner, -1)),
          at::where(any, support_all.gather(1, winner.unsqueeze(1)).squeeze(1), at::zeros({P}, w.options()))};
}

// The C++ API takes undefined tensors for "not given"; the schema takes None.
c10::optional<at::Tensor> optional(const at::Tensor& t) {
  return t.defined() ? c10::optional<at::Tensor>(t) : c10::nullopt;
}

}  // namespace

at::Tensor best_of_n(const at::Tensor& scores, const at::Tensor& valid, const at::Tensor& keep,
                     std::string_view fallback) {
  static const auto op =
      c10::Dispatcher::singleton().findSchemaOrThrow("cotnpot::best_of_n", "").typed<decltype(best_of_n_kernel)>();
  return op.call(scores, optional(valid), optional(keep), c10::string_view(fallback.data(), fallback.size()));
}

Vote vote(const at::Tensor& classes, const at::Tensor& valid, const at::Tensor& weights, const at::Tensor& keep,
          std::string_view fallback) {
  static const auto op =
      c10::Dispatcher::singleton().findSchemaOrThrow("cotnpot::vote", "").typed<decltype(vote_kernel)>();
  auto [answer_class, index, support] = op.call(classes, optional(valid), optional(weights), optional(keep),
                                                c10::string_view(fallback.data(), fallback.size()));
  return {answer_class, index, support};
}

namespace {

// Not differentiable: the Autograd kernels run the ops below autograd, so their outputs never require grad.
// Without them, weights that required grad gave `support` a grad_fn whose backward warned that no autograd
// kernel was registered ("may lead to silently incorrect behavior").
at::Tensor best_of_n_below_autograd(const at::Tensor& scores, const c10::optional<at::Tensor>& valid,
                                    const c10::optional<at::Tensor>& keep, c10::string_view fallback) {
  at::AutoDispatchBelowADInplaceOrView below;
  return best_of_n(scores, valid.value_or(at::Tensor()), keep.value_or(at::Tensor()),
                   std::string_view(fallback.data(), fallback.size()));
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> vote_below_autograd(const at::Tensor& classes,
                                                                   const c10::optional<at::Tensor>& valid,
                                                                   const c10::optional<at::Tensor>& weights,
                                                                   const c10::optional<at::Tensor>& keep,
                                                                   c10::string_view fallback) {
  at::AutoDispatchBelowADInplaceOrView below;
  Vote v = vote(classes, valid.value_or(at::Tensor()), weights.value_or(at::Tensor()), keep.value_or(at::Tensor()),
                std::string_view(fallback.data(), fallback.size()));
  return {v.answer_class, v.index, v.support};
}

}  // namespace

// One device-generic kernel each; the fakes are in Python.
TORCH_LIBRARY_IMPL(cotnpot, CompositeExplicitAutograd, m) {
  m.impl("best_of_n", &best_of_n_kernel);
  m.impl("vote", &vote_kernel);
}

TORCH_LIBRARY_IMPL(cotnpot, Autograd, m) {
  m.impl("best_of_n", &best_of_n_below_autograd);
  m.impl("vote", &vote_below_autograd);
}

}  // namespace cotnpot::selection
