// Scores two token sequences with cotnpot's sequence_logprob, from C++.
//
// The logits are deterministic (3 * sin of a ramp), so tests can recompute the printed numbers.
#include <cotnpot/cotnpot.h>

#include <ATen/ATen.h>

#include <cstdio>

int main() {
  const int64_t batch = 2, steps = 4, vocab = 10;
  const at::Tensor logits = at::arange(batch * steps * vocab, at::kFloat).sin().mul(3).reshape({batch, steps, vocab});
  at::Tensor labels = at::tensor({3, 1, 4, 1, 5, 9, 2, 6}, at::kLong).reshape({batch, steps});
  labels.index_put_({1, 0}, -100);  // e.g. a prompt token: not scored

  const at::Tensor sums = cotnpot::logprob::sequence_logprob(logits, labels);
  const at::Tensor means = cotnpot::logprob::sequence_logprob(logits, labels, -100, "mean");
  const at::Tensor shifted = cotnpot::logprob::sequence_logprob(logits, labels, -100, "sum", /*shift=*/true);

  std::printf("cotnpot %s\n", COTNPOT_VERSION);
  for (int64_t b = 0; b < batch; ++b) {
    std::printf("sequence %lld: sum %.6f mean %.6f shifted_sum %.6f\n", static_cast<long long>(b),
                sums[b].item<float>(), means[b].item<float>(), shifted[b].item<float>());
  }
  return 0;
}
