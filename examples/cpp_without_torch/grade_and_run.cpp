// Grades a model's answers and checks one with a program run in the sandbox: cotnpot::answer and
// cotnpot::exec, linked without LibTorch.
#include <cstdio>
#include <string>
#include <vector>

#include "cotnpot/answer/equiv.h"
#include "cotnpot/answer/extract.h"
#include "cotnpot/exec/executor.h"

int main() {
  namespace answer = cotnpot::answer;
  const std::string solution = "Half of 18 is 9, and 9 * 3 = 27. The answer is \\boxed{27}.";
  const std::string extracted = answer::extract_answer(solution).answer;
  std::printf("extracted %s\n", extracted.c_str());
  const std::vector<uint8_t> equal = answer::grade_pairs({"27", "1/2", "(1,2)"}, {extracted, "0.5", "[1,2]"});
  std::printf("graded %d %d %d\n", equal[0], equal[1], equal[2]);
  const std::vector<int64_t> classes = answer::answer_class_ids({"27", "x = 27", "26", ""});
  std::printf("classes %lld %lld %lld %lld\n", (long long)classes[0], (long long)classes[1], (long long)classes[2],
              (long long)classes[3]);

  cotnpot::exec::ExecutorOptions options;
  options.workers = 1;
  cotnpot::exec::Executor executor(options);
  std::vector<cotnpot::exec::Job> jobs(1);
  jobs[0].code = "print(18 // 2 * 3)";
  const auto results = executor.run(jobs);
  const bool consistent = answer::is_equiv(results[0].answer, extracted);
  std::printf("program %s %s consistent %d\n", results[0].status.c_str(), results[0].answer.c_str(), consistent);
  return consistent ? 0 : 1;
}
