"""Benchmark: time per stage of the main demo's evaluation (load, execute, extract, grade, group,
metrics) for all bundled candidate files together, cold (every program executed) and warm (executions
from the cache, as a second `make demo` runs). One run, 2 workers; a table for the README.

Then the metrics alone at the paper's scale (benchmarks/bench_metrics.py: 5,000 problems x 64 samples,
every method at every N, against the engine it replaced).

Usage: python benchmarks/bench_eval.py [--workers 2] [--skip-cold]
"""
import argparse
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from cotnpot.pipeline.evaluation import EvalOptions, evaluate_file

ROOT = Path(__file__).resolve().parents[1]
FILES = ["qwen25math_rm_maj_example_math_cot_100.jsonl", "tora_gsm8k_tora-70b-v1.0_greedy_outputs.jsonl",
         "tora_gsm8k_tora-code-34b-v1.0_greedy_outputs.jsonl", "pot_codex_gsm8k_fewshot_greedy_outputs.jsonl",
         "pot_codex_gsm8k_zeroshot_greedy_outputs.jsonl", "pot_codex_aqua_sc30_outputs.jsonl",
         "gsm8k_openai_example_model_solutions.jsonl"]
STAGES = ("load", "execute", "extract", "grade", "group", "metrics")


def run_all(cache: Path, workers: int):
    totals, programs = defaultdict(float), 0
    start = time.perf_counter()
    for name in FILES:
        ev = evaluate_file(ROOT / "data" / name, options=EvalOptions(workers=workers, cache=cache))
        for stage, seconds in ev.timings.items():
            totals[stage] += seconds
        programs += ev.execution.get("unique_programs", 0)
    return totals, time.perf_counter() - start, programs


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--skip-cold", action="store_true", help="only the warm run (needs no execution)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp) / "executions.jsonl"
        runs = []
        if not args.skip_cold:
            runs.append(("cold (all programs run)",) + run_all(cache, args.workers))
        runs.append(("warm (executions cached)",) + run_all(cache, args.workers))
    print(f"evaluation of the {len(FILES)} bundled candidate files, {args.workers} workers\n")
    print("| run | " + " | ".join(STAGES) + " | total (s) | programs run |")
    print("|---|" + "---:|" * (len(STAGES) + 2))
    for label, totals, wall, programs in runs:
        print(f"| {label} | " + " | ".join(f"{totals.get(s, 0.0):.1f}" for s in STAGES) + f" | {wall:.1f} | {programs} |")
    print()
    import bench_metrics   # beside this file
    bench_metrics.main([])


if __name__ == "__main__":
    main()
