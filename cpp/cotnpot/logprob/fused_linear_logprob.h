#pragma once
// Per-token log-probs straight from the last hidden state and the lm_head weight, without the [N,V]
// logits: blocks of rows x blocks of the vocabulary, an online log-sum-exp over the vocabulary blocks.
//
//   logp[n] = (h[n] . W[y[n]] + b[y[n]]) - log sum_v exp(h[n] . W[v] + b[v])     (0 where y[n] == ignore)
//
// The extra memory is one [row_block, vocab_block] block (float32), not N x V. The backward recomputes
// each block's logits from the saved log-sum-exp instead of keeping anything of size N x V: on the CPU
// the recomputation is one more GEMM per block, while storing the gradient during the forward (Liger's
// choice) would hold an [N,V] or [N,H]+[V,H] buffer across the forward and backward -- the memory this op
// exists to avoid. (With a frozen weight only the [N,H] part is needed, and the forward computes it: see
// fused_linear_logprob_forward_frozen_weight below.) Accumulation is float32 for float32/bfloat16/float16
// inputs (float64 for float64): grad_weight summed over row blocks in bfloat16 drifts away from the fp32
// result. For half inputs only one vocabulary block of grad_weight is held in float32 at a time: the
// backward finishes each vocabulary block's rows before the next. Any device: ATen ops, with the blocks'
// epilogues in cotnpot's own kernels on the CPU (float32, bfloat16) and on CUDA.
//
// These are the op's kernels, below autograd (torch.ops.cotnpot._fused_linear_logprob_forward/_backward;
// Python's cotnpot.fused_linear_logprob differentiates through them). Example:
//   auto [logp, lse] = cotnpot::logprob::fused_linear_logprob_forward(hidden /*[N,H]*/, lm_head_weight /*[V,H]*/,
//                                                                     labels /*[N]*/);    // [N], float32
#include <ATen/core/Tensor.h>

#include <array>
#include <cstdint>
#include <tuple>

namespace cotnpot::logprob {

// Block sizes: 0 picks them: kDefaultVocabBlock columns (fewer for a smaller vocabulary), then as many rows
// as make kDefaultBlockElements values (about 8 MiB of float32: 2048 x 1024). Measured on the CPU at N = 4096,
// H = 1024, V = 32000 (bench_fused_linear.py's shape), blocks reused, best of 4 calls, the shapes alternating
// in one process: 8 MiB blocks of 512 x 4096 were the slowest in fp32 (forward 1.06-1.23x those of
// 2048 x 1024 over 3 runs, fwd+bwd 1.02-1.04x over 2; bf16 within 3%), and their row blocks re-read the
// whole weight once each. 2048 x 1024 was among the fastest (1024 x 2048 and 4096 x 512 within 3-8%) and kept
// 10 MiB of extra forward memory (512 x 4096: 14).
//
// On CUDA the default blocks are 4096 x 4096 (64 MiB of float32), by reasoning, not measurement (no GPU has
// been available): each block costs 3-4 kernel launches of a few microseconds, and a GPU runs a small GEMM
// in about that long, so CPU-sized blocks would leave it waiting on launches (at N = 32k, V = 152k: ~2,400
// blocks of 512 x 4096, ~10,000 launches); 4096 x 4096 blocks make each GEMM ~0.1-1 ms.
inline constexpr int64_t kDefaultVocabBlock = 1024;
inline constexpr int64_t kDefaultBlockElements = int64_t{1} << 21;  // 2M float32 = 8 MiB
inline constexpr int64_t kDefaultCudaVocabBlock = 4096;
inline constexpr int64_t kDefaultCudaBlockElements = int64_t{1} << 24;  // 16M float32 = 64 MiB

struct FusedBlocks {
  int64_t rows = 0, vocab = 0;
};

// The blocks a call uses: sizes given stay (capped at N and V); 0 picks the default for the device.
FusedBlocks resolve_blocks(FusedBlocks blocks, int64_t n, int64_t vocab, bool cuda);

// Whether this build holds the CUDA form (cuBLAS blocks read by cotnpot's epilogue kernels), installed when
// the library loads; without it, CUDA tensors run the ATen composite. Checkable on a machine without a GPU.
bool has_cuda_fused_form();

// hidden [N,H] floating, weight [V,H] same dtype, labels [N] integer in [0,V) or ignore_index, bias [V] or
// undefined. Returns (logp [N] in the accumulation dtype, lse [N] in float64); lse is what the backward needs
// (float64 whatever the inputs: rounded to float it lost the digits of logits far from zero; row_kernels.h).
std::tuple<at::Tensor, at::Tensor> fused_linear_logprob_forward(const at::Tensor& hidden, const at::Tensor& weight,
                                                                const at::Tensor& labels, const at::Tensor& bias = {},
                                                                int64_t ignore_index = -100, FusedBlocks blocks = {});

// Gradients of sum(grad * logp) with respect to hidden, weight and bias (size 0 when there is no bias),
// in the inputs' dtypes; output_mask says which are wanted (a frozen lm_head: no [V,H] work or buffer), the
// others come back as zeros of size 0.
std::tuple<at::Tensor, at::Tensor, at::Tensor> fused_linear_logprob_backward(
    const at::Tensor& grad, const at::Tensor& hidden, const at::Tensor& weight, const at::Tensor& labels,
    const at::Tensor& lse, const at::Tensor& bias = {}, int64_t ignore_index = -100, FusedBlocks blocks = {},
    std::array<bool, 3> output_mask = {true, true, true});

// The form for a frozen lm_head (LoRA, a frozen head): where only hidden needs a gradient, the forward also
// returns dlogp_dhidden [N,H] (accumulation dtype), each row's log-prob's gradient in its own hidden state
// (logp[n] depends on h[n] alone):
//
//   dlogp_dhidden[n] = (1 - p[n]) W[y[n]] - sum_{v != y[n]} softmax(h[n] W^T + b)[v] W[v]    (0 where ignored)
//
// with p[n] = exp(logp[n]). The sum is accumulated block by block in the same pass as the log-sum-exp (one
// more GEMM per block), so the backward is grad[n] * dlogp_dhidden[n], no GEMM: forward + backward take 2
// GEMMs per block instead of 3 (the forward's, the backward's recomputation of the logits, and
// grad_hidden's). The label's term is kept out of the sum and 1 - p computed as -expm1(logp), so that for a
// confident token (p near 1) the gradient is not the small difference of two sums near W[y]: in bf16 each
// block's probabilities and products are rounded, and that difference lost the gradient's precision (a
// reviewer measured 10-20x the plain form's error at 1 - p < 1e-2). It costs an [N,H] float32 (float64)
// buffer held from the forward to the backward. Returns (logp, lse, dlogp_dhidden); a row whose logits are
// all -inf has a NaN log-prob and gradient, as log_softmax gives.
std::tuple<at::Tensor, at::Tensor, at::Tensor> fused_linear_logprob_forward_frozen_weight(
    const at::Tensor& hidden, const at::Tensor& weight, const at::Tensor& labels, const at::Tensor& bias = {},
    int64_t ignore_index = -100, FusedBlocks blocks = {});

// The gradient of sum(grad * logp) with respect to hidden: grad[n] * dlogp_dhidden[n], in `dtype` (hidden's).
at::Tensor fused_linear_logprob_backward_frozen_weight(const at::Tensor& grad, const at::Tensor& dlogp_dhidden,
                                                       at::ScalarType dtype);

}  // namespace cotnpot::logprob
