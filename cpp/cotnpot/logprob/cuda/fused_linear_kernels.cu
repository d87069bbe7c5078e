#include "cotnpot/logprob/cuda/fused_linear_kernels.h"

#include "cotnpot/logprob/cuda/online_lse.cuh"

namespace cotnpot::logprob::cuda {
namespace {

// A row's running (max logit, sum of exp(x - max)) over the vocabulary blocks, in double, merged with one
// more block's (m, s). Carrying the largest logit itself, not each block's log-sum-exp, lets the log-prob be
// (x[y] - max) - log(sum) as in the CPU form: x[y] - lse lost half an ulp of the lse (9e-13 at logits near
// 1e4 in float64; a reviewer). The sum in double, as the CPU form's RunningLse (in float, small blocks'
// shares were rounded away). A NaN logit or +inf (exp(inf - inf)) makes the row NaN.
__device__ inline void add_block(double& max, double& sum, double m, double s) {
  if (isnan(max)) return;  // already NaN
  if (isnan(m) || isnan(s) || m == double(INFINITY)) {
    max = NAN;
    sum = NAN;
  } else if (m > max) {
    sum = sum * exp(max - m) + s;
    max = m;
  } else if (m != double(-INFINITY)) {
    sum += s * exp(m - max);
  }
}

template <class T>
__global__ void block_forward_kernel(LogitBlock block, double* running_max, double* running_sum,
                                     typename Acc<T>::type* picked) {
  using A = typename Acc<T>::type;
  for (int64_t r = blockIdx.x; r < block.rows; r += gridDim.x) {
    const int64_t label = block.labels[r];
    if (label == block.ignore_index) continue;  // the same r for the whole thread block: no divergence
    const T* x = static_cast<const T*>(block.logits) + r * block.width;
    A m = -INFINITY, s = 0;
    for (int64_t v = threadIdx.x; v < block.width; v += blockDim.x) merge(m, s, to_acc(x[v]), A(1));
    block_merge(m, s);
    if (threadIdx.x == 0) {
      add_block(running_max[r], running_sum[r], double(m), double(s));
      const int64_t local = label - block.v0;
      if (local >= 0 && local < block.width) picked[r] = to_acc(x[local]);
    }
    __syncthreads();  // the shared reduction slots are reused by the next row
  }
}

template <class T>
__global__ void block_backward_kernel(LogitBlock block, const typename Acc<T>::type* grad, const double* lse) {
  using A = typename Acc<T>::type;
  for (int64_t r = blockIdx.x; r < block.rows; r += gridDim.x) {
    T* x = static_cast<T*>(block.logits) + r * block.width;
    const int64_t label = block.labels[r];
    if (label == block.ignore_index) {  // no gradient, whatever its logits hold (inf, NaN)
      for (int64_t v = threadIdx.x; v < block.width; v += blockDim.x) x[v] = from_acc<T>(A(0));
      continue;
    }
    const A g = grad[r];
    const double l = lse[r];
    const SplitLse<A> split(l);
    const int64_t local = label - block.v0;
    for (int64_t v = threadIdx.x; v < block.width; v += blockDim.x)  // each value read, then written, by one thread
      x[v] = from_acc<T>(softmax_gradient(to_acc(x[v]), v == local, split, l, g));
  }
}

template <class T>
cudaError_t forward(const LogitBlock& block, double* running_max, double* running_sum, void* picked,
                    cudaStream_t stream) {
  using A = typename Acc<T>::type;
  if (block.rows == 0 || block.width == 0) return cudaSuccess;
  block_forward_kernel<T><<<grid_for(block.rows), kThreads, 0, stream>>>(block, running_max, running_sum,
                                                                        static_cast<A*>(picked));
  return cudaGetLastError();
}

template <class T>
cudaError_t backward(const LogitBlock& block, const void* grad, const void* lse, cudaStream_t stream) {
  using A = typename Acc<T>::type;
  if (block.rows == 0 || block.width == 0) return cudaSuccess;
  block_backward_kernel<T><<<grid_for(block.rows), kThreads, 0, stream>>>(block, static_cast<const A*>(grad),
                                                                         static_cast<const double*>(lse));
  return cudaGetLastError();
}

}  // namespace

cudaError_t fused_block_forward(Dtype dtype, const LogitBlock& block, double* running_max, double* running_sum,
                                void* picked, cudaStream_t stream) {
  return with_element_type(dtype, [&](auto t) {
    return forward<decltype(t)>(block, running_max, running_sum, picked, stream);
  });
}

cudaError_t fused_block_backward(Dtype dtype, const LogitBlock& block, const void* grad, const void* lse,
                                 cudaStream_t stream) {
  return with_element_type(dtype, [&](auto t) { return backward<decltype(t)>(block, grad, lse, stream); });
}

}  // namespace cotnpot::logprob::cuda
