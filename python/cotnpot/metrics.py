"""Best-of-N metrics over N samples per problem: pass@k, maj@k, rm@k, weighted@k and filtered@k.

Every metric at k is the expectation, over the size-k subsets of a problem's N candidates, of "the
candidate this method picks from the subset is correct" (a problem with fewer than k candidates uses
all of them). The expectation is exact (every subset) when a problem has at most ``max_subsets``
subsets, else it is estimated from ``samples`` subsets drawn with a seeded generator. pass@k uses the
unbiased closed form of Chen et al. (2021), ``1 - C(n-c, k) / C(n, k)``; random@k (pick any one
candidate) is the mean accuracy, the same at every k. Picks go through the C++
selection ops (:func:`cotnpot.best_of_n`, :func:`cotnpot.vote`), a pick of -1 (nothing eligible) counts
as wrong. Confidence intervals: percentile bootstrap over problems.

    >>> import torch
    >>> from cotnpot import metrics
    >>> metrics.pass_at_k(torch.tensor([5]), torch.tensor([2]), 2)       # 1 - C(3,2)/C(5,2)
    tensor([0.7000], dtype=torch.float64)
"""
import math
from itertools import combinations
from typing import NamedTuple, Optional, Sequence, Tuple

import torch
from torch import Tensor

from .selection import best_of_n, vote

METHODS = ("pass", "maj", "rm", "weighted", "filtered", "filtered_maj", "random")


def pass_at_k(n: Tensor, c: Tensor, k: int) -> Tensor:
    """Unbiased pass@k per problem from n samples of which c are correct (float64 ``[P]``).

    Computed as ``1 - prod_{i=n-c+1}^{n} (1 - k/i)`` (numerically stable); 1 where ``n - c < k``; for
    ``n < k`` the problem is scored on its n samples (pass@n).
    """
    n, c = torch.as_tensor(n, dtype=torch.long), torch.as_tensor(c, dtype=torch.long)
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if bool((c > n).any()) or bool((c < 0).any()):
        raise ValueError("pass_at_k: need 0 <= c <= n for every problem")
    out = torch.zeros(n.shape, dtype=torch.float64)
    for i, (ni, ci) in enumerate(zip(n.tolist(), c.tolist())):
        kk = min(k, ni)
        if ni == 0:
            out[i] = 0.0
        elif ni - ci < kk:
            out[i] = 1.0
        else:
            out[i] = 1.0 - math.prod(1.0 - kk / j for j in range(ni - ci + 1, ni + 1))
    return out


def subset_indices(n: int, k: int, max_subsets: int = 4096, samples: int = 1000,
                   generator: Optional[torch.Generator] = None) -> Tensor:
    """Size-min(k, n) subsets of ``range(n)`` as ``[S, k]`` int64, each sorted (so candidates keep their
    order for tie-breaking): all of them when there are at most ``max_subsets``, else ``samples`` drawn
    uniformly (with replacement between subsets) from ``generator``."""
    k = min(k, n)
    if math.comb(n, k) <= max_subsets:
        return torch.tensor(list(combinations(range(n), k)), dtype=torch.long).reshape(-1, k)
    keys = torch.rand(samples, n, generator=generator)
    return keys.argsort(dim=1)[:, :k].sort(dim=1).values


class Candidates(NamedTuple):
    """The tensors a metric needs, ``[P, N]`` each (a :class:`cotnpot.data.CandidateTable` gives
    ``labels()``, ``valid()`` and ``scores()``)."""
    correct: Tensor                    # bool
    valid: Tensor                      # bool: a real candidate (False at padding)
    classes: Optional[Tensor] = None   # int64 answer-class ids per problem (-1: no answer)
    scores: Optional[Tensor] = None    # float verifier scores (NaN: none)
    keep: Optional[Tensor] = None      # bool filter (CoTnPoT: program and CoT answers agree)


def _pick(method: str, c: Candidates, fallback: str) -> Tensor:
    if method == "maj":
        return vote(c.classes, c.valid).index
    if method == "rm":
        return best_of_n(c.scores, c.valid)
    if method == "weighted":
        return vote(c.classes, c.valid, weights=c.scores).index
    if method == "filtered":
        return best_of_n(c.scores, c.valid, c.keep, fallback)
    if method == "filtered_maj":
        return vote(c.classes, c.valid, keep=c.keep, fallback=fallback).index
    raise ValueError(f"method must be one of {METHODS}, got {method!r}")


def _needs(method: str) -> Tuple[str, ...]:
    return {"pass": (), "maj": ("classes",), "rm": ("scores",), "weighted": ("classes", "scores"),
            "filtered": ("scores", "keep"), "filtered_maj": ("classes", "keep"), "random": ()}[method]


def accuracy_at_k(method: str, cands: Candidates, k: int, max_subsets: int = 4096, samples: int = 1000,
                  seed: int = 0, fallback: str = "all") -> Tensor:
    """Per-problem expected accuracy (float64 ``[P]``) of ``method`` on size-k subsets; see the module doc."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    for name in _needs(method):
        if getattr(cands, name) is None:
            raise ValueError(f"{method}@k needs {name}, which these candidates do not have")
    n = cands.valid.sum(1)
    n_correct = (cands.correct & cands.valid).sum(1)
    if method == "pass":
        return pass_at_k(n, n_correct, k)
    if method == "random":   # a uniformly random candidate of a random subset: the mean accuracy, at every k
        return n_correct.double() / n.clamp_min(1).double()
    # Valid candidates first, in their order, so a problem's candidates are its first n columns.
    order = torch.sort((~cands.valid).to(torch.uint8), dim=1, stable=True).indices
    fields = {name: (None if t is None else t.gather(1, order)) for name, t in cands._asdict().items()}
    generator = torch.Generator().manual_seed(seed)
    out = torch.zeros(cands.valid.shape[0], dtype=torch.float64)
    for size in sorted(set(n.tolist())):
        rows = (n == size).nonzero().flatten()
        if size == 0:
            continue   # no candidate: accuracy 0
        subsets = subset_indices(size, k, max_subsets, samples, generator)   # [S, k']
        S, kk = subsets.shape
        def take(t):
            return None if t is None else t[rows][:, subsets].reshape(len(rows) * S, kk)
        sub = Candidates(**{name: take(t) for name, t in fields.items()})
        if sub.classes is not None:   # ids must stay below the subset size: renumber by first appearance
            sub = sub._replace(classes=_renumber(sub.classes))
        picked = _pick(method, sub, fallback)
        hit = sub.correct.gather(1, picked.clamp_min(0)[:, None]).squeeze(1) & (picked >= 0)
        out[rows] = hit.reshape(len(rows), S).double().mean(1)
    return out


def _renumber(classes: Tensor) -> Tensor:
    """Class ids renumbered per row to ``[0, k)`` by first appearance (negative ids stay -1); O(k log k)
    per row, so sampled subsets of hundreds of candidates stay cheap."""
    R, k = classes.shape
    if k == 0:
        return classes.clone()
    big = torch.iinfo(torch.long).max
    keyed = torch.where(classes >= 0, classes, torch.full_like(classes, big))
    values, order = keyed.sort(dim=1, stable=True)            # equal ids together, original order within
    starts = torch.ones_like(values, dtype=torch.bool)
    starts[:, 1:] = values[:, 1:] != values[:, :-1]
    group = starts.long().cumsum(1) - 1                        # group of each sorted element
    # Each group's first original position (the no-answer group last); column k collects the non-starts
    # and is dropped.
    first = torch.full((R, k + 1), big, dtype=torch.long)
    first.scatter_(1, torch.where(starts, group, torch.full_like(group, k)),
                   torch.where(values == big, torch.full_like(order, big - 1), order))
    rank = first[:, :k].argsort(dim=1).argsort(dim=1)          # groups ranked by first appearance
    out = torch.empty_like(classes)
    out.scatter_(1, order, rank.gather(1, group))
    return torch.where(classes >= 0, out, torch.full_like(out, -1))


class Estimate(NamedTuple):
    value: float   # mean over problems, in percent
    low: float     # bootstrap confidence interval, percent
    high: float


def bootstrap_ci(per_problem: Tensor, resamples: int = 1000, confidence: float = 0.95, seed: int = 0) -> Estimate:
    """Mean (percent) and a percentile-bootstrap interval over problems."""
    x = per_problem.double()
    if x.numel() == 0:
        return Estimate(float("nan"), float("nan"), float("nan"))
    g = torch.Generator().manual_seed(seed)
    idx = torch.randint(0, x.numel(), (resamples, x.numel()), generator=g)
    means = x[idx].mean(1)
    alpha = (1.0 - confidence) / 2
    low, high = torch.quantile(means, torch.tensor([alpha, 1 - alpha], dtype=torch.float64)).tolist()
    return Estimate(100 * x.mean().item(), 100 * low, 100 * high)


def default_ks(n_max: int) -> Sequence[int]:
    """1, 2, 4, ... up to and including ``n_max``."""
    ks, k = [], 1
    while k < n_max:
        ks.append(k)
        k *= 2
    return ks + [n_max] if n_max >= 1 else []
