#pragma once
// The forms of the fused hidden x lm_head log-prob (see ../fused_linear_logprob.h): the CPU form checked
// against the composite in tests/cpp/test_fused_linear.cpp, the CUDA form against the naive reference in
// tests/cuda (on a GPU).
//
// The composite form (fused_linear_logprob.cpp): ATen ops only, any device and dtype.
//
// The CPU form (fused_linear_cpu.cpp), for float32 and bfloat16: the same blocks and the same GEMMs, but each block's logits stay in the inputs' dtype and are
// read once by the row kernels (row_kernels.h) -- one pass for the block's log-sum-exp and the label's
// logit in the forward, one pass writing the block's gradient in place in the backward -- instead of the
// ATen composite's five to six passes (max, exp, sum, where, mul, scatter, dtype conversions). For bf16 the
// gradient GEMMs then take bf16 operands (as the naive path's do) and add into float32 accumulators.
//
// The CUDA form (../cuda/fused_linear_cuda.cpp, in builds with the CUDA kernels): the same blocks and
// cuBLAS GEMMs, one epilogue kernel per block in place of the composite's passes; it installs itself in
// cuda_fused_form() when the library loads (null in builds without CUDA kernels: the composite serves).
#include <ATen/core/Tensor.h>

#include <array>
#include <tuple>

#include "cotnpot/logprob/fused_linear_logprob.h"

namespace cotnpot::logprob::detail {

// Whether the CPU form handles these inputs (a CPU tensor of float32 or bfloat16).
bool fused_linear_cpu_handles(const at::Tensor& hidden);

// Both as fused_linear_logprob_forward/backward, inputs already checked, labels int64, blocks resolved.
// The forwards also fill `dlogp_dhidden` (a zeroed [N,H] tensor of the accumulation dtype) where it is
// given, as fused_linear_logprob_forward_frozen_weight describes.
std::tuple<at::Tensor, at::Tensor> fused_linear_forward_composite(const at::Tensor& hidden, const at::Tensor& weight,
                                                                  const at::Tensor& labels, const at::Tensor& bias,
                                                                  int64_t ignore_index, FusedBlocks blocks,
                                                                  at::Tensor* dlogp_dhidden = nullptr);

std::tuple<at::Tensor, at::Tensor, at::Tensor> fused_linear_backward_composite(
    const at::Tensor& grad, const at::Tensor& hidden, const at::Tensor& weight, const at::Tensor& labels,
    const at::Tensor& lse, const at::Tensor& bias, int64_t ignore_index, FusedBlocks blocks,
    std::array<bool, 3> output_mask);

std::tuple<at::Tensor, at::Tensor> fused_linear_forward_cpu(const at::Tensor& hidden, const at::Tensor& weight,
                                                            const at::Tensor& labels, const at::Tensor& bias,
                                                            int64_t ignore_index, FusedBlocks blocks,
                                                            at::Tensor* dlogp_dhidden = nullptr);

std::tuple<at::Tensor, at::Tensor, at::Tensor> fused_linear_backward_cpu(
    const at::Tensor& grad, const at::Tensor& hidden, const at::Tensor& weight, const at::Tensor& labels,
    const at::Tensor& lse, const at::Tensor& bias, int64_t ignore_index, FusedBlocks blocks,
    std::array<bool, 3> output_mask);

// float64 for float64 inputs, float32 for the others: what log-probs and gradients accumulate in (the rows'
// log-sum-exps are kept in float64 in every form: row_kernels.h).
at::ScalarType accumulation_type(const at::Tensor& t);

// One reusable buffer for a form's per-block temporaries. Each block's logits (and, for bf16, each gradient
// product) is written into it by the GEMM's out= form instead of a fresh tensor per block: a fresh 16 MiB
// tensor per block left the forward's peak at 56 MiB beyond its inputs (freed blocks the allocator could not
// hand back to the next one, plus first-touch page faults on each), the reused one at the block's size.
class BlockScratch {
 public:
  // A contiguous [rows, cols] tensor of `options` over the buffer, grown (never shrunk) when too small. Its
  // contents are what the previous use left; the view stays valid until the next take().
  at::Tensor take(int64_t rows, int64_t cols, const at::TensorOptions& options);

 private:
  at::Tensor buffer_;
};

// One block of logits in the inputs' dtype, contiguous [rows, v1 - v0]: h @ weight[v0:v1].T, the bias added by
// the GEMM (the CPU and CUDA forms' block, read by their own epilogues), written into `scratch`.
at::Tensor block_logits_in_dtype(const at::Tensor& h, const at::Tensor& weight, const at::Tensor& bias, int64_t v0,
                                 int64_t v1, BlockScratch& scratch);

// A zeroed gradient accumulator of `shape`, or an empty one where that gradient is not wanted.
at::Tensor gradient_buffer(bool wanted, at::IntArrayRef shape, const at::TensorOptions& options);

// The gradient of an input indexed by vocabulary row (the weight, the bias), accumulated one vocabulary
// block at a time: the backward loops over vocabulary blocks outside, so a block's gradient is complete
// once its row blocks are done. Where the input's dtype is the accumulation dtype, each block accumulates
// in place in the output; else (bf16, fp16) in a float32 buffer of one block, converted into the output
// when the block is done -- not a float32 [V, H] accumulator converted at the end, which for a bf16 weight
// held twice the gradient's own memory (V = 32000, H = 1024: 125 MiB beyond the gradient's 62.5).
class VocabBlockGradient {
 public:
  VocabBlockGradient(bool wanted, const at::Tensor& input, at::ScalarType acc);
  // The zeroed accumulator of vocabulary rows [v0, v1), in `acc`; undefined where not wanted.
  at::Tensor open(int64_t v0, int64_t v1);
  // Writes the open block into the output (the previous block is closed by the next open() too).
  void close();
  // The gradient, in the input's dtype and shape; empty where not wanted.
  at::Tensor result();

 private:
  bool wanted_, direct_;
  at::ScalarType acc_;
  at::Tensor output_, open_block_;
  int64_t v0_ = 0, v1_ = 0;
  BlockScratch scratch_;
};

// into += a @ b: in place by the GEMM where the dtypes agree (no product temporary, no second pass over
// it), else the product in the operands' dtype added into the float32 accumulator;
// `scratch` holds the product in the latter case.
void add_product(at::Tensor into, const at::Tensor& a, const at::Tensor& b, BlockScratch& scratch);

// A device's form: both functions as fused_linear_forward_cpu/fused_linear_backward_cpu.
struct FusedForm {
  std::tuple<at::Tensor, at::Tensor> (*forward)(const at::Tensor& hidden, const at::Tensor& weight,
                                                const at::Tensor& labels, const at::Tensor& bias,
                                                int64_t ignore_index, FusedBlocks blocks);
  std::tuple<at::Tensor, at::Tensor, at::Tensor> (*backward)(const at::Tensor& grad, const at::Tensor& hidden,
                                                             const at::Tensor& weight, const at::Tensor& labels,
                                                             const at::Tensor& lse, const at::Tensor& bias,
                                                             int64_t ignore_index, FusedBlocks blocks,
                                                             std::array<bool, 3> output_mask);
};

// The CUDA form, or nullptr where the build has no CUDA kernels.
const FusedForm*& cuda_fused_form();

}  // namespace cotnpot::logprob::detail
