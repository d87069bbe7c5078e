"""Benchmark: cotnpot's VerifierTrainer next to TRL's own trainers, the same tiny model and pairs, one run.

DPO: TRL's `DPOTrainer` (loss_type="sigmoid") vs `VerifierTrainer(objective="dpo")`; SimPO: TRL's
`CPOTrainer(loss_type="simpo", cpo_alpha=0)` vs `VerifierTrainer(objective="simpo")` with the same margin.
Every step uses the whole set of pairs (batch = data set), so the data order cannot differ; AdamW, a
constant learning rate, gradient clipping at 1.0, no gradient checkpointing and the same initial weights on
both sides; TRL's other defaults as they are (DPO runs its reference model every step). cotnpot runs twice:
in TRL's concatenated layout and in its shared-prefix layout (each pair's common prefix run once, pairs
packed, only solution tokens through the LM head; cotnpot.train.packing), so the table shows what each
part is worth. ORM (a scalar head on every solution token's hidden state, binary cross-entropy) has no
TRL counterpart: its row compares cotnpot's two layouts only (the loss column: shared prefix against
concatenated). Each run is its own process (so its peak memory is its own): the table gives the largest
loss difference from TRL (over the first 10 steps and over all), the median step time and the peak
resident memory.

Usage: python benchmarks/bench_train.py [--steps 20] [--pairs 16]
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def setup(n_pairs: int, workdir: Path):
    """The tiny model (saved once, loaded by both sides), its tokenizer and the pairs."""
    from cotnpot.models.hf_tiny import tiny_causal_lm, train_bpe_tokenizer
    from cotnpot.train import build_pairs
    from cotnpot.train.synthetic import generate_problems, sample_candidates
    table = sample_candidates(generate_problems(60, seed=0), n=16, seed=0)
    pairs, _ = build_pairs(table, pairs_per_problem=1, seed=0)
    pairs = pairs[:n_pairs]
    tokenizer = train_bpe_tokenizer([p.question for p in table.problems] +
                                    [c.text for p in table.problems for c in p.candidates], vocab_size=600)
    model = tiny_causal_lm("llama", tokenizer, hidden_size=128, layers=2, heads=4, kv_heads=2)
    model.save_pretrained(workdir / "model")
    tokenizer.save_pretrained(workdir / "model")
    from cotnpot.train import write_pairs
    write_pairs(pairs, workdir / "pairs.jsonl")


def run_side(side: str, objective: str, workdir: Path, steps: int, out: Path) -> None:
    import torch
    from cotnpot.train import read_pairs
    from cotnpot.verifier import load_verifier, prompt_for
    torch.manual_seed(0)
    pairs = read_pairs(workdir / "pairs.jsonl")
    model, tokenizer = load_verifier(str(workdir / "model"))
    beta, gamma = (0.1, None) if objective == "dpo" else (2.0, 0.5)
    step_times, losses = [], []
    if side.startswith("cotnpot"):
        from cotnpot.train import TrainConfig, VerifierTrainer
        layout = "concatenated" if side == "cotnpot-concatenated" else "shared_prefix"
        config = TrainConfig(objective=objective, batch_size=len(pairs), micro_batch_size=len(pairs), lr=1e-3,
                             lr_schedule="constant", epochs=steps, max_length=512, progress=False,
                             dpo_beta=beta, beta=beta, gamma_beta_ratio=(gamma / beta if gamma else 0.25),
                             pair_layout=layout)
        trainer = VerifierTrainer(model, tokenizer, config, workdir / f"cotnpot-{objective}")
        original = trainer._optimizer_step

        def timed_step(step_pairs):
            started = time.perf_counter()
            result = original(step_pairs)
            step_times.append(time.perf_counter() - started)
            losses.append(result["loss"])
            return result
        trainer._optimizer_step = timed_step
        trainer.train(pairs)
    else:
        from datasets import Dataset
        from transformers import TrainerCallback
        rows = Dataset.from_list([{"prompt": prompt_for(p.prompt), "chosen": p.chosen, "rejected": p.rejected}
                                  for p in pairs])
        common = dict(output_dir=str(workdir / f"trl-{objective}"), use_cpu=True, bf16=False, learning_rate=1e-3,
                      lr_scheduler_type="constant", per_device_train_batch_size=len(pairs), max_steps=steps,
                      logging_steps=1, report_to=[], save_strategy="no", seed=0, max_grad_norm=1.0,
                      disable_tqdm=True, gradient_checkpointing=False)   # cotnpot does not checkpoint either

        class Timer(TrainerCallback):
            def on_step_begin(self, args, state, control, **kw):
                self.started = time.perf_counter()

            def on_step_end(self, args, state, control, **kw):
                step_times.append(time.perf_counter() - self.started)
        if objective == "dpo":
            from trl import DPOConfig, DPOTrainer
            trainer = DPOTrainer(model=model, args=DPOConfig(beta=beta, loss_type="sigmoid", **common),
                                 train_dataset=rows, processing_class=tokenizer.tok, callbacks=[Timer()])
        else:
            from trl.experimental.cpo import CPOConfig, CPOTrainer
            trainer = CPOTrainer(model=model, args=CPOConfig(beta=beta, loss_type="simpo", cpo_alpha=0.0,
                                                             simpo_gamma=gamma, **common),
                                 train_dataset=rows, processing_class=tokenizer.tok, callbacks=[Timer()])
        trainer.train()
        losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out.write_text(json.dumps({"losses": losses, "step_times": step_times, "peak_mib": peak_mib}))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--pairs", type=int, default=16)
    parser.add_argument("--side")
    parser.add_argument("--objective")
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.side:   # a child process
        run_side(args.side, args.objective, args.workdir, args.steps, args.out)
        return
    import statistics
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        setup(args.pairs, workdir)
        results = {}
        for objective in ("dpo", "simpo", "orm"):
            for side in (("trl",) if objective != "orm" else ()) + ("cotnpot-concatenated", "cotnpot"):
                out = workdir / f"{side}-{objective}.json"
                subprocess.run([sys.executable, __file__, "--side", side, "--objective", objective, "--workdir",
                                str(workdir), "--steps", str(args.steps), "--out", str(out)], check=True,
                               env={**os.environ, "HF_HUB_OFFLINE": "1", "TQDM_DISABLE": "1"})
                results[objective, side] = json.loads(out.read_text())
    print(f"training benchmark: tiny Llama (hidden 128, 2 layers), {args.pairs} pairs per step (the whole set), "
          f"{args.steps} steps, 1 process each, {os.cpu_count()} cores\n")
    print("| objective | TRL trainer | max loss difference, first 10 steps / all | TRL step ms | cotnpot step ms, "
          "concatenated | cotnpot step ms, shared prefix | speed-up vs TRL | TRL peak RSS MiB | cotnpot peak RSS "
          "MiB |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for objective, name in (("dpo", "DPOTrainer sigmoid"), ("simpo", "CPOTrainer simpo, cpo_alpha=0"),
                            ("orm", "none (loss vs cotnpot concatenated)")):
        sides = (("trl",) if objective != "orm" else ()) + ("cotnpot-concatenated", "cotnpot")
        baseline, ours = results[objective, sides[0]], results[objective, "cotnpot"]
        diffs = [abs(a - b) for a, b in zip(baseline["losses"], ours["losses"])]
        median_ms = {side: 1000 * statistics.median(results[objective, side]["step_times"][1:]) for side in sides}
        trl_ms = f"{median_ms['trl']:.1f}" if "trl" in median_ms else "-"
        speed_up = f"{median_ms['trl'] / median_ms['cotnpot']:.2f}x" if "trl" in median_ms else (
            f"{median_ms['cotnpot-concatenated'] / median_ms['cotnpot']:.2f}x vs concatenated")
        trl_peak = f"{baseline['peak_mib']:.0f}" if "trl" in median_ms else "-"
        print(f"| {objective} | {name} | {max(diffs[:10]):.1e} / {max(diffs):.1e} | {trl_ms} | "
              f"{median_ms['cotnpot-concatenated']:.1f} | {median_ms['cotnpot']:.1f} | {speed_up} | {trl_peak} | "
              f"{ours['peak_mib']:.0f} |")
    for (objective, side), r in results.items():
        print(f"\n{objective} {side} losses: " + " ".join(f"{x:.4f}" for x in r["losses"]))


if __name__ == "__main__":
    main()
