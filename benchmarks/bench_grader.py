"""Benchmark: cotnpot's C++ answer grader vs the Qwen2.5-Math `math_equal` algorithm on sympy.

The baseline below re-implements Qwen2.5-Math evaluation/grader.py's `math_equal` (string match; numeric
match with math.isclose(rel_tol=1e-4) against ref, ref/100 and ref*100; bracket-wise comparison of tuples
and intervals; "x = v" unwrapping; then `symbolic_equal` with a 1 s limit). The original parses LaTeX with
latex2sympy, which Debian lacks: here LaTeX is rewritten to sympy syntax (\\frac, \\sqrt, ^, \\pi, \\cdot, ...)
and parsed with `parse_expr`, then compared with ==, `simplify(a - b) == 0` and numerically.

cotnpot runs with the same semantics (percent=True, rel_tol=1e-4). Pairs: the 204 bundled grader cases,
and the real (gold, extracted answer) pairs of the candidate files in shared/data: Qwen2.5-Math MATH
predictions, OpenAI's GSM8K example solutions, ToRA and PoT outputs (>= 10k pairs). One table per run:
pairs/s of each, the speed-up (ratio in the same run) and the agreement; then the disagreements, grouped.

Usage: python benchmarks/bench_grader.py [--data DIR] [--show 15]
"""
import argparse
import collections
import json
import math
import os
import re
import signal
import time
from pathlib import Path

import torch

from cotnpot import answer

ROOT = Path(__file__).resolve().parents[1]

# ---- the baseline: Qwen2.5-Math's math_equal on sympy ----------------------------------------------------


def parse_digits(num):
    num = re.sub(",", "", str(num))
    try:
        return float(num)
    except ValueError:
        if num.endswith("%"):
            num = num[:-1].rstrip("\\")
            try:
                return float(num) / 100
            except ValueError:
                pass
    return None


def latex_to_sympy_text(s):
    s = s.replace("\\left", "").replace("\\right", "").replace("\\!", "").replace("\\,", "").replace("$", "")
    s = re.sub(r"\\[dtc]?frac\{([^{}]*)\}\{([^{}]*)\}", r"((\1)/(\2))", s)
    s = re.sub(r"\\sqrt\{([^{}]*)\}", r"sqrt(\1)", s)
    s = re.sub(r"\\sqrt(\d)", r"sqrt(\1)", s)
    s = s.replace("\\pi", "pi").replace("\\cdot", "*").replace("\\times", "*").replace("\\infty", "oo")
    s = s.replace("^", "**").replace("{", "(").replace("}", ")").replace("\\", "")
    return s


def _parse(s):
    from sympy.parsing.sympy_parser import (convert_xor, implicit_multiplication_application, parse_expr,
                                            standard_transformations)
    try:
        return parse_expr(latex_to_sympy_text(s),
                          transformations=standard_transformations + (implicit_multiplication_application, convert_xor))
    except Exception:
        return s


class Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise Timeout()


def symbolic_equal(a, b, timeout_s=1.0):
    from sympy import N, simplify
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout_s)
    try:
        a, b = _parse(a), _parse(b)
        try:
            if str(a) == str(b) or a == b:
                return True
        except Exception:
            pass
        try:
            if a.equals(b) or simplify(a - b) == 0:
                return True
        except Exception:
            pass
        try:
            if math.isclose(float(N(a)), float(N(b)), rel_tol=1e-4):
                return True
        except Exception:
            pass
        return False
    except Timeout:
        return False
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def math_equal(prediction, reference, include_percentage=True):
    if prediction is None or reference is None:
        return False
    if str(prediction).strip().lower() == str(reference).strip().lower():
        return True
    p, r = parse_digits(prediction), parse_digits(reference)
    if p is not None and r is not None:
        candidates = [r / 100, r, r * 100] if include_percentage else [r]
        return any(math.isclose(p, c, rel_tol=1e-4) for c in candidates)
    if not prediction and prediction not in [0, False]:
        return False
    reference, prediction = str(reference).strip(), str(prediction).strip()
    pred_str, ref_str = prediction, reference
    if ((prediction.startswith("[") and prediction.endswith("]") and not reference.startswith("(")) or
            (prediction.startswith("(") and prediction.endswith(")") and not reference.startswith("["))):
        pred_str, ref_str = pred_str.strip("[]()"), ref_str.strip("[]()")
    for ch in "{}()":
        ref_str, pred_str = ref_str.replace(ch, ""), pred_str.replace(ch, "")
    if pred_str.lower() == ref_str.lower():
        return True
    bracketed = r"(\(|\[).+(\)|\])"
    if re.match(bracketed, prediction) and re.match(bracketed, reference):
        pred_parts, ref_parts = prediction[1:-1].split(","), reference[1:-1].split(",")
        if len(pred_parts) == len(ref_parts) and all(
                math_equal(pp, rp, include_percentage) for pp, rp in zip(pred_parts, ref_parts)):
            return True
    if prediction.count("=") == 1 and len(prediction.split("=")[0].strip()) <= 2 and "=" not in reference:
        if math_equal(prediction.split("=")[1], reference, include_percentage):
            return True
    elif reference.count("=") == 1 and len(reference.split("=")[0].strip()) <= 2 and "=" not in prediction:
        if math_equal(prediction, reference.split("=")[1], include_percentage):
            return True
    return symbolic_equal(prediction, reference)


# ---- the pairs ----------------------------------------------------------------------------------------------


def read_jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def candidate_pairs(data):
    pairs = []
    for row in read_jsonl(data / "qwen25math_rm_maj_example_math_cot_100.jsonl"):
        pairs += [("qwen25-math MATH", str(row["gt"]), str(p)) for p in row["pred"]]
    for row in read_jsonl(data / "gsm8k_openai_example_model_solutions.jsonl"):
        gold = str(row["ground_truth"])
        for key in ("6b_finetuning", "6b_verification", "175b_finetuning", "175b_verification"):
            pairs.append(("openai GSM8K", gold, answer.extract_answer(row[key]["solution"])[0]))
    for name in ("tora_gsm8k_tora-70b-v1.0_greedy_outputs.jsonl", "tora_gsm8k_tora-code-34b-v1.0_greedy_outputs.jsonl"):
        pairs += [("ToRA GSM8K", str(row["gt"]), str(row["pred"][0])) for row in read_jsonl(data / name)]
    for name in ("pot_codex_gsm8k_fewshot_greedy_outputs.jsonl", "pot_codex_gsm8k_zeroshot_greedy_outputs.jsonl"):
        pairs += [("PoT GSM8K", str(row["answer"]), str(row["executed"])) for row in read_jsonl(data / name)
                  if "question" in row]
    return pairs


def grader_case_pairs():
    return [("grader cases", c["gold"], c["pred"]) for c in read_jsonl(ROOT / "data" / "grader_cases.jsonl")]


def measure(pairs):
    golds, preds = [g for _, g, _ in pairs], [p for _, _, p in pairs]
    start = time.perf_counter()
    ours = answer.grade(golds, preds, rel_tol=1e-4, percent=True).tolist()
    t_batched = time.perf_counter() - start
    start = time.perf_counter()
    for g, p in zip(golds, preds):
        answer.is_equiv(g, p, rel_tol=1e-4, percent=True)
    t_loop = time.perf_counter() - start
    start = time.perf_counter()
    theirs = [math_equal(p, g) for g, p in zip(golds, preds)]
    t_sympy = time.perf_counter() - start
    return ours, theirs, t_batched, t_loop, t_sympy


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--show", type=int, default=15, help="disagreements to list per set")
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)

    print(f"answer grading benchmark: {torch.get_num_threads()} threads, sympy baseline (Qwen2.5-Math math_equal)\n")
    print("| pairs | n | cotnpot grade() pairs/s | cotnpot is_equiv loop pairs/s | sympy math_equal pairs/s | "
          "speed-up (grade) | speed-up (loop) | agreement |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    disagreements = {}
    for name, pairs in (("bundled grader cases", grader_case_pairs()), ("real candidate pairs", candidate_pairs(args.data))):
        ours, theirs, t_batched, t_loop, t_sympy = measure(pairs)
        n = len(pairs)
        agree = sum(a == b for a, b in zip(ours, theirs))
        print(f"| {name} | {n} | {n / t_batched:,.0f} | {n / t_loop:,.0f} | {n / t_sympy:,.0f} | "
              f"{t_sympy / t_batched:,.0f}x | {t_sympy / t_loop:,.0f}x | {100 * agree / n:.2f}% |")
        disagreements[name] = [(src, g, p, a, b) for (src, g, p), a, b in zip(pairs, ours, theirs) if a != b]
    for name, rows in disagreements.items():
        print(f"\n{name}: {len(rows)} disagreements "
              f"({collections.Counter((src, a) for src, _, _, a, _ in rows).most_common()}, as (source, cotnpot says))")
        for src, g, p, a, b in rows[:args.show]:
            print(f"  [{src}] gold={g[:60]!r} pred={p[:60]!r} cotnpot={a} sympy={b}")


if __name__ == "__main__":
    main()
