"""The experiment in miniature: the synthetic problems and sampler, and a small end-to-end run."""
import json
from collections import Counter

import pytest
import torch

from cotnpot import answer
from cotnpot.pipeline.consistency import check_consistency
from cotnpot.train.experiment import KS, VERIFIERS, run
from cotnpot.train.synthetic import SLIPS, generate_problems, sample_candidates
from cotnpot.translate import OfflineCalculatorTranslator


def test_problems_are_seeded_and_their_solutions_compute_the_answer():
    problems = generate_problems(50, seed=7)
    assert [p.question for p in problems] == [p.question for p in generate_problems(50, seed=7)]
    assert [p.question for p in problems] != [p.question for p in generate_problems(50, seed=8)]
    for p in problems:
        # every annotation is right and the last one is the answer
        x = p.start
        for op, b, result in p.steps:
            x = {"+": x + b, "-": x - b, "*": x * b, "/": x // b}[op]
            assert x == result
        assert x == p.answer > 0
        assert p.solution.endswith(f"The answer is {p.answer}.")
        assert answer.extract_answer(p.solution)[0] == str(p.answer)


def test_sampler_labels_and_slips():
    table = sample_candidates(generate_problems(150, seed=1), n=16, seed=1)
    candidates = [c for p in table.problems for c in p.candidates]
    assert all(len(p.candidates) == 16 for p in table.problems)
    for p in table.problems:
        for c in p.candidates:
            assert answer.extract_answer(c.text)[0] == c.answer   # the text says what the answer is
            # a slip-free sample is the gold solution; a slip almost always changes the answer
            assert (c.source == "") <= c.label
    assert sum(c.label for c in candidates if c.source) < 0.02 * sum(1 for c in candidates if c.source)
    slips = Counter(c.source for c in candidates)
    assert set(slips) == {"", *SLIPS}
    assert 0.3 < sum(c.label for c in candidates) / len(candidates) < 0.8
    # some problems defeat the majority, as on real benchmarks
    majority_wrong = sum(Counter(c.label for c in p.candidates)[True] < 8 for p in table.problems)
    assert majority_wrong > 10


def test_cotnpot_catches_arithmetic_slips_not_reasoning_slips():
    table = sample_candidates(generate_problems(60, seed=2), n=16, seed=2)
    keep = check_consistency(table, OfflineCalculatorTranslator()).keep
    kept = Counter()
    total = Counter()
    for p, row in zip(table.problems, keep):
        for c, k in zip(p.candidates, row.tolist()):
            total[c.source] += 1
            kept[c.source] += k
    assert kept[""] == total[""]                                    # correct solutions are all kept
    assert kept["wrong final line"] == 0                            # the program's result disagrees
    assert kept["arithmetic slip"] < 0.1 * total["arithmetic slip"]
    assert kept["wrong operation"] == total["wrong operation"]      # consistent arithmetic, wrong reasoning
    assert kept["dropped step"] == total["dropped step"]


def test_a_small_run_writes_the_report(tmp_path):
    summary = run(tmp_path, seeds=2, problems=40, epochs=1, progress=False)
    methods = set(summary["accuracy"])
    assert {"random", "majority vote", "CoTnPoT + majority vote"} <= methods
    assert all(f"{v} best-of-N" in methods and f"CoTnPoT + {v}" in methods for v in VERIFIERS)
    for by_k in summary["accuracy"].values():
        assert list(by_k) == list(KS)
        for v in by_k.values():
            assert v["low"] <= v["mean"] <= v["high"] and len(v["per_seed"]) == 2
    # at N=1 every method is one random candidate: the same expectation
    at_one = {round(by_k[1]["mean"], 6) for by_k in summary["accuracy"].values()}
    assert len(at_one) == 1
    report = (tmp_path / "report.md").read_text()
    assert "| SimPO + SFT |" in report and (tmp_path / "accuracy_vs_n.png").stat().st_size > 10_000
    data = json.loads((tmp_path / "report.json").read_text())
    assert len(data["runs"]) == 2 and set(data["summary"]["nll"]) == set(VERIFIERS)
    assert "rule-based sampler" in report and data["runs"][0]["sampled_by"]["sampler"] == "rules"


def test_an_unknown_sampler_is_refused(tmp_path):
    with pytest.raises(ValueError, match="sampler must be one of .*got 'lm'"):
        run(tmp_path, seeds=1, problems=40, epochs=1, progress=False, sampler="lm")
