#include "cotnpot/answer/grade.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

namespace cotnpot::answer {
namespace {

// Small grain: one pair can take milliseconds (symbolic comparisons), so even short lists are split.
void on_torch_threads(int64_t n, const std::function<void(int64_t, int64_t)>& body) {
  at::parallel_for(0, n, 16, body);
}

}  // namespace

at::Tensor grade(const std::vector<std::string>& golds, const std::vector<std::string>& preds,
                 const EquivOptions& options, const std::atomic<bool>* stop) {
  TORCH_CHECK(golds.size() == preds.size(), "grade: golds and preds must have the same length, got ", golds.size(),
              " and ", preds.size());
  return at::tensor(grade_pairs(golds, preds, options, on_torch_threads, stop), at::kByte).to(at::kBool);
}

at::Tensor group_answers(const std::vector<std::string>& answers, const EquivOptions& options,
                         const std::atomic<bool>* stop) {
  return at::tensor(answer_class_ids(answers, options, on_torch_threads, stop), at::kLong);
}

}  // namespace cotnpot::answer
