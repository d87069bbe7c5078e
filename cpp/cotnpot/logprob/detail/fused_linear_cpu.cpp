// CPU form of the fused hidden x lm_head log-prob; see fused_linear_forms.h.
#include "cotnpot/logprob/detail/fused_linear_forms.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <vector>

#include "cotnpot/logprob/detail/row_kernels.h"

namespace cotnpot::logprob::detail {
namespace {

constexpr double kMinusInf = -std::numeric_limits<double>::infinity();

// torch's CPU bf16 GEMM is fast where the CPU has bf16 dot products (x86's AVX512_BF16, which every CPU with
// AMX has too); on an AVX2 machine it is a scalar fallback: on a 2-core AVX2 EPYC a bf16 matmul took 65x the
// float32 one's time, and this form's bf16 forward+backward 22x its float32-GEMM one. There a bf16 input's
// GEMMs take float32 copies of their blocks (one row block of hidden, one vocabulary block of the weight at a
// time: the memory stays blocks) and its gradients accumulate in float32; the products are then exact, not
// rounded to bf16. Conservative: CPUs whose bf16 GEMMs are fast by other means (arm's BF16 extension) take
// float32 GEMMs too. The CPU's own flag (cpuid, with the OS's support of its registers), not torch's query,
// which changed between the releases cotnpot supports; cotnpot._cpu reads the same flag.
// COTNPOT_FUSED_BF16_GEMMS=1 or =0 chooses either way, read at each call (the tests run both forms on any CPU).
bool bf16_gemm_is_fast() {
  if (const char* choice = std::getenv("COTNPOT_FUSED_BF16_GEMMS"); choice && (choice[0] == '0' || choice[0] == '1'))
    return choice[0] == '1';
#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
  static const bool fast = __builtin_cpu_supports("avx512bf16");
  return fast;
#else
  return false;
#endif
}

// The dtype the GEMMs of an input of t's dtype run in.
at::ScalarType gemm_dtype(const at::Tensor& t) {
  return t.scalar_type() == at::kBFloat16 && !bf16_gemm_is_fast() ? at::kFloat : t.scalar_type();
}

// Rows [v0, v1) of a vocabulary-indexed input (weight, bias) in the GEMM dtype; undefined stays undefined.
at::Tensor vocab_block(const at::Tensor& t, int64_t v0, int64_t v1, at::ScalarType gemm) {
  return t.defined() ? t.slice(0, v0, v1).to(gemm) : t;
}

// A row's log-sum-exp over the vocabulary blocks seen so far, as (max of the blocks' log-sum-exps, sum of
// exp(block's - max)) with the sum in double. Merged in float log space instead (log(exp(a) + exp(b))), a
// block whose share of the softmax was below half a float step of the running value vanished: at V = 152k
// a confident token's log-prob came out 0.0 instead of -1.2e-4 and its gradient had the wrong sign (found
// by a breaker). The log-prob is then (x[y] - max) - log(sum): no rounding at the logits' magnitude either.
// The blocks' log-sum-exps, max and the lse are doubles, as the row kernels give them (row_kernels.h).
struct RunningLse {
  double max = kMinusInf;
  double sum = 0.0;
  bool nan = false;  // a NaN logit, or +inf (exp(inf - inf), as log_softmax gives)

  void add(double block_lse) {
    if (std::isnan(block_lse) || block_lse == std::numeric_limits<double>::infinity()) {
      nan = true;
    } else if (block_lse > max) {  // also the first finite block: sum is 0 then
      sum = sum * std::exp(max - block_lse) + 1.0;
      max = block_lse;
    } else if (block_lse != kMinusInf) {
      sum += std::exp(block_lse - max);
    }
  }
  bool all_minus_inf() const { return !nan && max == kMinusInf; }
  double lse() const {
    if (nan) return std::numeric_limits<double>::quiet_NaN();
    return max == kMinusInf ? kMinusInf : max + std::log(sum);
  }
  // log p of a label whose logit is `picked` (NaN where the row is all -inf, as log_softmax gives)
  double logp(float picked) const {
    if (nan) return std::numeric_limits<double>::quiet_NaN();
    return (static_cast<double>(picked) - max) - (max == kMinusInf ? 0.0 : std::log(sum));
  }
};

// A block's row as the row kernels take it (bf16 as raw bits), and one of its values as float.
struct BlockRows {
  void* base;
  int64_t width;
  bool bf16;
  uint16_t* bits(int64_t i) const { return static_cast<uint16_t*>(base) + i * width; }
  float* floats(int64_t i) const { return static_cast<float*>(base) + i * width; }
  float value(int64_t i, int64_t v) const {
    return bf16 ? static_cast<float>(reinterpret_cast<const at::BFloat16*>(bits(i))[v]) : floats(i)[v];
  }
};

BlockRows rows_of(at::Tensor& logits) {
  return {logits.data_ptr(), logits.size(1), logits.scalar_type() == at::kBFloat16};
}

}  // namespace

bool fused_linear_cpu_handles(const at::Tensor& hidden) {
  return hidden.device().is_cpu() && (hidden.scalar_type() == at::kFloat || hidden.scalar_type() == at::kBFloat16);
}

std::tuple<at::Tensor, at::Tensor> fused_linear_forward_cpu(const at::Tensor& hidden, const at::Tensor& weight,
                                                            const at::Tensor& labels, const at::Tensor& bias,
                                                            int64_t ignore_index, FusedBlocks b,
                                                            at::Tensor* dlogp_dhidden) {
  const int64_t n = hidden.size(0), vocab = weight.size(0);
  const at::Tensor y = labels.contiguous();
  const int64_t* yp = y.data_ptr<int64_t>();
  const auto out_options = hidden.options().dtype(at::kFloat);
  at::Tensor logp = at::zeros({n}, out_options), lse = at::zeros({n}, out_options.dtype(at::kDouble));
  float* logp_out = logp.data_ptr<float>();
  double* lse_out = lse.data_ptr<double>();
  const RowKernels& k = row_kernels();
  std::vector<RunningLse> running(b.rows);  // per row of the block: its log-sum-exp so far
  std::vector<float> picked(b.rows);        // and the label's logit
  // With dlogp_dhidden: each row of it holds the sum of exp(logit - reference) W[v] so far (v not its label)
  // until the row block ends, and `reference` that reference. It follows the running lse only when that has
  // grown by kRebase (so exp(logit - reference) <= e^8, no overflow), which after the first blocks is rare:
  // the rows of the sum are rescaled only then, not after every block.
  constexpr double kRebase = 8.0;
  std::vector<double> reference(b.rows);
  TORCH_INTERNAL_ASSERT(!dlogp_dhidden || (dlogp_dhidden->scalar_type() == at::kFloat &&
                                           dlogp_dhidden->is_contiguous() && dlogp_dhidden->size(0) == n));
  BlockScratch scratch, product_scratch;
  const at::ScalarType gemm = gemm_dtype(hidden);
  for (int64_t r0 = 0; r0 < n; r0 += b.rows) {
    const int64_t r1 = std::min(n, r0 + b.rows);
    std::fill(running.begin(), running.end(), RunningLse{});
    std::fill(picked.begin(), picked.end(), 0.0f);
    std::fill(reference.begin(), reference.end(), kMinusInf);
    const at::Tensor h = hidden.slice(0, r0, r1).to(gemm);
    for (int64_t v0 = 0; v0 < vocab; v0 += b.vocab) {
      const int64_t v1 = std::min(vocab, v0 + b.vocab);
      const at::Tensor w = vocab_block(weight, v0, v1, gemm);
      at::Tensor logits = block_logits_in_dtype(h, w, vocab_block(bias, v0, v1, gemm), 0, v1 - v0, scratch);
      const BlockRows rows = rows_of(logits);
      at::parallel_for(0, r1 - r0, row_grain(rows.width), [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) {
          const int64_t label = yp[r0 + i];
          if (label == ignore_index) continue;  // no pass over an ignored row's logits
          const double block_lse =
              rows.bf16 ? k.logsumexp_bf16(rows.bits(i), rows.width) : k.logsumexp_f32(rows.floats(i), rows.width);
          running[i].add(block_lse);
          if (label >= v0 && label < v1) picked[i] = rows.value(i, label - v0);
        }
      });
      if (dlogp_dhidden) {
        at::Tensor sums = dlogp_dhidden->slice(0, r0, r1);
        float* const sums_base = sums.data_ptr<float>();
        const int64_t width_h = sums.size(1);
        // Each row of the block becomes exp(logit - reference): the weights of this block's rows of W.
        at::parallel_for(0, r1 - r0, row_grain(rows.width), [&](int64_t begin, int64_t end) {
          for (int64_t i = begin; i < end; ++i) {
            // An ignored row, or one whose logits so far are all -inf, adds nothing (exp(-inf - -inf) is NaN).
            const double lse_so_far = running[i].lse();
            if (yp[r0 + i] == ignore_index || lse_so_far == kMinusInf) {
              std::memset(rows.bf16 ? static_cast<void*>(rows.bits(i)) : static_cast<void*>(rows.floats(i)), 0,
                          rows.width * (rows.bf16 ? sizeof(uint16_t) : sizeof(float)));
              continue;
            }
            if (!(lse_so_far - reference[i] <= kRebase)) {  // also the first finite block, and NaN or +inf
              const float rescale = reference[i] == kMinusInf ? 0.0f : float(std::exp(reference[i] - lse_so_far));
              reference[i] = lse_so_far;
              float* row_sum = sums_base + i * width_h;
              for (int64_t j = 0; j < width_h; ++j) row_sum[j] *= rescale;
            }
            // g = -1 and no label in range: out = exp(x - reference), x - reference <= kRebase (exp's range:
            // below 88). The label's own term stays out of the sum (see fused_linear_logprob.h).
            const int64_t label = yp[r0 + i];
            if (rows.bf16) {
              k.logprob_grad_bf16(rows.bits(i), rows.width, reference[i], -1.0f, -1, rows.bits(i));
              if (label >= v0 && label < v1) rows.bits(i)[label - v0] = 0;
            } else {
              k.logprob_grad_f32(rows.floats(i), rows.width, reference[i], -1.0f, -1, rows.floats(i));
              if (label >= v0 && label < v1) rows.floats(i)[label - v0] = 0.0f;
            }
          }
        });
        add_product(sums, logits, w, product_scratch);
      }
    }
    for (int64_t i = 0; i < r1 - r0; ++i) {
      if (yp[r0 + i] == ignore_index) continue;  // stays 0, as its lse
      logp_out[r0 + i] = static_cast<float>(running[i].logp(picked[i]));
      lse_out[r0 + i] = running[i].lse();
    }
    if (dlogp_dhidden) {
      // (1 - p) W[y] - sum_{v != y} exp(logit - reference) W[v] / exp(lse - reference), row by row: W[y] read
      // in place (any strides), no [N, H] gather.
      at::Tensor sums = dlogp_dhidden->slice(0, r0, r1);
      float* const sums_base = sums.data_ptr<float>();
      const int64_t width_h = sums.size(1), w_row = weight.stride(0), w_col = weight.stride(1);
      const bool bf16 = weight.scalar_type() == at::kBFloat16;
      const float* const w_f32 = bf16 ? nullptr : weight.data_ptr<float>();
      const at::BFloat16* const w_bf16 = bf16 ? weight.data_ptr<at::BFloat16>() : nullptr;
      at::parallel_for(0, r1 - r0, row_grain(std::max<int64_t>(width_h, 1)), [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) {
          const int64_t label = yp[r0 + i];
          if (label == ignore_index) continue;  // stays 0
          float* d = sums_base + i * width_h;
          if (running[i].all_minus_inf()) {  // all logits -inf: logp is NaN, and so is its gradient
            std::fill(d, d + width_h, std::numeric_limits<float>::quiet_NaN());
            continue;
          }
          const float scale = static_cast<float>(std::exp(reference[i] - running[i].lse()));
          const float one_minus_p = static_cast<float>(-std::expm1(running[i].logp(picked[i])));
          const int64_t label_row = label * w_row;
          for (int64_t j = 0; j < width_h; ++j) {
            const float w =
                w_f32 ? w_f32[label_row + j * w_col] : static_cast<float>(w_bf16[label_row + j * w_col]);
            d[j] = one_minus_p * w - d[j] * scale;
          }
        }
      });
    }
  }
  return {logp, lse};
}

namespace {

// into (bf16 rows) and its int16 rest += a @ b: the product a bf16 GEMM into `scratch`, added at a float's
// precision by the row kernels' pair (row_kernels.h, accumulate_bf16_pair). into and rest are contiguous
// [a.size(0), b.size(1)].
void add_product_paired(const at::Tensor& into, const at::Tensor& rest, const at::Tensor& a, const at::Tensor& b,
                        BlockScratch& scratch, const RowKernels& k) {
  at::Tensor product = scratch.take(a.size(0), b.size(1), a.options());
  at::mm_out(product, a, b);
  const int64_t width = product.size(1);
  uint16_t* const hi = reinterpret_cast<uint16_t*>(into.data_ptr<at::BFloat16>());
  int16_t* const lo = rest.data_ptr<int16_t>();
  const uint16_t* const p = reinterpret_cast<const uint16_t*>(product.data_ptr<at::BFloat16>());
  at::parallel_for(0, product.size(0), row_grain(std::max<int64_t>(width, 1)), [&](int64_t begin, int64_t end) {
    k.accumulate_bf16_pair(hi + begin * width, lo + begin * width, p + begin * width, (end - begin) * width);
  });
}

}  // namespace

std::tuple<at::Tensor, at::Tensor, at::Tensor> fused_linear_backward_cpu(
    const at::Tensor& grad, const at::Tensor& hidden, const at::Tensor& weight, const at::Tensor& labels,
    const at::Tensor& lse, const at::Tensor& bias, int64_t ignore_index, FusedBlocks b,
    std::array<bool, 3> output_mask) {
  const bool want_hidden = output_mask[0], want_weight = output_mask[1], want_bias = output_mask[2] && bias.defined();
  const int64_t n = hidden.size(0), vocab = weight.size(0);
  const at::Tensor y = labels.contiguous();
  const int64_t* yp = y.data_ptr<int64_t>();
  const at::Tensor g = grad.to(at::kFloat).contiguous(), l = lse.to(at::kDouble).contiguous();
  const float* gp = g.data_ptr<float>();
  const double* lp = l.data_ptr<double>();
  const at::Tensor valid = (y != ignore_index).unsqueeze(1);
  const auto acc = hidden.options().dtype(at::kFloat);
  // bf16 gradients are summed over blocks as pairs (add_product_paired): the gradient itself, bf16, and an
  // int16 rest that carries a float's precision. A float32 accumulator holds twice the gradient's memory
  // beyond it, the rest once: the hidden's over the vocabulary blocks (N = 4096, H = 1024: 8 MiB instead of
  // 16), the weight's over the row blocks, one vocabulary block at a time (2 MiB instead of 4).
  const at::ScalarType gemm = gemm_dtype(hidden);
  const bool hidden_paired = want_hidden && gemm == at::kBFloat16;
  at::Tensor grad_hidden = gradient_buffer(want_hidden, {n, hidden.size(1)}, hidden_paired ? hidden.options() : acc);
  at::Tensor grad_hidden_rest = gradient_buffer(hidden_paired, {n, hidden.size(1)}, hidden.options().dtype(at::kShort));
  const bool weight_paired = want_weight && gemm == at::kBFloat16;
  VocabBlockGradient grad_weight(want_weight && !weight_paired, weight, at::kFloat);
  at::Tensor grad_weight_paired = gradient_buffer(weight_paired, weight.sizes(), weight.options());
  at::Tensor weight_rest =
      gradient_buffer(weight_paired, {std::min(b.vocab, vocab), weight.size(1)}, weight.options().dtype(at::kShort));
  VocabBlockGradient grad_bias(want_bias, want_bias ? bias : weight, at::kFloat);
  const RowKernels& k = row_kernels();
  BlockScratch logits_scratch, product_scratch;
  // Vocabulary blocks outside, rows inside, as in the composite form.
  for (int64_t v0 = 0; v0 < vocab; v0 += b.vocab) {
    const int64_t v1 = std::min(vocab, v0 + b.vocab);
    const at::Tensor w = vocab_block(weight, v0, v1, gemm), b_block = vocab_block(bias, v0, v1, gemm);
    const at::Tensor gw = grad_weight.open(v0, v1), gb = grad_bias.open(v0, v1);
    const at::Tensor gw_rest = weight_paired ? weight_rest.slice(0, 0, v1 - v0).zero_() : at::Tensor();
    for (int64_t r0 = 0; r0 < n; r0 += b.rows) {
      const int64_t r1 = std::min(n, r0 + b.rows);
      const at::Tensor h = hidden.slice(0, r0, r1).to(gemm);
      at::Tensor gl = block_logits_in_dtype(h, w, b_block, 0, v1 - v0, logits_scratch);  // becomes d(sum g * logp)/d logits, in place
      const BlockRows rows = rows_of(gl);
      at::parallel_for(0, r1 - r0, row_grain(rows.width), [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) {
          const int64_t r = r0 + i, label = yp[r];
          if (label == ignore_index) {  // no gradient, whatever its logits hold (inf, NaN)
            std::memset(rows.bf16 ? static_cast<void*>(rows.bits(i)) : static_cast<void*>(rows.floats(i)), 0,
                        rows.width * (rows.bf16 ? sizeof(uint16_t) : sizeof(float)));
            continue;
          }
          if (rows.bf16)
            k.logprob_grad_bf16(rows.bits(i), rows.width, lp[r], gp[r], label - v0, rows.bits(i));
          else
            k.logprob_grad_f32(rows.floats(i), rows.width, lp[r], gp[r], label - v0, rows.floats(i));
        }
      });
      // bf16 GEMMs for bf16 inputs (where bf16_gemm_is_fast), each block's product added at a float's precision (never a bf16 sum
      // across blocks): into a float32 accumulator, or the pair
      if (hidden_paired) {
        add_product_paired(grad_hidden.slice(0, r0, r1), grad_hidden_rest.slice(0, r0, r1), gl, w, product_scratch, k);
      } else if (want_hidden) {
        add_product(grad_hidden.slice(0, r0, r1), gl, w, product_scratch);
      }
      if (want_weight) {
        // Ignored rows add nothing, even where their hidden state holds inf or NaN (0 * inf).
        const bool any_ignored = std::any_of(yp + r0, yp + r1, [&](int64_t v) { return v == ignore_index; });
        const at::Tensor h_used = any_ignored ? at::where(valid.slice(0, r0, r1), h, at::zeros({}, h.options())) : h;
        if (weight_paired)
          add_product_paired(grad_weight_paired.slice(0, v0, v1), gw_rest, gl.t(), h_used, product_scratch, k);
        else
          add_product(gw, gl.t(), h_used, product_scratch);
      }
      if (want_bias) gb.add_(gl.sum(0, false, at::kFloat));
    }
  }
  return {hidden_paired ? grad_hidden : grad_hidden.to(hidden.scalar_type()),
          weight_paired ? grad_weight_paired : grad_weight.result(), grad_bias.result()};
}

}  // namespace cotnpot::logprob::detail
