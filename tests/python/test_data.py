"""Candidate loaders: every format on its real file (the OVM files from ../shared/data, which must be
there), format detection, and bad input named by file and line with the rows before it kept."""
import json
import math
from pathlib import Path

import pytest
import torch

from cotnpot.pipeline.data import CandidateFileError, load_candidates

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "data"
SHARED = ROOT.parent / "shared" / "data"


def test_qwen_rows():
    t = load_candidates(DATA / "qwen25math_rm_maj_example_math_cot_100.jsonl", limit=3)
    assert t.format == "qwen" and len(t.problems) == 3 and t.n_max == 8
    p = t.problems[1]
    assert p.gold == "\\frac{1}{9}" and p.candidates[0].answer == "\\frac{1}{9}" and p.candidates[0].label is True
    assert p.candidates[0].score == pytest.approx(5.375)
    assert t.labels().shape == (3, 8) and t.scores().dtype == torch.float64   # as the file holds them


@pytest.mark.parametrize("name,n,bad_labels", [("ovm_gsm8k_test_mistral7b_n300_samples.jsonl", 300, 1),
                                               ("ovm_gsm8k_test_llama2_7b_n500_samples.jsonl", 500, 61)])
def test_ovm_samples_from_shared(name, n, bad_labels):
    t = load_candidates(SHARED / name)   # fails, never skips, when ../shared/data is missing
    assert t.format == "ovm" and len(t.problems) == 10 and t.n_max == n
    assert t.counts["labels that are not true/false (taken as wrong)"] == bad_labels
    assert t.problems[0].gold == "18" and t.problems[0].candidates[0].answer == "18"
    assert not t.has_scores()
    mean = t.labels()[t.valid()].float().mean().item()
    assert mean == pytest.approx(0.517 if n == 300 else 0.319, abs=0.001)   # the shared record's figures


def test_ovm_verifier_scores_are_the_last_vscore():
    path = SHARED / "ovm_gsm8k_test_mistral7b_n300_verifier_scored_samples.jsonl"
    t = load_candidates(path)
    first = json.loads(path.open().readline())["outputs"][0]
    assert t.has_scores() and t.problems[0].candidates[0].score == pytest.approx(first["vscores"][-1])


def test_openai_rows():
    t = load_candidates(DATA / "gsm8k_openai_example_model_solutions.jsonl")
    assert t.format == "openai" and len(t.problems) == 1319 and t.n_max == 4
    assert [c.source for c in t.problems[0].candidates] == ["6b_finetuning", "6b_verification", "175b_finetuning",
                                                             "175b_verification"]
    assert t.problems[0].gold == "18"
    acc = t.labels().float().mean(0) * 100
    assert acc.tolist() == pytest.approx([21.68, 39.04, 34.72, 56.25], abs=0.01)


def test_tora_rows():
    t = load_candidates(DATA / "tora_gsm8k_tora-70b-v1.0_greedy_outputs.jsonl", limit=5)
    assert t.format == "tora" and t.n_max == 1 and not t.has_labels()
    c = t.problems[0].candidates[0]
    assert c.answer == "18" and c.program.startswith("def daily_income():") and "print(" in c.program


def test_pot_rows():
    few = load_candidates(DATA / "pot_codex_gsm8k_fewshot_greedy_outputs.jsonl")
    assert few.format == "pot" and len(few.problems) == 1318 and few.counts["prompt-only lines (skipped)"] == 2
    assert few.problems[0].gold == "18.0" and few.problems[0].candidates[0].answer == "18.0"
    aqua = load_candidates(DATA / "pot_codex_aqua_sc30_outputs.jsonl")
    assert len(aqua.problems) == 253 and aqua.n_max == 30 and aqua.counts["prompt-only lines (skipped)"] == 3
    assert aqua.problems[0].gold == "A" and len(aqua.problems[0].options) == 5
    assert aqua.problems[0].candidates[0].answer == ""   # 30 programs: no per-program value upstream


def write(tmp_path, lines):
    path = tmp_path / "c.jsonl"
    path.write_text("".join(line + "\n" for line in lines))
    return path


def test_bad_input_names_file_and_line_and_keeps_earlier_rows(tmp_path):
    good = json.dumps({"idx": 0, "question": "q", "gt": "1", "code": ["a"], "pred": ["1"], "score": [True]})
    path = write(tmp_path, [good, good.replace('"idx": 0', '"idx": 1'), "{not json"])
    with pytest.raises(CandidateFileError, match=rf"{path}:3: not a JSON object") as err:
        load_candidates(path)
    assert len(err.value.partial.problems) == 2
    missing = json.dumps({"idx": 0, "question": "q", "gt": "1", "code": ["a"], "pred": ["1"], "score": [True]}).replace(
        '"gt"', '"gold"')
    with pytest.raises(CandidateFileError, match=rf"{path}:2: qwen row: missing field 'gt'"):
        load_candidates(write(tmp_path, [good, missing]), format="qwen")
    short = json.dumps({"question": "q", "gt": "1", "code": ["a", "b"], "pred": ["1"], "score": [True]})
    with pytest.raises(CandidateFileError, match=r":1: qwen row: code, pred, score must have one entry per candidate"):
        load_candidates(write(tmp_path, [short]))
    with pytest.raises(CandidateFileError, match=r":1: cannot tell the format from the fields \['a'\]"):
        load_candidates(write(tmp_path, ['{"a": 1}']))
    with pytest.raises(CandidateFileError, match=r":1: not a JSON object but a list"):
        load_candidates(write(tmp_path, ["[1, 2]"]))
    with pytest.raises(ValueError, match="format must be 'auto' or one of"):
        load_candidates(path, format="csv")
    with pytest.raises(FileNotFoundError, match="candidate file not found"):
        load_candidates(tmp_path / "nope.jsonl")
    assert math.isnan(load_candidates(write(tmp_path, [good])).problems[0].candidates[0].score)
    # found by a breaker: limit 0 and -5 read one problem; an OVM score given as a string was read as its last
    # character ("0.25" scored 5.0)
    for limit in (0, -5):
        with pytest.raises(ValueError, match=f"limit must be >= 1 .*got {limit}"):
            load_candidates(path, limit=limit)
    ovm = json.dumps({"question": "q", "ground_truth": "1",
                      "outputs": [{"response": "so 1", "label": True, "vscores": "0.25"}]})
    with pytest.raises(CandidateFileError, match=r"field 'outputs.vscores' must be a list of numbers, got str"):
        load_candidates(write(tmp_path, [ovm]), format="ovm")


def test_problem_ids_are_unique_strings_or_integers(tmp_path):
    """Found by a reviewer: records, --log-samples and the held-out split name problems by id, and two rows with
    one id had loaded as two problems of that id; a null id had become "None" and a list its repr."""
    row = {"question": "q", "gt": "1", "code": ["a"], "pred": ["1"], "score": [True]}
    rows = [json.dumps({**row, "idx": i}) for i in (7, "8", 9)]
    assert [p.id for p in load_candidates(write(tmp_path, rows)).problems] == ["7", "8", "9"]
    assert [p.id for p in load_candidates(write(tmp_path, [json.dumps(row)] * 2)).problems] == ["1", "2"]
    with pytest.raises(CandidateFileError, match=r":3: problem id '7' was already given at line 1; ids must be "
                                                 r"unique") as err:
        load_candidates(write(tmp_path, rows[:2] + [json.dumps({**row, "idx": "7"})]))
    assert [p.id for p in err.value.partial.problems] == ["7", "8"]
    code = {"prompt": "p", "test_list": ["assert f() == 1"], "candidates": ["def f(): return 1"]}
    with pytest.raises(CandidateFileError, match=r":2: problem id '11' was already given at line 1"):
        load_candidates(write(tmp_path, [json.dumps({**code, "task_id": 11})] * 2))
    for bad, shown in ((None, "NoneType None"), ([1], r"list \[1\]"), (1.0, "float 1.0"), (True, "bool True"),
                       ("", "str ''")):
        with pytest.raises(CandidateFileError, match=rf":1: qwen row: field 'idx' \(the problem's id\) must be a "
                                                     rf"non-empty string or an integer, got {shown}"):
            load_candidates(write(tmp_path, [json.dumps({**row, "idx": bad})]))


def test_atomic_jsonl_writer_gives_each_writer_its_own_temporary_file(tmp_path):
    """Found by a breaker: two runs writing one --log-samples file shared the temporary name `FILE.tmp`, so
    one renamed the other's half-written file (a mix of both runs' records, one line cut) and the other
    failed. Each writer now has its own temporary file; the last rename wins, whole."""
    from cotnpot.jsonl_store import atomic_jsonl_writer
    path = tmp_path / "out.jsonl"
    with atomic_jsonl_writer(path) as first:
        first.write('{"run": 1}\n')
        with atomic_jsonl_writer(path) as second:
            second.write('{"run": 2}\n' * 3)
        assert path.read_text() == '{"run": 2}\n' * 3
        first.write('{"run": 1}\n')
    assert path.read_text() == '{"run": 1}\n' * 2
    with pytest.raises(RuntimeError):
        with atomic_jsonl_writer(path) as failing:
            failing.write('{"run": 3}\n')
            raise RuntimeError("the run failed")
    assert path.read_text() == '{"run": 1}\n' * 2            # kept whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl"]   # no temporary file left
    with atomic_jsonl_writer(path) as f:                       # a lone surrogate: its JSON escape
        f.write(json.dumps({"answer": "2\ud800"}, ensure_ascii=False) + "\n")
    assert json.loads(path.read_text()) == {"answer": "2\ud800"}


def test_nested_values_that_are_no_object_name_their_field_and_non_files_say_what_they_are(tmp_path):
    """Found by a breaker: an ovm row's outputs that were null or held a list, and an openai row's model that
    was null, gave Python's own messages naming nothing; a gold of NaN became "nan", which a NaN answer
    matched; a directory or a pipe given as the candidate file was "not found"."""
    path = tmp_path / "c.jsonl"
    ovm = {"question": "q", "ground_truth": "42", "outputs": [{"response": "so the answer is 42"}]}
    for row, message in (({**ovm, "outputs": None}, "ovm row: field 'outputs' must be a list of candidates, got NoneType"),
                         ({**ovm, "outputs": [["response"]]},
                          "ovm row: field 'outputs\\[0\\]' must be an object with 'response', got list"),
                         ({"question": "q", "ground_truth": "4", "6b_finetuning": None},
                          "field '6b_finetuning' must be an object with 'solution', 'is_correct', got NoneType"),
                         ({**ovm, "ground_truth": float("nan")},
                          "field 'ground_truth' \\(the gold answer\\) must be a finite number, got nan")):
        path.write_text(json.dumps(row) + "\n")
        with pytest.raises(CandidateFileError, match=rf"{path}:1: .*{message}"):
            load_candidates(path)
    with pytest.raises(ValueError, match=rf"candidate file {tmp_path}: is a directory, not a file"):
        load_candidates(tmp_path)
    import os
    os.mkfifo(tmp_path / "pipe")
    with pytest.raises(ValueError, match=r"is not a regular file \(a pipe or a device\): give a file"):
        load_candidates(tmp_path / "pipe")
