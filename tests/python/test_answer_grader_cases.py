"""Every case of data/grader_cases.jsonl (real gold/pred pairs from the Math-Verify, hendrycks MATH and
Qwen2.5-Math test suites) asserted with the option its upstream test used.

Mapping of the upstream calls: Math-Verify's compare_strings / verify(parse(gold), parse(pred)) extract the
answers from both texts first -> cotnpot.answer.verify; its `precision` p -> rel_tol = 10^-p; its
`allow_set_relation_comp` -> set_relation. hendrycks' is_equiv compares answers -> is_equiv. Qwen's
math_equal compares numbers with math.isclose(rel_tol=1e-4) -> is_equiv(rel_tol=1e-4).
"""
import json
from pathlib import Path

import pytest

from cotnpot import answer

CASES = [json.loads(line) for line in (Path(__file__).resolve().parents[2] / "data" / "grader_cases.jsonl").open()]

EXPECTED_FAILURES = {
    "g0028": "Math-Verify ignores a $...$ whose content spans lines and finds no answer; cotnpot reads it as 9",
    "g0117": "matrix arithmetic (a sum of two matrices) is not evaluated",
    "g0118": "matrix products are not evaluated",
    "g0189": "1 <= |z| <= 3/2 is not turned into the union of two intervals",
    "g0197": "ratios written a:b are not parsed",
    "g0235": "ratios written A:B are not parsed",
    "g0243": "f(x) parses as the product f*x; Math-Verify's non-strict mode equates function names f(x), f(y)",
    "g0268": "hendrycks' string grader keeps list order; cotnpot compares bare lists without order "
             "(lists of roots, as the grading issue asks)",
}


def options(case):
    params = case.get("params") or {}
    kwargs = {}
    if "precision" in params:
        kwargs["rel_tol"] = 10.0 ** -params["precision"]
    if params.get("allow_set_relation_comp"):
        kwargs["set_relation"] = True
    if "Qwen" in case["source"]:
        kwargs["rel_tol"] = 1e-4
    return kwargs


def params():
    for case in CASES:
        marks = [pytest.mark.xfail(strict=True, reason=EXPECTED_FAILURES[case["id"]])] \
            if case["id"] in EXPECTED_FAILURES else []
        yield pytest.param(case, id=case["id"], marks=marks)


def test_the_file_is_the_bundled_copy():
    assert len(CASES) == 204
    assert set(EXPECTED_FAILURES) <= {c["id"] for c in CASES}


@pytest.mark.parametrize("case", params())
def test_grader_case(case):
    grade = answer.verify if "Math-Verify" in case["source"] else answer.is_equiv
    assert grade(case["gold"], case["pred"], **options(case)) == case["equal"]
