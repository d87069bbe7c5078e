"""Best-of-N evaluation of one candidate file: answers, labels, votes, metrics, and what they are compared with.

Stages (each timed): load -> execute (files with programs: re-run in the sandbox the way their harness ran
them) -> extract (the answers to grade) -> grade (cotnpot's grader against the gold answer) -> group
(answer classes for votes) -> metrics (every method at N = 1, 2, 4, ..., max, with bootstrap intervals).

Two labelings are reported where a file has its own labels: the file's (``source``) and cotnpot's grader
against the gold answers (``grader``, only where every problem has a gold answer), with every disagreement
listed. Two answer classes for votes: ``grader`` (:func:`cotnpot.answer.group_answers`, so ``1/2`` and
``0.5`` vote together) and ``exact`` (exact strings, the empty one included: Qwen2.5-Math's rm_maj_eval).
Ties are fair unless ``ties="first"``; figures compared with a publication also use its rule. The methods
come from :mod:`cotnpot.pipeline.methods`; under torchrun each process executes and translates its share.
"""
import math
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import torch

from .. import answer as answers_api
from .. import distributed, strict_json
from . import methods, metrics
from .metrics import Estimate
from .data import CandidateTable, load_candidates
from .programs import ExecutionCache, choose_option, execute, worker_setup

TASKS = ("gsm8k", "math", "mbpp", "aqua")

@dataclass
class EvalOptions:
    task: Optional[str] = None          # detected when None
    execute: Optional[bool] = None      # re-run programs (default: when the candidates carry programs)
    workers: int = 2
    timeout: float = 5.0
    memory_mb: int = 2048
    ks: Optional[Sequence[int]] = None  # default 1, 2, 4, ..., N
    samples: int = 1000                 # subsets drawn when there are more than metrics' max_subsets
    resamples: int = 1000               # bootstrap resamples
    seed: int = 0
    progress: bool = False
    cache: Optional[Path] = None        # a JSONL file of execution results kept across runs
    translator: Optional[object] = None  # CoTnPoT: a cotnpot.translate translator (math tasks)
    verifier: Optional[tuple] = None    # (model, tokenizer): its scores (average log-probs; an ORM's
                                        # probabilities) replace the file's
    score_cache: Optional[object] = None  # a cotnpot.verifier.ScoreCache for the verifier's scores
    verifier_batch_size: int = 8
    verifier_max_length: Optional[int] = None  # tokens per (question, solution) scored: the solution's start kept
    example_filter: bool = False        # code tasks: cotnpot's example-test filter (reported separately)
    ties: str = "fair"                  # "fair" or "first" (the harness rule); see cotnpot.pipeline.metrics
    log_samples: Optional[Path] = None  # a JSONL file: one record per problem (answers, classes, picks, values)
    published: Optional[dict] = None    # the figures this file is compared with (see load_published)


@dataclass
class Evaluation:
    path: str
    format: str
    task: str
    problems: int
    n_max: int
    counts: Dict[str, int]
    timings: Dict[str, float] = field(default_factory=dict)
    labelings: List[str] = field(default_factory=list)             # "source" and/or "grader", primary first
    metrics: Dict[str, Dict[str, Dict[int, Estimate]]] = field(default_factory=dict)
    per_source: Dict[str, Dict[str, float]] = field(default_factory=dict)
    execution: Dict[str, object] = field(default_factory=dict)
    label_disagreements: List[dict] = field(default_factory=list)
    published: Dict[str, object] = field(default_factory=dict)
    comparisons: List[dict] = field(default_factory=list)
    rules: Dict[str, str] = field(default_factory=dict)
    consistency: Dict[str, object] = field(default_factory=dict)
    differences: Dict[str, Dict[str, Dict[int, Estimate]]] = field(default_factory=dict)  # paired, per labeling
    fallback_share: Dict[int, float] = field(default_factory=dict)   # CoTnPoT: % of k-subsets with nothing kept
    harness_metrics: Dict[str, Dict[str, Dict[int, Estimate]]] = field(default_factory=dict)  # published tie rule
    input_notes: List[str] = field(default_factory=list)   # what the data lacked or how it varied
    ties: str = "fair"


_FAILURE = re.compile(r"^(None|nan|\w*(Error|Exception)\b.*|.*\btimeout\w*\b.*)$", re.S)


def _recorded_failure(recorded: str) -> bool:
    return bool(_FAILURE.match(recorded.strip()))


def detect_task(table: CandidateTable) -> str:
    if any(p.options for p in table.problems):
        return "aqua"
    return "math" if table.format == "qwen" else "gsm8k"


def _harness(table: CandidateTable, task: str) -> Optional[str]:
    if table.format == "tora":
        return "tora"
    if table.format == "pot":
        return "pot_aqua" if task == "aqua" else "pot"
    return None


def _classes(per_problem: List[List[str]], n_max: int, exact: bool) -> torch.Tensor:
    out = torch.full((len(per_problem), n_max), -1, dtype=torch.long)
    for i, row in enumerate(per_problem):
        if not row:
            continue
        if exact:   # exact strings, the empty answer among them (Qwen2.5-Math's Counter counts it)
            seen: Dict[str, int] = {}
            ids = [seen.setdefault(a, len(seen)) for a in row]
            out[i, :len(row)] = torch.tensor(ids, dtype=torch.long)
        else:
            out[i, :len(row)] = answers_api.group_answers(row)
    return out


def _execute_stage(ev: Evaluation, table: CandidateTable, harness: str, options: EvalOptions) -> List[str]:
    """Runs every candidate's program; records statuses and the comparison with the recorded results.
    Returns the executed answers, flat in candidate order."""
    from ..executor import Executor
    problems = table.problems
    flat = [c.program for p in problems for c in p.candidates]
    preload, warmup = worker_setup(harness)
    with Executor(workers=options.workers, timeout=options.timeout, memory_mb=options.memory_mb,
                  preload=preload, warmup=warmup) as ex:
        cache = ExecutionCache(options.cache) if options.cache else None
        done = execute(flat, harness, ex, progress=options.progress or False, cache=cache)
    recorded = [c.executed for p in problems for c in p.candidates]
    compared = [(i, r, e) for i, (r, e) in enumerate(zip(recorded, done.answers)) if r != ""]
    same = answers_api.grade([r for _, r, _ in compared], [e for _, _, e in compared]) if compared else []
    # A run that failed upstream (an error or timeout recorded, or no value) agrees with one that fails here.
    same = [bool(ok) or (_recorded_failure(r) and e == "") for ok, (_, r, e) in zip(list(same), compared)]
    where = [(p.id, j) for p in problems for j in range(len(p.candidates))]
    differ = [{"problem": where[i][0], "candidate": where[i][1], "recorded": r, "executed": e,
               "status": done.statuses[i], "error": done.errors[i]} for (i, r, e), ok in zip(compared, same) if not ok]
    ev.execution = {"harness": harness, "programs": len(flat), "unique_programs": done.unique,
                    "statuses": dict(Counter(done.statuses)), "compared_with_recorded": len(compared),
                    "same_as_recorded": len(compared) - len(differ), "differences": differ}
    return done.answers


def _grade_stage(ev: Evaluation, table: CandidateTable, graded_answers: List[List[str]]) -> Dict[str, torch.Tensor]:
    """Labels per labeling: the file's own (when it has them) and cotnpot's grader against the gold answers."""
    problems, valid = table.problems, table.valid()
    flat_gold = [p.gold for p, row in zip(problems, graded_answers) for _ in row]
    flat_pred = [a for row in graded_answers for a in row]
    grader = torch.zeros(valid.shape, dtype=torch.bool)
    if flat_pred:
        grader[valid] = answers_api.grade(flat_gold, flat_pred)
    if not table.has_labels():
        return {"grader": grader}
    source = table.labels()
    for i, j in (source != grader).nonzero().tolist():
        ev.label_disagreements.append({"problem": problems[i].id, "candidate": j, "gold": problems[i].gold,
                                       "answer": graded_answers[i][j], "source_label": bool(source[i, j]),
                                       "grader_label": bool(grader[i, j])})
    return {"source": source, "grader": grader}


# Paired differences reported (a - b), where both methods were computed.
DIFFERENCES = (("cotnpot maj", "maj"), ("cotnpot rm", "rm"), ("cotnpot rm", "maj"), ("rm", "maj"),
               ("weighted", "maj"))


def _plan(scores: Optional[torch.Tensor], weights: Optional[torch.Tensor], keep: Optional[torch.Tensor]):
    """The registry's methods whose inputs are there, as (row name, metric, answer classes)."""
    present = {"scores": scores is not None, "weights": weights is not None, "keep": keep is not None}
    return [(m.name, m.metric, m.classes) for m in methods.available(present)]


def _with_partners(ks: Sequence[int], n_max: int, calls: Optional[int]) -> List[int]:
    """The ks, plus each CoTnPoT@k's compute-matched partner k * (1 + calls) where the file has that many."""
    out = set(ks)
    if calls:
        out |= {k * (1 + calls) for k in ks if k * (1 + calls) <= n_max}
    return sorted(out)


def _metrics_stage(ev: Evaluation, table: CandidateTable, labelings: Dict[str, torch.Tensor],
                   classes: Dict[str, torch.Tensor], options: EvalOptions, keep: Optional[torch.Tensor],
                   scores: Optional[torch.Tensor], weights: Optional[torch.Tensor]) -> Dict[str, Dict[str, dict]]:
    """Every method at every k per labeling, with intervals and paired differences; returns the per-problem
    values ({labeling: {method: {k: AtK}}}) for the per-problem records."""
    calls = ev.consistency.get("llm_calls_per_translation") if keep is not None else None
    ks = _with_partners(list(options.ks) if options.ks else metrics.default_ks(table.n_max), table.n_max, calls)
    valid = table.valid()
    n = valid.sum(1)
    plan = _plan(scores, weights, keep)
    sources = list(dict.fromkeys(c.source for p in table.problems for c in p.candidates if c.source))
    per_problem: Dict[str, Dict[str, dict]] = {}
    ci = dict(resamples=options.resamples, seed=options.seed)
    harness_ties = ev.published.get("ties")
    for name, correct in labelings.items():
        base = metrics.Candidates(correct=correct, valid=valid, scores=scores, keep=keep, weights=weights)
        rows = [(label, method, base._replace(classes=classes[rule]) if rule else base) for label, method, rule in plan]
        curves = metrics.curves(rows, ks, samples=options.samples, seed=options.seed, ties=options.ties)
        if harness_ties and harness_ties != options.ties:
            ev.harness_metrics[name] = metrics.intervals(metrics.curves(
                [r for r in rows if r[1] not in ("pass", "random")], ks, samples=options.samples, seed=options.seed,
                ties=harness_ties), **ci)
        per_problem[name] = curves
        table_metrics = metrics.intervals(curves, **ci)
        # mean: over all candidates (problems weighted by their number of candidates)
        random = metrics.accuracy_curve("random", base, [1])[1].value
        mean = metrics.bootstrap_ci(random, weights=n.double(), **ci)
        table_metrics["mean"] = {k: mean for k in ks}
        ev.metrics[name] = table_metrics
        ev.differences[name] = {f"{a} − {b}": {k: metrics.paired_difference(curves[a][k], curves[b][k], **ci)
                                               for k in ks}
                                for a, b in DIFFERENCES if a in curves and b in curves}
        if "cotnpot maj" in curves and not ev.fallback_share:
            ev.fallback_share = {k: 100 * curves["cotnpot maj"][k].fallback.mean().item() for k in ks}
        for s in sources:   # files that mix models (OpenAI's): each model's own accuracy
            mask = table.matrix(lambda p, j, c: c.source == s, dtype=torch.bool, pad=False)
            ev.per_source.setdefault(s, {})[name] = 100 * correct[mask].float().mean().item()
    return per_problem


def rules(ties: str) -> Dict[str, str]:
    """Each method's rule (from the registry, for this tie rule), plus the rows and columns every report has."""
    out = methods.rules("math", ties)
    out.update({
        "mean": "mean accuracy over all candidates (each problem weighted by its number of candidates)",
        "@N": "every method at N is the expectation over the size-N subsets of a problem's candidates (all of "
              "them for a problem with fewer); exact (closed forms, exact vote counts, every subset) unless "
              f"marked * (seeded sampled subsets, their sampling error inside the interval); intervals: 95% "
              f"bootstrap over problems, none below {metrics.MIN_PROBLEMS_FOR_INTERVAL} problems",
        "differences": "paired: both methods on the same bootstrap resamples of the problems"})
    return out


def evaluate_code_table(table: CandidateTable, options: EvalOptions, example_filter: bool) -> Evaluation:
    """Code tasks: correctness from the tests; with a translator, each program explained and the verifier
    scoring explanation + code; cotnpot's example-test filter when asked."""
    from .code_tasks import CodeTask, SuiteCache, evaluate_code
    from ..executor import Executor
    from .programs import PRELOAD
    ev = Evaluation(table.path, table.format, "mbpp", len(table.problems), table.n_max, dict(table.counts))
    _check_input(ev, table, options.ks)
    ev.ties = options.ties
    tasks = [CodeTask(p.question, p.tests, p.setup) for p in table.problems]
    start = time.perf_counter()
    with Executor(workers=options.workers, timeout=options.timeout, memory_mb=options.memory_mb,
                  preload=PRELOAD) as ex:
        result = evaluate_code(tasks, [[c.program for c in p.candidates] for p in table.problems], ex,
                               translator=options.translator, verifier=options.verifier, ks=options.ks,
                               example_filter=example_filter, batch_size=options.verifier_batch_size,
                               max_length=options.verifier_max_length,
                               samples=options.samples, seed=options.seed, resamples=options.resamples,
                               ties=options.ties, cache=SuiteCache(options.cache) if options.cache else None)
    ev.timings["execute+translate+score"] = time.perf_counter() - start
    ev.execution = {"harness": "tests", "programs": sum(len(p.candidates) for p in table.problems),
                    "unique_programs": result.executed, "statuses": result.statuses, "compared_with_recorded": 0,
                    "same_as_recorded": 0, "differences": []}
    ev.labelings = ["tests"]
    ev.metrics = {"tests": result.metrics}
    if result.judged_in_process:
        ev.input_notes.append(f"{result.judged_in_process} of {sum(len(p.candidates) for p in table.problems)} "
                              f"programs were judged inside the sandbox: their test suites are not of a form "
                              f"cotnpot.judge splits, so a program could forge its verdict there.")
    ev.rules = {**methods.rules("code", options.ties),
                "tests": "judged outside the job where the suite splits (the job returns the calls' values, the "
                         "expected values never enter it; cotnpot.judge)"}
    return ev


def _check_input(ev: Evaluation, table: CandidateTable, ks: Optional[Sequence[int]] = None) -> None:
    """What the data lacks or how it varies: a clear error where nothing can be computed, else a note."""
    if not table.problems:
        raise ValueError(f"{table.path}: no problems (an empty file, or only lines that hold none)")
    if table.n_max == 0:
        raise ValueError(f"{table.path}: {len(table.problems)} problems but not one candidate")
    sizes = Counter(len(p.candidates) for p in table.problems)
    if 0 in sizes:
        ev.input_notes.append(f"{sizes[0]} problems have no candidate (they count as wrong).")
    if len(sizes) > 1:
        ev.input_notes.append(f"N differs across problems ({min(sizes)} to {max(sizes)} candidates); at an N "
                              f"above a problem's own count, that problem uses all its candidates.")
    past = sorted({k for k in ks or () if k > table.n_max})
    if past:   # the column N=16 of an 8-sample file held the @8 values without a word (a new user)
        ev.input_notes.append(f"N={', N='.join(map(str, past))} asked for (--ks) {'are' if len(past) > 1 else 'is'} "
                              f"past every problem's candidates "
                              f"(at most {table.n_max}): {'those columns hold' if len(past) > 1 else 'its column holds'} "
                              f"the values at N={table.n_max}.")


def _labelings(ev: Evaluation, table: CandidateTable, graded_answers: List[List[str]]) -> Dict[str, torch.Tensor]:
    missing = [p.id for p in table.problems if not p.gold.strip()]
    if not missing:
        return _grade_stage(ev, table, graded_answers)
    if not table.has_labels():
        raise ValueError(f"{table.path}: {len(missing)} problems have no gold answer (first: {missing[0]}) and the "
                         f"file has no labels of its own: accuracy needs one or the other")
    ev.input_notes.append(f"{len(missing)} of {len(table.problems)} problems have no gold answer: cotnpot's grader "
                          f"is not applied; the file's own labels are used.")
    return {"source": table.labels()}


def _note_missing_scores(ev: Evaluation, scores: Optional[torch.Tensor], valid: torch.Tensor) -> None:
    if scores is None:
        return
    missing = int((torch.isnan(scores) & valid).sum())
    if missing:
        ev.input_notes.append(f"{missing} candidates have no score: rm never picks them, and a subset in which no "
                              f"candidate has a score counts as wrong for rm (not as a random pick).")


def _weights(scores: Optional[torch.Tensor], verifier: Optional[str], ev: Evaluation) -> Optional[torch.Tensor]:
    """Vote weights: a verifier's average log-probs become per-token probabilities (exp; a per-problem softmax
    would give the same votes, its normalizer being one factor per problem), an ORM verifier's probabilities
    are used as they are (their exp, 1 to 2.7, had made its weighted vote nearly a plain one); a file's
    scores are used as they are when non-negative, else weighted@N is left out with the reason."""
    if scores is None:
        return None
    if verifier is not None:
        rule = ("the ORM head's probability that the solution is correct" if verifier == "orm" else
                "exp(the verifier's average log-prob), the solution's per-token probability")
        ev.rules["weighted"] = f"votes weighted by {rule}; " + ev.rules["weighted"].split("; ", 1)[1]
        return scores.double() if verifier == "orm" else scores.double().exp()
    if bool((torch.isfinite(scores) & (scores < 0)).any()):
        ev.input_notes.append("weighted@N left out: the file's scores are negative, and a vote adds its weights up "
                              "(larger classes would weigh less).")
        return None
    return scores


def evaluate_table(table: CandidateTable, options: EvalOptions = EvalOptions()) -> Evaluation:
    """Every stage after loading, each timed into ``Evaluation.timings``."""
    if options.ties not in metrics.TIES:
        raise ValueError(f"ties must be one of {', '.join(metrics.TIES)}, got {options.ties!r}")
    if table.format == "code":
        if options.log_samples is not None:   # was ignored without a word
            raise ValueError("--log-samples writes math candidates' records; a code file has none")
        # These two were ignored, or reported as the task asked (a reviewer)
        if options.task not in (None, "mbpp"):
            raise ValueError(f"task {options.task} is a math task; a code file (prompt, test_list, candidates) is "
                             "task mbpp")
        if options.execute is False:
            raise ValueError("--no-execute uses recorded answers; a code file's candidates are judged by running "
                             "their tests, and it records none")
        return evaluate_code_table(table, options, options.example_filter)
    if options.task == "mbpp":
        raise ValueError(f"task mbpp is for code files (prompt, test_list, candidates); this is a {table.format} file")
    if options.example_filter:   # was ignored without a word: the report had no example-filter row
        raise ValueError("--example-filter drops code candidates that fail the prompt's example test; a math "
                         "file has no tests (CoTnPoT's consistency filter for math comes with --translator)")
    task = options.task or detect_task(table)
    if task not in TASKS:
        raise ValueError(f"task must be one of {', '.join(TASKS)}, got {task!r}")
    if task == "aqua" and table.problems and not any(p.options for p in table.problems):
        # every value picked nothing: maj@1 0 against pass@1 37.5 (a stray problem without options picks none)
        raise ValueError("task aqua picks among each problem's answer options, and no problem here has any")
    ev = Evaluation(table.path, table.format, task, len(table.problems), table.n_max, dict(table.counts))
    _check_input(ev, table, options.ks)
    ev.published = dict(options.published or {})
    check_published_names(ev.published, table)
    ev.rules = rules(options.ties)
    ev.ties = options.ties
    problems = table.problems
    answers = [[c.answer for c in p.candidates] for p in problems]
    program_outputs: Optional[List[List[str]]] = None

    harness = _harness(table, task)
    if harness is None and options.execute:   # was ignored without a word (a reviewer)
        raise ValueError(f"--execute re-runs the candidates' programs, and a {table.format} file has none (pot and "
                         "tora files do)")
    if harness is not None and options.execute is False and not any(a for row in answers for a in row):
        raise ValueError("--no-execute uses the recorded answers, and this file records none for its programs (a "
                         "PoT file with several programs per problem): run it without --no-execute")
    if harness is not None and (options.execute is None or options.execute):
        start = time.perf_counter()
        executed = iter(_execute_stage(ev, table, harness, options))
        rerun = [[next(executed) for _ in p.candidates] for p in problems]
        program_outputs = rerun
        if harness != "tora":   # PoT's answer is the program's value; ToRA's is the model's final answer after it
            answers = rerun
        ev.timings["execute"] = time.perf_counter() - start

    start = time.perf_counter()
    if task == "aqua":   # multiple choice: each value picks the closest option
        graded_answers = [[choose_option(a, p.options) for a in row] for p, row in zip(problems, answers)]
    else:
        graded_answers = answers
    ev.timings["extract"] = time.perf_counter() - start

    start = time.perf_counter()
    labelings = _labelings(ev, table, graded_answers)
    ev.labelings = list(labelings)
    ev.timings["grade"] = time.perf_counter() - start

    start = time.perf_counter()
    # Votes are over answers, judged by the members' labels; multiple choice votes over letters.
    vote_answers = graded_answers if task == "aqua" else answers
    classes = {"grader": _classes(vote_answers, table.n_max, exact=False),
               "exact": _classes(vote_answers, table.n_max, exact=True)}
    ev.timings["group"] = time.perf_counter() - start

    keep = None
    consistency = None
    if options.translator is not None:
        if task not in ("gsm8k", "math"):
            raise ValueError(f"a CoT->program translator applies to math tasks (gsm8k, math), not {task!r}")
        from .consistency import check_consistency
        start = time.perf_counter()
        consistency = check_consistency(table, options.translator, options.workers, options.timeout,
                                        options.memory_mb, ExecutionCache(options.cache) if options.cache else None,
                                        options.progress)
        keep, ev.consistency = consistency.keep, consistency.stats
        ev.consistency["llm_calls_per_translation"] = getattr(options.translator, "llm_calls", 1)
        ev.timings["translate+execute"] = time.perf_counter() - start
        if not ev.consistency["consistent"]:   # the rows were copies of maj and rm without a word (a new user)
            from ..translate.offline import OfflineCalculatorTranslator
            why = (" (the offline translator reads GSM8K's <<calc>> annotations, which these solutions lack)"
                   if getattr(options.translator, "name", "") == OfflineCalculatorTranslator.name and
                   not ev.consistency["programs"] else "")
            ev.input_notes.append(f"No candidate is consistent: {ev.consistency['programs']} programs for "
                                  f"{ev.consistency['candidates']} candidates{why}, so every CoTnPoT row is its "
                                  "base method's (each subset falls back to all its candidates).")

    scores = table.scores() if table.has_scores() else None
    verifier_kind = None   # "logprob" or "orm": what a verifier's scores are
    if options.verifier is not None:
        from ..verifier import score_table, scores_are_probabilities
        start = time.perf_counter()
        model, tokenizer = options.verifier
        bar = None
        if options.progress:
            from tqdm.auto import tqdm
            bar = tqdm(total=int(table.valid().sum()), desc="scoring", unit="solution")
        try:
            scores = score_table(table, model, tokenizer, batch_size=options.verifier_batch_size,
                                 max_length=options.verifier_max_length, cache=options.score_cache,
                                 progress=bar.update if bar else None)
        finally:
            if bar is not None:
                bar.close()
        verifier_kind = "orm" if scores_are_probabilities(model) else "logprob"
        score_rule = ("the ORM head's probability that the solution is correct" if verifier_kind == "orm" else
                      "the verifier's average log-prob of the solution")
        ev.rules["rm"] = f"best-of-N by {score_rule}; " + ev.rules["rm"].split("; ", 1)[1]
        ev.timings["score"] = time.perf_counter() - start
    _note_missing_scores(ev, scores, table.valid())
    weights = _weights(scores, verifier_kind, ev)

    start = time.perf_counter()
    per_problem = _metrics_stage(ev, table, labelings, classes, options, keep, scores, weights)
    ev.timings["metrics"] = time.perf_counter() - start
    computed = set(ev.metrics[ev.labelings[0]])
    ev.rules = {name: text for name, text in ev.rules.items() if name in computed or name in ("@N", "differences")}
    ev.comparisons = compare_with_published(ev)
    if options.log_samples is not None and distributed.is_main():
        from .records import write_records
        write_records(options.log_samples, table, answers, classes, labelings, per_problem, scores, weights,
                      program_outputs if consistency is None else consistency.program_answers,
                      keep, options.ties)
    return ev


def _metric_value(ev: Evaluation, labeling: str, key: str, harness: bool = False) -> Optional[float]:
    """A published figure's counterpart; ``harness``: under the published harness's tie rule where it
    differs from the evaluation's."""
    if labeling not in ev.metrics:
        return None
    if key in ev.per_source:
        return ev.per_source[key].get(labeling)
    if key == "accuracy":
        key = "pass@1"
    name, k = figure_name(key)
    table = ev.metrics[labeling]
    if name == "mean":
        return next(iter(table["mean"].values())).value
    if harness and name in ev.harness_metrics.get(labeling, {}):
        table = ev.harness_metrics[labeling]
    if name in table and k is not None and k in table[name]:
        return table[name][k].value
    return None


def figure_name(key: str):
    """A published figure's method and N: ``maj@8 (exact)`` is ("maj (exact)", 8), ``rm@8`` ("rm", 8),
    ``mean`` ("mean", None); N is None where the text after @ is not a whole number."""
    name, at, k = key.partition("@")
    if k.endswith(" (exact)"):
        name, k = f"{name} (exact)", k[:-len(" (exact)")]
    return name, int(k) if at and k.isdigit() else None


def compare_with_published(ev: Evaluation) -> List[dict]:
    """Each published figure next to cotnpot's under the publication's own tie rule (``cotnpot``) and under
    the evaluation's (``cotnpot_ties``, where the rules differ)."""
    out = []
    if not ev.published:
        return out
    rule = ev.published.get("ties", ev.ties)
    for labeling in ev.labelings:
        for key, published in ev.published["figures"].items():
            ours = _metric_value(ev, labeling, key, harness=True)
            if ours is None:
                continue
            row = {"metric": key, "labels": labeling, "ties": rule, "cotnpot": round(ours, 2),
                   "published": published, "gap": round(ours - published, 2)}
            if rule != ev.ties:
                row[f"cotnpot ({ev.ties} ties)"] = round(_metric_value(ev, labeling, key), 2)
            out.append(row)
    return out


def load_published(path, candidate_file) -> dict:
    """The entry for ``candidate_file`` (by its name without .jsonl) in a JSON file of published figures:
    ``{name: {"figures": {metric: value}, "labels": "source"|"grader", "from": ..., "note": ..., "ties": ...}}``
    (``data/published.json`` holds the bundled files'); {} when the file is not listed."""
    try:
        table = strict_json.loads(Path(path).read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except ValueError as exc:   # the parser's words alone named neither the file nor what it should hold (a new user)
        raise ValueError(f"{path}: not a JSON document ({exc}); expected one JSON object of published figures per "
                         "candidate file, as data/published.json") from None
    if not isinstance(table, dict):
        raise ValueError(f"{path}: expected a JSON object of published figures per candidate file")
    entry = table.get(Path(candidate_file).name.rsplit(".jsonl", 1)[0], {})
    # Checked whole before any work: a hand-written entry failed only at the end, in the report, and lost it.
    where = f"{path}: the entry for {Path(candidate_file).name}"
    if not isinstance(entry, dict):
        raise ValueError(f"{where} must be an object, got {type(entry).__name__}")
    if not entry:
        return entry
    figures = entry.get("figures")
    if not isinstance(figures, dict):
        raise ValueError(f"{where} has no 'figures' object")
    for key, value in figures.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"{where}: figure {key!r} must be a number, got {value!r}")
        name, k = figure_name(key)
        if "@" in key and name != "mean" and not (k is not None and k >= 1):
            raise ValueError(f"{where}: figure {key!r}: expected accuracy, mean, a method@k or a source's name")
    if entry.get("ties", "fair") not in metrics.TIES:
        raise ValueError(f"{where}: ties must be one of {', '.join(metrics.TIES)}, got {entry['ties']!r}")
    if entry.get("labels", "source") not in ("source", "grader"):
        raise ValueError(f"{where}: labels must be 'source' or 'grader', got {entry['labels']!r}")
    for field in ("from", "note"):
        if field in entry and not isinstance(entry[field], str):
            raise ValueError(f"{where}: {field!r} must be a string, got {type(entry[field]).__name__}")
    return entry


def check_published_names(published: dict, table: CandidateTable) -> None:
    """Each published figure without an @ is accuracy, mean or one of the file's sources (models): a mistyped
    name had been left out of the comparison without a word (a reviewer). Known once the file is read."""
    sources = {c.source for p in table.problems for c in p.candidates if c.source}
    known = {m.name for m in methods.REGISTRY}
    for key in published.get("figures", {}):
        name, _ = figure_name(key)
        if "@" in key and name != "mean" and name not in known:   # "foo@4" had been dropped silently (a breaker)
            raise ValueError(f"--published: figure {key!r}: {name!r} is no method cotnpot reports "
                             f"({', '.join(sorted(known))})")
        if "@" not in key and key not in ("accuracy", "mean") and key not in sources:
            raise ValueError(f"--published: figure {key!r} is neither accuracy, mean, a method@k nor a source of "
                             f"this file" + (f" ({', '.join(sorted(sources))})" if sources else " (it has none)"))


def evaluate_file(path, format: str = "auto", options: EvalOptions = EvalOptions()) -> Evaluation:
    start = time.perf_counter()
    table = load_candidates(path, format)
    load_s = time.perf_counter() - start
    ev = evaluate_table(table, options)
    ev.timings = {"load": load_s, **ev.timings}
    return ev


def explain_gaps(ev: Evaluation) -> List[str]:
    """Plain-language reasons for every difference from the published figures that the data shows."""
    notes = []
    if ev.published.get("note"):
        notes.append(ev.published["note"])
    if ev.execution:
        x = ev.execution
        notes.append(f"{x['programs']} programs re-executed ({x['unique_programs']} distinct ones run, the rest "
                     f"duplicates or cached) with the "
                     f"{x['harness']} harness: statuses {x['statuses']}.")
        if x["compared_with_recorded"]:
            notes.append(f"{x['same_as_recorded']} of {x['compared_with_recorded']} re-executed answers equal the "
                         f"recorded ones" + (f"; the {len(x['differences'])} that differ are listed in report.json."
                                             if x["differences"] else "."))
    if "source" in ev.labelings and "grader" in ev.labelings:
        n = len(ev.label_disagreements)
        notes.append(f"cotnpot's grader and the file's labels disagree on {n} candidate{'s' if n != 1 else ''}"
                     + (" (listed below and in report.json)." if n else "."))
    # A figure this run has no counterpart of, said rather than dropped: a k not evaluated (--ks), a method the
    # run could not report (rm@8 without scores) (a breaker)
    compared = {c["metric"] for c in ev.comparisons}
    reported = {n for table in ev.metrics.values() for n in table}
    for key in ev.published.get("figures", {}):
        if key not in compared:
            name, k = figure_name("pass@1" if key == "accuracy" else key)
            why = (f"{name} is not among this run's methods ({', '.join(sorted(reported))})" if name not in reported
                   else f"N = {k} was not evaluated (--ks)")
            notes.append(f"published {key} not compared: {why}.")
    for c in ev.comparisons:
        # Published figures have one decimal: a gap within their rounding is no gap.
        if abs(c["gap"]) > 0.05 + 1e-9 and c["labels"] == ev.published.get("labels"):
            notes.append(f"{c['metric']} ({c['labels']} labels): {c['cotnpot']:.2f} vs published {c['published']} "
                         f"({c['gap']:+.2f}).")
    return notes
