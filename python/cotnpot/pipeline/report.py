"""Reports of an evaluation: a markdown table for people, JSON for programs, a plot of accuracy vs N."""
import contextlib
import errno
import math
import os
from dataclasses import asdict
from pathlib import Path
from typing import List

from ..atomic_file import atomic_file
from .. import strict_json
from . import methods
from .evaluation import Evaluation, explain_gaps


def _one_decimal(x: float) -> str:
    """x to one decimal, its last bits of float noise dropped first: the same 31.25 computed as a mean of
    correct picks (31.2500000001) and as a pass rate (31.2499999999) had read 31.3 and 31.2 side by side (a
    new user)."""
    return f"{round(x, 9):.1f}"


def _fmt(e) -> str:
    if math.isnan(e.value):
        return "–"
    mark = "*" if e.sampled else ""
    if math.isnan(e.low):
        return f"{_one_decimal(e.value)}{mark}"
    return f"{_one_decimal(e.value)}{mark} [{_one_decimal(e.low)}, {_one_decimal(e.high)}]"


def _table(rows, ks, signed: bool = False) -> List[str]:
    lines = ["| method | " + " | ".join(f"N={k}" for k in ks) + " |", "|---|" + "---:|" * len(ks)]
    for method, per_k in rows.items():
        cells = []
        for k in ks:
            e = per_k.get(k)
            cells.append("" if e is None else (_signed(e) if signed else _fmt(e)))
        lines.append(f"| {method}{'' if signed else '@N'} | " + " | ".join(cells) + " |")
    return lines


def _signed(e) -> str:
    def f(x):   # no "-0.0" for a difference that rounds to zero
        return f"{round(x, 1) + 0.0:+.1f}"
    if math.isnan(e.low):
        return f(e.value)
    return f"{f(e.value)} [{f(e.low)}, {f(e.high)}]"


def metrics_table(ev: Evaluation, labeling: str) -> List[str]:
    table = ev.metrics[labeling]
    return _table(table, sorted({k for per_k in table.values() for k in per_k}))


def differences_table(ev: Evaluation, labeling: str) -> List[str]:
    diffs = ev.differences.get(labeling, {})
    if not diffs:
        return []
    return _table(diffs, sorted({k for per_k in diffs.values() for k in per_k}), signed=True)


def calls_per_candidate(ev: Evaluation, method: str) -> int:
    """LLM calls a report row spends per candidate (see cotnpot.pipeline.methods)."""
    return methods.calls_per_candidate(method, int(ev.consistency.get("llm_calls_per_translation", 1)))


def compute_matched(ev: Evaluation) -> List[str]:
    """CoTnPoT@N next to the plain methods at the same number of LLM calls."""
    table = ev.metrics[ev.labelings[0]]
    per = ev.consistency.get("llm_calls_per_translation", 1)
    spends = (f"CoTnPoT spends {1 + per} per candidate" if per else
              "CoTnPoT spends 1 per candidate, its sampling: the offline translator calls no model")
    lines = [f"Compute-matched (LLM calls per problem; {spends}; – : the file has too few candidates for the "
             "partner):", "",
             "| calls | " + " | ".join(table) + " |", "|---:|" + "---:|" * len(table)]
    calls = sorted({k * calls_per_candidate(ev, m) for m, per_k in table.items() for k in per_k})
    n_max = ev.n_max
    for c in calls:
        cells = []
        for m, per_k in table.items():
            step = calls_per_candidate(ev, m)
            k = c // step
            if k * step != c:
                cells.append("")
            elif k in per_k:
                cells.append(_one_decimal(per_k[k].value))
            else:
                cells.append("–" if k > n_max else "")
        lines.append(f"| {c} | " + " | ".join(cells) + " |")
    return lines


def to_markdown(ev: Evaluation) -> str:
    out = [f"# cotnpot eval: {Path(ev.path).name}", "",
           f"format `{ev.format}`, task `{ev.task}`, {ev.problems} problems, up to {ev.n_max} candidates each"
           + ("" if not ev.counts else "; " + ", ".join(f"{v} {k}" for k, v in ev.counts.items())), ""]
    for labeling in ev.labelings:
        what = {"source": "the file's own labels", "tests": "the tasks' tests"}.get(
            labeling, "cotnpot's grader against the gold answers")
        out += [f"## Accuracy (%) with {what}", "",
                f"mean and 95% bootstrap interval over problems; ties: {ev.ties}; * sampled subsets", ""]
        out += metrics_table(ev, labeling) + [""]
        diffs = differences_table(ev, labeling)
        if diffs:
            out += [f"Paired differences (points, {what}): both methods on the same bootstrap resamples", ""]
            out += diffs + [""]
    if ev.per_source:
        out += ["## Accuracy (%) per model", "", "| model | " + " | ".join(ev.labelings) + " |",
                "|---|" + "---:|" * len(ev.labelings)]
        out += [f"| {s} | " + " | ".join(f"{v[l]:.2f}" for l in ev.labelings) + " |" for s, v in ev.per_source.items()]
        out.append("")
    if ev.consistency:
        c = ev.consistency
        out += ["## CoTnPoT consistency", "",
                f"translator `{c['translator']}`: {c['programs']} programs for {c['candidates']} candidates "
                f"(statuses {c['statuses']}"
                + (f"; {c['refused']} requests refused by the server" if c.get("refused") else "")
                + (f"; {c['truncated']} replies cut at max_tokens" if c.get("truncated") else "")
                + f"); {c['consistent']} candidates consistent; "
                f"{c['problems_all_filtered']} problems had none at all.", ""]
        if ev.fallback_share:
            ks = sorted(ev.fallback_share)
            out += ["Fall-back per subset: % of size-N subsets in which no candidate is consistent (the methods "
                    "then use all of them):", "", "| | " + " | ".join(f"N={k}" for k in ks) + " |",
                    "|---|" + "---:|" * len(ks),
                    "| fall-back | " + " | ".join(f"{ev.fallback_share[k]:.1f}" for k in ks) + " |", ""]
        out += compute_matched(ev) + [""]
    if ev.comparisons:
        extra = [key for key in ev.comparisons[0] if key.startswith("cotnpot (")]
        rule = (f"; cotnpot under the publication's tie rule ({ev.published['ties']})"
                + (f", and under this report's ({ev.ties})" if extra else "")) if "ties" in ev.published else ""
        out += ["## Against the published figures", "", f"source: {ev.published.get('from', 'not given')}{rule}", "",
                "| metric | labels | cotnpot | " + "".join(f"{x} | " for x in extra) + "published | gap |",
                "|---|---|---:|" + "---:|" * len(extra) + "---:|---:|"]
        out += [f"| {c['metric']} | {c['labels']} | {c['cotnpot']:.2f} | " + "".join(f"{c[x]:.2f} | " for x in extra)
                + f"{c['published']} | {c['gap']:+.2f} |" for c in ev.comparisons]
        out.append("")
    notes = ev.input_notes + explain_gaps(ev)
    if notes:
        out += ["## Notes", ""] + [f"- {n}" for n in notes] + [""]
    if ev.label_disagreements:
        out += ["## Grader vs the file's labels", "", "| problem | candidate | gold | answer | file | grader |",
                "|---|---:|---|---|---|---|"]
        out += [f"| {_cell(d['problem'])} | {d['candidate']} | `{_cell(d['gold'])}` | `{_cell(d['answer'])}` | "
                f"{d['source_label']} | {d['grader_label']} |" for d in ev.label_disagreements[:50]]
        if len(ev.label_disagreements) > 50:
            out.append(f"\n... and {len(ev.label_disagreements) - 50} more in report.json")
        out.append("")
    out += ["## Rules", ""] + [f"- **{k}**: {v}" for k, v in ev.rules.items()] + [""]
    out += ["## Time per stage (s)", "", "| " + " | ".join(ev.timings) + " |", "|" + "---:|" * len(ev.timings),
            "| " + " | ".join(f"{v:.2f}" for v in ev.timings.values()) + " |", ""]
    return "\n".join(out)


def _cell(text) -> str:
    """Text for one table cell: a `|` (MATH's |-3|) or a line break had split the row."""
    return str(text).replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def to_json(ev: Evaluation) -> dict:
    data = asdict(ev)
    def per_k(tables):
        return {lab: {m: {str(k): e._asdict() for k, e in pk.items()} for m, pk in t.items()}
                for lab, t in tables.items()}
    data["metrics"] = per_k(ev.metrics)
    data["differences"] = per_k(ev.differences)
    data["harness_metrics"] = per_k(ev.harness_metrics)
    data["fallback_share"] = {str(k): v for k, v in ev.fallback_share.items()}
    data["notes"] = ev.input_notes + explain_gaps(ev)
    return data


def plot(ev: Evaluation, path: Path, per_call: bool = False) -> None:
    """Accuracy of every method against N, or against LLM calls per problem (``per_call``: CoTnPoT's
    translations count as calls, so it is compared at equal compute), as a PNG at ``path``."""
    png = plot_png(ev, per_call)
    with atomic_file(path, "wb", permissions=0o644) as f:   # a full disk or Ctrl-C had left a cut PNG
        f.write(png)


def plot_png(ev: Evaluation, per_call: bool = False) -> bytes:
    """:func:`plot`'s PNG, as bytes."""
    import io
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    labeling = ev.labelings[0]
    fig, ax = plt.subplots(figsize=(6, 4))
    for method, per_k in ev.metrics[labeling].items():
        ks = sorted(per_k)
        xs = [k * (calls_per_candidate(ev, method) if per_call else 1) for k in ks]
        ax.plot(xs, [per_k[k].value for k in ks], marker="o", label=method)
        ax.fill_between(xs, [per_k[k].low for k in ks], [per_k[k].high for k in ks], alpha=0.1)
    if max((k for per_k in ev.metrics[labeling].values() for k in per_k), default=1) > 1:
        ax.set_xscale("log", base=2)
    ax.set_xlabel("LLM calls per problem" if per_call else "N (candidates per problem)")
    ax.set_ylabel(f"accuracy (%), {labeling} labels")
    # a file name that is not UTF-8 (its bytes as lone surrogates) escaped: matplotlib refuses such text
    ax.set_title(Path(ev.path).name.encode("utf-8", "backslashreplace").decode("utf-8"), fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    try:
        out = io.BytesIO()
        fig.savefig(out, format="png", dpi=120)
        return out.getvalue()
    finally:
        plt.close(fig)


# What write() puts in the output directory, in its order (the CLI checks them against its other outputs)
REPORT_FILES = ("report.json", "report.md", "accuracy_vs_n.png", "accuracy_vs_calls.png")


def write(ev: Evaluation, out_dir: Path) -> List[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / name for name in REPORT_FILES]
    # Each replaced whole, its text UTF-8 with lone surrogates (a file name or an answer's) escaped: a
    # UnicodeEncodeError had left a 0-byte report.json and no report.md. And all or none: every file is made
    # and written out before any replaces its earlier version (a full disk had left a new report.json beside
    # an earlier run's plots: a breaker).
    contents = [(strict_json.dumps(to_json(ev), indent=1, ensure_ascii=False) + "\n").encode("utf-8", "backslashreplace"),
                to_markdown(ev).encode("utf-8", "backslashreplace"), plot_png(ev), plot_png(ev, per_call=True)]
    with contextlib.ExitStack() as files:   # the renames happen as it closes, once every write succeeded
        for path, content in zip(paths, contents):
            try:
                f = files.enter_context(atomic_file(path, "wb", permissions=0o644))
                f.write(content)
                f.flush()   # a full disk fails here, before any rename
                try:
                    os.fsync(f.fileno())
                except OSError as exc:   # /dev/stdout and FIFOs, written in place, cannot sync
                    if exc.errno != errno.EINVAL:
                        raise
            except OSError as exc:   # named: "No space left on device" alone had said nothing of where
                if exc.filename is None:
                    exc.filename = str(path)
                raise
    return paths
