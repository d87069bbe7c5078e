"""Answer extraction and equivalence, in C++ (no sympy): grade math answers fast and thread-safely.

    >>> from cotnpot import answer
    >>> answer.extract_answer("... so the total is \\\\boxed{\\\\frac{1}{2}}.")
    ('\\\\frac{1}{2}', 'boxed')
    >>> answer.is_equiv("\\\\frac{1}{2}", "0.5"), answer.is_equiv("[1,2)", "(1,2)")
    (True, False)
    >>> answer.grade(["1/2", "3"], ["0.5", "4"]).tolist()
    [True, False]
    >>> answer.group_answers(["1/2", "0.5", "3", "\\\\frac{1}{2}"]).tolist()
    [0, 0, 1, 0]

Every function accepts ``str`` or ``bytes`` (invalid UTF-8 is graded as bytes: never equal to a
different answer, never an error). See ``cpp/cotnpot/answer/*.h`` for the rules.
"""
from typing import Sequence, Tuple, Union

import torch

from ._extension import _C

Text = Union[str, bytes]


def _text(value, name: str):
    """A str pybind11 cannot pass (one with a lone surrogate, as a model's decoded bytes can hold) as the
    bytes it stands for, graded as invalid UTF-8; anything but str or bytes refused by name."""
    if isinstance(value, str):
        return value.encode("utf-8", "surrogatepass")
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise TypeError(f"{name} must be str or bytes, got {type(value).__name__}")


def _check_sequence(function: str, name: str, value) -> None:
    """A lone answer where a list of them belongs: a str is a sequence of characters, so grade("12", "12") had
    graded "1" against "1" and "2" against "2" (a breaker)."""
    if isinstance(value, (str, bytes, bytearray, memoryview)):
        raise TypeError(f"{function}: {name} must be a sequence of answers (each str or bytes), got a single "
                        f"{type(value).__name__} {bytes(value[:40]) if not isinstance(value, str) else value[:40]!r}")


def _call(function, texts: dict, *rest):
    """function(*texts.values(), *rest); on pybind11's TypeError, again with each text checked and made passable.
    The fast path converts nothing."""
    try:
        return function(*texts.values(), *rest)
    except TypeError:
        fixed = [[_text(x, f"{name}[{i}]") for i, x in enumerate(value)] if isinstance(value, list)
                 else _text(value, name) for name, value in texts.items()]
        return function(*fixed, *rest)


def extract_answer(text: Text, mode: str = "cot", last_number_fallback: bool = True) -> Tuple[str, str]:
    """The final answer in a solution and the rule that found it: ``(answer, rule)``.

    Rules in order (mode "cot"): boxed, gsm8k (``####``), final_answer, answer_is, a_line (``A: 26``, ``Answer: C``),
    math (last ``$...$``), last_number (optional). Mode "program": the last non-empty output line.
    ``("", "none")`` when nothing matched.
    """
    if mode not in ("cot", "program"):
        raise ValueError(f"mode must be 'cot' or 'program', got {mode!r}")
    answer, rule = _call(_C.extract_answer, {"text": text}, mode, last_number_fallback)
    return answer, rule


def grading_steps(gold: Text, pred: Text) -> int:
    """Parser and evaluator steps :func:`is_equiv` takes on this pair: its work, counted deterministically
    (each parse and comparison stops at ``_C.max_grading_steps()``)."""
    return _call(_C.grading_steps, {"gold": gold, "pred": pred})


def has_quad_precision() -> bool:
    """Whether this build compares real constants (and expressions at their sample points) in quad
    precision: g++ with libquadmath on x86-64, a 128-bit long double on aarch64; else doubles alone."""
    return _C.has_quad_precision()


def normalize(answer: Text) -> str:
    """The answer with LaTeX/text variants removed (``\\\\dfrac``, ``\\\\left``, units, ``\\\\%``, ``1,000``...)."""
    return _call(_C.normalize_answer, {"answer": answer})


def is_equiv(gold: Text, pred: Text, rel_tol: float = 1e-6, percent: bool = False,
             set_relation: bool = False) -> bool:
    """Whether two answers are mathematically the same.

    ``rel_tol``: relative tolerance for inexact numbers; ``percent``: also accept a value and its hundredth,
    with or without a percent sign (``50\\%`` = ``0.5``, and ``12`` = ``0.12``, as Qwen2.5-Math's grader);
    ``set_relation``: compare ``x \\in [a,b]`` with ``a \\le x \\le b`` and an interval or ``x \\in`` one with a
    one-sided inequality, ``(2,\\infty)`` with ``x > 2`` (Math-Verify's ``allow_set_relation_comp``).
    """
    return _call(_C.is_equiv, {"gold": gold, "pred": pred}, rel_tol, percent, set_relation)


def verify(gold_text: Text, pred_text: Text, rel_tol: float = 1e-6, percent: bool = False,
           set_relation: bool = False) -> bool:
    """Extract the answers of two texts (a bare answer is used as it is), then :func:`is_equiv`."""
    return _call(_C.verify, {"gold_text": gold_text, "pred_text": pred_text}, rel_tol, percent, set_relation)


def grade(golds: Sequence[Text], preds: Sequence[Text], rel_tol: float = 1e-6, percent: bool = False,
          set_relation: bool = False) -> torch.Tensor:
    """:func:`is_equiv` for each pair on all of torch's threads, the GIL released: ``BoolTensor[N]``."""
    _check_sequence("grade", "golds", golds)
    _check_sequence("grade", "preds", preds)
    if len(golds) != len(preds):
        raise ValueError(f"golds and preds must have the same length, got {len(golds)} and {len(preds)}")
    return _call(_C.grade, {"golds": list(golds), "preds": list(preds)}, rel_tol, percent, set_relation)


def group_answers(answers: Sequence[Text], rel_tol: float = 1e-6, percent: bool = False,
                  set_relation: bool = False) -> torch.Tensor:
    """Equivalence-class ids for voting (``LongTensor[N]``, numbered by first appearance; -1 for an empty
    answer): ``1/2`` and ``0.5`` vote together. The classes do not depend on the answers' order (equivalence
    is not transitive: each class is what equals its first member, bare values taken first, then the most
    voted forms)."""
    _check_sequence("group_answers", "answers", answers)
    return _call(_C.group_answers, {"answers": list(answers)}, rel_tol, percent, set_relation)
