"""Best-of-N metrics over N samples per problem: pass@k, maj@k, rm@k, weighted@k and the filtered methods.

Every metric at k is the expectation, over the size-k subsets of a problem's N candidates, of "the
candidate this method picks from the subset is correct" (a problem with fewer than k candidates uses all
of them). How each is computed, cheapest first:

- closed forms: pass@k (Chen et al. 2021, ``1 - C(n-c, k) / C(n, k)``), random (the mean accuracy, the
  same at every k), rm@k and CoTnPoT's filtered rm@k: a candidate is the pick of a k-subset when the subset
  holds it and nothing ranked above it, a ratio of binomials (with the filter: nothing kept above it, or,
  for the fall-back, nothing kept at all);
- an exact count for majority votes (maj@k, and the filtered vote as a hypergeometric mixture of votes
  among the kept and among the rest): :func:`cotnpot._C.majority_accuracy_exact`, every k at once;
- every subset, or ``samples`` seeded subsets when there are more than ``max_subsets``, for weighted votes
  and the first-seen tie rule (:func:`cotnpot._C.vote_accuracy`); the sampled cells carry their sampling
  variance, which :func:`bootstrap_ci` adds to the interval.

Ties: ``"fair"`` (default) counts each tied class (or each tied top-scored candidate) equally; a class is
judged by the share of its members that are correct (the grader's tolerance is not transitive, so one
class can hold members with different labels). ``"first"`` is the harness rule (lowest index, class seen
first, judged by its first member), kept to reproduce published figures that used it. Weights of a
weighted vote must be non-negative.

    >>> import torch
    >>> from cotnpot.pipeline import metrics
    >>> metrics.pass_at_k(torch.tensor([5]), torch.tensor([2]), 2)       # 1 - C(3,2)/C(5,2)
    tensor([0.7000], dtype=torch.float64)
    >>> c = metrics.Candidates(correct=torch.tensor([[True, False]]), valid=torch.ones(1, 2, dtype=torch.bool),
    ...                        classes=torch.tensor([[0, 1]]))
    >>> metrics.accuracy_at_k("maj", c, 2)                            # a tie: each class half the time
    tensor([0.5000], dtype=torch.float64)
"""
import math
import numbers
import operator
from typing import Dict, NamedTuple, Optional, Sequence, Tuple

import torch
from torch import Tensor

from .._extension import _C

METHODS = ("pass", "maj", "rm", "weighted", "filtered", "filtered_maj", "random")
TIES = ("fair", "first")
FALLBACKS = ("all", "none")
MIN_PROBLEMS_FOR_INTERVAL = 10      # fewer problems: a mean only, no bootstrap interval
# The exact vote count is O(n^3) per problem (25-75 ms at n = 500 on one core, more with more answer classes);
# beyond, votes are sampled.
# 512 covers the usual 256/300/500 samples per problem (at 256, OVM's n = 300 and 500 files were sampled,
# about a point off with their few problems: found by a checker).
EXACT_MAJORITY_MAX_N = 512
_CHUNK = 512                        # problems per C++ call, so Ctrl-C is answered between calls
_PRODUCT_MAX_K = 4096               # C(a, k) / C(n, k) as a product up to this many factors, summed beyond


def pass_at_k(n: Tensor, c: Tensor, k: int) -> Tensor:
    """Unbiased pass@k per problem from n samples of which c are correct (float64 ``[P]``); for ``n < k``
    the problem is scored on its n samples (pass@n)."""
    n, c = _counts("n", n), _counts("c", c)
    _check_k(k)
    try:   # a scalar n for every problem's c, as before
        n, c = torch.broadcast_tensors(n, c)
    except RuntimeError:
        raise ValueError(f"pass_at_k: n and c must have shapes that broadcast, got {tuple(n.shape)} and "
                         f"{tuple(c.shape)}") from None
    bad = (c > n) | (c < 0)
    if bool(bad.any()):   # named with the values seen and where (the message had named neither: a reviewer)
        i = tuple(bad.nonzero()[0].tolist()) if bad.dim() else ()
        where = "" if not i else f" at index {i[0] if len(i) == 1 else i}"
        raise ValueError(f"pass_at_k: need 0 <= c <= n for every problem, got c = {int(c[i])} and n = {int(n[i])}"
                         f"{where}")
    kk = n.clamp_max(min(k, 2 ** 63 - 1))   # a k past int64 is past every n (2**70 had raised OverflowError)
    out = 1.0 - _comb_ratio(n - c, n, kk)
    return torch.where(n > 0, out, torch.zeros_like(out))


def _log_comb(a: Tensor, b: Tensor) -> Tensor:
    a, b = a.double(), b.double()
    ok = (b >= 0) & (b <= a)
    value = torch.lgamma(a + 1) - torch.lgamma(b + 1) - torch.lgamma((a - b).clamp_min(0) + 1)
    return torch.where(ok, value, torch.full_like(value, -math.inf))


def _comb_ratio(a: Tensor, n: Tensor, k: Tensor) -> Tensor:
    """C(a, k) / C(n, k) (0 where a < k), elementwise, float64.

    A product of whichever form has fewer factors, m = min(k, d) with d = n - a: over i < k of
    (a - i) / (n - i) = 1 - d / (n - i), or over j < d of 1 - k / (n - j) (the Codex paper's form;
    C(n-d, k) / C(n, k) = C(n-k, d) / C(n, d)); each factor 1 - r / u for u from n down to n - m + 1. Up to
    ``_PRODUCT_MAX_K`` factors, summed in log1p; beyond, that sum by Euler-Maclaurin
    (:func:`_log_product_summed`). lgamma's differences had lost the digits that ``1 -`` this ratio keeps:
    pass@1 of 1 correct in 10^7 samples came out 1.19e-7, not 1e-7; pass@10^6 of 1 in 10^12 -0.0039, a
    negative probability (a breaker); pass@5000 of 5000 in 10^15 0.98, not 2.5e-8 (a reviewer)."""
    a, n, k = torch.broadcast_tensors(a.double(), n.double(), k.double())
    d = n - a
    m = torch.minimum(k, d)
    r = torch.where(k <= d, d, k)
    out = torch.zeros_like(n)   # a < k: no k-subset avoids the d
    small, large = (a >= k) & (m <= _PRODUCT_MAX_K), (a >= k) & (m > _PRODUCT_MAX_K)
    if bool(small.any()):
        rr, nn, mm = r[small, None], n[small, None], m[small, None]
        log_ratio = torch.zeros(rr.shape[0], dtype=torch.float64)
        # The factors in [problems, columns] blocks of about 2^20 values: few steps, bounded memory.
        most = int(mm.max().item())
        columns = max(1, min(most, (1 << 20) // rr.shape[0]))
        for start in range(0, most, columns):
            i = torch.arange(start, start + columns, dtype=torch.float64)
            terms = torch.log1p(-rr / (nn - i).clamp_min(1.0))
            log_ratio += torch.where(mm > i, terms, torch.zeros((), dtype=torch.float64)).sum(1)
        out[small] = torch.exp(log_ratio)
    if bool(large.any()):
        out[large] = torch.exp(_log_product_summed(n[large], m[large], r[large])).clamp(0.0, 1.0)
    return out


def _log_product_summed(n: Tensor, m: Tensor, r: Tensor) -> Tensor:
    """The sum over u from A = n - m + 1 to n of g(u) = log1p(-r / u) (each u > r), by Euler-Maclaurin: the
    integral of g, whose antiderivative is u log1p(-r/u) - r log(u - r), written with log1p so that nothing
    of the order of n log n cancels; half of g at both ends; and the corrections in the first and third
    derivatives. The third is at most 2 where u - r >= 1, so the first term left out (in the fifth) stays
    below 1e-3 even where the factors come near zero, and there the ratio is below 1/A anyway."""
    A, B = n - m + 1, n

    def g(u):
        return torch.log1p(-r / u)

    def first(u):
        return r / (u * (u - r))

    def third(u):
        return 2 / (u - r) ** 3 - 2 / u ** 3

    integral = B * g(B) - A * g(A) - r * torch.log1p((B - A) / (A - r))
    return integral + (g(A) + g(B)) / 2 + (first(B) - first(A)) / 12 - (third(B) - third(A)) / 720


def _counts(name: str, t) -> Tensor:
    """Whole-number counts as int64; a fractional count is refused rather than truncated."""
    t = torch.as_tensor(t)
    if t.is_floating_point():
        if not bool(torch.isfinite(t).all()) or not bool((t == t.round()).all()):
            bad = t[~(torch.isfinite(t) & (t == t.round()))][0].item()
            raise ValueError(f"pass_at_k: {name} must hold whole numbers, got {bad}")
        big = t.abs() >= 2.0 ** 63
        if bool(big.any()):   # .long() had wrapped 1e30 to -2**63, a count the caller never passed (a breaker)
            raise ValueError(f"pass_at_k: {name} must hold counts that fit int64, got {t[big][0].item()}")
    elif t.dtype == torch.bool or t.is_complex():
        raise ValueError(f"pass_at_k: {name} must hold whole numbers, got dtype {t.dtype}")
    return t.long()


def _check_k(k) -> None:
    if isinstance(k, bool) or not isinstance(k, numbers.Integral):
        raise ValueError(f"k must be a positive integer, got {k!r}")
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")


class Candidates(NamedTuple):
    """The tensors a metric needs, ``[P, N]`` each (a :class:`cotnpot.pipeline.data.CandidateTable` gives
    ``labels()``, ``valid()`` and ``scores()``)."""
    correct: Tensor                    # bool
    valid: Tensor                      # bool: a real candidate (False at padding)
    classes: Optional[Tensor] = None   # int64 answer-class ids per problem (-1: no answer)
    scores: Optional[Tensor] = None    # float verifier scores (NaN: none)
    keep: Optional[Tensor] = None      # bool filter (CoTnPoT: program and CoT answers agree)
    weights: Optional[Tensor] = None   # non-negative vote weights for weighted@k (default: the scores)


class AtK(NamedTuple):
    """One method at one k, per problem (float64 ``[P]`` each)."""
    value: Tensor              # expected accuracy
    variance: Tensor           # sampling variance of ``value`` (0 where exact)
    sampled: Tensor            # bool: estimated from sampled subsets
    fallback: Optional[Tensor] = None   # filtered methods: expected share of subsets with nothing kept


def _needs(method: str) -> Tuple[str, ...]:
    return {"pass": (), "maj": ("classes",), "rm": ("scores",), "weighted": ("classes",),
            "filtered": ("scores", "keep"), "filtered_maj": ("classes", "keep"), "random": ()}[method]


def _check(method: str, cands: Candidates, ks: Sequence[int], ties: str, fallback: str) -> None:
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if ties not in TIES:
        raise ValueError(f"ties must be one of {TIES}, got {ties!r}")
    if fallback not in FALLBACKS:
        raise ValueError(f"fallback must be one of {FALLBACKS}, got {fallback!r}")
    for k in ks:
        _check_k(k)
    for name in _needs(method):
        if getattr(cands, name) is None:
            raise ValueError(f"{method}@k needs {name}, which these candidates do not have")
    if method == "weighted" and cands.weights is None and cands.scores is None:
        raise ValueError("weighted@k needs weights (or scores), which these candidates do not have")
    _check_tensors(cands)
    if "classes" in _needs(method):
        _check_classes(cands)


def _check_classes(cands: Candidates) -> None:
    """Class ids of valid candidates below N (negative: no answer). Problems of more than
    EXACT_MAJORITY_MAX_N candidates had renumbered the others' ids first, so an id past N passed unseen in
    such a batch and was refused, named as an internal op's argument, in another (a reviewer)."""
    classes, valid = cands.classes, cands.valid
    bad = valid & (classes >= classes.shape[1])
    if bool(bad.any()):
        p, j = bad.nonzero()[0].tolist()
        raise ValueError(f"Candidates.classes must be ids in [0, N) = [0, {classes.shape[1]}) (negative: no answer), "
                         f"got {int(classes[p, j])} at problem {p}, candidate {j}")


def _check_seed(seed) -> int:
    """The seed as a Python int the generators take, with seed + 1 (the bootstrap's second): from -2^63 to
    2^64 - 2, as `cotnpot eval --seed`; numpy and 0-d tensor integers accepted. torch's generators take seeds
    modulo 2^64, so -3 and 2^64 - 3 are one seed; past that range a seed had been reduced silently (2^70 was
    seed 0: a reviewer)."""
    try:
        value = operator.index(seed) if not isinstance(seed, bool) else None
    except TypeError:
        value = None
    if value is None or not -2 ** 63 <= value < 2 ** 64 - 1:
        raise ValueError(f"seed must be an int from -2^63 to 2^64 - 2, got {seed!r}")
    return value


# What each field of Candidates must hold: every one [P, N] like `valid`.
_KINDS = {"correct": "bool", "valid": "bool", "classes": "integer", "scores": "floating-point", "keep": "bool",
          "weights": "floating-point"}


def _check_tensors(cands: Candidates) -> None:
    """Each given field a tensor of its kind and of valid's [P, N] shape: a [P, 1] score column broadcast
    into ties, and an integer mask was read as another field (``correct & valid`` promoted it)."""
    shape = None
    for name, kind in _KINDS.items():
        t = getattr(cands, name)
        if t is None:
            continue
        if not isinstance(t, Tensor):
            raise ValueError(f"Candidates.{name} must be a tensor, got {type(t).__name__}")
        ok = {"bool": t.dtype == torch.bool,
              "integer": not t.is_floating_point() and not t.is_complex() and t.dtype != torch.bool,
              "floating-point": t.is_floating_point()}[kind]
        if not ok:
            article = "an" if kind == "integer" else "a"
            raise ValueError(f"Candidates.{name} must be {article} {kind} tensor, got dtype {t.dtype}")
        if shape is None:
            if t.dim() != 2:
                raise ValueError(f"Candidates.{name} must be [P, N] (problems x candidates), got shape {tuple(t.shape)}")
            shape = t.shape
        elif t.shape != shape:
            raise ValueError(f"Candidates.{name} must be [P, N] = {tuple(shape)} like Candidates.correct, "
                             f"got shape {tuple(t.shape)}")


def accuracy_at_k(method: str, cands: Candidates, k: int, max_subsets: int = 4096, samples: int = 1000,
                  seed: int = 0, fallback: str = "all", ties: str = "fair") -> Tensor:
    """Per-problem expected accuracy (float64 ``[P]``) of ``method`` on size-k subsets; see the module doc."""
    return accuracy_curve(method, cands, [k], max_subsets, samples, seed, fallback, ties)[k].value


def accuracy_curve(method: str, cands: Candidates, ks: Sequence[int], max_subsets: int = 4096,
                   samples: int = 1000, seed: int = 0, fallback: str = "all", ties: str = "fair") -> Dict[int, AtK]:
    """``method`` at every k of ``ks``: value, sampling variance and which problems were sampled."""
    _check(method, cands, ks, ties, fallback)
    seed = _check_seed(seed)
    if cands.classes is not None and cands.classes.dtype != torch.long:
        # any integer ids (int8, uint8, int16, int32) as the C++ counts take them; int16 ids had failed there,
        # named as the internal op's argument (found by a checker)
        cands = cands._replace(classes=cands.classes.long())
    valid = cands.valid
    correct = cands.correct & valid
    n = valid.sum(1)
    zeros = torch.zeros(valid.shape[0], dtype=torch.float64)
    exact = torch.zeros(valid.shape[0], dtype=torch.bool)
    out: Dict[int, AtK] = {}
    if method == "pass":
        return {k: AtK(pass_at_k(n, correct.sum(1), k), zeros, exact) for k in ks}
    if method == "random":   # a uniformly random candidate of a random subset: the mean accuracy, at every k
        mean = correct.sum(1).double() / n.clamp_min(1).double()
        return {k: AtK(mean, zeros, exact) for k in ks}
    if method in ("rm", "filtered"):
        return _best_of_subsets(cands, n, ks, ties, fallback, filtered=method == "filtered")
    if method in ("maj", "filtered_maj") and ties == "fair":
        small = n <= EXACT_MAJORITY_MAX_N   # the exact count per problem where it is cheap, sampling beyond
        if bool(small.all()) and valid.shape[1] <= EXACT_MAJORITY_MAX_N:
            return _majority_exact(cands, n, ks, fallback, filtered=method == "filtered_maj")
        if bool(small.any()):
            exact_part = _majority_exact(_packed(cands, small), n[small], ks, fallback,
                                         filtered=method == "filtered_maj")
            if bool(small.all()):
                return exact_part
            sampled_part = accuracy_curve(method, _rows(cands, ~small), ks, max_subsets, samples, seed, fallback,
                                          ties)
            return {k: _merge(small, exact_part[k], sampled_part[k]) for k in ks}
    weights = None
    if method == "weighted":
        weights = cands.weights if cands.weights is not None else cands.scores
        _check_weights(weights, valid & (cands.classes >= 0))
    keep = cands.keep if method == "filtered_maj" else None
    for k in ks:
        parts = [_C.vote_accuracy(cands.classes[s], correct[s], valid[s], None if weights is None else weights[s],
                                  None if keep is None else keep[s], fallback, ties, k, samples, max_subsets,
                                  (seed * 1_000_003 + s.start) % 2**64)
                 for s in _chunks(valid.shape[0])]
        value, variance, was_exact = (torch.cat(t) for t in zip(*parts))
        share = _fallback_share(cands, n, k) if keep is not None else None
        out[k] = AtK(value.double(), variance.double(), ~was_exact, share)
    return out


def _check_weights(weights: Tensor, voting: Tensor) -> None:
    """Negative weights refused where they vote (a candidate with no answer, as in :func:`cotnpot.vote`,
    votes for nothing, whatever its weight)."""
    negative = voting & torch.isfinite(weights) & (weights < 0)
    if bool(negative.any()):
        p, j = negative.nonzero()[0].tolist()
        raise ValueError(f"weighted@k needs non-negative weights (a vote adds them up), got {weights[p, j].item()} "
                         f"at problem {p}, candidate {j}; for a verifier's average log-probs weigh by their exp "
                         f"(the solution's per-token probability)")


def _rows(cands: Candidates, rows: Tensor) -> Candidates:
    return Candidates(*(None if t is None else t[rows] for t in cands))


def _packed(cands: Candidates, rows: Tensor) -> Candidates:
    """The chosen problems with their valid candidates moved to the front, cut to the widest of them, and
    class ids renumbered below that width (what the exact count needs)."""
    sub = _rows(cands, rows)
    order = torch.sort((~sub.valid).to(torch.uint8), dim=1, stable=True).indices
    width = max(int(sub.valid.sum(1).max()) if sub.valid.numel() else 0, 1)
    sub = Candidates(*(None if t is None else t.gather(1, order)[:, :width] for t in sub))
    classes = torch.where(sub.valid, sub.classes.long(), torch.full_like(sub.classes, -1, dtype=torch.long))
    return sub._replace(classes=_renumber(classes))


def _merge(mask: Tensor, a: AtK, b: AtK) -> AtK:
    """Per-problem results of two groups of problems (``mask``: the first group) back in one order."""
    def put(x, y, dtype):
        out = torch.zeros(mask.shape[0], dtype=dtype)
        out[mask], out[~mask] = x, y
        return out
    share = None if a.fallback is None else put(a.fallback, b.fallback, torch.float64)
    return AtK(put(a.value, b.value, torch.float64), put(a.variance, b.variance, torch.float64),
               put(a.sampled, b.sampled, torch.bool), share)


def _renumber(classes: Tensor) -> Tensor:
    """Class ids renumbered per row to ``[0, k)`` by first appearance (negative ids stay -1); O(k log k)
    per row, so sampled subsets of hundreds of candidates stay cheap."""
    classes = classes.long()   # int32 ids too: the no-answer key below is int64's largest
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



def _chunks(P: int, rows: int = _CHUNK):
    return [slice(i, min(i + rows, P)) for i in range(0, P, rows)] or [slice(0, 0)]


def _eligible(cands: Candidates, filtered: bool) -> Tuple[Tensor, Optional[Tensor]]:
    pickable = cands.valid & ~torch.isnan(cands.scores)
    kept = pickable & cands.keep if filtered else None
    return pickable, kept


def _fallback_share(cands: Candidates, n: Tensor, k: int, kept: Optional[Tensor] = None) -> Tensor:
    """Expected share of k-subsets in which the filter keeps no candidate: C(n - kept, k) / C(n, k)."""
    if kept is None:
        kept = cands.valid & cands.keep & (cands.classes >= 0 if cands.classes is not None else True)
    kk = n.clamp_max(min(k, 2 ** 63 - 1))
    return torch.where(n > 0, _comb_ratio(n - kept.sum(1), n, kk), torch.zeros(n.shape, dtype=torch.float64))


def _ranks(scores: Tensor, member: Tensor, ties: str) -> Tuple[Tensor, Tensor]:
    """Per member candidate: how many members rank strictly above it, and the size of its tie group
    ("fair"; with "first" ties are broken by index, so the first value is the strict rank and the group 1)."""
    s = torch.where(member, scores.double(), torch.full_like(scores, -math.inf, dtype=torch.float64))
    P, N = s.shape
    earlier = torch.ones(N, N, dtype=torch.bool).tril(-1)
    above, group = torch.zeros(P, N, dtype=torch.long), torch.ones(P, N, dtype=torch.long)
    step = max(1, (1 << 24) // max(N * N, 1))   # [rows, N, N] comparisons, about 16M at a time
    for r in range(0, P, step):
        m, x = member[r:r + step], s[r:r + step]
        above[r:r + step] = (m[:, None, :] & (x[:, None, :] > x[:, :, None])).sum(-1)
        tied = m[:, None, :] & (x[:, None, :] == x[:, :, None])
        if ties == "first":
            above[r:r + step] += (tied & earlier).sum(-1)
        else:
            group[r:r + step] = tied.sum(-1).clamp_min(1)
    return above, group


def _pick_chance(ranks: Tuple[Tensor, Tensor], member: Tensor, pool: Tensor, n: Tensor, k: int) -> Tensor:
    """For each member candidate: the chance that a uniform k-subset of the problem's n candidates holds it
    and no member ranked above it, drawing only from ``pool`` candidates (the others kept out of the
    subset). A group of g tied members shares its chance equally:
    (C(pool - above, k) - C(pool - above - g, k)) / C(n, k) / g."""
    above, g = ranks
    kk = n.clamp_max(min(k, 2 ** 63 - 1))[:, None]
    total = _log_comb(n[:, None], kk)
    a = pool[:, None] - above
    chance = (torch.exp(_log_comb(a, kk) - total) - torch.exp(_log_comb(a - g, kk) - total)) / g
    return torch.where(member, chance.nan_to_num(0.0), torch.zeros_like(chance))


def _best_of_subsets(cands: Candidates, n: Tensor, ks: Sequence[int], ties: str, fallback: str,
                     filtered: bool) -> Dict[int, AtK]:
    correct = (cands.correct & cands.valid).double()
    pickable, kept = _eligible(cands, filtered)
    zeros, exact = torch.zeros(n.shape, dtype=torch.float64), torch.zeros(n.shape, dtype=torch.bool)
    out = {}
    if not filtered:
        ranks = _ranks(cands.scores, pickable, ties)
        for k in ks:
            out[k] = AtK((_pick_chance(ranks, pickable, n, n, k) * correct).sum(1), zeros, exact)
        return out
    rest = pickable & ~kept
    kept_ranks, rest_ranks = _ranks(cands.scores, kept, ties), _ranks(cands.scores, rest, ties)
    for k in ks:
        chance = _pick_chance(kept_ranks, kept, n, n, k)
        if fallback == "all":   # subsets with nothing kept: the best of the rest, drawn from the n - |kept| others
            chance = chance + _pick_chance(rest_ranks, rest, n - kept.sum(1), n, k)
        out[k] = AtK((chance * correct).sum(1), zeros, exact, _fallback_share(cands, n, k, kept))
    return out


def _majority_exact(cands: Candidates, n: Tensor, ks: Sequence[int], fallback: str, filtered: bool) -> Dict[int, AtK]:
    def curve(valid):   # [P, N]: column j-1 = majority accuracy at j over the pool `valid`
        # fewer problems per call where each costs more (O(N^3)): a call stays within about a second
        rows = max(1, int(_CHUNK * min(1.0, (128 / max(valid.shape[1], 1)) ** 3)))
        parts = [_C.majority_accuracy_exact(cands.classes[s], cands.correct[s], valid[s])
                 for s in _chunks(valid.shape[0], rows)]
        return torch.cat(parts)
    P, N = cands.valid.shape
    zeros, exact = torch.zeros(P, dtype=torch.float64), torch.zeros(P, dtype=torch.bool)
    if not filtered:
        table = curve(cands.valid)
        return {k: AtK(table[:, min(k, N) - 1] if N else zeros, zeros, exact) for k in ks}
    # A k-subset holding j kept candidates votes among them: a uniform j-subset of the kept ones; one holding
    # none falls back to a vote of a uniform k-subset of the others (hypergeometric weights over j).
    kept = cands.valid & cands.keep & (cands.classes >= 0)
    among_kept, among_rest = curve(kept), curve(cands.valid & ~kept)
    n_kept = kept.sum(1)
    out = {}
    for k in ks:
        kk = n.clamp_max(min(k, 2 ** 63 - 1))
        total = _log_comb(n, kk)
        value = torch.zeros(P, dtype=torch.float64)
        for j in range(1, min(k, N) + 1):
            weight = torch.exp(_log_comb(n_kept, torch.full_like(n, j)) + _log_comb(n - n_kept, kk - j) - total)
            value += weight.nan_to_num(0.0) * among_kept[:, j - 1]
        share = _fallback_share(cands, n, k, kept)
        if fallback == "all" and N:
            value += share * among_rest.gather(1, (kk.clamp_min(1) - 1)[:, None]).squeeze(1)
        out[k] = AtK(value, zeros, exact, share)
    return out


class Estimate(NamedTuple):
    value: float            # mean over problems, in percent
    low: float              # bootstrap confidence interval, percent (NaN: too few problems for one)
    high: float
    sampled: bool = False   # some problems' values come from sampled subsets (their error is in the interval)


# Resampled problem indices made at a time: 10^6 resamples of 1,319 problems at once had taken 24 GB and the
# OOM killer had ended the run, report unwritten (a breaker). A run within it draws as before.
RESAMPLE_CHUNK_ELEMENTS = 1 << 24


def _resampled_means(x: Tensor, w: Tensor, variance: Optional[Tensor], resamples: int, seed: int) -> Tensor:
    """Each resample's weighted mean of x, and the standard deviation of that mean where ``variance`` is given,
    drawn in chunks of at most RESAMPLE_CHUNK_ELEMENTS indices (the same draws as all at once)."""
    P = x.numel()
    g = torch.Generator().manual_seed(seed)
    rows = max(1, RESAMPLE_CHUNK_ELEMENTS // P)
    means, sds = [], []
    for start in range(0, resamples, rows):
        idx = torch.randint(0, P, (min(rows, resamples - start), P), generator=g)
        wi = w[idx]
        total = wi.sum(1).clamp_min(1e-300)
        means.append((x[idx] * wi).sum(1) / total)
        if variance is not None:
            sds.append(((variance.double()[idx] * wi ** 2).sum(1)).sqrt() / total)
    return torch.cat(means), (torch.cat(sds) if variance is not None else None)


def bootstrap_ci(per_problem: Tensor, resamples: int = 1000, confidence: float = 0.95, seed: int = 0,
                 variance: Optional[Tensor] = None, weights: Optional[Tensor] = None,
                 min_problems: int = MIN_PROBLEMS_FOR_INTERVAL) -> Estimate:
    """Mean (percent) and a percentile-bootstrap interval over problems.

    ``variance``: each problem's sampling variance (sampled subsets); each resample's mean then gets a
    normal draw with the variance of that resample's mean, the inner level of a two-level bootstrap by its
    normal approximation. ``weights``: a weighted mean (e.g. candidates per problem, for a mean over all
    candidates). The same ``seed`` resamples the same problems, so intervals of two methods are paired;
    :func:`paired_difference` bootstraps a difference on those resamples. No interval below
    ``min_problems`` problems (a mean only); no problem at all (or all of weight 0): a NaN mean. A value
    that is not finite is refused.
    """
    x = torch.as_tensor(per_problem).double()
    resamples, confidence = _check_bootstrap_args(x, resamples, confidence, variance)
    seed = _check_seed(seed)
    P = x.numel()
    if P == 0:
        return Estimate(math.nan, math.nan, math.nan)
    w = torch.ones_like(x) if weights is None else _mean_weights(weights, x)
    if not bool((w > 0).any()):   # nothing weighs anything (no candidate anywhere): no mean, as with no problem
        return Estimate(math.nan, math.nan, math.nan)
    sampled = variance is not None and bool((variance > 0).any())
    value = 100 * (x * w).sum().item() / w.sum().clamp_min(1e-300).item()
    if P < min_problems:
        return Estimate(value, math.nan, math.nan, sampled)
    means, sd = _resampled_means(x, w, variance if sampled else None, resamples, seed)
    if sampled:
        g = torch.Generator().manual_seed(seed + 1)
        means = means + sd * torch.randn(resamples, generator=g, dtype=torch.float64)
    alpha = (1.0 - confidence) / 2
    low, high = torch.quantile(means, torch.tensor([alpha, 1 - alpha], dtype=torch.float64)).tolist()
    return Estimate(value, 100 * low, 100 * high, sampled)


def _check_bootstrap_args(x: Tensor, resamples, confidence, variance) -> Tuple[int, float]:
    """Each argument named with the value seen (a breaker met IndexError and torch.quantile's messages, and a
    negative variance gave a NaN interval without a word); resamples and confidence as int and float (numpy
    and 0-d tensor scalars accepted, as before the checks: a reviewer)."""
    if x.dim() != 1:
        raise ValueError(f"bootstrap_ci: per_problem must be 1-D [P], got shape {tuple(x.shape)}")
    if not bool(torch.isfinite(x).all()):   # a NaN had made the whole estimate NaN without a word (a reviewer)
        i = int((~torch.isfinite(x)).nonzero()[0])
        raise ValueError(f"bootstrap_ci: per_problem must be finite, got {x[i].item()} at problem {i}")
    try:
        count = operator.index(resamples) if not isinstance(resamples, bool) else None
    except TypeError:
        count = None
    if count is None or count < 1:
        raise ValueError(f"bootstrap_ci: resamples must be an int >= 1, got {resamples!r}")
    try:
        level = float(confidence) if not isinstance(confidence, (bool, str, bytes)) else math.nan
    except (TypeError, ValueError):
        level = math.nan
    if not 0.0 < level < 1.0:
        raise ValueError(f"bootstrap_ci: confidence must be in (0, 1), got {confidence!r}")
    if variance is not None:
        v = torch.as_tensor(variance)
        if v.shape != x.shape:
            raise ValueError(f"bootstrap_ci: variance must have per_problem's shape {tuple(x.shape)}, "
                             f"got {tuple(v.shape)}")
        bad = ~torch.isfinite(v) | (v < 0)
        if bool(bad.any()):
            raise ValueError(f"bootstrap_ci: variance must be finite and non-negative, got {v[bad][0].item()} "
                             f"at problem {int(bad.nonzero()[0])}")
    return count, level


def _mean_weights(weights: Tensor, x: Tensor) -> Tensor:
    """Weights of a weighted mean: one per problem, finite and non-negative (negative ones gave means of
    -5e302)."""
    w = torch.as_tensor(weights).double()
    if w.shape != x.shape:
        raise ValueError(f"bootstrap_ci: weights must have per_problem's shape {tuple(x.shape)}, got {tuple(w.shape)}")
    bad = ~torch.isfinite(w) | (w < 0)
    if bool(bad.any()):
        raise ValueError(f"bootstrap_ci: weights must be finite and non-negative, got {w[bad][0].item()} "
                         f"at problem {int(bad.nonzero()[0])}")
    return w


def paired_difference(a: AtK, b: AtK, resamples: int = 1000, confidence: float = 0.95, seed: int = 0,
                      min_problems: int = MIN_PROBLEMS_FOR_INTERVAL) -> Estimate:
    """Method a minus method b (percentage points) with a paired bootstrap interval: both on the same
    resampled problems, so what the problems share cancels. Sampling variances add (an upper bound where
    the two used the same subsets)."""
    variance = a.variance + b.variance
    return bootstrap_ci(a.value - b.value, resamples, confidence, seed, variance=variance, min_problems=min_problems)


def default_ks(n_max: int) -> Sequence[int]:
    """1, 2, 4, ... up to and including ``n_max``."""
    ks, k = [], 1
    while k < n_max:
        ks.append(k)
        k *= 2
    return ks + [n_max] if n_max >= 1 else []


def curves(plan: Sequence[Tuple[str, str, Candidates]], ks: Sequence[int], samples: int = 1000, seed: int = 0,
           ties: str = "fair") -> Dict[str, Dict[int, AtK]]:
    """Each ``(row name, method, candidates)`` of a plan at every k: per-problem values, for the intervals,
    the paired differences and the per-problem records. One loop for math and code evaluations."""
    return {label: accuracy_curve(method, cands, ks, samples=samples, seed=seed, ties=ties)
            for label, method, cands in plan}


def intervals(per_row: Dict[str, Dict[int, AtK]], resamples: int = 1000, seed: int = 0) -> Dict[str, Dict[int, Estimate]]:
    """Every row's value at every k with its bootstrap interval (sampling variance included where sampled)."""
    return {label: {k: bootstrap_ci(a.value, resamples, seed=seed, variance=a.variance) for k, a in per_k.items()}
            for label, per_k in per_row.items()}
