// Fused hidden x lm_head log-probs by blocks; see fused_linear_logprob.h. The composite form here is ATen
// ops only, so it serves every device; float32 and bfloat16 on the CPU take detail/fused_linear_cpu.cpp,
// whose row kernels read each block once, and CUDA tensors the CUDA form (cuda/fused_linear_cuda.cpp) where
// the build has it. The GEMMs are the installed torch's in every form.
#include "cotnpot/logprob/fused_linear_logprob.h"

#include <ATen/ATen.h>
#include <c10/core/impl/LocalDispatchKeySet.h>
#include <torch/library.h>

#include <algorithm>
#include <limits>
#include <utility>
#include <vector>

#include "cotnpot/detail/check_values.h"
#include "cotnpot/logprob/detail/fused_linear_forms.h"

namespace cotnpot::logprob {
namespace {

void check_inputs(const char* op, const at::Tensor& hidden, const at::Tensor& weight, const at::Tensor& labels,
                  const at::Tensor& bias, int64_t ignore_index) {
  for (const auto& [name, t] : {std::pair<const char*, const at::Tensor&>{"hidden", hidden}, {"weight", weight},
                                {"labels", labels}})
    cotnpot::detail::check_defined(op, name, t);
  TORCH_CHECK(hidden.dim() == 2, op, ": hidden must be 2-D [N,H], got ", hidden.dim(), "-D with shape ",
              hidden.sizes());
  TORCH_CHECK(weight.dim() == 2, op, ": weight must be 2-D [V,H], got ", weight.dim(), "-D with shape ",
              weight.sizes());
  const at::ScalarType dtype = hidden.scalar_type();
  TORCH_CHECK(dtype == at::kFloat || dtype == at::kDouble || dtype == at::kHalf || dtype == at::kBFloat16, op,
              ": hidden must be float32, float64, float16 or bfloat16, got ", dtype);
  TORCH_CHECK(weight.scalar_type() == dtype, op, ": weight must have hidden's dtype ", dtype, ", got ",
              weight.scalar_type());
  TORCH_CHECK(weight.size(1) == hidden.size(1), op, ": weight must be [V, H] with H = ", hidden.size(1),
              " (hidden's last dimension), got ", weight.sizes());
  TORCH_CHECK(weight.size(0) > 0, op, ": weight must have at least one row (the vocabulary), got ", weight.sizes());
  TORCH_CHECK(labels.dim() == 1 && labels.size(0) == hidden.size(0), op, ": labels must be [N] with N = ",
              hidden.size(0), ", got shape ", labels.sizes());
  TORCH_CHECK(at::isIntegralType(labels.scalar_type(), /*includeBool=*/false), op,
              ": labels must be integer token ids, got ", labels.scalar_type());
  for (const auto& [name, t] : {std::pair<const char*, const at::Tensor&>{"weight", weight}, {"labels", labels}})
    TORCH_CHECK(t.device() == hidden.device(), op, ": ", name, " must be on hidden's device ", hidden.device(),
                ", got ", t.device());
  if (bias.defined()) {
    TORCH_CHECK(bias.dim() == 1 && bias.size(0) == weight.size(0), op, ": bias must be [V] with V = ",
                weight.size(0), ", got shape ", bias.sizes());
    TORCH_CHECK(bias.scalar_type() == dtype, op, ": bias must have hidden's dtype ", dtype, ", got ",
                bias.scalar_type());
    TORCH_CHECK(bias.device() == hidden.device(), op, ": bias must be on hidden's device ", hidden.device(),
                ", got ", bias.device());
  }
  const int64_t vocab = weight.size(0);
  const at::Tensor y = labels.to(at::kLong);
  cotnpot::detail::check_all((y == ignore_index).logical_or((y >= 0).logical_and(y < vocab)),
                             c10::str(op, ": labels must be in [0, V) or equal ignore_index"), [&] {
                               const at::Tensor bad = (y != ignore_index).logical_and((y < 0).logical_or(y >= vocab));
                               const int64_t n = bad.nonzero()[0][0].item<int64_t>();
                               return c10::str(op, ": labels must be in [0, V) = [0, ", vocab, ") or equal ignore_index ",
                                               ignore_index, ", got ", y[n].item<int64_t>(), " at position ", n);
                             });
}

// One block of logits in the accumulation dtype: h[rows,H] x W[v0:v1]^T (+ b[v0:v1]).
at::Tensor block_logits(const at::Tensor& h, const at::Tensor& weight, const at::Tensor& bias, int64_t v0, int64_t v1,
                        at::ScalarType acc) {
  at::Tensor logits = at::matmul(h, weight.slice(0, v0, v1).t());
  if (bias.defined()) logits = logits + bias.slice(0, v0, v1);
  return logits.to(acc);
}

// Where the op's kernels run: below autograd (their GEMMs write into reused buffers, out= forms, which autograd
// refuses where an input requires grad, as it may for a C++ caller's tensors) and below autocast, so that every
// form computes in its inputs' dtype with the accumulation documented for it: under autocast the composite
// form's matmul had run in bf16 (an fp16 input's log-probs 10x as far off; found by a reviewer).
struct KernelScope {
  at::AutoDispatchBelowADInplaceOrView below_autograd;
  c10::impl::ExcludeDispatchKeyGuard no_autocast{c10::autocast_dispatch_keyset};
};

}  // namespace

FusedBlocks resolve_blocks(FusedBlocks b, int64_t n, int64_t vocab, bool cuda) {
  if (b.vocab <= 0) b.vocab = std::min<int64_t>(vocab, cuda ? kDefaultCudaVocabBlock : kDefaultVocabBlock);
  const int64_t elements = cuda ? kDefaultCudaBlockElements : kDefaultBlockElements;
  if (b.rows <= 0) b.rows = std::max<int64_t>(1, elements / std::max<int64_t>(b.vocab, 1));
  b.rows = std::min(b.rows, std::max<int64_t>(n, 1));
  b.vocab = std::min(b.vocab, vocab);
  return b;
}

std::tuple<at::Tensor, at::Tensor> fused_linear_logprob_forward(const at::Tensor& hidden, const at::Tensor& weight,
                                                                const at::Tensor& labels, const at::Tensor& bias,
                                                                int64_t ignore_index, FusedBlocks blocks) {
  check_inputs("fused_linear_logprob", hidden, weight, labels, bias, ignore_index);
  const KernelScope scope;
  const FusedBlocks b = resolve_blocks(blocks, hidden.size(0), weight.size(0), hidden.is_cuda());
  const at::Tensor y = labels.to(at::kLong);
  if (detail::fused_linear_cpu_handles(hidden))
    return detail::fused_linear_forward_cpu(hidden, weight, y, bias, ignore_index, b);
  if (const detail::FusedForm* cuda = detail::cuda_fused_form(); cuda && hidden.is_cuda())
    return cuda->forward(hidden, weight, y, bias, ignore_index, b);
  return detail::fused_linear_forward_composite(hidden, weight, y, bias, ignore_index, b);
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> fused_linear_logprob_backward(
    const at::Tensor& grad, const at::Tensor& hidden, const at::Tensor& weight, const at::Tensor& labels,
    const at::Tensor& lse, const at::Tensor& bias, int64_t ignore_index, FusedBlocks blocks,
    std::array<bool, 3> output_mask) {
  check_inputs("fused_linear_logprob_backward", hidden, weight, labels, bias, ignore_index);
  const int64_t n = hidden.size(0);
  // grad and lse are read where hidden is (on the CPU path, as host memory): on another device, or of an integer
  // or complex type, they were read as floats or cast with a warning.
  for (const auto& [name, t] : {std::pair<const char*, const at::Tensor&>{"grad", grad}, {"lse", lse}}) {
    cotnpot::detail::check_defined("fused_linear_logprob_backward", name, t);
    TORCH_CHECK(t.dim() == 1 && t.size(0) == n, "fused_linear_logprob_backward: ", name, " must be [N] with N = ", n,
                ", got shape ", t.sizes());
    TORCH_CHECK(at::isFloatingType(t.scalar_type()), "fused_linear_logprob_backward: ", name,
                " must be floating-point, got ", t.scalar_type());
    TORCH_CHECK(t.device() == hidden.device(), "fused_linear_logprob_backward: ", name, " must be on hidden's device ",
                hidden.device(), ", got ", t.device());
  }
  const KernelScope scope;
  const FusedBlocks b = resolve_blocks(blocks, n, weight.size(0), hidden.is_cuda());
  const at::Tensor y = labels.to(at::kLong);
  if (detail::fused_linear_cpu_handles(hidden))
    return detail::fused_linear_backward_cpu(grad, hidden, weight, y, lse, bias, ignore_index, b, output_mask);
  if (const detail::FusedForm* cuda = detail::cuda_fused_form(); cuda && hidden.is_cuda())
    return cuda->backward(grad, hidden, weight, y, lse, bias, ignore_index, b, output_mask);
  return detail::fused_linear_backward_composite(grad, hidden, weight, y, lse, bias, ignore_index, b, output_mask);
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> fused_linear_logprob_forward_frozen_weight(
    const at::Tensor& hidden, const at::Tensor& weight, const at::Tensor& labels, const at::Tensor& bias,
    int64_t ignore_index, FusedBlocks blocks) {
  check_inputs("fused_linear_logprob", hidden, weight, labels, bias, ignore_index);
  const KernelScope scope;
  const FusedBlocks b = resolve_blocks(blocks, hidden.size(0), weight.size(0), hidden.is_cuda());
  const at::Tensor y = labels.to(at::kLong);
  at::Tensor dlogp_dhidden =
      at::zeros({hidden.size(0), hidden.size(1)}, hidden.options().dtype(detail::accumulation_type(hidden)));
  // The CPU form's row kernels where they serve; elsewhere (CUDA included) the composite: its GEMMs are the
  // device's, only the epilogue is ATen ops.
  auto [logp, lse] =
      detail::fused_linear_cpu_handles(hidden)
          ? detail::fused_linear_forward_cpu(hidden, weight, y, bias, ignore_index, b, &dlogp_dhidden)
          : detail::fused_linear_forward_composite(hidden, weight, y, bias, ignore_index, b, &dlogp_dhidden);
  return {logp, lse, dlogp_dhidden};
}

at::Tensor fused_linear_logprob_backward_frozen_weight(const at::Tensor& grad, const at::Tensor& dlogp_dhidden,
                                                       at::ScalarType dtype) {
  constexpr const char* op = "fused_linear_logprob_backward_frozen_weight";
  cotnpot::detail::check_defined(op, "grad", grad);  // an undefined one had read "got UNKNOWN_SCALAR" (a C++ user)
  cotnpot::detail::check_defined(op, "dlogp_dhidden", dlogp_dhidden);
  TORCH_CHECK(dlogp_dhidden.dim() == 2 && at::isFloatingType(dlogp_dhidden.scalar_type()), op,
              ": dlogp_dhidden must be a floating [N, H] tensor, got ", dlogp_dhidden.scalar_type(), " of shape ",
              dlogp_dhidden.sizes());
  const int64_t n = dlogp_dhidden.size(0);
  TORCH_CHECK(grad.dim() == 1 && grad.size(0) == n && at::isFloatingType(grad.scalar_type()), op,
              ": grad must be a floating [N] tensor with N = ", n, ", got ", grad.scalar_type(), " of shape ",
              grad.sizes());
  TORCH_CHECK(grad.device() == dlogp_dhidden.device(), op, ": grad must be on dlogp_dhidden's device ",
              dlogp_dhidden.device(), ", got ", grad.device());
  TORCH_CHECK(at::isFloatingType(dtype), op, ": dtype must be floating, got ", dtype);
  const KernelScope scope;
  return (dlogp_dhidden * grad.to(dlogp_dhidden.scalar_type()).unsqueeze(1)).to(dtype);
}

bool has_cuda_fused_form() { return detail::cuda_fused_form() != nullptr; }

namespace detail {

at::ScalarType accumulation_type(const at::Tensor& t) {
  return t.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
}

at::Tensor BlockScratch::take(int64_t rows, int64_t cols, const at::TensorOptions& options) {
  const int64_t bytes = rows * cols * static_cast<int64_t>(c10::elementSize(c10::typeMetaToScalarType(options.dtype())));
  if (!buffer_.defined() || buffer_.numel() < bytes || buffer_.device() != options.device())
    buffer_ = at::empty({bytes}, options.dtype(at::kByte));
  return buffer_.narrow(0, 0, bytes).view(c10::typeMetaToScalarType(options.dtype())).view({rows, cols});
}

at::Tensor block_logits_in_dtype(const at::Tensor& h, const at::Tensor& weight, const at::Tensor& bias, int64_t v0,
                                 int64_t v1, BlockScratch& scratch) {
  const at::Tensor w = weight.slice(0, v0, v1).t();
  at::Tensor out = scratch.take(h.size(0), v1 - v0, h.options());
  if (bias.defined())
    at::addmm_out(out, bias.slice(0, v0, v1), h, w);
  else
    at::mm_out(out, h, w);
  return out;
}

at::Tensor gradient_buffer(bool wanted, at::IntArrayRef shape, const at::TensorOptions& options) {
  return wanted ? at::zeros(shape, options) : at::zeros({0}, options);
}

VocabBlockGradient::VocabBlockGradient(bool wanted, const at::Tensor& input, at::ScalarType acc)
    : wanted_(wanted), direct_(input.scalar_type() == acc), acc_(acc) {
  if (!wanted_)
    output_ = at::zeros({0}, input.options());
  else
    output_ = direct_ ? at::zeros(input.sizes(), input.options()) : at::empty(input.sizes(), input.options());
}

at::Tensor VocabBlockGradient::open(int64_t v0, int64_t v1) {
  if (!wanted_) return at::Tensor();
  close();
  v0_ = v0;
  v1_ = v1;
  if (direct_) return open_block_ = output_.slice(0, v0, v1);  // zeroed when made
  std::vector<int64_t> shape = output_.sizes().vec();
  shape[0] = v1 - v0;
  const int64_t inner = output_.numel() / std::max<int64_t>(output_.size(0), 1);
  open_block_ = scratch_.take(v1 - v0, inner, output_.options().dtype(acc_)).view(shape).zero_();
  return open_block_;
}

void VocabBlockGradient::close() {
  if (!open_block_.defined()) return;
  if (!direct_) output_.slice(0, v0_, v1_).copy_(open_block_);
  open_block_ = at::Tensor();
}

at::Tensor VocabBlockGradient::result() {
  close();
  return output_;
}

void add_product(at::Tensor into, const at::Tensor& a, const at::Tensor& b, BlockScratch& scratch) {
  if (a.scalar_type() == into.scalar_type() && b.scalar_type() == into.scalar_type()) {
    into.addmm_(a, b);
    return;
  }
  at::Tensor product = scratch.take(a.size(0), b.size(1), a.options());
  at::mm_out(product, a, b);
  into.add_(product);
}

const FusedForm*& cuda_fused_form() {
  static const FusedForm* form = nullptr;
  return form;
}

std::tuple<at::Tensor, at::Tensor> fused_linear_forward_composite(const at::Tensor& hidden, const at::Tensor& weight,
                                                                  const at::Tensor& y, const at::Tensor& bias,
                                                                  int64_t ignore_index, FusedBlocks b,
                                                                  at::Tensor* dlogp_dhidden) {
  const int64_t n = hidden.size(0), vocab = weight.size(0);
  const auto acc = accumulation_type(hidden);
  // lse in double, as the row kernels give it (row_kernels.h)
  at::Tensor logp = at::zeros({n}, hidden.options().dtype(acc)), lse = at::zeros({n}, hidden.options().dtype(at::kDouble));
  for (int64_t r0 = 0; r0 < n; r0 += b.rows) {
    const int64_t r1 = std::min(n, r0 + b.rows);
    const at::Tensor h = hidden.slice(0, r0, r1), yr = y.slice(0, r0, r1);
    at::Tensor running_max = at::full({r1 - r0}, -std::numeric_limits<double>::infinity(), hidden.options().dtype(acc));
    // in double: a block's small share added to a float sum near 1 was rounded away (fp16 at V = 152k and
    // one-column blocks: 1.6e-3 off; found by a breaker)
    at::Tensor running_sum = at::zeros({r1 - r0}, hidden.options().dtype(at::kDouble));
    at::Tensor picked = at::zeros({r1 - r0}, hidden.options().dtype(acc));
    for (int64_t v0 = 0; v0 < vocab; v0 += b.vocab) {
      const int64_t v1 = std::min(vocab, v0 + b.vocab);
      const at::Tensor logits = block_logits(h, weight, bias, v0, v1, acc);
      const at::Tensor new_max = at::maximum(running_max, std::get<0>(logits.max(1)));
      // exp(-inf - finite) = 0 for the first block; a row of -inf logits stays -inf (its lse too).
      const at::Tensor safe_max = at::where(at::isinf(new_max), at::zeros_like(new_max), new_max);
      const at::Tensor rescale = at::exp(running_max - safe_max), weights = at::exp(logits - safe_max.unsqueeze(1));
      running_sum = running_sum * rescale.to(at::kDouble) + weights.sum(1, /*keepdim=*/false, at::kDouble);
      running_max = new_max;
      const at::Tensor here = (yr >= v0).logical_and(yr < v1);
      const at::Tensor local = (yr - v0).clamp(0, v1 - v0 - 1).unsqueeze(1);
      picked = picked + at::where(here, logits.gather(1, local).squeeze(1), at::zeros_like(picked));
      if (dlogp_dhidden) {  // sum_v exp(logit - running max) W[v] so far (v not the label), rescaled as
                            // running_sum is
        const at::Tensor label_column =
            at::zeros_like(weights, weights.options().dtype(at::kBool)).scatter_(1, local, here.unsqueeze(1));
        at::Tensor sums = dlogp_dhidden->slice(0, r0, r1);
        sums.mul_(rescale.unsqueeze(1)).addmm_(weights.masked_fill(label_column, 0), weight.slice(0, v0, v1).to(acc));
      }
    }
    const at::Tensor safe_max = at::where(at::isinf(running_max), at::zeros_like(running_max), running_max);
    // A row holding +inf: NaN, as log_softmax and the kernels give (safe_max + log(inf) would be +inf).
    const at::Tensor plus_inf = running_max == std::numeric_limits<double>::infinity();
    const at::Tensor log_sum = at::log(running_sum);
    const at::Tensor row_lse = at::where(plus_inf, std::numeric_limits<double>::quiet_NaN(),
                                         safe_max.to(at::kDouble) + log_sum);
    // (x[y] - max) - log(sum), in double: no rounding at the magnitude of the logits or of the lse
    const at::Tensor row_logp = at::where(plus_inf, std::numeric_limits<double>::quiet_NaN(),
                                          (picked - safe_max).to(at::kDouble) - log_sum).to(acc);
    const at::Tensor valid = yr != ignore_index;
    logp.slice(0, r0, r1).copy_(at::where(valid, row_logp, at::zeros_like(picked)));
    lse.slice(0, r0, r1).copy_(at::where(valid, row_lse, at::zeros_like(row_lse)));
    if (dlogp_dhidden) {  // (1 - p) W[y] - the sum / the softmax's denominator; ignored rows 0, all -inf ones NaN
      at::Tensor sums = dlogp_dhidden->slice(0, r0, r1);
      const at::Tensor label_rows = weight.index_select(0, at::where(valid, yr, at::zeros({}, yr.options()))).to(acc);
      const at::Tensor one_minus_p = at::expm1(row_logp).neg_().unsqueeze(1);
      sums.copy_(at::where(valid.unsqueeze(1), label_rows * one_minus_p - sums / running_sum.to(acc).unsqueeze(1),
                           at::zeros({}, sums.options())));
    }
  }
  return {logp, lse};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> fused_linear_backward_composite(
    const at::Tensor& grad, const at::Tensor& hidden, const at::Tensor& weight, const at::Tensor& y,
    const at::Tensor& lse, const at::Tensor& bias, int64_t ignore_index, FusedBlocks b,
    std::array<bool, 3> output_mask) {
  const bool want_hidden = output_mask[0], want_weight = output_mask[1], want_bias = output_mask[2] && bias.defined();
  const int64_t n = hidden.size(0), vocab = weight.size(0);
  const auto acc = accumulation_type(hidden);
  const at::Tensor valid = y != ignore_index;
  // Ignored rows get no gradient: their g is 0 and their softmax is set to 0 before it meets g, whatever
  // their logits hold (an infinite logit would make exp(logits - lse) * 0 a NaN).
  const at::Tensor g = at::where(valid, grad.to(acc), at::zeros({}, grad.options().dtype(acc)));
  // The double lse as hi + lo in the accumulation type: (logits - hi) - lo keeps the digits that
  // logits - float(lse) loses at the logits' magnitude (row_kernels.h).
  const at::Tensor lse64 = lse.to(at::kDouble);
  const at::Tensor lse_hi = lse64.to(acc);
  const at::Tensor lse_lo = at::where(at::isfinite(lse64), lse64 - lse_hi.to(at::kDouble), 0.0).to(acc);
  const auto acc_options = hidden.options().dtype(acc);
  at::Tensor grad_hidden = gradient_buffer(want_hidden, {n, hidden.size(1)}, acc_options);
  VocabBlockGradient grad_weight(want_weight, weight, acc);
  VocabBlockGradient grad_bias(want_bias, want_bias ? bias : weight, acc);
  // The gradient GEMMs' dtype. bf16: bf16 operands (each block's product rounded to bf16 once, as the naive
  // path rounds its whole product) added into float32 accumulators: never a bf16 sum across blocks, which
  // drifts, and on CPUs with bf16 instructions the GEMM runs ~8x faster than in float32 (measured: the
  // backward went from 2.3x the naive one to below it). fp16 keeps float32 GEMMs: a block's product can
  // leave fp16's range where float32's accumulators would not.
  const at::ScalarType gemm = hidden.scalar_type() == at::kBFloat16 ? at::kBFloat16 : acc;
  BlockScratch product_scratch;
  // Vocabulary blocks outside, rows inside: each weight block is converted to the GEMM dtype once (for
  // bf16 in float32 GEMMs, converting it once per row block made the backward 2.4x the naive one), the row
  // blocks -- smaller -- once per vocabulary block.
  for (int64_t v0 = 0; v0 < vocab; v0 += b.vocab) {
    const int64_t v1 = std::min(vocab, v0 + b.vocab);
    const at::Tensor w_gemm = want_hidden ? weight.slice(0, v0, v1).to(gemm) : at::Tensor();
    const at::Tensor gw = grad_weight.open(v0, v1), gb = grad_bias.open(v0, v1);
    for (int64_t r0 = 0; r0 < n; r0 += b.rows) {
      const int64_t r1 = std::min(n, r0 + b.rows);
      const at::Tensor h = hidden.slice(0, r0, r1), yr = y.slice(0, r0, r1), gr = g.slice(0, r0, r1);
      const at::Tensor rows_valid = valid.slice(0, r0, r1).unsqueeze(1);
      const at::Tensor logits = block_logits(h, weight, bias, v0, v1, acc);
      // d(g * logp)/d logits = g * (onehot - softmax)
      const at::Tensor hi = lse_hi.slice(0, r0, r1).unsqueeze(1), lo = lse_lo.slice(0, r0, r1).unsqueeze(1);
      at::Tensor gl = at::where(rows_valid, at::exp((logits - hi).sub_(lo)), at::zeros({}, logits.options()))
                          .mul_(gr.unsqueeze(1))
                          .neg_();
      // The label's value g * (1 - p) as -g * expm1(logit - lse) in double (1 - p loses its digits to p's
      // rounding where p is near 1); rows whose label is in another block, or ignored, keep theirs.
      const at::Tensor here = (yr >= v0).logical_and(yr < v1).logical_and(valid.slice(0, r0, r1));
      const at::Tensor local = (yr - v0).clamp(0, v1 - v0 - 1).unsqueeze(1);
      const at::Tensor label_logp = logits.gather(1, local).squeeze(1).to(at::kDouble) - lse64.slice(0, r0, r1);
      const at::Tensor label_grad = at::expm1(label_logp).mul_(gr.to(at::kDouble)).neg_().to(acc);
      gl.scatter_(1, local, at::where(here, label_grad, gl.gather(1, local).squeeze(1)).unsqueeze(1));
      const at::Tensor gl_gemm = gl.to(gemm);
      if (want_hidden) add_product(grad_hidden.slice(0, r0, r1), gl_gemm, w_gemm, product_scratch);
      if (want_weight) {
        // Ignored rows add nothing to grad_weight, even where their hidden state holds inf or NaN (0 * inf).
        const at::Tensor h_gemm = at::where(rows_valid, h.to(gemm), at::zeros({}, hidden.options().dtype(gemm)));
        add_product(gw, gl_gemm.t(), h_gemm, product_scratch);
      }
      if (want_bias) gb.add_(gl.sum(0));
    }
  }
  return {grad_hidden.to(hidden.scalar_type()), grad_weight.result(), grad_bias.result()};
}

}  // namespace detail

namespace {

at::Tensor optional_tensor(const c10::optional<at::Tensor>& t) { return t.value_or(at::Tensor()); }

std::tuple<at::Tensor, at::Tensor> forward_kernel(const at::Tensor& hidden, const at::Tensor& weight,
                                                  const at::Tensor& labels, const c10::optional<at::Tensor>& bias,
                                                  int64_t ignore_index, int64_t row_block, int64_t vocab_block) {
  return fused_linear_logprob_forward(hidden, weight, labels, optional_tensor(bias), ignore_index,
                                      {row_block, vocab_block});
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> backward_kernel(const at::Tensor& grad, const at::Tensor& hidden,
                                                               const at::Tensor& weight, const at::Tensor& labels,
                                                               const at::Tensor& lse,
                                                               const c10::optional<at::Tensor>& bias,
                                                               int64_t ignore_index, int64_t row_block,
                                                               int64_t vocab_block, std::array<bool, 3> output_mask) {
  return fused_linear_logprob_backward(grad, hidden, weight, labels, lse, optional_tensor(bias), ignore_index,
                                       {row_block, vocab_block}, output_mask);
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> frozen_weight_forward_kernel(const at::Tensor& hidden,
                                                                            const at::Tensor& weight,
                                                                            const at::Tensor& labels,
                                                                            const c10::optional<at::Tensor>& bias,
                                                                            int64_t ignore_index, int64_t row_block,
                                                                            int64_t vocab_block) {
  return fused_linear_logprob_forward_frozen_weight(hidden, weight, labels, optional_tensor(bias), ignore_index,
                                                    {row_block, vocab_block});
}

at::Tensor frozen_weight_backward_kernel(const at::Tensor& grad, const at::Tensor& dlogp_dhidden,
                                         at::ScalarType dtype) {
  return fused_linear_logprob_backward_frozen_weight(grad, dlogp_dhidden, dtype);
}

}  // namespace

TORCH_LIBRARY_IMPL(cotnpot, CompositeExplicitAutograd, m) {
  m.impl("_fused_linear_logprob_forward", &forward_kernel);
  m.impl("_fused_linear_logprob_backward", &backward_kernel);
  m.impl("_fused_linear_logprob_frozen_weight_forward", &frozen_weight_forward_kernel);
  m.impl("_fused_linear_logprob_frozen_weight_backward", &frozen_weight_backward_kernel);
}

}  // namespace cotnpot::logprob
