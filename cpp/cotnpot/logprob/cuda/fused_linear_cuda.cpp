// CUDA form of the fused hidden x lm_head log-prob; see ../detail/fused_linear_forms.h. The same blocks as
// the other forms, each block's logits one cuBLAS GEMM in the inputs' dtype, then read once by one
// epilogue kernel (fused_linear_kernels.cu): the block's log-sum-exp merged into the row's and the label's
// logit in the forward, the block's gradient written in place in the backward -- instead of the ATen
// composite's five to six passes and their temporaries. Installed as the CUDA form at load time.
#include <ATen/ATen.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include <algorithm>
#include <limits>

#include "cotnpot/logprob/cuda/fused_linear_kernels.h"
#include "cotnpot/logprob/cuda/kernel_glue.h"
#include "cotnpot/logprob/detail/fused_linear_forms.h"

namespace cotnpot::logprob::detail {
namespace {

cuda::LogitBlock block_of(at::Tensor& logits, int64_t v0, const at::Tensor& labels, int64_t ignore_index) {
  return {logits.data_ptr(), logits.size(0), logits.size(1), v0, labels.data_ptr<int64_t>(), ignore_index};
}

std::tuple<at::Tensor, at::Tensor> forward_cuda(const at::Tensor& hidden, const at::Tensor& weight,
                                                const at::Tensor& labels, const at::Tensor& bias,
                                                int64_t ignore_index, FusedBlocks b) {
  constexpr const char* op = "fused_linear_logprob";
  const c10::cuda::CUDAGuard guard(hidden.device());
  const cuda::Dtype dtype = cuda::kernel_dtype(hidden, op);
  const int64_t n = hidden.size(0), vocab = weight.size(0);
  const at::Tensor y = labels.contiguous();
  const auto acc = hidden.options().dtype(accumulation_type(hidden));
  at::Tensor logp = at::zeros({n}, acc), lse = at::zeros({n}, acc.dtype(at::kDouble));   // lse: row_kernels.h
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  BlockScratch scratch;  // reused by each block: the GEMMs and kernels run in order on one stream
  for (int64_t r0 = 0; r0 < n; r0 += b.rows) {
    const int64_t r1 = std::min(n, r0 + b.rows);
    const at::Tensor h = hidden.slice(0, r0, r1), yr = y.slice(0, r0, r1);
    at::Tensor running_max = at::full({r1 - r0}, -std::numeric_limits<double>::infinity(), acc.dtype(at::kDouble));
    at::Tensor running_sum = at::zeros({r1 - r0}, acc.dtype(at::kDouble));
    at::Tensor picked = at::zeros({r1 - r0}, acc);
    for (int64_t v0 = 0; v0 < vocab; v0 += b.vocab) {
      at::Tensor logits = block_logits_in_dtype(h, weight, bias, v0, std::min(vocab, v0 + b.vocab), scratch);
      cuda::check_launch(cuda::fused_block_forward(dtype, block_of(logits, v0, yr, ignore_index),
                                                   running_max.data_ptr<double>(), running_sum.data_ptr<double>(),
                                                   picked.data_ptr(), stream),
                         op);
    }
    // (x[y] - max) - log(sum) in double, max the row's largest logit (add_block), as the CPU form: no
    // rounding at the logits' magnitude. A row of -inf logits: its lse -inf, its log-prob NaN (-inf - -inf),
    // as log_softmax gives.
    const at::Tensor all_minus_inf = running_max == -std::numeric_limits<double>::infinity();
    const at::Tensor log_sum = at::where(all_minus_inf, 0.0, at::log(running_sum));
    const at::Tensor row_logp = ((picked.to(at::kDouble) - running_max) - log_sum).to(accumulation_type(hidden));
    const at::Tensor row_lse = at::where(all_minus_inf, running_max, running_max + log_sum);
    const at::Tensor valid = yr != ignore_index;  // ignored rows: 0, as in the other forms
    logp.slice(0, r0, r1).copy_(at::where(valid, row_logp, at::zeros({}, acc)));
    lse.slice(0, r0, r1).copy_(at::where(valid, row_lse, 0.0));
  }
  return {logp, lse};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> backward_cuda(const at::Tensor& grad, const at::Tensor& hidden,
                                                             const at::Tensor& weight, const at::Tensor& labels,
                                                             const at::Tensor& lse, const at::Tensor& bias,
                                                             int64_t ignore_index, FusedBlocks b,
                                                             std::array<bool, 3> output_mask) {
  constexpr const char* op = "fused_linear_logprob_backward";
  const c10::cuda::CUDAGuard guard(hidden.device());
  // fp16: each gradient block is written in float32 (the logits converted first), as the composite form
  // does: g * (onehot - softmax) in fp16 would overflow for |g| >= 65504 (a GradScaler's scale on a short
  // sequence) and flush small softmax terms to zero.
  const bool half = hidden.scalar_type() == at::kHalf;
  const cuda::Dtype dtype = half ? cuda::Dtype::kFloat : cuda::kernel_dtype(hidden, op);
  const bool want_hidden = output_mask[0], want_weight = output_mask[1], want_bias = output_mask[2] && bias.defined();
  const int64_t n = hidden.size(0), vocab = weight.size(0);
  const at::Tensor y = labels.contiguous();
  const auto acc = hidden.options().dtype(accumulation_type(hidden));
  const at::Tensor g = grad.to(acc).contiguous(), l = lse.to(at::kDouble).contiguous();
  const at::Tensor valid = (y != ignore_index).unsqueeze(1);
  at::Tensor grad_hidden = gradient_buffer(want_hidden, {n, hidden.size(1)}, acc);
  VocabBlockGradient grad_weight(want_weight, weight, accumulation_type(hidden));
  VocabBlockGradient grad_bias(want_bias, want_bias ? bias : weight, accumulation_type(hidden));
  // The gradient GEMMs' dtype, as in the composite form: bf16 operands for bf16 (each block's product added
  // into float32, never a bf16 sum across blocks), float32 for fp16 (a block's product can leave fp16's range).
  const at::ScalarType gemm = hidden.scalar_type() == at::kHalf ? at::kFloat : hidden.scalar_type();
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  BlockScratch logits_scratch, product_scratch;  // reused by each block, in stream order
  for (int64_t v0 = 0; v0 < vocab; v0 += b.vocab) {  // vocabulary blocks outside: each weight block converted once
    const int64_t v1 = std::min(vocab, v0 + b.vocab);
    const at::Tensor w_gemm = want_hidden ? weight.slice(0, v0, v1).to(gemm) : at::Tensor();
    const at::Tensor gw = grad_weight.open(v0, v1), gb = grad_bias.open(v0, v1);
    for (int64_t r0 = 0; r0 < n; r0 += b.rows) {
      const int64_t r1 = std::min(n, r0 + b.rows);
      const at::Tensor h = hidden.slice(0, r0, r1), yr = y.slice(0, r0, r1);
      at::Tensor gl = block_logits_in_dtype(h, weight, bias, v0, v1, logits_scratch);  // becomes d(sum g * logp)/d logits, in place
      if (half) gl = gl.to(at::kFloat);
      cuda::check_launch(cuda::fused_block_backward(dtype, block_of(gl, v0, yr, ignore_index),
                                                    g.slice(0, r0, r1).data_ptr(), l.slice(0, r0, r1).data_ptr(),
                                                    stream),
                         op);
      const at::Tensor gl_gemm = gl.to(gemm);
      if (want_hidden) add_product(grad_hidden.slice(0, r0, r1), gl_gemm, w_gemm, product_scratch);
      if (want_weight) {
        // Ignored rows add nothing, even where their hidden state holds inf or NaN (0 * inf).
        const at::Tensor h_used = at::where(valid.slice(0, r0, r1), h, at::zeros({}, h.options())).to(gemm);
        add_product(gw, gl_gemm.t(), h_used, product_scratch);
      }
      if (want_bias) gb.add_(gl.sum(0, false, accumulation_type(hidden)));
    }
  }
  return {grad_hidden.to(hidden.scalar_type()), grad_weight.result(), grad_bias.result()};
}

const FusedForm kCudaForm{&forward_cuda, &backward_cuda};
const bool installed = (cuda_fused_form() = &kCudaForm, true);

}  // namespace
}  // namespace cotnpot::logprob::detail
