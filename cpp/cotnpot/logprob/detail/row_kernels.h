#pragma once
// Per-row kernels of the log-prob ops on plain pointers: the math, independent of ATen and Python.
//
// A row is one position's logits x[0..n). The forward needs lse = log(sum_v exp(x[v])); the backward
// writes d(x[label] - lse)/dx scaled by g, i.e. g * ((v == label) - exp(x[v] - lse)), without ever
// storing the softmax. Every kernel reads its row once from memory: it walks the row in blocks small
// enough for L1, and keeps a running maximum that rescales the partial sum when it grows.
//
// lse is a double: max + log(sum) rounded to float carries an error of half the logits' ulp (2.4e-4 for
// logits near 1e4, where log_softmax's own error is ~6e-7), and every log-prob and softmax value computed
// from it inherits that (a confident token's gradient came out with the wrong sign). The backward splits it
// into two floats and takes exp((x - hi) - lo): x - hi is exact where x is near the lse.
//
// Example:
//   const auto& k = cotnpot::logprob::detail::row_kernels();
//   double lse = k.logsumexp_f32(row, vocab);              // log-sum-exp of one row
//   float logp = static_cast<float>(row[label] - lse);     // log-prob of the label
#include <cstdint>
#include <string_view>

namespace cotnpot::logprob::detail {

// bfloat16 and float16 rows are passed as their raw 16-bit patterns.
struct RowKernels {
  const char* isa;  // "avx512", "avx2" or "generic"
  double (*logsumexp_f32)(const float* x, int64_t n);
  double (*logsumexp_bf16)(const uint16_t* x, int64_t n);
  double (*logsumexp_f16)(const uint16_t* x, int64_t n);
  // out[v] = g * ((v == label) - exp(x[v] - lse)); a label outside [0, n) adds nothing. exp is exact for
  // x[v] - lse < 88 (not only <= 0): the frozen-head forward passes an lse up to 8 below the row's own.
  // The label's own value is -g * expm1(x[label] - lse), in double: g * (1 - p) lost all its digits to
  // p's rounding where p is near 1 (a confident token).
  void (*logprob_grad_f32)(const float* x, int64_t n, double lse, float g, int64_t label, float* out);
  void (*logprob_grad_bf16)(const uint16_t* x, int64_t n, double lse, float g, int64_t label, uint16_t* out);
  void (*logprob_grad_f16)(const uint16_t* x, int64_t n, double lse, float g, int64_t label, uint16_t* out);
  // (hi, lo) += p over n values: a sum carried as hi, the nearest bf16 to it, and lo, an int16 count of
  // 2^-15 of hi's ulp -- 23 bits together, a float's precision but its last bit -- so that a bf16 gradient
  // summed over many blocks needs no float32 accumulator of its own size (hi is the gradient itself). p is
  // bf16 too. inf and NaN stay, as in a float32 sum; so does a sum past bf16's largest value (inf, where a
  // float32 sum up to 3.4e38 could still come back below it; no gradient gets there).
  void (*accumulate_bf16_pair)(uint16_t* hi, int16_t* lo, const uint16_t* p, int64_t n);
};

// Rows handed to one thread at a time by the ops that run these kernels over many rows of `width` values:
// about 64 K values, so small vocabularies are not one task each.
inline int64_t row_grain(int64_t width) {
  const int64_t rows = (int64_t{1} << 16) / width;
  return rows > 1 ? rows : 1;
}

// The fastest kernels this CPU runs; COTNPOT_CPU_ISA=generic|avx2|avx512 picks a slower one instead.
const RowKernels& row_kernels();
// The kernels for one instruction set, or nullptr when the CPU (or the build) lacks it.
const RowKernels* row_kernels_for(std::string_view isa);

// One table per instruction set, each compiled in its own translation unit with that set's flags.
const RowKernels& row_kernels_generic();
const RowKernels& row_kernels_avx2();
const RowKernels& row_kernels_avx512();

}  // namespace cotnpot::logprob::detail
