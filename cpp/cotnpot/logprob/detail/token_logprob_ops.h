#pragma once
// The kernels behind the token_logprob op, one per dispatch key; registered in the .cpp files that
// define them and declared here so the tests can call a specific one (e.g. the device-generic
// composite on CPU tensors).
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <tuple>

namespace cotnpot::logprob::detail {

// Validates the op's inputs' metadata (ranks, dtypes, devices, shapes), once, in the user-facing ops;
// every message names the op, the argument and what it saw. The labels' values are checked inside the
// kernels, which read them anyway: the CPU kernel before its parallel loop (naming the first bad label
// and its position), the composite with a device-side assert.
void check_token_logprob_inputs(const char* op, const at::Tensor& logits, const at::Tensor& labels, bool shift);
// The backward kernels' metadata checks (every kernel of _token_logprob_backward runs them): the inputs as
// above, and grad and lse shaped [B,T'].
void check_token_logprob_backward_inputs(const at::Tensor& grad, const at::Tensor& logits, const at::Tensor& labels,
                                         const at::Tensor& lse, bool shift);
// The message for a label outside [0, vocab) and not ignore_index, at labels[b, t]: one wording for every
// kernel that checks them.
std::string bad_label_message(int64_t label, int64_t b, int64_t t, int64_t vocab, int64_t ignore_index);
// The dtype of the log-probs: float64 for float64 logits, float32 otherwise.
at::ScalarType logprob_dtype(const at::Tensor& logits);

// (logp[B,T'], lse[B,T']) with T' = T - shift; lse is the log-sum-exp of each predicting position.
std::tuple<at::Tensor, at::Tensor> token_logprob_forward_cpu(const at::Tensor& logits, const at::Tensor& labels,
                                                             int64_t ignore_index, bool shift);
std::tuple<at::Tensor, at::Tensor> token_logprob_forward_composite(const at::Tensor& logits,
                                                                   const at::Tensor& labels, int64_t ignore_index,
                                                                   bool shift);
// d(sum(grad * logp))/d(logits), shaped and typed like logits.
at::Tensor token_logprob_backward_cpu(const at::Tensor& grad, const at::Tensor& logits, const at::Tensor& labels,
                                      const at::Tensor& lse, int64_t ignore_index, bool shift);
at::Tensor token_logprob_backward_composite(const at::Tensor& grad, const at::Tensor& logits,
                                            const at::Tensor& labels, const at::Tensor& lse, int64_t ignore_index,
                                            bool shift);

}  // namespace cotnpot::logprob::detail
