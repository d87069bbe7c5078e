#pragma once
// The outcome reward model (ORM) objective: a scalar score per token, trained with binary cross-entropy
// against the solution's label (correct = 1, wrong = 0) at every valid token, as in OpenAI's GSM8K
// verifiers and OVM.
//
//   orm_loss:  mean over valid tokens of BCEWithLogits(scores[b,t], label[b])   (reduction "mean";
//              "sum" sums them; "none" gives [B,T] with 0 at masked positions)
//   orm_score: the solution's score at inference: sigmoid of the last valid token's score ("last") or
//              the mean of the sigmoids over valid tokens ("mean"); [B]
//
// Example:
//   at::Tensor loss = cotnpot::losses::orm_loss(scores, labels, mask);      // scores [B,T], labels [B]
//   at::Tensor s = cotnpot::losses::orm_score(scores, mask, "last");        // [B] in (0, 1)
#include <ATen/core/Tensor.h>

#include <string_view>

namespace cotnpot::losses {

at::Tensor orm_loss(const at::Tensor& scores, const at::Tensor& labels, const at::Tensor& mask,
                    std::string_view reduction = "mean");
at::Tensor orm_score(const at::Tensor& scores, const at::Tensor& mask, std::string_view mode = "last");

}  // namespace cotnpot::losses
