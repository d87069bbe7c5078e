"""Metrics: pass@k against its closed form and brute force, subset metrics against a brute-force
enumeration with the reference selection, seeded sampling against the exact value, bootstrap intervals,
and the Qwen2.5-Math example's published figures (rm@8 94, maj@8 93, pass@8 96, mean 91)."""
import math
from itertools import combinations
from pathlib import Path

import pytest
import torch

import cotnpot
from cotnpot import _C, reference

from cotnpot.pipeline import metrics
from cotnpot.pipeline.data import load_candidates

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("n,c,k", [(5, 2, 2), (10, 0, 3), (10, 10, 1), (8, 3, 8), (7, 1, 1), (20, 4, 6), (3, 2, 5)])
def test_pass_at_k_closed_form_and_brute_force(n, c, k):
    got = metrics.pass_at_k(torch.tensor([n]), torch.tensor([c]), k).item()
    kk = min(k, n)
    closed = 1.0 if n - c < kk else 1.0 - math.comb(n - c, kk) / math.comb(n, kk)
    items = [True] * c + [False] * (n - c)
    brute = sum(any(items[i] for i in s) for s in combinations(range(n), kk)) / math.comb(n, kk)
    assert got == pytest.approx(closed, abs=1e-12) and got == pytest.approx(brute, abs=1e-12)


@pytest.mark.parametrize("n,c,k", [(10**12, 1, 10**6), (10**9, 1, 10**6), (10**9, 3, 10**6), (10**7, 2, 5000),
                                   (10**6, 5000, 5000),
                                   # a reviewer: both past 4096 had stayed with lgamma (0.0 for 2.5e-5, 0.98 for 2.5e-8)
                                   (10**12, 5000, 5000), (10**15, 5000, 5000), (10**13, 4097, 4097), (10**10, 5000, 5000)])
def test_pass_at_k_with_many_samples_keeps_its_digits(n, c, k):
    """Found by a breaker: past 4096 factors the ratio came from lgamma's differences, which lose the digits
    of a small pass@k: 10^6 of 10^12 samples with one correct gave -0.0039, a negative probability (the
    truth is k/n = 1e-6), and with 10^9 samples it was 0.28% off. The product now runs over the fewer of k
    and c factors (the Codex paper's form); lgamma is left only where both pass 4096, clamped to [0, 1]."""
    got = metrics.pass_at_k(torch.tensor([n]), torch.tensor([c]), k).item()
    # 1 - prod_{j<c} (1 - k / (n - j)), its logs summed exactly rounded
    want = -math.expm1(math.fsum(math.log1p(-k / (n - j)) for j in range(c)))
    assert 0.0 <= got <= 1.0 and got == pytest.approx(want, rel=1e-9)


def test_pass_at_k_past_the_product_equals_the_exact_ratio(monkeypatch):
    """Past _PRODUCT_MAX_K factors the log of the product is summed by Euler-Maclaurin: against exact rationals
    (math.comb, Fraction) with the limit lowered to 8, over random n, c and k."""
    from fractions import Fraction
    import random
    monkeypatch.setattr(metrics, "_PRODUCT_MAX_K", 8)
    rng = random.Random(0)
    for _ in range(120):
        n = rng.randint(20, 3000)
        c, k = rng.randint(0, n), rng.randint(1, n)
        value = metrics.pass_at_k(torch.tensor([n]), torch.tensor([c]), k).item()
        want = float(1 - Fraction(math.comb(n - c, k), math.comb(n, k)))
        assert value == pytest.approx(want, rel=1e-9, abs=1e-15), (n, c, k)


def test_pass_at_k_known_value_and_errors():
    assert metrics.pass_at_k(torch.tensor([5]), torch.tensor([2]), 2).item() == pytest.approx(0.7)
    with pytest.raises(ValueError, match="k must be >= 1"):
        metrics.pass_at_k(torch.tensor([5]), torch.tensor([2]), 0)
    with pytest.raises(ValueError, match="0 <= c <= n for every problem, got c = 6 and n = 5 at index 1"):
        metrics.pass_at_k(torch.tensor([5, 5]), torch.tensor([2, 6]), 1)   # had named neither value nor where


def random_candidates(P, N, seed):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, N + 1, (P,), generator=g)
    valid = torch.arange(N)[None, :] < lengths[:, None]
    classes = torch.randint(-1, 3, (P, N), generator=g)
    correct = classes == 0
    scores = torch.randint(0, 4, (P, N), generator=g).float()     # ties on purpose
    keep = torch.rand(P, N, generator=g) < 0.5
    return metrics.Candidates(correct=correct, valid=valid, classes=classes, scores=scores, keep=keep)


def brute_force_first(method, c, k, fallback="all"):
    """Every subset of every problem through the row-by-row reference selection (ties: first seen)."""
    out = []
    for p in range(c.valid.shape[0]):
        idx = [j for j in range(c.valid.shape[1]) if c.valid[p, j]]
        hits = []
        for s in combinations(idx, min(k, len(idx))):
            s = list(s)
            sub = {name: (None if t is None else t[p:p + 1, s]) for name, t in c._asdict().items()}
            if method == "rm":
                pick = reference.best_of_n(sub["scores"])[0]
            elif method == "filtered":
                pick = reference.best_of_n(sub["scores"], keep=sub["keep"], fallback=fallback)[0]
            else:
                kwargs = {"weights": sub["scores"]} if method == "weighted" else {}
                if method == "filtered_maj":
                    kwargs = {"keep": sub["keep"], "fallback": fallback}
                pick = reference.vote(sub["classes"], **kwargs)[1][0]
            hits.append(bool(pick >= 0 and sub["correct"][0, pick]))
        out.append(sum(hits) / len(hits) if hits else 0.0)
    return torch.tensor(out, dtype=torch.float64)


def fair_choice(method, members, fallback):
    """One subset, fair ties, in plain Python: members are dicts (cls, score, keep, ok). The expected
    correctness of the pick: tied best candidates share equally; tied classes share equally, each judged
    by the share of its members that are correct."""
    if method in ("filtered", "filtered_maj"):
        eligible = [m for m in members if (m["cls"] >= 0 if method == "filtered_maj" else m["score"] == m["score"])]
        kept = [m for m in eligible if m["keep"]]
        if not kept and fallback == "none":
            return 0.0
        members = kept or eligible
        method = "rm" if method == "filtered" else "maj"
    if method == "rm":
        scored = [m for m in members if m["score"] == m["score"]]
        if not scored:
            return 0.0
        best = max(m["score"] for m in scored)
        top = [m["ok"] for m in scored if m["score"] == best]
        return sum(top) / len(top)
    support, oks = {}, {}
    for m in members:
        if m["cls"] < 0:
            continue
        support[m["cls"]] = support.get(m["cls"], 0.0) + (m["score"] if method == "weighted" else 1.0)
        oks.setdefault(m["cls"], []).append(m["ok"])
    if not support:
        return 0.0
    best = max(support.values())
    tied = [cls for cls, v in support.items() if v == best]
    return sum(sum(oks[cls]) / len(oks[cls]) for cls in tied) / len(tied)


def brute_force_fair(method, c, k, fallback="all"):
    out = []
    for p in range(c.valid.shape[0]):
        members = [{"cls": int(c.classes[p, j]), "score": float(c.scores[p, j]), "keep": bool(c.keep[p, j]),
                    "ok": bool(c.correct[p, j])} for j in range(c.valid.shape[1]) if c.valid[p, j]]
        values = [fair_choice(method, list(s), fallback) for s in combinations(members, min(k, len(members)))]
        out.append(sum(values) / len(values) if values else 0.0)
    return torch.tensor(out, dtype=torch.float64)


METHODS = ["maj", "rm", "weighted", "filtered", "filtered_maj"]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("k", [1, 2, 3, 6])
@pytest.mark.parametrize("fallback", ["all", "none"])
def test_subset_metrics_match_brute_force_with_fair_ties(method, k, fallback):
    c = random_candidates(12, 6, seed=k)
    c = c._replace(scores=torch.where(torch.rand(c.scores.shape, generator=torch.Generator().manual_seed(k)) < 0.1,
                                      torch.nan, c.scores))   # NaN scores never win
    got = metrics.accuracy_at_k(method, c._replace(scores=c.scores) if method != "weighted" else
                                c._replace(scores=c.scores.nan_to_num(1.0)), k, fallback=fallback)
    want = brute_force_fair(method, c if method != "weighted" else c._replace(scores=c.scores.nan_to_num(1.0)), k,
                            fallback)
    assert torch.allclose(got, want, atol=1e-12), method


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("k", [1, 2, 3, 6])
def test_subset_metrics_match_brute_force_with_first_seen_ties(method, k):
    c = random_candidates(9, 6, seed=k)
    got = metrics.accuracy_at_k(method, c, k, ties="first")
    assert torch.allclose(got, brute_force_first(method, c, k), atol=1e-12), method


@pytest.mark.parametrize("method", ["maj", "weighted", "filtered_maj"])
def test_sampled_votes_agree_with_the_exact_value_within_their_error(method):
    """The sampler (max_subsets=0 forces it) against the exact value: the exact count for majority votes,
    every subset for the weighted vote."""
    c = random_candidates(40, 14, seed=5)
    exact = metrics.accuracy_curve(method, c, [5])[5]
    assert not exact.sampled.any()
    weights = c.scores if method == "weighted" else None
    keep = c.keep if method == "filtered_maj" else None
    def sample(seed):
        return _C.vote_accuracy(c.classes, c.correct & c.valid, c.valid, weights, keep, "all", "fair", 5, 4000, 0, seed)
    mean, variance, was_exact = sample(1)
    assert not was_exact.any() and (variance > 0).any()
    z = (mean - exact.value) / variance.clamp_min(1e-12).sqrt()
    assert (z.abs() < 5).float().mean() > 0.95
    assert abs(mean.mean() - exact.value.mean()) < 0.01
    assert torch.equal(mean, sample(1)[0]) and not torch.equal(mean, sample(2)[0])   # seeded


def test_sampled_cells_are_marked_and_carry_their_variance():
    c = random_candidates(30, 14, seed=6)
    forced = metrics.accuracy_curve("weighted", c, [5], max_subsets=0, samples=500, seed=1)[5]
    assert forced.sampled.all() and (forced.variance > 0).any()
    est = metrics.bootstrap_ci(forced.value, variance=forced.variance)
    plain = metrics.bootstrap_ci(forced.value)
    assert est.sampled and not plain.sampled
    assert est.high - est.low > plain.high - plain.low    # the sampling error widens the interval


def test_ties_known_values():
    """Two disagreeing candidates, one right: maj@2 is their mean accuracy with fair ties; the harness rule
    gives whatever comes first."""
    c = metrics.Candidates(correct=torch.tensor([[False, True]]), valid=torch.ones(1, 2, dtype=torch.bool),
                           classes=torch.tensor([[0, 1]]), scores=torch.tensor([[0.3, 0.3]]))
    assert metrics.accuracy_at_k("maj", c, 2).item() == 0.5
    assert metrics.accuracy_at_k("rm", c, 2).item() == 0.5
    assert metrics.accuracy_at_k("maj", c, 2, ties="first").item() == 0.0
    assert metrics.accuracy_at_k("rm", c, 2, ties="first").item() == 0.0


def test_weighted_votes_need_non_negative_weights_and_use_probabilities_right():
    """The issue's case: classes [0,0,0,1], scores (average log-probs) [-1,-1,-1,-0.5]. Summed log-probs
    would pick the lone answer; they are refused, and their exp (the per-token probability) picks the three
    -- in both orders of the scores."""
    classes = torch.tensor([[0, 0, 0, 1]])
    valid = torch.ones(1, 4, dtype=torch.bool)
    for cls, logps in ((classes, torch.tensor([[-1.0, -1.0, -1.0, -0.5]])),
                       (torch.tensor([[1, 0, 0, 0]]), torch.tensor([[-0.5, -1.0, -1.0, -1.0]]))):
        c = metrics.Candidates(correct=cls == 0, valid=valid, classes=cls, scores=logps)
        with pytest.raises(ValueError, match="non-negative weights.*exp"):
            metrics.accuracy_at_k("weighted", c, 4)
        assert metrics.accuracy_at_k("weighted", c._replace(weights=logps.exp()), 4).item() == 1.0
        # a per-problem softmax differs from exp by one factor per problem: the same votes
        assert metrics.accuracy_at_k("weighted", c._replace(weights=logps.softmax(1)), 4).item() == 1.0
    with pytest.raises(RuntimeError, match="non-negative"):
        torch.ops.cotnpot.vote(classes, None, torch.tensor([[-1.0, -1.0, -1.0, -0.5]]))


def test_random_is_the_mean_accuracy_and_missing_inputs_are_named():
    c = random_candidates(10, 5, seed=2)
    want = (c.correct & c.valid).sum(1).double() / c.valid.sum(1).double()
    assert torch.allclose(metrics.accuracy_at_k("random", c, 3), want)
    with pytest.raises(ValueError, match="rm@k needs scores"):
        metrics.accuracy_at_k("rm", c._replace(scores=None), 2)
    with pytest.raises(ValueError, match="method must be one of"):
        metrics.accuracy_at_k("best", c, 2)


def test_bootstrap_interval_brackets_the_mean():
    x = torch.tensor([1.0] * 70 + [0.0] * 30)
    est = metrics.bootstrap_ci(x, resamples=2000, seed=3)
    assert est.value == pytest.approx(70.0)
    assert 60 < est.low < 70 < est.high < 80            # binomial sd ~ 4.6 points
    assert metrics.default_ks(8) == [1, 2, 4, 8] and metrics.default_ks(300)[-2:] == [256, 300]


def test_qwen_example_reproduces_its_figures():
    table = load_candidates(ROOT / "data" / "qwen25math_rm_maj_example_math_cot_100.jsonl")
    ids = torch.full((100, 8), -1, dtype=torch.long)
    for i, p in enumerate(table.problems):   # Qwen's rule: votes over exact prediction strings
        seen = {}
        for j, cand in enumerate(p.candidates):
            ids[i, j] = seen.setdefault(cand.answer, len(seen))
    c = metrics.Candidates(correct=table.labels(), valid=table.valid(), classes=ids, scores=table.scores())
    values = {m: 100 * metrics.accuracy_at_k(m, c, 8, ties="first").mean().item() for m in ("rm", "maj", "pass", "random")}
    fair = {m: 100 * metrics.accuracy_at_k(m, c, 8).mean().item() for m in ("rm", "maj")}
    assert values == pytest.approx({"rm": 94.0, "maj": 93.0, "pass": 96.0, "random": 91.0})
    # Fair ties: one problem ties two answers at 8 candidates, the first seen being the right one.
    assert fair == pytest.approx({"rm": 94.0, "maj": 92.5})


def test_one_large_problem_does_not_make_the_others_sampled():
    """The exact vote count is chosen per problem (by its own n), not by the padded width."""
    c = random_candidates(20, 12, seed=9)
    W = metrics.EXACT_MAJORITY_MAX_N + 44   # one problem past the exact count's size
    P, N = c.valid.shape
    wide = metrics.Candidates(*(None if t is None else torch.cat([t, torch.zeros(P, W - N, dtype=t.dtype)], 1)
                                for t in c))
    big = torch.zeros(1, W, dtype=torch.long)
    big_row = metrics.Candidates(correct=torch.ones(1, W, dtype=torch.bool), valid=torch.ones(1, W, dtype=torch.bool),
                                 classes=big, scores=torch.zeros(1, W), keep=torch.ones(1, W, dtype=torch.bool))
    both = metrics.Candidates(*(None if a is None else torch.cat([a, b]) for a, b in zip(wide, big_row)))
    for method in ("maj", "filtered_maj"):
        alone = metrics.accuracy_curve(method, c, [3, 8])
        mixed = metrics.accuracy_curve(method, both, [3, 8], samples=200)
        for k in (3, 8):
            assert torch.allclose(mixed[k].value[:P], alone[k].value, atol=1e-12)
            assert not mixed[k].sampled[:P].any() and mixed[k].sampled[P]
            assert mixed[k].value[P] == 1.0


def test_padding_may_hold_any_id_and_ids_may_be_any_integer_type():
    """Found by a checker: an id out of range at a padding position (valid = False) was refused by the exact
    count and the vote, and int16 ids passed the Python check, then failed in C++ under an internal name."""
    c = random_candidates(12, 6, seed=11)
    padded = c._replace(classes=torch.where(c.valid, c.classes, torch.full_like(c.classes, 99)))
    for method in ("maj", "filtered_maj", "weighted"):
        want = metrics.accuracy_at_k(method, c._replace(weights=c.scores), 3)
        got = metrics.accuracy_at_k(method, padded._replace(weights=c.scores), 3)
        assert torch.equal(got, want), method
        for dtype in (torch.int8, torch.int16, torch.int32):
            small = metrics.accuracy_at_k(method, c._replace(weights=c.scores, classes=c.classes.to(dtype)), 3)
            assert torch.equal(small, want), (method, dtype)
    assert cotnpot.vote(torch.tensor([[0, 5]]), valid=torch.tensor([[True, False]])).index.tolist() == [0]
    with pytest.raises(RuntimeError, match=r"classes must be ids in \[0, N\) = \[0, 2\).*got 5"):
        cotnpot.vote(torch.tensor([[0, 5]]), valid=torch.tensor([[True, True]]))


def test_five_hundred_samples_per_problem_are_counted_exactly():
    """Found by a checker: OVM's files hold 300 and 500 samples per problem, past the old cut of 256, so
    their maj@k was sampled (about a point off on their few problems) where the exact count takes ~30 ms."""
    g = torch.Generator().manual_seed(3)
    classes = torch.randint(0, 40, (3, 500), generator=g)
    ones = torch.ones(3, 500, dtype=torch.bool)
    c = metrics.Candidates(correct=classes == 0, valid=ones, classes=classes, scores=torch.zeros(3, 500), keep=ones)
    got = metrics.accuracy_curve("maj", c, [4, 8])
    want = _C.majority_accuracy_exact(classes, classes == 0, ones)
    for k in (4, 8):
        assert not got[k].sampled.any() and torch.allclose(got[k].value, want[:, k - 1], rtol=0, atol=1e-12)


def test_edge_shapes_return_empty_or_zero():
    empty = metrics.Candidates(correct=torch.zeros(0, 4, dtype=torch.bool), valid=torch.zeros(0, 4, dtype=torch.bool),
                               classes=torch.zeros(0, 4, dtype=torch.long), scores=torch.zeros(0, 4),
                               keep=torch.zeros(0, 4, dtype=torch.bool))
    for method in metrics.METHODS:
        for ties in metrics.TIES:
            assert metrics.accuracy_at_k(method, empty, 2, ties=ties).shape == (0,)
    none_valid = empty._replace(**{f: torch.zeros(2, 4, dtype=t.dtype) for f, t in empty._asdict().items()
                                   if t is not None})
    for method in metrics.METHODS:
        assert metrics.accuracy_at_k(method, none_valid, 2).tolist() == [0.0, 0.0]


def test_exact_majority_stays_finite_at_its_largest_size():
    N = 1000
    ids = torch.arange(N)[None]
    out = _C.majority_accuracy_exact(ids, ids < 500)
    assert torch.isfinite(out).all() and torch.allclose(out, torch.full_like(out, 0.5))
    with pytest.raises(RuntimeError, match="at most 1000 candidates"):
        _C.majority_accuracy_exact(torch.arange(1001)[None], torch.ones(1, 1001, dtype=torch.bool))


def test_ctrl_c_stops_a_long_vote_accuracy_at_once():
    """Found by a breaker: `vote_accuracy` released the GIL but never looked for signals, so a call asking
    for 10^12 sampled subsets of one problem ran on after Ctrl-C until it was killed. Now the call runs on a
    thread of its own while the caller's thread checks for signals (as Executor.run does)."""
    import signal
    import subprocess
    import sys
    import time
    code = ("import signal, time, torch\nfrom cotnpot import _C\n"
            # as in an interactive Python (a test run started in the background inherits SIGINT ignored)
            "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
            "classes, correct = torch.zeros(1, 60, dtype=torch.long), torch.ones(1, 60, dtype=torch.bool)\n"
            "print('ready', flush=True)\nstart = time.monotonic()\n"
            "try:\n    _C.vote_accuracy(classes, correct, k=30, samples=10**12, max_subsets=0)\n"
            "except KeyboardInterrupt:\n    print('interrupted', flush=True)\n"
            "mean, _, _ = _C.vote_accuracy(classes, correct, k=30, samples=100)\nprint(mean.tolist())\n")
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ready"
        time.sleep(0.5)
        sent = time.monotonic()
        child.send_signal(signal.SIGINT)
        out, _ = child.communicate(timeout=30)   # never waits on the child for ever, whatever it does
        assert out.split() == ["interrupted", "[1.0]"], out   # then the next call still works
        assert time.monotonic() - sent < 2.0 and child.returncode == 0
    finally:
        child.kill()


def test_int32_class_ids_give_the_int64_result_past_the_exact_count_width():
    """Past EXACT_MAJORITY_MAX_N candidates the ids are renumbered: int32 ids overflowed its int64 sentinel
    ("value cannot be converted to type int without overflow"); at N <= EXACT_MAJORITY_MAX_N they already worked."""
    c = random_candidates(6, 12, seed=4)
    wide = metrics.Candidates(*(None if t is None else torch.cat([t, torch.zeros(6, metrics.EXACT_MAJORITY_MAX_N + 44 - 12, dtype=t.dtype)], 1)
                                for t in c))
    for method in ("maj", "filtered_maj"):
        want = metrics.accuracy_at_k(method, wide, 3)
        got = metrics.accuracy_at_k(method, wide._replace(classes=wide.classes.int()), 3)
        assert torch.equal(got, want) and want.gt(0).any()


@pytest.mark.parametrize("field,value,message", [
    ("scores", lambda c: c.scores[:, :1], r"Candidates.scores must be \[P, N\] = \(10, 5\).*got shape \(10, 1\)"),
    ("correct", lambda c: c.correct[0], r"Candidates.correct must be \[P, N\].*got shape \(5,\)"),
    ("keep", lambda c: c.keep[:, :3], r"Candidates.keep must be \[P, N\] = \(10, 5\).*got shape \(10, 3\)"),
    ("valid", lambda c: c.valid.long(), r"Candidates.valid must be a bool tensor, got dtype torch.int64"),
    ("keep", lambda c: c.keep.int(), r"Candidates.keep must be a bool tensor, got dtype torch.int32"),
    ("classes", lambda c: c.classes.float(), r"Candidates.classes must be an integer tensor"),
    ("scores", lambda c: c.scores.long(), r"Candidates.scores must be a floating-point tensor"),
    ("weights", lambda c: [1.0] * 5, r"Candidates.weights must be a tensor, got list"),
])
def test_candidates_of_the_wrong_shape_or_kind_are_named(field, value, message):
    """A [P, 1] score column was broadcast into ties and a number came back; an integer mask was reported as
    another field (correct & valid promoted it) or fed to the C++ count as `valid`."""
    c = random_candidates(10, 5, seed=5)
    c = c._replace(**{"weights": c.scores.exp(), field: value(c)})
    for method in ("rm", "filtered", "weighted", "maj", "filtered_maj", "pass", "random"):
        with pytest.raises(ValueError, match=message):
            metrics.accuracy_at_k(method, c, 2)


def test_k_and_counts_must_be_whole_numbers():
    c = random_candidates(4, 5, seed=6)
    for k in (2.5, 2.0, "2", True, None):
        with pytest.raises(ValueError, match="k must be a positive integer"):
            metrics.accuracy_at_k("rm", c, k)
        with pytest.raises(ValueError, match="k must be a positive integer"):
            metrics.pass_at_k(torch.tensor([5]), torch.tensor([2]), k)
    with pytest.raises(ValueError, match="n must hold whole numbers, got 5.5"):
        metrics.pass_at_k(torch.tensor([5.5]), torch.tensor([2]), 2)
    with pytest.raises(ValueError, match="c must hold whole numbers, got nan"):
        metrics.pass_at_k(torch.tensor([5]), torch.tensor([math.nan]), 2)
    with pytest.raises(ValueError, match="n and c must have shapes that broadcast"):
        metrics.pass_at_k(torch.tensor([5, 6]), torch.tensor([2, 2, 2]), 2)
    # one n for every problem's c broadcasts, as it did (a reviewer)
    assert metrics.pass_at_k(10, torch.tensor([1, 2, 3]), 2).tolist() == pytest.approx([0.2, 1 - 28 / 45, 1 - 21 / 45])
    numpy_k = __import__("numpy").int64(2)   # an integer of another kind is still an integer
    assert metrics.pass_at_k(torch.tensor([5.0]), torch.tensor([2]), numpy_k).item() == pytest.approx(0.7, abs=1e-15)


@pytest.mark.parametrize("n,c,k", [(10**7, 1, 1), (10**7, 3, 200), (10**6, 1, 256), (5000, 7, 300), (10**5, 2, 5),
                                   (10**7, 1, 1000), (10**6, 2, 4096)])
def test_pass_at_k_keeps_its_digits_at_large_n(n, c, k):
    """1 - C(n-c, k)/C(n, k) from lgamma differences lost the digits that the 1 - cancels: pass@1 of 1 correct in
    10^7 was 1.19e-7, and past k = 256 (then lgamma's) pass@1000 of it 1.0003e-4, not 1e-4. Checked against
    Python's exact integers."""
    from fractions import Fraction
    exact = 1 - Fraction(math.comb(n - c, k), math.comb(n, k))
    got = metrics.pass_at_k(torch.tensor([n]), torch.tensor([c]), k).item()
    assert got == pytest.approx(float(exact), rel=1e-10)


def test_bootstrap_weights_are_checked_and_all_zero_weights_give_no_mean():
    x = torch.tensor([1.0, 0.0, 1.0, 1.0] * 5)
    assert metrics.bootstrap_ci(x, weights=torch.tensor([2.0, 1.0, 0.0, 1.0] * 5)).value == pytest.approx(75.0)
    assert math.isnan(metrics.bootstrap_ci(x, weights=torch.zeros(20)).value)        # was 0.0
    with pytest.raises(ValueError, match="finite and non-negative, got -1.0 at problem 3"):
        metrics.bootstrap_ci(x, weights=torch.tensor([1.0, 1.0, 1.0, -1.0] * 5))  # was -5e302
    with pytest.raises(ValueError, match=r"per_problem's shape \(20,\), got \(4,\)"):
        metrics.bootstrap_ci(x, weights=torch.ones(4))


def test_a_negative_weight_that_votes_for_nothing_is_ignored_as_cotnpot_vote_ignores_it():
    c = metrics.Candidates(correct=torch.tensor([[True, False, False]]), valid=torch.ones(1, 3, dtype=torch.bool),
                           classes=torch.tensor([[0, 1, -1]]), weights=torch.tensor([[2.0, 1.0, -5.0]]))
    assert metrics.accuracy_at_k("weighted", c, 3).tolist() == [1.0]
    assert cotnpot_vote_index(c) == 0
    with pytest.raises(ValueError, match="non-negative weights"):
        metrics.accuracy_at_k("weighted", c._replace(weights=torch.tensor([[2.0, -1.0, 5.0]])), 3)


def cotnpot_vote_index(c):
    import cotnpot
    return int(cotnpot.vote(c.classes, c.valid, c.weights).index[0])


@pytest.mark.parametrize("method", ["maj", "weighted", "filtered_maj"])
@pytest.mark.parametrize("wide", [False, True])
def test_a_class_id_past_n_is_refused_by_name_in_every_batch(method, wide):
    # With a problem past EXACT_MAJORITY_MAX_N candidates in the batch, the others' ids had been renumbered
    # first and the id 700 passed unseen; without one, the internal op refused it under its own name.
    N = metrics.EXACT_MAJORITY_MAX_N + 88 if wide else 3
    valid = torch.zeros(2, N, dtype=torch.bool)
    valid[0, :] = True
    valid[1, :3] = True
    classes = torch.zeros(2, N, dtype=torch.long)
    classes[1, :3] = torch.tensor([0, N + 100, 0])
    c = metrics.Candidates(correct=classes == 0, valid=valid, classes=classes, keep=valid.clone(),
                           weights=torch.ones(2, N))
    with pytest.raises(ValueError, match=rf"Candidates.classes must be ids in \[0, N\) = \[0, {N}\).*got {N + 100} "
                                         r"at problem 1, candidate 1"):
        metrics.accuracy_at_k(method, c, 2)
    classes[1, 1] = -1   # no answer: fine
    assert metrics.accuracy_at_k(method, c._replace(classes=classes), 2)[1].item() == 1.0


def test_a_seed_the_generators_cannot_take_and_a_nan_accuracy_are_refused():
    c = random_candidates(10, 5, seed=1)
    with pytest.raises(ValueError, match=r"seed must be an int from -2\^63 to 2\^64 - 2, got 1180591620717411303424"):
        metrics.accuracy_curve("maj", c, [2], seed=2 ** 70)   # had been the result of seed 0
    with pytest.raises(ValueError, match="seed must be an int"):
        metrics.bootstrap_ci(torch.ones(20), seed=1.5)
    # a seed the sampled path uses: -3 and 2^64 - 3 are one seed to torch's generators; numpy integers taken
    sampled = dict(max_subsets=1, samples=50)
    assert torch.equal(metrics.accuracy_curve("weighted", c, [3], seed=-3, **sampled)[3].value,
                       metrics.accuracy_curve("weighted", c, [3], seed=2 ** 64 - 3, **sampled)[3].value)
    assert not torch.equal(metrics.accuracy_curve("weighted", c, [3], seed=-3, **sampled)[3].value,
                           metrics.accuracy_curve("weighted", c, [3], seed=4, **sampled)[3].value)
    import numpy as np
    assert metrics.bootstrap_ci(torch.ones(20), seed=np.int64(3)).value == 100.0
    with pytest.raises(ValueError, match="need 0 <= c <= n for every problem, got c = 6 and n = 5$"):
        metrics.pass_at_k(torch.tensor(5), torch.tensor(6), 1)   # 0-d: no index to name
    with pytest.raises(ValueError, match="per_problem must be finite, got nan at problem 1"):
        metrics.bootstrap_ci(torch.tensor([1.0, math.nan, 1.0] * 5))   # had been an all-NaN estimate
    assert math.isnan(metrics.bootstrap_ci(torch.zeros(0)).value)     # no problem: no mean


def test_pass_at_k_takes_a_k_past_int64_and_names_a_count_past_it():
    """Found by a breaker: k = 2**70 raised a bare OverflowError naming no argument, and a float count of 1e30
    was reported as n = -9223372036854775808, a value the caller never passed."""
    got = metrics.pass_at_k(torch.tensor([10]), torch.tensor([3]), 2 ** 70)   # k past every n: pass@n
    assert got.tolist() == [1.0]
    assert metrics.pass_at_k(torch.tensor([10]), torch.tensor([0]), 2 ** 70).tolist() == [0.0]
    with pytest.raises(ValueError, match=r"pass_at_k: n must hold counts that fit int64, got 1\.0+\d*e\+30"):
        metrics.pass_at_k(torch.tensor([1e30]), torch.tensor([1.0]), 1)


def test_resamples_drawn_in_chunks_are_the_draws_made_at_once(monkeypatch):
    """Found by a breaker: --resamples 1000000 on 1,319 problems drew every index at once (24 GB) and the OOM
    killer ended the run. They are drawn in chunks now, the same draws: the intervals are identical."""
    g = torch.Generator().manual_seed(0)
    x, variance = torch.rand(300, generator=g), torch.rand(300, generator=g) / 10
    whole = [metrics.bootstrap_ci(x, 500, seed=4), metrics.bootstrap_ci(x, 500, seed=4, variance=variance)]
    monkeypatch.setattr(metrics, "RESAMPLE_CHUNK_ELEMENTS", 7 * 300 + 5)   # chunks of 7 resamples
    chunked = [metrics.bootstrap_ci(x, 500, seed=4), metrics.bootstrap_ci(x, 500, seed=4, variance=variance)]
    assert chunked == whole and whole[0].low < whole[0].value < whole[0].high
