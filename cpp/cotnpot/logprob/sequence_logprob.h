#pragma once
// Log-probabilities of label sequences under a model's logits, without a [B,T,V] temporary.
//
// For logits[B,T,V] and labels[B,T], the log-prob of token t of row b is
//   logp[b,t] = logits[b,t,labels[b,t]] - log(sum_v exp(logits[b,t,v]))
// and 0 where labels[b,t] == ignore_index. With shift = true, logits at t predict labels at t+1, as a
// causal LM's do: logp has T-1 positions. Computation is in float32 for float32/bfloat16/float16 logits
// (float64 for float64) and the result has that dtype; gradients flow back to the logits.
//
// Example:
//   at::Tensor logits = at::randn({2, 5, 11});
//   at::Tensor labels = at::randint(11, {2, 5});
//   at::Tensor avg = cotnpot::logprob::sequence_logprob(logits, labels, -100, "mean");  // [2]
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string_view>

namespace cotnpot::logprob {

// Per-token log-probs: [B,T] (or [B,T-1] with shift), 0 at ignored positions.
at::Tensor token_logprob(const at::Tensor& logits, const at::Tensor& labels, int64_t ignore_index = -100,
                         bool shift = false);

// Per-sequence log-probs, reduced over the valid positions of each row:
//   "sum"  -> [B], sum of logp;  "mean" -> [B], sum / number of valid tokens (0 for a row with none);
//   "none" -> the per-token log-probs of token_logprob.
at::Tensor sequence_logprob(const at::Tensor& logits, const at::Tensor& labels, int64_t ignore_index = -100,
                            std::string_view reduction = "sum", bool shift = false);

}  // namespace cotnpot::logprob
