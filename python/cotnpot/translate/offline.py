"""The built-in offline CoT -> program translator for GSM8K-style solutions.

GSM8K's solutions (and models trained on them) mark every calculation as ``<<expr=value>>``. This
translator turns those annotations into a program that recomputes each one, checks it against the value
the solution wrote (an arithmetic slip makes the program fail), and sets ``ans`` to the last one. Plain
equations written after the last annotation ("99 + 5 = $104") count as steps too.

It is a weaker stand-in for a coder LLM: it re-checks the arithmetic chain the solution wrote, not the
reasoning that chose those calculations, and a solution without annotations gets no program (which the
consistency filter counts as inconsistent).
"""
import re
from typing import List, Optional, Sequence

from .base import Request

_ANNOTATION = re.compile(r"<<([^<>=]*)=([^<>]*)>>")
# A plain equation a solution wrote without an annotation ("99 + 5 = $104", "12/20 x 100% = 60%"):
# numbers joined by operators, "=", a number. Only used after the last annotation, where solutions often
# finish by hand.
_NUM = r"\$?\d[\d,]*(?:\.\d+)?%?"
_PLAIN = re.compile(rf"((?:{_NUM}\s*[-+*/x×−–]\s*)+{_NUM})\s*=\s*({_NUM})")
_SAFE_EXPRESSION = re.compile(r"^[0-9.+\-*/() ]+$")

_CHECK = '''def _check(step, value, written):
    # The value the solution wrote, to its own precision (it may round: 33.33 for 100/3), and then that value
    # as written: the unrounded 33.333333333333336 was then graded against the solution's 33.33 and the
    # consistent candidate dropped (found by a breaker).
    decimals = len(written.split(".")[1]) if "." in written else 0
    tolerance = max(0.5 * 10 ** -decimals, 1e-9 * abs(value))
    if abs(value - float(written)) > tolerance:
        raise ArithmeticError(f"step {step}: the solution wrote {written}, the expression gives {value}")
    return float(written) if "." in written else int(written)

'''


def _clean(expr: str, percent_result: bool) -> str:
    # "12/20 x 100% = 60%": GSM8K answers a percentage as the number before "%", so where the result is one
    # "%" is dropped on both sides; where it is not ("20% x $50 = $10"), a percentage in the expression is a
    # hundredth (dropped there too, it gave 1000 and the candidate was dropped: a breaker).
    if not percent_result:
        expr = re.sub(r"(\d[\d,]*(?:\.\d+)?)\s*%", r"(\1/100)", expr)
    for old, new in (("$", ""), (",", ""), ("%", ""), ("×", "*"), ("x", "*"), ("−", "-"), ("–", "-")):
        expr = expr.replace(old, new)
    return expr.strip()


def calculator_program(solution: str) -> Optional[str]:
    """The program for one solution, or None when it has no usable annotation."""
    steps = []
    found = list(_ANNOTATION.finditer(solution))
    tail = solution[found[-1].end():] if found else ""
    pairs = [(m.group(1), m.group(2)) for m in found] + [(m.group(1), m.group(2)) for m in _PLAIN.finditer(tail)]
    for expr, written in pairs:
        expr = _clean(expr, percent_result=written.strip().endswith("%"))
        written = written.strip().replace(",", "").replace("$", "").rstrip("%")
        if not expr or not _SAFE_EXPRESSION.match(expr):
            continue
        try:
            float(written)
        except ValueError:
            continue
        steps.append((expr, written))
    if not steps:
        return None
    lines = [_CHECK]
    for i, (expr, written) in enumerate(steps, start=1):
        lines.append(f"s{i} = _check({i}, ({expr}), {written!r})")
    lines.append(f"ans = s{len(steps)}")
    return "\n".join(lines) + "\n"


class OfflineCalculatorTranslator:
    """CoT -> program from the solution's ``<<expr=value>>`` annotations; no model, no network."""
    name = "offline-calculator"
    template = "gsm8k-annotations-v1"
    llm_calls = 0   # no model: the translation reads the solution's own annotations

    def translate(self, requests: Sequence[Request]) -> List[Optional[str]]:
        out = []
        for r in requests:
            if r.kind != "cot2pot":
                raise ValueError(f"the offline translator only writes programs for CoT solutions, got kind {r.kind!r}")
            out.append(calculator_program(r.text))
        return out
