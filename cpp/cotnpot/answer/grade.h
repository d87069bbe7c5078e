#pragma once
// The grader over many answers as tensors, on torch's threads (at::parallel_for): what the bindings and
// the selection ops use. The torch-free forms are grade_pairs and answer_class_ids (equiv.h).
//
// Example:
//   cotnpot::answer::grade({"2", "1/2"}, {"x=2", "0.5"})          // bool tensor [true, true]
//   cotnpot::answer::group_answers({"2", "x=2", "3", ""})           // int64 tensor [0, 0, 1, -1]
#include <ATen/core/Tensor.h>

#include <string>
#include <vector>

#include "cotnpot/answer/equiv.h"

namespace cotnpot::answer {

// is_equiv for each pair: a bool tensor [N]. `stop` as in grade_pairs.
at::Tensor grade(const std::vector<std::string>& golds, const std::vector<std::string>& preds,
                 const EquivOptions& options = {}, const std::atomic<bool>* stop = nullptr);

// answer_class_ids as an int64 tensor [N]. `stop` as in answer_class_ids.
at::Tensor group_answers(const std::vector<std::string>& answers, const EquivOptions& options = {},
                         const std::atomic<bool>* stop = nullptr);

}  // namespace cotnpot::answer
