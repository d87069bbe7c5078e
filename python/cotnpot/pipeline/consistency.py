"""CoTnPoT's consistency filter: translate each CoT solution into a program, execute it in the sandbox,
and keep the candidates whose CoT answer equals the program's answer (cotnpot's grader decides).

A candidate without a program (the translator could not write one) or whose program fails counts as
inconsistent. What happens to a problem left with no consistent candidate is the selection's fall-back
(:func:`cotnpot.best_of_n`, :func:`cotnpot.vote`).
"""
from collections import Counter
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import torch

from .. import answer as answers_api
from .. import distributed
from .data import CandidateTable
from .programs import ExecutionCache, execute, worker_setup
from ..translate import OfflineCalculatorTranslator, Request


@dataclass
class Consistency:
    keep: torch.Tensor                       # [P, N] bool: CoT answer == program answer
    programs: List[List[Optional[str]]]      # the translations (None: none)
    program_answers: List[List[str]]         # what each program gave ("" when it failed)
    stats: Dict[str, object] = field(default_factory=dict)


def cot_answer(candidate) -> str:
    """The CoT's final answer: the candidate's one answer, the same that votes and grading use (loaders
    extract it where a file has none; "" when the solution gives none, which no program agrees with)."""
    return candidate.answer


def check_consistency(table: CandidateTable, translator, workers: int = 2, timeout: float = 5.0,
                      memory_mb: int = 1024, cache: Optional[ExecutionCache] = None, progress=False) -> Consistency:
    from ..executor import Executor
    problems = table.problems
    requests = [Request(p.question, c.text) for p in problems for c in p.candidates]

    def translate_share(share):   # under torchrun, each process translates its share
        texts = translator.translate(share)
        refused, cut = getattr(translator, "failures", {}), set(getattr(translator, "truncated", []))
        return [(t, i in refused, i in cut) for i, t in enumerate(texts)]

    # Identical requests (the same question and CoT text, common where a reasoner repeats itself on easy
    # problems) are translated once and share the program: a translator asked for each had made an LLM call
    # per copy, and the cache keeps one translation per request anyway.
    distinct = list(dict.fromkeys(requests))
    position = {r: i for i, r in enumerate(distinct)}
    distinct_outcomes = distributed.map_sharded(translate_share, distinct)
    outcomes = [distinct_outcomes[position[r]] for r in requests]
    translations = [t for t, _, _ in outcomes]
    # the offline translator's programs are plain arithmetic (also behind a cache): small, fast workers
    harness = "calculator" if translator.name == OfflineCalculatorTranslator.name else "translation"
    runnable = [t for t in translations if t]
    preload, warmup = worker_setup(harness)
    with Executor(workers=workers, timeout=timeout, memory_mb=memory_mb, preload=preload, warmup=warmup) as ex:
        done = execute(runnable, harness, ex, progress=progress, cache=cache)
    results = iter(zip(done.answers, done.statuses))
    answers, statuses = [], []
    for t in translations:
        a, s = next(results) if t else ("", "no program")
        answers.append(a)
        statuses.append(s)
    cot = [cot_answer(c) for p in problems for c in p.candidates]
    agree = answers_api.grade(answers, cot) if cot else torch.zeros(0, dtype=torch.bool)
    agree &= torch.tensor([a != "" for a in answers], dtype=torch.bool)
    valid = table.valid()
    keep = torch.zeros(valid.shape, dtype=torch.bool)
    keep[valid] = agree
    it_t, it_a = iter(translations), iter(answers)
    stats = {"translator": translator.name, "candidates": len(requests), "distinct_requests": len(distinct),
             "programs": len(runnable), "distinct_programs_run": done.unique,
             "statuses": dict(Counter(statuses)), "consistent": int(agree.sum()),
             "problems_all_filtered": int((~(keep & valid).any(1) & valid.any(1)).sum()),
             # candidates whose request the server refused (no program) or whose reply was cut at max_tokens
             "refused": sum(r for _, r, _ in outcomes), "truncated": sum(c for _, _, c in outcomes)}
    return Consistency(keep, [[next(it_t) for _ in p.candidates] for p in problems],
                       [[next(it_a) for _ in p.candidates] for p in problems], stats)
