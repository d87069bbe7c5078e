// Subset-vote accuracy from C++: known values with fair ties, the exact count against every subset, the
// harness rule, and the errors that name what was wrong.
#include <doctest/doctest.h>

#include <ATen/ATen.h>

#include <string>

#include "cotnpot/cotnpot.h"
#include "error_of.h"

TEST_CASE("majority_accuracy_exact: ties count each class equally, every k at once") {
  // One problem: classes 0 (right) and 1 (wrong), one candidate each; another: 0,0,1 with 0 right.
  const at::Tensor classes = at::tensor({0, 1, -1, 0, 0, 1}, at::kLong).view({2, 3});
  const at::Tensor correct = at::tensor({1, 0, 0, 1, 1, 0}).view({2, 3}).to(at::kBool);
  const at::Tensor valid = at::tensor({1, 1, 0, 1, 1, 1}).view({2, 3}).to(at::kBool);
  const at::Tensor acc = cotnpot::metrics::majority_accuracy_exact(classes, correct, valid);
  CHECK(acc[0][0].item<double>() == doctest::Approx(0.5));   // k=1: a random candidate
  CHECK(acc[0][1].item<double>() == doctest::Approx(0.5));   // k=2: a 1-1 tie, shared
  CHECK(acc[0][2].item<double>() == doctest::Approx(0.5));   // k=3 > n=2: all candidates
  // k=2 on {0,0,1}: subsets {0,0} right, {0,1} twice a tie (1/2 each): (1 + 0.5 + 0.5) / 3
  CHECK(acc[1][1].item<double>() == doctest::Approx(2.0 / 3.0));
  CHECK(acc[1][2].item<double>() == doctest::Approx(1.0));
}

TEST_CASE("vote_accuracy: every subset when few, the harness rule, and errors") {
  const at::Tensor classes = at::tensor({1, 0}, at::kLong).view({1, 2});
  const at::Tensor correct = at::tensor({0, 1}).view({1, 2}).to(at::kBool);
  const auto fair = cotnpot::metrics::vote_accuracy(classes, correct, {}, {}, {}, "all", "fair", 2);
  CHECK(fair.mean.item<double>() == doctest::Approx(0.5));
  CHECK(fair.exact.item<bool>());
  CHECK(fair.variance.item<double>() == 0.0);
  const auto first = cotnpot::metrics::vote_accuracy(classes, correct, {}, {}, {}, "all", "first", 2);
  CHECK(first.mean.item<double>() == 0.0);   // the class seen first is the wrong one
  const at::Tensor negative = at::tensor({-1.0, 0.5}).view({1, 2});
  CHECK(error_of([&] { cotnpot::metrics::vote_accuracy(classes, correct, {}, negative, {}, "all", "fair", 2); })
            .find("weights must be non-negative") != std::string::npos);
  CHECK(error_of([&] { cotnpot::metrics::vote_accuracy(classes, correct, {}, {}, {}, "all", "random", 2); })
            .find("ties must be \"fair\" or \"first\", got \"random\"") != std::string::npos);
  CHECK(error_of([&] { cotnpot::metrics::majority_accuracy_exact(classes + 5, correct); })
            .find("classes must be ids in [0, N)") != std::string::npos);
}
