"""Benchmark: cotnpot's C++ answer grader vs Math-Verify (the real package) and Qwen2.5-Math's `math_equal`.

The first baseline is Hugging Face's Math-Verify as installed from PyPI (`math-verify`), called the way its
README shows: `verify(parse(gold), parse(pred))`, each answer wrapped in $...$ so its LaTeX extraction sees
it. The second is a re-implementation (Qwen's grader is not on PyPI): Qwen2.5-Math evaluation/grader.py's `math_equal` (string match; numeric
match with math.isclose(rel_tol=1e-4) against ref, ref/100 and ref*100; bracket-wise comparison of tuples
and intervals; "x = v" unwrapping; then `symbolic_equal` with a 1 s limit). The original parses LaTeX with
latex2sympy; here LaTeX is rewritten to sympy syntax (\\frac, \\sqrt, ^, \\pi, \\cdot, ...)
and parsed with `parse_expr`, then compared with ==, `simplify(a - b) == 0` and numerically.

cotnpot runs with math_equal's semantics (percent=True, rel_tol=1e-4). Pairs: the 204 bundled grader cases,
and the real (gold, extracted answer) pairs of the candidate files in shared/data: Qwen2.5-Math MATH
predictions, OpenAI's GSM8K example solutions, ToRA and PoT outputs (>= 10k pairs). One table per run:
pairs/s of each, the speed-up (ratio in the same run) and the agreement; then the disagreements with each
baseline, counted by class (what kind of answer the pair is) and listed.

Usage: python benchmarks/bench_grader.py [--data DIR] [--show 15]
"""
import argparse
import collections
import json
import math
from fractions import Fraction
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
        gold = answer.extract_answer(row["ground_truth"])[0]   # the gold solution's final answer ("A: 18")
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


def math_verify_equal(gold, pred):
    """Math-Verify itself: verify(parse(gold), parse(pred)); a bare answer goes in $...$ for its LaTeX parser."""
    from math_verify import parse, verify

    def wrap(s):
        return s if "$" in s or "\\boxed" in s else f"${s}$"
    try:
        return bool(verify(parse(wrap(gold)), parse(wrap(pred))))
    except Exception:   # Math-Verify's own timeouts and parse failures: not equal
        return False


BASELINES = {"Math-Verify": lambda g, p: math_verify_equal(g, p),
             "math_equal (sympy)": lambda g, p: math_equal(p, g)}


def number_relation(gold, pred):
    """For two plain numbers, how they relate: math_equal's percent variants or its 1e-4 tolerance."""
    try:
        g, p = float(gold.replace("{,}", "").replace(",", "")), float(pred.replace("{,}", "").replace(",", ""))
    except ValueError:
        return None
    if g == p:
        return "same number, other notation"
    for scale, name in ((100, "percent variant (x100 or /100)"), (0.01, "percent variant (x100 or /100)"), (1, "")):
        if math.isclose(p, g * scale, rel_tol=1e-4):
            return name or "within rel_tol 1e-4"
    return None


def answer_class(gold, pred):
    """What kind of pair a disagreement is, for counting them."""
    relation = number_relation(gold, pred)
    if relation:
        return relation
    text = gold + " " + pred
    if "\\text" in text or re.search(r"[A-Za-z]{3,}", text.replace("\\frac", "").replace("\\sqrt", "")):
        return "words/units/text"
    if "%" in text:
        return "percent"
    if re.search(r"\d\{?,\}?\d{3}", text):
        return "thousands separator"
    if re.search(r"[\[\]()]", text) and "," in text:
        return "tuple/interval/list"
    if "=" in text or "<" in text or ">" in text:
        return "equation/relation"
    if "\\" in text or "^" in text:
        return "LaTeX expression"
    if re.fullmatch(r"\s*-?[\d.]+\s*", pred) and re.fullmatch(r"\s*-?[\d.]+\s*", gold):
        return "plain numbers"
    return "other"


def _number(gold):
    """The gold answer as a Fraction when it is a plain number or a simple fraction, else None."""
    text = gold.strip().replace("{,}", "").replace(",", "")
    m = re.fullmatch(r"\\d?frac\{(-?\d+)\}\{(\d+)\}|(-?\d+)/(\d+)", text)
    try:
        if m:
            a, b = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
            return Fraction(int(a), int(b)) if int(b) else None
        return Fraction(text) if re.fullmatch(r"-?\d+(\.\d+)?", text) else None
    except (ValueError, ZeroDivisionError):
        return None


def _plain(x):
    return str(x.numerator) if x.denominator == 1 else f"\\frac{{{x.numerator}}}{{{x.denominator}}}"


def variant_pairs(data):
    """Gold answers of the bundled real files, each rewritten in forms that must stay equal and perturbed
    into values that must not: (class, gold, variant, truth)."""
    golds = sorted({str(r["gt"]) for r in read_jsonl(data / "qwen25math_rm_maj_example_math_cot_100.jsonl")} |
                   {answer.extract_answer(r["ground_truth"])[0]
                    for r in read_jsonl(data / "gsm8k_openai_example_model_solutions.jsonl")})
    out = []
    for g in golds:
        if not g:
            continue
        out += [("equal: boxed", g, f"\\boxed{{{g}}}", True), ("equal: $...$", g, f"${g}$", True),
                ("equal: x = answer", g, f"x = {g}", True)]
        if "\\frac" in g:
            out.append(("equal: \\dfrac", g, g.replace("\\frac", "\\dfrac"), True))
        x = _number(g)
        if x is None:
            continue
        if x.denominator == 1:
            n = x.numerator
            out.append(("equal: trailing .0", g, f"{n}.0", True))
            if abs(n) >= 1000:
                out.append(("equal: thousands separator", g, f"{n:,}", True))
        else:
            d = x.denominator
            while d % 2 == 0:
                d //= 2
            while d % 5 == 0:
                d //= 5
            if d == 1:   # a terminating decimal
                out.append(("equal: fraction as decimal", g, repr(float(x)), True))
            out.append(("equal: a/b", g, f"{x.numerator}/{x.denominator}", True))
            out.append(("different: reciprocal", g, _plain(1 / x) if x else "1", False))
        out.append(("different: off by one", g, _plain(x + 1), False))
        if x != 0:
            out += [("different: doubled", g, _plain(2 * x), False), ("different: sign flipped", g, _plain(-x), False)]
    return out


def variants_section(data, show):
    """cotnpot (default options) and Math-Verify against the truth of each generated variant, by class."""
    pairs = variant_pairs(data)
    ours = answer.grade([g for _, g, _, _ in pairs], [v for _, _, v, _ in pairs]).tolist()
    theirs = [math_verify_equal(g, v) for _, g, v, _ in pairs]
    by_class = collections.defaultdict(lambda: [0, 0, 0])
    wrong = []
    for (cls, g, v, truth), a, b in zip(pairs, ours, theirs):
        by_class[cls][0] += 1
        by_class[cls][1] += a == truth
        by_class[cls][2] += b == truth
        if a != b:
            wrong.append((cls, g, v, truth, a, b))
    print(f"\ngenerated variants of {len({g for _, g, _, _ in pairs})} real gold answers (truth known by "
          f"construction): {len(pairs)} pairs, cotnpot and Math-Verify agree on "
          f"{100 * (1 - len(wrong) / len(pairs)):.2f}%\n")
    print("| class | pairs | cotnpot right | Math-Verify right |")
    print("|---|---:|---:|---:|")
    for cls, (n, a, b) in sorted(by_class.items()):
        print(f"| {cls} | {n} | {100 * a / n:.1f}% | {100 * b / n:.1f}% |")
    for cls, g, v, truth, a, b in wrong[:show]:
        right = "cotnpot" if a == truth else "Math-Verify"
        print(f"  [{cls}] gold={g[:50]!r} variant={v[:50]!r} truth={truth}: {right} is right")


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def measure(pairs):
    golds, preds = [g for _, g, _ in pairs], [p for _, _, p in pairs]
    ours, t_batched = timed(lambda: answer.grade(golds, preds, rel_tol=1e-4, percent=True).tolist())
    _, t_loop = timed(lambda: [answer.is_equiv(g, p, rel_tol=1e-4, percent=True) for g, p in zip(golds, preds)])
    baselines = {name: timed(lambda: [fn(g, p) for g, p in zip(golds, preds)]) for name, fn in BASELINES.items()}
    return ours, t_batched, t_loop, baselines


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--show", type=int, default=15, help="disagreements to list per set")
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)

    from importlib.metadata import version
    print(f"answer grading benchmark: {torch.get_num_threads()} threads; baselines: Math-Verify "
          f"{version('math-verify')} (PyPI), Qwen2.5-Math math_equal "
          "re-implemented on sympy\n")
    print("| pairs | n | cotnpot grade() pairs/s | cotnpot is_equiv loop pairs/s | baseline | baseline pairs/s | "
          "speed-up (grade) | speed-up (loop) | agreement |")
    print("|---|---:|---:|---:|---|---:|---:|---:|---:|")
    disagreements = {}
    for name, pairs in (("bundled grader cases", grader_case_pairs()), ("real candidate pairs", candidate_pairs(args.data))):
        ours, t_batched, t_loop, baselines = measure(pairs)
        n = len(pairs)
        for baseline, (theirs, t_theirs) in baselines.items():
            agree = sum(a == b for a, b in zip(ours, theirs))
            print(f"| {name} | {n} | {n / t_batched:,.0f} | {n / t_loop:,.0f} | {baseline} | {n / t_theirs:,.0f} | "
                  f"{t_theirs / t_batched:,.0f}x | {t_theirs / t_loop:,.0f}x | {100 * agree / n:.2f}% |")
            disagreements[name, baseline] = [(src, g, p, a, b) for (src, g, p), a, b in zip(pairs, ours, theirs)
                                             if a != b]
    variants_section(args.data, args.show)
    for (name, baseline), rows in disagreements.items():
        classes = collections.Counter((answer_class(g, p), "cotnpot: equal" if a else "cotnpot: different")
                                      for _, g, p, a, _ in rows)
        print(f"\n{name} vs {baseline}: {len(rows)} disagreements")
        for (cls, verdict), count in sorted(classes.items(), key=lambda kv: -kv[1]):
            print(f"  {count:5d}  {cls:32s} {verdict}")
        for src, g, p, a, b in rows[:args.show]:
            print(f"  [{src}] gold={g[:60]!r} pred={p[:60]!r} cotnpot={a} {baseline}={b}")


if __name__ == "__main__":
    main()
