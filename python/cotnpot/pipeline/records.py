"""Per-problem records of an evaluation (``cotnpot eval --log-samples FILE``): one JSON line per problem.

Each record holds every candidate's answer, answer classes (cotnpot's grader; exact strings), labels per
labeling, program output (the re-executed program, or CoTnPoT's translated one), consistency flag and
score; each method's pick among the first N candidates at every N (the selection ops: lowest index /
class seen first, so a pick is one concrete candidate); and each method's per-problem expected accuracy at
every N (``expected``), whose mean over problems is the report's figure.
"""
from pathlib import Path
from typing import Dict, List, Optional

import torch

from . import methods
from .. import strict_json
from ..jsonl_store import atomic_jsonl_writer
from ..selection import best_of_n, vote


def _picks(name: str, k: int, classes, scores, weights, keep, valid) -> Optional[torch.Tensor]:
    method = methods.BY_NAME[name]
    cut = slice(0, k)
    f = keep[:, cut] if "keep" in method.needs else None
    if method.pick == "best":
        return best_of_n(scores[:, cut], valid[:, cut], f)
    w = weights[:, cut] if "weights" in method.needs else None
    return vote(classes[method.classes][:, cut], valid[:, cut], w, f).index


def write_records(path, table, answers: List[List[str]], classes: Dict[str, torch.Tensor],
                  labelings: Dict[str, torch.Tensor], per_problem: Dict[str, Dict[str, dict]],
                  scores: Optional[torch.Tensor], weights: Optional[torch.Tensor],
                  program_outputs: Optional[List[List[Optional[str]]]], keep: Optional[torch.Tensor],
                  ties: str) -> Path:
    """Writes the records (to a temporary file renamed into place: a reader never sees half a file)."""
    path = Path(path)
    valid = table.valid()
    first = next(iter(per_problem.values()))
    ks = sorted({k for per_k in first.values() for k in per_k})
    picks = {m: {k: _picks(m, k, classes, scores, weights, keep, valid).tolist() for k in ks}
             for m in first if m in methods.BY_NAME and methods.BY_NAME[m].pick}
    with atomic_jsonl_writer(path) as f:
        for i, p in enumerate(table.problems):
            cands = []
            for j, c in enumerate(p.candidates):
                cands.append({
                    "answer": answers[i][j], "class": int(classes["grader"][i, j]),
                    "class_exact": int(classes["exact"][i, j]),
                    "labels": {name: bool(t[i, j]) for name, t in labelings.items()},
                    "program_output": None if program_outputs is None else program_outputs[i][j],
                    "consistent": None if keep is None else bool(keep[i, j]),
                    "score": None if scores is None else float(scores[i, j]),
                    "weight": None if weights is None else float(weights[i, j])})
            record = {"problem": p.id, "gold": p.gold, "n": len(p.candidates), "ties": ties, "candidates": cands,
                      "picks_first_n": {m: {str(k): per_k[k][i] for k in ks} for m, per_k in picks.items()},
                      "expected": {name: {m: {str(k): a.value[i].item() for k, a in per_k.items()}
                                          for m, per_k in curves.items()}
                                   for name, curves in per_problem.items()}}
            f.write(strict_json.dumps(record, ensure_ascii=False) + "\n")
    return path
