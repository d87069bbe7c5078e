#pragma once
// CUDA epilogues of the fused hidden x lm_head log-prob (cuda/fused_linear_cuda.cpp runs the blocks and
// their cuBLAS GEMMs): one thread block per row of a block of logits [rows, width], the vocabulary's
// columns v0 .. v0 + width, contiguous, in the inputs' dtype. Accumulation in float (double for double).
// Labels are checked by the op before any block runs.
#include <cstdint>

#include <cuda_runtime_api.h>

#include "cotnpot/logprob/cuda/token_logprob_kernels.h"  // Dtype

namespace cotnpot::logprob::cuda {

struct LogitBlock {
  void* logits;            // [rows, width], contiguous
  int64_t rows, width, v0;
  const int64_t* labels;   // [rows], contiguous
  int64_t ignore_index;
};

// Per row not ignored: the row's log-sum-exp so far, held as running_max (the largest of its blocks'
// log-sum-exps) and running_sum (sum of exp(block's - running_max)), both double, takes in this block's; and
// picked = the label's logit when the label falls in this block. picked: [rows], float (double for kDouble);
// a row's log-sum-exp is running_max + log(running_sum), NaN where running_max is.
cudaError_t fused_block_forward(Dtype dtype, const LogitBlock& block, double* running_max, double* running_sum,
                                void* picked, cudaStream_t stream);
// In place: logits[r, v] = grad[r] * ((v0 + v == label[r]) - exp(logits[r, v] - lse[r])), zero on ignored
// rows whatever their logits hold. grad: [rows], float (double for kDouble); lse: [rows], double.
cudaError_t fused_block_backward(Dtype dtype, const LogitBlock& block, const void* grad, const void* lse,
                                 cudaStream_t stream);

}  // namespace cotnpot::logprob::cuda
