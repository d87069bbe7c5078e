"""Code tasks (MBPP style), CoTnPoT's flipped direction: an LLM explains each candidate program in words
and the verifier scores explanation and code together. cotnpot also offers, as its own addition (off by
default, reported separately), a filter that drops candidates which crash or fail on the task's example
test (the one shown in the prompt). With the filter on, that example test is held out of grading for every
method: a test that both filters and grades would count the filter's own evidence as accuracy.

    tasks = [CodeTask(prompt, tests=["assert f(1) == 2", ...]), ...]
    result = evaluate_code(tasks, candidates, executor, translator=..., verifier=(model, tokenizer))
"""
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

import torch

from . import metrics
from .metrics import Estimate
from ..translate import Request


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


def code_with_explanation(explanation: Optional[str], code: str) -> str:
    """What the verifier reads: the explanation, then the program."""
    return f"{explanation or ''}\n\n```python\n{code}\n```"


def evaluate_code(tasks: Sequence[CodeTask], candidates: Sequence[Sequence[str]], executor, translator=None,
                  verifier=None, ks: Optional[Sequence[int]] = None, example_filter: bool = False,
                  batch_size: int = 8, samples: int = 1000, seed: int = 0, resamples: int = 1000,
                  ties: str = "fair") -> CodeResult:
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
    codes = [code for _, code in flat]
    # One run per program: every test judged on its own (outside the job where the suite splits), so the
    # example test's verdict and the grading tests' come from the same run.
    runs = executor.run_tests(codes, [t.tests for t, _ in flat], setup=[t.setup for t, _ in flat])
    graded = [all(r.tests_passed[1:]) if example_filter else r.passed for r in runs]
    example = [bool(r.tests_passed) and r.tests_passed[0] for r in runs]
    in_process = [i for i, r in enumerate(runs) if r.judged_in_process]
    if example_filter and in_process:   # only "all held" is known there: the example and the rest apart
        items = [flat[i] for i in in_process]
        rest = executor.run_tests([c for _, c in items], [t.tests[1:] for t, _ in items], setup=[t.setup for t, _ in items])
        first = executor.run_tests([c for _, c in items], [t.tests[:1] for t, _ in items], setup=[t.setup for t, _ in items])
        for i, a, b in zip(in_process, rest, first):
            graded[i], example[i] = a.passed, b.passed
    correct, passes = torch.zeros(P, N, dtype=torch.bool), torch.zeros(P, N, dtype=torch.bool)
    correct[valid] = torch.tensor(graded, dtype=torch.bool)
    if example_filter:
        passes[valid] = torch.tensor(example, dtype=torch.bool)
    result = CodeResult(correct, passes, judged_in_process=len(in_process))

    if translator is not None:
        texts = translator.translate([Request(t.prompt, code, kind="code2text") for t, code in flat])
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
            scores[valid] = score_solutions(model, tokenizer, pairs, batch_size=batch_size)
            result.scores[name] = scores

    ks = list(ks) if ks else metrics.default_ks(N)
    base = metrics.Candidates(correct=correct, valid=valid, keep=passes)
    plan = [("pass", "pass", None, None), ("random", "random", None, None)]
    for name, scores in result.scores.items():
        plan.append((f"rm ({name})", "rm", scores, None))
        if example_filter:
            plan.append((f"rm ({name}) + example filter", "filtered", scores, None))
    for label, method, scores, _ in plan:
        c = base._replace(scores=scores)
        curve = metrics.accuracy_curve(method, c, ks, samples=samples, seed=seed, ties=ties)
        result.metrics[label] = {k: metrics.bootstrap_ci(a.value, resamples, seed=seed, variance=a.variance)
                                 for k, a in curve.items()}
    return result
