"""cotnpot generate: N samples per problem from an OpenAI-compatible server (a local fake that answers
like a reasoner), the candidate file read back by cotnpot eval, a server that dies mid-run (finished work
kept, the rerun resumes and asks only for the rest), refused prompts and bad input."""
import json
import sys
from pathlib import Path

import pytest

from cotnpot.cli import main
from cotnpot.pipeline.data import load_candidates
from cotnpot.pipeline.evaluation import EvalOptions, evaluate_table
from cotnpot.generate import GenerationError, GenProblem, generate, load_problems, write_candidates
from cotnpot.translate.client import OpenAICompatibleClient

sys.path.insert(0, str(Path(__file__).parent))
from fake_openai_server import FakeServer  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
PROBLEMS = [GenProblem(str(i), f"What is {i} plus {i}?", str(2 * i)) for i in range(1, 6)]
ANSWERS = {p.question: p.gold for p in PROBLEMS}


def client(url, **kw):
    return OpenAICompatibleClient(url, "reasoner", retries=kw.pop("retries", 0), backoff=0.01, timeout=5,
                                  temperature=0.7, max_tokens=256, seed=0, **kw)


def test_generate_then_eval_round_trip(tmp_path):
    server = FakeServer(answers=ANSWERS)
    try:
        result = generate(PROBLEMS, client(server.url + "/v1"), n=4, cache=tmp_path / "s.jsonl", concurrency=3)
    finally:
        server.close()
    assert result.counts["made"] == 20 and result.counts["refused"] == 0
    seeds = sorted(b["seed"] for _, b in server.requests if "plus 1?" in b["messages"][0]["content"])
    assert seeds == [0, 1, 2, 3]                         # sample j asks for seed + j
    path = write_candidates(result, tmp_path / "cands.jsonl")
    table = load_candidates(path)
    assert table.format == "ovm" and len(table.problems) == 5 and table.n_max == 4
    first = table.problems[0].candidates
    assert [c.answer for c in first] == ["2", "3", "2", "3"] and [c.label for c in first] == [True, False, True, False]
    ev = evaluate_table(table, EvalOptions(resamples=20))
    assert ev.metrics["source"]["mean"][1].value == pytest.approx(50.0)
    assert ev.label_disagreements == []                  # labels are the grader's own
    # fair ties: two right and two wrong answers tie at N=4, so maj@4 is one half
    assert ev.metrics["grader"]["maj"][4].value == pytest.approx(50.0)


def test_a_server_that_dies_mid_run_keeps_the_finished_samples_and_the_rerun_resumes(tmp_path):
    cache = tmp_path / "s.jsonl"
    dying = FakeServer(answers=ANSWERS, die_after=7)
    try:
        with pytest.raises(GenerationError, match="samples missing.*rerun to resume") as err:
            generate(PROBLEMS, client(dying.url), n=4, cache=cache, concurrency=1)
    finally:
        dying.close()
    kept = sum(s is not None for row in err.value.result.samples for s in row)
    assert kept == 7 and len(cache.read_text().splitlines()) == 7
    fresh = FakeServer(answers=ANSWERS)
    try:
        result = generate(PROBLEMS, client(fresh.url), n=4, cache=cache, concurrency=2)
    finally:
        fresh.close()
    assert result.counts["cached"] == 7 and result.counts["made"] == 13 and len(fresh.requests) == 13


def test_ctrl_c_keeps_the_replies_in_flight_and_the_rerun_resumes(tmp_path, monkeypatch, capsys):
    """Found by a breaker: on Ctrl-C generate still waited for the requests in flight (the pool's threads
    cannot be stopped mid-request) and then dropped their replies. They are now saved as they come, so the
    rerun asks the server only for the requests never sent."""
    import cotnpot.generate as gen
    cache = tmp_path / "s.jsonl"
    real_wait, waits = gen.wait, []

    def interrupted_wait(*args, **kwargs):   # Ctrl-C arrives as the main thread waits, the second time
        done = real_wait(*args, **kwargs)
        waits.append(done)
        if len(waits) == 2:
            raise KeyboardInterrupt
        return done

    monkeypatch.setattr(gen, "wait", interrupted_wait)
    slow = FakeServer(answers=ANSWERS, delay=0.3)
    try:
        with pytest.raises(KeyboardInterrupt):
            generate(PROBLEMS, client(slow.url), n=4, cache=cache, concurrency=3)
    finally:
        slow.close()
    asked = len(slow.requests)
    # every reply sent for is kept; a request submitted but not yet sent at the Ctrl-C is not sent
    assert 3 <= asked < 20 and len(cache.read_text().splitlines()) == asked
    assert "saving the 3 requests in flight" in capsys.readouterr().err
    monkeypatch.undo()
    fresh = FakeServer(answers=ANSWERS)
    try:
        result = generate(PROBLEMS, client(fresh.url), n=4, cache=cache, concurrency=2)
    finally:
        fresh.close()
    assert result.counts["cached"] == asked and len(fresh.requests) == 20 - asked


def test_refused_and_cut_samples_are_counted_and_the_cli_reports_them(tmp_path, capsys):
    problems = tmp_path / "problems.jsonl"
    rows = [{"question": "What is 1 plus 1?", "answer": "1 + 1 = 2\n#### 2"},
            {"question": "TOO LONG a question", "answer": "#### 5"},
            {"problem": "What is 2 plus 2? CUT", "solution": "So it is $\\boxed{4}$."}]
    problems.write_text("".join(json.dumps(r) + "\n" for r in rows))
    loaded = load_problems(problems)
    assert [p.gold for p in loaded] == ["2", "5", "4"]
    server = FakeServer(answers={"What is 1 plus 1?": "2", "What is 2 plus 2?": "4"})
    out = tmp_path / "c.jsonl"
    try:
        code = main(["generate", "--problems", str(problems), "--server", server.url, "--model", "r", "--out",
                     str(out), "--n", "2", "--seed", "0", "--quiet", "--retries", "0"])
    finally:
        server.close()
    assert code == 0
    printed = capsys.readouterr().out
    assert "2 refused by the server" in printed and "2 cut at max_tokens" in printed
    table = load_candidates(out)
    assert [len(p.candidates) for p in table.problems] == [2, 0, 2]
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert rows[2]["outputs"][0]["finish_reason"] == "length"


def test_bad_input_is_named(tmp_path, capsys):
    bad = tmp_path / "p.jsonl"
    bad.write_text('{"text": "no question"}\n')
    assert main(["generate", "--problems", str(bad), "--server", "http://127.0.0.1:9", "--model", "m",
                 "--out", str(tmp_path / "o.jsonl")]) == 2
    assert "p.jsonl:1: no 'question'" in capsys.readouterr().err
    bad.write_bytes(b'{"question": "1 + 1?"}\n{"question": "caf\xe9"}\n')   # Latin-1, not UTF-8
    assert main(["generate", "--problems", str(bad), "--server", "http://127.0.0.1:9", "--model", "m",
                 "--out", str(tmp_path / "o.jsonl")]) == 2
    assert "p.jsonl:2: not UTF-8 text (invalid continuation byte at byte 17 of the line)" in capsys.readouterr().err
    bad.write_bytes(b'{"question": "1 + 1?", "gold": "2"}\r{"question": "2 + 2?", "gold": "4"}\r')   # old Mac endings
    assert [p.gold for p in load_problems(bad)] == ["2", "4"]
    with pytest.raises(ValueError, match="n must be >= 1"):
        generate(PROBLEMS, client("http://127.0.0.1:9"), n=0)
    with pytest.raises(ValueError, match="placeholder other than"):
        generate(PROBLEMS, client("http://127.0.0.1:9"), n=1, prompt="{question} in \\boxed{}")
    with pytest.raises(ValueError, match="must contain \\{question\\}"):
        generate(PROBLEMS, client("http://127.0.0.1:9"), n=1, prompt="no placeholder")
    with pytest.raises(ValueError, match="top_p must be in"):
        main_args = ["generate", "--problems", str(bad), "--server", "http://x", "--model", "m", "--out", "o",
                     "--top-p", "2"]
        from cotnpot.translate.client import sampling_options
        sampling_options(top_p=2)
    assert main(main_args) == 2


def test_option_values_and_output_paths_are_checked_before_any_request(tmp_path, capsys):
    """Found by a breaker: --temperature nan was sent with every request (each refused, exit 0 with empty
    outputs), --limit 0 and -1 each ran one problem, and --out naming a directory crashed after every sample
    had been made."""
    problems = tmp_path / "p.jsonl"
    problems.write_text('{"question": "1+1?", "answer": "#### 2"}\n')
    base = ["generate", "--problems", str(problems), "--server", "http://127.0.0.1:9", "--model", "m"]
    for extra, message in ((["--temperature", "nan"], "temperature must be finite and >= 0, got nan"),
                           (["--timeout", "nan"], "--timeout must be in (0, 1e6] seconds, got nan"),
                           (["--limit", "0"], "--limit must be >= 1, got 0"),
                           (["--limit", "-1"], "--limit must be >= 1, got -1"),
                           # named the client's base_url, not the option (a new user)
                           (["--server", "localhost:8000"],
                            "--server must be an http(s) URL such as http://localhost:8000/v1, got 'localhost:8000'")):
        assert main([*base, "--out", str(tmp_path / "o.jsonl"), *extra]) == 2
        assert message in capsys.readouterr().err
    assert main([*base, "--out", str(tmp_path)]) == 2
    assert "is a directory, not a file" in capsys.readouterr().err
    assert not (tmp_path / "o.jsonl").exists()


def test_found_by_a_breaker_null_golds_refusals_aliases_and_paths(tmp_path, capsys):
    """Each failed before: a null gold became the text "None" every sample was graded against; a server that
    refused every request (a wrong URL, model or key) exited 0 with an empty file; under torchrun --n was
    ambiguous (torchrun's --nnodes, --nproc-per-node), and --num-samples now names it too; --out naming the
    problem file replaced it."""
    problems = tmp_path / "p.jsonl"
    problems.write_text(json.dumps({"question": "What is 1 plus 1?", "gold": None}) + "\n"
                        + json.dumps({"question": "What is 2 plus 2?", "answer": None}) + "\n")
    assert [p.gold for p in load_problems(problems)] == ["", ""]
    server = FakeServer(answers={"What is 1 plus 1?": "2", "What is 2 plus 2?": "4"})
    try:
        out = tmp_path / "c.jsonl"
        assert main(["generate", "--problems", str(problems), "--server", server.url, "--model", "r", "--out",
                     str(out), "--num-samples", "2", "--quiet", "--retries", "0"]) == 0
        rows = [json.loads(line) for line in out.read_text().splitlines()]
        assert all("ground_truth" not in r and len(r["outputs"]) == 2 for r in rows)
        assert all("label" not in o for r in rows for o in r["outputs"])
        capsys.readouterr()
        before = problems.read_bytes()
        assert main(["generate", "--problems", str(problems), "--server", server.url, "--model", "r", "--out",
                     str(problems), "--quiet"]) == 2
        assert "is the run's input (--problems)" in capsys.readouterr().err and problems.read_bytes() == before
        refused = main(["generate", "--problems", str(problems), "--server", server.url + "/v1/chat/completions",
                        "--model", "r", "--out", str(tmp_path / "r.jsonl"), "--n", "1", "--quiet", "--retries", "0"])
    finally:
        server.close()
    assert refused == 1
    assert "the server refused every request" in capsys.readouterr().err
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"question": "q", "gold": [1]}) + "\n")
    with pytest.raises(ValueError, match=r"bad.jsonl:1: 'gold' must be a string or a number, got list"):
        load_problems(bad)


def test_an_unexpected_error_from_one_request_stops_the_run_and_keeps_the_finished_replies(tmp_path):
    """Found by a breaker: an error the client did not turn into ServerUnavailable escaped `generate` raw, and
    the replies already received (and those in flight) were never saved; the rerun asked for them again."""
    import threading
    import time
    from cotnpot.translate.client import Completion

    class Flaky:
        sampling = {}
        def __init__(self):
            self.calls, self.lock = 0, threading.Lock()
        def identity(self):
            return "flaky"
        def complete(self, prompts, seed=None, cancel=None):
            with self.lock:
                self.calls += 1
                call = self.calls
            if call == 3:
                raise KeyError("choices")
            time.sleep(0.2)   # the others are in flight when the third fails
            return [Completion(f"sample {seed}", "stop")]

    cache = tmp_path / "samples.jsonl"
    with pytest.raises(GenerationError, match="KeyError"):
        generate([GenProblem("p1", "What is 2+2?", "4")], Flaky(), 6, cache=cache, concurrency=4)
    saved = [json.loads(line) for line in cache.read_text().splitlines()]
    assert len(saved) >= 3 and all(s["text"].startswith("sample") for s in saved)


def test_problem_ids_as_eval_reads_them_once_each_and_golds_finite(tmp_path):
    """Found by a breaker: generate made ids through str() ("None", "[1]", "1.0") and took two rows of one id,
    so every request was spent before eval refused the file; a NaN gold became "nan", which a NaN answer
    matched."""
    path = tmp_path / "p.jsonl"
    for rows, message in (
            ([{"question": "q1", "id": "a", "answer": "#### 3"}, {"question": "q2", "id": "a", "answer": "#### 4"}],
             f"{path}:2: problem id 'a' was already given at line 1"),
            ([{"question": "q1", "id": None, "answer": "#### 3"}],
             f"{path}:1: field 'id' (the problem's id) must be a non-empty string or an integer, got NoneType None"),
            ([{"question": "q1", "id": 1.0, "gold": "3"}], "got float 1.0"),
            ([{"question": "q1", "gold": float("nan")}], f"{path}:1: 'gold' must be a finite number, got nan"),
            ([{"question": "q1", "gold": float("inf")}], "'gold' must be a finite number, got inf")):
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
        with pytest.raises(ValueError) as error:
            load_problems(path)
        assert message in str(error.value), (rows, str(error.value))
    path.write_text(json.dumps({"question": "q1", "idx": 7, "gold": "3"}) + "\n")
    assert [p.id for p in load_problems(path)] == ["7"]


def test_two_problems_asking_the_same_question_keep_their_own_samples(tmp_path):
    """Found by a breaker: the cache key was (model, prompt, sample), so two problems asking one question shared
    keys; a rerun gave both the samples written last, and the other problem's were lost."""
    same = [GenProblem("a", "What is 1 plus 1?", "2"), GenProblem("b", "What is 1 plus 1?", "2")]
    cache = tmp_path / "s.jsonl"
    server = FakeServer(answers=ANSWERS)
    try:
        first = generate(same, client(server.url), n=2, cache=cache, concurrency=2)
        again = generate(same, client(server.url), n=2, cache=cache, concurrency=2)
    finally:
        server.close()
    assert first.counts["made"] == 4 and again.counts["cached"] == 4 and len(server.requests) == 4
    assert len({json.loads(line)["key"] for line in cache.read_text().splitlines()}) == 4   # had been 2
    assert again.samples == first.samples
    # a single problem's keys are as before: caches written by earlier versions stay valid
    from cotnpot.generate import _key
    import hashlib
    assert _key("m", "p", 1) == hashlib.sha256("m\0p\x001".encode()).hexdigest()
