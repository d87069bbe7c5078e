"""Numbers a reviewer can trust, at the level of `cotnpot eval`: answers extracted where a file has none,
files without golds, bad input, the fall-back per subset, LLM calls per translator and compute-matched
partners, non-transitive answer classes, negative scores in weighted votes, per-problem records that
reproduce every aggregate, and code tasks whose example filter does not grade."""
import json
from itertools import combinations
from pathlib import Path

import pytest
import torch

from cotnpot.pipeline import metrics
from cotnpot.cli import main
from cotnpot.pipeline.data import load_candidates
from cotnpot.pipeline.evaluation import EvalOptions, evaluate_table
from cotnpot.pipeline.report import compute_matched, to_markdown

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "data"


def write_ovm(path, problems):
    """problems: (gold or None, [(text, label or None, vscore or None)])"""
    with open(path, "w") as f:
        for i, (gold, cands) in enumerate(problems):
            row = {"idx": i, "question": f"q{i}", "outputs": []}
            if gold is not None:
                row["ground_truth"] = gold
            for text, label, score in cands:
                out = {"response": text}
                if label is not None:
                    out["label"] = label
                if score is not None:
                    out["vscores"] = [score]
                row["outputs"].append(out)
            f.write(json.dumps(row) + "\n")
    return path


def test_a_file_without_answers_or_golds_extracts_answers_and_uses_its_labels(tmp_path):
    """The OVM verifier-scored files: no response_answer, no ground truth. Before, maj read 0 at every N and
    hundreds of "disagreements" against empty golds were listed."""
    rows = (SHARED / "ovm_gsm8k_test_mistral7b_n300_verifier_scored_samples.jsonl").read_text().splitlines()[:12]
    path = tmp_path / "scored.jsonl"
    path.write_text("\n".join(rows) + "\n")
    table = load_candidates(path)
    assert all(c.answer for p in table.problems for c in p.candidates[:5])     # extracted from the text
    ev = evaluate_table(table, EvalOptions(ks=[1, 4], resamples=50))
    assert ev.labelings == ["source"] and ev.label_disagreements == []
    assert any("no gold answer" in n for n in ev.input_notes)
    assert ev.metrics["source"]["maj"][4].value > 20          # votes over real answers
    assert ev.metrics["source"]["rm"][4].value > 0


def test_bad_input_is_named(tmp_path, capsys):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert main(["eval", "--candidates", str(empty), "--quiet", "--format", "ovm"]) == 1
    assert "no problems" in capsys.readouterr().err
    no_candidates = write_ovm(tmp_path / "nocands.jsonl", [("3", [])] * 3)
    assert main(["eval", "--candidates", str(no_candidates), "--quiet", "--out", str(tmp_path / "x")]) == 1
    assert "3 problems but not one candidate" in capsys.readouterr().err and not (tmp_path / "x").exists()
    nothing = write_ovm(tmp_path / "nolabels.jsonl", [(None, [("The answer is 3", None, None)])] * 2)
    assert main(["eval", "--candidates", str(nothing), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "no gold answer" in err and "no labels of its own" in err
    ragged = write_ovm(tmp_path / "ragged.jsonl", [("3", [("The answer is 3", True, 0.5)] * n) for n in (1, 3, 4)])
    out = tmp_path / "out"
    assert main(["eval", "--candidates", str(ragged), "--quiet", "--out", str(out)]) == 0
    assert "N differs across problems (1 to 4 candidates)" in (out / "report.md").read_text()
    assert main(["eval", "--candidates", str(ragged), "--quiet", "--samples", "1"]) == 2


def test_classes_are_judged_by_their_members_not_by_order(tmp_path):
    """cotnpot's grader is not transitive: 1.00000090000001 equals 1 (a computed value within rel_tol 1e-6),
    1.00000180000001 does not, yet both group into one class. Judged by its first member, maj@3 flipped from 0
    to 100 by swapping them."""
    values = []
    for order in (("1.00000180000001", "1.00000090000001"), ("1.00000090000001", "1.00000180000001")):
        cands = [(f"The answer is {a}", None, None) for a in order] + [("The answer is 7", None, None)]
        path = write_ovm(tmp_path / f"{order[0]}.jsonl", [("1", cands)])
        ev = evaluate_table(load_candidates(path), EvalOptions(ks=[3], resamples=10))
        values.append(ev.metrics["grader"]["maj"][3].value)
    assert values == [50.0, 50.0]


def test_negative_scores_leave_weighted_out_with_the_reason(tmp_path):
    path = write_ovm(tmp_path / "neg.jsonl", [("3", [("The answer is 3", True, -1.0), ("The answer is 3", True, -1.0),
                                                     ("The answer is 4", False, -0.5)])] * 3)
    ev = evaluate_table(load_candidates(path), EvalOptions(resamples=10))
    assert "weighted" not in ev.metrics["grader"] and "rm" in ev.metrics["grader"]
    assert any("weighted@N left out" in n for n in ev.input_notes)


class AnswerTranslator:
    """A stand-in coder LLM: writes `ans = <the CoT's last number>` except for candidates whose text says
    'lie', where it writes a different value (so they are inconsistent)."""
    name, template, llm_calls = "fake-coder", "t", 1

    def translate(self, requests):
        out = []
        for r in requests:
            value = r.text.split()[-1]
            out.append(f"ans = {value}{'+1' if 'lie' in r.text else ''}\n")
        return out


def brute_fallback_share(keep_row, k):
    n = len(keep_row)
    subsets = list(combinations(range(n), min(k, n)))
    return sum(not any(keep_row[i] for i in s) for s in subsets) / len(subsets)


def test_cotnpot_fall_back_per_subset_calls_and_partners(tmp_path):
    problems = [("3", [("so 3", True, 0.9), ("lie 4", False, 0.8), ("lie 3", True, 0.7), ("so 5", False, 0.1),
                       ("lie 3", True, 0.2), ("lie 6", False, 0.3)]),
                ("2", [("lie 2", True, 0.5), ("lie 1", False, 0.5), ("lie 2", True, 0.5), ("so 9", False, 0.4),
                       ("lie 7", False, 0.1), ("lie 2", True, 0.3)])]
    path = write_ovm(tmp_path / "c.jsonl", problems)
    table = load_candidates(path)
    ev = evaluate_table(table, EvalOptions(ks=[1, 3], translator=AnswerTranslator(), resamples=10))
    keep = [[not t.startswith("lie") for t, _, _ in cands] for _, cands in problems]
    for k in (1, 3):   # the fall-back happens per subset: its share is a brute-force count
        want = sum(brute_fallback_share(row, k) for row in keep) / 2
        assert ev.fallback_share[k] == pytest.approx(100 * want)
    # A model as translator: one more call per candidate, so CoTnPoT@3 is matched with maj@6, computed
    # although --ks did not ask for 6.
    assert ev.consistency["llm_calls_per_translation"] == 1
    assert 6 in ev.metrics["grader"]["maj"]
    lines = compute_matched(ev)
    row6 = next(line for line in lines if line.startswith("| 6 |"))
    assert row6.count("–") == 0 and row6.count("|") > 4
    from cotnpot.translate import OfflineCalculatorTranslator
    assert OfflineCalculatorTranslator.llm_calls == 0


def test_per_problem_records_reproduce_every_aggregate(tmp_path):
    rows = (ROOT / "data" / "qwen25math_rm_maj_example_math_cot_100.jsonl").read_text().splitlines()[:30]
    path = tmp_path / "qwen.jsonl"
    path.write_text("\n".join(rows) + "\n")
    log = tmp_path / "samples.jsonl"
    ev = evaluate_table(load_candidates(path), EvalOptions(log_samples=log, resamples=20))
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(records) == 30 and all(len(r["candidates"]) == r["n"] == 8 for r in records)
    for labeling, table in ev.metrics.items():
        for method, per_k in table.items():
            if method == "mean":
                continue
            for k, est in per_k.items():
                mean = 100 * sum(r["expected"][labeling][method][str(k)] for r in records) / len(records)
                assert mean == pytest.approx(est.value, abs=1e-9), (labeling, method, k)
    first = records[0]
    pick = first["picks_first_n"]["rm"]["8"]
    scores = [c["score"] for c in first["candidates"]]
    assert pick == scores.index(max(scores))
    assert {"answer", "class", "class_exact", "labels", "program_output", "consistent", "score"} <= set(first["candidates"][0])
    md = to_markdown(ev)
    assert "Paired differences" in md and "| rm − maj |" in md


def test_intervals_need_enough_problems_and_sampled_cells_are_marked(tmp_path):
    est = metrics.bootstrap_ci(torch.tensor([1.0, 0.0]))
    assert est.value == 50.0 and est.low != est.low            # no interval for 2 problems
    path = write_ovm(tmp_path / "many.jsonl", [("1", [(f"The answer is {i % 3}", i % 3 == 1, float(i % 5))
                                                      for i in range(30)])] * 12)
    ev = evaluate_table(load_candidates(path), EvalOptions(ks=[8], samples=200, resamples=50))
    assert ev.metrics["grader"]["weighted"][8].sampled and not ev.metrics["grader"]["maj"][8].sampled
    assert "*" in to_markdown(ev).split("| weighted@N |")[1].split("\n")[0]


def test_code_example_filter_holds_the_example_test_out_of_grading():
    from cotnpot.pipeline.code_tasks import CodeTask, evaluate_code
    from cotnpot.executor import Executor
    task = CodeTask("double x", ["assert f(1) == 2", "assert f(2) == 4", "assert f(3) == 6"])
    only_example = "def f(x):\n    return 2 if x == 1 else 0\n"
    all_but_example = "def f(x):\n    return 0 if x == 1 else 2 * x\n"
    right = "def f(x):\n    return 2 * x\n"
    with Executor(workers=1, timeout=5) as ex:
        plain = evaluate_code([task], [[only_example, all_but_example, right]], ex, ks=[1])
        held = evaluate_code([task], [[only_example, all_but_example, right]], ex, ks=[1], example_filter=True)
        with pytest.raises(ValueError, match="needs a second test"):
            evaluate_code([CodeTask("p", ["assert True"])], [["x = 1"]], ex, example_filter=True)
    assert plain.correct.tolist() == [[False, False, True]]
    assert held.correct.tolist() == [[False, True, True]]       # graded on tests[1:]
    assert held.passes_example.tolist() == [[True, False, True]]


def test_the_method_registry_is_what_every_part_reads():
    from cotnpot.pipeline import methods
    from cotnpot.pipeline.evaluation import _plan, rules
    names = [m.name for m in methods.REGISTRY if m.task == "math"]
    assert len(names) == len(set(names))
    code = [m.name for m in methods.REGISTRY if m.task == "code"]
    assert len(code) == len(set(code))
    everything = torch.ones(1, 1)
    assert [p[0] for p in _plan(everything, everything, everything)] == names
    assert [p[0] for p in _plan(None, None, None)] == ["pass", "maj", "maj (exact)"]
    assert set(names) <= set(rules("fair")) and "seen first" in rules("first")["maj"]
    assert methods.calls_per_candidate("cotnpot maj", 0) == 1 and methods.calls_per_candidate("cotnpot rm", 1) == 2
    assert methods.calls_per_candidate("maj", 1) == 1 and methods.calls_per_candidate("mean", 1) == 1


def test_report_cells_drop_float_noise_before_rounding():
    """Found by a new user: the same 31.25, computed as a mean of correct picks and as a pass rate, read 31.3
    (rm@1) and 31.2 (pass@1, maj@1) side by side."""
    from types import SimpleNamespace
    from cotnpot.pipeline.report import _fmt
    nan = float("nan")
    cells = {_fmt(SimpleNamespace(value=v, low=nan, high=nan, sampled=False)) for v in (31.2500000001, 31.25,
                                                                                         31.2499999999)}
    assert cells == {"31.2"}
    assert _fmt(SimpleNamespace(value=31.35, low=29.9999999999, high=32.6, sampled=True)) == "31.4* [30.0, 32.6]"
