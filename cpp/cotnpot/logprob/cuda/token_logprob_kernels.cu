// The label check below is a device-side assert that must hold in Release builds too (-DNDEBUG): a bad
// label would otherwise read outside the row.
#undef NDEBUG
#include <cassert>

#include "cotnpot/logprob/cuda/token_logprob_kernels.h"

#include "cotnpot/logprob/cuda/online_lse.cuh"

namespace cotnpot::logprob::cuda {
namespace {

__device__ inline int64_t label_of(const Rows& rows, int64_t b, int64_t t) {
  const int64_t label = rows.labels[b * rows.steps_in + t + (rows.shift ? 1 : 0)];
  assert((label == rows.ignore_index || (label >= 0 && label < rows.vocab)) &&
         "token_logprob: labels must be in [0, V) or equal ignore_index");
  return label;
}

template <class T>
__global__ void forward_kernel(Rows rows, int64_t steps, typename Acc<T>::type* logp, double* lse) {
  using A = typename Acc<T>::type;
  for (int64_t r = blockIdx.x; r < rows.batch * steps; r += gridDim.x) {
    const int64_t b = r / steps, t = r % steps;
    const int64_t label = label_of(rows, b, t);
    if (label == rows.ignore_index) {  // ignored positions cost nothing
      if (threadIdx.x == 0) {
        logp[r] = A(0);
        lse[r] = 0.0;
      }
      continue;
    }
    const T* x = static_cast<const T*>(rows.logits) + b * rows.stride_b + t * rows.stride_t;
    A m = -INFINITY, s = 0;
    for (int64_t v = threadIdx.x; v < rows.vocab; v += blockDim.x) merge(m, s, to_acc(x[v]), A(1));
    block_merge(m, s);
    if (threadIdx.x == 0) {
      const double l = finish_lse(m, s);
      lse[r] = l;
      // (x[label] - max) - log(sum) in double, as the CPU forms: x[label] - lse lost half an ulp of the lse
      // (9e-13 at logits near 1e4 in float64; a reviewer). NaN where the lse is (max +inf, a NaN logit).
      logp[r] = A(isnan(l) ? l : (double(to_acc(x[label])) - double(m)) - log(double(s)));
    }
    __syncthreads();  // the shared reduction slots are reused by the next row
  }
}

template <class T>
__global__ void backward_kernel(Rows rows, int64_t steps, const typename Acc<T>::type* grad, const double* lse,
                                T* out) {
  using A = typename Acc<T>::type;
  for (int64_t r = blockIdx.x; r < rows.batch * rows.steps_in; r += gridDim.x) {
    const int64_t b = r / rows.steps_in, t = r % rows.steps_in;
    T* o = out + r * rows.vocab;
    // Positions that predict nothing (the last one under shift, ignored labels) get zero gradient.
    const int64_t label = t < steps ? label_of(rows, b, t) : rows.ignore_index;
    if (label == rows.ignore_index) {
      for (int64_t v = threadIdx.x; v < rows.vocab; v += blockDim.x) o[v] = from_acc<T>(A(0));
      continue;
    }
    const T* x = static_cast<const T*>(rows.logits) + b * rows.stride_b + t * rows.stride_t;
    const A g = grad[b * steps + t];
    const double l = lse[b * steps + t];
    const SplitLse<A> split(l);
    for (int64_t v = threadIdx.x; v < rows.vocab; v += blockDim.x)
      o[v] = from_acc<T>(softmax_gradient(to_acc(x[v]), v == label, split, l, g));
  }
}

template <class T>
cudaError_t forward(const Rows& rows, void* logp, void* lse, cudaStream_t stream) {
  using A = typename Acc<T>::type;
  const int64_t steps = rows.steps_in - (rows.shift ? 1 : 0);
  if (rows.batch * steps == 0) return cudaSuccess;
  forward_kernel<T><<<grid_for(rows.batch * steps), kThreads, 0, stream>>>(rows, steps, static_cast<A*>(logp),
                                                                          static_cast<double*>(lse));
  return cudaGetLastError();
}

template <class T>
cudaError_t backward(const Rows& rows, const void* grad, const void* lse, void* out, cudaStream_t stream) {
  using A = typename Acc<T>::type;
  const int64_t steps = rows.steps_in - (rows.shift ? 1 : 0);
  if (rows.batch * rows.steps_in == 0) return cudaSuccess;
  backward_kernel<T><<<grid_for(rows.batch * rows.steps_in), kThreads, 0, stream>>>(
      rows, steps, static_cast<const A*>(grad), static_cast<const double*>(lse), static_cast<T*>(out));
  return cudaGetLastError();
}

}  // namespace

cudaError_t token_logprob_forward(Dtype dtype, const Rows& rows, void* logp, void* lse, cudaStream_t stream) {
  return with_element_type(dtype, [&](auto t) { return forward<decltype(t)>(rows, logp, lse, stream); });
}

cudaError_t token_logprob_backward(Dtype dtype, const Rows& rows, const void* grad, const void* lse,
                                   void* grad_logits, cudaStream_t stream) {
  return with_element_type(dtype, [&](auto t) { return backward<decltype(t)>(rows, grad, lse, grad_logits, stream); });
}

}  // namespace cotnpot::logprob::cuda
