// The CUDA dispatch key's kernels of _token_logprob_forward/_backward: the inputs checked and the outputs
// allocated here with ATen, the rows computed by token_logprob_kernels.cu. Built wherever torch is a
// CUDA build (CMake requires a CUDA compiler there); other devices keep the ATen composite.
#include <ATen/ATen.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include "cotnpot/logprob/cuda/kernel_glue.h"
#include "cotnpot/logprob/cuda/token_logprob_kernels.h"
#include "cotnpot/logprob/detail/token_logprob_ops.h"

namespace cotnpot::logprob::detail {
namespace {

cuda::Rows rows_of(const at::Tensor& x, const at::Tensor& labels, int64_t ignore_index, bool shift) {
  return {x.data_ptr(), x.size(0), x.size(1), x.size(2), x.stride(0), x.stride(1), labels.data_ptr<int64_t>(),
          ignore_index, shift};
}

}  // namespace

std::tuple<at::Tensor, at::Tensor> token_logprob_forward_cuda(const at::Tensor& logits, const at::Tensor& labels,
                                                              int64_t ignore_index, bool shift) {
  check_token_logprob_inputs("_token_logprob_forward", logits, labels, shift);
  const c10::cuda::CUDAGuard guard(logits.device());
  const at::Tensor x = logits.stride(2) == 1 ? logits : logits.contiguous();
  const at::Tensor y = labels.contiguous();
  const int64_t steps = x.size(1) - (shift ? 1 : 0);
  const auto opts = x.options().dtype(logprob_dtype(x));
  at::Tensor logp = at::empty({x.size(0), steps}, opts), lse = at::empty({x.size(0), steps}, opts.dtype(at::kDouble));
  constexpr const char* op = "_token_logprob_forward";
  cuda::check_launch(cuda::token_logprob_forward(cuda::kernel_dtype(x, op), rows_of(x, y, ignore_index, shift),
                                                 logp.data_ptr(), lse.data_ptr(), c10::cuda::getCurrentCUDAStream()),
                     op);
  return {logp, lse};
}

at::Tensor token_logprob_backward_cuda(const at::Tensor& grad, const at::Tensor& logits, const at::Tensor& labels,
                                       const at::Tensor& lse, int64_t ignore_index, bool shift) {
  check_token_logprob_backward_inputs(grad, logits, labels, lse, shift);
  const c10::cuda::CUDAGuard guard(logits.device());
  const at::Tensor x = logits.stride(2) == 1 ? logits : logits.contiguous();
  const at::Tensor y = labels.contiguous();
  const auto acc_type = logprob_dtype(x);
  const at::Tensor g = grad.to(acc_type).contiguous(), l = lse.to(at::kDouble).contiguous();
  at::Tensor grad_logits = at::empty(x.sizes(), x.options().memory_format(at::MemoryFormat::Contiguous));
  constexpr const char* op = "_token_logprob_backward";
  cuda::check_launch(cuda::token_logprob_backward(cuda::kernel_dtype(x, op), rows_of(x, y, ignore_index, shift),
                                                  g.data_ptr(), l.data_ptr(), grad_logits.data_ptr(),
                                                  c10::cuda::getCurrentCUDAStream()),
                     op);
  return grad_logits;
}

TORCH_LIBRARY_IMPL(cotnpot, CUDA, m) {
  m.impl("_token_logprob_forward", &token_logprob_forward_cuda);
  m.impl("_token_logprob_backward", &token_logprob_backward_cuda);
}

}  // namespace cotnpot::logprob::detail
