"""Sampling candidates: N solutions per problem from a reasoner behind an OpenAI-compatible server
(``cotnpot generate``), written as a candidate file that ``cotnpot eval`` reads unchanged.

    problems = load_problems("data/gsm8k_test.jsonl", limit=100)
    client = OpenAICompatibleClient("http://localhost:8000/v1", "Qwen2.5-Math-7B-Instruct",
                                    temperature=0.7, top_p=0.8, max_tokens=1024, seed=0)
    result = generate(problems, client, n=8, cache="runs/gen/samples.jsonl")
    write_candidates(result, "runs/gen/candidates.jsonl")   # then: cotnpot eval --candidates ...

Under ``torchrun`` each process sends its share of the requests and all of them gather the samples
(rank 0 writes the file). Every (problem, sample) pair is one request (sample j asks for seed + j when a seed is given, so samples
differ and a rerun asks for the same ones), ``concurrency`` in flight, each saved to the cache as it
finishes: a run stopped by a dead server, Ctrl-C or a crash resumes where it stopped. A request the server
refuses (a prompt over its context) leaves that sample out, counted; a reply cut at ``max_tokens`` is
kept and flagged. The output rows are in the ``ovm`` candidate format, with each sample's extracted
answer, its finish reason and, where the problem has a gold answer, cotnpot's grader's label.
"""
import hashlib
import json
import math
import sys
import threading
from collections import Counter
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, as_completed, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from . import distributed, strict_json
from .jsonl_store import JsonlStore, atomic_jsonl_writer
from .translate.client import OpenAICompatibleClient, RequestRefused, ServerUnavailable

DEFAULT_PROMPT = "{question}\nPlease reason step by step, and put your final answer within \\boxed{{}}."


@dataclass
class GenProblem:
    id: str
    question: str
    gold: str = ""


@dataclass
class Generation:
    problems: List[GenProblem]
    samples: List[List[Optional[dict]]]                   # [P][n]: {"text", "finish_reason"} or None (refused)
    counts: Counter = field(default_factory=Counter)      # requested, cached, made, refused, truncated
    refusals: List[dict] = field(default_factory=list)    # {problem, sample, reason}


class GenerationError(RuntimeError):
    """The server stopped answering; ``result`` holds what finished (all of it is in the cache too)."""

    def __init__(self, message: str, result: Generation):
        super().__init__(message)
        self.result = result


def load_problems(path, limit: Optional[int] = None) -> List[GenProblem]:
    """Problems from JSONL: GSM8K (``question``, ``answer`` ending in ``#### value``), MATH (``problem``,
    ``answer`` or a ``solution`` with a boxed answer), or any rows with ``question`` and ``gold``."""
    from .answer import extract_answer
    from .pipeline.data import _problem_id, check_input_file
    if limit is not None and limit < 1:   # 0 and -5 had read one problem
        raise ValueError(f"limit must be >= 1 (or None: every problem), got {limit}")
    path = Path(path)
    check_input_file(path, "problem")
    out, lines_of = [], {}
    # bytes, so that a line that is not UTF-8 is named; split at any line ending
    for number, raw in enumerate(path.read_bytes().splitlines(), start=1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValueError(f"{path}:{number}: not UTF-8 text ({exc.reason} at byte {exc.start} of the line)"
                             ) from None
        if not line.strip():
            continue
        try:
            row = strict_json.loads(line)
        except ValueError as exc:
            raise ValueError(f"{path}:{number}: not a JSON object: {exc}") from None
        if not isinstance(row, dict):
            raise ValueError(f"{path}:{number}: not a JSON object but a {type(row).__name__}")
        question = row.get("question", row.get("problem"))
        if not isinstance(question, str) or not question.strip():
            raise ValueError(f"{path}:{number}: no 'question' (or 'problem') text; fields {sorted(row)}")
        # A null is no gold (str(None) had made "None" the gold every sample was graded against); a number or a
        # string is one; anything else is named.
        field = next((f for f in ("gold", "answer", "solution") if row.get(f) is not None), None)
        value = row.get(field) if field else None
        if value is not None and (isinstance(value, bool) or not isinstance(value, (str, int, float))):
            raise ValueError(f"{path}:{number}: {field!r} must be a string or a number, got {type(value).__name__}")
        if isinstance(value, float) and not math.isfinite(value):   # NaN had become the gold "nan" (a breaker)
            raise ValueError(f"{path}:{number}: {field!r} must be a finite number, got {value!r}")
        if field == "gold":
            gold = str(value)
        elif field == "answer":
            answer = str(value)
            gold = answer.split("####")[-1].strip() if "####" in answer else answer.strip()
        elif field == "solution":
            gold = extract_answer(str(value))[0]
        else:
            gold = ""
        # its id as eval reads it (a null, a list or a float had become one through str(), "None"), and once: two
        # rows of one id were sampled in full, and eval refused the file only then (a breaker)
        name = next((f for f in ("id", "unique_id", "idx") if f in row), "id")
        try:
            problem_id = _problem_id(row, name, number)
        except ValueError as exc:
            raise ValueError(f"{path}:{number}: {exc}") from None
        if problem_id in lines_of:
            raise ValueError(f"{path}:{number}: problem id {problem_id!r} was already given at line "
                             f"{lines_of[problem_id]}")
        lines_of[problem_id] = number
        out.append(GenProblem(problem_id, question, gold))
        if limit is not None and len(out) >= limit:
            break
    return out


def _key(identity: str, prompt: str, sample: int, repeat: int = 0) -> str:
    """A sample's cache key. ``repeat``: how many problems before this one in the file asked the same question;
    two such problems had shared their samples' keys, so a rerun gave both the samples of one (a breaker).
    Keys of a question's first problem are as they were (caches already written stay valid)."""
    parts = [identity, prompt, str(sample)] + ([f"repeat {repeat}"] if repeat else [])
    return hashlib.sha256("\0".join(parts).encode("utf-8", "surrogatepass")).hexdigest()


def _valid_sample(entry: dict) -> bool:
    """A cached sample: its text, and a finish_reason that is text or null."""
    reason = entry.get("finish_reason")
    return isinstance(entry.get("text"), str) and (reason is None or isinstance(reason, str))


def generate(problems: Sequence[GenProblem], client: OpenAICompatibleClient, n: int, cache=None,
             prompt: str = DEFAULT_PROMPT, concurrency: int = 4, progress: bool = False) -> Generation:
    """N samples per problem; see the module doc. ``cache``: a JSONL path (default: none, nothing kept)."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if concurrency < 1:
        raise ValueError(f"concurrency must be >= 1, got {concurrency}")
    if "{question}" not in prompt:
        raise ValueError("the prompt template must contain {question}")
    store = JsonlStore(cache, valid=_valid_sample) if cache else None
    # Under torchrun every rank reads the cache before any rank adds to it, so all build the same work list.
    distributed.barrier()
    identity = client.identity()
    base_seed = client.sampling.get("seed")
    result = Generation(list(problems), [[None] * n for _ in problems])
    todo, asked = [], {}
    for i, p in enumerate(problems):
        try:
            text = prompt.format(question=p.question)
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(f"the prompt template has a placeholder other than {{question}} ({exc!r}); write "
                             f"literal braces as {{{{ and }}}}") from None
        repeat = asked[text] = asked.get(text, -1) + 1
        for j in range(n):
            key = _key(identity, text, j, repeat)
            entry = store.entries.get(key) if store else None
            if entry is not None:
                result.samples[i][j] = {"text": entry["text"], "finish_reason": entry.get("finish_reason")}
                result.counts["cached"] += 1
            else:
                todo.append((i, j, text, key))
    result.counts["requested"] = len(problems) * n
    cancel = threading.Event()   # set by Ctrl-C: no retry of a request in flight (OpenAICompatibleClient.post)

    def one(i, j, text):
        seed = None if base_seed is None else int(base_seed) + j
        return client.complete([text], cancel=cancel, seed=seed)[0]

    def run_share(share):
        """Samples for this process's share of the requests: one outcome per request, in order."""
        outcomes = [("missing", "")] * len(share)
        failure = None
        bar = None
        if progress and share:
            from tqdm.auto import tqdm
            bar = tqdm(total=len(share), desc="sampling", unit="sample")
        pending = iter(range(len(share)))

        def take(fut, k):
            """One request's outcome, saved as it finishes: a stopped run resumes from here."""
            nonlocal failure
            try:
                c = fut.result()
            except RequestRefused as exc:
                outcomes[k] = ("refused", str(exc))
            except ServerUnavailable as exc:
                failure = failure or str(exc)
                outcomes[k] = ("missing", str(exc))
            except Exception as exc:   # noqa: BLE001 -- whatever else a request raised stops the run as one
                # the server failed would (the replies in flight still saved); it had escaped raw, the
                # finished replies unsaved (a breaker)
                failure = failure or f"{type(exc).__name__}: {str(exc)[:300]}"
                outcomes[k] = ("missing", failure)
            else:
                outcomes[k] = ("ok", (c.text, c.finish_reason))
                if store:
                    store.add([{"key": share[k][3], "text": c.text, "finish_reason": c.finish_reason}])
            if bar:
                bar.update(1)

        pool = ThreadPoolExecutor(concurrency)
        abandon = False   # a second Ctrl-C: the requests in flight are left to the process's exit
        try:
            running = {}

            def submit():
                k = next(pending, None)
                if k is not None:
                    running[pool.submit(one, *share[k][:3])] = k
            for _ in range(concurrency):
                submit()
            try:
                while running:
                    done, _ = wait(running, return_when=FIRST_COMPLETED)
                    for fut in done:
                        take(fut, running.pop(fut))
                        if failure is None:   # a dead server gets no new request
                            submit()
            except KeyboardInterrupt:
                # Ctrl-C: no new request. The requests in flight are waited for (their threads cannot be
                # stopped mid-request; each ends within the client's timeout and retries), so their replies are
                # kept like every finished one instead of being dropped -- unless Ctrl-C comes again.
                cancel.set()   # the attempts in flight end within the timeout; none is retried
                if running:
                    print(f"cotnpot generate: interrupted; saving the {len(running)} requests in flight as "
                          "they finish, without retries (Ctrl-C again to stop now, without them)", file=sys.stderr)
                try:
                    for fut in as_completed(list(running)):
                        take(fut, running.pop(fut))
                except KeyboardInterrupt:
                    abandon = True   # the pool's shutdown had joined the hung requests' threads (a breaker)
                    raise
                raise
        finally:
            pool.shutdown(wait=not abandon, cancel_futures=True)
            if bar:
                bar.close()
        return [o if o[0] != "missing" else ("missing", failure or "") for o in outcomes]

    failure = None
    for (i, j, _, _), (kind, payload) in zip(todo, distributed.map_sharded(run_share, todo)):
        if kind == "ok":
            result.samples[i][j] = {"text": payload[0], "finish_reason": payload[1]}
            result.counts["made"] += 1
        elif kind == "refused":
            result.counts["refused"] += 1
            result.refusals.append({"problem": problems[i].id, "sample": j, "reason": payload})
        else:
            failure = failure or payload
    result.counts["truncated"] = sum(1 for row in result.samples for s in row if s and s["finish_reason"] == "length")
    if failure is not None:
        missing = sum(1 for row in result.samples for s in row if s is None) - result.counts["refused"]
        raise GenerationError(f"sampling stopped with {missing} of {len(problems) * n} samples missing: {failure}"
                              + (f" (the {result.counts['made'] + result.counts['cached']} finished are kept in "
                                 f"{store.path}; rerun to resume)" if store else ""), result)
    return result


def write_candidates(result: Generation, path) -> Path:
    """The candidate file (``ovm`` format): one row per problem, its samples as ``outputs`` with the
    extracted answer, the finish reason and, when the problem has a gold answer, the grader's label.
    Written to a temporary file and renamed: a reader never sees half a file."""
    from .answer import extract_answer, is_equiv
    path = Path(path)
    with atomic_jsonl_writer(path) as f:
        for p, row in zip(result.problems, result.samples):
            outputs = []
            for s in row:
                if s is None:
                    continue
                answer = extract_answer(s["text"])[0]
                out: Dict[str, object] = {"response": s["text"], "response_answer": answer,
                                          "finish_reason": s["finish_reason"]}
                if p.gold:
                    out["label"] = bool(answer) and is_equiv(p.gold, answer)
                outputs.append(out)
            record = {"idx": p.id, "question": p.question, "outputs": outputs}
            if p.gold:
                record["ground_truth"] = p.gold
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
    return path
