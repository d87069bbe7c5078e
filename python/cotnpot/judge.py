"""Verdicts a program cannot forge: unit tests judged outside the process that ran the program.

A test ``assert f(2) == 5`` judged inside the job can be forged by the job: it can write its own verdict,
replace ``compile`` or ``json.dumps``, exit before the asserts, or return an object whose ``__eq__`` is
always true. So tests of the forms below are split: the job evaluates only the *calls* (``f(2)``) and
sends their values back in a small tagged format of plain literals; the caller decodes them with a strict
decoder (plain ``int``/``float``/``str``/... only, size- and depth-capped) and compares them with the
expected values, which never enter the job's process.

Split forms (one ``assert`` each; the message, if any, is ignored):
    assert CALL == LITERAL      assert LITERAL == CALL      assert CALL != LITERAL
    assert CALL is True|False|None (and ``is not``: the job reports which of the three the value is, or
                                     none of them; the caller applies the literal)
    assert math.isclose(CALL, LITERAL[, rel_tol=LITERAL][, abs_tol=LITERAL])
    assert NAME(args)           assert not NAME(args)      (truthiness of the candidate's own function,
                                                            which the job reports as a bool)
    assert abs(CALL - LITERAL) < LITERAL (or ``<=``, ``abs(LITERAL - CALL)``: HumanEval's float checks)
    assert LITERAL              (``assert True, "This prints if this assert fails..."``: judged by the caller
                                 alone, from the literal's truth)
where LITERAL is a Python literal, ``+ - * /`` of numeric ones (``2.0/3.0``), or one passed to
set/frozenset/tuple/list/dict/sorted/float/int/str/complex/bool (``set((4, 5))``), plus ``import`` lines and
``NAME = LITERAL`` set-up, and HumanEval's ``def check(candidate): ...`` / ``check(entry_point)`` (the body's
asserts, ``candidate`` replaced by the entry point, check()'s locals renamed apart). A suite with any other
statement is judged inside the job, and its result says so (``judged_in_process=True``).
"""
import ast
import collections
import decimal
import fractions
import json
import math
from dataclasses import dataclass, field
from typing import Any, List, Optional, Sequence, Tuple

from .text_fields import utf8_safe

VALUES_VARIABLE = "__cotnpot_values__"
MAX_DEPTH = 64   # nesting of a returned value (the encoder refuses deeper ones)
MAX_HASHED = 4096   # one set of this many colliding ints: what hashing one job's values may cost (_HashBudget)
FRACTION_WEIGHT = 30   # a Fraction's ==, Python code, against an int's (_HashBudget)
DECIMAL_WEIGHT = FRACTION_WEIGHT   # a Decimal against a Fraction: Fraction's == gives up, Decimal's runs (650 ns)
FLOAT_VS_DECIMAL = 120   # a float against a Decimal: converted to an exact decimal, up to 751 digits (_HashBudget)
FLOAT_VS_FRACTION = 70   # a float or complex against a Fraction: Fraction.from_float, Python code (_HashBudget)
_MISSING = object()

# The job's side: appended to the program, run in its namespace after it. The job may change any of it;
# what it can change is only the values it reports, and it never sees what they are compared with.
_HARNESS = r'''
import builtins as __cotnpot_builtins   # the harness runs in the program's namespace, where a candidate may
# have rebound list, str, dict, type ... at top level (``list = [3, 1]``, common in model-written drivers)


def __cotnpot_encode(value, depth=0, B=__cotnpot_builtins):
    if depth > %(depth)d:
        raise B.ValueError("the value is nested too deeply")
    if value is None:
        return ["none"]
    if value is True or value is False:
        return ["bool", value is True]
    if B.isinstance(value, B.int):
        try:
            return ["int", B.int.__repr__(value)]
        except B.ValueError:   # past the interpreter's 4,300-digit limit for decimal text: hex has none
            return ["inthex", B.int.__format__(value, "x")]
    if B.isinstance(value, B.float):
        return ["float", B.float.__repr__(value)]
    if B.isinstance(value, B.complex):
        return ["complex", [B.float.__repr__(value.real), B.float.__repr__(value.imag)]]
    if B.isinstance(value, B.str):
        return ["str", B.str.__str__(value)]
    if B.isinstance(value, (B.bytes, B.bytearray)):
        return [B.type(value).__name__, B.bytes(value).hex()]
    if B.isinstance(value, (B.list, B.tuple, B.set, B.frozenset)):
        kind = "list" if B.isinstance(value, B.list) else "tuple" if B.isinstance(value, B.tuple) else \
            "frozenset" if B.isinstance(value, B.frozenset) else "set"
        return [kind, [__cotnpot_encode(v, depth + 1) for v in value]]
    if B.isinstance(value, B.dict):
        return ["dict", [[__cotnpot_encode(k, depth + 1), __cotnpot_encode(v, depth + 1)] for k, v in value.items()]]
    kind = B.type(value).__module__ + "." + B.type(value).__name__
    if kind in ("builtins.dict_keys", "builtins.dict_items", "collections.odict_keys", "collections.odict_items"):
        try:   # set-like: equal to the set of its items, where they can be hashed (else to nothing one can write)
            for v in value:
                B.hash(v)
        except B.TypeError:
            return ["opaque", kind[:200]]
        return ["set", [__cotnpot_encode(v, depth + 1) for v in value]]
    if kind == "fractions.Fraction":
        return ["fraction", [B.int.__repr__(B.int(value.numerator)), B.int.__repr__(B.int(value.denominator))]]
    if kind == "decimal.Decimal":
        return ["decimal", B.str(value)]
    if kind.startswith("numpy.") and B.hasattr(value, "item") and B.getattr(value, "ndim", 1) == 0:
        return __cotnpot_encode(value.item(), depth + 1)   # numpy scalars: their Python value
    return ["opaque", kind[:200]]   # equal to no expected value, as such objects almost never are


def __cotnpot_evaluate(calls, B=__cotnpot_builtins):
    import json as _json, sys as _sys
    offset = 0
    out = []
    for call, mode, frames in calls:
        try:
            # this function's frame and the call's lambda, less the frames the suite has above the assert
            # (check()'s): each call gets the stack it has in the suite run as a script; only the offset
            # changes, so a limit a call set stays in force for the next, as in the script
            _sys.setrecursionlimit(_sys.getrecursionlimit() - offset + 2 - frames)
            offset = 2 - frames
            value = call()
            if mode == "ident":   # which of the identities it has; the literal it is compared with stays out
                out.append(["ident", "True" if value is True else "False" if value is False else
                            "None" if value is None else "other"])
            else:
                out.append(__cotnpot_encode(B.bool(value) if mode == "bool" else value))
        except B.BaseException as exc:  # noqa: BLE001 -- SystemExit from a call is that call's failure
            out.append(["error", B.type(exc).__name__ + ": " + B.str(exc)[:200]])
    return _json.dumps(out)


%(variable)s = __cotnpot_evaluate(%(calls)s)
'''


_REAL = (int, float, fractions.Fraction, decimal.Decimal)   # decoded values math.isclose takes (bool is an int)


@dataclass
class Check:
    """One assert: the expression the job evaluates and how its value is judged."""
    call: str
    kind: str                 # "eq", "ne", "is", "is not", "isclose", "truthy", "falsy", "within", "const"
    expected: Any = None      # "within": (centre, tolerance, inclusive); "const": the assert's truth
    options: dict = field(default_factory=dict)   # isclose's rel_tol / abs_tol
    line: str = ""            # the assert as written (failing_test)
    frames: int = 0           # frames above the assert in the suite as written (1 in HumanEval's check())

    @property
    def mode(self) -> str:
        """What the job reports of the call's value: the value, its truth, or its identity (True, False, None or
        none of them: never the literal the assert names, which the job could otherwise return)."""
        return "bool" if self.kind in ("truthy", "falsy") else "ident" if self.kind in ("is", "is not") else "value"

    def holds(self, value) -> bool:
        """Never raises: a value that cannot be compared (10**400 against a float) does not hold."""
        try:
            return self._holds(value)
        except (ArithmeticError, TypeError, ValueError, RecursionError, MemoryError):
            return False

    def _holds(self, value) -> bool:
        if self.kind == "eq":
            return bool(value == self.expected)
        if self.kind == "ne":
            return bool(value != self.expected)
        if self.kind == "is":
            return value is self.expected
        if self.kind == "is not":
            return value is not self.expected
        if self.kind == "isclose":   # the numbers math.isclose takes; Fraction, Decimal and bool too (a breaker)
            return (isinstance(value, _REAL) and isinstance(self.expected, _REAL)
                    and math.isclose(value, self.expected, **self.options))
        # abs(value - centre) < tolerance; also for abs(LITERAL - CALL), whose abs() is the same (subtraction
        # is sign-symmetric in IEEE arithmetic, and exact for ints and Fractions)
        if self.kind == "within":
            centre, tolerance, inclusive = self.expected
            distance = abs(value - centre)
            return bool(distance <= tolerance if inclusive else distance < tolerance)
        if self.kind == "const":
            return self.expected
        if self.kind == "truthy":
            return bool(value)
        return not value


@dataclass
class SplitTests:
    setup: str                      # imports and NAME = LITERAL lines, run in the job before the calls
    checks: List[Check]
    groups: List[Tuple[int, int]]   # each input test's checks: checks[start:end]

    def harness(self) -> str:
        # each call a lambda of the suite's own expression (ast.unparse of what it parsed), not a string for
        # eval(): a Python call, one frame, where eval's entry cost 3.11 a frame of the recursion limit more
        calls = "[" + "".join(f"(lambda: ({c.call}), {c.mode!r}, {c.frames}), " for c in self.checks) + "]"
        return _HARNESS % {"depth": MAX_DEPTH, "variable": VALUES_VARIABLE, "calls": calls}


class _NotSplittable(Exception):
    pass


# Pure constructors an expected value may be written with (``set((4, 5))``, ``float('inf')``), applied to
# literals only, by the caller: nothing of the job is involved.
_CONSTRUCTORS = {"set": set, "frozenset": frozenset, "tuple": tuple, "list": list, "dict": dict, "sorted": sorted,
                 "float": float, "int": int, "str": str, "complex": complex, "bool": bool}


# Arithmetic an expected number may be written with (``2.0/3.0``, ``-1e-6``): applied to numeric literals only,
# whose magnitude is capped so that no product grows without bound.
_ARITHMETIC = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b,
               ast.Div: lambda a, b: a / b}
_MAX_ARITHMETIC = 10 ** 100


def _number(node: ast.AST):
    """The value of numeric literals under + - * /, or _MISSING (also where the arithmetic fails: ``1/0`` in
    a suite had raised ZeroDivisionError out of a whole batch, found by a reviewer)."""
    if isinstance(node, ast.BinOp) and type(node.op) in _ARITHMETIC:
        a, b = _number(node.left), _number(node.right)
        if _MISSING in (a, b):
            return _MISSING
        try:
            value = _ARITHMETIC[type(node.op)](a, b)
        except ArithmeticError:
            return _MISSING
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        value = _number(node.operand)
        if value is _MISSING:
            return _MISSING
        value = -value if isinstance(node.op, ast.USub) else value
    elif isinstance(node, ast.Constant) and type(node.value) in (int, float):
        value = node.value
    else:
        return _MISSING
    return value if abs(value) <= _MAX_ARITHMETIC else _MISSING   # NaN too


def _literal(node: ast.AST):
    try:
        if isinstance(node, ast.BinOp):   # 2.0/3.0 is arithmetic on numbers; 1+2j is literal_eval's
            value = _number(node)
            if value is not _MISSING:
                return value
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _CONSTRUCTORS \
                and not node.keywords and len(node.args) <= 1:
            args = [_literal(a) for a in node.args]
            if _MISSING in args:
                return _MISSING
            return _CONSTRUCTORS[node.func.id](*args)
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError, ArithmeticError):
        return _MISSING


def _contains_comparison(node: ast.AST) -> bool:
    return any(isinstance(n, (ast.Compare, ast.BoolOp)) for n in ast.walk(node))


def _candidate_call(node: ast.AST, bound: set) -> bool:
    """A call of a plain name that is neither a builtin nor bound by the suite itself (``from math import
    isclose``: the job could replace it), so the candidate's own function, with no comparison inside its
    arguments: its truthiness says nothing the job could use."""
    import builtins
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not hasattr(builtins, node.func.id)
            and node.func.id not in bound and not _contains_comparison(node))


def _bound_names(module: ast.AST) -> set:
    """Every name the suite's own statements bind (imports, assignments, definitions)."""
    names = set()
    for node in ast.walk(module):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}   # "*" for a star import
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
    return names


# Builtins a value may be wrapped in on the call side (``set(f(x)) == {1, 2}``): they only reshape it.
_WRAPPERS = {"set", "frozenset", "sorted", "list", "tuple", "dict", "len", "abs", "round", "str", "int", "float",
             "sum", "min", "max", "bool", "reversed"}


def _value_side(node: ast.AST, bound: set) -> bool:
    """The side the job evaluates: the candidate's own call, or wrappers of one, or an item of one. Never an
    arbitrary expression: ``math.isclose(f(2), 12.566) == True`` would carry the expected value into the job
    inside a predicate it can replace."""
    if _contains_comparison(node):
        return False
    if isinstance(node, ast.Subscript):
        return _literal(node.slice) is not _MISSING and _value_side(node.value, bound)
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)) or node.func.id in bound:
        return False
    if _candidate_call(node, bound):
        return True
    return node.func.id in _WRAPPERS and not node.keywords and bool(node.args) and _value_side(node.args[0], bound) \
        and all(_literal(a) is not _MISSING for a in node.args[1:])


def _check(test: ast.expr, line: str, bound: set) -> Check:
    if isinstance(test, ast.Compare) and len(test.ops) == 1:
        left, op, right = test.left, test.ops[0], test.comparators[0]
        if isinstance(op, (ast.Eq, ast.NotEq)):
            kind = "eq" if isinstance(op, ast.Eq) else "ne"
            for call, other in ((left, right), (right, left)):
                expected = _literal(other)
                if expected is not _MISSING and _value_side(call, bound):
                    return Check(ast.unparse(call), kind, expected, line=line)
        if isinstance(op, (ast.Is, ast.IsNot)) and isinstance(right, ast.Constant) and right.value in (True, False, None) \
                and type(right.value) in (bool, type(None)) and _value_side(left, bound):
            # Identity is the job's to report (mode "ident"): its value sent back would lose it (a numpy bool
            # became True, so `is True` held where the assert fails: a breaker), and would meet the value
            # caps (a 5,000-item set for `is not None`). Which of True, False, None the value is, not the
            # assert's literal: with `(CALL) is True` in its harness a job had read the literal and returned
            # it (a breaker).
            return Check(ast.unparse(left), "is" if isinstance(op, ast.Is) else "is not", right.value, line=line)
    if isinstance(test, ast.Call) and ast.unparse(test.func) == "math.isclose" and len(test.args) == 2:
        options = {k.arg: _literal(k.value) for k in test.keywords}
        expected = _literal(test.args[1])
        if set(options) <= {"rel_tol", "abs_tol"} and _MISSING not in options.values() and expected is not _MISSING \
                and _value_side(test.args[0], bound):
            return Check(ast.unparse(test.args[0]), "isclose", expected, options, line=line)
    within = _within(test, bound)
    if within is not None:
        return Check(within[0], "within", within[1], line=line)
    constant = _literal(test)
    if constant is not _MISSING:   # no call at all: the job evaluates None, the caller the literal's truth
        return Check("None", "const", bool(constant), line=line)
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not) and _candidate_call(test.operand, bound):
        return Check(ast.unparse(test.operand), "falsy", line=line)
    if _candidate_call(test, bound):
        return Check(ast.unparse(test), "truthy", line=line)
    raise _NotSplittable(line)


def _within(test: ast.expr, bound: set):
    """``abs(CALL - LITERAL) < LITERAL`` (``<=``; ``abs(LITERAL - CALL)``; the comparison written either way
    round): (the call's source, (centre, tolerance, inclusive)), else None."""
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1):
        return None
    left, op, right = test.left, test.ops[0], test.comparators[0]
    if isinstance(op, (ast.Gt, ast.GtE)):
        left, right, op = right, left, ast.Lt() if isinstance(op, ast.Gt) else ast.LtE()
    if not isinstance(op, (ast.Lt, ast.LtE)):
        return None
    tolerance = _number(right)
    if not (isinstance(left, ast.Call) and isinstance(left.func, ast.Name) and left.func.id == "abs"
            and "abs" not in bound and len(left.args) == 1 and not left.keywords and tolerance is not _MISSING):
        return None
    difference = left.args[0]
    if not (isinstance(difference, ast.BinOp) and isinstance(difference.op, ast.Sub)):
        return None
    for call, other in ((difference.left, difference.right), (difference.right, difference.left)):
        centre = _number(other)
        if centre is not _MISSING and _value_side(call, bound):
            return ast.unparse(call), (centre, tolerance, isinstance(op, ast.LtE))
    return None


class _Rename(ast.NodeTransformer):
    def __init__(self, names: dict):
        self.names = names   # old name -> new name

    def visit_Name(self, node):
        new = self.names.get(node.id)
        return ast.copy_location(ast.Name(new, node.ctx), node) if new else node

    def visit_alias(self, node):   # `from math import sqrt` in check() binds its own sqrt
        new = self.names.get(node.asname or node.name)
        return ast.copy_location(ast.alias(node.name, new), node) if new else node


def _nested_bindings(statements: List[ast.stmt]) -> set:
    """Names bound in the nested scopes of ``statements``: comprehension targets, lambda and def arguments."""
    names = set()
    for node in (n for stmt in statements for n in ast.walk(stmt)):
        if isinstance(node, ast.comprehension):
            names |= {n.id for n in ast.walk(node.target) if isinstance(n, ast.Name)}
        elif isinstance(node, (ast.Lambda, ast.FunctionDef, ast.AsyncFunctionDef)):
            names |= {a.arg for a in ast.walk(node.args) if isinstance(a, ast.arg)}
    return names


def _humaneval(module: ast.Module) -> Optional[Tuple[List[ast.stmt], int, int]]:
    """``def check(candidate): <asserts>`` + ``check(f)``: the asserts with ``candidate`` renamed to ``f``, and
    the names check() assigns (its locals) renamed apart: lifted to the top level as they are, they replaced
    the program's globals of the same name (``data = [1, 2, 3]`` in check(), a breaker)."""
    defs = [s for s in module.body if isinstance(s, ast.FunctionDef) and s.name == "check"]
    calls = [s for s in module.body if isinstance(s, ast.Expr) and isinstance(s.value, ast.Call)
             and isinstance(s.value.func, ast.Name) and s.value.func.id == "check"]
    if len(defs) != 1 or len(calls) != 1 or len(defs[0].args.args) != 1 or len(calls[0].value.args) != 1 \
            or not isinstance(calls[0].value.args[0], ast.Name):
        return None
    local = {t.id for stmt in defs[0].body if isinstance(stmt, ast.Assign)
             for t in stmt.targets if isinstance(t, ast.Name)}
    for stmt in defs[0].body:   # its imports bind locals too (a program's own sqrt had been replaced: a reviewer)
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            for alias in stmt.names:
                if alias.asname is None and "." in alias.name:   # `import a.b` binds a: not renamed apart
                    raise _NotSplittable("a dotted import in check()")
                local.add(alias.asname or alias.name)
    if local & _nested_bindings(defs[0].body):   # a lambda's argument or a comprehension's target of that name
        raise _NotSplittable("a local of check() bound again in a nested scope")
    rename = _Rename({**{name: f"__cotnpot_check_{name}" for name in local},
                      defs[0].args.args[0].arg: calls[0].value.args[0].id})
    body = [rename.visit(s) for s in defs[0].body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
    # check()'s body where check(f) stands: an assert after the call runs after check()'s, as in the script
    at = module.body.index(calls[0])
    before = [s for s in module.body[:at] if s is not defs[0]]
    after = [s for s in module.body[at + 1:] if s is not defs[0]]
    return before + body + after, len(before), len(before) + len(body)   # the statements; check()'s [start, end)


def split_tests(tests: Sequence[str], setup: str = "") -> Optional[SplitTests]:
    """The split form of a suite (``tests``: one string per test, each one or more asserts), or None when
    some statement is not of a split form (then the suite is judged inside the job)."""
    setup_lines, checks, groups = [setup] if setup.strip() else [], [], []
    try:
        bound = set()
        if setup.strip():
            setup_module = ast.parse(setup)
            bound |= _bound_names(setup_module)
            for stmt in setup_module.body:
                _setup_statement(stmt)
        sources = list(tests)
        modules = [ast.parse(test) for test in sources]
        for module in modules:
            bound |= _bound_names(module)
        if "*" in bound:   # `from math import *` may bind any name: no call can be trusted as the candidate's
            raise _NotSplittable("a star import")
        # `assert f(y := 5) == 5` binds y for the asserts after it; inside the harness's lambda it would not
        if any(isinstance(n, ast.NamedExpr) for module in modules for n in ast.walk(module)):
            raise _NotSplittable("an assignment expression")
        assigned = set()
        for source, module in zip(sources, modules):
            lines = source.encode("utf-8").splitlines(keepends=True)
            start = len(checks)
            body, check_start, check_end = _humaneval(module) or (module.body, 0, 0)
            # the names check()'s locals were renamed to are the suite's too: `from math import isclose` there,
            # renamed apart, must not pass for the candidate's function (the expected value would enter the job)
            bound |= _bound_names(ast.Module(body=body, type_ignores=[]))
            for i, stmt in enumerate(body):
                if isinstance(stmt, ast.Assert):   # named as written when it fails (its positions are kept)
                    checks.append(_check(stmt.test, _segment(lines, stmt) or ast.unparse(stmt), bound))
                    checks[-1].frames = int(check_start <= i < check_end)   # run inside check(): a frame deeper
                    continue
                if isinstance(stmt, ast.Assign):
                    if not all(isinstance(t, ast.Name) for t in stmt.targets):   # a, b = ...; x[0] = ...
                        raise _NotSplittable(ast.unparse(stmt))
                    names = {t.id for t in stmt.targets}
                    # the set-up runs before every call: a name set twice, or after an assert, would change
                    # what earlier asserts see
                    if checks or names & assigned:
                        raise _NotSplittable(ast.unparse(stmt))
                    assigned |= names
                setup_lines.append(_setup_statement(stmt))
            groups.append((start, len(checks)))
    except (_NotSplittable, SyntaxError, ValueError, RecursionError, MemoryError, ArithmeticError):
        return None
    if not checks:
        return None
    return SplitTests("\n".join(setup_lines), checks, groups)


def _segment(lines: List[bytes], node: ast.AST) -> str:
    """The source of ``node`` as written, from its source's lines (UTF-8, ends kept; the offsets are bytes):
    ast.get_source_segment splits the whole source again on each call, quadratic in a suite of many asserts
    (4,000 took 25 s of the caller's CPU: a reviewer)."""
    first, last = node.lineno - 1, (node.end_lineno or node.lineno) - 1
    if not (0 <= first <= last < len(lines)) or node.end_col_offset is None:
        return ""
    if first == last:
        text = lines[first][node.col_offset:node.end_col_offset]
    else:
        text = lines[first][node.col_offset:] + b"".join(lines[first + 1:last]) + lines[last][:node.end_col_offset]
    return text.decode("utf-8", "replace")


def _setup_statement(stmt: ast.stmt) -> str:
    """Imports and NAME = LITERAL: they carry no expected value (a value compared by an assert is written
    in the assert itself in the split forms)."""
    if isinstance(stmt, (ast.Import, ast.ImportFrom, ast.Pass)):
        return ast.unparse(stmt)
    if isinstance(stmt, ast.Assign) and all(isinstance(t, ast.Name) for t in stmt.targets) \
            and _literal(stmt.value) is not _MISSING:
        return ast.unparse(stmt)
    raise _NotSplittable(ast.unparse(stmt))


# ---- the caller's side: decoding the job's values -------------------------------------------------------

class _BadValue(ValueError):
    pass


_NONE_OF_THEM = object()   # a value reported by its identity that is neither True, False nor None
_IDENTITIES = {"True": True, "False": False, "None": None, "other": _NONE_OF_THEM}


class Opaque:
    """A value the job returned that is not a plain one (an instance of its own class, a numpy array...):
    equal to nothing the caller compares it with, and not None. Its type name is kept for messages."""
    __slots__ = ("type_name",)

    def __init__(self, type_name: str):
        self.type_name = type_name

    def __eq__(self, other):
        return False

    def __ne__(self, other):
        return True

    __hash__ = object.__hash__

    def __repr__(self):
        return f"<{self.type_name} object>"


class _HashBudget:
    """What building one result's sets and dict keys may cost the caller. Ints, tuples of them and Fractions
    hash by value, so a job can make items collide, and a set compares each item with every other of its hash:
    per group of equal hashes, its size times the values inside its items (big ints by their digits, a
    Fraction or Decimal FRACTION_WEIGHT: its == is Python code). In all at most MAX_HASHED**2, as one set of 4,096
    colliding ints. Found by breakers: 7 sets of 4,096 colliding ints took 0.33 s of the caller's CPU, 4,096
    colliding 14-int tuples 0.7 s, 4,096 colliding Fractions 1.6 s; charging every item whether it collided
    or not refused correct results (4 sets of 500 pairs; one set of 5,000 ints)."""

    def __init__(self):
        # Running totals over everything decoded so far; an item's share is what they grew by while it was
        # decoded (mark, since), so a tuple or frozenset carries the numbers inside it: wrapped in 1-tuples,
        # a colliding big int and Decimals had passed as plain items (3.3 s; in frozensets 8.1 s: a reviewer).
        self.values = 0        # weighted values
        self.decimals = 0      # Decimals
        self.conversions = 0   # what converting the ints and Fractions to decimal costs (_decimal_conversion_cost)
        self.fractions = 0     # Fractions
        self.floats = 0        # floats and complexes
        self.work = 0

    def mark(self) -> Tuple[int, int, int, int, int]:
        return self.values, self.decimals, self.conversions, self.fractions, self.floats

    def since(self, mark: Tuple[int, int, int, int, int]) -> Tuple[int, int, int, int, int]:
        return tuple(now - then for now, then in zip(self.mark(), mark))

    def charge(self, items: list, shares: List[Tuple[int, int, int, int, int]]) -> int:
        """Before a set (or a dict's keys) is built of ``items``, each with its share of the totals (since): a
        group of n equal hashes costs n times its items' weights (no average over the set: distinct cheap
        items had made 1,000 colliding Fractions cost as ints, 1.7 s of the caller's CPU: a reviewer). A
        Decimal compared with an int or a Fraction converts it to decimal, quadratic in its digits: such
        pairs are charged by their digits squared (one Decimal beside a colliding 320,000-digit int took 30 s
        of the caller's CPU, holding the GIL: a breaker). A float against a Decimal is converted to an exact
        decimal (5e-324: 751 digits, ~120 int comparisons), against a Fraction through Python code (~70): 264
        Decimals beside 1,471 equal floats had cost 1.7 s within the budget (a breaker). Returns the work
        charged, which is also what comparing the built set with another costs (a frozenset's weight)."""
        groups = collections.defaultdict(lambda: [0, 0, 0, 0, 0, 0])   # hash -> [items, sums of the shares]
        for item, share in zip(items, shares):   # hashing alone is linear
            group = groups[hash(item)]
            group[0] += 1
            for k, part in enumerate(share, start=1):
                group[k] += part
        work = sum(n * weight + decimals * (conversions + floats * FLOAT_VS_DECIMAL) + fractions_ * floats *
                   FLOAT_VS_FRACTION
                   for n, weight, decimals, conversions, fractions_, floats in groups.values() if n > 1)
        self.work += work
        if self.work > MAX_HASHED ** 2:
            raise _BadValue(f"more than {MAX_HASHED}\u00b2 comparisons of colliding items to build the sets and "
                            f"dict keys of one result (ints and Fractions are hashed by value, so colliding ones "
                            f"make a large set quadratic to build)")
        return work


def _decimal_conversion_cost(number) -> int:
    """What comparing ``number`` (an int or a Fraction) with a Decimal costs, in the budget's units (a small
    int's == in a set, ~5 ns: MAX_HASHED**2 of them is ~0.1 s): the Decimal converts it, quadratic in its bits
    (1 us at 1,024 bits, 20 us at 4,096, 5.7 ms at 65,536, 0.88 s at 818,000). Charged (bits/200)**2, as if a
    unit were ~50 ns, one 818,000-bit int beside one Decimal had fit the budget (a breaker)."""
    bits = number.bit_length() if isinstance(number, int) else \
        number.numerator.bit_length() + number.denominator.bit_length()
    return 1 + (bits // 64) ** 2


def _decode(item, depth=0, budget=None):
    """A tagged value from the job, decoded into plain Python values only (never the job's own classes), its
    sets and dict keys within ``budget`` (one per result)."""
    budget = _HashBudget() if budget is None else budget
    if depth > MAX_DEPTH + 1 or not isinstance(item, list) or not item or not isinstance(item[0], str):
        raise _BadValue("malformed value")
    tag, body = item[0], item[1] if len(item) > 1 else None
    budget.values += 1 + (len(body) // 64 if isinstance(body, str) and tag in ("int", "inthex", "decimal") else 0)
    if tag == "none":
        return None
    if tag == "ident" and body in _IDENTITIES:
        return _IDENTITIES[body]
    if tag == "bool" and isinstance(body, bool):
        return body
    if tag in ("int", "inthex") and isinstance(body, str):
        # Python's own digit limit applies to "int" (ValueError past it); "inthex" is linear in its length,
        # which the result channel caps
        value = int(body) if tag == "int" else int(body, 16)
        budget.conversions += _decimal_conversion_cost(value)
        return value
    if tag == "float" and isinstance(body, str):
        budget.floats += 1
        return float(body)
    if tag == "complex" and isinstance(body, list) and len(body) == 2 and all(isinstance(x, str) for x in body):
        budget.floats += 1
        return complex(float(body[0]), float(body[1]))
    if tag == "str" and isinstance(body, str):
        return body
    if tag in ("bytes", "bytearray") and isinstance(body, str):
        value = bytes.fromhex(body)
        return value if tag == "bytes" else bytearray(value)
    if tag in ("list", "tuple", "set", "frozenset") and isinstance(body, list):
        values, shares, hashed = [], [], tag in ("set", "frozenset")
        for x in body:
            mark = budget.mark() if hashed else None
            values.append(_decode(x, depth + 1, budget))
            if hashed:
                shares.append(budget.since(mark))
        if hashed:
            # before the set is built; comparing it with an equal-hash set costs as much again (2.2 s of the
            # caller's CPU for 178 colliding frozensets of 177 colliding ints each: a breaker)
            budget.values += budget.charge(values, shares)
        return values if tag == "list" else tuple(values) if tag == "tuple" else \
            set(values) if tag == "set" else frozenset(values)
    if tag == "fraction" and isinstance(body, list) and len(body) == 2 and all(isinstance(x, str) for x in body):
        budget.values += FRACTION_WEIGHT + (len(body[0]) + len(body[1])) // 64   # its == and hash are Python
        value = fractions.Fraction(int(body[0]), int(body[1]))
        budget.conversions += _decimal_conversion_cost(value)
        budget.fractions += 1
        return value
    if tag == "decimal" and isinstance(body, str) and len(body) <= 1000:
        budget.values += DECIMAL_WEIGHT
        budget.decimals += 1
        return decimal.Decimal(body)
    if tag == "opaque" and isinstance(body, str):
        return Opaque(body)
    if tag == "dict" and isinstance(body, list):
        pairs, key_shares = [], []
        for pair in body:
            if not isinstance(pair, list) or len(pair) != 2:
                raise _BadValue("malformed dict item")
            mark = budget.mark()
            key = _decode(pair[0], depth + 1, budget)
            key_shares.append(budget.since(mark))
            pairs.append((key, _decode(pair[1], depth + 1, budget)))
        budget.charge([key for key, _ in pairs], key_shares)   # the keys are hashed, not the values
        return dict(pairs)
    raise _BadValue(f"unknown value tag {tag!r}")


def decode_values(text: str, count: int) -> List[Tuple[bool, Any]]:
    """(ok, value-or-error-text) per call; a malformed or short answer fails every call it lacks."""
    try:
        items = json.loads(text)
    except (ValueError, RecursionError):
        return [(False, "the job's values could not be read")] * count
    if not isinstance(items, list):
        return [(False, "the job's values could not be read")] * count
    out, budget = [], _HashBudget()   # one budget for the whole result: a job has one
    for i in range(count):
        if i >= len(items):
            out.append((False, "no value for this call"))
            continue
        item = items[i]
        if isinstance(item, list) and item[:1] == ["error"]:
            # the job's text, or nothing: str() of a deep structure sent here cost the caller 0.5 s (a breaker)
            # as UTF-8 can carry it: a lone surrogate in it had failed the caller's .encode() (a breaker)
            out.append((False, utf8_safe(item[1][:300]) if len(item) > 1 and isinstance(item[1], str) else "error"))
            continue
        try:
            out.append((True, _decode(item, budget=budget)))
        # ArithmeticError: a fraction of denominator 0 (ZeroDivisionError), a decimal that is none
        # (InvalidOperation): raised out of here, they took the whole batch down (found by a breaker)
        except (_BadValue, ValueError, TypeError, RecursionError, MemoryError, ArithmeticError) as exc:
            out.append((False, f"unreadable value: {type(exc).__name__}: {exc}"[:300]))
    return out
