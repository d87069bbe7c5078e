"""`cotnpot eval` and the evaluation behind it: report files, the Qwen figures through the CLI, program
re-execution with its cache, AQuA option mapping, the OVM samples, and bad input."""
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from cotnpot.cli import main
from cotnpot.pipeline.data import load_candidates
from cotnpot.pipeline.evaluation import EvalOptions, evaluate_file, evaluate_table
from cotnpot.pipeline.programs import choose_option, option_values

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "data"
SHARED = ROOT.parent / "shared" / "data"


def test_cli_writes_parseable_reports_with_the_qwen_figures(tmp_path, capsys):
    assert main(["eval", "--candidates", str(DATA / "qwen25math_rm_maj_example_math_cot_100.jsonl"),
                 "--out", str(tmp_path), "--quiet", "--published", str(DATA / "published.json")]) == 0
    printed = capsys.readouterr().out
    assert "| rm@N |" in printed and "## Against the published figures" in printed
    report = json.loads((tmp_path / "report.json").read_text())
    src = report["metrics"]["source"]
    # Fair ties by default: one problem ties two answers at N=8, the first seen right (93.0 -> 92.5) ...
    assert (src["rm"]["8"]["value"], src["maj (exact)"]["8"]["value"], src["pass"]["8"]["value"],
            src["mean"]["8"]["value"]) == pytest.approx((94.0, 92.5, 96.0, 91.0))
    # ... and the published figures are compared under the harness's own rule: no gap, the fair value beside.
    assert all(c["gap"] == 0 and c["ties"] == "first" for c in report["comparisons"] if c["labels"] == "source")
    maj = next(c for c in report["comparisons"] if c["labels"] == "source" and c["metric"] == "maj@8 (exact)")
    assert maj["cotnpot (fair ties)"] == 92.5
    assert report["metrics"]["source"]["maj (exact)"]["8"]["low"] < 92.5 < report["metrics"]["source"]["maj (exact)"]["8"]["high"]
    assert report["differences"]["source"]["rm − maj"]["8"]["value"] == pytest.approx(94.0 - src["maj"]["8"]["value"])
    assert [d["gold"] for d in report["label_disagreements"]] == ["10{,}000"]   # Qwen's grader misses 10{,}000
    assert (tmp_path / "report.md").read_text().startswith("# cotnpot eval")
    assert (tmp_path / "accuracy_vs_n.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_help_and_module_entry_point():
    out = subprocess.run([sys.executable, "-m", "cotnpot", "--help"], capture_output=True, text=True, check=True).stdout
    assert "eval" in out
    out = subprocess.run([sys.executable, "-m", "cotnpot", "eval", "--help"], capture_output=True, text=True,
                         check=True).stdout
    for word in ("--candidates", "--format", "--task", "--out", "maj@N", "pass@N", "bootstrap"):
        assert word in out


def test_cli_bad_input_names_file_and_line(tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    good = json.dumps({"question": "q", "gt": "1", "code": ["a"], "pred": ["1"], "score": [True]})
    bad.write_text(good + "\n" + good + "\n{oops\n")
    assert main(["eval", "--candidates", str(bad), "--quiet"]) == 1
    assert f"{bad}:3: not a JSON object" in capsys.readouterr().err
    assert main(["eval", "--candidates", str(tmp_path / "missing.jsonl")]) == 1
    assert "candidate file not found" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["eval", "--candidates", str(bad), "--format", "csv"])


def test_pot_programs_reexecute_to_their_recorded_values_and_the_cache_is_reused(tmp_path):
    rows = (DATA / "pot_codex_gsm8k_fewshot_greedy_outputs.jsonl").read_text().splitlines()[:42]
    path = tmp_path / "pot_slice.jsonl"
    path.write_text("\n".join(rows) + "\n")
    cache = tmp_path / "executions.jsonl"
    recorded = load_candidates(path)
    n = len(recorded.problems)
    ev = evaluate_file(path, options=EvalOptions(cache=cache, resamples=50))
    x = ev.execution
    assert x["programs"] == n == x["unique_programs"] and n >= 40
    assert x["same_as_recorded"] == x["compared_with_recorded"] >= 35
    accuracy = ev.metrics["grader"]["pass"][1].value
    want = 100 * sum(abs(float(p.candidates[0].executed) - float(p.gold)) < 1e-4 * max(1, abs(float(p.gold)))
                     for p in recorded.problems if p.candidates[0].executed not in ("None", "")) / n
    assert accuracy == pytest.approx(want)
    again = evaluate_file(path, options=EvalOptions(cache=cache, resamples=50))
    assert again.execution["unique_programs"] == 0 and again.metrics["grader"]["pass"][1].value == accuracy


def test_an_interrupted_execution_keeps_what_it_finished(tmp_path):
    """Found by a breaker: Ctrl-C in eval's execution stage lost every execution that had finished (the
    cache was written once all had run), so the rerun ran them all again. Each is now cached as it
    finishes: the rerun runs only the others, to the same answers as a run never stopped."""
    from cotnpot import Executor
    from cotnpot.pipeline.programs import ExecutionCache, execute
    rows = (DATA / "pot_codex_gsm8k_fewshot_greedy_outputs.jsonl").read_text().splitlines()[1:41]
    programs = [json.loads(line)["generated"][0] for line in rows]

    def stop_at_ten(done):
        if done == 10:
            raise KeyboardInterrupt

    with Executor(workers=2, timeout=5.0) as ex:
        with pytest.raises(KeyboardInterrupt):
            execute(programs, "pot", ex, progress=stop_at_ten, cache=ExecutionCache(tmp_path / "cache.jsonl"))
        kept = len((tmp_path / "cache.jsonl").read_text().splitlines())
        assert 10 <= kept < 40
        resumed = execute(programs, "pot", ex, cache=ExecutionCache(tmp_path / "cache.jsonl"))
        straight = execute(programs, "pot", ex)
    assert resumed.unique == 40 - kept and straight.unique == 40
    assert resumed.answers == straight.answers and resumed.statuses == straight.statuses
    assert sum(a != "" for a in straight.answers) >= 35


def test_a_full_disk_under_the_cache_costs_the_cache_not_the_run(tmp_path, capsys):
    """The execution cache's file on a full disk (here /dev/full, which refuses every write) had ended
    `cotnpot eval` with an OSError after its programs ran: the run warns and writes its report."""
    rows = (DATA / "pot_codex_gsm8k_fewshot_greedy_outputs.jsonl").read_text().splitlines()[1:9]
    cands = tmp_path / "pot.jsonl"
    cands.write_text("\n".join(rows) + "\n")
    (tmp_path / "out" / "cache").mkdir(parents=True)
    (tmp_path / "out" / "cache" / "executions.jsonl").symlink_to("/dev/full")
    with pytest.warns(RuntimeWarning, match="executions.jsonl: No space left on device; this run goes on"):
        assert main(["eval", "--candidates", str(cands), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["execution"]["programs"] == 8


def test_ctrl_c_ends_the_command_with_one_line_and_status_130(tmp_path, monkeypatch, capsys):
    import cotnpot.cli

    def interrupted(args):
        raise KeyboardInterrupt
    monkeypatch.setattr(cotnpot.cli, "_eval", interrupted)
    assert main(["eval", "--candidates", str(tmp_path / "c.jsonl")]) == 130
    assert capsys.readouterr().err == "cotnpot eval: interrupted\n"


def test_aqua_option_mapping():
    assert option_values("A)$1,500") == [1500.0] and option_values("A)(99,10)") == [99.0]
    assert option_values("C)7!") == [5040.0] and option_values("B)28%") == [28.0, 0.28]
    assert option_values("E)None of these") == []
    options = ["A)27", "B)81", "C)90", "D)28%", "E)None"]
    assert choose_option("80.2", options) == "B" and choose_option("0.28", options) == "D"
    assert choose_option("x + 1", options) == "" and choose_option("nan", options) == ""


def test_ovm_samples_evaluate_with_both_labelings():
    table = load_candidates(SHARED / "ovm_gsm8k_test_mistral7b_n300_samples.jsonl")
    ev = evaluate_table(table, EvalOptions(ks=[1, 300], resamples=50))
    assert ev.labelings == ["source", "grader"]
    mean = ev.metrics["source"]["mean"][1].value
    assert mean == pytest.approx(51.7, abs=0.1)
    # The grader re-judges the sample answers against the gold ones; the one "[invalid]" label and any
    # disagreement are listed, never silently merged.
    assert abs(ev.metrics["grader"]["mean"][1].value - mean) <= 100 * len(ev.label_disagreements) / 3000 + 1e-9
    assert ev.metrics["source"]["pass"][300].value == pytest.approx(100.0)


# ---- found by a breaker of the command line ---------------------------------------------------------------

ROW = {"idx": 0, "question": "1+1?", "gt": "2", "code": ["a \\boxed{2}", "b \\boxed{3}"], "pred": ["2", "3"],
       "score": [True, False]}


def write_rows(path, *rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.mark.parametrize("change, message", [
    ({"score": ["false", True]}, "field 'score[0]' must be true or false, got str 'false'"),
    ({"gt": None}, "field 'gt' (the gold answer) is empty or null"),
    ({"pred": [None, "3"], "gt": None}, "field 'gt' (the gold answer) is empty or null"),
    ({"code": [5, "b"]}, "field 'code': entry 0 must be a string, got int 5"),
    ({"pred": [[2], "3"]}, "field 'pred[0]' must be a string or a number, got list"),
    # found by a checker: true read as 1.0, "0.9" as 0.9 and "Infinity" as a score that always won
    ({"pred_score": [[True], [False]]}, "field 'pred_score[0]' must be a number or a list of numbers, got list"),
    ({"pred_score": ["0.9", 0.1]}, "field 'pred_score[0]' must be a number or a list of numbers, got str '0.9'"),
    ({"pred_score": [0.1, ["Infinity"]]}, "field 'pred_score[1]' must be a number or a list of numbers, got list"),
    ({"pred_score": "0.9"}, "field 'pred_score' must be a list (one score per candidate), got str '0.9'"),
    # found by a reviewer: JSON's bare Infinity, and an int past float's range (a raw OverflowError)
    ({"pred_score": [[float("inf")], [0.9]]}, "field 'pred_score[0]' must be finite, got inf"),
    ({"pred_score": [0.1, 10 ** 400]}, "field 'pred_score[1]' is too large for a score: 10000000000000000000..."),
    # found by a reviewer: a null or numeric question loaded, and crashed the verifier after the whole run
    ({"question": None}, "field 'question' must be a string, got NoneType None"),
    ({"question": 5}, "field 'question' must be a string, got int 5"),
])
def test_fields_of_the_wrong_type_are_refused_by_file_and_line(tmp_path, capsys, change, message):
    """A label "false" counted as correct (bool("false")), a null gold and a null answer both read "None" and
    matched, and a number among the texts failed later in the grader or the sandbox."""
    path = write_rows(tmp_path / "c.jsonl", {**ROW, **change})
    assert main(["eval", "--candidates", str(path), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert f"{path}:1: qwen row: {message}" in err, err


def test_code_and_program_rows_check_their_texts(tmp_path, capsys):
    code = write_rows(tmp_path / "code.jsonl", {"prompt": "x", "test_list": ["assert f() == 1"], "candidates": [None]})
    assert main(["eval", "--candidates", str(code), "--quiet"]) == 1
    assert "field 'candidates': entry 0 must be a string, got NoneType" in capsys.readouterr().err
    pot = write_rows(tmp_path / "pot.jsonl", {"question": "q", "answer": 2, "generated": [None, 5]})
    assert main(["eval", "--candidates", str(pot), "--quiet"]) == 1
    assert "field 'generated': entry 0 must be a string" in capsys.readouterr().err
    imports = write_rows(tmp_path / "imports.jsonl", {"prompt": "x", "test_list": ["assert f() == 1"],
                                                      "candidates": ["def f(): return 1"], "test_imports": "import os"})
    assert load_candidates(imports).problems[0].setup == "import os"   # a string is one line, not its letters


def test_output_paths_are_checked_before_the_work(tmp_path, capsys):
    """--out naming a file crashed with FileExistsError after the whole evaluation, and its report was lost;
    a directory given as --log-samples crashed the same way."""
    cands = write_rows(tmp_path / "c.jsonl", ROW)
    for args, message in ((["--out", str(cands)], "--out"), (["--log-samples", str(tmp_path)], "--log-samples"),
                          (["--ks", "1,,2"], "--ks must be comma-separated positive integers"),
                          (["--ks", "10" * 12], "--ks must be")):
        assert main(["eval", "--candidates", str(cands), "--quiet", *args]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"cotnpot eval: {message}") and "Traceback" not in err, err
    assert main(["experiment", "--seeds", "0"]) == 2
    assert "--seeds must be >= 1" in capsys.readouterr().err
    assert main(["experiment", "--problems", "1"]) == 2
    assert "--problems must be >= 20" in capsys.readouterr().err


def test_found_by_a_reviewer_outputs_sizes_and_fields(tmp_path, capsys):
    """Two outputs naming one file replaced one with the other, silently (the log over OUT/report.json, over
    the execution cache); sizes past any run ended in tracebacks after the whole run (10^13 resamples: 960 TB
    asked of the allocator) or in a TypeError dumping the Executor's arguments; JSON nested past the recursion
    limit was a RecursionError; an OVM gold solution in a list became the gold "42']"; PoT options as one
    string became five options, and a recorded true the answer "True"."""
    cands = write_rows(tmp_path / "c.jsonl", ROW)
    out = tmp_path / "out"
    for args, message in (
            (["--out", str(out), "--log-samples", str(out / "report.json")],
             f"--out's report.json {out / 'report.json'}: is also --log-samples"),
            (["--out", str(out), "--log-samples", str(out / "cache" / "executions.jsonl")],
             f"--cache {out / 'cache' / 'executions.jsonl'}: is also --log-samples"),
            (["--cache", str(tmp_path / "same.jsonl"), "--log-samples", str(tmp_path / "same.jsonl")],
             f"--cache {tmp_path / 'same.jsonl'}: is also --log-samples"),
            (["--resamples", str(10 ** 13)], "--samples must be in [2, 1000000] and --resamples in [1, 1000000]"),
            (["--samples", "9" * 20], "--samples must be in [2, 1000000]"),
            (["--workers", str(2 ** 40)], f"--workers must be in [1, 1024], got {2 ** 40}"),
            (["--concurrency", "0"], "--concurrency must be in [1, 1024], got 0")):
        assert main(["eval", "--candidates", str(cands), "--quiet", *args]) == 2, args
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, (args, err)
        assert not out.exists() and not (tmp_path / "same.jsonl").exists()
    deep = tmp_path / "deep.jsonl"
    deep.write_text("[" * 100_000 + "]" * 100_000 + "\n")
    assert main(["eval", "--candidates", str(deep), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert f"{deep}:1: not a JSON object: JSON nested too deeply to read" in err and "Traceback" not in err, err
    assert main(["eval", "--candidates", str(cands), "--quiet", "--published", str(deep)]) == 2
    assert "JSON nested too deeply to read" in capsys.readouterr().err
    ovm = write_rows(tmp_path / "ovm.jsonl", {"question": "q", "answer": ["#### 42"],
                                              "outputs": [{"response": "so the answer is 42"}]})
    assert main(["eval", "--candidates", str(ovm), "--quiet"]) == 1
    assert "field 'answer' (the gold solution) must be a string, got list" in capsys.readouterr().err
    # where ground_truth gives the gold, an answer field is not read, so not checked (a reviewer)
    assert load_candidates(write_rows(tmp_path / "ovm2.jsonl", {
        "question": "q", "ground_truth": "42", "answer": 42,
        "outputs": [{"response": "so the answer is 42"}]})).problems[0].gold == "42"
    for change, message in (({"options": "ABCDE"}, "field 'options' must be a list of strings, got str 'ABCDE'"),
                            ({"executed": True}, "field 'executed' must be a string or a number, got bool True"),
                            ({"executed": {"a": 1}}, "field 'executed' must be a string or a number, got dict")):
        pot = write_rows(tmp_path / "pot.jsonl", {"question": "q", "answer": 2, "generated": "print(2)", **change})
        assert main(["eval", "--candidates", str(pot), "--quiet"]) == 1
        assert message in capsys.readouterr().err


def test_output_names_the_filesystem_refuses_are_found_before_the_work(tmp_path, capsys):
    """A --out name past NAME_MAX, or in /proc, failed only at the end of the run, and its report was lost; a
    refused train option left its --out directory behind, empty (a reviewer)."""
    cands = write_rows(tmp_path / "c.jsonl", ROW)
    for args, message in ((["--out", str(tmp_path / ("a" * 300))], "File name too long"),
                          (["--out", str(tmp_path / "ok" / ("b" * 300))], "is longer than the 255 bytes"),
                          (["--log-samples", str(tmp_path / ("c" * 300 + ".jsonl"))], "long"),
                          (["--out", "/proc/cotnpot-out"], "cannot write in /proc")):
        assert main(["eval", "--candidates", str(cands), "--quiet", *args]) == 2, args
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, (args, err)
    assert main(["eval", "--candidates", str(cands), "--quiet", "--log-samples", "/dev/null"]) == 0
    capsys.readouterr()
    assert main(["train", "--candidates", str(cands), "--model", str(tmp_path / "none"), "--epochs", "0",
                 "--out", str(tmp_path / "train" / "sub")]) == 2
    assert not (tmp_path / "train").exists()


def test_options_that_do_not_apply_to_the_file_are_refused(tmp_path, capsys):
    """Each was ignored or mislabelled (a reviewer): --task mbpp on a math file (reported as task mbpp), a math
    task or --no-execute on a code file (its programs ran anyway), --execute on a file with no programs, a
    mistyped published figure (left out of the comparison), and a test suite that does not compile (every
    candidate failed: 0%)."""
    cands = write_rows(tmp_path / "c.jsonl", ROW)
    code_row = {"prompt": "x", "test_list": ["assert f() == 1"], "candidates": ["def f(): return 1"]}
    code = write_rows(tmp_path / "code.jsonl", code_row)
    published = tmp_path / "published.json"
    published.write_text(json.dumps({"c": {"figures": {"acuracy": 50}}}))
    for path, args, message in (
            (cands, ["--task", "mbpp"], "task mbpp is for code files (prompt, test_list, candidates); this is a qwen file"),
            (code, ["--task", "gsm8k"], "task gsm8k is a math task; a code file (prompt, test_list, candidates) is task mbpp"),
            (code, ["--no-execute"], "--no-execute uses recorded answers; a code file's candidates are judged by running"),
            (cands, ["--execute"], "--execute re-runs the candidates' programs, and a qwen file has none"),
            (cands, ["--published", str(published)],
             "--published: figure 'acuracy' is neither accuracy, mean, a method@k nor a source of this file (it has none)")):
        assert main(["eval", "--candidates", str(path), "--quiet", *args]) == 1, args
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, (args, err)
    for change, message in (({"test_list": ["assert f(==1"]}, "field 'test_list': entry 0 is not Python"),
                            ({"test_imports": ["import"]}, "field 'test_imports': entry 0 is not Python"),
                            # a reviewer: compile's MemoryError and RecursionError had been raw tracebacks
                            ({"test_list": ["assert f(1) == " + "-" * 200000 + "1"]}, "field 'test_list': entry 0 is not Python"),
                            ({"test_list": ["x=" + "1+" * 100000 + "1"]}, "field 'test_list': entry 0 is not Python")):
        broken = write_rows(tmp_path / "broken.jsonl", {**code_row, **change})
        assert main(["eval", "--candidates", str(broken), "--quiet"]) == 1
        assert f"{broken}:1: code row: {message}" in capsys.readouterr().err
    published.write_text(json.dumps({"c": {"figures": {"accuracy": 50, "mean": 40, "rm@2": 50}}}))
    assert main(["eval", "--candidates", str(cands), "--quiet", "--published", str(published)]) == 0


def test_outputs_through_a_link_or_into_a_fifo(tmp_path, capsys):
    """An output path that is a symbolic link had become a file of its own (the link's target unchanged), and
    a FIFO a regular file whose reader got nothing: the target is replaced, and a FIFO written to."""
    import contextlib
    import os
    import threading
    cands = write_rows(tmp_path / "c.jsonl", ROW)
    target = tmp_path / "target.jsonl"
    target.write_text("old\n")
    link = tmp_path / "link.jsonl"
    link.symlink_to(target)
    assert main(["eval", "--candidates", str(cands), "--quiet", "--log-samples", str(link)]) == 0
    capsys.readouterr()
    assert link.is_symlink() and json.loads(target.read_text().splitlines()[0])["gold"] == "2"
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_text()))
    reader.start()
    try:
        assert main(["eval", "--candidates", str(cands), "--quiet", "--log-samples", str(fifo)]) == 0
    finally:
        reader.join(10)
        if reader.is_alive():   # the FIFO was not opened for writing: open it once, so that the reader ends
            # (not before the join, nor blocking: a reader still returning had been taken for one never served,
            # and a blocking open with no reader left hung the whole test run)
            with contextlib.suppress(OSError):
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
            reader.join(10)
    assert fifo.is_fifo() and json.loads(got[0].splitlines()[0])["gold"] == "2"


def test_samples_logged_to_stdout_redirected_to_a_file_keep_what_was_printed(tmp_path):
    """A reviewer: "--log-samples /dev/stdout > run.log" resolved to run.log and replaced it by a rename, so the
    tables printed before were lost and those printed after went to the unlinked old file."""
    cands = write_rows(tmp_path / "c.jsonl", ROW)
    log = tmp_path / "run.log"
    with open(log, "w") as out:
        out.write("first line\n")
        out.flush()
        done = subprocess.run([sys.executable, "-c", "from cotnpot.cli import main; print('before', flush=True); "
                               f"code = main(['eval', '--candidates', {str(cands)!r}, '--quiet', "
                               "'--log-samples', '/dev/stdout']); print('after'); raise SystemExit(code)"],
                              stdout=out, stderr=subprocess.PIPE, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    text = log.read_text()
    lines = text.splitlines()
    assert lines[:2] == ["first line", "before"] and lines[-1] == "after", text
    records = [json.loads(line) for line in lines if line.startswith("{")]
    assert [r["gold"] for r in records] == ["2"], text
    assert "best-of-n" in text.lower() or "accuracy" in text.lower(), text   # the tables are there too


def test_a_broken_verifier_directory_is_named_not_a_traceback(tmp_path, capsys):
    """A tiny: config with an unknown key raised TypeError through the CLI (it caught only OSError and
    ValueError); so did weights of another shape and a cut safetensors file."""
    from cotnpot.models.tiny import TinyCausalLM, TinyConfig
    model_dir = tmp_path / "tiny"
    TinyCausalLM(TinyConfig(vocab_size=259, dim=8, layers=1, heads=2, hidden=16, max_length=64)).save_pretrained(model_dir)
    config = json.loads((model_dir / "config.json").read_text())
    (model_dir / "config.json").write_text(json.dumps({**config, "no_such_setting": 1}))
    cands = write_rows(tmp_path / "c.jsonl", ROW)
    assert main(["eval", "--candidates", str(cands), "--quiet", "--verifier", f"tiny:{model_dir}"]) == 2
    err = capsys.readouterr().err
    assert (f"cannot load the verifier from tiny:{model_dir}: ValueError: {model_dir / 'config.json'}: " in err
            and "'no_such_setting'" in err and "Traceback" not in err)


def test_a_lone_surrogate_in_an_answer_is_printed_escaped(tmp_path):
    """A candidate file (or a server's reply) may hold a lone surrogate: printing the tables raised
    UnicodeEncodeError after the whole evaluation."""
    path = tmp_path / "c.jsonl"
    path.write_text(json.dumps({**ROW, "pred": ["2\ud800", "3"]}) + "\n")
    r = subprocess.run([sys.executable, "-m", "cotnpot", "eval", "--candidates", str(path), "--quiet",
                        "--log-samples", str(tmp_path / "log.jsonl")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "| pass@N |" in r.stdout
    record = json.loads((tmp_path / "log.jsonl").read_text())
    assert record["candidates"][0]["answer"] == "2\ud800"   # written as its JSON escape, read back the same


def test_found_by_a_breaker_options_inputs_and_reports(tmp_path, capsys):
    """Each failed before: bad --workers/--timeout/--seed ran (or failed at the end with exit 1); an output path
    naming the candidate file replaced it; --log-samples was ignored for code files; --task aqua without options
    and --no-execute on PoT files with no recorded answers gave impossible numbers with exit 0; a hand-written
    --published entry crashed at the very end; a non-UTF-8 file name left a 0-byte report.json."""
    cands = write_rows(tmp_path / "c.jsonl", ROW)
    before = cands.read_bytes()
    for args, message in ((["--workers", "0"], "--workers must be in [1, 1024], got 0"),
                          (["--timeout", "0"], "--timeout must be > 0 and at most 1e6 seconds, got 0.0"),
                          (["--timeout", "nan"], "--timeout must be > 0 and at most 1e6 seconds, got nan"),
                          (["--timeout", "1e7"], "--timeout must be > 0 and at most 1e6 seconds, got 10000000.0"),
                          (["--seed", "9" * 23], "--seed must be between -2^63 and 2^64 - 2"),
                          (["--log-samples", str(cands)], f"--log-samples {cands}: is the run's input (--candidates)"),
                          (["--cache", str(cands)], f"--cache {cands}: is the run's input")):
        assert main(["eval", "--candidates", str(cands), "--quiet", *args]) == 2, args
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, (args, err)
        assert cands.read_bytes() == before
    code = write_rows(tmp_path / "code.jsonl", {"prompt": "x", "test_list": ["assert f() == 1"],
                                                "candidates": ["def f(): return 1"]})
    assert main(["eval", "--candidates", str(code), "--quiet", "--log-samples", str(tmp_path / "l.jsonl")]) == 1
    assert "--log-samples writes math candidates' records; a code file has none" in capsys.readouterr().err
    assert main(["eval", "--candidates", str(cands), "--quiet", "--example-filter"]) == 1   # the previous stop's
    assert "--example-filter drops code candidates that fail" in capsys.readouterr().err   # left item: was ignored
    assert main(["eval", "--candidates", str(cands), "--quiet", "--task", "aqua"]) == 1
    assert "task aqua picks among each problem's answer options, and no problem here has any" in capsys.readouterr().err
    assert main(["eval", "--candidates", str(cands), "--quiet", "--seed", "-1"]) == 0   # a reviewer: seeds that worked
    capsys.readouterr()
    pot = write_rows(tmp_path / "pot.jsonl", *[json.loads(line) for line in
                                               (DATA / "pot_codex_aqua_sc30_outputs.jsonl").open().readlines()[:2]])
    assert main(["eval", "--candidates", str(pot), "--quiet", "--no-execute"]) == 1
    assert "--no-execute uses the recorded answers, and this file records none" in capsys.readouterr().err
    for entry, message in (({"figures": {"pass@1": "abc"}}, "figure 'pass@1' must be a number, got 'abc'"),
                           ([1, 2], "must be an object, got list"),
                           ({"figures": {"maj@x": 30}}, "figure 'maj@x': expected accuracy"),
                           ({"figures": {"maj@8 foo": 30}}, "figure 'maj@8 foo': expected accuracy"),
                           ({"figures": {"pass@1": 30}, "ties": "bogus"}, "ties must be one of")):
        published = tmp_path / "published.json"
        published.write_text(json.dumps({"c": entry}))
        assert main(["eval", "--candidates", str(cands), "--quiet", "--published", str(published)]) == 2, entry
        assert message in capsys.readouterr().err, entry
    # the parser's words alone ("Extra data: line 2 column 1") named neither the file nor what it should hold
    # (a new user, who passed a JSONL file)
    published.write_text('{"c": 1}\n{"d": 2}\n')
    assert main(["eval", "--candidates", str(cands), "--quiet", "--published", str(published)]) == 2
    assert (f"--published: {published}: not a JSON document (Extra data: line 2 column 1 (char 9)); expected one "
            "JSON object of published figures per candidate file, as data/published.json") in capsys.readouterr().err
    published.write_text(json.dumps({"c": {"figures": {"pass@1": 30}}}))   # no "from": a report all the same
    assert main(["eval", "--candidates", str(cands), "--quiet", "--published", str(published),
                 "--out", str(tmp_path / "pub")]) == 0
    assert "source: not given" in (tmp_path / "pub" / "report.md").read_text()
    latin = tmp_path / "caf\udce9.jsonl"   # a file name that is not UTF-8 (os.fsencode gives back its byte)
    latin.write_bytes(before)
    assert main(["eval", "--candidates", str(latin), "--quiet", "--out", str(tmp_path / "latin")]) == 0
    report = json.loads((tmp_path / "latin" / "report.json").read_text(encoding="utf-8"))
    assert report["path"].endswith("caf\udce9.jsonl") and (tmp_path / "latin" / "report.md").stat().st_size > 0


def test_a_pipe_or_line_break_in_an_answer_stays_in_its_table_cell(tmp_path):
    """Found by a breaker: MATH's |-3| split the disagreements table's row."""
    cands = write_rows(tmp_path / "c.jsonl", {**ROW, "gt": "|-3|", "pred": ["3", "4\n5"], "score": [False, False]})
    assert main(["eval", "--candidates", str(cands), "--quiet", "--out", str(tmp_path / "r")]) == 0
    lines = (tmp_path / "r" / "report.md").read_text().split("## Grader vs the file's labels")[1].splitlines()
    row = next(line for line in lines if line.startswith("| 0 |"))
    assert "`\\|-3\\|`" in row and row.replace("\\|", "").count("|") == 7


def _strict_json(text: str):
    """Parse as a strict JSON parser would (jq, JSON.parse): NaN and Infinity are not JSON."""
    def refuse(constant):
        raise ValueError(f"{constant} is not JSON")
    return json.loads(text, parse_constant=refuse)


def test_close_scores_in_a_file_do_not_tie(tmp_path):
    """Found by a checker: file scores went through float32, where 100.000001 (a wrong answer) and
    100.000002 (the right one) are one value; best-of-N took the first, and rm@2 was 0 (50 with fair ties)."""
    cands = write_rows(tmp_path / "c.jsonl", {**ROW, "code": ["a", "b"], "pred": ["3", "2"], "score": [False, True],
                                              "pred_score": [[100.000001], [100.000002]]})
    table = load_candidates(cands)
    assert table.scores().dtype == torch.float64 and table.scores()[0, 1] > table.scores()[0, 0]
    for ties in ("fair", "first"):
        ev = evaluate_table(table, EvalOptions(ks=[2], ties=ties))
        assert ev.metrics["source"]["rm"][2].value == 100.0, (ties, ev.metrics["source"]["rm"])
    # null and an empty list are no score
    table = load_candidates(write_rows(tmp_path / "n.jsonl", {**ROW, "pred_score": [None, []]}))
    assert torch.isnan(table.scores()).all()


def test_reports_and_sample_logs_are_strict_json(tmp_path):
    """Left by the previous stop: one problem has no bootstrap interval and a candidate without a score is NaN;
    report.json and --log-samples wrote them as NaN, which strict parsers refuse. Now null."""
    cands = write_rows(tmp_path / "c.jsonl", {**ROW, "pred_score": [0.5, float("nan")]})
    assert main(["eval", "--candidates", str(cands), "--quiet", "--out", str(tmp_path / "r"),
                 "--log-samples", str(tmp_path / "samples.jsonl")]) == 0
    report = _strict_json((tmp_path / "r" / "report.json").read_text())
    mean = report["metrics"]["source"]["mean"]["1"]
    assert mean["value"] == 50.0 and mean["low"] is None and mean["high"] is None
    (record,) = [_strict_json(line) for line in (tmp_path / "samples.jsonl").read_text().splitlines()]
    assert [(c["answer"], c["score"]) for c in record["candidates"]] == [("2", 0.5), ("3", None)]


def test_published_figures_of_no_method_are_refused_and_those_left_uncompared_are_named(tmp_path, capsys):
    """Found by a breaker: a figure of a mistyped method ("foo@4"), of a k the run did not evaluate ("pass@3"
    with --ks 1,2) or of a method it could not report was dropped from the comparison without a word."""
    cands = write_rows(tmp_path / "c.jsonl", ROW)
    published = tmp_path / "published.json"
    published.write_text(json.dumps({"c": {"figures": {"foo@4": 50}}}))
    assert main(["eval", "--candidates", str(cands), "--quiet", "--published", str(published)]) == 1
    assert "--published: figure 'foo@4': 'foo' is no method cotnpot reports (" in capsys.readouterr().err
    published.write_text(json.dumps({"c": {"figures": {"pass@1": 50, "pass@3": 50, "weighted@2": 40}}}))
    assert main(["eval", "--candidates", str(cands), "--quiet", "--published", str(published), "--ks", "1,2",
                 "--out", str(tmp_path / "out")]) == 0
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert [c["metric"] for c in report["comparisons"]][:1] == ["pass@1"]
    notes = report["notes"]
    assert "published pass@3 not compared: N = 3 was not evaluated (--ks)." in notes, notes
    assert any(n.startswith("published weighted@2 not compared: weighted is not among this run's methods (")
               for n in notes), notes


def test_the_report_files_are_written_before_anything_is_printed(tmp_path, monkeypatch):
    """Found by a breaker: with stdout's reader gone (`| head`, a pager quit), printing the tables failed, and
    the report files, written after them, were lost with a whole run's work."""
    class Gone:
        def write(self, text):
            raise BrokenPipeError(32, "Broken pipe")

        def flush(self):
            raise BrokenPipeError(32, "Broken pipe")

    cands = write_rows(tmp_path / "c.jsonl", ROW)
    monkeypatch.setattr(sys, "stdout", Gone())
    main(["eval", "--candidates", str(cands), "--quiet", "--out", str(tmp_path / "out")])
    assert json.loads((tmp_path / "out" / "report.json").read_text())["metrics"]


def test_a_report_set_is_replaced_whole_or_not_at_all(tmp_path, monkeypatch):
    """Found by a breaker: on a full disk a rerun replaced report.json and report.md and kept the earlier run's
    plots. Every file is now written out before any replaces its earlier version."""
    from cotnpot.pipeline import report
    cands = write_rows(tmp_path / "c.jsonl", ROW)
    out = tmp_path / "out"
    assert main(["eval", "--candidates", str(cands), "--quiet", "--out", str(out)]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    real_png = report.plot_png

    def full_disk_at_the_last_plot(ev, per_call=False):
        if per_call:
            raise OSError(28, "No space left on device")
        return real_png(ev, per_call)
    monkeypatch.setattr(report, "plot_png", full_disk_at_the_last_plot)
    assert main(["eval", "--candidates", str(cands), "--quiet", "--out", str(out), "--ties", "first"]) != 0
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before


def test_every_option_with_a_default_says_it_in_the_help():
    """A new user: `cotnpot train --help` named no default, and a run then failed on a --max-length of 1024
    that no text mentioned; generate's sampling options were the same."""
    from cotnpot.cli import build_parser
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    for name, command in commands.items():
        for action in command._actions:
            if action.option_strings and action.nargs != 0 and action.default not in (None, "==SUPPRESS=="):
                text = command.formatter_class(prog="x")._get_help_string(action) or ""
                assert "default" in text or re.search(r"\(\d[\d.]*\)", text), (name, action.option_strings, text)
    train_help = commands["train"].format_help()
    assert "(default: 1024; TrainConfig's own is 512)" in " ".join(train_help.split())
    assert "(default: simpo)" in train_help and "(default: 0.0005)" in " ".join(train_help.split())
    assert "sampling temperature (default: 0.7)" in " ".join(commands["generate"].format_help().split())


def test_notes_for_columns_past_n_and_a_translator_that_made_no_program(tmp_path, capsys):
    """A new user: --ks 16 on an 8-sample file printed a column N=16 holding the @8 values, and the offline
    translator on MATH solutions (no <<calc>> annotations) made CoTnPoT rows that were copies of maj and rm,
    with no word of either."""
    rows = (DATA / "qwen25math_rm_maj_example_math_cot_100.jsonl").read_text().splitlines()[:12]
    cands = tmp_path / "math.jsonl"
    cands.write_text("\n".join(rows) + "\n")
    assert main(["eval", "--candidates", str(cands), "--ks", "1,8,16", "--translator", "offline",
                 "--resamples", "20", "--out", str(tmp_path / "out"), "--quiet"]) == 0
    notes = json.loads((tmp_path / "out" / "report.json").read_text())["input_notes"]
    assert ("N=16 asked for (--ks) is past every problem's candidates (at most 8): its column holds the values "
            "at N=8.") in notes, notes
    assert ("No candidate is consistent: 0 programs for 96 candidates (the offline translator reads GSM8K's "
            "<<calc>> annotations, which these solutions lack), so every CoTnPoT row is its base method's (each "
            "subset falls back to all its candidates).") in notes, notes
    assert "N=16" in capsys.readouterr().out
