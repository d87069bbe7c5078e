// The fused hidden x lm_head log-prob's two forms against each other and against float64 ground truth:
// the CPU form (row kernels over each block; bf16 GEMMs for bf16 where the CPU has bf16 instructions, float32
// copies of the blocks elsewhere) and the composite form (ATen ops, what
// CUDA runs), which the public op no longer takes on the CPU for float32/bfloat16.
#include <doctest/doctest.h>

#include <ATen/ATen.h>

#include <array>
#include <limits>
#include <tuple>

#include "cotnpot/logprob/detail/fused_linear_forms.h"
#include "cotnpot/logprob/sequence_logprob.h"
#include "error_of.h"

namespace {

using cotnpot::logprob::FusedBlocks;
namespace forms = cotnpot::logprob::detail;

struct Case {
  at::Tensor hidden, weight, labels, bias, grad;
};

// N = 37 rows, H = 24, V = 301 (no block size divides it), rows 3 and 20 ignored, row 20's hidden state inf.
Case make_case(at::ScalarType dtype, bool with_bias) {
  at::manual_seed(7);
  Case c;
  c.hidden = at::randn({37, 24}, at::kDouble);
  c.hidden[20].fill_(std::numeric_limits<double>::infinity());
  c.weight = at::randn({301, 24}, at::kDouble) * 0.4;
  c.labels = at::randint(0, 301, {37}, at::kLong);
  c.labels[3] = -100;
  c.labels[20] = -100;
  c.bias = with_bias ? at::randn({301}, at::kDouble) : at::Tensor();
  c.grad = at::randn({37}, at::kFloat);
  c.hidden = c.hidden.to(dtype);
  c.weight = c.weight.to(dtype);
  if (with_bias) c.bias = c.bias.to(dtype);
  return c;
}

double max_abs(const at::Tensor& t) { return t.abs().max().item<double>(); }

}  // namespace

TEST_CASE("the CPU form of fused_linear_logprob equals the composite form, values and gradients") {
  const FusedBlocks blocks{8, 64};  // several row and vocabulary blocks, the last ones partial
  const std::array<bool, 3> all{true, true, true};
  for (const auto dtype : {at::kFloat, at::kBFloat16})
    for (const bool with_bias : {false, true}) {
      CAPTURE(dtype);
      CAPTURE(with_bias);
      const Case c = make_case(dtype, with_bias);
      REQUIRE(forms::fused_linear_cpu_handles(c.hidden));
      const auto [logp, lse] = forms::fused_linear_forward_cpu(c.hidden, c.weight, c.labels, c.bias, -100, blocks);
      const auto [logp_ref, lse_ref] =
          forms::fused_linear_forward_composite(c.hidden, c.weight, c.labels, c.bias, -100, blocks);
      const double tol = dtype == at::kFloat ? 1e-5 : 3e-2;  // bf16: the composite rounds each block's logits to bf16 (the CPU form too where its GEMMs are bf16)
      CHECK(max_abs(logp - logp_ref) < tol);
      CHECK(max_abs(lse - lse_ref) < tol);
      CHECK(logp[3].item<float>() == 0.0f);
      CHECK(logp[20].item<float>() == 0.0f);
      CHECK(at::isfinite(logp).all().item<bool>());

      const auto [gh, gw, gb] =
          forms::fused_linear_backward_cpu(c.grad, c.hidden, c.weight, c.labels, lse, c.bias, -100, blocks, all);
      const auto [gh_ref, gw_ref, gb_ref] = forms::fused_linear_backward_composite(
          c.grad, c.hidden, c.weight, c.labels, lse_ref, c.bias, -100, blocks, all);
      CHECK((gh.scalar_type() == dtype));
      CHECK((gw.scalar_type() == dtype));
      const double gtol = dtype == at::kFloat ? 1e-5 : 2e-2;
      for (const auto& [got, want] : {std::pair{gh, gh_ref}, std::pair{gw, gw_ref}}) {
        CHECK(at::isfinite(got).all().item<bool>());
        CHECK(max_abs(got.to(at::kFloat) - want.to(at::kFloat)) < gtol * (1.0 + max_abs(want.to(at::kFloat))));
      }
      CHECK(max_abs(gh[3].to(at::kFloat)) == 0.0);
      CHECK(max_abs(gh[20].to(at::kFloat)) == 0.0);
      if (with_bias) CHECK(max_abs(gb.to(at::kFloat) - gb_ref.to(at::kFloat)) < gtol * (1.0 + max_abs(gb_ref.to(at::kFloat))));
    }
}

TEST_CASE("the CPU form's float32 values and gradients match float64 ground truth") {
  const Case c = make_case(at::kFloat, true);
  const Case truth = make_case(at::kDouble, true);
  const FusedBlocks blocks{5, 100};
  const auto [logp, lse] = forms::fused_linear_forward_cpu(c.hidden, c.weight, c.labels, c.bias, -100, blocks);
  const auto [logp64, lse64] =
      forms::fused_linear_forward_composite(truth.hidden, truth.weight, truth.labels, truth.bias, -100, blocks);
  CHECK(max_abs(logp.to(at::kDouble) - logp64) < 1e-4);
  const auto [gh, gw, gb] =
      forms::fused_linear_backward_cpu(c.grad, c.hidden, c.weight, c.labels, lse, c.bias, -100, blocks, {true, true, true});
  const auto [gh64, gw64, gb64] = forms::fused_linear_backward_composite(
      c.grad.to(at::kDouble), truth.hidden, truth.weight, truth.labels, lse64, truth.bias, -100, blocks,
      {true, true, true});
  CHECK(max_abs(gh.to(at::kDouble) - gh64) < 1e-4);
  CHECK(max_abs(gw.to(at::kDouble) - gw64) < 1e-4);
  CHECK(max_abs(gb.to(at::kDouble) - gb64) < 1e-4);
}

TEST_CASE("a frozen head: both forms' d logp / d hidden, and the gradient from it, match float64") {
  // Row 20 (ignored) holds inf: its row stays 0 in both forms. The float64 composite gives the truth, checked
  // against the plain backward's gradient (which recomputes the softmax).
  const Case truth = make_case(at::kDouble, true);
  at::Tensor dlogp64 = at::zeros({37, 24}, at::kDouble);
  const auto [logp64, lse64] = forms::fused_linear_forward_composite(truth.hidden, truth.weight, truth.labels,
                                                                     truth.bias, -100, {8, 64}, &dlogp64);
  const at::Tensor grad64 =
      cotnpot::logprob::fused_linear_logprob_backward_frozen_weight(truth.grad.to(at::kDouble), dlogp64, at::kDouble);
  const at::Tensor plain64 = std::get<0>(forms::fused_linear_backward_composite(
      truth.grad.to(at::kDouble), truth.hidden, truth.weight, truth.labels, lse64, truth.bias, -100, {8, 64},
      {true, false, false}));
  CHECK(max_abs(grad64 - plain64) < 1e-12);
  for (const auto dtype : {at::kFloat, at::kBFloat16})
    for (const bool cpu_form : {true, false}) {
      CAPTURE(dtype);
      CAPTURE(cpu_form);
      const Case c = make_case(dtype, true);
      at::Tensor dlogp = at::zeros({37, 24}, at::kFloat);
      if (cpu_form)
        forms::fused_linear_forward_cpu(c.hidden, c.weight, c.labels, c.bias, -100, {8, 64}, &dlogp);
      else
        forms::fused_linear_forward_composite(c.hidden, c.weight, c.labels, c.bias, -100, {8, 64}, &dlogp);
      const double tol = dtype == at::kFloat ? 1e-5 : 2e-2;
      CHECK(at::isfinite(dlogp).all().item<bool>());
      CHECK(max_abs(dlogp[3]) == 0.0);
      CHECK(max_abs(dlogp[20]) == 0.0);
      CHECK(max_abs(dlogp.to(at::kDouble) - dlogp64) < tol * (1.0 + max_abs(dlogp64)));
      const at::Tensor grad = cotnpot::logprob::fused_linear_logprob_backward_frozen_weight(c.grad, dlogp, dtype);
      CHECK((grad.scalar_type() == dtype));
      CHECK(max_abs(grad.to(at::kDouble) - grad64) < tol * (1.0 + max_abs(grad64)));
    }
}

TEST_CASE("a block scratch hands out views of one buffer, grown only when a block needs more") {
  forms::BlockScratch scratch;
  const auto f32 = at::TensorOptions().dtype(at::kFloat);
  at::Tensor a = scratch.take(8, 64, f32);
  CHECK(a.sizes() == at::IntArrayRef{8, 64});
  CHECK(a.is_contiguous());
  CHECK((a.scalar_type() == at::kFloat));
  a.fill_(1.0f);
  const void* first = a.data_ptr();
  // A smaller block, a partial last one, and one of a narrower dtype: the same memory, no allocation.
  at::Tensor b = scratch.take(3, 50, f32);
  CHECK(b.data_ptr() == first);
  CHECK(b.sizes() == at::IntArrayRef{3, 50});
  CHECK(b.is_contiguous());
  at::Tensor c = scratch.take(8, 64, at::TensorOptions().dtype(at::kBFloat16));
  CHECK(c.data_ptr() == first);
  CHECK((c.scalar_type() == at::kBFloat16));
  // A larger one grows the buffer.
  at::Tensor d = scratch.take(9, 64, f32);
  CHECK(d.numel() == 9 * 64);
  CHECK(scratch.take(9, 64, f32).data_ptr() == d.data_ptr());
}

TEST_CASE("block logits written into the scratch equal a fresh GEMM, with and without bias, partial blocks") {
  at::manual_seed(3);
  const at::Tensor h = at::randn({5, 6}), w = at::randn({11, 6}), bias = at::randn({11});
  forms::BlockScratch scratch;
  for (const auto& [v0, v1] : {std::pair<int64_t, int64_t>{0, 4}, {4, 8}, {8, 11}, {0, 11}}) {
    CAPTURE(v0);
    const at::Tensor plain = forms::block_logits_in_dtype(h, w, at::Tensor(), v0, v1, scratch).clone();
    CHECK(at::allclose(plain, at::mm(h, w.slice(0, v0, v1).t())));
    const at::Tensor biased = forms::block_logits_in_dtype(h, w, bias, v0, v1, scratch);
    CHECK(at::allclose(biased, at::mm(h, w.slice(0, v0, v1).t()) + bias.slice(0, v0, v1)));
  }
}

TEST_CASE("default blocks: 2048 x 1024 on the CPU, 4096 x 4096 on CUDA; sizes given stay, capped at N and V") {
  using cotnpot::logprob::resolve_blocks;
  const auto cpu = resolve_blocks({}, 100000, 152064, false), gpu = resolve_blocks({}, 100000, 152064, true);
  CHECK(cpu.rows == 2048);
  CHECK(cpu.vocab == 1024);
  CHECK(gpu.rows == 4096);
  CHECK(gpu.vocab == 4096);
  const auto small = resolve_blocks({}, 37, 301, false);  // a vocabulary narrower than a block: all its rows
  CHECK(small.vocab == 301);
  CHECK(small.rows == 37);
  const auto given = resolve_blocks({7, 100000}, 5, 301, true);
  CHECK(given.rows == 5);
  CHECK(given.vocab == 301);
  CHECK(resolve_blocks({}, 0, 10, false).rows == 1);  // no rows: one (empty) block, never 0
}

TEST_CASE("the public functions run with inputs that require grad and grad mode on (found by a reviewer)") {
  // Their GEMMs write into reused buffers (out= forms), which autograd refuses; the functions are the op's
  // kernels, below autograd, and a C++ caller reaches them with its tensors as they are.
  at::manual_seed(5);
  for (const auto dtype : {at::kFloat, at::kBFloat16, at::kDouble}) {
    CAPTURE(dtype);
    const at::Tensor h = at::randn({6, 4}, dtype).requires_grad_(true);
    const at::Tensor w = at::randn({9, 4}, dtype).requires_grad_(true);
    const at::Tensor b = at::randn({9}, dtype).requires_grad_(true);
    const at::Tensor y = at::randint(0, 9, {6}, at::kLong);
    const auto [logp, lse] = cotnpot::logprob::fused_linear_logprob_forward(h, w, y, b);
    const at::Tensor want = at::log_softmax((at::mm(h, w.t()) + b).to(at::kDouble), 1).gather(1, y.unsqueeze(1)).squeeze(1);
    CHECK(max_abs(logp.to(at::kDouble) - want.detach()) < (dtype == at::kBFloat16 ? 5e-2 : 1e-5));
    const auto [gh, gw, gb] = cotnpot::logprob::fused_linear_logprob_backward(at::ones({6}), h, w, y, lse, b);
    CHECK(gh.sizes() == h.sizes());
    CHECK(gw.sizes() == w.sizes());
    CHECK(gb.sizes() == b.sizes());
  }
}

TEST_CASE("the backward names a grad or lse of the wrong kind, and undefined inputs (found by a breaker)") {
  // On the CPU path they are read as host floats: an integer or complex grad was cast (with a warning), one on
  // another device would have been read as host memory; an undefined hidden was "2-D ..., got 1-D".
  const at::Tensor h = at::randn({3, 2}), w = at::randn({4, 2});
  const at::Tensor y = at::zeros({3}, at::kLong), lse = at::zeros({3});
  const auto backward = [&](const at::Tensor& grad, const at::Tensor& l) {
    cotnpot::logprob::fused_linear_logprob_backward(grad, h, w, y, l, at::Tensor());
  };
  CHECK(error_of([&] { backward(at::zeros({3}, at::kLong), lse); }) ==
        "fused_linear_logprob_backward: grad must be floating-point, got Long");
  CHECK(error_of([&] { backward(at::zeros({3}), at::zeros({3}, at::kComplexFloat)); }) ==
        "fused_linear_logprob_backward: lse must be floating-point, got ComplexFloat");
  CHECK(error_of([&] { backward(at::zeros({3}, at::TensorOptions().device(at::kMeta)), lse); }) ==
        "fused_linear_logprob_backward: grad must be on hidden's device cpu, got meta");
  CHECK(error_of([&] { backward(at::Tensor(), lse); }) ==
        "fused_linear_logprob_backward: grad must be a tensor, got an undefined one");
  CHECK(error_of([&] { cotnpot::logprob::fused_linear_logprob_forward(at::Tensor(), w, y); }) ==
        "fused_linear_logprob: hidden must be a tensor, got an undefined one");
  // a C++ user: the frozen-head backward had said "got UNKNOWN_SCALAR of shape [0]", the log-prob ops "logits
  // and labels must be defined tensors" without which
  CHECK(error_of([&] { cotnpot::logprob::fused_linear_logprob_backward_frozen_weight(at::Tensor(), h, at::kFloat); }) ==
        "fused_linear_logprob_backward_frozen_weight: grad must be a tensor, got an undefined one");
  CHECK(error_of([&] { cotnpot::logprob::token_logprob(at::randn({1, 2, 3}), at::Tensor()); }) ==
        "token_logprob: labels must be a tensor, got an undefined one");
}
