"""Code tasks (MBPP style), CoTnPoT's flipped direction: an LLM explains each candidate program in words
and the verifier scores explanation and code together. cotnpot also offers, as its own addition (off by
default, reported separately), a filter that drops candidates which crash or fail on the task's example
test (the one shown in the prompt). With the filter on, that example test is held out of grading for every
method: a test that both filters and grades would count the filter's own evidence as accuracy.

    tasks = [CodeTask(prompt, tests=["assert f(1) == 2", ...]), ...]
    result = evaluate_code(tasks, candidates, executor, translator=..., verifier=(model, tokenizer))
"""
import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Set, Tuple

import torch

from . import methods, metrics
from .metrics import Estimate
from .. import distributed
from ..executor import result_identity
from ..jsonl_store import JsonlStore
from ..translate import Request

Suite = Tuple[str, List[str], str]   # (program, tests, set-up) as one test run takes them


@dataclass
class CodeTask:
    prompt: str
    tests: List[str]               # assert lines; tests[0] is the example the prompt shows
    setup: str = ""                # imports the tests need (MBPP's test_imports)


@dataclass
class CodeResult:
    correct: torch.Tensor                      # [P, N] every test passed
    passes_example: torch.Tensor               # [P, N] the example test passed (with the filter; else False)
    explanations: List[List[Optional[str]]] = field(default_factory=list)
    scores: Dict[str, torch.Tensor] = field(default_factory=dict)   # "code" and "explanation+code"
    metrics: Dict[str, Dict[int, Estimate]] = field(default_factory=dict)
    judged_in_process: int = 0                 # programs whose suite could not be split (see cotnpot.judge)
    executed: int = 0                          # test runs actually made (distinct, not cached)
    statuses: Dict[str, int] = field(default_factory=dict)   # the executor's statuses of the programs' runs


class SuiteCache(JsonlStore):
    """Test runs of earlier evaluations, keyed by the program, its tests and set-up exactly as they run and
    what of the executor decides a result (:meth:`Executor.result_identity`: its limits)."""

    def __init__(self, path):
        # as ExecutionCache: an entry of other types is run again, not a crash of every rerun
        super().__init__(path, best_effort=True, valid=lambda entry: isinstance(entry.get("status"), str) and
                         isinstance(entry.get("passed"), bool) and isinstance(entry.get("judged_in_process"), bool)
                         and isinstance(entry.get("tests_passed"), list) and
                         all(isinstance(t, bool) for t in entry["tests_passed"]))

    @staticmethod
    def key(suite: Suite, executor) -> str:
        text = json.dumps(["tests", *suite, *result_identity(executor)])
        return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def run_suites(suites: Sequence[Suite], executor, cache: Optional[SuiteCache] = None,
               check: Optional[Callable[[List[Suite]], None]] = None) -> Tuple[List[dict], int]:
    """Each suite's verdicts (``passed``, ``tests_passed``, ``judged_in_process``, ``status``), identical
    suites run once and cached ones not at all (under torchrun each process runs its share; one writes the
    cache); and how many runs were made. ``check(suites)``: called with the suites about to run, before they
    run (none where every one is cached)."""
    keys = [SuiteCache.key(suite, executor) for suite in suites]
    by_key = dict(zip(keys, suites))

    def entry(key, r):
        return {"key": key, "status": r.status, "passed": r.passed, "tests_passed": list(r.tests_passed),
                "judged_in_process": r.judged_in_process, **distributed.timeout_marks(r)}

    def run(share, keep):
        share_suites = [by_key[k] for k in share]
        if check is not None and share_suites:
            check(share_suites)
        results = executor.run_tests([code for code, _, _ in share_suites], [tests for _, tests, _ in share_suites],
                                     setup=[setup for _, _, setup in share_suites],
                                     on_result=lambda i, r: keep(entry(share[i], r)))
        return [entry(k, r) for k, r in zip(share, results)]

    done, ran = distributed.map_sharded_cached(run, keys, cache)
    return [done[k] for k in keys], ran


def check_setups(tasks: Sequence[CodeTask], executor, setups: Set[str]) -> None:
    """Runs each of ``setups`` (MBPP's test_imports) alone, once, with ``executor.run`` (an executor for
    :func:`evaluate_code` has ``run`` and ``run_tests``), and raises ValueError naming the first task whose
    set-up fails there: every candidate of that task would fail with it, and the file had scored 0% without a
    word (``import numpy`` where the sandbox's Python has none)."""
    first: Dict[str, int] = {}
    for i, t in enumerate(tasks):
        if t.setup.strip() and t.setup in setups:
            first.setdefault(t.setup, i)
    if not first:
        return
    setups = list(first)
    for setup, r in zip(setups, executor.run(setups)):
        if r.status != "ok":
            why = f"{r.error_type}: {r.error_message}" if r.error_type else r.status
            raise ValueError(f"task {first[setup]}: its set-up (test_imports) fails when run alone in the sandbox "
                             f"({why}), so every candidate would fail; set-up: {setup[:200]!r}")


def code_with_explanation(explanation: Optional[str], code: str) -> str:
    """What the verifier reads: the explanation, then the program."""
    return f"{explanation or ''}\n\n```python\n{code}\n```"


def evaluate_code(tasks: Sequence[CodeTask], candidates: Sequence[Sequence[str]], executor, translator=None,
                  verifier=None, ks: Optional[Sequence[int]] = None, example_filter: bool = False,
                  batch_size: int = 8, samples: int = 1000, seed: int = 0, resamples: int = 1000,
                  ties: str = "fair", cache: Optional[SuiteCache] = None,
                  max_length: Optional[int] = None) -> CodeResult:
    if len(tasks) != len(candidates):
        raise ValueError(f"tasks and candidates must have the same length, got {len(tasks)} and {len(candidates)}")
    if example_filter:
        short = [i for i, t in enumerate(tasks) if len(t.tests) < 2]
        if short:
            raise ValueError(f"the example filter holds tests[0] out of grading, so every task needs a second test; "
                             f"{len(short)} tasks have one (first: task {short[0]})")
    P, N = len(tasks), max((len(c) for c in candidates), default=0)
    valid = torch.arange(N)[None, :] < torch.tensor([len(c) for c in candidates])[:, None]
    flat = [(t, code) for t, cs in zip(tasks, candidates) for code in cs]
    # One run per program: every test judged on its own (outside the job where the suite splits), so the
    # example test's verdict and the grading tests' come from the same run. The set-ups of the suites that run
    # are checked first (a rerun whose every test run is cached starts no job).
    runs, executed = run_suites([(code, t.tests, t.setup) for t, code in flat], executor, cache,
                                check=lambda run: check_setups(tasks, executor, {setup for _, _, setup in run}))
    graded = [all(r["tests_passed"][1:]) if example_filter else r["passed"] for r in runs]
    example = [bool(r["tests_passed"]) and r["tests_passed"][0] for r in runs]
    in_process = [i for i, r in enumerate(runs) if r["judged_in_process"]]
    if example_filter and in_process:   # only "all held" is known there: the example and the rest apart
        items = [flat[i] for i in in_process]
        apart, more = run_suites([(c, t.tests[1:], t.setup) for t, c in items] +
                                 [(c, t.tests[:1], t.setup) for t, c in items], executor, cache)
        executed += more
        for j, i in enumerate(in_process):
            graded[i], example[i] = apart[j]["passed"], apart[len(items) + j]["passed"]
    correct, passes = torch.zeros(P, N, dtype=torch.bool), torch.zeros(P, N, dtype=torch.bool)
    correct[valid] = torch.tensor(graded, dtype=torch.bool)
    if example_filter:
        passes[valid] = torch.tensor(example, dtype=torch.bool)
    result = CodeResult(correct, passes, judged_in_process=len(in_process), executed=executed,
                        statuses=dict(Counter(r["status"] for r in runs)))

    if translator is not None:
        # under torchrun each process asks for its share of the explanations
        texts = distributed.map_sharded(translator.translate, [Request(t.prompt, code, kind="code2text")
                                                               for t, code in flat])
        it = iter(texts)
        result.explanations = [[next(it) for _ in cs] for cs in candidates]
    if verifier is not None:
        from ..verifier import score_solutions
        model, tokenizer = verifier
        views = {"code": [(t.prompt, code) for t, code in flat]}
        if result.explanations:
            views["explanation+code"] = [(t.prompt, code_with_explanation(e, code)) for (t, code), e in
                                         zip(flat, [e for row in result.explanations for e in row])]
        for name, pairs in views.items():
            scores = torch.full((P, N), float("nan"))
            scores[valid] = score_solutions(model, tokenizer, pairs, batch_size=batch_size, max_length=max_length)
            result.scores[name] = scores

    ks = list(ks) if ks else metrics.default_ks(N)
    base = metrics.Candidates(correct=correct, valid=valid, keep=passes)
    present = {"scores": bool(result.scores), "keep": example_filter}
    plan = [(m.name, m.metric, base._replace(scores=result.scores.get(m.view)))
            for m in methods.available(present, task="code", views=tuple(result.scores))]
    curves = metrics.curves(plan, ks, samples=samples, seed=seed, ties=ties)
    result.metrics = metrics.intervals(curves, resamples, seed)
    return result
