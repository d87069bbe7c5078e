"""Preference pairs for verifier training: every correct solution of a problem paired with every wrong one
(or k pairs per problem, seeded), as the method's recipe does; TRL-style rows (``prompt``, ``chosen``,
``rejected``) in and out; a train/eval split by problem, so no problem's solutions end up on both sides.

    >>> from cotnpot.pipeline.data import Candidate, CandidateTable, Problem
    >>> solutions = [Candidate("2", label=True), Candidate("3", label=False), Candidate("2", label=True)]
    >>> table = CandidateTable("doc", "test", [Problem("p0", "1+1?", "2", solutions)])
    >>> pairs, stats = build_pairs(table)
    >>> [(p.chosen, p.rejected) for p in pairs], stats.duplicates_removed
    ([('2', '3')], 1)
"""
import json
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, Union

from .. import strict_json
from ..atomic_file import atomic_file
from ..pipeline.data import CandidateTable


@dataclass(frozen=True)
class PreferencePair:
    problem_id: str
    prompt: str      # the question (the prompt template is applied when tokenizing)
    chosen: str      # a correct solution
    rejected: str    # a wrong solution


@dataclass
class PairStats:
    """What building the pairs found, with the per-problem averages the method's recipe reports."""
    problems: int = 0
    problems_used: int = 0
    problems_without_correct: int = 0
    problems_without_wrong: int = 0
    correct: int = 0                  # distinct correct solutions, over all problems
    wrong: int = 0
    duplicates_removed: int = 0
    pairs: int = 0
    unlabeled_candidates: int = 0
    skipped_problem_ids: List[str] = field(default_factory=list)

    def per_problem(self) -> Dict[str, float]:
        n = max(self.problems, 1)
        return {"correct": self.correct / n, "wrong": self.wrong / n, "pairs": self.pairs / max(self.problems_used, 1)}

    def summary(self) -> str:
        avg = self.per_problem()
        return (f"{self.problems} problems: {self.correct} correct and {self.wrong} wrong distinct solutions "
                f"({avg['correct']:.2f} correct and {avg['wrong']:.2f} wrong per problem), {self.pairs} pairs "
                f"({avg['pairs']:.2f} per problem used); {self.duplicates_removed} duplicates removed; "
                f"{self.problems_without_correct} problems without a correct and {self.problems_without_wrong} "
                f"without a wrong solution, not paired")

    def to_json(self) -> dict:
        return {**asdict(self), "per_problem": self.per_problem()}


def build_pairs(table: CandidateTable, pairs_per_problem: Optional[int] = None,
                seed: int = 0) -> Tuple[List[PreferencePair], PairStats]:
    """All correct x wrong pairs per problem (or ``pairs_per_problem`` of them, drawn with ``seed``).

    Solutions are deduplicated per problem by their text stripped of surrounding whitespace (the first copy's
    text is kept as it is: the verifier scores texts as they are); a text labeled both ways counts as
    correct only if every copy says so. Problems without a correct or without a wrong solution are counted
    in the statistics (and listed), not silently dropped. Candidates without a label raise ``ValueError``.
    """
    if pairs_per_problem is not None and pairs_per_problem < 1:
        raise ValueError(f"pairs_per_problem must be >= 1 or None (all pairs), got {pairs_per_problem}")
    stats = PairStats(problems=len(table.problems))
    rng = random.Random(seed)
    pairs: List[PreferencePair] = []
    for problem in table.problems:
        # Keyed by the stripped text, holding the first copy's text as it is: the verifier scores texts as they
        # are, so it trains on them as they are (stripped, a HumanEval completion lost its first indentation).
        verdicts: Dict[str, Tuple[str, bool]] = {}
        for i, c in enumerate(problem.candidates):
            if c.label is None:
                # the format named: a tora file had been sent to "grade them first", with no word of how (a new user)
                raise ValueError(f"problem {problem.id!r}, candidate {i}: no correctness label; pairs need labeled "
                                 f"candidates ({table.format} files carry none; qwen, ovm and openai files do), or "
                                 "label them first (Candidate.label, e.g. from cotnpot.answer.grade against the gold)")
            key = c.text.strip()
            if key in verdicts:
                stats.duplicates_removed += 1
                text, ok = verdicts[key]
                verdicts[key] = text, ok and bool(c.label)
            else:
                verdicts[key] = c.text, bool(c.label)
        correct = [t for t, ok in verdicts.values() if ok]
        wrong = [t for t, ok in verdicts.values() if not ok]
        stats.correct += len(correct)
        stats.wrong += len(wrong)
        if not correct or not wrong:
            stats.problems_without_correct += not correct
            stats.problems_without_wrong += not wrong
            stats.skipped_problem_ids.append(problem.id)
            continue
        combos = [(c, w) for c in correct for w in wrong]
        if pairs_per_problem is not None and len(combos) > pairs_per_problem:
            combos = rng.sample(combos, pairs_per_problem)
        stats.problems_used += 1
        pairs += [PreferencePair(problem.id, problem.question, c, w) for c, w in combos]
    stats.pairs = len(pairs)
    return pairs, stats


def split_by_problem(pairs: Sequence[PreferencePair], eval_fraction: float = 0.1,
                     seed: int = 0) -> Tuple[List[PreferencePair], List[PreferencePair]]:
    """(train, eval): whole problems go to one side, never some of their pairs to each; problems that ask the
    same question (its text up to whitespace) count as one. Under two ids (two sampling rounds concatenated)
    one question had gone to both sides, and the held-out figures counted questions trained on (a breaker)."""
    if not 0.0 <= eval_fraction < 1.0:
        raise ValueError(f"eval_fraction must be in [0, 1), got {eval_fraction}")
    question: Dict[str, str] = {}
    for p in pairs:
        question.setdefault(p.problem_id, " ".join(p.prompt.split()))
    ids_of: Dict[str, List[str]] = {}
    for problem_id in sorted(question):
        ids_of.setdefault(question[problem_id], []).append(problem_id)
    # each question named by its first id in sorted order: without repeated questions, the split is the one
    # made per problem id before
    groups = sorted(ids_of.values(), key=lambda ids: ids[0])
    random.Random(seed).shuffle(groups)
    held_out = {i for ids in groups[:round(eval_fraction * len(groups))] for i in ids}
    return [p for p in pairs if p.problem_id not in held_out], [p for p in pairs if p.problem_id in held_out]


def write_pairs(pairs: Iterable[PreferencePair], path: Union[str, Path]) -> None:
    """TRL-style JSONL: ``prompt``, ``chosen``, ``rejected`` (and cotnpot's ``problem_id``), replaced whole."""
    with atomic_file(path, "w", permissions=0o644, encoding="utf-8") as f:
        for p in pairs:
            f.write(json.dumps({"prompt": p.prompt, "chosen": p.chosen, "rejected": p.rejected,
                                "problem_id": p.problem_id}) + "\n")


def pairs_from_rows(rows: Iterable[dict], where: str = "rows") -> List[PreferencePair]:
    """TRL-style rows (a list of dicts, a ``datasets.Dataset``): ``prompt``, ``chosen``, ``rejected``; the
    prompt names the problem when no ``problem_id`` is given. Conversational rows (lists of messages) take
    the user's and the assistant's contents."""
    pairs = []
    for i, row in enumerate(rows):
        missing = [k for k in ("prompt", "chosen", "rejected") if k not in row]
        if missing:
            raise ValueError(f"{where}: row {i} lacks {', '.join(missing)} (TRL preference rows need prompt, "
                             "chosen and rejected)")
        prompt = _text(row["prompt"], f"{where}: row {i}, prompt", completion=False)
        chosen, rejected = (_text(row[k], f"{where}: row {i}, {k}", completion=True) for k in ("chosen", "rejected"))
        given = row.get("problem_id")
        pairs.append(PreferencePair(prompt if given is None or given == "" else str(given), prompt, chosen, rejected))
    return pairs


def read_pairs(path: Union[str, Path]) -> List[PreferencePair]:
    """TRL-style JSONL; a malformed line raises ``ValueError`` naming the file and line."""
    rows = []
    # bytes, so that a line that is not UTF-8 is named (the codec's message had named neither: a breaker)
    with open(path, "rb") as f:
        for n, raw in enumerate(f, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise ValueError(f"{path}:{n}: not UTF-8 text ({exc.reason} at byte {exc.start} of the line)"
                                 ) from None
            if not line.strip():
                continue
            try:
                row = strict_json.loads(line)
            except ValueError as error:
                raise ValueError(f"{path}:{n}: not a JSON object ({getattr(error, 'msg', error)})") from None
            if not isinstance(row, dict):
                raise ValueError(f"{path}:{n}: not a JSON object")
            rows.append(row)
    if not rows:
        raise ValueError(f"{path}: no pairs in the file")
    return pairs_from_rows(rows, where=str(path))


def _content_text(content, where: str) -> str:
    """A message's content: a string, a list of OpenAI content parts of type text (joined), or null (a turn of
    tool calls: no text)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list) and all(isinstance(p, dict) and p.get("type") == "text" and
                                         isinstance(p.get("text"), str) for p in content):
        return "".join(p["text"] for p in content)
    raise ValueError(f"{where}: a message's content must be text or a list of text parts, got "
                     f"{type(content).__name__} {str(content)[:60]!r}")


def _text(value, where: str, completion: bool) -> str:
    """A string as it is; a list of messages: the user's turns for a prompt, the assistant's for a completion
    (system turns are part of neither). A completion that repeats the conversation (a string prompt, with
    chosen and rejected as whole conversations, as in UltraFeedback-binarized) is its assistant turns: the
    user turn it holds was taken for it, so chosen and rejected were the same text; one with no assistant
    turn at all is its user turns."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(m, dict) and "content" in m for m in value):
        # text, or OpenAI's content parts of text; str() had trained on "None" and on a list's repr (a breaker)
        contents = [_content_text(m["content"], where) for m in value]
        roles = [m.get("role", "user") for m in value]
        if completion and "assistant" in roles:
            # the answer: the assistant's turns after the conversation's last user turn (TRL's convention),
            # not an earlier turn of the dialogue the prompt holds
            last_user = max((i for i, r in enumerate(roles) if r == "user"), default=-1)
            answer = [c for c, r in zip(contents[last_user + 1:], roles[last_user + 1:]) if r == "assistant"]
            if not answer:
                raise ValueError(f"{where}: the conversation ends with a user turn: no assistant answer after it")
            if not any(answer):
                raise ValueError(f"{where}: the assistant's answer has no text (a null content)")
            return "\n".join(answer)
        return "\n".join(c for c, r in zip(contents, roles) if r == "user")
    raise ValueError(f"{where}: expected a string or a list of messages, got {type(value).__name__}")
