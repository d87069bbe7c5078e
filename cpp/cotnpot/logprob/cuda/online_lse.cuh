#pragma once
// Device helpers shared by the log-prob kernels (token_logprob_kernels.cu, fused_linear_kernels.cu): dtype
// conversions to the accumulation type (float; double for double), and the online log-sum-exp's
// (max, sum of exp(x - max)) pairs merged across a thread block of kThreads threads.
#include <cstdint>

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>
#include <cuda_fp16.h>

namespace cotnpot::logprob::cuda {
namespace {

constexpr int kThreads = 512;

template <class T> struct Acc { using type = float; };
template <> struct Acc<double> { using type = double; };

__device__ inline float to_acc(float x) { return x; }
__device__ inline double to_acc(double x) { return x; }
__device__ inline float to_acc(__nv_bfloat16 x) { return __bfloat162float(x); }
__device__ inline float to_acc(__half x) { return __half2float(x); }
template <class T> __device__ inline T from_acc(float x);
template <> __device__ inline float from_acc<float>(float x) { return x; }
template <> __device__ inline __nv_bfloat16 from_acc<__nv_bfloat16>(float x) { return __float2bfloat16(x); }
template <> __device__ inline __half from_acc<__half>(float x) { return __float2half(x); }
template <class T> __device__ inline T from_acc(double x) { return x; }

__device__ inline float exp_acc(float x) { return __expf(x); }
__device__ inline double exp_acc(double x) { return exp(x); }
__device__ inline float log_acc(float x) { return __logf(x); }
__device__ inline double log_acc(double x) { return log(x); }

// A row's log-sum-exp from its merged (max, sum), in double as the CPU forms keep it (row_kernels.h: rounded
// to float, it is off by half the logits' ulp, 2.4e-4 near 1e4). NaN where the max is +inf, as log_softmax
// and the CPU forms give (exp(inf - inf)); m + log(s) would give +inf there, and -inf log-probs for such a
// row (found by a reviewer).
template <class A>
__device__ inline double finish_lse(A m, A s) {
  return m == A(INFINITY) ? double(NAN) : double(m) + log(double(s));
}

// The double lse as hi + lo in the accumulation type (lo 0 where lse is not finite): (x - hi) - lo keeps
// the digits that x - A(lse) loses at the logits' magnitude.
template <class A>
struct SplitLse {
  A hi, lo;
  __device__ explicit SplitLse(double lse) : hi(A(lse)), lo(isfinite(lse) ? A(lse - double(A(lse))) : A(0)) {}
};

// g * ((v == label) - exp(x - lse)) for one value x of the row; the label's own is -g * expm1(x - lse) in
// double, since g * (1 - p) loses its digits to p's rounding where p is near 1.
template <class A>
__device__ inline A softmax_gradient(A x, bool is_label, SplitLse<A> split, double lse, A g) {
  return is_label ? A(-double(g) * expm1(double(x) - lse)) : -g * exp_acc((x - split.hi) - split.lo);
}

// (max, sum of exp(x - max)) pairs merged: the online log-sum-exp's reduction step.
template <class A>
__device__ inline void merge(A& m, A& s, A m2, A s2) {
  if (m2 > m) {
    s = s * exp_acc(m - m2) + s2;
    m = m2;
  } else if (m2 == m) {
    // Both -inf: nothing to add, unless s2 carries a NaN (a partial that saw only NaN and -inf).
    s += m2 == -INFINITY ? s2 * A(0) : s2;
  } else {  // m2 < m, m2 = -inf included (s2 * 0, NaN kept), or a NaN m2
    s += s2 * exp_acc(m2 - m);
  }
}

// The block's (max, sum) from each thread's; every thread gets the result.
template <class A>
__device__ void block_merge(A& m, A& s) {
  __shared__ A shared_m[kThreads / 32], shared_s[kThreads / 32];
  for (int offset = 16; offset > 0; offset /= 2) {
    const A m2 = __shfl_down_sync(0xffffffffu, m, offset), s2 = __shfl_down_sync(0xffffffffu, s, offset);
    merge(m, s, m2, s2);
  }
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  if (lane == 0) {
    shared_m[warp] = m;
    shared_s[warp] = s;
  }
  __syncthreads();
  if (warp == 0) {
    m = lane < blockDim.x / 32 ? shared_m[lane] : A(-INFINITY);
    s = lane < blockDim.x / 32 ? shared_s[lane] : A(0);
    for (int offset = 16; offset > 0; offset /= 2) {
      const A m2 = __shfl_down_sync(0xffffffffu, m, offset), s2 = __shfl_down_sync(0xffffffffu, s, offset);
      merge(m, s, m2, s2);
    }
    if (lane == 0) {
      shared_m[0] = m;
      shared_s[0] = s;
    }
  }
  __syncthreads();
  m = shared_m[0];
  s = shared_s[0];
}

// f(T{}) for the element type T that `dtype` names: the one switch over dtypes of the kernels' entry points.
template <class Dtype, class F>
cudaError_t with_element_type(Dtype dtype, F&& f) {
  switch (dtype) {
    case Dtype::kFloat: return f(float{});
    case Dtype::kDouble: return f(double{});
    case Dtype::kBFloat16: return f(__nv_bfloat16{});
    case Dtype::kHalf: return f(__half{});
  }
  return cudaErrorInvalidValue;
}

inline unsigned grid_for(int64_t rows) {
  constexpr int64_t kMaxBlocks = 65535;
  return unsigned(rows < 1 ? 1 : rows < kMaxBlocks ? rows : kMaxBlocks);
}

}  // namespace
}  // namespace cotnpot::logprob::cuda
