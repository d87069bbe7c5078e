"""Code tasks: MBPP reference solutions and broken variants as candidates, explained by an
OpenAI-compatible server on 127.0.0.1, scored by TinyCausalLM on explanation + code, with cotnpot's
example-test filter."""
import json
import sys
from pathlib import Path

import pytest
import torch

from cotnpot import Executor
from cotnpot.pipeline.code_tasks import CodeTask, SuiteCache, code_with_explanation, evaluate_code
from cotnpot.models import ByteTokenizer, TinyCausalLM, TinyConfig
from cotnpot.translate import OpenAICompatibleTranslator
from cotnpot.verifier import score_solutions

sys.path.insert(0, str(Path(__file__).parent))
from fake_openai_server import FakeServer  # noqa: E402

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"


def test_code_pipeline_on_mbpp():
    rows = [json.loads(line) for line in (SHARED / "mbpp_sanitized.jsonl").open()][:6]
    tasks = [CodeTask(r["prompt"], r["test_list"], "\n".join(r["test_imports"])) for r in rows]
    broken = ["def wrong(*args):\n    return None\n" + r["code"].replace("return ", "return None and ") for r in rows]
    candidates = [[b, r["code"]] for r, b in zip(rows, broken)]
    server = FakeServer()
    torch.manual_seed(0)
    model = TinyCausalLM(TinyConfig(dim=32, layers=1, heads=4, hidden=86)).eval()
    try:
        with Executor(workers=2, timeout=5.0) as ex:
            result = evaluate_code(tasks, candidates, ex, translator=OpenAICompatibleTranslator(server.url, "m"),
                                   verifier=(model, ByteTokenizer()), example_filter=True)
    finally:
        server.close()
    assert result.correct[:, 1].all() and not result.correct[:, 0].any()   # references pass, broken ones fail
    assert torch.equal(result.passes_example, result.correct)
    assert {p for p, _ in server.requests} == {"/v1/chat/completions"} and len(server.requests) == 12
    assert "Explain in words" in server.requests[0][1]["messages"][0]["content"]
    # explanation + code is what the verifier scored
    e = result.explanations[0][1]
    want = score_solutions(model, ByteTokenizer(), [(tasks[0].prompt, code_with_explanation(e, candidates[0][1]))])
    assert result.scores["explanation+code"][0, 1].item() == pytest.approx(want.item(), abs=1e-5)
    # the example filter keeps exactly the correct candidates here, so with it best-of-2 is always right
    assert result.metrics["rm (explanation+code) + example filter"][2].value == pytest.approx(100.0)
    assert result.metrics["pass"][1].value == pytest.approx(50.0)


def test_cli_on_a_code_candidate_file(tmp_path):
    from cotnpot.cli import main
    rows = [json.loads(line) for line in (SHARED / "mbpp_sanitized.jsonl").open()][:4]
    path = tmp_path / "code.jsonl"
    path.write_text("".join(json.dumps({"task_id": r["task_id"], "prompt": r["prompt"], "test_list": r["test_list"],
                                        "test_imports": r["test_imports"],
                                        "candidates": ["def nothing():\n    pass\n", r["code"]]}) + "\n"
                            for r in rows))
    torch.manual_seed(0)
    TinyCausalLM(TinyConfig(dim=32, layers=1, heads=4, hidden=86)).save_pretrained(tmp_path / "m")
    server = FakeServer()
    try:
        assert main(["eval", "--candidates", str(path), "--translator", server.url, "--translator-model", "m",
                     "--verifier", f"tiny:{tmp_path / 'm'}", "--example-filter", "--out", str(tmp_path / "out"),
                     "--quiet"]) == 0
    finally:
        server.close()
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    m = report["metrics"]["tests"]
    assert m["pass"]["1"]["value"] == pytest.approx(50.0) and m["pass"]["2"]["value"] == pytest.approx(100.0)
    assert m["rm (explanation+code) + example filter"]["2"]["value"] == pytest.approx(100.0)
    assert len(server.requests) == 8   # one explanation per candidate


class Counting:
    """An executor that counts the programs it is asked to run."""

    def __init__(self, ex):
        self.ex, self.programs = ex, 0
        self.timeout, self.memory_mb = ex.timeout, ex.memory_mb
        self.output_limit, self.python = ex.output_limit, ex.python

    def run_tests(self, programs, *args, **kwargs):
        self.programs += len(programs)
        return self.ex.run_tests(programs, *args, **kwargs)

    def run(self, programs, *args, **kwargs):   # the set-ups' check: no test runs
        self.setups = getattr(self, "setups", 0) + len(programs)
        return self.ex.run(programs, *args, **kwargs)


def test_a_set_up_that_fails_in_the_sandbox_is_named_before_the_candidates_run(tmp_path):
    """A reviewer: test_imports that compile but fail when run (a module the sandbox's Python lacks) failed
    every candidate, and the task scored 0% without a word. MBPP's own set-ups (import math) pass the check."""
    rows = [json.loads(line) for line in (SHARED / "mbpp_sanitized.jsonl").open()]
    rows = [r for r in rows if r["test_imports"]][:2]
    tasks = [CodeTask(r["prompt"], r["test_list"], "\n".join(r["test_imports"])) for r in rows]
    candidates = [[r["code"]] for r in rows]
    with Executor(workers=2, timeout=5.0) as ex:
        counting = Counting(ex)
        assert evaluate_code(tasks, candidates, counting, cache=SuiteCache(tmp_path / "cache.jsonl")).correct.all()
        assert counting.programs == 2 and counting.setups == 1   # both tasks import math: one check
        counting = Counting(ex)   # every test run cached: no job at all, the set-ups' check neither
        assert evaluate_code(tasks, candidates, counting, cache=SuiteCache(tmp_path / "cache.jsonl")).correct.all()
        assert counting.programs == 0 and not hasattr(counting, "setups")
        tasks.append(CodeTask(rows[0]["prompt"], rows[0]["test_list"], "import math\nimport no_such_module_here"))
        candidates.append([rows[0]["code"]])
        counting = Counting(ex)
        with pytest.raises(ValueError, match=r"task 2: its set-up \(test_imports\) fails when run alone in the "
                                             r"sandbox \(ModuleNotFoundError: No module named 'no_such_module_here'\)"):
            evaluate_code(tasks, candidates, counting)
        assert counting.programs == 0   # refused before any candidate ran


def test_the_example_filter_runs_each_program_once():
    rows = [json.loads(line) for line in (SHARED / "mbpp_sanitized.jsonl").open()][:5]
    tasks = [CodeTask(r["prompt"], r["test_list"], "\n".join(r["test_imports"])) for r in rows]
    candidates = [[r["code"], "def f(*a):\n    return None\n"] for r in rows]

    with Executor(workers=2, timeout=5.0) as ex:
        counting = Counting(ex)
        result = evaluate_code(tasks, candidates, counting, example_filter=True)
    assert counting.programs == 10 and result.judged_in_process == 0
    assert result.correct[:, 0].all() and not result.correct[:, 1].any()
    assert torch.equal(result.passes_example, result.correct)


def test_test_runs_are_cached_and_duplicates_run_once(tmp_path):
    """A rerun with the cache runs nothing and gives the same verdicts; a program repeated within a task runs
    once; a suite judged in the job (a loop of asserts, not split) is cached with its two runs apart."""
    rows = [json.loads(line) for line in (SHARED / "mbpp_sanitized.jsonl").open()][:4]
    tasks = [CodeTask(r["prompt"], r["test_list"], "\n".join(r["test_imports"])) for r in rows]
    looped = rows[0]["test_list"][0].replace("assert ", "for _ in range(2): assert ", 1)
    tasks[0] = CodeTask(tasks[0].prompt, [looped] + tasks[0].tests[1:], tasks[0].setup)
    candidates = [[r["code"], r["code"], "def f(*a):\n    return None\n"] for r in rows]
    results = []
    with Executor(workers=2, timeout=5.0) as ex:
        for _ in range(2):
            counting = Counting(ex)
            results.append((evaluate_code(tasks, candidates, counting, example_filter=True,
                                          cache=SuiteCache(tmp_path / "cache.jsonl")), counting.programs))
    (first, ran_first), (second, ran_second) = results
    # 4 tasks x 2 distinct programs; task 0's two programs judged in the job run twice more (example, rest)
    assert first.judged_in_process == 3 and ran_first == 8 + 4 and first.executed == 12
    assert ran_second == 0 and second.executed == 0
    assert torch.equal(first.correct, second.correct) and torch.equal(first.passes_example, second.passes_example)
    assert first.correct[:, :2].all() and not first.correct[:, 2].any()
    assert first.metrics["pass"][1].value == second.metrics["pass"][1].value == pytest.approx(100 * 2 / 3)
    assert first.statuses == {"ok": 8, "error": 4}   # per program, duplicates included


def test_the_caches_key_results_by_the_executors_output_limit_and_interpreter(tmp_path):
    """Found by a breaker: the execution and test-run caches were keyed by the timeout and memory limit only,
    so a result cut at an output_limit of 100 bytes was served to an executor with the default 64 KiB. Keys
    under the default output limit and interpreter are as before (caches already written stay valid)."""
    from cotnpot.pipeline.programs import ExecutionCache, execute
    program = "print('x' * 300)\nprint(5)"
    cache = ExecutionCache(tmp_path / "executions.jsonl")
    with Executor(workers=1, output_limit=100) as small:
        assert execute([program], "tora", small, cache=cache).statuses == ["output_limit"]
        suite = (program, ["assert 1 == 1"], "")
        assert SuiteCache.key(suite, small) == SuiteCache.key(suite, Counting(small))   # a stand-in: its attributes
    with Executor(workers=1) as default:
        again = execute([program], "tora", default, cache=ExecutionCache(tmp_path / "executions.jsonl"))
        assert (again.statuses, again.answers, again.unique) == (["ok"], ["5"], 1)
        assert default.result_identity() == [repr(default.timeout), repr(default.memory_mb)]   # as before


class StoppedAfter(Counting):
    """An executor whose first batch is stopped (as Ctrl-C stops it) once ``n`` programs have finished."""

    def __init__(self, ex, n):
        super().__init__(ex)
        self.n = n

    def run_tests(self, programs, *args, **kwargs):
        def stop(done):
            if done == self.n:
                self.n = None
                raise KeyboardInterrupt
        return super().run_tests(programs, *args, progress=stop, **kwargs)


def test_an_interrupted_evaluation_keeps_the_test_runs_it_finished(tmp_path):
    """As in eval's execution stage: the test runs finished before Ctrl-C are in the cache, and the rerun
    makes only the others, to the same verdicts as a run never stopped."""
    rows = [json.loads(line) for line in (SHARED / "mbpp_sanitized.jsonl").open()][:8]
    tasks = [CodeTask(r["prompt"], r["test_list"], "\n".join(r["test_imports"])) for r in rows]
    candidates = [[r["code"], "def f(*a):\n    return None\n"] for r in rows]
    with Executor(workers=2, timeout=5.0) as ex:
        stopped = StoppedAfter(ex, 5)
        with pytest.raises(KeyboardInterrupt):
            evaluate_code(tasks, candidates, stopped, cache=SuiteCache(tmp_path / "cache.jsonl"))
        kept = len((tmp_path / "cache.jsonl").read_text().splitlines())
        assert 5 <= kept < 16
        resumed = evaluate_code(tasks, candidates, stopped, cache=SuiteCache(tmp_path / "cache.jsonl"))
        straight = evaluate_code(tasks, candidates, ex)
    assert resumed.executed == 16 - kept and straight.executed == 16
    assert torch.equal(resumed.correct, straight.correct)
    assert straight.correct[:, 0].all() and not straight.correct[:, 1].any()


def test_code_methods_come_from_the_one_registry():
    """The code rows and their rule texts are the registry's (cotnpot.pipeline.methods), like the math ones."""
    from cotnpot.pipeline import methods
    present = {"scores": True, "keep": True}
    names = [m.name for m in methods.available(present, task="code", views=("code", "explanation+code"))]
    assert names == ["pass", "random", "rm (code)", "rm (explanation+code)", "rm (code) + example filter",
                     "rm (explanation+code) + example filter"]
    assert [m.name for m in methods.available({"scores": False, "keep": False}, task="code")] == ["pass", "random"]
    assert "explanation followed by the program" in methods.rules("code", "fair")["rm (explanation+code)"]
    assert not set(methods.BY_NAME) & {"random", "rm (code)"}   # math rows unchanged


def test_the_execution_and_test_run_caches_skip_entries_of_other_types(tmp_path):
    """Found by a breaker: an execution cache entry without its answer, or with a number for it, crashed every
    rerun (KeyError, TypeError) where the other caches skip such an entry; now these two skip it too, and the
    program runs again."""
    from cotnpot.pipeline.programs import ExecutionCache, execute
    good = {"key": "k1", "status": "ok", "answer": "5", "error": ""}
    lines = [good, {"key": "k2", "status": "ok", "error": ""}, {"key": "k3", "status": "ok", "answer": 5, "error": ""}]
    (tmp_path / "e.jsonl").write_text("".join(json.dumps(e) + "\n" for e in lines))
    cache = ExecutionCache(tmp_path / "e.jsonl")
    assert (cache.entries, cache.skipped) == ({"k1": good}, 2)
    suite_good = {"key": "s1", "status": "ok", "passed": True, "tests_passed": [True], "judged_in_process": False}
    bad = [{**suite_good, "key": "s2", "passed": "yes"}, {**suite_good, "key": "s3", "tests_passed": None},
           {**suite_good, "key": "s4", "tests_passed": [1]}, {k: v for k, v in suite_good.items() if k != "status"}]
    (tmp_path / "s.jsonl").write_text("".join(json.dumps(e) + "\n" for e in [suite_good, *bad]))
    suites = SuiteCache(tmp_path / "s.jsonl")
    assert (suites.entries, suites.skipped) == ({"s1": suite_good}, 4)
    program = "print(2 + 3)"
    with Executor(workers=1) as ex:
        key = ExecutionCache.key(program, "tora", ex)
        (tmp_path / "run.jsonl").write_text(json.dumps({"key": key, "status": "ok", "error": ""}) + "\n")
        again = execute([program], "tora", ex, cache=ExecutionCache(tmp_path / "run.jsonl"))
    assert (again.answers, again.unique) == (["5"], 1)
