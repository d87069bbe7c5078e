// Calls cotnpot's ops by name through the PyTorch dispatcher, without naming any cotnpot symbol, as
// another library or a TorchScript runtime would. It works only if libcotnpot is loaded, i.e. its link
// interface keeps it on the program's link line even under --as-needed (which this example turns on).
#include <ATen/ATen.h>
#include <ATen/core/dispatch/Dispatcher.h>

#include <cstdio>
#include <tuple>

int main() {
  const auto handle = c10::Dispatcher::singleton().findSchema({"cotnpot::simpo_loss", ""});
  if (!handle) {
    std::printf("cotnpot::simpo_loss is not registered: libcotnpot was dropped from the link\n");
    return 1;
  }
  const auto simpo = handle->typed<std::tuple<at::Tensor, at::Tensor, at::Tensor>(
      const at::Tensor&, const at::Tensor&, double, c10::optional<double>, double, double, c10::string_view, double)>();
  const at::Tensor chosen = at::tensor({-1.0, -0.5}), rejected = at::tensor({-2.0, -0.25});
  const auto [losses, chosen_rewards, rejected_rewards] =
      simpo.call(chosen, rejected, 2.0, c10::nullopt, 0.25, 0.0, "sigmoid", 0.0);
  for (int64_t b = 0; b < losses.size(0); ++b)
    std::printf("simpo_loss %lld: %.6f\n", static_cast<long long>(b), losses[b].item<double>());
  return 0;
}
