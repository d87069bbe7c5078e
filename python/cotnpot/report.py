"""Reports of an evaluation: a markdown table for people, JSON for programs, a plot of accuracy vs N."""
import json
import math
from dataclasses import asdict
from pathlib import Path
from typing import List

from .evaluation import Evaluation, explain_gaps


def _fmt(e) -> str:
    return "–" if math.isnan(e.value) else f"{e.value:.1f} [{e.low:.1f}, {e.high:.1f}]"


def metrics_table(ev: Evaluation, labeling: str) -> List[str]:
    table = ev.metrics[labeling]
    ks = sorted({k for per_k in table.values() for k in per_k})
    lines = ["| method | " + " | ".join(f"N={k}" for k in ks) + " |", "|---|" + "---:|" * len(ks)]
    for method, per_k in table.items():
        lines.append(f"| {method}@N | " + " | ".join(_fmt(per_k[k]) if k in per_k else "" for k in ks) + " |")
    return lines


CALLS_PER_CANDIDATE = {"cotnpot maj": 2, "cotnpot rm": 2}   # a sample, plus its translation


def compute_matched(ev: Evaluation) -> List[str]:
    """CoTnPoT@N next to the plain methods at the same number of LLM calls (2N)."""
    table = ev.metrics[ev.labelings[0]]
    lines = ["Compute-matched (LLM calls per problem; CoTnPoT spends 2 per candidate):", "",
             "| calls | " + " | ".join(table) + " |", "|---:|" + "---:|" * len(table)]
    calls = sorted({k * CALLS_PER_CANDIDATE.get(m, 1) for m, per_k in table.items() for k in per_k})
    for c in calls:
        cells = []
        for m, per_k in table.items():
            k = c // CALLS_PER_CANDIDATE.get(m, 1)
            cells.append(f"{per_k[k].value:.1f}" if k in per_k and k * CALLS_PER_CANDIDATE.get(m, 1) == c else "")
        lines.append(f"| {c} | " + " | ".join(cells) + " |")
    return lines


def to_markdown(ev: Evaluation) -> str:
    out = [f"# cotnpot eval: {Path(ev.path).name}", "",
           f"format `{ev.format}`, task `{ev.task}`, {ev.problems} problems, up to {ev.n_max} candidates each"
           + ("" if not ev.counts else "; " + ", ".join(f"{v} {k}" for k, v in ev.counts.items())), ""]
    for labeling in ev.labelings:
        what = {"source": "the file's own labels", "tests": "the tasks' tests"}.get(
            labeling, "cotnpot's grader against the gold answers")
        out += [f"## Accuracy (%) with {what}", "", "mean and 95% bootstrap interval over problems", ""]
        out += metrics_table(ev, labeling) + [""]
    if ev.per_source:
        out += ["## Accuracy (%) per model", "", "| model | " + " | ".join(ev.labelings) + " |",
                "|---|" + "---:|" * len(ev.labelings)]
        out += [f"| {s} | " + " | ".join(f"{v[l]:.2f}" for l in ev.labelings) + " |" for s, v in ev.per_source.items()]
        out.append("")
    if ev.consistency:
        c = ev.consistency
        out += ["## CoTnPoT consistency", "",
                f"translator `{c['translator']}`: {c['programs']} programs for {c['candidates']} candidates "
                f"(statuses {c['statuses']}); {c['consistent']} candidates consistent; "
                f"{c['problems_all_filtered']} problems had none (fall-back: all candidates).", ""]
        out += compute_matched(ev) + [""]
    if ev.comparisons:
        out += ["## Against the published figures", "", f"source: {ev.published['from']}", "",
                "| metric | labels | cotnpot | published | gap |", "|---|---|---:|---:|---:|"]
        out += [f"| {c['metric']} | {c['labels']} | {c['cotnpot']:.2f} | {c['published']} | {c['gap']:+.2f} |"
                for c in ev.comparisons]
        out.append("")
    notes = explain_gaps(ev)
    if notes:
        out += ["## Notes", ""] + [f"- {n}" for n in notes] + [""]
    if ev.label_disagreements:
        out += ["## Grader vs the file's labels", "", "| problem | candidate | gold | answer | file | grader |",
                "|---|---:|---|---|---|---|"]
        out += [f"| {d['problem']} | {d['candidate']} | `{d['gold']}` | `{d['answer']}` | {d['source_label']} | "
                f"{d['grader_label']} |" for d in ev.label_disagreements[:50]]
        if len(ev.label_disagreements) > 50:
            out.append(f"\n... and {len(ev.label_disagreements) - 50} more in report.json")
        out.append("")
    out += ["## Rules", ""] + [f"- **{k}**: {v}" for k, v in ev.rules.items()] + [""]
    out += ["## Time per stage (s)", "", "| " + " | ".join(ev.timings) + " |", "|" + "---:|" * len(ev.timings),
            "| " + " | ".join(f"{v:.2f}" for v in ev.timings.values()) + " |", ""]
    return "\n".join(out)


def to_json(ev: Evaluation) -> dict:
    data = asdict(ev)
    data["metrics"] = {lab: {m: {str(k): e._asdict() for k, e in per_k.items()} for m, per_k in t.items()}
                       for lab, t in ev.metrics.items()}
    data["notes"] = explain_gaps(ev)
    return data


def plot(ev: Evaluation, path: Path, per_call: bool = False) -> None:
    """Accuracy of every method against N, or against LLM calls per problem (``per_call``: CoTnPoT's
    translations count as calls, so it is compared at equal compute)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    labeling = ev.labelings[0]
    fig, ax = plt.subplots(figsize=(6, 4))
    for method, per_k in ev.metrics[labeling].items():
        ks = sorted(per_k)
        xs = [k * (CALLS_PER_CANDIDATE.get(method, 1) if per_call else 1) for k in ks]
        ax.plot(xs, [per_k[k].value for k in ks], marker="o", label=method)
        ax.fill_between(xs, [per_k[k].low for k in ks], [per_k[k].high for k in ks], alpha=0.1)
    if max((k for per_k in ev.metrics[labeling].values() for k in per_k), default=1) > 1:
        ax.set_xscale("log", base=2)
    ax.set_xlabel("LLM calls per problem" if per_call else "N (candidates per problem)")
    ax.set_ylabel(f"accuracy (%), {labeling} labels")
    ax.set_title(Path(ev.path).name, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write(ev: Evaluation, out_dir: Path) -> List[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / "report.json", out_dir / "report.md", out_dir / "accuracy_vs_n.png",
             out_dir / "accuracy_vs_calls.png"]
    paths[0].write_text(json.dumps(to_json(ev), indent=1, ensure_ascii=False) + "\n")
    paths[1].write_text(to_markdown(ev))
    plot(ev, paths[2])
    plot(ev, paths[3], per_call=True)
    return paths
