"""Candidate files, loaded unchanged into one table: problems, each with N candidate solutions.

Each supported format is a small adapter from one JSONL row to a :class:`Problem`:

========  ============================================================================================
qwen      Qwen2.5-Math evaluation outputs: ``code`` (solutions), ``pred`` (answers), ``score``
          (correct?), ``pred_score`` (reward-model scores, optional), gold ``gt``
ovm       OVM samples: ``outputs[].response / response_answer / label`` (``vscores``: the last value is
          the solution's verifier score); labels other than true/false are counted and taken as wrong
openai    OpenAI's GSM8K example solutions: four solutions per problem (``6b_finetuning``,
          ``6b_verification``, ``175b_finetuning``, ``175b_verification``) with ``is_correct``
tora      ToRA outputs: ``code`` (rationale + program + output), ``pred``, gold ``gt``
code      code-task candidates (cotnpot's own, MBPP-style): ``prompt``, ``test_list`` (the first is the
          prompt's example), ``test_imports`` (optional), ``candidates`` (programs)
pot       Program-of-Thoughts Codex outputs: ``generated`` (programs), ``executed`` (the value of ``ans``
          recorded upstream, single-program files), gold ``answer``; AQuA rows add ``options`` and a gold
          letter. Prompt-only lines (``prompt``/``demonstration``) are skipped and counted.
========  ============================================================================================

A malformed line raises :class:`CandidateFileError` naming the file and line; the problems read before
it are kept on the exception (``.partial``).
"""
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Union

import torch

from .. import strict_json

FORMATS = ("qwen", "ovm", "openai", "tora", "pot", "code")
OPENAI_MODELS = ("6b_finetuning", "6b_verification", "175b_finetuning", "175b_verification")


@dataclass
class Candidate:
    text: str = ""                 # the solution as sampled (CoT, or rationale + program)
    answer: str = ""               # its final answer as the source extracted it ("" when none)
    label: Optional[bool] = None   # the source's correctness label (None: the source has none)
    score: float = math.nan        # the source's verifier / reward score (NaN: none)
    program: str = ""              # a program to execute (PoT, ToRA), if any
    executed: str = ""             # what running the program gave upstream, as recorded ("" when not recorded)
    source: str = ""               # which model produced it, where a file mixes models (openai)


@dataclass
class Problem:
    id: str
    question: str
    gold: str
    candidates: List[Candidate]
    options: List[str] = field(default_factory=list)   # multiple choice (AQuA): "A)...", "B)..."
    tests: List[str] = field(default_factory=list)     # code tasks: assert lines, the first the prompt's example
    setup: str = ""                                    # code tasks: what the tests import


@dataclass
class CandidateTable:
    path: str
    format: str
    problems: List[Problem] = field(default_factory=list)
    counts: Counter = field(default_factory=Counter)   # skipped lines, non-boolean labels, ...

    @property
    def n_max(self) -> int:
        return max((len(p.candidates) for p in self.problems), default=0)

    def valid(self) -> torch.Tensor:
        """``[P, N]`` bool: True where a problem has a candidate (ragged groups are padded)."""
        n = torch.tensor([len(p.candidates) for p in self.problems], dtype=torch.long)
        return torch.arange(self.n_max)[None, :] < n[:, None]

    def matrix(self, value: Callable[[Problem, int, Candidate], float], dtype=torch.float32, pad=0) -> torch.Tensor:
        """``[P, N]`` tensor of ``value(problem, index, candidate)``, ``pad`` at padding."""
        out = torch.full((len(self.problems), self.n_max), pad, dtype=dtype)
        for i, p in enumerate(self.problems):
            if p.candidates:
                out[i, :len(p.candidates)] = torch.tensor([value(p, j, c) for j, c in enumerate(p.candidates)],
                                                          dtype=dtype)
        return out

    def labels(self) -> torch.Tensor:
        """The source's labels, ``[P, N]`` bool (a missing label is False)."""
        return self.matrix(lambda p, j, c: bool(c.label), dtype=torch.bool, pad=False)

    def scores(self) -> torch.Tensor:
        """The source's scores, ``[P, N]`` float64 as the file holds them (NaN where none): in float32 close
        scores (a reward model's 100.000001 and 100.000002) tied, and the wrong one was picked."""
        return self.matrix(lambda p, j, c: c.score, dtype=torch.float64, pad=math.nan)

    def has_labels(self) -> bool:
        return any(c.label is not None for p in self.problems for c in p.candidates)

    def has_scores(self) -> bool:
        return any(not math.isnan(c.score) for p in self.problems for c in p.candidates)


class CandidateFileError(ValueError):
    """A candidate file that cannot be read; names the file and line. ``partial`` holds what was read."""

    def __init__(self, message: str, partial: Optional[CandidateTable] = None):
        super().__init__(message)
        self.partial = partial


def _need(row: dict, *keys, where: str = ""):
    """The row's fields; ``where``: the object's own field name, where the row is one nested in the line's
    ("outputs[2]"): a nested value that was no object had given Python's own message, naming nothing (a
    breaker)."""
    if not isinstance(row, dict):
        raise ValueError(f"field {where!r} must be an object with {', '.join(map(repr, keys))}, got "
                         f"{type(row).__name__} {row!r:.40}")
    missing = [k for k in keys if k not in row]
    if missing:
        raise KeyError(f"missing field{'s' if len(missing) > 1 else ''} {', '.join(map(repr, missing))}")
    return [row[k] for k in keys]


def _as_list(value, name):
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list):
        raise ValueError(f"field {name!r} must be a list or a string, got {type(value).__name__}")
    return value


# Found by a breaker: fields were taken through str() and bool() unchecked, so a label "false" counted as
# correct, a null gold and a null answer both became "None" and matched, and a number among programs
# failed later inside the sandbox's job builder.
def _texts(value, name):
    """A list of strings (a lone string is a list of one)."""
    values = _as_list(value, name)
    for i, v in enumerate(values):
        if not isinstance(v, str):
            raise ValueError(f"field {name!r}: entry {i} must be a string, got {type(v).__name__} {v!r:.40}")
    return values


def _answer(value, name):
    """An answer or gold value as text: a string or a number; null is no answer (empty)."""
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError(f"field {name!r} must be a string or a number, got {type(value).__name__} {value!r:.40}")
    return str(value)


def _label(value, name):
    """A correctness label: true/false (or 1/0); anything else is refused rather than read by truthiness."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise ValueError(f"field {name!r} must be true or false, got {type(value).__name__} {value!r:.40}")


def _number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _score(value, name):
    """A reward-model score: a finite number, or a list of numbers whose last is the score (Qwen's rm_maj_eval
    and OVM's vscores read it so); null, NaN or an empty list is no score (NaN). Anything else is refused, not
    coerced: true had read as 1.0, "0.9" as 0.9, and "Infinity" (or JSON's bare Infinity) as a score that
    always won (found by a checker and a reviewer)."""
    if value is None:
        return math.nan
    if isinstance(value, list) and all(_number(v) for v in value):
        value = value[-1] if value else math.nan
    if not _number(value):
        raise ValueError(f"field {name!r} must be a number or a list of numbers, got {type(value).__name__} "
                         f"{value!r:.40}")
    try:
        score = float(value)
    except OverflowError:   # an int of 400 digits
        raise ValueError(f"field {name!r} is too large for a score: {str(value)[:20]}... ({len(str(value))} "
                         "digits)") from None
    if math.isinf(score):
        raise ValueError(f"field {name!r} must be finite, got {score}: an infinite score wins (or loses) every "
                         "comparison; null is no score")
    return score


def check_input_file(path: Path, what: str) -> None:
    """A regular file to read: a directory or a pipe (`<(...)`) had been "not found" (a breaker)."""
    if path.is_file():
        return
    if path.is_dir():
        raise ValueError(f"{what} file {path}: is a directory, not a file")
    if path.exists():
        raise ValueError(f"{what} file {path}: is not a regular file (a pipe or a device): give a file")
    raise FileNotFoundError(f"{what} file not found: {path}")


def _problem_id(row, name, line):
    """The row's own id (a string or an integer), else its line number. A null, a list or a float had become
    an id through str() ("None", "[1]"; 1.0 and 1 two ids)."""
    if name not in row:
        return str(line)
    value = row[name]
    if isinstance(value, bool) or not isinstance(value, (str, int)) or value == "":
        raise ValueError(f"field {name!r} (the problem's id) must be a non-empty string or an integer, got "
                         f"{type(value).__name__} {value!r:.40}")
    return str(value)


def _gold(value, name):
    # NaN had become the gold "nan", which a NaN answer matched; 1e400 "inf" (a breaker)
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"field {name!r} (the gold answer) must be a finite number, got {value!r}")
    gold = _answer(value, name)
    if not gold:
        raise ValueError(f"field {name!r} (the gold answer) is empty or null")
    return gold


def _load_qwen(row, counts, line):
    question, gold, texts, preds, labels = _need(row, "question", "gt", "code", "pred", "score")
    texts = _texts(texts, "code")
    preds, labels = _as_list(preds, "pred"), _as_list(labels, "score")
    scores = row.get("pred_score")
    if scores is not None and not isinstance(scores, list):
        raise ValueError(f"field 'pred_score' must be a list (one score per candidate), got {type(scores).__name__} "
                         f"{scores!r:.40}")
    if not (len(texts) == len(preds) == len(labels)) or (scores is not None and len(scores) != len(texts)):
        raise ValueError(f"code, pred, score{', pred_score' if scores is not None else ''} must have one entry per "
                         f"candidate, got {len(texts)}, {len(preds)}, {len(labels)}"
                         f"{'' if scores is None else ', ' + str(len(scores))}")
    cands = []
    for i, (t, a, y) in enumerate(zip(texts, preds, labels)):
        s = math.nan if scores is None else _score(scores[i], f"pred_score[{i}]")
        cands.append(Candidate(text=t, answer=_answer(a, f"pred[{i}]"), label=_label(y, f"score[{i}]"), score=s))
    return Problem(_problem_id(row, "idx", line), question, _gold(gold, "gt"), cands)


def _extract(text: str) -> str:
    from ..answer import extract_answer
    return extract_answer(text)[0]


def _load_ovm(row, counts, line):
    question, outputs = _need(row, "question", "outputs")
    # ground_truth is the final answer; "answer" (where it is the only one) is GSM8K's whole gold solution
    # (typed like the other formats' fields: a null was the text "None", which a null answer then matched)
    if "ground_truth" in row:
        gold = _gold(row["ground_truth"], "ground_truth")
    else:
        solution = row.get("answer", "")
        if not isinstance(solution, str):   # str() had made ["#### 42"] the gold "42']" (a reviewer)
            raise ValueError(f"field 'answer' (the gold solution) must be a string, got {type(solution).__name__} "
                             f"{solution!r:.40}")
        gold = _extract(solution)
    if not isinstance(outputs, list):
        raise ValueError(f"field 'outputs' must be a list of candidates, got {type(outputs).__name__} {outputs!r:.40}")
    cands = []
    for i, o in enumerate(outputs):
        (text,) = _need(o, "response", where=f"outputs[{i}]")
        if not isinstance(text, str):
            raise ValueError(f"field 'outputs.response' must be a string, got {type(text).__name__} {text!r:.40}")
        label = o.get("label")
        if "label" in o and label is not True and label is not False:
            counts["labels that are not true/false (taken as wrong)"] += 1
            label = False
        vs = o.get("vscores")
        if vs is not None and not isinstance(vs, list):
            # a string's last character had been read as the score ("0.25" scored 5.0; a breaker)
            raise ValueError(f"field 'outputs.vscores' must be a list of numbers, got {type(vs).__name__} {vs!r:.40}")
        # The verifier-scored files carry no extracted answer: cotnpot extracts it (one answer per candidate,
        # shared by grading, votes and the consistency filter).
        answer = _answer(o["response_answer"], "outputs.response_answer") if "response_answer" in o else _extract(text)
        cands.append(Candidate(text=text, answer=answer, label=label, score=_score(vs, "outputs.vscores")))
    return Problem(_problem_id(row, "idx", line), question, str(gold), cands)


def _load_openai(row, counts, line):
    question, truth = _need(row, "question", "ground_truth")
    from ..answer import extract_answer
    cands = []
    for model in OPENAI_MODELS:
        if model in row:
            sol, ok = _need(row[model], "solution", "is_correct", where=model)
            (sol,) = _texts(sol, f"{model}.solution")
            cands.append(Candidate(text=sol, answer=extract_answer(sol)[0], label=_label(ok, f"{model}.is_correct"),
                                   source=model))
    if not cands:
        raise KeyError(f"no solutions: expected one of {', '.join(OPENAI_MODELS)}")
    return Problem(str(line), question, extract_answer(_gold(truth, "ground_truth"))[0], cands)


_PYTHON_BLOCK = re.compile(r"```python\n(.*?)```", re.S)
_OUTPUT_BLOCK = re.compile(r"```output\n(.*?)```", re.S)


def _last_output_line(text: str) -> str:
    blocks = _OUTPUT_BLOCK.findall(text)
    lines = [line.strip() for line in blocks[-1].splitlines() if line.strip()] if blocks else []
    return lines[-1] if lines else ""


def _load_tora(row, counts, line):
    question, gold, texts, preds = _need(row, "question", "gt", "code", "pred")
    texts, preds = _texts(texts, "code"), _as_list(preds, "pred")
    if len(texts) != len(preds):
        raise ValueError(f"code and pred must have one entry per candidate, got {len(texts)} and {len(preds)}")
    cands = [Candidate(text=t, answer=_answer(a, f"pred[{i}]"), program="\n".join(_PYTHON_BLOCK.findall(t)),
                       executed=_last_output_line(t))
             for i, (t, a) in enumerate(zip(texts, preds))]
    return Problem(_problem_id(row, "idx", line), question, _gold(gold, "gt"), cands)


def _load_pot(row, counts, line):
    if set(row) <= {"prompt", "demonstration"}:
        counts["prompt-only lines (skipped)"] += 1
        return None
    question, gold, generated = _need(row, "question", "answer", "generated")
    programs = _texts(generated, "generated")
    # a recorded result as _answer takes it (str() had made true "True" and a dict its repr; a reviewer), and
    # options as a list ("ABCDE" had been five options)
    value = _answer(row.get("executed"), "executed") if len(programs) == 1 else ""
    options = row.get("options") or []
    if not isinstance(options, list):
        raise ValueError(f"field 'options' must be a list of strings, got {type(options).__name__} {options!r:.40}")
    cands = [Candidate(text=p, program=p, answer=value, executed=value) for p in programs]
    return Problem(str(line), question, _gold(gold, "answer"), cands, options=_texts(options, "options"))


def _load_code(row, counts, line):
    prompt, tests, programs = _need(row, "prompt", "test_list", "candidates")
    if not isinstance(tests, list) or not tests:
        raise ValueError("test_list must be a non-empty list of assert lines")
    tests = _texts(tests, "test_list")
    setup = _texts(row.get("test_imports", []), "test_imports")
    # A suite that does not compile failed every candidate, and the file scored 0% without a word (a reviewer)
    for name, lines in (("test_list", tests), ("test_imports", setup)):
        for i, text in enumerate(lines):
            try:
                compile(text, f"<{name}[{i}]>", "exec")
            except (SyntaxError, ValueError, MemoryError, RecursionError) as exc:   # a NUL byte; nesting too deep
                why = getattr(exc, "msg", None) or str(exc) or "nested too deeply to compile"
                raise ValueError(f"field {name!r}: entry {i} is not Python: {why}") from None
    cands = [Candidate(text=p, program=p) for p in _texts(programs, "candidates")]
    return Problem(_problem_id(row, "task_id", line), prompt, "", cands, tests=tests, setup="\n".join(setup))


LOADERS: Dict[str, Callable] = {"code": _load_code, "qwen": _load_qwen, "ovm": _load_ovm, "openai": _load_openai, "tora": _load_tora,
                                "pot": _load_pot}


def detect_format(row: dict) -> Optional[str]:
    """The format a row looks like, or None."""
    if "outputs" in row:
        return "ovm"
    if "candidates" in row and "test_list" in row:
        return "code"
    if any(m in row for m in OPENAI_MODELS):
        return "openai"
    if "generated" in row or set(row) <= {"prompt", "demonstration"}:
        return "pot"
    if "code" in row and "pred" in row:
        return "qwen" if "score" in row else "tora"
    return None


def load_candidates(path: Union[str, Path], format: str = "auto", limit: Optional[int] = None) -> CandidateTable:
    """Reads a JSONL candidate file (one problem per line) in ``format`` (or detected from its first row)."""
    if limit is not None and limit < 1:   # 0 and -5 had read one problem
        raise ValueError(f"limit must be >= 1 (or None: every problem), got {limit}")
    path = Path(path)
    if format != "auto" and format not in FORMATS:
        raise ValueError(f"format must be 'auto' or one of {', '.join(FORMATS)}, got {format!r}")
    check_input_file(path, "candidate")
    table = CandidateTable(str(path), format)
    first_line: Dict[str, int] = {}   # problem id -> the line that gave it
    with path.open("rb") as f:
        for number, raw in enumerate(f, start=1):
            if not raw.strip():
                continue
            where = f"{path}:{number}"
            try:
                row = strict_json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, ValueError) as exc:   # ValueError: also past int's 4300 digits
                raise CandidateFileError(f"{where}: not a JSON object: {exc}", table) from None
            if not isinstance(row, dict):
                raise CandidateFileError(f"{where}: not a JSON object but a {type(row).__name__}", table)
            if table.format == "auto":
                detected = detect_format(row)
                if detected is None:
                    raise CandidateFileError(f"{where}: cannot tell the format from the fields {sorted(row)}; "
                                             f"pass one of {', '.join(FORMATS)}", table)
                table.format = detected
            try:
                problem = LOADERS[table.format](row, table.counts, number)
                if problem is not None and not isinstance(problem.question, str):
                    # a null or a number had loaded, and crashed the verifier or the trainer after every
                    # execution and translation (a reviewer)
                    raise ValueError(f"field {'prompt' if table.format == 'code' else 'question'!r} must be a "
                                     f"string, got {type(problem.question).__name__} {problem.question!r:.40}")
            except (KeyError, ValueError, TypeError, IndexError) as exc:
                message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
                raise CandidateFileError(f"{where}: {table.format} row: {message}", table) from None
            if problem is not None:
                # Records, --log-samples and the held-out split name problems by id: two problems under one id
                # had been merged there without a word.
                if problem.id in first_line:
                    raise CandidateFileError(f"{where}: problem id {problem.id!r} was already given at line "
                                             f"{first_line[problem.id]}; ids must be unique in a file", table)
                first_line[problem.id] = number
                table.problems.append(problem)
                if limit is not None and len(table.problems) >= limit:
                    break
    return table
