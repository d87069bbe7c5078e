"""The paper's central experiment in miniature (``make experiment``, ``cotnpot experiment``).

Per seed: synthetic GSM8K-style problems (:mod:`cotnpot.train.synthetic`), N = 16 candidates each, from the
rule-based sampler or (``sampler="reasoner"``) from a tiny reasoner LM that cotnpot trains on other problems
of the same kind (:mod:`cotnpot.train.reasoner`); pairs (k per problem) from the training problems; one tiny
Llama (one architecture, one initialization) trained four ways on the same pairs with the same budget — ORM,
DPO, SimPO, and SimPO with its SFT term; then on held-out problems: best-of-N accuracy of each verifier for N
= 1, 2, 4, 8, 16 next to random choice and majority vote, each with and without the CoTnPoT filter (the
offline translator re-checks every solution's calculator annotations in the sandbox), as subset expectations.
Over the seeds, each figure is the mean with a 95% bootstrap interval that resamples seeds, then problems
within each seed. Also measured: each verifier's held-out NLL per token on correct solutions before and after
training (the claim that pair training costs the model its ability to generate). Writes OUT/report.md,
OUT/report.json and OUT/accuracy_vs_n.png.
"""
import time
from dataclasses import replace
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import torch

from .. import strict_json
from ..pipeline import metrics
from ..answer import group_answers
from ..logprob import sequence_logprob
from ..verifier import HFTokenizer, pad_examples, score_table
from .collate import PreferenceCollator
from .pairs import PreferencePair, build_pairs, split_by_problem
from .reasoner import ReasonerConfig, reasoner_candidates
from .synthetic import generate_problems, sample_candidates
from .trainer import TrainConfig, VerifierTrainer

VERIFIERS = {   # name -> TrainConfig overrides; the same budget for all
    "ORM": {"objective": "orm"},
    "DPO": {"objective": "dpo"},
    "SimPO": {"objective": "simpo"},
    "SimPO + SFT": {"objective": "simpo", "sft_weight": 1.0},
}
KS = (1, 2, 4, 8, 16)


def held_out_nll(model, tokenizer, table, max_length: int) -> float:
    """Mean NLL per token of the held-out problems' distinct correct solutions (prompt masked)."""
    collator = PreferenceCollator(tokenizer, max_length, "truncate")
    texts = sorted({(p.question, c.text) for p in table.problems for c in p.candidates if c.label})
    total, tokens = 0.0, 0
    model.eval()
    with torch.no_grad():
        for start in range(0, len(texts), 32):
            chunk = texts[start:start + 32]
            ids, labels, mask = pad_examples([collator.encode(q, s, "nll") for q, s in chunk], collator.pad_token_id)
            logits = model(input_ids=ids, attention_mask=mask).logits
            total -= sequence_logprob(logits, labels, shift=True).sum().item()
            tokens += int((labels[:, 1:] != -100).sum())
    return total / max(tokens, 1)


SAMPLERS = ("reasoner", "rules")


def sample_table(problems, seed: int, sampler: str, reasoner: Optional[ReasonerConfig], progress: bool):
    """16 candidates per problem, and what sampled them with how many of its samples are right."""
    if sampler == "reasoner":
        table, info = reasoner_candidates(problems, 16, seed, reasoner or ReasonerConfig(), progress)
    elif sampler == "rules":
        table, info = sample_candidates(problems, n=16, seed=seed), {}
    else:
        raise ValueError(f"sampler must be one of {SAMPLERS}, got {sampler!r}")
    return table, {"sampler": sampler, **info, "sample_accuracy": table.labels().float().mean().item()}


def run_seed(seed: int, problems: int, held_out_fraction: float, pairs_per_problem: int, epochs: int,
             out: Path, progress: bool, sampler: str = "rules", reasoner: Optional[ReasonerConfig] = None) -> Dict:
    from ..pipeline.consistency import check_consistency
    from ..models.hf_tiny import tiny_causal_lm, train_bpe_tokenizer
    from ..translate import OfflineCalculatorTranslator

    table, sampled_by = sample_table(generate_problems(problems, seed=seed), seed, sampler, reasoner, progress)
    pairs, stats = build_pairs(table, pairs_per_problem=pairs_per_problem, seed=seed)
    ids = [p.id for p in table.problems]
    # Held-out problems: a fraction of all problems, whether or not they gave pairs.
    held_ids = set(ids[:round(held_out_fraction * len(ids))])
    train = [p for p in pairs if p.problem_id not in held_ids]
    held = replace(table, problems=[p for p in table.problems if p.id in held_ids])
    # The tokenizer learns from the training problems only: held-out text must not shape the vocabulary.
    training = [p for p in table.problems if p.id not in held_ids]
    texts = [p.question for p in training] + [c.text for p in training[:200] for c in p.candidates]
    hf_tokenizer = train_bpe_tokenizer(texts, vocab_size=600)
    tokenizer = HFTokenizer(hf_tokenizer)

    candidates = metrics.Candidates(correct=held.labels(), valid=held.valid(),
                                    classes=torch.stack([group_answers([c.answer for c in p.candidates])
                                                         for p in held.problems]))
    keep = check_consistency(held, OfflineCalculatorTranslator()).keep
    per_problem: Dict[str, Dict[int, torch.Tensor]] = {}
    for k in KS:
        per_problem.setdefault("random", {})[k] = metrics.accuracy_at_k("random", candidates, k)
        per_problem.setdefault("majority vote", {})[k] = metrics.accuracy_at_k("maj", candidates, k)
        per_problem.setdefault("CoTnPoT + majority vote", {})[k] = metrics.accuracy_at_k(
            "filtered_maj", candidates._replace(keep=keep), k)
    nll, timings = {}, {}
    for name, overrides in VERIFIERS.items():
        model = tiny_causal_lm("llama", hf_tokenizer, hidden_size=64, layers=2, heads=4, kv_heads=2, seed=seed)
        config = TrainConfig(**{"epochs": epochs, "batch_size": 16, "micro_batch_size": 16, "lr": 2e-3,
                                "warmup_steps": 10, "max_length": 256, "truncation": "truncate",
                                "seed": seed, "progress": progress, **overrides})
        before = held_out_nll(model, tokenizer, held, config.max_length)
        trainer = VerifierTrainer(model, tokenizer, config, out / f"seed{seed}" / name.replace(" ", "_"))
        started = time.perf_counter()
        trainer.train(train)
        timings[name] = time.perf_counter() - started
        nll[name] = {"before": before, "after": held_out_nll(model, tokenizer, held, config.max_length)}
        if trainer.head is not None:
            model.orm_head = trainer.head
        scores = score_table(held, model.eval(), tokenizer, batch_size=32)
        scored = candidates._replace(scores=scores, keep=keep)
        for k in KS:
            per_problem.setdefault(f"{name} best-of-N", {})[k] = metrics.accuracy_at_k("rm", scored, k)
            per_problem.setdefault(f"CoTnPoT + {name}", {})[k] = metrics.accuracy_at_k("filtered", scored, k)
    return {"seed": seed, "sampled_by": sampled_by, "pair_stats": stats.to_json(), "train_pairs": len(train),
            "held_out_problems": len(held.problems), "consistent": float(keep[held.valid()].float().mean()),
            "per_problem": per_problem, "nll": nll, "train_seconds": timings}


def hierarchical_bootstrap(per_seed: Sequence[torch.Tensor], resamples: int = 1000, seed: int = 0):
    """Mean (percent) and a 95% interval that resamples training seeds, then problems within each seed:
    both the seed-to-seed variation of training and the choice of problems count."""
    g = torch.Generator().manual_seed(seed)
    means = torch.empty(resamples, dtype=torch.float64)
    for b in range(resamples):
        picked = torch.randint(0, len(per_seed), (len(per_seed),), generator=g).tolist()
        draws = [per_seed[s][torch.randint(0, len(per_seed[s]), (len(per_seed[s]),), generator=g)] for s in picked]
        means[b] = torch.cat(draws).double().mean()
    low, high = torch.quantile(means, torch.tensor([0.025, 0.975], dtype=torch.float64)).tolist()
    return 100 * torch.cat(list(per_seed)).double().mean().item(), 100 * low, 100 * high


def summarize(runs: Sequence[Dict]) -> Dict:
    methods = list(runs[0]["per_problem"])
    table = {}
    for method in methods:
        table[method] = {}
        for k in KS:
            mean, low, high = hierarchical_bootstrap([r["per_problem"][method][k] for r in runs])
            table[method][k] = {"mean": mean, "low": low, "high": high,
                                "per_seed": [100 * r["per_problem"][method][k].mean().item() for r in runs]}
    nll = {name: {when: sum(r["nll"][name][when] for r in runs) / len(runs) for when in ("before", "after")}
           for name in VERIFIERS}
    return {"accuracy": table, "nll": nll}


def _sampler_sentence(runs: Sequence[Dict]) -> str:
    first = runs[0]["sampled_by"]
    accuracy = ", ".join(f"{100 * r['sampled_by']['sample_accuracy']:.1f}%" for r in runs)
    if first["sampler"] == "reasoner":
        return (f"Candidates sampled (temperature {first['temperature']}, with a calculator) from a tiny Llama "
                f"reasoner of {first['parameters']:,} parameters that cotnpot trained per seed on "
                f"{first['train_problems']} other problems' gold solutions for {first['steps']} steps; "
                f"per-sample accuracy by seed: {accuracy}.")
    return f"Candidates from the rule-based sampler; per-sample accuracy by seed: {accuracy}."


def write_report(runs: Sequence[Dict], summary: Dict, out: Path, seconds: float) -> None:
    lines = ["# The experiment in miniature", "", _sampler_sentence(runs), "",
             f"{len(runs)} seeds; per seed {runs[0]['held_out_problems']} held-out problems with 16 candidates each; "
             f"verifiers trained on {runs[0]['train_pairs']} pairs (seed 0; "
             f"{runs[0]['pair_stats']['per_problem']['correct']:.2f} correct and "
             f"{runs[0]['pair_stats']['per_problem']['wrong']:.2f} wrong distinct solutions per problem). "
             f"CoTnPoT keeps {100 * sum(r['consistent'] for r in runs) / len(runs):.1f}% of the candidates. "
             f"Total time {seconds / 60:.1f} min.", "",
             "Best-of-N accuracy (%) on held-out problems, mean over seeds with a 95% bootstrap interval "
             "(seeds resampled, then problems within each seed):", "",
             "| method | " + " | ".join(f"N={k}" for k in KS) + " |", "|---|" + "---:|" * len(KS)]
    for method, by_k in summary["accuracy"].items():
        cells = [f"{v['mean']:.1f} [{v['low']:.1f}, {v['high']:.1f}]" for v in by_k.values()]
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    lines += ["", "Held-out NLL per token on correct solutions (mean over seeds): what pair training does to the "
              "model as a generator.", "", "| verifier | before | after |", "|---|---:|---:|"]
    for name, v in summary["nll"].items():
        lines.append(f"| {name} | {v['before']:.3f} | {v['after']:.3f} |")
    (out / "report.md").write_text("\n".join(lines) + "\n")
    serializable = [{**{k: v for k, v in r.items() if k != "per_problem"},
                     "accuracy": {m: {k: 100 * t.mean().item() for k, t in by_k.items()}
                                  for m, by_k in r["per_problem"].items()}} for r in runs]
    (out / "report.json").write_text(strict_json.dumps({"runs": serializable, "summary": summary}, indent=1))
    plot(summary, out / "accuracy_vs_n.png")


def plot(summary: Dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(8, 5))
    # One colour per selector (a method and its CoTnPoT variant share it; dashed = with CoTnPoT).
    base = sorted({m.replace("CoTnPoT + ", "").replace(" best-of-N", "") for m in summary["accuracy"]})
    colours = {name: plt.cm.tab10(i % 10) for i, name in enumerate(base)}
    for method, by_k in summary["accuracy"].items():
        ks = list(by_k)
        colour = colours[method.replace("CoTnPoT + ", "").replace(" best-of-N", "")]
        style = "--" if method.startswith("CoTnPoT") else "-"
        ax.plot(ks, [by_k[k]["mean"] for k in ks], style, marker="o", color=colour, label=method)
        ax.fill_between(ks, [by_k[k]["low"] for k in ks], [by_k[k]["high"] for k in ks], color=colour, alpha=0.08)
    ax.set_xscale("log", base=2)
    ax.set_xticks(KS, [str(k) for k in KS])
    ax.set_xlabel("N (candidates per problem)")
    ax.set_ylabel("held-out accuracy (%)")
    ax.set_title("Best-of-N with tiny verifiers on synthetic arithmetic problems")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run(out, seeds: int = 3, problems: int = 400, held_out_fraction: float = 0.25, pairs_per_problem: int = 4,
        epochs: int = 3, progress: bool = True, sampler: str = "rules",
        reasoner: Optional[ReasonerConfig] = None) -> Dict:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    if sampler not in SAMPLERS:
        raise ValueError(f"sampler must be one of {SAMPLERS}, got {sampler!r}")
    runs: List[Dict] = [run_seed(seed, problems, held_out_fraction, pairs_per_problem, epochs, out, progress,
                                 sampler, reasoner) for seed in range(seeds)]
    summary = summarize(runs)
    write_report(runs, summary, out, time.perf_counter() - started)
    return summary
