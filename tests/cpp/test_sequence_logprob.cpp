// The sequence_logprob op from C++: values against log_softmax + gather, the device-generic composite
// against the CPU kernel, autograd, and the error messages.
#include <doctest/doctest.h>

#include <ATen/ATen.h>
#include <torch/csrc/autograd/autograd.h>

#include <string>

#include "cotnpot/cotnpot.h"
#include "error_of.h"
#include "cotnpot/logprob/detail/token_logprob_ops.h"

using cotnpot::logprob::sequence_logprob;
using cotnpot::logprob::token_logprob;

namespace {

// Ground truth in float64: log_softmax + gather, 0 where ignored.
at::Tensor reference_token_logprob(const at::Tensor& logits, const at::Tensor& labels, int64_t ignore_index,
                                   bool shift) {
  at::Tensor x = logits.to(at::kDouble), y = labels;
  if (shift) {
    x = x.slice(1, 0, x.size(1) - 1);
    y = y.slice(1, 1);
  }
  const at::Tensor valid = y != ignore_index;
  const at::Tensor safe = at::where(valid, y, at::zeros_like(y));
  const at::Tensor lp = x.log_softmax(-1).gather(-1, safe.unsqueeze(-1)).squeeze(-1);
  return at::where(valid, lp, at::zeros_like(lp));
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

}  // namespace

TEST_CASE("token and sequence log-probs match log_softmax + gather") {
  at::manual_seed(0);
  for (bool shift : {false, true}) {
    CAPTURE(shift);
    const at::Tensor logits = at::randn({3, 6, 37}) * 3;
    at::Tensor labels = at::randint(37, {3, 6}, at::kLong);
    labels.index_put_({1, 2}, -100);
    labels.index_put_({2}, -100);  // a row with no valid token
    const at::Tensor want = reference_token_logprob(logits, labels, -100, shift);

    const at::Tensor tokens = token_logprob(logits, labels, -100, shift);
    CHECK((tokens.scalar_type() == at::kFloat));
    CHECK(at::allclose(tokens.to(at::kDouble), want, 1e-5, 1e-5));
    CHECK(at::allclose(sequence_logprob(logits, labels, -100, "sum", shift).to(at::kDouble), want.sum(-1), 1e-5,
                       1e-4));
    const at::Tensor counts = (shift ? labels.slice(1, 1) : labels).ne(-100).sum(-1).clamp_min(1);
    const at::Tensor mean = sequence_logprob(logits, labels, -100, "mean", shift);
    CHECK(at::allclose(mean.to(at::kDouble), want.sum(-1) / counts, 1e-5, 1e-5));
    CHECK(mean[2].item<float>() == 0.0f);
    CHECK(at::equal(sequence_logprob(logits, labels, -100, "none", shift), tokens));
  }
}

TEST_CASE("the device-generic composite kernels agree with the CPU kernels") {
  at::manual_seed(1);
  const at::Tensor logits = at::randn({2, 5, 130});
  at::Tensor labels = at::randint(130, {2, 5}, at::kLong);
  labels.index_put_({0, 3}, -1);
  for (bool shift : {false, true}) {
    auto [lp_cpu, lse_cpu] = cotnpot::logprob::detail::token_logprob_forward_cpu(logits, labels, -1, shift);
    auto [lp_gen, lse_gen] = cotnpot::logprob::detail::token_logprob_forward_composite(logits, labels, -1, shift);
    CHECK(at::allclose(lp_cpu, lp_gen, 1e-5, 1e-5));
    CHECK(at::allclose(lse_cpu, lse_gen, 1e-5, 1e-5));
    const at::Tensor grad = at::randn_like(lp_cpu);
    const at::Tensor g_cpu =
        cotnpot::logprob::detail::token_logprob_backward_cpu(grad, logits, labels, lse_cpu, -1, shift);
    const at::Tensor g_gen =
        cotnpot::logprob::detail::token_logprob_backward_composite(grad, logits, labels, lse_gen, -1, shift);
    CHECK((g_cpu.sizes() == logits.sizes()));
    CHECK(at::allclose(g_cpu, g_gen, 1e-5, 1e-6));
  }
}

TEST_CASE("gradients flow through the op from C++ like through log_softmax") {
  at::manual_seed(2);
  const at::Tensor base = at::randn({2, 4, 19}, at::kDouble);
  const at::Tensor labels = at::randint(19, {2, 4}, at::kLong);
  const at::Tensor a = base.clone().requires_grad_(true);
  const at::Tensor b = base.clone().requires_grad_(true);
  sequence_logprob(a, labels, -100, "mean", true).sum().backward();
  const at::Tensor ref = reference_token_logprob(b, labels, -100, true).sum(-1) / 3.0;
  ref.sum().backward();
  CHECK(at::allclose(a.grad(), b.grad(), 1e-10, 1e-12));
}

TEST_CASE("bad inputs raise errors that name the argument and what was seen") {
  const at::Tensor logits = at::randn({2, 3, 5});
  const at::Tensor labels = at::zeros({2, 3}, at::kLong);
  CHECK(contains(error_of([&] { sequence_logprob(logits[0], labels); }),
                 "sequence_logprob: logits must be 3-D [B,T,V], got 2-D with shape [3, 5]"));
  CHECK(contains(error_of([&] { sequence_logprob(logits, labels[0]); }), "labels must be 2-D [B,T], got 1-D"));
  CHECK(contains(error_of([&] { sequence_logprob(logits, labels.slice(1, 0, 2)); }),
                 "labels must have shape [B,T] = [2, 3] to match logits [2, 3, 5], got [2, 2]"));
  CHECK(contains(error_of([&] { sequence_logprob(logits.to(at::kLong), labels); }),
                 "logits must be float32, float64, float16 or bfloat16, got Long"));
  CHECK(contains(error_of([&] { sequence_logprob(logits, labels.to(at::kFloat)); }),
                 "labels must be int64, got Float"));
  CHECK(contains(error_of([&] { sequence_logprob(logits, labels.fill_(5)); }),
                 "labels must be in [0, V) = [0, 5) or equal ignore_index = -100, got 5 at labels[0, 0]"));
  CHECK(contains(error_of([&] { sequence_logprob(logits, at::full({2, 3}, -7, at::kLong)); }), "got -7"));
  CHECK(contains(error_of([&] { sequence_logprob(logits, labels.zero_(), -100, "avg"); }),
                 "reduction must be one of 'sum', 'mean', 'none', got 'avg'"));
  CHECK(contains(error_of([&] { token_logprob(at::randn({2, 3, 0}), labels); }), "V >= 1, got V = 0"));
}
