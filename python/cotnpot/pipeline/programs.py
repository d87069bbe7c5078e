"""Re-executing the programs of candidate files in the sandbox, each the way its source's harness ran it.

=========  ===================================================================================
harness    how a program runs and what its answer is
=========  ===================================================================================
tora       ToRA: the program blocks of a solution, joined; the answer is the last printed line
pot        Program-of-Thoughts: the names the PoT harness's module had in scope first (``math`` and
           ``from math import *``, ``numpy as np``, ``sympy`` with ``Symbol``/``Eq``/``simplify``/
           ``solve``, and its ``solve_it`` helper, which programs call without defining); the answer
           is ``ans`` made a float as the harness's ``floatify_ans`` does (a dict gives its first
           value, a list or tuple its first item)
pot_aqua   the same; each program's value then picks the closest option (:func:`choose_option`), and
           votes are over those letters
translation  a program a translator wrote from a CoT solution (CoTnPoT), run as a script (``exit(0)``
             ends it): the value of ``ans`` as math the grader reads (:data:`ANSWER_TEXT`), not its ``str()``
calculator   the same, for the offline translator's arithmetic (small workers: ``math`` and ``fractions``)
=========  ===================================================================================

Identical (prelude, program) pairs run once: programs are taken to be deterministic. An
:class:`ExecutionCache` keeps results across runs, so a rerun executes only what is new.
"""
import hashlib
import math
import re
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

from .. import distributed
from ..executor import Executor, Job, job_text, result_identity
from ..jsonl_store import JsonlStore

POT_PRELUDE = '''import math
from math import *
import numpy as np
import sympy
from sympy import Symbol, Eq, simplify, solve


def solve_it(equation, variable):
    # The PoT harness's helper: the first solution as a dict, None for each variable when there is none.
    solution = solve(equation, variable, dict=True)
    if not solution:
        return {v: None for v in variable} if isinstance(variable, list) else {variable: None}
    return solution[0]


def _cotnpot_floatify(ans):
    # The PoT harness's floatify_ans: a dict gives its first value, a list its first item, then float().
    if ans is None or isinstance(ans, bool):
        return ans
    if isinstance(ans, dict):
        ans = list(ans.values())[0] if ans else None
    elif hasattr(ans, "shape") and getattr(ans, "shape", ()) != ():   # numpy arrays: the first item
        ans = ans.flat[0] if ans.size else None
    elif isinstance(ans, (list, tuple)):
        if not ans:
            return None
        ans = ans[0]
    try:
        return float(ans)
    except Exception:
        return str(ans)
'''

# A translated program's `ans` as math the grader reads (the translation and calculator harnesses). str()
# gives Python's and sympy's own notations, which it read as something else: 1.52587890625e-05 (e as Euler's
# number), (1+2j), [-1, 3] (an interval), oo, log(2) (base 10 to a reader of LaTeX), numpy's [1 2 3]; so a
# program that computed the CoT's value was dropped, and sympy.log(100) agreed with a CoT's 2. Floats are
# written out positionally (repr's digits), complex numbers as a+bi, sequences as "a, b" (inner ones in
# parentheses), fractions and sympy rationals exactly, other sympy numbers by their value (in LaTeX where it
# is past a double), symbolic sympy expressions in LaTeX with \ln. Nothing is imported that the value's own
# type did not bring (the calculator's workers preload no numpy or sympy).
#
# A translated program also runs as a script whose exit(0) ends it normally, keeping its `ans` (the executor
# reads no answer after an exit: in the split tests' harness a program's own values after it would be forged).
#
# Both functions live in a module the workers of these harnesses define once (WARMUP_ANSWER_TEXT): compiled in
# every job, their source cost ~0.4 ms of a calculator job's few. Where a worker lacks it (an executor made
# elsewhere), the job's prelude defines them from the same source.
ANSWER_TEXT = r"""
import decimal as _decimal
import fractions as _fractions
import math as _math


def _cotnpot_run_program(source, namespace):
    try:
        exec(compile(source, "<program>", "exec"), namespace)
    except SystemExit as exc:
        if exc.code not in (0, None):
            raise


def _cotnpot_answer_text(value, depth=0):
    if depth > 20 or value is None or isinstance(value, (bool, str, int)):
        return str(value)
    module = type(value).__module__.split(".")[0]
    if module == "numpy" and hasattr(value, "tolist"):
        return _cotnpot_answer_text(value.tolist(), depth)
    if isinstance(value, float):
        if _math.isnan(value):
            return "nan"
        if _math.isinf(value):
            return "\\infty" if value > 0 else "-\\infty"
        return format(_decimal.Decimal(repr(value)), "f")
    if isinstance(value, complex):
        if value.imag == 0:
            return _cotnpot_answer_text(value.real)
        imag = _cotnpot_answer_text(abs(value.imag)) + "i"
        if value.real == 0:
            return ("-" if value.imag < 0 else "") + imag
        return _cotnpot_answer_text(value.real) + ("-" if value.imag < 0 else "+") + imag
    if isinstance(value, _fractions.Fraction):
        if value.denominator == 1:
            return str(value.numerator)
        sign = "-" if value < 0 else ""
        return f"{sign}\\frac{{{abs(value.numerator)}}}{{{value.denominator}}}"
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [_cotnpot_answer_text(v, depth + 1) for v in value]
        text = ", ".join(sorted(items) if isinstance(value, (set, frozenset)) else items)
        return text if depth == 0 else f"({text})"
    if module == "sympy":
        import sympy
        try:
            if isinstance(value, sympy.Basic) and value.is_number:
                if value.is_Rational:
                    return _cotnpot_answer_text(_fractions.Fraction(int(value.p), int(value.q)), depth)
                if value in (sympy.oo, -sympy.oo):
                    return "\\infty" if value == sympy.oo else "-\\infty"
                number = complex(value.evalf(30))
                if _math.isfinite(number.real) and _math.isfinite(number.imag):
                    return _cotnpot_answer_text(number, depth)   # past a double (exp(1000)): LaTeX below
            return sympy.latex(value).replace("\\log", "\\ln")
        except Exception:
            return str(value)
    return str(value)
"""
_ANSWER_MODULE = "_cotnpot_answer"
# In the workers of the translation and calculator harnesses, once (what their WARMUP runs).
WARMUP_ANSWER_TEXT = (f"import sys as _s, types as _t\n_m = _t.ModuleType({_ANSWER_MODULE!r})\n"
                      f"exec({ANSWER_TEXT!r}, _m.__dict__)\n_s.modules[{_ANSWER_MODULE!r}] = _m\n")
# Each job's prelude: a string constant is all it compiles where the module is there.
# (The fallback defines them in a namespace of their own: their imports stay out of the program's globals.)
ANSWER_TEXT_PRELUDE = (f"try:\n    from {_ANSWER_MODULE} import _cotnpot_run_program, _cotnpot_answer_text\n"
                       f"except ImportError:\n    _cotnpot_ns = {{}}\n    exec({ANSWER_TEXT!r}, _cotnpot_ns)\n"
                       "    _cotnpot_run_program = _cotnpot_ns['_cotnpot_run_program']\n"
                       "    _cotnpot_answer_text = _cotnpot_ns['_cotnpot_answer_text']\n    del _cotnpot_ns\n")


def translated_program_code(program: str) -> str:
    return (f'_cotnpot_run_program({program!r}, globals())\n'
            'if "ans" in globals():\n    ans = _cotnpot_answer_text(ans)\n')


HARNESSES = ("tora", "pot", "pot_aqua", "translation", "calculator")
# Run once per worker: sympy builds its solvers lazily on first use, which would otherwise cost every
# forked job ~0.1-0.5 s of imports (AQuA's programs solve equations).
WARMUP = POT_PRELUDE + """
_x, _y = Symbol("x"), Symbol("y")
solve_it([_x + _y - 3, _x - _y - 1], [_x, _y])
solve_it(_x ** 2 - 4, _x)
simplify((_x ** 2 - 1) / (_x - 1))
float(sympy.sqrt(2) * sympy.pi)
np.array([1.0, 2.0]).mean()
"""
PRELOAD = ("math", "fractions", "itertools", "collections", "re", "datetime", "numpy", "sympy")
LIGHT_PRELOAD = ("math", "fractions")


def worker_setup(harness: str):
    """(preload, warmup) of the workers that run this harness's programs: the offline translator's
    arithmetic needs no library, so its workers stay small and fork fastest; both translated harnesses' warmup
    defines the answer renderer's module once."""
    if harness == "calculator":
        return LIGHT_PRELOAD, WARMUP_ANSWER_TEXT
    if harness == "translation":
        return PRELOAD, WARMUP_ANSWER_TEXT
    return PRELOAD, WARMUP if harness in ("pot", "pot_aqua") else ""


def job_fields(program: str, harness: str) -> Dict[str, str]:
    """How a harness runs a program: the job's code, prelude and answer mode (what the cache keys on too)."""
    if harness == "tora":
        return {"code": program, "prelude": "", "answer": "print", "variable": "ans"}
    if harness in ("translation", "calculator"):   # programs written by a translator set `ans`
        return {"code": translated_program_code(program), "prelude": ANSWER_TEXT_PRELUDE,
                "answer": "variable", "variable": "ans"}
    if harness in ("pot", "pot_aqua"):
        return {"code": program + "\nans = _cotnpot_floatify(ans)\n", "prelude": POT_PRELUDE,
                "answer": "variable", "variable": "ans"}
    raise ValueError(f"harness must be one of {HARNESSES}, got {harness!r}")


def job_for(program: str, harness: str, timeout: float = 0.0) -> Job:
    fields = {k: job_text(v) for k, v in job_fields(program, harness).items()}
    return Job(**fields, timeout=timeout)


@dataclass
class Execution:
    answers: List[str]                 # per program, "" when it failed
    statuses: List[str]                # the executor's status per program
    errors: List[str] = field(default_factory=list)
    unique: int = 0                    # programs actually run (distinct, not cached)


class ExecutionCache(JsonlStore):
    """Results of earlier runs, keyed by the job exactly as it runs (its code, prelude and answer mode)
    and what of the executor decides a result (:meth:`Executor.result_identity`: its limits)."""

    def __init__(self, path):
        # as the other caches: an entry without its answer, or with a number for it, had crashed every rerun
        # with a KeyError or TypeError (a breaker); such an entry is run again
        super().__init__(path, best_effort=True, valid=lambda entry: all(isinstance(entry.get(field), str)
                                                       for field in ("status", "answer", "error")))

    @staticmethod
    def key(program: str, harness: str, executor: Executor) -> str:
        fields = job_fields(program, harness)
        text = "\0".join([harness, *(fields[k] for k in sorted(fields)), *result_identity(executor)])
        return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def execute(programs: Sequence[str], harness: str, executor: Executor, progress=None,
            cache: Optional[ExecutionCache] = None) -> Execution:
    """Runs every program (duplicates once, cached ones not at all); answers and statuses in input order."""
    jobs: Dict[str, Job] = {}
    for p in programs:
        if p not in jobs:
            jobs[p] = job_for(p, harness)
    keys = {p: ExecutionCache.key(p, harness, executor) for p in jobs}
    program_of = {k: p for p, k in keys.items()}

    def entry(key, r):
        return {"key": key, "status": r.status, "answer": r.answer,
                "error": "" if r.status == "ok" else f"{r.error_type}: {r.error_message}"[:200],
                **distributed.timeout_marks(r)}

    def run(share, keep):   # under torchrun, each process runs its share of the programs
        results = executor.run_jobs([jobs[program_of[k]] for k in share], progress=progress,
                                    on_result=lambda i, r: keep(entry(share[i], r)))
        return [entry(k, r) for k, r in zip(share, results)]

    by_key, ran = distributed.map_sharded_cached(run, list(keys.values()), cache)
    out = Execution([], [], [], unique=ran)
    for p in programs:
        e = by_key[keys[p]]
        ok = e["status"] == "ok" and e["answer"] not in ("", "None")
        out.answers.append(e["answer"] if ok else "")
        out.statuses.append(e["status"])
        out.errors.append(e["error"])
    return out


_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:/\d+(?:\.\d+)?)?(!?)")


def option_values(option: str) -> List[float]:
    """The numbers an AQuA option may mean: its first number (a fraction as its value, ``n!`` as n
    factorial), and for a percentage also the fraction (``"C)$67.40"`` -> [67.4], ``"B)1/2"`` -> [0.5],
    ``"C)7!"`` -> [5040], ``"B)28%"`` -> [28, 0.28]); [] when it states none (``"E)None of these"``)."""
    text = option.split(")", 1)[1] if ")" in option[:3] else option
    text = _THOUSANDS.sub("", text).replace(" ", "")   # "1,500" is 1500; "(99,10)" stays a pair
    match = _NUMBER.search(text)
    if not match:
        return []
    number = match.group()[:len(match.group()) - len(match.group(1))]
    num, _, den = number.partition("/")
    try:
        value = float(num) / float(den) if den else float(num)
    except (ValueError, ZeroDivisionError):
        return []
    if match.group(1) and value.is_integer() and 0 <= value <= 20:
        value = float(math.factorial(int(value)))
    return [value, value / 100] if text[match.end():match.end() + 1] == "%" else [value]


def choose_option(value: str, options: Sequence[str]) -> str:
    """The letter of the option closest to a numeric answer, as the PoT AQuA harness maps each program's
    value (first on ties); "" when the answer is not a number or no option states one."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        return ""
    if not math.isfinite(x):
        return ""
    best, best_gap = "", math.inf
    for option in options:
        for v in option_values(option):
            if abs(v - x) < best_gap:
                best, best_gap = option.strip()[:1], abs(v - x)
    return best
