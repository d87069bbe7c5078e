// The losses from C++: known values and the errors, through the public headers.
#include <doctest/doctest.h>

#include <ATen/ATen.h>

#include <cmath>
#include <string>

#include "cotnpot/cotnpot.h"
#include "error_of.h"

namespace {

double softplus(double x) { return std::log1p(std::exp(x)); }

at::Tensor vec(std::initializer_list<double> values) { return at::tensor(std::vector<double>(values)); }

}  // namespace

TEST_CASE("simpo_loss: known values with both gamma conventions") {
  // z = 2 * (-1 + 2) - 0.5 = 1.5 -> log(1 + e^-1.5)
  auto [losses, chosen_r, rejected_r] = cotnpot::losses::simpo_loss(vec({-1.0}), vec({-2.0}));
  CHECK(losses.item<double>() == doctest::Approx(softplus(-1.5)));
  CHECK(chosen_r.item<double>() == doctest::Approx(-2.0));
  CHECK(rejected_r.item<double>() == doctest::Approx(-4.0));
  // TRL CPO: beta 0.1, gamma 0.5 absolute, SFT weight 1: log(1 + e^0.4) + 1
  auto trl = std::get<0>(cotnpot::losses::simpo_loss(vec({-1.0}), vec({-2.0}), 0.1, 0.5, 0.25, 0.0, "sigmoid", 1.0));
  CHECK(trl.item<double>() == doctest::Approx(softplus(0.4) + 1.0));
}

TEST_CASE("dpo_loss: sigmoid and sppo_hard known values, unknown loss_type listed") {
  const auto pc = vec({-10.0}), pr = vec({-12.0}), rc = vec({-11.0}), rr = vec({-11.0});
  CHECK(std::get<0>(cotnpot::losses::dpo_loss(pc, pr, rc, rr)).item<double>() == doctest::Approx(softplus(-0.2)));
  CHECK(std::get<0>(cotnpot::losses::dpo_loss(pc, pr, rc, rr, 0.1, 0.0, "sppo_hard")).item<double>() ==
        doctest::Approx(32.0));
  const std::string message = error_of([&] { cotnpot::losses::dpo_loss(pc, pr, rc, rr, 0.1, 0.0, "kto"); });
  CHECK(message.find("loss_type must be one of 'sigmoid', 'hinge', 'ipo'") != std::string::npos);
  CHECK(message.find("got 'kto'") != std::string::npos);
}

TEST_CASE("orm_loss names its first bad label and that label's row (found by a breaker)") {
  // The message held the whole labels tensor: 300 kB for 100,000 labels.
  at::Tensor labels = at::ones({100000}, at::kLong);
  labels[54321] = 7;
  const std::string message =
      error_of([&] { cotnpot::losses::orm_loss(at::zeros({100000, 2}), labels, at::ones({100000, 2}, at::kBool)); });
  CHECK(message == "orm_loss: labels must be 0 (wrong) or 1 (correct), got 7 at row 54321");
  CHECK(error_of([] { cotnpot::losses::orm_score(at::Tensor(), at::ones({1, 2}, at::kBool)); }) ==
        "orm_score: scores must be a tensor, got an undefined one");
}

TEST_CASE("orm_loss and orm_score: known values") {
  const at::Tensor scores = at::tensor(std::vector<double>{0.0, 2.0, -1.0}).reshape({1, 3});
  const at::Tensor mask = at::tensor(std::vector<int64_t>{1, 1, 0}).reshape({1, 3}).to(at::kBool);
  // (log 2 + log(1 + e^-2)) / 2
  CHECK(cotnpot::losses::orm_loss(scores, at::ones({1}, at::kLong), mask).item<double>() ==
        doctest::Approx((std::log(2.0) + softplus(-2.0)) / 2));
  CHECK(cotnpot::losses::orm_score(scores, mask).item<double>() == doctest::Approx(1.0 / (1.0 + std::exp(-2.0))));
}
