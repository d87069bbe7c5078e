// Selection from C++: known picks, ties, filters with fall-back, votes, and the errors.
#include <doctest/doctest.h>

#include <ATen/ATen.h>

#include <string>
#include <vector>

#include "cotnpot/cotnpot.h"
#include "error_of.h"

namespace {

std::vector<int64_t> to_vector(const at::Tensor& t) {
  const at::Tensor c = t.contiguous();
  return std::vector<int64_t>(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel());
}

}  // namespace

TEST_CASE("best_of_n: ties take the first, NaN never wins, filters fall back") {
  const at::Tensor scores = at::tensor({0.5, 2.0, 2.0, 1.0, NAN, -INFINITY, 3.0, 3.0}).view({2, 4});
  const at::Tensor valid = at::tensor({1, 1, 1, 1, 1, 1, 0, 0}).view({2, 4}).to(at::kBool);
  CHECK(to_vector(cotnpot::selection::best_of_n(scores)) == std::vector<int64_t>{1, 2});
  CHECK(to_vector(cotnpot::selection::best_of_n(scores, valid)) == std::vector<int64_t>{1, 1});
  const at::Tensor keep = at::tensor({1, 0, 0, 1, 0, 0, 1, 1}).view({2, 4}).to(at::kBool);
  CHECK(to_vector(cotnpot::selection::best_of_n(scores, valid, keep)) == std::vector<int64_t>{3, 1});
  CHECK(to_vector(cotnpot::selection::best_of_n(scores, valid, keep, "none")) == std::vector<int64_t>{3, -1});
}

TEST_CASE("vote: majority and weighted, first seen among ties") {
  const at::Tensor classes = at::tensor({2, 0, 0, 2, 1, 0, 1, 1, -1, -1}, at::kLong).view({2, 5});
  const auto v = cotnpot::selection::vote(classes);
  CHECK(to_vector(v.answer_class) == std::vector<int64_t>{2, 1});
  CHECK(to_vector(v.index) == std::vector<int64_t>{0, 1});
  const at::Tensor w = at::tensor({0.1, 0.5, 0.6, 0.1, 0.9, 5.0, 1.0, 1.0, 9.0, 9.0}).view({2, 5});
  const auto weighted = cotnpot::selection::vote(classes, {}, w);
  CHECK(to_vector(weighted.answer_class) == std::vector<int64_t>{0, 0});
  CHECK(weighted.support[0].item<double>() == doctest::Approx(1.1));
}

TEST_CASE("selection errors name the argument and what was seen") {
  CHECK(error_of([] { cotnpot::selection::best_of_n(at::zeros({3})); }).find("best_of_n: scores must be 2-D") !=
        std::string::npos);
  CHECK(error_of([] { cotnpot::selection::best_of_n(at::zeros({2, 2}), {}, {}, "best"); })
            .find("fallback must be \"all\" or \"none\", got \"best\"") != std::string::npos);
  CHECK(error_of([] { cotnpot::selection::vote(at::tensor({0, 5}, at::kLong).view({1, 2})); })
            .find("vote: classes must be ids in [0, N) = [0, 2)") != std::string::npos);
  // Found by a breaker: an undefined tensor's dim() is 1, so it was "got 1-D with shape [0]".
  CHECK(error_of([] { cotnpot::selection::best_of_n(at::Tensor()); }) ==
        "best_of_n: scores must be a tensor, got an undefined one");
  CHECK(error_of([] { cotnpot::selection::vote(at::Tensor()); }) == "vote: classes must be a tensor, got an undefined one");
}
