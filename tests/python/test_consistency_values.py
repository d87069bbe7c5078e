"""The CoTnPoT filter on the values programs really compute: what a program's `ans` becomes, how the grader
reads it against the CoT's answer, and what the pipeline around it keeps across runs. Every case here was a
breaker's finding that failed before its fix: a program that computed the CoT's value was dropped (Python's
1e-05, sympy's pi**2, complex numbers, lists, numpy arrays, exit(0) after ans, a unit's power), and some that
did not were kept (sympy's log(100) against a CoT's 2, 0.00001 against -2.2817)."""
import json

import pytest

from cotnpot import answer
from cotnpot.distributed import map_sharded_cached
from cotnpot.jsonl_store import JsonlStore
from cotnpot.pipeline.consistency import check_consistency
from cotnpot.pipeline.data import Candidate, CandidateFileError, CandidateTable, Problem, load_candidates
from cotnpot.translate import FileTranslator
from cotnpot.translate.openai_client import program_from_reply


class ProgramsByText:
    name, template, llm_calls = "fixed", "t", 1

    def __init__(self, programs):
        self.programs = programs

    def translate(self, requests):
        return [self.programs[r.text] for r in requests]


# (CoT answer, the program a translator wrote, whether they agree)
CASES = [
    ("\\frac{1}{65536}", "ans = 1/65536", True),
    ("500000000000000000", "ans = 10**18/2", True),
    ("\\pi^2", "import sympy\nans = sympy.pi**2", True),
    ("x^2+1", "import sympy\nx = sympy.Symbol('x')\nans = x**2 + 1", True),
    ("1+2i", "ans = 1+2j", True),
    ("2+3i", "import sympy\nans = 2 + 3*sympy.I", True),
    ("-1, 3", "ans = [-1, 3]", True),
    ("1, 2, 3", "import numpy as np\nans = np.array([1, 2, 3])", True),
    ("\\infty", "import sympy\nans = sympy.oo", True),
    ("\\ln 2", "import sympy\nans = sympy.log(2)", True),
    ("\\frac{3}{4}", "from fractions import Fraction\nans = Fraction(3, 4)", True),
    ("12\\text{ cm}^2", "ans = 12", True),
    ("5", "ans = 5\nimport sys\nsys.exit(0)", True),
    ("2", "import sympy\nans = sympy.log(100)", False),
    ("12\\text{ cm}^2", "ans = 144", False),
    ("-2.2817181", "ans = 0.00001", False),
    ("7", "print(7)", False),   # no ans: no answer, never agreement
    # a reviewer: nested sequences keep their tuples; a value past a double is not infinity
    ("(1, 2), (3, 4)", "ans = [(1, 2), (3, 4)]", True),
    ("\\infty", "import sympy\nans = sympy.exp(1000)", False),
]


def test_programs_that_compute_the_cot_value_are_kept_and_no_others():
    cands = [Candidate(text=f"s{i}", answer=cot) for i, (cot, _, _) in enumerate(CASES)]
    table = CandidateTable("t", "cotnpot", [Problem("p", "q", "1", cands)])
    result = check_consistency(table, ProgramsByText({f"s{i}": p for i, (_, p, _) in enumerate(CASES)}), workers=1)
    got = result.keep[0].tolist()
    assert got == [agree for _, _, agree in CASES], [(c[0], a) for c, a in zip(CASES, result.program_answers[0])]


class CountingTranslator(ProgramsByText):
    def __init__(self, programs):
        super().__init__(programs)
        self.asked = []

    def translate(self, requests):
        self.asked.extend(requests)
        return super().translate(requests)


def test_identical_candidates_are_translated_once_and_share_the_program():
    # Three copies of one CoT under problem p, one copy of it under another question (a different request),
    # and a distinct CoT: the translator had been asked once per candidate, 5 calls instead of 3.
    same, other = "s0", "s1"
    table = CandidateTable("t", "cotnpot", [
        Problem("p", "q", "1", [Candidate(text=same, answer="3"), Candidate(text=other, answer="4"),
                                Candidate(text=same, answer="3"), Candidate(text=same, answer="3")]),
        Problem("r", "q2", "1", [Candidate(text=same, answer="3")])])
    translator = CountingTranslator({same: "ans = 3", other: "ans = 5"})
    result = check_consistency(table, translator, workers=1)
    assert sorted((r.question, r.text) for r in translator.asked) == [("q", same), ("q", other), ("q2", same)]
    assert result.keep.tolist() == [[True, False, True, True], [True, False, False, False]]
    assert result.programs[0] == ["ans = 3", "ans = 5", "ans = 3", "ans = 3"]
    assert result.stats["candidates"] == 5 and result.stats["distinct_requests"] == 3


@pytest.mark.parametrize("a,b,equal", [
    ("1e-05", "0.00001", True), ("1e-05", "e-5", False), ("5e+17", "500000000000000000", True),
    ("1.52587890625e-05", "\\frac{1}{65536}", True), ("1E-7", "0.0000001", True), ("1e+100", "10^{100}", True),
    ("2e", "2 \\cdot e", True), ("2**3", "8", True), ("x**2", "x^2", True), ("3e2x", "300x", False),
    # Euler's e with a coefficient stays Euler's e (a reviewer: a looser rule read 2e+1 as 20)
    ("2e+1", "1+2e", True), ("\\frac{2e+1}{3}", "\\frac{1+2e}{3}", True), ("e^{2}+2e+1", "(e+1)^2", True),
    ("e^{2}+2e+1", "e^2+20", False), ("3e2", "300", False), ("2e-1", "0.2", False), ("1.5E3", "1500", False),
    ("12\\text{ cm}^2", "12", True), ("12 \\text{ cm}^2", "144", False), ("3\\text{ m}^{3}", "3", True),
    ("3\\text{ m}^3", "27", False), ("2\\text{ cm}^{x}", "2^{x}", True),
])
def test_the_grader_reads_python_notation_and_drops_a_units_power(a, b, equal):
    assert answer.is_equiv(a, b) is equal and answer.is_equiv(b, a) is equal


def test_a_file_translator_is_cached_under_its_content(tmp_path):
    """The translation cache was keyed by the file's base name: another file of that name, or this one
    edited, was answered with the old programs."""
    from cotnpot.translate import CachedTranslator, Request
    request = Request("What is 2+3?", "2+3 = 5. \\boxed{5}")
    for folder, program in (("a", "ans = 2 + 3\n"), ("b", "ans = 2 * 3\n")):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "t.jsonl").write_text(json.dumps({"question": request.question, "text": request.text,
                                                                "translation": program}) + "\n")
    cache = tmp_path / "cache.jsonl"
    assert CachedTranslator(FileTranslator(tmp_path / "a" / "t.jsonl"), cache).translate([request]) == ["ans = 2 + 3\n"]
    assert CachedTranslator(FileTranslator(tmp_path / "b" / "t.jsonl"), cache).translate([request]) == ["ans = 2 * 3\n"]
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b'{"question": "q", "text": "t", "translation": "ans = 1"}\n{"question": "\xff"}\n')
    with pytest.raises(ValueError, match=r"bad.jsonl:2: not UTF-8 text"):
        FileTranslator(bad)


@pytest.mark.parametrize("reply,program", [
    ("First:\n```bash\npip install sympy\n```\nThen:\n```python\nans = 5\n```", "ans = 5\n"),
    ("```python3\nans = 5\n```", "ans = 5\n"),
    ("```Python\nans = 5\n```", "ans = 5\n"),
    ("```python \r\nans = 5\r\nans += 1\r\n```", "ans = 5\nans += 1\n"),
    ("Here:\n```\nans = 2\n```\nand\n```python\nans = 3\n```", "ans = 3\n"),   # tagged Python wins
    # a breaker: a fence opened mid-line, a reasoning model's draft, the expected output first, a split program
    ("Sure! ```python\nans = 4\n```\nOr better:\n```python\nans = 5\n```\n", "ans = 4\nans = 5\n"),
    ("<think>\nI will write ```python\nans=5\n```\n</think>\n\n```python\nans = 5\n```\n", "ans=5\nans = 5\n"),
    ("Expected:\n```\n5\n```\n```python\nans = 5\n```", "ans = 5\n"),
    ("```python\nx = 2\n```\nthen\n```python\nans = x * 3\n```", "x = 2\nans = x * 3\n"),
    ("```python\nans = 7\n", "ans = 7\n"),     # cut short by max_tokens
    ("ans = 8", "ans = 8\n"),
    ("```text\nonly prose\n```", "only prose\n"),
    # a reviewer: what the first fence rule read and the stricter one lost
    ("```python\nans = 5```", "ans = 5\n"),
    ("Here is code: ```python\nans = 8\n```", "ans = 8\n"),
    ("```bash\npip install sympy\n```\n```python\nans = 9\n", "ans = 9\n"),
    # a second reviewer: a cut-short block of another tag, and a Python block opened after text past a bash one
    ("```py3\nans = 1\n", "ans = 1\n"),
    ("```bash\npip install sympy\n```\nThen: ```python\nans = 9\n```\n", "ans = 9\n"),
])
def test_the_program_is_the_replys_python_block(reply, program):
    assert program_from_reply(reply) == program


def test_sandbox_failures_are_not_cached_and_old_ones_run_again(tmp_path):
    """A job whose worker was killed under it (sandbox_error) was cached, and every rerun reused the failure."""
    cache = JsonlStore(tmp_path / "c.jsonl")
    cache.add([{"key": "old", "status": "sandbox_error"}, {"key": "done", "status": "ok"}])
    cache = JsonlStore(tmp_path / "c.jsonl")
    ran = []

    def run(share, keep):
        ran.extend(share)
        entries = [{"key": k, "status": "sandbox_error" if k == "dies" else "ok"} for k in share]
        for e in entries:
            keep(e)
        return entries

    by_key, count = map_sharded_cached(run, ["old", "done", "dies", "new"], cache)
    assert sorted(ran) == ["dies", "new", "old"] and count == 3 and by_key["dies"]["status"] == "sandbox_error"
    again = JsonlStore(tmp_path / "c.jsonl")
    assert again.entries["old"]["status"] == "ok" and "dies" not in again.entries and "new" in again.entries


def test_ovm_nulls_are_no_answer_and_a_null_gold_is_refused(tmp_path):
    """str(None) made a null answer the text "None" (graded and voted as one), and a null gold "None"."""
    row = {"question": "q", "ground_truth": "5",
           "outputs": [{"response": "a", "response_answer": None, "label": False},
                       {"response": "b", "response_answer": 5, "label": True}]}
    path = tmp_path / "ovm.jsonl"
    path.write_text(json.dumps(row) + "\n")
    table = load_candidates(path, format="ovm")
    assert [c.answer for c in table.problems[0].candidates] == ["", "5"] and table.problems[0].gold == "5"
    path.write_text(json.dumps({**row, "ground_truth": None}) + "\n")
    with pytest.raises(CandidateFileError, match="ground_truth"):
        load_candidates(path, format="ovm")


def test_the_answer_text_needs_no_warmed_worker_and_compiles_little_per_job():
    """The renderer lives in a module the harness's workers define once; each job's prelude is a string constant
    where that module is there (its ~2 KB of source cost ~0.4 ms per calculator job), and defines it otherwise."""
    import cotnpot
    from cotnpot.pipeline import programs
    fields = programs.job_fields("ans = 1/65536", "translation")
    assert len(fields["prelude"]) > len(programs.ANSWER_TEXT) and "def " not in fields["prelude"].split("exec(")[0]
    for (preload, warmup), module in ((programs.worker_setup("calculator"), "_cotnpot_answer"), (((), ""), None)):
        with cotnpot.Executor(workers=1, preload=preload, warmup=warmup) as ex:
            rendered, where, names = ex.run_jobs([programs.job_for(p, "calculator") for p in (
                "ans = 1/65536", "ans = _cotnpot_answer_text.__module__",
                "ans = sorted(n for n in globals() if n.startswith('_') and not n.startswith('__'))")])
            assert (rendered.status, rendered.answer) == ("ok", "0.0000152587890625")
            assert where.answer == (module or "None")   # the warmed module's; else the fallback's own namespace
            assert names.answer == "_cotnpot_answer_text, _cotnpot_run_program"   # nothing else leaks in


def test_a_timeout_the_machine_caused_is_not_cached(tmp_path):
    """Found by a new user: a PoT program that takes 4.1 s alone timed out at 5 s beside two busy workers, and
    its cached timeout made it wrong in every later (warm) run. A timeout is cached only where the job spent
    its time on the CPU (90%): a loop that never ends is; one that was starved or slept is run again, and so
    is a timeout an older version cached without saying which it was."""
    from types import SimpleNamespace
    import cotnpot
    from cotnpot.distributed import cacheable, starved
    from cotnpot.pipeline.programs import ExecutionCache, execute, worker_setup
    assert not starved(SimpleNamespace(status="timeout", cpu_s=0.95, wall_s=1.0))
    assert starved(SimpleNamespace(status="timeout", cpu_s=0.5, wall_s=1.0))
    assert not starved(SimpleNamespace(status="ok", cpu_s=0.0, wall_s=1.0))
    assert [cacheable({"status": "timeout", **marker}) for marker in ({}, {"starved": True}, {"starved": False})] \
        == [False, False, True]
    spin, sleep = "while True:\n    pass", "import time\ntime.sleep(30)"
    # The pot harness's workers, as the pipeline makes them: without their preloads the job's prelude imports
    # sympy itself, which on a slower CPU spent the whole 0.5 s on the CPU, so the sleeping job's timeout was
    # not starved and was cached (seen on a 2-core AVX2 VM)
    preload, warmup = worker_setup("pot")
    with cotnpot.Executor(workers=1, timeout=0.5, preload=preload, warmup=warmup) as ex:
        first = execute([spin, sleep], "pot", ex, cache=ExecutionCache(tmp_path / "c.jsonl"))
        entries = ExecutionCache(tmp_path / "c.jsonl").entries
        spin_cached = bool(entries)   # the spinning job, unless a busy machine starved it too
        again = execute([spin, sleep], "pot", ex, cache=ExecutionCache(tmp_path / "c.jsonl"))
    assert first.statuses == again.statuses == ["timeout", "timeout"]
    assert (first.unique, again.unique) == (2, 1 if spin_cached else 2)   # the sleeping one ran again
    assert [(e["status"], e["starved"]) for e in entries.values()] == ([("timeout", False)] if spin_cached else [])


def test_a_jobs_cpu_time_is_reported():
    import cotnpot
    with cotnpot.Executor(workers=1, timeout=0.5) as ex:
        spin, sleep, quick = ex.run(["while True:\n    pass", "import time\ntime.sleep(30)", "print(1)"])
    assert spin.status == sleep.status == "timeout" and quick.status == "ok"
    assert 0.3 * spin.wall_s <= spin.cpu_s <= spin.wall_s + 0.05, (spin.cpu_s, spin.wall_s)   # a busy CI still
    assert sleep.cpu_s < 0.1 and 0 < quick.cpu_s <= quick.wall_s + 0.01, (sleep.cpu_s, quick.cpu_s, quick.wall_s)
