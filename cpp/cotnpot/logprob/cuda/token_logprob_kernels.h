#pragma once
// CUDA kernels of token_logprob on raw pointers (no ATen here: nvcc compiles only this small file, fast).
// One thread block per row of logits: an online log-sum-exp over the row in the forward; in the backward
// g * ((v == label) - exp(x[v] - lse)) written straight out, the softmax never stored. Accumulation in
// float (double for double logits). A label outside [0, vocab) that is not ignore_index stops the kernel
// with a device-side assert, as ATen's gather does (no host sync to check first).
#include <cstdint>

#include <cuda_runtime_api.h>

namespace cotnpot::logprob::cuda {

enum class Dtype { kFloat, kDouble, kBFloat16, kHalf };

struct Rows {
  const void* logits;      // [batch, steps_in, vocab] with the vocabulary dense
  int64_t batch, steps_in, vocab, stride_b, stride_t;
  const int64_t* labels;   // [batch, steps_in], contiguous
  int64_t ignore_index;
  bool shift;              // logits[:, t] predicts labels[:, t + 1]
};

// logp: [batch, steps] of float (double for kDouble), steps = steps_in - shift; lse: [batch, steps] of double.
cudaError_t token_logprob_forward(Dtype dtype, const Rows& rows, void* logp, void* lse, cudaStream_t stream);
// grad: [batch, steps] (float, or double for kDouble); lse: [batch, steps] of double; grad_logits:
// [batch, steps_in, vocab] contiguous, of the logits' dtype.
cudaError_t token_logprob_backward(Dtype dtype, const Rows& rows, const void* grad, const void* lse,
                                   void* grad_logits, cudaStream_t stream);

}  // namespace cotnpot::logprob::cuda
