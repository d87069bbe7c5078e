"""Benchmark: every best-of-N method at every N on the paper's scale -- 5,000 problems x 64 samples, N =
1, 2, 4, ..., 64 -- with cotnpot.pipeline.metrics (closed forms, exact vote counts, sampling in C++), against the
engine it replaced in the same run: subsets enumerated or sampled in Python and passed through the
selection ops (first-seen ties, as it had). The baseline runs on a slice of the problems (it takes minutes
per thousand) and its time is scaled to 5,000; both are printed with the ratio.

Data: seeded synthetic answers shaped like real samples (a few large answer classes and a tail of
singletons, about 12 distinct answers per problem), labels from one right class, scores correlated with
correctness, a consistency filter keeping most right and a third of the wrong candidates.

Usage: python benchmarks/bench_metrics.py [--problems 5000] [--n 64] [--baseline-problems 100]
"""
import argparse
import math
import time
from itertools import combinations

import torch

from cotnpot.pipeline import metrics
from cotnpot.selection import best_of_n, vote


def synthetic(P, N, seed=0):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(P, 12, generator=g) * 1.5
    classes = torch.multinomial(logits.softmax(1), N, replacement=True, generator=g)
    right = torch.randint(0, 3, (P, 1), generator=g)
    correct = classes == right
    scores = correct.float() * 0.5 + torch.randn(P, N, generator=g)
    keep = torch.where(correct, torch.rand(P, N, generator=g) < 0.9, torch.rand(P, N, generator=g) < 0.33)
    return metrics.Candidates(correct=correct, valid=torch.ones(P, N, dtype=torch.bool), classes=classes,
                              scores=scores, keep=keep, weights=scores.exp())


# ---- the replaced engine (subsets through the selection ops), kept here as the baseline ----------------
def _subsets(n, k, max_subsets=4096, samples=1000, generator=None):
    k = min(k, n)
    if math.comb(n, k) <= max_subsets:
        return torch.tensor(list(combinations(range(n), k)), dtype=torch.long).reshape(-1, k)
    return torch.rand(samples, n, generator=generator).argsort(dim=1)[:, :k].sort(dim=1).values


def baseline(method, c, k):
    P, N = c.valid.shape
    subsets = _subsets(N, k, generator=torch.Generator().manual_seed(0))
    S, kk = subsets.shape
    def take(t):
        return None if t is None else t[:, subsets].reshape(P * S, kk)
    sub = metrics.Candidates(*(take(t) for t in c))
    if method in ("maj", "weighted", "filtered_maj"):
        sub = sub._replace(classes=metrics._renumber(sub.classes))   # ids below the subset size
    if method == "rm":
        pick = best_of_n(sub.scores, sub.valid)
    elif method == "filtered":
        pick = best_of_n(sub.scores, sub.valid, sub.keep)
    else:
        pick = vote(sub.classes, sub.valid, sub.weights if method == "weighted" else None,
                    sub.keep if method == "filtered_maj" else None).index
    hit = sub.correct.gather(1, pick.clamp_min(0)[:, None]).squeeze(1) & (pick >= 0)
    return hit.reshape(P, S).double().mean(1)


METHODS = ("pass", "maj", "rm", "weighted", "filtered", "filtered_maj")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--problems", type=int, default=5000)
    parser.add_argument("--n", type=int, default=64)
    parser.add_argument("--baseline-problems", type=int, default=100)
    args = parser.parse_args(argv)
    c = synthetic(args.problems, args.n)
    ks = list(metrics.default_ks(args.n))
    print(f"{args.problems} problems x N={args.n}, N in {ks}, {torch.get_num_threads()} threads\n")
    print("| method | cotnpot (s) | + 95% intervals (s) | sampled cells | replaced engine (s, scaled) | speed-up |")
    print("|---|---:|---:|---:|---:|---:|")
    total_new = total_old = total_ci = 0.0
    small = metrics.Candidates(*(None if t is None else t[:args.baseline_problems] for t in c))
    for method in METHODS:
        start = time.perf_counter()
        curve = metrics.accuracy_curve(method, c, ks)
        new = time.perf_counter() - start
        for a in curve.values():
            metrics.bootstrap_ci(a.value, variance=a.variance)
        with_ci = time.perf_counter() - start
        total_ci += with_ci
        sampled = sum(bool(a.sampled.any()) for a in curve.values())
        if method == "pass":
            old = float("nan")
        else:
            start = time.perf_counter()
            for k in ks:
                baseline(method, small, k)
            old = (time.perf_counter() - start) * args.problems / args.baseline_problems
            total_old += old
        total_new += new
        print(f"| {method} | {new:.2f} | {with_ci:.2f} | {sampled}/{len(ks)} | {old:.1f} | "
              + ("–" if math.isnan(old) else f"{old / new:.0f}x") + " |")
    print(f"| **all** | **{total_new:.2f}** | **{total_ci:.2f}** | | **{total_old:.0f}** | "
          f"**{total_old / total_new:.0f}x** |")


if __name__ == "__main__":
    main()
