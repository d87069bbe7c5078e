// CPU kernels of token_logprob: one pass per row over the logits, parallel over rows, no [B,T,V]
// temporary in the forward and no stored softmax in the backward.
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <ATen/Dispatch.h>
#include <torch/library.h>

#include <cmath>
#include <cstdint>
#include <cstring>

#if defined(__linux__)
#include <sys/mman.h>
#endif

#include "cotnpot/logprob/detail/row_kernels.h"
#include "cotnpot/logprob/detail/token_logprob_ops.h"

namespace cotnpot::logprob::detail {
namespace {

const uint16_t* bits(const c10::BFloat16* p) { return reinterpret_cast<const uint16_t*>(p); }
const uint16_t* bits(const c10::Half* p) { return reinterpret_cast<const uint16_t*>(p); }
uint16_t* bits(c10::BFloat16* p) { return reinterpret_cast<uint16_t*>(p); }
uint16_t* bits(c10::Half* p) { return reinterpret_cast<uint16_t*>(p); }

double row_logsumexp(const RowKernels& k, const float* x, int64_t n) { return k.logsumexp_f32(x, n); }
double row_logsumexp(const RowKernels& k, const c10::BFloat16* x, int64_t n) { return k.logsumexp_bf16(bits(x), n); }
double row_logsumexp(const RowKernels& k, const c10::Half* x, int64_t n) { return k.logsumexp_f16(bits(x), n); }

// A row's label log-prob, its lse into `lse`: x[label] - lse in double, which keeps the digits of logits far
// from zero (row_kernels.h).
template <class T>
double row_logprob(const RowKernels& k, const T* x, int64_t n, int64_t label, double& lse) {
  lse = row_logsumexp(k, x, n);
  return static_cast<double>(x[label]) - lse;
}
// float64 is for gradcheck and ground truth: plain two-pass code, exact libm exp, and the log-prob as
// (x[label] - max) - log(sum), as log_softmax computes it (x[label] - lse lost ~1e-12 at logits near 1e4).
double row_logprob(const RowKernels&, const double* x, int64_t n, int64_t label, double& lse) {
  double m = -std::numeric_limits<double>::infinity();
  for (int64_t v = 0; v < n; ++v) m = x[v] > m || std::isnan(x[v]) ? x[v] : m;
  double s = 0.0;
  for (int64_t v = 0; v < n; ++v) s += std::exp(x[v] - m);
  lse = m + std::log(s);
  return (x[label] - m) - std::log(s);
}

void row_logprob_grad(const RowKernels& k, const float* x, int64_t n, double lse, float g, int64_t label, float* out) {
  k.logprob_grad_f32(x, n, lse, g, label, out);
}
void row_logprob_grad(const RowKernels& k, const c10::BFloat16* x, int64_t n, double lse, float g, int64_t label,
                      c10::BFloat16* out) {
  k.logprob_grad_bf16(bits(x), n, lse, g, label, bits(out));
}
void row_logprob_grad(const RowKernels& k, const c10::Half* x, int64_t n, double lse, float g, int64_t label,
                      c10::Half* out) {
  k.logprob_grad_f16(bits(x), n, lse, g, label, bits(out));
}
void row_logprob_grad(const RowKernels&, const double* x, int64_t n, double lse, double g, int64_t label,
                      double* out) {
  for (int64_t v = 0; v < n; ++v) out[v] = -g * std::exp(x[v] - lse);
  if (label >= 0 && label < n) out[label] = -g * std::expm1(x[label] - lse);   // as the row kernels
}

// Asks the kernel to back a large fresh buffer with transparent huge pages (where THP is in "madvise"
// mode). The gradient is as large as the logits, and on VMs each 4 KiB page fault is expensive: with
// 2 MiB pages a fresh 0.5 GB gradient is written about twice as fast. Only a hint; errors are ignored.
void advise_huge_pages(void* data, size_t nbytes) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  constexpr uintptr_t kHuge = uintptr_t{2} << 20;
  const uintptr_t begin = (reinterpret_cast<uintptr_t>(data) + kHuge - 1) & ~(kHuge - 1);
  const uintptr_t end = (reinterpret_cast<uintptr_t>(data) + nbytes) & ~(kHuge - 1);
  if (end > begin) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
#else
  (void)data;
  (void)nbytes;
#endif
}

// The labels' values, checked here rather than up front: this kernel reads them anyway, and the check
// names the first bad one (row-major, in the caller's coordinates) whatever the thread count.
void check_label_values(const at::TensorAccessor<int64_t, 2>& y, int64_t batch, int64_t steps, int64_t offset,
                        int64_t vocab, int64_t ignore_index) {
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t t = 0; t < steps; ++t) {
      const int64_t label = y[b][t + offset];
      TORCH_CHECK(label == ignore_index || (label >= 0 && label < vocab),
                  bad_label_message(label, b, t + offset, vocab, ignore_index));
    }
}

}  // namespace

std::tuple<at::Tensor, at::Tensor> token_logprob_forward_cpu(const at::Tensor& logits, const at::Tensor& labels,
                                                             int64_t ignore_index, bool shift) {
  // Metadata only (no data read): a direct call of this internal op must not read out of bounds either.
  check_token_logprob_inputs("_token_logprob_forward", logits, labels, shift);
  // Rows may sit at any stride (e.g. logits[:, :-1]); only the vocabulary dimension must be dense.
  const at::Tensor x = logits.stride(2) == 1 ? logits : logits.contiguous();
  const int64_t batch = x.size(0), steps = x.size(1) - (shift ? 1 : 0), vocab = x.size(2);
  const int64_t row_stride_b = x.stride(0), row_stride_t = x.stride(1);
  const auto opts = x.options().dtype(logprob_dtype(x));
  at::Tensor logp = at::empty({batch, steps}, opts);
  at::Tensor lse = at::empty({batch, steps}, opts.dtype(at::kDouble));   // see row_kernels.h
  const auto y = labels.accessor<int64_t, 2>();
  const int64_t offset = shift ? 1 : 0;
  const RowKernels& kernels = row_kernels();
  check_label_values(y, batch, steps, offset, vocab, ignore_index);

  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "token_logprob_forward_cpu", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    const scalar_t* base = x.data_ptr<scalar_t>();
    acc_t* logp_out = logp.data_ptr<acc_t>();
    double* lse_out = lse.data_ptr<double>();
    at::parallel_for(0, batch * steps, row_grain(vocab), [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        const int64_t b = r / steps, t = r % steps;
        const int64_t label = y[b][t + offset];
        if (label == ignore_index) {  // ignored positions cost nothing: no pass over their logits
          logp_out[r] = 0;
          lse_out[r] = 0;
          continue;
        }
        const scalar_t* row = base + b * row_stride_b + t * row_stride_t;
        double l;
        logp_out[r] = static_cast<acc_t>(row_logprob(kernels, row, vocab, label, l));
        lse_out[r] = l;
      }
    });
  });
  return {logp, lse};
}

at::Tensor token_logprob_backward_cpu(const at::Tensor& grad, const at::Tensor& logits, const at::Tensor& labels,
                                      const at::Tensor& lse, int64_t ignore_index, bool shift) {
  check_token_logprob_backward_inputs(grad, logits, labels, lse, shift);
  const at::Tensor x = logits.stride(2) == 1 ? logits : logits.contiguous();
  const int64_t batch = x.size(0), steps_in = x.size(1), vocab = x.size(2);
  const int64_t steps = steps_in - (shift ? 1 : 0);
  const auto acc_type = logprob_dtype(x);
  const at::Tensor g = grad.to(acc_type).contiguous();
  const at::Tensor l = lse.to(at::kDouble).contiguous();
  at::Tensor grad_logits = at::empty({batch, steps_in, vocab}, x.options());
  advise_huge_pages(grad_logits.data_ptr(), grad_logits.nbytes());
  const int64_t row_stride_b = x.stride(0), row_stride_t = x.stride(1);
  const auto y = labels.accessor<int64_t, 2>();
  const int64_t offset = shift ? 1 : 0;
  const RowKernels& kernels = row_kernels();
  check_label_values(y, batch, steps, offset, vocab, ignore_index);

  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "token_logprob_backward_cpu", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    const scalar_t* base = x.data_ptr<scalar_t>();
    const acc_t* g_in = g.data_ptr<acc_t>();
    const double* lse_in = l.data_ptr<double>();
    scalar_t* out = grad_logits.data_ptr<scalar_t>();
    at::parallel_for(0, batch * steps_in, row_grain(vocab), [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        const int64_t b = r / steps_in, t = r % steps_in;
        scalar_t* out_row = out + r * vocab;
        // Positions that predict nothing (the last one under shift, ignored labels) get zero gradient.
        const int64_t label = t < steps ? y[b][t + offset] : ignore_index;
        if (label == ignore_index) {
          std::memset(static_cast<void*>(out_row), 0, sizeof(scalar_t) * vocab);
          continue;
        }
        const int64_t i = b * steps + t;
        row_logprob_grad(kernels, base + b * row_stride_b + t * row_stride_t, vocab, lse_in[i], g_in[i], label,
                         out_row);
      }
    });
  });
  return grad_logits;
}

TORCH_LIBRARY_IMPL(cotnpot, CPU, m) {
  m.impl("_token_logprob_forward", &token_logprob_forward_cpu);
  m.impl("_token_logprob_backward", &token_logprob_backward_cpu);
}

}  // namespace cotnpot::logprob::detail
