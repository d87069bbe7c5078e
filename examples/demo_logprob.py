"""Score a small batch of sequences with cotnpot's C++ sequence_logprob and check it
(`.venv/bin/python examples/demo_logprob.py`).

A verifier scores a candidate solution by the average log-prob of its tokens; the prompt tokens are
masked with ignore_index. Here the logits are random (a model's scores: `cotnpot.verifier.score_solutions`,
`make demo`); the numbers are checked against the pure-PyTorch reference.
"""
import sys

import torch

import cotnpot
from cotnpot import reference


def main() -> int:
    torch.manual_seed(0)
    batch, steps, vocab, prompt = 4, 12, 50, 5
    logits = torch.randn(batch, steps, vocab) * 2
    labels = torch.randint(vocab, (batch, steps))
    labels[:, :prompt] = -100          # the question: not scored
    labels[3, 9:] = -100               # a shorter solution, padded

    sums = cotnpot.sequence_logprob(logits, labels, shift=True)
    means = cotnpot.sequence_logprob(logits, labels, reduction="mean", shift=True)
    want_sums = reference.sequence_logprob(logits, labels, shift=True)
    want_means = reference.sequence_logprob(logits, labels, reduction="mean", shift=True)

    print(f"cotnpot {cotnpot.__version__} (CPU kernels: {cotnpot._C.cpu_isa()}), "
          f"logits [B,T,V] = {list(logits.shape)}, shift=True")
    print(f"{'seq':>3} {'tokens':>6} {'sum logp':>10} {'mean logp':>10} {'reference sum':>14} {'reference mean':>15}")
    tokens = (labels[:, 1:] != -100).sum(-1)
    for b in range(batch):
        print(f"{b:>3} {tokens[b].item():>6} {sums[b].item():>10.4f} {means[b].item():>10.4f} "
              f"{want_sums[b].item():>14.4f} {want_means[b].item():>15.4f}")
    error = max((sums - want_sums).abs().max().item(), (means - want_means).abs().max().item())
    ok = error < 1e-4
    print(f"max |cotnpot - reference| = {error:.2e}: {'OK' if ok else 'MISMATCH'}")
    print(f"best candidate by mean log-prob (the verifier's pick): sequence {int(means.argmax())}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
