#pragma once
// The row kernels of row_kernels.h, written once with GCC/Clang vector extensions.
//
// Each row_kernels_<isa>.cpp defines COTNPOT_ROW_ISA (its namespace) and COTNPOT_SIMD_BYTES (its vector
// width), is compiled with that instruction set's -m flags, and includes this file once; the compiler
// then emits AVX-512, AVX2 or SSE2 code from the same source. Nothing here touches ATen.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#if defined(__AVX512F__)
// GCC 12 warns of an uninitialized __Y inside its own avx512fintrin.h (_mm512_roundscale_ps and
// _mm512_scalef_ps start from _mm512_undefined_ps, which every lane overwrites): a false positive.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop
#endif

#include "row_kernels.h"

#if !defined(COTNPOT_ROW_ISA) || !defined(COTNPOT_SIMD_BYTES)
#error "define COTNPOT_ROW_ISA and COTNPOT_SIMD_BYTES before including row_kernels_impl.h"
#endif

namespace cotnpot::logprob::detail::COTNPOT_ROW_ISA {
namespace {

constexpr int kLanes = COTNPOT_SIMD_BYTES / 4;
// Floats per block: 8 KiB stays in L1 between the block's max pass and its exp pass, so the row is
// read from memory once.
constexpr int64_t kBlock = 2048;
constexpr float kNegInf = -std::numeric_limits<float>::infinity();

typedef float vf __attribute__((vector_size(COTNPOT_SIMD_BYTES)));
typedef uint32_t vu __attribute__((vector_size(COTNPOT_SIMD_BYTES)));

template <class F> inline F broadcast(float s) { return F{} + s; }
inline vf load(const float* p) { vf v; std::memcpy(&v, p, sizeof v); return v; }
inline void store(float* p, vf v) { std::memcpy(p, &v, sizeof v); }
template <class F> inline F max_of(F a, F b) { return a > b ? a : b; }

// exp(d) for d = x - m <= 0, as 2^z with z = d * log2(e): z's nearest integer n goes into the exponent
// bits and 2^(z - n) comes from a degree-5 minimax polynomial on [-1/2, 1/2] (relative error 2.4e-7 in
// float). d below -87 (z below -126) flushes to 2^-126 ~ 1.2e-38, which no softmax sum (always >= 1)
// can notice; NaN stays NaN. Works on a vector F (with U its unsigned-int twin) and on a scalar float
// (U = uint32_t) alike.
template <class F, class U>
inline F exp_nonpositive(F d) {
  F z = d * 1.44269504088896341f;
  z = z < broadcast<F>(-126.0f) ? broadcast<F>(-126.0f) : z;
  // Adding 1.5 * 2^23 rounds z to the nearest integer n and leaves n in t's low mantissa bits.
  const F t = z + 12582912.0f;
  const F f = z - (t - 12582912.0f);
  F p = broadcast<F>(1.327647129073739e-3f);
  p = p * f + 9.675541892647743e-3f;
  p = p * f + 5.550713092088699e-2f;
  p = p * f + 2.4022120237350464e-1f;
  p = p * f + 6.931469440460205e-1f;
  p = p * f + 1.0000001192092896f;
  // 2^n from n << 23 plus the exponent bias, times p. (Adding n << 23 to p's bits instead let a NaN's payload
  // bits, which reach t too, rewrite the exponent of p: a NaN logit such as 0x7fc00001 came out finite. A
  // product with p, itself NaN then, stays NaN.)
  const F scale = __builtin_bit_cast(F, (__builtin_bit_cast(U, t) << 23) + 0x3f800000u);
  return p * scale;
}
inline float exp_scalar(float d) { return exp_nonpositive<float, uint32_t>(d); }
#if defined(__AVX512F__) && COTNPOT_SIMD_BYTES == 64
// The same function, bit for bit for d below 88.37 (its contract: row_kernels.h), in AVX-512's own
// instructions: vrndscaleps rounds z to n, vscalefps multiplies by 2^n, vmaxps clamps; 12 instructions a
// vector instead of 17. The bf16 forward, which is not
// bound by memory, ran 1.02-1.10x faster with it (A/B of the two builds, alternating, same session, a
// 2-core Xeon with AMX). vmaxps returns its second operand where either is NaN, so z goes second: a NaN
// stays NaN.
inline vf exp_vector(vf d) {
  const __m512 z = _mm512_max_ps(_mm512_set1_ps(-126.0f), _mm512_mul_ps(d, _mm512_set1_ps(1.44269504088896341f)));
  const __m512 n = _mm512_roundscale_ps(z, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m512 f = _mm512_sub_ps(z, n);
  __m512 p = _mm512_fmadd_ps(_mm512_set1_ps(1.327647129073739e-3f), f, _mm512_set1_ps(9.675541892647743e-3f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(5.550713092088699e-2f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(2.4022120237350464e-1f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(6.931469440460205e-1f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0000001192092896f));
  return _mm512_scalef_ps(p, n);
}
#else
inline vf exp_vector(vf d) { return exp_nonpositive<vf, vu>(d); }
#endif

inline float block_max(const float* p, int64_t len) {
  // Four accumulators hide the latency of the max instruction.
  vf m0 = broadcast<vf>(kNegInf), m1 = m0, m2 = m0, m3 = m0;
  int64_t i = 0;
  for (; i + 4 * kLanes <= len; i += 4 * kLanes) {
    m0 = max_of(m0, load(p + i));
    m1 = max_of(m1, load(p + i + kLanes));
    m2 = max_of(m2, load(p + i + 2 * kLanes));
    m3 = max_of(m3, load(p + i + 3 * kLanes));
  }
  for (; i + kLanes <= len; i += kLanes) m0 = max_of(m0, load(p + i));
  m0 = max_of(max_of(m0, m1), max_of(m2, m3));
  float m = kNegInf;
  for (int l = 0; l < kLanes; ++l) m = max_of(m, m0[l]);
  for (; i < len; ++i) m = max_of(m, p[i]);
  return m;
}

struct SumExp {
  vf acc0{}, acc1{};
  float tail = 0.0f;
  void scale(float s) { acc0 *= s; acc1 *= s; tail *= s; }
  float total() const {
    const vf acc = acc0 + acc1;
    float sum = tail;
    for (int l = 0; l < kLanes; ++l) sum += acc[l];
    return sum;
  }
};

// Where a row comes from: its value i is at address + i * Bytes (the logits themselves, or the 16-bit row a
// block of floats was converted from). The exp passes prefetch it kPrefetchBytes ahead of the value they
// are at, a cache line or two per step: the hardware prefetcher alone left the bf16 forward waiting on
// memory (one thread over a 4096 x 32000 row-major bf16 matrix: 46 ms, 30 ms with the prefetch, 22 ms with
// the rows in cache; fp32: 1.08x). The address is only prefetched, never read: past the row's end it is
// the next row's start where rows are contiguous, and harmless elsewhere (a prefetch does not fault), which
// is why it is an integer and not a pointer beyond the row.
constexpr uintptr_t kPrefetchBytes = 12288;
template <int Bytes>
struct RowSource {
  uintptr_t address;
  static RowSource of(const void* row) { return {reinterpret_cast<uintptr_t>(row)}; }
  RowSource from(int64_t i) const { return {address + static_cast<uintptr_t>(i) * Bytes}; }   // value i on
  // Prefetches what the values [i, i + 2 * kLanes) are kPrefetchBytes ahead of.
  void prefetch_ahead(int64_t i) const {
    const uintptr_t at = address + static_cast<uintptr_t>(i) * Bytes + kPrefetchBytes;
    for (uintptr_t o = 0; o < 2 * kLanes * Bytes; o += 64)
      __builtin_prefetch(reinterpret_cast<const void*>(at + o), 0, 3);
  }
};

// s += exp(p[i] - m) for the len floats of p, which are the source's values [0, len).
template <int Bytes>
inline void block_sum_exp(const float* p, int64_t len, float m, SumExp& s, RowSource<Bytes> source) {
  const vf vm = broadcast<vf>(m);
  int64_t i = 0;
  for (; i + 2 * kLanes <= len; i += 2 * kLanes) {
    source.prefetch_ahead(i);
    s.acc0 += exp_vector(load(p + i) - vm);
    s.acc1 += exp_vector(load(p + i + kLanes) - vm);
  }
  for (; i + kLanes <= len; i += kLanes) s.acc0 += exp_vector(load(p + i) - vm);
  for (; i < len; ++i) s.tail += exp_scalar(p[i] - m);
}

// A block of a row as floats, and their maximum.
struct BlockView {
  const float* values;
  float max;
};

// Online log-sum-exp over blocks; block(b, len) returns the row's floats [b, b + len), read from source, as a
// BlockView.
template <int Bytes, class Block>
inline double logsumexp_blocks(int64_t n, RowSource<Bytes> source, Block&& block) {
  float m = kNegInf;
  SumExp s;
  for (int64_t b = 0; b < n; b += kBlock) {
    const int64_t len = n - b < kBlock ? n - b : kBlock;
    const auto [p, bm] = block(b, len);
    if (bm > m) {  // a larger maximum rescales what was summed so far
      s.scale(std::exp(m - bm));
      m = bm;
    }
    // Every value so far -inf (masked tokens): they add exp(-inf) = 0, summed against 0, not against -inf
    // (exp(-inf - -inf) is NaN, which made a row NaN whose first block was masked); a NaN still adds NaN.
    block_sum_exp(p, len, m == kNegInf ? 0.0f : m, s, source.from(b));
  }
  return static_cast<double>(m) + std::log(static_cast<double>(s.total()));
}

// A double lse as two floats, hi + lo (lo 0 where lse is not finite): x - hi is exact for x within a
// factor of 2 of hi (Sterbenz), so (x - hi) - lo keeps the digits that x - float(lse) lost.
struct SplitLse {
  float hi, lo;
  explicit SplitLse(double lse)
      : hi(static_cast<float>(lse)), lo(std::isfinite(lse) ? static_cast<float>(lse - double(hi)) : 0.0f) {}
};

// out[i] = neg_g * exp(x[i] - lse), x being the source's values [0, len)
template <int Bytes>
inline void scaled_softmax_block(const float* x, int64_t len, SplitLse lse, float neg_g, float* out,
                                 RowSource<Bytes> source) {
  const vf vhi = broadcast<vf>(lse.hi), vlo = broadcast<vf>(lse.lo), vg = broadcast<vf>(neg_g);
  int64_t i = 0;
  for (; i + 2 * kLanes <= len; i += 2 * kLanes) {
    source.prefetch_ahead(i);
    store(out + i, vg * exp_vector((load(x + i) - vhi) - vlo));
    store(out + i + kLanes, vg * exp_vector((load(x + i + kLanes) - vhi) - vlo));
  }
  for (; i + kLanes <= len; i += kLanes) store(out + i, vg * exp_vector((load(x + i) - vhi) - vlo));
  for (; i < len; ++i) out[i] = neg_g * exp_scalar((x[i] - lse.hi) - lse.lo);
}

// The label's value of the gradient, g * (1 - p): -g * expm1(x[label] - lse) in double (see row_kernels.h).
inline float label_gradient(float x, double lse, float g) {
  return static_cast<float>(-static_cast<double>(g) * std::expm1(static_cast<double>(x) - lse));
}

inline float bf16_value(uint16_t b) { return __builtin_bit_cast(float, uint32_t(b) << 16); }
// Round to nearest even, as c10::BFloat16 does; NaN stays a quiet NaN.
inline uint16_t bf16_nearest(float f) {
  const uint32_t u = __builtin_bit_cast(uint32_t, f);
  return f != f ? uint16_t(0x7fc0) : uint16_t((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}
inline void bf16_to_float(const uint16_t* src, int64_t len, float* dst) {
  for (int64_t i = 0; i < len; ++i) dst[i] = bf16_value(src[i]);
}
// 16-bit lanes, as many as vf has floats: a block of bf16 values that converts to one vf.
typedef uint16_t vh __attribute__((vector_size(COTNPOT_SIMD_BYTES / 2)));
// bf16_to_float, with the values' maximum taken in the same pass (the forward's: one pass over the block
// fewer; 2.0x the bf16 forward in an A/B of the two kernels, 2 threads over 4096 x 32000 logits, the same
// results bit for bit).
inline float bf16_to_float_max(const uint16_t* src, int64_t len, float* dst) {
  vf m0 = broadcast<vf>(kNegInf), m1 = m0;
  int64_t i = 0;
  for (; i + 2 * kLanes <= len; i += 2 * kLanes) {
    vh h0, h1;
    std::memcpy(&h0, src + i, sizeof h0);
    std::memcpy(&h1, src + i + kLanes, sizeof h1);
    const vf v0 = __builtin_bit_cast(vf, __builtin_convertvector(h0, vu) << 16);
    const vf v1 = __builtin_bit_cast(vf, __builtin_convertvector(h1, vu) << 16);
    store(dst + i, v0);
    store(dst + i + kLanes, v1);
    m0 = max_of(m0, v0);
    m1 = max_of(m1, v1);
  }
  m0 = max_of(m0, m1);
  float m = kNegInf;
  for (int l = 0; l < kLanes; ++l) m = max_of(m, m0[l]);
  for (; i < len; ++i) {
    dst[i] = bf16_value(src[i]);
    m = max_of(m, dst[i]);
  }
  return m;
}
inline void float_to_bf16(const float* src, int64_t len, uint16_t* dst) {
  for (int64_t i = 0; i < len; ++i) dst[i] = bf16_nearest(src[i]);
}
inline void f16_to_float(const uint16_t* src, int64_t len, float* dst) {
  for (int64_t i = 0; i < len; ++i) dst[i] = static_cast<float>(__builtin_bit_cast(_Float16, src[i]));
}
inline void float_to_f16(const float* src, int64_t len, uint16_t* dst) {
  for (int64_t i = 0; i < len; ++i) dst[i] = __builtin_bit_cast(uint16_t, static_cast<_Float16>(src[i]));
}

double logsumexp_f32(const float* x, int64_t n) {
  return logsumexp_blocks(n, RowSource<4>::of(x), [x](int64_t b, int64_t len) {
    return BlockView{x + b, block_max(x + b, len)};
  });
}

template <void (*ToFloat)(const uint16_t*, int64_t, float*)>
double logsumexp_16bit(const uint16_t* x, int64_t n) {
  alignas(64) float buf[kBlock];
  return logsumexp_blocks(n, RowSource<2>::of(x), [&](int64_t b, int64_t len) {
    ToFloat(x + b, len, buf);
    return BlockView{buf, block_max(buf, len)};
  });
}

double logsumexp_bf16(const uint16_t* x, int64_t n) {
  alignas(64) float buf[kBlock];
  return logsumexp_blocks(n, RowSource<2>::of(x), [&](int64_t b, int64_t len) {
    return BlockView{buf, bf16_to_float_max(x + b, len, buf)};
  });
}

void logprob_grad_f32(const float* x, int64_t n, double lse, float g, int64_t label, float* out) {
  const float label_x = label >= 0 && label < n ? x[label] : 0.0f;   // read first: out may be x
  scaled_softmax_block(x, n, SplitLse(lse), -g, out, RowSource<4>::of(x));
  if (label >= 0 && label < n) out[label] = label_gradient(label_x, lse, g);
}

// 16-bit rows are converted to float one block at a time, so the label's value is written before rounding.
template <void (*ToFloat)(const uint16_t*, int64_t, float*), void (*FromFloat)(const float*, int64_t, uint16_t*)>
void logprob_grad_16bit(const uint16_t* x, int64_t n, double lse, float g, int64_t label, uint16_t* out) {
  alignas(64) float in[kBlock];
  alignas(64) float grad[kBlock];
  const SplitLse split(lse);
  for (int64_t b = 0; b < n; b += kBlock) {
    const int64_t len = n - b < kBlock ? n - b : kBlock;
    ToFloat(x + b, len, in);
    scaled_softmax_block(in, len, split, -g, grad, RowSource<2>::of(x + b));
    if (label >= b && label < b + len) grad[label - b] = label_gradient(in[label - b], lse, g);
    FromFloat(grad, len, out + b);
  }
}

// The pair's value: hi plus lo steps of 2^-15 of hi's ulp (twice a float's ulp at hi's exponent), exact in
// float (8 + 15 bits). Not 2^-16: a sum of bf16 values often lies exactly halfway between two bf16 values,
// 2^15 such steps from the one it rounds to, past int16 (clamped, those ties then rounded the other way at
// the end: 1% of the sums of 5 blocks). Below 2^-104, and where hi is not finite, lo counts for nothing.
inline float pair_step(uint16_t hi) {
  const uint32_t e = (hi >> 7) & 0xffu;   // hi's biased exponent
  return e >= 23u && e < 255u ? __builtin_bit_cast(float, (e - 22u) << 23) : 0.0f;   // 2^(e - 149)
}
inline float pair_steps_per_unit(uint16_t hi) {   // 1 / pair_step(hi), 0 where that is 0
  const uint32_t e = (hi >> 7) & 0xffu;
  return e >= 23u && e < 255u ? __builtin_bit_cast(float, (276u - e) << 23) : 0.0f;   // 2^(149 - e)
}

void accumulate_bf16_pair(uint16_t* hi, int16_t* lo, const uint16_t* p, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float s = (bf16_value(hi[i]) + float(lo[i]) * pair_step(hi[i])) + bf16_value(p[i]);
    const uint16_t h = bf16_nearest(s);
    // |s - h| <= half of h's ulp, 2^14 steps; exact in float, and so is its product with a power of two.
    // Where h is inf or NaN there is no rest (and a NaN must not reach the int16 conversion: UB).
    const float steps = pair_steps_per_unit(h);
    const float r = steps > 0.0f ? (s - bf16_value(h)) * steps : 0.0f;
    const float rounded = (r + 12582912.0f) - 12582912.0f;   // to nearest even, as exp's n
    hi[i] = h;
    lo[i] = int16_t(rounded);
  }
}

}  // namespace

const RowKernels kRowKernels = {
    COTNPOT_ROW_ISA_NAME,
    &logsumexp_f32,
    &logsumexp_bf16,
    &logsumexp_16bit<f16_to_float>,
    &logprob_grad_f32,
    &logprob_grad_16bit<bf16_to_float, float_to_bf16>,
    &logprob_grad_16bit<f16_to_float, float_to_f16>,
    &accumulate_bf16_pair,
};

}  // namespace cotnpot::logprob::detail::COTNPOT_ROW_ISA
