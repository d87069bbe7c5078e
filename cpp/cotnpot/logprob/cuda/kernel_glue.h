#pragma once
// Host-side glue shared by the CUDA registrations (token_logprob_cuda.cpp, fused_linear_cuda.cpp): a
// tensor's dtype as the kernels name it, and a kernel launch's error as a c10::Error naming the op.
#include <ATen/core/Tensor.h>
#include <c10/util/Exception.h>
#include <cuda_runtime_api.h>

#include "cotnpot/logprob/cuda/token_logprob_kernels.h"

namespace cotnpot::logprob::cuda {

inline Dtype kernel_dtype(const at::Tensor& x, const char* op) {
  switch (x.scalar_type()) {
    case at::kFloat: return Dtype::kFloat;
    case at::kDouble: return Dtype::kDouble;
    case at::kBFloat16: return Dtype::kBFloat16;
    case at::kHalf: return Dtype::kHalf;
    default: TORCH_CHECK(false, op, " (CUDA): float32, float64, bfloat16 or float16 expected, got ", x.scalar_type());
  }
}

inline void check_launch(cudaError_t error, const char* op) {
  TORCH_CHECK(error == cudaSuccess, op, ": CUDA error ", cudaGetErrorString(error));
}

}  // namespace cotnpot::logprob::cuda
