"""Metrics: pass@k against its closed form and brute force, subset metrics against a brute-force
enumeration with the reference selection, seeded sampling against the exact value, bootstrap intervals,
and the Qwen2.5-Math example's published figures (rm@8 94, maj@8 93, pass@8 96, mean 91)."""
import math
from itertools import combinations
from pathlib import Path

import pytest
import torch

from cotnpot import metrics, reference
from cotnpot.data import load_candidates

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


def test_pass_at_k_known_value_and_errors():
    assert metrics.pass_at_k(torch.tensor([5]), torch.tensor([2]), 2).item() == pytest.approx(0.7)
    with pytest.raises(ValueError, match="k must be >= 1"):
        metrics.pass_at_k(torch.tensor([5]), torch.tensor([2]), 0)
    with pytest.raises(ValueError, match="0 <= c <= n"):
        metrics.pass_at_k(torch.tensor([5]), torch.tensor([6]), 1)


def random_candidates(P, N, seed):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, N + 1, (P,), generator=g)
    valid = torch.arange(N)[None, :] < lengths[:, None]
    classes = torch.randint(-1, 3, (P, N), generator=g)
    correct = classes == 0
    scores = torch.randint(0, 4, (P, N), generator=g).float()     # ties on purpose
    keep = torch.rand(P, N, generator=g) < 0.5
    return metrics.Candidates(correct=correct, valid=valid, classes=classes, scores=scores, keep=keep)


def brute_force(method, c, k, fallback="all"):
    """Every subset of every problem through the row-by-row reference selection."""
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
        out.append(sum(hits) / len(hits))
    return torch.tensor(out, dtype=torch.float64)


@pytest.mark.parametrize("method", ["maj", "rm", "weighted", "filtered", "filtered_maj"])
@pytest.mark.parametrize("k", [1, 2, 3, 6])
def test_subset_metrics_match_brute_force(method, k):
    c = random_candidates(9, 6, seed=k)
    got = metrics.accuracy_at_k(method, c, k)
    assert torch.allclose(got, brute_force(method, c, k), atol=1e-12), method


def test_sampled_estimate_is_close_to_the_exact_value_and_seeded():
    c = random_candidates(30, 14, seed=5)
    exact = metrics.accuracy_at_k("maj", c, 5).mean()
    sampled = metrics.accuracy_at_k("maj", c, 5, max_subsets=10, samples=3000, seed=1)
    assert abs(sampled.mean() - exact) < 0.02
    assert torch.equal(sampled, metrics.accuracy_at_k("maj", c, 5, max_subsets=10, samples=3000, seed=1))


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
    values = {m: 100 * metrics.accuracy_at_k(m, c, 8).mean().item() for m in ("rm", "maj", "pass", "random")}
    assert values == pytest.approx({"rm": 94.0, "maj": 93.0, "pass": 96.0, "random": 91.0})


@pytest.mark.parametrize("k", [1, 2, 5, 17, 64])
def test_class_renumbering_matches_first_appearance(k):
    """Votes over a subset need class ids below the subset size: renumbered by first appearance."""
    g = torch.Generator().manual_seed(k)
    classes = torch.randint(-1, 7, (100, k), generator=g)
    want = torch.full_like(classes, -1)
    for r in range(100):
        seen = {}
        for j, c in enumerate(classes[r].tolist()):
            if c >= 0:
                want[r, j] = seen.setdefault(c, len(seen))
    assert torch.equal(metrics._renumber(classes), want)
