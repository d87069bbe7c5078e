"""cotnpot.answer: extraction rules, normalization, equivalence semantics, batching, voting classes, real
data (GSM8K and MATH500 gold answers), bad input and a fuzz run with a deterministic work budget."""
import json
import math
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from cotnpot import answer

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"


# ---- extraction -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("so the total is \\boxed{\\frac{1}{2}}.", ("\\frac{1}{2}", "boxed")),
    ("nested \\boxed{\\frac{\\sqrt{2}}{2}} done", ("\\frac{\\sqrt{2}}{2}", "boxed")),
    ("first \\boxed{3} then much later, after a long detour through many steps, \\fbox{5}", ("5", "boxed")),
    ("\\boxed{1} and \\boxed{2}", ("1, 2", "boxed")),
    ("\\boxed{15\\frac{39}{40}},$ or $\\boxed{\\frac{639}{40}}$", ("\\frac{639}{40}", "boxed")),
    # boxes linked by "or" or "=" are one answer restated only where they are equal; else both: a hedge had
    # been its last box, credited against a gold 4 (a breaker), and the roots of "or" the last root
    ("\\boxed{3} or \\boxed{4}", ("3, 4", "boxed")),
    ("So it is \\boxed{3}, or maybe \\boxed{4}.", ("3, 4", "boxed")),
    ("\\boxed{3} = \\boxed{4}", ("3, 4", "boxed")),
    ("\\boxed{\\frac{1}{2}} = \\boxed{0.5}", ("0.5", "boxed")),
    ("x = \\boxed{2} or x = \\boxed{-3}", ("2, -3", "boxed")),
    ("x = \\boxed{3}, so 2x+1 = \\boxed{7}", ("7", "boxed")),
    # "the answer is": every math part, not the last (the hedge again, and a list cut to its last item), and
    # none from the reason given for it
    ("The answer is $3$ or $4$.", ("3, 4", "answer_is")),
    ("The answer is $3$ and $4$.", ("3, 4", "answer_is")),
    ("The answer is $\\frac12$ or $0.5$.", ("0.5", "answer_is")),   # one answer, written twice
    ("The answer is $18$, since $9 \\times 2 = 18$.", ("18", "answer_is")),
    ("The answer is 18, since $9 \\times 2 = 18$.", ("18", "answer_is")),
    ("The final answer is $18$, since $9 \\times 2 = 18$.", ("18", "final_answer")),
    ("The final answer is 18, since $9 \\times 2 = 18$.", ("18", "final_answer")),
    ("The final answer is $3$, since $4$ is excluded.", ("3", "final_answer")),   # had been "excluded"
    # every kind of math delimiter counts as a part, not only single $ (a second breaker: the last part, 4)
    ("The final answer is \\(\\boxed{3}\\) or \\(\\boxed{4}\\).", ("3, 4", "final_answer")),
    ("The answer is \\(3\\) or \\(4\\).", ("3, 4", "answer_is")),
    ("The answer is $3$ or $$4$$.", ("3, 4", "answer_is")),
    ("Final Answer: $3$ or \\(4\\)", ("3, 4", "final_answer")),
    # a denied answer is no answer (each had been 3 or 5)
    ("So the answer is not $3$.", ("", "none")),
    ("The answer is not \\boxed{3}.", ("", "none")),
    ("It is not \\boxed{3}", ("", "none")),
    ("The answer cannot be 18.", ("", "none")),
    ("x is 20. The total isn't 18.", ("", "none")),
    ("The final answer is not $5$. It is $6$.", ("6", "math")),
    ("There are not enough apples, so she buys 18.", ("18", "last_number")),
    # a negation further back is the subject's (ToRA's outputs, in a differential run: the first had been none)
    ("The total length of the glue sticks that are not used is $\\boxed{16.0}$ millimeters.", ("16.0", "boxed")),
    ("The number of students who did not pass is 5", ("5", "last_number")),
    ("The students who did not pass total 5.", ("5", "last_number")),
    ("It is not equal to 18.", ("", "none")),
    # asides with a number are left out, those that convert, explain or give a condition (keeping hedging ones
    # whole had cost far more of those their credit: a differential run); a strict bound in words stays
    # whole, "at least"/"at most" state the answer
    ("The final answer is 4 hours (or 240 minutes).", ("4", "final_answer")),
    ("The final answer is 18 (if she sells all 6 boxes).", ("18", "final_answer")),
    ("The answer is 12 (she could have bought 2 more).", ("12", "answer_is")),
    ("The final answer is more than 3.", ("more than 3", "final_answer")),
    ("Final answer: at least 25 cookies", ("25", "final_answer")),
    ("The final answer is 3 (or 4).", ("3 (or 4)", "final_answer")),   # a bare alternative: whole
    ("Each box has $3$ rows of $4$. The answer is $12$ (that is, $3 \\times 4$).", ("12", "answer_is")),
    ("The final answer is 2 (not 3).", ("2", "final_answer")),
    ("The final answer is 18 (rounded from 17.8).", ("18", "final_answer")),
    # the stated answer's "is", not one inside an aside (it had been "$18)"); a half-open interval's ")" closes
    # no aside (a reviewer: it had made the answer 2)
    ("Final Answer: 12 pencils (the total cost is $18)", ("12", "final_answer")),
    ("Final Answer: The range is [0, 2).", ("[0, 2)", "final_answer")),
    # found by a reviewer: "answer isn't", "never"; a derivation word anywhere in the gap, and the gap's length,
    # decide before an "or" or a leading "="; bounds in math; denied parts left out, the others kept; math
    # parts keep their multiplicity
    ("The final answer isn't $3$.", ("", "none")),
    ("The answer is never $3$.", ("", "none")),
    ("Each gets \\boxed{6} = 6 cookies, so in all they have 4 \\times 6 = \\boxed{24}", ("24", "boxed")),
    ("First \\boxed{3} is the count of the red ones we found here, or so it seems, and the total is \\boxed{7}",
     ("7", "boxed")),
    # ...but math and boxes mark the answer after a bound word: MATH500's own solution to a "greatest number"
    # question reads "at most $\\boxed{2}$" (a bound rule on math had made it none)
    ("Therefore, Zach can have at most $\\boxed{2}$ pencils left over.", ("2", "boxed")),
    ("Therefore it is \\boxed{3}, not \\boxed{4}.", ("3", "boxed")),
    ("The final answer is $3$, not $4$.", ("3", "final_answer")),
    ("The final answer is $1$, $1$, $2$.", ("1, 1, 2", "final_answer")),
    ("The answer is $3$, or if we include the endpoint then it would be $4$.", ("3, 4", "answer_is")),
    # a third breaker: a rounded form gives way to the exact one (and only it: a reviewer); denials with a
    # typographic apostrophe, before \(..\) or a line break, with neither/nor, instead of; hedges in more
    # words, but not words that explain the number; strict bounds on boxes and math
    ("\\boxed{\\sqrt{2}} \\approx \\boxed{1.414}", ("\\sqrt{2}", "boxed")),
    ("The answer is $\\frac13$, approximately $0.33$.", ("\\frac13", "answer_is")),
    ("The answer can\u2019t be 3.", ("", "none")),
    ("The answer isn\u2019t \\boxed{3}.", ("", "none")),
    # an answer that begins by denying, with either apostrophe ("can\u2019t be $5$" had been 5)
    ("The final answer is: can't be $5$.", ("", "none")),
    ("The final answer is: can\u2019t be $5$.", ("", "none")),
    ("The answer is not \\(3\\).", ("", "none")),
    ("The answer is neither $3$ nor $4$.", ("", "none")),
    ("The answer is $16$ instead of $17$.", ("16", "answer_is")),
    ("So $x = \\boxed{1}$ and $y = \\boxed{\\sqrt{2}} \\approx \\boxed{1.41}$.", ("1, \\sqrt{2}", "boxed")),
    ("Step 1: radius \\boxed{2}.\n\nStep 2: Using pi approximately 3.14, we compute the area here: \\boxed{12.57}",
     ("12.57", "boxed")),
    ("The answer is not\n$$3$$", ("", "none")),
    ("The final answer is 45 minutes (she also spends 15 minutes resting).", ("45", "final_answer")),
    ("The final answer is more than $3$.", ("more than $3$", "final_answer")),
    ("The answer is less than $\\boxed{5}$.", ("less than $\\boxed{5}$", "answer_is")),
    ("It cannot be less than $\\boxed{5}$.", ("5", "boxed")),
    # the last math of a text alone: its sentence's earlier spans are mostly conditions (a reviewer)
    ("Plugging in $t = 3$, we get $h = 45$.", ("h = 45", "math")),
    ("The answer is \\boxed 5 apples", ("5", "boxed")),
    ("Natalia sold 48/2 = <<48/2=24>>24 clips.\n#### 72", ("72", "gsm8k")),
    ("Final Answer: The final answer is $10,455$. I hope it is correct.", ("10,455", "final_answer")),
    ("Final Answer: The volume of $ABCD$ is 120.", ("120", "final_answer")),
    ("Thus the answer is 3.5.", ("3.5", "answer_is")),
    ("She has 5 + 21 = 26 apples.\nA: 26", ("26", "a_line")),
    ("We get $x = 7$ in the end", ("x = 7", "math")),
    ("there are 12 eggs and 7 hens", ("7", "last_number")),
    ("so p is 2/3 here", ("2/3", "last_number")),
    ("no numbers at all", ("", "none")),
    ("", ("", "none")),
])
def test_extraction_rules(text, expected):
    assert answer.extract_answer(text) == expected


def test_last_number_fallback_can_be_switched_off():
    assert answer.extract_answer("there are 12 eggs", last_number_fallback=False) == ("", "none")


def test_program_output_mode_takes_the_last_printed_line():
    assert answer.extract_answer("step 1\n42\n\n", mode="program") == ("42", "last_line")
    assert answer.extract_answer("   \n", mode="program") == ("", "none")
    with pytest.raises(ValueError, match="mode must be 'cot' or 'program'"):
        answer.extract_answer("x", mode="code")


def test_gsm8k_gold_answers_are_extracted_exactly():
    rows = [json.loads(line) for line in (SHARED / "gsm8k_test.jsonl").open()]
    assert len(rows) == 1319
    for row in rows:
        assert answer.extract_answer(row["answer"]) == (row["answer"].split("####")[-1].strip(), "gsm8k")


def test_math500_boxed_answers_are_extracted_exactly():
    rows = [json.loads(line) for line in (SHARED / "math500_test.jsonl").open()]
    assert len(rows) == 500
    for row in rows:
        assert answer.extract_answer(row["solution"])[0] == row["answer"], row["unique_id"]


def test_every_math500_gold_is_a_bare_answer_to_verify():
    """verify() takes a text as its own answer where it holds no prose. An environment's name (pmatrix) and a
    short \\text (Evelyn, degrees, inches) had made 14 golds prose: their last number became the gold, so a
    box of the right answer failed and one of that number passed (a breaker)."""
    rows = [json.loads(line) for line in (SHARED / "math500_test.jsonl").open()]
    for row in rows:
        gold = row["answer"]
        assert answer.verify(gold, f"The answer is $\\boxed{{{gold}}}$."), row["unique_id"]
        last = answer.extract_answer(gold + " ", last_number_fallback=True)[0]
        if not answer.is_equiv(gold, last):
            assert not answer.verify(gold, f"The answer is $\\boxed{{{last}}}$."), row["unique_id"]


@pytest.mark.parametrize("gold, pred, equal", [
    # a bare gold or prediction with an environment or a short text (a breaker)
    ("\\begin{pmatrix} -2 \\\\ -14 \\\\ -7 \\end{pmatrix}", "The answer is $\\boxed{-7}$.", False),
    ("\\frac{270}7\\text{ degrees}", "So the angle is $\\boxed{7}$.", False),
    ("\\text{Evelyn}", "The answer is $\\boxed{\\text{Evelyn}}$.", True),
    ("4", "\\begin{pmatrix}1\\\\4\\end{pmatrix}", False),
    # boxes that restate one answer or box a step and its result are not joined into a list (a breaker)
    ("7", "Thus $x = \\boxed{3}$, so $2x+1 = \\boxed{7}$.", True),
    ("\\frac12", "The probability is $\\boxed{\\frac{1}{2}} = \\boxed{0.5}$.", True),
    ("18", "She makes \\boxed{18} dollars, i.e. \\boxed{\\$18}.", True),
    ("1, 2", "$x = \\boxed{1}$, $y = \\boxed{2}$", True),
    # the last number is no denominator or unit's power (a breaker)
    ("2", "So the area is \\frac{\\sqrt{3}}{2} square units.", False),
    ("\\frac{\\sqrt{3}}{2}", "So the area is \\frac{\\sqrt{3}}{2} square units.", True),
    ("2", "The acceleration is 5 m/s^2", False),
    ("5", "The acceleration is 5 m/s^2", True),
    # a choice on an "Answer:" line (a breaker)
    ("C", "Answer: C", True),
    ("C", "**Answer: (C)**", True),
    ("B", "Answer: C", False),
    # its math or its leading number, not its words whole (a reviewer)
    ("\\frac{1}{2}", "Work.\nAnswer: The probability is $\\frac{1}{2}$.", True),
    ("7", "Answer: There are 7 ways to do it.", True),
    ("5", "Work.\nAnswer: 5 apples, since 2+3=5.", True),
    # a short text before the answer is prose, not part of a bare answer (a reviewer)
    ("5", "\\textbf{Answer:} 5", True),
    ("12", "\\text{We have} 12", True),
])
def test_verify_breakers_texts(gold, pred, equal):
    assert answer.verify(gold, pred) is equal


@pytest.mark.parametrize("gold, pred, equal", [
    # slanted inequalities and a value stated approximately
    ("x \\ge 3", "x \\geqslant 3", True),     # \\geqslant had become "\\geslant" (a breaker)
    ("x \\le 3", "x \\leqslant 3", True),
    ("x \\le 3", "x \\geqslant 3", False),
    ("x \\ge 3", "x \\geqq 3", True),
    ("5", "\\approx 5", True),                  # a value stated approximately
    ("5", "\\approx 6", False),
    ("5", "\\approxeq", False),
    # a function's value or formula named by its argument (a breaker: they had been equations of f times 2)
    ("5", "f(2)=5", True),
    ("6", "f(2)=5", False),
    ("\\frac{x-3}{2}", "f^{-1}(x)=\\frac{x-3}{2}", True),
    ("\\frac{x-3}{2}", "f^{-1}(x)=\\frac{x+3}{2}", False),
    ("2x", "g'(x) = 2x", True),
    ("0.5", "P(A)=0.5", True),
    ("f(2)=5", "f(2) = 5", True),
    ("f(2)=5", "f(3)=5", False),          # values at other arguments
    ("\\frac{x-3}{2}", "f(x)=\\frac{x-3}{2}", True),
    # a reviewer: products read as function values, and other functions' values equal
    ("0", "x(x-1)=0", False),
    ("12", "k(k+1)=12", False),
    ("2", "n(n-1)=2", False),
    ("f(2)=5", "g(2)=5", False),
    ("P(A)=0.5", "Q(A)=0.5", False),
    ("5", "f(-1)=5", True),
    ("\\text{(C)}", "\\text{(C) } 12", True),   # a choice with its option's text (a breaker)
    ("C", "(C) 12", True),
    ("C", "C) 12", True),
    ("(C)", "C. \\frac{1}{2}", True),
    ("C", "(D) 12", False),
    ("12", "(C) 12", False),                    # a value is no choice
    # two choices are not one with its option's text (a breaker: each had been credited with the first)
    ("A", "(A) or (B)", False), ("A", "(A) (B)", False), ("C", "(C) 12, (D) 14", False),
    ("C", "\\text{(C) } 12 \\text{ or (D) } 14", False), ("B", "B) 3 or A) 4", False), ("C", "C. 12 or D. 14", False),
    ("C", "(C) \\sin(A)", True), ("B", "(B) P(A) = 0.5", True),   # a function's argument names no choice
    ("B", "(B) 12, not (C) 14", True), ("B", "B) 12, not C) 14", True),   # a choice ruled out is not offered
    ("C", "Cats", False),
    ("1<x<2", "2>x>1", True),                  # a chain read right to left (a breaker: it had been false)
    ("1<x\\le 2", "2\\ge x>1", True),
    ("1<x<2", "2>x\\ge 1", False),             # another end closed
    ("1<x<2", "2>y>1", False),                 # another variable
    ("1<x<2", "3>x>1", False),
    # the reals without one value, a domain's usual answer (a breaker: it had parsed as nothing)
    ("(-\\infty,0)\\cup(0,\\infty)", "\\mathbb{R}\\setminus\\{0\\}", True),
    ("(-\\infty,2)\\cup(2,\\infty)", "\\mathbb{R} - \\{2\\}", True),
    ("(-\\infty,\\frac{1}{2})\\cup(\\frac{1}{2},\\infty)", "\\mathbb{R} \\setminus \\{\\frac12\\}", True),
    ("(-\\infty,0)\\cup(0,\\infty)", "\\mathbb{R}\\setminus\\{1\\}", False),
    ("(-\\infty,0)\\cup(0,\\infty)", "\\mathbb{R}\\setminus\\{0, 1\\}", False),
    # a one-letter capital is no unit but L (liters)
    ("5", "\\$5M", False),        # five million, not 5 meters (a breaker)
    ("5", "5\\text{M}", False),
    ("5", "5 m", True),            # meters
    ("5", "5 L", True),            # liters
    ("5", "5 Meters", True),       # unit words stay without case
])
def test_forms_a_breaker_and_a_reviewer_found(gold, pred, equal):
    """Forms graded wrongly before (slanted inequalities, function values by name and argument, a choice with
    its option's text, chains read right to left, the reals without one value, \\$5M), with guards beside them."""
    assert answer.is_equiv(gold, pred) is equal


# ---- normalization ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("raw, expected", [
    ("\\$1,000.50", "1000.50"),
    ("\\left( \\dfrac{1}{2} \\right)", "( \\frac{1}{2} )"),
    ("90^\\circ", "90"),
    ("50\\%", "50"),
    ("10 \\text{ meters}", "10"),
    ("\\text{odd}", "odd"),
    ("\\frac12", "\\frac{1}{2}"),
    ("\\sqrt2", "\\sqrt{2}"),
    ("2\\frac{1}{2}", "(2+\\frac{1}{2})"),
    ("1 000 000", "1000000"),
    ("1,22", "1.22"),
    ("x = 5.", "5"),
    ("y = 2x + 1", "y = 2x + 1"),
    ("6 \\text{ and } 8", "6 , 8"),
])
def test_normalize(raw, expected):
    assert answer.normalize(raw) == expected


# ---- equivalence ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("gold, pred", [
    ("\\frac{1}{2}", "0.5"), ("0.5", ".5"), ("1000", "1000.0"), ("3", "x = 3"), ("2\\frac{1}{2}", "5/2"),
    ("\\sqrt{8}", "2\\sqrt{2}"), ("\\sqrt[3]{27}", "3"), ("2^{10}", "1024"), ("\\pi/2", "\\frac{\\pi}{2}"),
    ("x^2 + 2x + 1", "(x+1)^2"), ("\\frac{a}{b}", "a/b"), ("2, 3", "3, 2"), ("\\{1, 2\\}", "\\{2, 1\\}"),
    ("(1, 2)", "(1,2)"), ("[1, 2)", "[1,2)"), ("(-\\infty, 0]", "(-\\infty,0]"), ("1 \\pm \\sqrt{2}", "1+\\sqrt{2}, 1-\\sqrt{2}"),
    ("\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}", "\\begin{pmatrix}1\\\\2\\end{pmatrix}"), ("2x = 4", "x - 2 = 0"),
    ("x > 3", "3 < x"), ("[1,2] \\cup [3,4]", "[3,4] \\cup [1,2]"), ("i", "\\sqrt{-1}"), ("e^{i\\pi}", "-1"),
    ("5!", "120"), ("\\binom{5}{2}", "10"), ("|-3|", "3"), ("\\text{(A)}", "A"),
])
def test_equivalent(gold, pred):
    assert answer.is_equiv(gold, pred), (gold, pred)


@pytest.mark.parametrize("gold, pred", [
    ("\\frac{1}{3}", "0.333"), ("(1, 2)", "(2, 1)"), ("[1, 2]", "(1, 2)"), ("[1, 2)", "[1, 2]"), ("3", "-3"),
    ("x^2", "x^3"), ("2, 3", "2, 3, 4"), ("\\{1\\}", "1, 1"), ("a + 3z = 0", "0"), ("x < 3", "x > 3"),
    ("\\infty", "-\\infty"), ("1", ""), ("", ""), ("7", "seventeen"), ("7", "seven hundred"), ("7", "seven or eight"),
])
def test_not_equivalent(gold, pred):
    assert not answer.is_equiv(gold, pred), (gold, pred)


def test_relative_tolerance_and_percent_options():
    assert not answer.is_equiv("3.1416", "\\pi")                # relative error 2.3e-6 > 1e-6
    assert answer.is_equiv("3.1416", "\\pi", rel_tol=1e-5)
    assert answer.is_equiv("50\\%", "50")            # the sign is dropped...
    assert not answer.is_equiv("50\\%", "0.5")       # ...but 50% = 0.5 only with the option
    assert answer.is_equiv("50\\%", "0.5", percent=True)
    assert not answer.is_equiv("x \\in [-2,7]", "-2 \\le x \\le 7")
    assert answer.is_equiv("x \\in [-2,7]", "-2 \\le x \\le 7", set_relation=True)
    assert answer.is_equiv("(-793, 10)", "-793 < a < 10")


def test_verify_extracts_both_sides():
    assert answer.verify("#### 72", "so she sold \\boxed{72} clips")
    assert answer.verify("\\frac{10}{9}", "Answer $ \\frac{1}{2} \\$ = \\frac{10}{9} $")
    assert not answer.verify("#### 72", "so she sold \\boxed{73} clips")


def assert_verdict_both_ways(gold, pred, equal, **options):
    """is_equiv gives `equal` in both orders, and voting puts the two in one class exactly when it is True."""
    assert answer.is_equiv(gold, pred, **options) is equal
    assert answer.is_equiv(pred, gold, **options) is equal
    assert (answer.group_answers([gold, pred], **options).tolist() == [0, 0]) is equal


@pytest.mark.parametrize("gold, pred, equal", [
    # found by a breaker: a fraction whose value terminates counted as a decimal rounded to its places
    ("\\frac{2792}{2799}", "\\frac{2793}{2800}", False),   # 2793/2800 = 0.9975 = 2792/2799 rounded
    ("\\frac{1000001}{1000000}", "\\frac{1000000}{999999}", False),   # 1e-12 apart: float noise of nothing
    ("\\frac{2792}{2799}", "\\frac{2794}{2801}", False),
    ("\\frac{1}{3}", "\\frac{333333}{1000000}", False),
    # a written decimal is still the other rounded to its places, and a program's float output its value
    ("0.9975", "\\frac{2792}{2799}", True),
    ("0.333333", "\\frac{1}{3}", True),
    ("\\frac{100}{3}", "33.333333333333336", True),
    ("\\frac{2}{4}", "\\frac{3}{6}", True),
])
def test_two_fractions_are_equal_only_as_exact_values(gold, pred, equal):
    for rel_tol in (1e-6, 1e-4):
        assert_verdict_both_ways(gold, pred, equal, rel_tol=rel_tol)


@pytest.mark.parametrize("gold, pred, equal", [
    # found by a breaker: below the 1e-12 absolute floor (meant for a function's noise, \\sin\\pi = 1.2e-16)
    # every tiny value written as a number equalled every other, and 0
    ("1.6e-19", "1.6e-18", False),
    ("1.6\\times10^{-19}", "0", False),
    ("6.63e-34", "9.11e-31", False),
    ("0.0000000000000000001", "0", False),
    ("1.6e-19", "1.6001e-19", False),
    # a reviewer: exact decimals between 1e-18 and 1e-12 still had the floor, and the rounding rule then
    # matched values several percent apart
    ("1.6e-17", "1.64e-17", False),
    ("2e-15", "2.4e-15", False),
    ("10^{-13}", "1.4\\times10^{-13}", False),
    # the same values written alike, or within rel_tol, are still equal; a function's noise is still zero
    ("1.6e-19", "1.60e-19", True),
    ("1.6e-19", "1.6\\times 10^{-19}", True),
    ("1.6e-19", "1.6000001e-19", True),
    ("10^{-20}", "0.00000000000000000001", True),
    ("2^{-70}", "8.470329472543003e-22", True),
    ("\\sin(\\pi)", "0", True),
])
def test_tiny_values_written_as_numbers_are_compared_relatively(gold, pred, equal):
    assert_verdict_both_ways(gold, pred, equal)


def test_tiny_values_with_percent_differ_unless_a_hundredfold():
    """A reviewer: with percent=True the floor still held (1.6e-19 equalled 1.6e-18). A tiny value still
    equals a hundredth or a hundredfold of itself there, as any value does."""
    assert not answer.is_equiv("1.6e-19", "1.6e-18", percent=True)
    assert not answer.is_equiv("6.63e-34", "9.11e-31", percent=True)
    assert answer.is_equiv("1.6e-19", "1.6e-17", percent=True) and answer.is_equiv("1.6e-17", "1.6e-19", percent=True)
    assert not answer.is_equiv("1.6e-19", "1.6e-17")


# ---- batching and voting ------------------------------------------------------------------------------

def test_grade_is_batched_is_equiv():
    golds = ["1/2", "3", "(1,2)", "x+1", "10"] * 40
    preds = ["0.5", "4", "(1,2)", "1+x", "eleven"] * 40
    out = answer.grade(golds, preds)
    assert out.dtype == torch.bool and out.shape == (200,)
    assert out.tolist() == [answer.is_equiv(g, p) for g, p in zip(golds, preds)]
    assert out[:5].tolist() == [True, False, True, True, False]
    with pytest.raises(ValueError, match="same length, got 2 and 1"):
        answer.grade(["1", "2"], ["1"])


GRADING_INTERRUPTED = """
import signal, sys, time
from cotnpot import answer
# as in an interactive Python (a test run started in the background inherits SIGINT ignored)
signal.signal(signal.SIGINT, signal.default_int_handler)
# the lists made before "ready", so that the signal lands in the C++ call, not in Python (a reviewer)
if sys.argv[1] == "grade":   # ~30 s of grading on two cores
    golds, preds = ["\\frac{1}{2}", "3\\sqrt{2}", "x^2+2x+1"] * 400_000, ["0.5", "\\sqrt{18}", "(x+1)^2"] * 400_000
    call = lambda: answer.grade(golds, preds)
else:                        # distinct answers, each compared with every class before it: minutes
    answers = [str(i) for i in range(60_000)]
    call = lambda: answer.group_answers(answers)
print("ready", flush=True)
try:
    call()
    print("finished", flush=True)
except KeyboardInterrupt:
    print("interrupted", flush=True)
print(answer.grade(["1/2"] * 100, ["0.5"] * 100).all().item(), answer.group_answers(["2", "x=2"] * 50).max().item())
"""


@pytest.mark.parametrize("call", ["grade", "group_answers"])
def test_ctrl_c_stops_a_long_grading_call_at_once(call):
    """grade and group_answers released the GIL but never looked for signals: over a million pairs, or tens of
    thousands of distinct answers to group, Ctrl-C waited for the whole call. Now a call over many answers runs
    on a thread of its own while the caller's thread checks for signals (interruptible.h, as Executor.run);
    the next call works."""
    import signal
    child = subprocess.Popen([sys.executable, "-c", GRADING_INTERRUPTED, call], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ready"
        time.sleep(1.0)
        child.send_signal(signal.SIGINT)
        # Not a timing assertion: the call alone runs 30 s (grade) or minutes (group_answers) if Ctrl-C does not
        # stop it, and the child then fails this bound.
        out, _ = child.communicate(timeout=20)
        assert out.split() == ["interrupted", "True", "0"], out
        assert child.returncode == 0
    finally:
        child.kill()


def test_group_answers_numbers_classes_by_first_appearance():
    ids = answer.group_answers(["1/2", "0.5", "3", "\\frac{1}{2}", "", "x=3", "4"])
    assert ids.dtype == torch.int64
    assert ids.tolist() == [0, 0, 1, 0, -1, 1, 2]
    assert answer.group_answers([]).tolist() == []


def partition(answers, ids):
    """The classes as sets of positions' answers, whatever their numbers."""
    return sorted(sorted(a for a, i in zip(answers, ids.tolist()) if i == c) for c in set(ids.tolist()) - {-1})


def test_group_answers_does_not_depend_on_the_answers_order():
    """Equality is not transitive: 17 equals m+n=17 and p+q=17, which differ (other names). A class's first
    member decided what joined it, so the classes (and a vote) depended on which answer came first: m+n=17
    first made p+q=17 a class of its own. Distinct answers are now taken most frequent first, ties by text."""
    import itertools
    answers = ["17", "m+n=17", "p+q=17"]
    assert answer.is_equiv("17", "m+n=17") and answer.is_equiv("17", "p+q=17")
    assert not answer.is_equiv("m+n=17", "p+q=17")
    for order in itertools.permutations(answers):
        assert partition(order, answer.group_answers(list(order))) == [sorted(answers)], order
    # A breaker: with the most voted form first, two votes each for m+n=17 and p+q=17 split the five answers
    # that are 17 into classes of 3 and 2, and four votes for 20 won. Bare values are now first members before
    # any form that states a value; forms the grader prepares alike (17, \boxed{17}) count as one.
    votes = ["m+n=17"] * 2 + ["p+q=17"] * 2 + ["17", "\\boxed{17}"] + ["20"] * 5
    for seed in range(6):
        order = random.Random(seed).sample(votes, len(votes))
        assert partition(order, answer.group_answers(order)) == [
            ["17", "\\boxed{17}", "m+n=17", "m+n=17", "p+q=17", "p+q=17"], ["20"] * 5]
    labelled = ["x=5"] * 2 + ["y=5"] * 2 + ["5"] + ["7"] * 4
    assert partition(labelled, answer.group_answers(labelled)) == [["5", "x=5", "x=5", "y=5", "y=5"], ["7"] * 4]


def test_group_answers_of_real_candidates_in_any_order():
    """Every problem of the bundled Qwen2.5-Math file (8 candidates each), its answers shuffled: the same
    classes, numbered by first appearance."""
    rows = [json.loads(line) for line in (Path(__file__).resolve().parents[2] / "data" /
                                          "qwen25math_rm_maj_example_math_cot_100.jsonl").open()]
    rng = random.Random(0)
    for row in rows:
        answers = [str(a) for a in row["pred"]]
        expected = partition(answers, answer.group_answers(answers))
        for _ in range(3):
            shuffled = rng.sample(answers, len(answers))
            ids = answer.group_answers(shuffled)
            assert partition(shuffled, ids) == expected, row["idx"]
            seen = [i for i in ids.tolist() if i >= 0]
            assert seen and [i for n, i in enumerate(seen) if i not in seen[:n]] == list(range(max(seen) + 1))


def test_group_answers_are_the_same_on_any_number_of_threads():
    """An answer is compared with the classes so far a block of them at a time on torch's threads, the verdicts
    then taken in class order: the classes are one thread's, and a match past the first block (16 classes) is
    found."""
    answers = [str(n) for n in range(1, 61)] + [
        "\\frac{1}{2}", "x^2+1", "0.5", "40.0", "\\boxed{1+x^2}", "m+n=55", "1/2", "x^2-1"]
    threads = torch.get_num_threads()
    try:
        results = []
        for n in (1, 2, 4):
            torch.set_num_threads(n)
            results.append(answer.group_answers(answers).tolist())
    finally:
        torch.set_num_threads(threads)
    assert results[0] == results[1] == results[2]
    assert results[0] == list(range(60)) + [60, 61, 60, 39, 61, 54, 60, 62]


# ---- bad input --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("bad", [
    "", "{", "}}}", "\\frac{1}{", "\\boxed{", "(((((", "\\begin{pmatrix}1&2\\\\3\\end{pmatrix}", "$$$", "\\",
    "(" * 10000 + "1" + ")" * 10000, "{" * 5000, "1+" * 100000 + "1", "x" * 1_000_000, "\\frac" * 20000,
    b"\xff\xfe\x00bad", "\x00\x01", "∑∫√∞", "1e308*1e308", "9" * 400,
])
def test_bad_input_is_false_and_bounded(bad):
    for gold, pred in ((bad, "1"), ("1", bad), (bad, bad if isinstance(bad, str) and len(bad) < 100 else "2")):
        result = answer.is_equiv(gold, pred)
        assert isinstance(result, bool)
        assert answer.grading_steps(gold, pred) <= 3 * answer._C.max_grading_steps()
    answer.extract_answer(bad)
    answer.normalize(bad)


def test_invalid_utf8_bytes_are_graded_as_bytes():
    assert answer.is_equiv(b"\xff 5", b"\xff 5")
    assert not answer.is_equiv(b"\xff 5", b"\xfe 5")
    assert answer.is_equiv(b"0.5", "1/2")


def test_megabyte_solution_is_cut_to_its_end():
    text = "filler " * 300_000 + "\\boxed{42}"
    assert len(text) > 2_000_000
    assert answer.extract_answer(text) == ("42", "boxed")


# ---- fuzz -------------------------------------------------------------------------------------------------

FUZZ_CASES = 20000  # run longer by hand: COTNPOT_FUZZ_CASES=200000 python -m pytest -k fuzz
ALPHABET = list("0123456789+-*/^_()[]{},.=<>|!x y") + ["\\frac", "\\sqrt", "\\pi", "\\infty", "\\left(", "\\right)",
                                                       "\\boxed{", "\\{", "\\}", "\\cup", "\\pm", "\\cdot", "$",
                                                       "\\begin{pmatrix}", "\\end{pmatrix}", "&", "\\\\", "\\text{",
                                                       "\\dfrac", "%", "\\%", "e", "i"]


def mutate(text, rng):
    chars = list(text)
    for _ in range(rng.randint(1, 4)):
        op = rng.random()
        pos = rng.randint(0, len(chars))
        if op < 0.4:
            chars.insert(pos, rng.choice(ALPHABET))
        elif op < 0.7 and chars:
            del chars[min(pos, len(chars) - 1)]
        elif chars:
            chars[min(pos, len(chars) - 1)] = rng.choice(ALPHABET)
    return "".join(chars)


def test_fuzz_random_and_mutated_answers_stay_within_budget():
    import os
    cases = int(os.environ.get("COTNPOT_FUZZ_CASES", FUZZ_CASES))
    rng = random.Random(1234)
    real = [json.loads(line)["answer"] for line in (SHARED / "math500_test.jsonl").open()]
    limit = 3 * answer._C.max_grading_steps()
    worst = 0
    for k in range(cases):
        if k % 2:
            a = "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 40)))
            b = mutate(a, rng)
        else:
            a = rng.choice(real)
            b = mutate(a, rng)
        assert isinstance(answer.is_equiv(a, b), bool)
        worst = max(worst, answer.grading_steps(a, b))
        answer.extract_answer(b)
    assert worst <= limit


def test_grader_benchmark_compares_answers_not_solutions():
    """The benchmark once paired OpenAI's whole gold *solutions* with extracted answers (5,276 meaningless
    pairs that every grader calls different): every gold it grades must be a final answer."""
    import importlib.util
    root = Path(__file__).resolve().parents[2]
    spec = importlib.util.spec_from_file_location("bench_grader", root / "benchmarks" / "bench_grader.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    pairs = bench.candidate_pairs(root.parent / "shared" / "data")
    openai = [(g, p) for src, g, p in pairs if src == "openai GSM8K"]
    assert len(openai) == 4 * 1319
    assert all("\n" not in g and len(g) < 20 for g, _ in openai)
    assert sum(answer.is_equiv(g, p) for g, p in openai) > 0.2 * len(openai)


# Grader rules by class (issue 14), with cases written here, not taken from the failing examples alone.
@pytest.mark.parametrize("gold,pred,equal", [
    # a function's power and parenthesized argument: \sin^2(t) and \sin(t)^2 are (\sin t)^2
    (r"\cos^2(t)", r"1-\sin^2(t)", True),
    (r"\cos(\theta)^2 + 1", r"2 - \sin(\theta)^2", True),
    (r"\tan^2 x", r"\sec^2 x - 1", True),
    (r"\sin^{-1}(x)", r"\arcsin(x)", True),
    (r"\sin(x^2)", r"\sin x^2", True),
    (r"\sin^2(t)", r"\sin(t^2)", False),
    # a right-hand side as the answer when the left names a quantity, |.| included
    ("4", "|PQ| = 4", True),
    ("7", r"|\vec{v}| = 7", True),
    ("4", "|PQ| = 5", False),
    ("4", "x + y = 4", True),    # a sum of names states its value too (AIME's "m + n = 17"; since 2026-12-03)
    ("4", "x + 2y = 4", False),
    # mixed inequality chains as intervals, in both directions
    ("(0,5]", r"0 < x \le 5", True),
    ("[-1,3)", r"3 > y \ge -1", True),
    ("(0,5]", r"0 \le x < 5", False),
    # solution sets written as assignments per solution
    ("(3,1),(4,1)", "a=3,b=1;a=4,b=1", True),
    ("(1,2,3),(0,0,0)", "x=1, y=2, z=3; x=0, y=0, z=0", True),
    ("(3,1),(4,1)", "a=3,b=1;a=4,b=2", False),
    # a box marks an answer: \boxed{X} is X (found by the benchmark's generated variants)
    ("-10", r"\boxed{-10}", True),
    (r"\frac{1}{3}", r"$\boxed{\frac{1}{3}}$", True),
    ("2", r"\fbox{3}", False),
    # two integers are equal or not, however large (1450001 was within rel_tol of 1450000)
    ("1,450,000", "1450001", False),
    ("900000000", "900000001", False),
    ("1450000", "1,450,000.0", True),
    # an exact non-integer is not an integer within rel_tol: past 1 the tolerance is absolute (a breaker)
    ("1000000", "1000000.5", False),
    ("1000000", r"\frac{3000001}{3}", False),
    ("123456789", "123456789.1", False),
    ("7", "7.000000000000001", True),      # a program's float noise
    ("123456.7", "123456.70000001", True),
    (r"\frac{1}{3}", "0.333333", True),    # rounding in the last digit of a value below 1
    # variables take negative values too, where both sides stay real (positive points matched |x| and x)
    ("|x|", "x", False),
    ("x", r"\sqrt{x^2}", False),
    ("|x-1|", "x-1", False),
    ("|x|", r"\sqrt{x^2}", True),
    (r"\sqrt{x}\sqrt{y}", r"\sqrt{xy}", True),   # they differ only off the reals (both negative)
    (r"\ln(x^2)", r"2\ln x", True),
    (r"x^{1/3}", r"\sqrt[3]{x}", True),
    # found by a second breaker: the sample points of one variable lay in [1.40, 1.64]; relations had no
    # negative points; a sum that cancels near a root carries float error of its terms' size
    ("|x+2|", "x+2", False),
    ("|x-2|", "2-x", False),
    (r"\sqrt{x^2+6x+9}", "x+3", False),
    ("|x|<3", "x<3", False),
    ("f(x)=|x|", "f(x)=x", False),
    ("(5x+7)^{4}", "625x^{4}+3500x^{3}+7350x^{2}+6860x+2401", True),
    ("(5x-7)^{4}", "625x^{4}-3500x^{3}+7350x^{2}-6860x+2401", True),
    (r"\sqrt{-3x}", r"\sqrt{3}\sqrt{-x}", True),     # equal where real: branches off the reals do not count
    (r"\sqrt{x-1}", r"\sqrt{1-x}", False),            # real nowhere together: their complex values decide
    # exact values: a difference taken exactly (in doubles its rounding past 1e10 was over the tolerance);
    # an integer against a non-integer within float noise only; two non-integers where the coarser is the
    # other rounded; more than 18 digits rounded to 18, not made a double
    (r"\frac{100000000000}{7}", "14285714285.7142857", True),
    (r"\frac{87529624238}{9}", "9725513804.2222222", True),
    ("7", "7.000001", False),
    ("1000000.5", "1000000.4", False),
    ("1000000", "1000000.5000000000001", False),
    (r"\frac{2000001}{2}", "1000000.00000000000001", False),
    ("0.3", "0.30000000000000004", True),
    # a decimal of 15+ significant digits is a computation's output: rel_tol decides, also against an integer
    # (CoTnPoT: a program's value against the solution's own, found as two candidates the rules above dropped)
    ("10.02609801394532", "10.026098026734564", True),
    ("100,282", "100282.0143884892", True),
    # ...but against an integer only the nearest: rel_tol had let one such decimal equal ~200 integers near
    # 10^8 (a breaker)
    ("99999950", "100000050.000001", False), ("100000150", "100000050.000001", False),
    ("100000050", "100000050.000001", True), ("1000001", "1000000.49999999", False),
    # ...and against a shorter decimal, that one rounded to its places: rel_tol had let 333333.6666666667 equal
    # every one-place decimal within 0.33 of it (a breaker)
    ("333333.9", "333333.6666666667", False), ("333333.7", "333333.6666666667", True),
    ("333333.67", "333333.6666666667", True), ("1234567.8", "1234567.891234567", False),
    ("1234567.9", "1234567.891234567", True), (r"\frac{1}{3}", "0.3333333333333333", True),
    # a bar after a factor opens an absolute value it multiplies (2|x| had not parsed: compared as text)
    ("2|x|", r"2\cdot|x|", True),
    ("6", "2|3|", True),
    (r"\frac{1}{|y|}", r"\frac{2}{2|y|}", True),
    ("||x|-1|", "|1-|x||", True),
    ("2|x|", "3|x|", False),
    ("|x(2|y|+1)|", "|x|(2|y|+1)", True),        # inside brackets a bar opens again (a third breaker)
    (r"|\frac{2|x|}{3}|", r"\frac{2|x|}{3}", True),
    ("|x(2|y|+1)|", "x(2|y|+1)", False),
    # found by a reviewer: a sum inside a power or a denominator set the cancellation tolerance of the whole
    ("e^{-x-30}", "2e^{-x-30}", False),
    (r"\frac{1}{x^2+100000}", r"\frac{2}{x^2+100000}", False),
    (r"\frac{1}{x+10000}", r"\frac{1}{x+10050}", False),
    # a computed value has a float's 15+ significant digits; fewer are human-written (and an integer exact)
    ("1000000", "1000000.49999", False),
    ("7", "7.00000100001", False),
    ("123456789", "123456789.123", False),
    # sets are sets: a repeated element changes nothing (a breaker); lists of roots keep multiplicity
    (r"\{1,2\}", r"\{1,1,2\}", True), (r"\{\frac12, 0.5, 2\}", r"\{0.5,2\}", True),
    (r"\{1,2\}", r"\{1,1,3\}", False), ("1,2", "1,1,2", False), (r"\{1,1,2\}", r"\{1,2,2\}", True),
    # a whole answer written as text is words, which no reading as a product of names reorders (a breaker)
    (r"\text{no}", r"\text{on}", False), (r"\text{odd}", r"\textbf{dod}", False), (r"$\text{top}$", "pot", False),
    (r"\text{odd}", "odd", True), (r"\text{No}", "no", True), ("ab", "ba", True),
    (r"\mathrm{no}", r"\mathrm{on}", False), (r"\text {no}", r"\text {on}", False),
    # 40 digits: int128 had overflowed counting them. 1.0000000 is the integer 1, the computed value's nearest;
    # 1.0000001 is a decimal, not 1+2^{-38} rounded to 7 places (rel_tol alone had let it be)
    ("1.0000000", "1+2^{-38}", True),
    ("1.0000000", "1+2^{-45}", True),
    ("1.0000001", "1+2^{-38}", False),
    # found by a third breaker: a factor, a quotient or a root around an expanded polynomial hid its cancellation
    # near a root; sample points on a grid of 1/64 are exact rationals, so such polynomials are exact
    ("2(x+5)^6", "2(x^{6} + 30 x^{5} + 375 x^{4} + 2500 x^{3} + 9375 x^{2} + 18750 x + 15625)", True),
    ("2(3x-5)^4", "2(81x^4-540x^3+1350x^2-1500x+625)", True),
    (r"\frac{1}{(x+2)^8}", r"\frac{1}{x^{8} + 16 x^{7} + 112 x^{6} + 448 x^{5} + 1120 x^{4} + 1792 x^{3} + 1792 x^{2} + 1024 x + 256}", True),
    ("y=3(x+2)^8", "y=3(x^{8} + 16 x^{7} + 112 x^{6} + 448 x^{5} + 1120 x^{4} + 1792 x^{3} + 1792 x^{2} + 1024 x + 256)", True),
    # exact values at the sample points, where no decimal is written, are equal or not (within rel_tol
    # x^2+1000000 had equalled x^2+1000001, and the relations of the two too)
    ("x^2+1000000", "x^2+1000001", False),
    ("x^2+1000000=0", "x^2+1000001=0", False),
    ("2x^2+2000000=0", "x^2+1000000=0", True),
    # where a constant dwarfs what the sides vary by at the sample points, any two such relations had a nearly
    # constant ratio there: the ratio is checked again at points scaled to the constants (a breaker)
    ("3x=3000000", "3x=3600000.0", False), ("x+y=1000000000", "x+y=5000000000.0", False),
    ("x^2+y^2=10000", "x^2+y^2=10001.0", False), (r"x+y=10^7+\sqrt{2}", r"x+y=10^7+1+\sqrt{2}", False),
    ("x^2+y^2=10000", r"x^2+y^2=10001+\sin(\sqrt{2}^2-2)", False), ("x+y>1000000", "x+y>1000001.0", False),
    ("2x+4y=6000000", "x+2y=3000000.0", True), ("x^2+y^2=10000", "2x^2+2y^2=20000.0", True),
    (r"x+y=10^7+\sqrt{2}", r"2x+2y = 2\cdot10^7+2\sqrt{2}", True), ("x+y>1000000", "2x+2y>2000000.0", True),
    (r"\frac{x^2}{10000}+\frac{y^2}{2500}=1", "x^2+4y^2=10000.0", True),
    ("0.5x", r"\frac{x}{2}", True),
    # six points of magnitude below 1 are tried too (at first only where the eight left fewer than three real ones)
    (r"\cos(\arcsin x)", r"\sqrt{1-x^2}", True),
    (r"\arccos x", r"\frac{\pi}{2}-\arcsin x", True),
    (r"\cos(\arcsin x)", r"\sqrt{1-x^2}+x^3", False),
    # found by a fourth breaker: narrower domains, a domain past the sampled range, differences near 0, and
    # integer offsets that rel_tol hid where a point's exact value overflowed int64
    (r"\cos(\arcsin(2x))", r"\sqrt{1-4x^2}", True),
    (r"\sqrt{\frac{x}{1-2x}}", r"\frac{\sqrt{x}}{\sqrt{1-2x}}", True),
    (r"\ln\left(\frac{x}{1-2x}\right)", r"\ln x-\ln(1-2x)", True),
    (r"\ln(x-2)-\ln(x-3)", r"\ln\frac{x-2}{x-3}", True),
    ("|4x^2-1|", "4x^2-1", False),
    (r"|x^2-\frac{1}{4}|", r"x^2-\frac{1}{4}", False),
    ("x^{10}+10^{8}", "x^{10}+10^{8}+1", False),
    ("x+10^{18}", "x+10^{18}+1", False),
    ("x^{10}=10^{8}", "x^{10}=10^{8}+1", False),
    ("(x+1)^{12}", "(1+x)^{12}", True),
    # a function's argument without brackets is an implicit product: \arcsin 2x had been (\arcsin 2) x
    (r"\cos(\arcsin 2x)", r"\sqrt{1-4x^2}", True),
    (r"\sin 2x", r"\sin(2x)", True),
    (r"\sin 2x", r"x\sin 2", False),
    (r"\cos 2\pi", "1", True),
    (r"\sin x\cos x", r"\frac{\sin 2x}{2}", True),
    # a fifth breaker: e^{...} ends a bare argument; every Greek letter continues one, subscripted too;
    # \log_b; the inverse notation of sec, csc and cot; \pm signs the whole product
    (r"e^{\sin x}\cos x", r"\cos x e^{\sin x}", True),
    (r"\cos x e^{\sin x}", r"\cos(x e^{\sin x})", False),
    (r"\sin x e^x", r"e^x\sin x", True),   # a reviewer
    (r"y = e^{x}(C_1\cos x + C_2\sin x)", r"y = C_1\cos x e^{x} + C_2\sin x e^{x}", True),
    (r"\sin 2\psi", r"2\sin\psi\cos\psi", True),
    (r"\sin 2\psi", r"\psi\sin 2", False),
    (r"\sin \theta_1 \cos \theta_2", r"\cos(\theta_2)\sin(\theta_1)", True),
    (r"\log_2 8", "3", True),
    (r"\log_{10} 100", "2", True),
    (r"\log_2 3", r"\frac{\ln 3}{\ln 2}", True),
    (r"\log_2 8", "4", False),
    (r"\cot^{-1} x", r"\tan x", False),
    (r"\sec^{-1} x", r"\cos x", False),
    (r"\csc^{-1} x", r"\arcsin(1/x)", True),
    (r"\cot^{-1} x", r"\frac{\pi}{2}-\arctan x", True),
    (r"\pm 2\sqrt{2}", r"\pm\sqrt{8}", True),
    (r"\pm 2\sqrt{2}", r"2\sqrt{2}, -2\sqrt{2}", True),
    (r"\pm 2\sqrt{2}", r"\pm 3\sqrt{2}", False),
    # a written decimal stands for its rounding interval, not for anything within rel_tol (x + 1000000.5 had
    # equalled x + 1000000, which the constants never did: the fourth breaker)
    ("x+1000000.5", "x+1000000", False),
    ("0.5x+10000000", r"\frac{x}{2}+10000001", False),
    ("x^2+1000000", "1.0x^2+1000001", False),
    ("3.14159x", r"\pi x", True),
    ("0.1x+0.2", r"\frac{x+2}{10}", True),
    ("x^{2.5}", r"x^2\sqrt{x}", True),
])
def test_grader_rules_by_class(gold, pred, equal):
    assert answer.is_equiv(gold, pred) is equal


def test_written_decimals_round_either_way_and_many_stay_within_the_budget():
    # a sixth breaker: 0.13 may be 0.125 rounded half up (only the move up had counted), and 50 decimals in
    # any order had run the work budget out, a difference then
    assert answer.is_equiv("8x", r"\frac{x}{0.13}", rel_tol=0.5)
    assert answer.is_equiv(r"e^{-t/8}", r"e^{-0.13t}", rel_tol=0.05)
    terms = [f"{1 / (k + 2):.6f}x" for k in range(50)]
    assert answer.is_equiv("+".join(terms), "+".join(reversed(terms)))
    assert answer.is_equiv("+".join(["0.5x"] * 800), "400x")


@pytest.mark.parametrize("gold, pred, equal", [
    # math_equal's semantics (rel_tol 1e-4, percent): a rounding is close relatively, whatever its size;
    # an exact tolerance above 1 had refused these (a breaker)
    (r"\frac{100}{3}", "33.333", True),
    (r"\frac{1000}{7}", "142.857", True),
    (r"\frac{1}{3}", r"33.333\%", True),
    (r"\frac{1}{3}", r"33.334\%", False),   # not a rounding of 100/3, nor 0.33334 one of 1/3
    (r"\frac{1}{3}", "0.33334", False),
    # ...but expressions without a decimal are exact at the sample points: 100001n had equalled 100000n
    ("100001n", "100000n", False),
    ("10001x+1", "10000x+1", False),
    (r"\frac{100x}{3}", "33.333x", True),    # a written decimal may be rounded
    (r"\frac{1000x}{3}", "333.34x", False),  # ...to its places: 333.34 is not 1000/3 rounded, as for constants
])
def test_grader_rules_with_math_equal_semantics(gold, pred, equal):
    assert answer.is_equiv(gold, pred, rel_tol=1e-4, percent=True) is equal
    assert answer.is_equiv(pred, gold, rel_tol=1e-4, percent=True) is equal


# Cases that need the grader's quad precision (answer.has_quad_precision(); the far sample points too)
QUAD = pytest.mark.skipif(not answer.has_quad_precision(), reason="this build compares in doubles only (no libquadmath)")

# (x-\pi)^{12} and (x-\sqrt{2})^{16} expanded (sympy's expand and latex)
PI_12 = (r"x^{12} - 12 \pi x^{11} + 66 \pi^{2} x^{10} - 220 \pi^{3} x^{9} + 495 \pi^{4} x^{8} - 792 \pi^{5} x^{7}"
         r" + 924 \pi^{6} x^{6} - 792 \pi^{7} x^{5} + 495 \pi^{8} x^{4} - 220 \pi^{9} x^{3} + 66 \pi^{10} x^{2}"
         r" - 12 \pi^{11} x + \pi^{12}")
SQRT2_16 = (r"x^{16} - 16 \sqrt{2} x^{15} + 240 x^{14} - 1120 \sqrt{2} x^{13} + 7280 x^{12} - 17472 \sqrt{2} x^{11}"
            r" + 64064 x^{10} - 91520 \sqrt{2} x^{9} + 205920 x^{8} - 183040 \sqrt{2} x^{7} + 256256 x^{6}"
            r" - 139776 \sqrt{2} x^{5} + 116480 x^{4} - 35840 \sqrt{2} x^{3} + 15360 x^{2} - 2048 \sqrt{2} x + 256")


@pytest.mark.parametrize("gold, pred, equal", [
    # irrational values written without a decimal stand for exact ones: equal within float error only
    # (rel_tol had made these equal; a breaker)
    (r"\sqrt{2}+10^7", r"\sqrt{2}+10^7+1", False),
    (r"\pi+10^6", r"\pi+10^6+\frac{1}{2}", False),
    (r"e^{15}", r"e^{15}+1", False),
    (r"\sqrt{2}+10^7x", r"\sqrt{2}+10^7x+1", False),
    # the same values computed another way, cancelling sums included
    (r"\sqrt{2}\cdot\sqrt{2}-2", "0", True),
    (r"\log_2 8", "3", True),
    (r"\frac{\sqrt{8}}{\sqrt{2}}", "2", True),
    (r"2\pi", r"\pi+\pi", True),
    (r"e^{10}", r"(e^5)^2", True),
    (r"\sin^2 x+\cos^2 x", "1", True),
    (r"\frac{\sqrt{3}}{2}x", r"x\sin\frac{\pi}{3}", True),
    # zeros that a function computes as float noise, and a cancelling sum's large term (a breaker)
    ("0", r"\sin\pi", True),
    ("0", r"\cos\frac{\pi}{2}", True),
    ("0", r"\ln(2\sin\frac{\pi}{6})", True),
    ("0", r"x\cos\frac{\pi}{2}", True),
    ("(0,3)", r"\left(3\cos\frac{\pi}{2}, 3\sin\frac{\pi}{2}\right)", True),
    (r"\begin{pmatrix} 0 & -1 \\ 1 & 0 \end{pmatrix}",
     r"\begin{pmatrix} \cos\frac{\pi}{2} & -\sin\frac{\pi}{2} \\ \sin\frac{\pi}{2} & \cos\frac{\pi}{2} \end{pmatrix}",
     True),
    (r"\pi+10^{10}-10^{10}", r"\pi+1", False),
    (r"\frac{1}{\sqrt{10^6+1}-10^3}", r"\sqrt{10^6+1}+10^3", True),
    # ...and where a sum inside cancelled more, its error grew as much (a breaker)
    (r"\frac{1}{\sqrt{10^8+1}-10^4}", r"\sqrt{10^8+1}+10^4", True),
    (r"\frac{1}{\sqrt{10^8+2}-\sqrt{10^8+1}}", r"\sqrt{10^8+2}+\sqrt{10^8+1}", True),
    (r"\frac{1}{1-\cos(10^{-4})}", r"\frac{1}{2\sin^2(5\cdot 10^{-5})}", True),
    # a written decimal is a rounding: rel_tol as before
    (r"\sqrt{2}", "1.414214", True),
    (r"\sqrt{2}+10^7", "10000001.414", True),
    # a cancelling sum's float error is no licence beyond rel_tol: one answer that cancels huge terms had
    # equalled any value at all (a breaker); where it cancels at one sample point only, the others decide
    ("42", r"10^{30}\sqrt{2} - 10^{30}\sqrt{2}", False), (r"\pi", r"e^{70} - e^{70}", False),
    ("0", r"10^{30}\sqrt{2} - 10^{30}\sqrt{2}", True),
    ("1000", r"1050 + 10^{16}\sqrt{2} - 10^{16}\sqrt{2}", False),
    ("(1,2)", r"(7 + 10^{30}\sqrt{2} - 10^{30}\sqrt{2}, 9 + 10^{30}\sqrt{2} - 10^{30}\sqrt{2})", False),
    ("x^2+7", r"x^2 + e^{100} - e^{100}", False), ("0.5x^2", r"1.0e^{100} - e^{100}", False),
    (r"(x-\sqrt{2})^4", r"x^4 - 4\sqrt{2}x^3 + 12x^2 - 8\sqrt{2}x + 4", True),
    (r"(x-\pi)^6", r"x^6-6\pi x^5+15\pi^2x^4-20\pi^3x^3+15\pi^4x^2-6\pi^5x+\pi^6", True),
    ("(5x+7.0)^4", "625x^4+3500x^3+7350x^2+6860x+2401", True),
    # ...nor at points outside the reals (a later breaker: every point of \sqrt{-z^2} left them), where a
    # decimal's rounding is checked too (a third), nor against an integer beyond the nearest one; a padding
    # that cancels, at the top or inside a function, widens nothing past rel_tol (the third)
    ("42", r"\sqrt{-z^2} + 10^{100} - 10^{100}", False), ("x^2+7", r"\sqrt{-z^2} + 10^{100} - 10^{100}", False),
    (r"\sqrt{x-10}+1000000", r"\sqrt{x-10}+1000000.5", False), (r"\sqrt{x-10}+1000001", r"\sqrt{x-10}+1000000.5", False),
    (r"\sqrt{x-10}+\frac{1}{2}", r"\sqrt{x-10}+0.5", True),
    ("1000000000500", r"10^{12}+\sqrt{2}", False),
    ("x^2+1000000", r"x^2+1000100+\sin(\sqrt{2}^2-2)", False), ("x^2+3", r"x^2+3+\ln(\sqrt{3}^2-2)", True),
    (r"\frac{3000001}{3}", r"\frac{3000301}{3} + 10^{15}\sqrt{2} - 10^{15}\sqrt{2}", False),
    # ...but not values past a double's range, which quad precision holds without their last digits: they
    # equal nothing but their own text, as the docs say (10^{1001} had equalled 10^{1001}+1: a breaker)
    ("10^{1001}", "10^{1001}+1", False), ("2^{3400}", "2^{3400}+1", False),
])
@pytest.mark.parametrize("percent", [False, True])
def test_irrational_values_written_exactly_are_equal_within_float_error(gold, pred, equal, percent):
    assert answer.is_equiv(gold, pred, percent=percent) is equal
    assert answer.is_equiv(pred, gold, percent=percent) is equal


@QUAD
@pytest.mark.parametrize("gold, pred, equal", [
    ("1000000000001", r"10^{12}+\sqrt{2}", False),
    # a power of a surd against its expansion, which cancels 3e-5 to 6e-4 of its value in doubles, and a
    # difference of roots against its rationalized form: equal in quad precision (they had been xfails), and
    # so are different values within the doubles' float error: 10^{12} + \sqrt{2} is not 1000000000001 (it
    # had been, the nearest integer within a billionth), nor \sqrt{10^{20}+1} 10^{10}
    (r"(2-\sqrt{3})^{10}", r"262087 - 151316\sqrt{3}", True), (r"(\sqrt{2}-1)^{14}", r"114243 - 80782\sqrt{2}", True),
    (r"(3-2\sqrt{2})^8", r"665857 - 470832\sqrt{2}", True), (r"(3-2\sqrt{2})^8", r"665858 - 470832\sqrt{2}", False),
    (r"\sqrt{10^{12}+1}-10^6", r"\frac{1}{\sqrt{10^{12}+1}+10^6}", True),
    (r"(\pi-3)^8", r"\pi^8-24\pi^7+252\pi^6-1512\pi^5+5670\pi^4-13608\pi^3+20412\pi^2-17496\pi+6561", True),
    (r"\sqrt{10^{20}+1}", r"10^{10}", False), (r"10^{12}+\sqrt{2}", r"10^{12}+\sqrt{2}+10^{-6}", False),
    # values below the doubles' 1e-12 absolute floor are told apart (e^{-30} had equalled e^{-31} and 0)
    (r"e^{-30}", r"e^{-31}", False), (r"e^{-30}", "0", False), (r"e^{-30}", r"\frac{1}{e^{30}}", True),
    (r"(\pi-3)^8", r"(\pi-3)^8+10^{-12}", False), (r"10^{-20}\sqrt{2}", r"\frac{\sqrt{8}}{2\cdot 10^{20}}", True),
    # ...and at the sample points of expressions with variables: (x-\pi)^{12} had equalled its expansion plus
    # 10^{-6}, within the expansion's float error in doubles
    (r"(x-\pi)^{12}", PI_12, True), (r"(x-\pi)^{12}", PI_12 + "+10^{-6}", False),
    (r"(x-\sqrt{2})^{16}", SQRT2_16, True), (r"(x-\sqrt{2})^{16}", SQRT2_16 + "+10^{-9}", False),
])
@pytest.mark.parametrize("percent", [False, True])
def test_constants_and_sample_points_in_quad_precision(gold, pred, equal, percent):
    assert answer.is_equiv(gold, pred, percent=percent) is equal
    assert answer.is_equiv(pred, gold, percent=percent) is equal


@pytest.mark.parametrize("gold, pred, equal", [
    # factorials and binomials of variables have values at the fractional sample points (the Gamma function;
    # binom(x, k) for a natural k as its polynomial): none had, so none of these had been equal
    (r"(n+1)!", r"(n+1)n!", True),
    (r"\frac{(n+2)!}{n!}", r"(n+1)(n+2)", True),
    (r"(n+1)!-n!", r"n\cdot n!", True),
    (r"\binom{n}{2}", r"\frac{n(n-1)}{2}", True),
    (r"\binom{n+1}{2}", r"\frac{n(n+1)}{2}", True),
    (r"\binom{2n}{n}", r"\frac{(2n)!}{(n!)^2}", True),
    (r"\binom{n}{k}", r"\binom{n}{n-k}", True),
    (r"\frac{1}{2}!", r"\frac{\sqrt{\pi}}{2}", True),
    # ...and different ones stay different
    (r"n!", r"(n+1)!", False),
    (r"n!", r"n^n", False),
    (r"\binom{n}{2}", r"\frac{n(n+1)}{2}", False),
    (r"\binom{n}{k}", r"\binom{n}{k+1}", False),
    (r"n!", r"\sqrt{2\pi n}\left(\frac{n}{e}\right)^n", False),   # Stirling's is an approximation
    (r"(n-200)!", "0", False), (r"(n-200)!", r"2(n-200)!", False),   # Gamma underflows there: no value (a breaker)
])
def test_factorials_and_binomials_of_variables(gold, pred, equal):
    assert answer.is_equiv(gold, pred) is equal
    assert answer.is_equiv(pred, gold) is equal


@pytest.mark.parametrize("gold, pred, equal", [
    # a percent sign inside a product is a factor of 1/100 ("50\\%x" had equalled 50x, "5\\% \\cdot 200" 1000)
    (r"50\%x", "0.5x", True),
    (r"50\%x", r"\frac{x}{2}", True),
    (r"50\%x", "50x", False),
    (r"5\% \cdot 200", "10", True),
    (r"5\% \cdot 200", "1000", False),
    (r"20\%(x+1)", r"\frac{x+1}{5}", True),
    # a trailing one is the answer's unit, as before: dropped (0.5 only under the percent option)
    (r"50\%", "50", True),
    (r"50\%", "0.5", False),
    (r"10\%, 20\%", "10, 20", True),
    # with one inside a product on either side, every percent sign is a factor, on both sides (a breaker: a
    # unit percent against a factor percent had disagreed)
    (r"25\%", r"50\% \cdot \frac{1}{2}", True),
    (r"x\cdot 50\%", r"50\% x", True),
    (r"20\%", r"40\%/2", True),
    ("5", r"25\% \div 5\%", True),   # after a number it binds to it: (25%) / (5%)
    (r"12.5\%x", r"\frac{x}{8}", True),
    # a later breaker: the factor form of a chain's left side was no label ("15\% \times 80 = 12" had stopped
    # equalling 12), a thousands separator split the number ("1,000\%" bound only "000"), and a percent sign
    # after an exponent bound to the exponent ("10^2\%" read as 10^{0.02})
    ("12", r"15\% \times 80 = 12", True),
    ("12", r"15\% \cdot 80 = 12", True),
    (r"12\%", r"30\% \times 40\% = 12\%", True),
    ("13", r"15\% \times 80 = 12", False),
    (r"1,000\%", r"1000\% \cdot 1", True),
    (r"1{,}000\% \cdot 2", "20", True),
    (r"1,000\% \cdot 2", "2", False),
    (r"10^2\% \cdot 100", "100", True),
    (r"10^2\% \cdot 100", r"10^{0.02} \cdot 100", False),
    # inside brackets a comma separates items, and a space separates thousands (a breaker)
    (r"(5,100\% x)", "(5,x)", True), (r"[0,100\% \cdot 3]", "[0,3]", True), (r"(1,250\%x)", "(1, 2.5x)", True),
    (r"2 500\% \cdot 4", "100", True), (r"2 500\% \cdot 4", "28", False),
    (r"(1{,}000\% x, 1)", "(10x, 1)", True),   # "{,}" is a separator inside brackets too (a reviewer)
    (r"\frac12,345\%x", r"\frac{1}{2}, 3.45x", True),   # a list: \frac12 is braced before separators are read
])
def test_a_percent_sign_inside_a_product_is_a_factor(gold, pred, equal):
    assert answer.is_equiv(gold, pred) is equal
    assert answer.is_equiv(pred, gold) is equal


@pytest.mark.parametrize("gold, pred, equal", [
    # a repeating decimal is the exact fraction it stands for (it had parsed as 0 times a bar)
    (r"\frac{1}{3}", r"0.\overline{3}", True),
    (r"\frac{7}{6}", r"1.1\overline{6}", True),
    (r"\frac{4}{11}", r"0.\overline{36}", True),
    (r"\frac{1}{7}", r"0.\overline{142857}", True),
    (r"\frac{1}{3}", r"0.\dot{3}", True),
    (r"-\frac{4}{11}", r"-0.\overline{36}", True),
    ("1", r"0.\overline{9}", True),
    (r"\frac{x}{3}", r"0.\overline{3}x", True),
    (r"\frac{1}{3}", r"0.\overline{6}", False),
    (r"\frac{1}{3}", r"\frac{1}{3}+10^{-9}", False),
    (r"0.\overline{3}", "0.333", False),   # a rounding only within rel_tol, as for 1/3
    (r"\overline{AB}", r"\overline{AB}", True),   # a segment stays a segment
    # a thousands separator before it is part of the number, an index is no number (a breaker)
    (r"\frac{3001}{3}", r"1,000.\overline{3}", True),
    (r"\frac{3001}{3}", r"1{,}000.\overline{3}", True),
    (r"x_{1.3333333333}", r"x_1.\overline{3}", False),
])
def test_a_repeating_decimal_is_its_fraction(gold, pred, equal):
    assert answer.is_equiv(gold, pred) is equal
    assert answer.is_equiv(pred, gold) is equal


def test_interval_and_inequality_with_set_relation():
    assert answer.is_equiv(r"x \in (0,5]", r"0 < x \le 5", set_relation=True)
    assert not answer.is_equiv(r"x \in (0,5)", r"0 < x \le 5", set_relation=True)


@pytest.mark.parametrize("text,want,rule", [
    (r"We use $k = \frac{60}{m}$ for each divisor $m$. So there are 8 such numbers.", "8", "last_sentence"),
    (r"Let $n = 2k$, then $n^2 = 4k^2$. Hence the count is 12.", "12", "last_sentence"),
    (r"The area is $12$ square units.", "12", "math"),        # the math is in the final sentence
    (r"So the total is $3 + 4 = 7$.", "3 + 4 = 7", "math"),
])
def test_a_final_sentence_in_plain_words_states_the_answer(text, want, rule):
    assert answer.extract_answer(text) == (want, rule)


def test_int64_min_is_never_negated():
    """(-2)^63 is INT64_MIN, which has no int64 negation (undefined behaviour in the old gcd); it stays a
    float now, still equal to its decimal."""
    assert answer.is_equiv("(-2)^{63}", "-9223372036854775808")
    assert answer.is_equiv("-9223372036854775808", "(-2)^{63}")
    assert not answer.is_equiv("(-2)^{63}", "9223372036854775808")


# ---- found by a breaker: recursion and quadratic work that the step budget did not see ---------------------

DEEP_CHAINS = ["-" * 4094 + "3", "2^" * 2047 + "2", "3" + "!" * 4095, "1" + "\\pm 1" * 800, "+-" * 2047 + "3",
               "\\sqrt" * 800 + "4", "\\sin" * 800 + "x"]


def test_a_deep_chain_of_signs_or_powers_fits_a_small_threads_stack():
    """`unary` and `power` recursed once per '-' or '^' with no nesting limit, ~600 bytes a frame: a 4 kB
    answer needed ~2.4 MB of stack and crashed (SIGSEGV) a thread with 2 MiB, as torch's are under
    `ulimit -s unlimited`. Run in a child, so a crash fails the test instead of ending pytest."""
    program = ("import sys, threading, cotnpot\nfrom cotnpot import answer\n"
               "threading.stack_size(2 << 20)\nchains = %r\nout = []\n"
               "def grade():\n    out.extend(answer.is_equiv(c, '3') for c in chains)\n"
               "    out.append(answer.group_answers(chains + ['3']).tolist())\n"
               "t = threading.Thread(target=grade); t.start(); t.join()\nprint(out)\n") % (DEEP_CHAINS,)
    r = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, (r.returncode, r.stderr[-2000:])
    *equal, groups = eval(r.stdout)
    assert equal == [False] * len(DEEP_CHAINS)   # too deep to parse: compared as strings
    assert groups == list(range(len(DEEP_CHAINS) + 1))


def test_chains_within_the_nesting_limit_still_parse():
    assert answer.is_equiv("-" * 20 + "3", "3") and answer.is_equiv("-" * 21 + "3", "-3")
    assert answer.is_equiv("2^2^2^2", "65536") and answer.is_equiv("3!!", "720")
    assert answer.is_equiv("3 \\pm 1", "\\{2, 4\\}") and answer.is_equiv("-2^{-2}", "-0.25")


def run_within(seconds, code):
    """Runs code in a child with a deadline: these inputs took 14-31 s before their fix, ~0.1 s after."""
    r = subprocess.run([sys.executable, "-c", "import cotnpot\nfrom cotnpot import answer\n" + code],
                       capture_output=True, text=True, timeout=seconds)
    assert r.returncode == 0, r.stderr[-2000:]
    return r.stdout.strip()


def test_a_megabyte_of_boxes_is_extracted_in_one_pass():
    """`all_boxed` searched for the next \\boxed and the next \\fbox after every box, each search running to
    the end of the text for the absent one (31 s for 110,000 boxes, the GIL held); the gap between two
    boxes was cleaned by a find-and-replace per filler that restarted at the gap's start (5.5 s for a
    million commas); and the boxes' contents were deduplicated by a linear search each."""
    assert run_within(10, "print(answer.extract_answer('\\\\boxed{1}' * 110000))") == "('1', 'boxed')"
    assert run_within(10, "print(answer.extract_answer('\\\\boxed{1}' + ',' * 10**6 + '\\\\boxed{2}'))") \
        == "('1, 2', 'boxed')"
    assert run_within(10, "r = answer.extract_answer(''.join('\\\\boxed{%d}' % i for i in range(70000)))\n"
                          "print(r[0].split(', ') == [str(i) for i in range(70000)])") == "True"


def test_a_deep_answer_is_not_copied_once_per_level():
    """Each level of a chain was built from a braced list, which copies: the subtree below it was copied
    at every level, O(depth^2) work the budget did not count (14 s for 50 answers of 4 kB)."""
    assert run_within(10, "print(answer.group_answers(['3' + '!' * (4094 - i) for i in range(50)]).tolist())") \
        == str(list(range(50)))


def test_a_lone_surrogate_is_graded_as_the_bytes_it_stands_for():
    """Found by a breaker: a str holding a lone surrogate (what `errors="surrogateescape"` decoding of a model's
    bytes gives) failed in pybind11 with "incompatible function arguments", against the promise that any
    text is graded, never an error."""
    bad = "x \ud800 5"
    assert answer.normalize(bad)
    assert answer.is_equiv(bad, bad) and not answer.is_equiv(bad, "5")
    assert answer.verify(bad + " \\boxed{3}", "3")
    assert answer.grade([bad, "1/2"], [bad, "0.5"]).tolist() == [True, True]
    assert answer.group_answers([bad, "1", bad]).tolist() == [0, 1, 0]
    assert answer.extract_answer("\ud800 so \\boxed{7}") == ("7", "boxed")
    with pytest.raises(TypeError, match="gold must be str or bytes, got NoneType"):
        answer.is_equiv(None, "1")
    with pytest.raises(TypeError, match=r"preds\[1\] must be str or bytes, got int"):
        answer.grade(["1", "2"], ["1", 2])


@pytest.mark.parametrize("rel_tol", [float("nan"), float("inf"), -1e-6, 1.0])
def test_a_tolerance_out_of_range_is_refused(rel_tol):
    """Found by a breaker: NaN, negative and infinite tolerances were taken (with inf, "1" equalled "2.5")."""
    for call, name in ((lambda: answer.is_equiv("1", "2.5", rel_tol=rel_tol), "is_equiv"),
                       (lambda: answer.verify("1", "2.5", rel_tol=rel_tol), "verify"),
                       (lambda: answer.grade(["1"], ["2.5"], rel_tol=rel_tol), "grade"),
                       (lambda: answer.group_answers(["1", "2.5"], rel_tol=rel_tol), "group_answers")):
        with pytest.raises(ValueError, match=rf"{name}: rel_tol must be in \[0, 1\), got"):
            call()
    assert answer.is_equiv("1", "1.0000001", rel_tol=0.0) is False and answer.is_equiv("1", "1.0", rel_tol=0.0)


def test_integers_past_int64_are_equal_only_digit_for_digit():
    """Found by a breaker: literals of 19 or more digits became doubles, and the relative tolerance made
    1000000000000000000 equal 1000000000000000001 (and put them in one voting class)."""
    big = "1000000000000000000"
    assert not answer.is_equiv(big, "1000000000000000001")
    assert not answer.is_equiv("-" + big + "000", big + "000")
    assert answer.is_equiv(big + "000", "000" + big + "000") and answer.is_equiv("-" + big + "7", "-" + big + "7")
    assert answer.is_equiv("12345678901234567890123", "12345678901234567890123")
    assert answer.group_answers([big, big[:-1] + "1", big, "10^{18}"]).tolist()[:3] == [0, 1, 0]
    assert not answer.is_equiv("9223372036854775807", "9223372036854775806")
    # a big literal against a computed value is still compared as numbers
    assert answer.is_equiv("10^{18}", big) and answer.is_equiv("1.5", "1.5000000001")


def _exact_cases():
    """(computed form, its exact value) checked against Python's own integers, the independent reference."""
    cases = [(f"{n}!", math.factorial(n)) for n in (20, 21, 25, 30, 52, 100, 449)]
    cases += [(f"2^{{{k}}}", 2 ** k) for k in (63, 64, 70, 100, 1000, 3000)]
    cases += [(f"3^{{{k}}}", 3 ** k) for k in (40, 41, 200)]
    cases += [(f"(-7)^{{{k}}}", (-7) ** k) for k in (23, 24, 101)]
    cases += [(f"\\binom{{{n}}}{{{k}}}", math.comb(n, k)) for n, k in ((62, 31), (100, 50), (100, 3), (500, 250))]
    cases += [("2^{64}-1", 2 ** 64 - 1), ("2^{70}-2^{70}+5", 5), ("-2^{63}", -2 ** 63), ("(-2)^{63}", -2 ** 63),
              ("12345678901234567890\\cdot 98765432109876543210", 12345678901234567890 * 98765432109876543210),
              ("25!-24!", math.factorial(25) - math.factorial(24)),
              ("|-2^{80}|", 2 ** 80)]
    return cases


@pytest.mark.parametrize("form, value", _exact_cases(), ids=[c[0] for c in _exact_cases()])
def test_computed_integers_past_int64_are_exact(form, value):
    """Found by a breaker: a computed integer past int64 was a double, so 2^{70} equalled 2^{70} + 1 written
    out, 3^{40} its neighbour, and 21! did not equal its own digits (factorials stopped at 20!). Integers
    now stay exact up to 1000 digits, compared digit for digit against Python's integers. (A fraction with
    one is a double, as past int64 before: 2^{70}/2 equals 2^{69} within rel_tol, not digit for digit.)"""
    assert answer.is_equiv(form, str(value)) and answer.is_equiv(str(value), form)
    assert not answer.is_equiv(form, str(value + 1)) and not answer.is_equiv(str(value - 1), form)
    assert answer.group_answers([form, str(value), str(value + 1)]).tolist() == [0, 0, 1]


def test_integers_past_the_exact_bound_are_doubles_and_stay_within_budget():
    """1000 digits are exact, literal or computed; past them an integer is a double again, past 10^308 an
    infinite one, which equals nothing but its own text. Exact zero times such a number is 0, not NaN."""
    assert answer.is_equiv("10^{999}", "1" + "0" * 999) and not answer.is_equiv("10^{999}", "1" + "0" * 998 + "1")
    assert answer.is_equiv("2^{4000}", "2^{4000}") and not answer.is_equiv("2^{4000}", "2^{4001}")
    assert answer.is_equiv("0\\cdot(2147483648)^{146}", "0")
    total = "+".join(["449!"] * 50)   # 50 exact 997-digit terms
    assert answer.is_equiv(total, str(50 * math.factorial(449)))
    assert not answer.is_equiv(total, str(50 * math.factorial(449) + 1))


BUDGET_ENDS_AT_A_BIG_PRODUCT = "+".join(["449!"] * 315) + "+1" * 308 + "+2^{64}\\cdot 3"


@pytest.mark.parametrize("form", ["10^{1000}\\cdot 10^{10}", "(10^{17})^{64}", "2^{3320}\\cdot 2^{40}",
                                  "1" + "0" * 999 + "\\cdot 10000000000", BUDGET_ENDS_AT_A_BIG_PRODUCT])
def test_a_product_past_the_bound_or_the_budget_is_a_double_not_a_crash(form):
    """Found by a reviewer: a big integer times an int64 whose exact product was refused (past 1000 digits,
    or the step budget spent) recursed into the same product until the stack overflowed: a SIGSEGV that
    took the caller's process down, through grade() and group_answers() too."""
    assert not answer.is_equiv(form, "5") and not answer.is_equiv("5", form)
    assert answer.grade(["5"], [f"The answer is ${form}$."]).tolist() == [False]
    assert answer.group_answers(["5", form]).tolist() == [0, 1]
    assert answer.grading_steps(form, "5") <= 200_000


# ---- found by a breaker of the exact integers ----------------------------------------------------------------

def test_a_chain_of_many_values_matches_only_its_last():
    """"x = 1 = 2 = ... = 199" matched any of its 199 values. A chain of more than two values after its
    label is a derivation: its last side is the answer. (Two values within 1% -- "x = 1/3 \\approx 0.33" --
    either may match; see the next test for two far apart.)"""
    many = "x = " + " = ".join(str(i) for i in range(1, 200))
    assert not answer.is_equiv("57", many) and answer.is_equiv("199", many)
    assert answer.grade(["57"], [f"$\\boxed{{{many}}}$"]).tolist() == [False]
    assert answer.is_equiv("3", "x = 1+1+1 = 2+1 = 3") and not answer.is_equiv("2", "x = 1+1+1 = 2+1 = 3")
    assert answer.is_equiv("1/3", "x = 1/3 \\approx 1.3")


@pytest.mark.parametrize("pred, matches, not_matched", [
    # found by a later breaker: two values far apart both matched, a hedge that doubles a policy's hits;
    # one counts now, as in Math-Verify (after "=" the last, around "\approx" the exact one before it)
    ("x = 3 \\approx 100", "3", "100"), ("3 \\approx 100", "3", "100"), ("x=3=100", "100", "3"),
    ("x = 3 = 4", "4", "3"),
])
def test_two_values_far_apart_in_one_answer_match_one_of_them(pred, matches, not_matched):
    assert answer.is_equiv(matches, pred) and not answer.is_equiv(not_matched, pred)
    assert answer.verify(f"\\boxed{{{not_matched}}}", f"The answer is $\\boxed{{{pred}}}$.") is False
    # two values within 1% (a value and its rounding) still match either
    assert answer.is_equiv("\\frac{1}{3}", "x = \\frac{1}{3} \\approx 0.33") and answer.is_equiv("0.33", "x = \\frac{1}{3} \\approx 0.33")


def test_a_value_computed_after_the_budget_ran_out_is_not_trusted():
    """The exact arithmetic fell back to doubles once the budget was spent, and 2^{1023} + 1 then equalled a
    pred worth 2^{1023}, one way round only. Past the budget a comparison is now false, both ways."""
    pred = "0\\cdot(" + "+".join(["\\binom{3000}{1500}"] * 83) + ")" + "+0" * 402 + "+2^{1023}"
    for gold in (str(2 ** 1023 + 1), str(2 ** 1023 - 12345678)):
        assert not answer.is_equiv(gold, pred) and not answer.is_equiv(pred, gold)
        assert answer.grade([gold], [f"${pred}$"]).tolist() == [False]


@pytest.mark.parametrize("unit", ["%", "%x", "\\%", "1,000%x"])
def test_many_percent_signs_are_normalized_in_linear_time(unit):
    """The percent factors' bracket depth was counted from the start of the answer at each sign: 16 KiB of
    percent signs took 35 s (a reviewer); now ~0.01 s."""
    text = unit * (16384 // len(unit))
    start = time.perf_counter()
    assert not answer.is_equiv("1", text)
    assert time.perf_counter() - start < 2.0


def test_a_plus_minus_against_many_items_is_charged_for_its_copies():
    """Each comparison with a \\pm copied both its sides uncharged: a 4 KB gold against 2,000 items took
    0.5-0.85 s within 17k steps. The copies are now charged by their size. (Inside a list the \\pm is now
    its two values, so the list it is compared with has one item more.)"""
    unit = "-1" + "!" * 20
    head = "1" + unit * (2000 // 22) + "\\pm 1"
    k = (4096 - len(head)) // 2
    gold, pred = ",".join([head] + ["1"] * (k - 1)), ",".join(["2"] * (k + 1))
    start = time.perf_counter()
    assert not answer.is_equiv(gold, pred)
    assert time.perf_counter() - start < 1.0
    assert answer.grading_steps(gold, pred) > 200_000   # the copies spend the budget (17k steps before)


@pytest.mark.parametrize("gold, pred, equal", [
    ("n=17", "\\text{m}+\\text{n}=17", False),   # the m had gone as a unit, leaving "+n=17"
    ("m+n=17", "\\text{m}+\\text{n}=17", True),
    ("17", "\\mathrm{m}+\\mathrm{n}=17", True),
    ("5", "5\\,\\mathrm{m}", True),                # after a value it is still a unit
    ("5", "\\frac{10}{2}\\text{ m}", True),
    ("5", "(2+3)~\\text{g}", True),
    ("25", "25\\text{ m}^2", True),
    ("2\\pi", "2\\pi\\,\\text{m}", True), ("4\\pi", "4\\pi~\\mathrm{g}", True),   # after a constant (a reviewer)
])
def test_a_one_letter_unit_goes_only_after_a_value(gold, pred, equal):
    assert answer.is_equiv(gold, pred) is equal


def test_answers_too_long_to_normalize_are_equal_only_when_identical():
    """Answers past 16 KiB were cut to their first 16 KiB before normalizing: two that differed only after it
    were equal (a breaker). Such an answer is now kept whole and compared as text."""
    head = "1," * 9000
    assert not answer.is_equiv(head + "2", head + "3")
    assert answer.is_equiv(head + "2", head + "2")
    assert not answer.is_equiv("\\boxed{" + head + "2}", head + "3")
    assert answer.group_answers([head + "2", head + "3", head + "2"]).tolist() == [0, 1, 0]


@pytest.mark.parametrize("form, equal, unequal", [
    ("(-1)^{2^{64}+1}", "-1", "1"),             # the exponent's double lost its parity
    ("(-1)^{2^{64}}", "1", "-1"),
    ("(10^{400})^{1}", "1" + "0" * 400, "1" + "0" * 399 + "1"),   # its digit estimate came from an infinite double
    ("(10^{400})^{2}", "1" + "0" * 800, "1" + "0" * 799 + "1"),
    ("\\binom{10}{2}", "45", "0"),
])
def test_powers_and_binomials_past_int64(form, equal, unequal):
    assert answer.is_equiv(form, equal) and not answer.is_equiv(form, unequal)


@pytest.mark.parametrize("form", ["\\binom{10}{\\log 100}", "\\binom{4}{0.5}", "\\binom{10}{2.0000000000000000000}"])
def test_a_binomial_with_a_lower_index_that_is_no_exact_integer_has_no_value(form):
    """It was 0: \\binom{10}{\\log 100} equalled 0 and not 45."""
    assert not answer.is_equiv(form, "0")


def test_voting_on_adversarial_answers_has_one_budget_for_the_call():
    """Each pair of answers had its own 200k steps and the call none: a dozen 4 KB lists of 1000-digit
    binomials took 4.2 s to group, 64 would take minutes. The call now has 200k steps per distinct form; once
    they are spent, the remaining answers join only their own form's class (1/2 and 0.5 apart: the binomials,
    with two votes each, are taken first)."""
    def binomials(shift):
        items = ["\\binom{3000}{%d}" % (1500 - i - shift) for i in range(300)]
        while len(",".join(items)) > 4000:
            items.pop()
        return ",".join(items)

    start = time.perf_counter()
    classes = answer.group_answers([binomials(s) for s in range(12)] * 2 + ["1/2", "0.5", "x=5", "y=5",
                                                                            "30 °C", "30 °F"]).tolist()
    assert time.perf_counter() - start < 3.0
    assert classes[:24] == list(range(12)) * 2 and classes[24] != classes[25]
    # past the budget only the same form joins a class: the normalized text alone had merged x=5 with y=5
    # and 30 °C with 30 °F, which the grader keeps apart (a breaker)
    assert classes[26] != classes[27] and classes[28] != classes[29]
    assert answer.group_answers(["1/2", "0.5", "1/2"]).tolist() == [0, 0, 0]   # within the budget: by value



@pytest.mark.parametrize("gold, pred, equal", [
    # found by a breaker: a comma before three digits inside brackets was read as a thousands separator, so an
    # interval, tuple or set collapsed into one number (a false positive a policy could learn) and a gold
    # written without spaces refused the same answer written with them
    ("360", "[0,360)", False), ("1234", "[1,234]", False), ("-3500", "(-3,500)", False),
    ("\\{3500\\}", "\\{3,500\\}", False), ("(1,2345)", "(1,2,345)", False),
    ("(2,12) \\cup (12,102)", "(2,12) \\cup 12102", False),
    ("(2,12) \\cup (12,102)", "(2, 12) \\cup (12, 102)", True), ("[0,360)", "[0, 360)", True),
    ("\\{3,500\\}", "\\{3, 500\\}", True), ("1,000", "1000", True), ("\\$1,234,567", "1234567", True),
    # a mixed number written with a space (a MATH500 gold) was a product: 137 1/2 equalled 68.5
    ("137 \\frac{1}{2}", "68.5", False), ("137 \\frac{1}{2}", "137.5", True), ("137 \\frac{1}{2}", "\\frac{275}{2}", True),
    ("12\\frac{3}{5}", "12 \\frac{3}{5}", True), ("2 \\frac{1}{2}", "1", False), ("2 \\frac{\\pi}{2}", "\\pi", True),
    ("1,000 \\frac{1}{2}", "1000.5", True), ("1{,}000\\frac{1}{2}", "1000.5", True),   # its separator first (a breaker)
])
def test_brackets_hold_lists_and_a_spaced_mixed_number_is_one_number(gold, pred, equal):
    assert answer.is_equiv(gold, pred) is equal and answer.is_equiv(pred, gold) is equal


@pytest.mark.parametrize("text, extracted", [
    # found by a breaker: the marker's colon and a line break before the answer gave ":" (7 of 800 Qwen outputs)
    ("Thus, the final answer is:\n\n\\[\n\\boxed{5}\n\\]", "5"),
    ("The final answer is: 5", "5"),
    ("So the final answer is:\n$\\frac{3}{4}$", "\\frac{3}{4}"),
])
def test_a_final_answer_after_a_colon_and_a_line_break(text, extracted):
    assert answer.extract_answer(text)[0] == extracted


@pytest.mark.parametrize("gold, pred, equal", [
    # found by a breaker: the first side of an equation only had to hold the variable, so "2x = 3" stated x = 3
    ("x=3", "2x=3", False), ("x=3", "x^2=3", False), ("x=3", "\\frac1x=3", False), ("x=3", "\\sqrt{x}=3", False),
    ("a=5", "a^3=5", False), ("6", "2x=6", False),
    # names still name: a variable, a product or quotient of symbols, a length, a tuple, a constant
    ("3", "x=3", True), ("5", "|PQ| = 5", True), ("2", "NO/BO = 2", True), ("7", "AB = 7", True),
    ("(3,2)", "(p,q) = (3,2)", True), ("\\frac{10}{9}", "1/2 = 10/9", True),
    # any side without a variable: a computation and its result (a breaker; "\\frac{2}{5}" had been no label)
    ("40", "\\frac{2}{5}\\times100 = 40", True), ("12", "0.15 \\times 80 = 12", True), ("5", "2+3 = 5", True),
    ("41", "\\frac{2}{5}\\times100 = 40", False), ("x+3", "x+3 = 5", False),
    # two sides within 1% both count only where one is a written decimal (a value and its rounding): "n = 2016
    # = 2017" had matched both (a breaker)
    ("2016", "n = 2016 = 2017", False), ("2017", "n = 2016 = 2017", True), ("1000", "999+1 = 1000 = 1001", False),
    ("\\pi", "x = \\pi = \\frac{22}{7}", False), ("\\frac{22}{7}", "x = \\pi = \\frac{22}{7}", True),
    ("2017", "2016 \\approx 2017", False), ("\\frac{1}{3}", "x = \\frac{1}{3} \\approx 0.33", True),
    ("0.33", "x = \\frac{1}{3} \\approx 0.33", True),
    # the decimal must be the other side rounded to its places ("2017.0" had matched 2016 too: a reviewer)
    ("2016", "n = 2016 = 2017.0", False), ("2016", "x = 2016.0 = 2017", False), ("2017", "x = 2016.0 = 2017", True),
    ("100.5", "x = 100 \\approx 100.5", False), ("\\pi", "x = \\pi \\approx 3.14", True),
    # a constant before \\approx is a value, not a variable named (a breaker: \\pi \\approx 3.14 was not \\pi)
    ("\\pi", "\\pi \\approx 3.1416", True), ("3.1416", "\\pi \\approx 3.1416", True), ("e", "e \\approx 2.718", True),
])
def test_an_equation_states_a_value_only_of_a_name(gold, pred, equal):
    assert answer.is_equiv(gold, pred) is equal


@pytest.mark.parametrize("gold, pred, equal", [
    # "x = 3", which normalizing makes "3", against an equation: the equations compared, as Math-Verify does
    # (all had been false: 3 is no side of these)
    ("x=3", "x-3=0", True), ("x=3", "3-x=0", True), ("x=3", "3=x", True), ("x=3", "0=x-3", True),
    (r"x=\frac{1}{2}", "2x-1=0", True),
    ("x=3", "x-4=0", False), ("x=3", "y-3=0", False), ("x=3", "x^2=9", False), (r"x=3", r"x\ge 3", False),
    ("3", "x-3=0", False),   # a bare value names no variable
    # the value must be the equation's root: a root far from the sample points passed their ratios (a breaker)
    ("n = 1500", "1.05n = 1575.5", False), ("x = 20000", "x - 20000.5 = 0", False), ("x = 1000", "1000.1 = x", False),
    ("x = 0", "0.00000001 = x", False), ("x = 20000", r"20000 + \frac{\pi}{10} = x", False),
    ("n = 1500", "1.05n = 1575", True), (r"x = \frac{1}{3}", "3x - 1 = 0", True),
])
def test_a_named_value_against_an_equation(gold, pred, equal):
    assert answer.is_equiv(gold, pred) is equal
    assert answer.is_equiv(pred, gold) is equal


@pytest.mark.parametrize("gold,pred,equal", [
    ("x = 2", "y = 2", False), ("n = 5", "m = 5", False), ("AB = 5", "CD = 5", False),   # other unknowns
    ("x = 2", "x = 2", True), ("x = 2", "X = 2", True), ("x = 2", "2", True), ("5", "k = 5", True),
    ("x = 2", "x = 2.0", True), ("x = 2", "y = 3", False),
    # one name in another order or form (a reviewer): a segment, a product, a prime, a digit
    ("AB = 5", "BA = 5", True), ("xy = 6", "yx = 6", True), ("x' = 2", "x = 2", True), ("a1 = 3", "a = 3", True),
])
def test_answers_named_by_other_names_differ(gold, pred, equal):
    """From the earlier notes' open list: "x = 2" had equalled "y = 2" (both names dropped); Math-Verify tells
    answers about different unknowns apart (and "x" from "X" no more than cotnpot does). A name on one side
    only is still a value."""
    assert answer.is_equiv(gold, pred) is equal and answer.is_equiv(pred, gold) is equal


# ---- found by a grader breaker (2026-12-03) ------------------------------------------------------------------

@pytest.mark.parametrize("gold,pred,equal", [
    ("R-r", "r-R", False), (r"\frac{M}{M+m}", r"\frac{m}{M+m}", False), ("3R^2", "3r^2", False),
    ("(R,r)", "(r,R)", False), (r"\binom{N}{n}", r"\binom{n}{N}", False), (r"\Gamma(5)", r"\gamma(5)", False),
    # words and choice letters stay equal without case, also in lists, with hyphens and marks (a reviewer)
    ("Evelyn", "evelyn", True), ("(C)", "(c)", True), (r"\text{E}", "e", True), ("R-r", "R-r", True),
    ("A, C", "a, c", True), ("(A), (C)", "(a), (c)", True), ("Red, Blue", "red, blue", True),
    ("North-East", "north-east", True), ("Sunday!", "sunday!", True), ("A-B", "a-b", False),
])
def test_letters_of_other_case_are_other_names_in_math(gold, pred, equal):
    """R - r had equalled r - R: when the parsed forms differed, the texts were compared once more without
    case, so R and r became one name (radii R and r, masses M and m)."""
    assert answer.is_equiv(gold, pred) is equal and answer.is_equiv(pred, gold) is equal


@pytest.mark.parametrize("gold,pred,equal", [
    ("listen", "silent", False), ("Evelyn", "Evelny", False), ("north", "thorn", False),
    (r"\text{listen}", r"\text{silent}", False), ("Devon and Evelyn", "Evelyn and Devon", False),
    ("Evelyn", "evelyn", True), ("none", r"\text{None}", True),
    # short runs and capitals stay products of names
    ("xy", "yx", True), ("abc", "cab", True), ("ABCD", "BCDA", True),
])
def test_words_are_not_products_of_letters(gold, pred, equal):
    """Found by a breaker: where both answers are letters only, they were compared as products of one-letter
    names first, so every anagram was equal: "listen" and "silent", a name and its misspelling. A run of four
    or more lowercase letters, or a capitalized one of three or more, is now a word, compared as text."""
    assert answer.is_equiv(gold, pred) is equal and answer.is_equiv(pred, gold) is equal


def test_a_final_answer_in_words_after_a_box_leaves_the_box_the_answer():
    """A real MATH gold solution ends "=\\boxed{\\frac{130}{231}}. The final answer is positive, because ...":
    its gold was "a positive number)" and all eight correct responses were graded wrong. And "The final
    answer is not 5." stated 5, over the box."""
    gold = r"So the probability is $\boxed{\frac{130}{231}}$. The final answer is positive, because a is a positive number)"
    assert answer.extract_answer(gold) == (r"\frac{130}{231}", "boxed")
    assert answer.verify(gold, r"The answer is $\boxed{\frac{130}{231}}$.")
    assert not answer.verify("#### 5", r"Thus $\boxed{6}$ is the answer. The final answer is not 5.")
    assert answer.verify("#### 6", r"Thus $\boxed{6}$ is the answer. The final answer is not 5.")
    # words with a number, or without a box, or that state an answer after a box (a reviewer), as before
    assert answer.extract_answer("The final answer is Evelyn.") == ("Evelyn", "final_answer")
    assert answer.extract_answer(r"$\boxed{2}$ Final Answer: The final answer is Evelyn and Bob.") == \
        ("Evelyn and Bob", "final_answer")
    assert answer.extract_answer(r"$\boxed{4}$ The final answer is 5 apples.") == ("5", "final_answer")


@pytest.mark.parametrize("text", [
    "I think the final answer is 3, but let me verify.\n\nChecking again we get 4.\n\nSo the answer is \\boxed{4}.",
    "Suppose the final answer is 3. Then we get a contradiction. Hence \\boxed{4}.",
    "A common mistake is to say the final answer is 3. In fact it is $\\boxed{4}$.",
    "The final answer is \\boxed{3}.\n\nWait, I made an error. The correct answer is \\boxed{4}.",
    "The final answer is 3. Hold on, I misread the question: it is \\boxed{4}.",
    # math with "<|" is no special token, "Example:" in the solution's words no next problem (a breaker)
    "The final answer is $3$. Wait: since $|x-1|<|x+1|$ holds, it is \\boxed{4}.",
    "The final answer is 3. Wait.\nExample: take $x = 1$; then we get \\boxed{4}.",
])
def test_a_box_after_the_stated_final_answer_is_the_answer_gone_on_to(text):
    """Found by a breaker: "final answer is X" anywhere had won over every later box, so a self-correction,
    a supposition or a guess on the way was graded, not the answer the solution ended with. Where words
    doubt the statement, a later box in the solution's own text is its answer."""
    assert answer.extract_answer(text) == ("4", "boxed")
    assert answer.verify("#### 4", text) and not answer.verify("#### 3", text)


@pytest.mark.parametrize("gold,text", [
    # a clause after the stated answer (a third breaker): its last "is" had been taken
    ("5", "Therefore, the final answer is $5$, which is the smallest prime that works."),
    ("18", "The final answer is $18$, and this is consistent."),
    ("18", "The final answer is 18 dollars, which is correct."),
    ("18", "The final answer is the number of eggs, which is 18."),       # as before: no answer before it
    ("5", "The final answer is $a+b$, which is \\boxed{5}."),             # as before: a box marks the answer
    ("3", "The final answer is: the maximum is 3, since no more than 3 fit."),
    # a price ends its sentence: the "$" of "\\$18" or a lone "$18" is no math (they had run into "correct.")
    ("18", "Final Answer: The final answer is $\\$18$. I hope it is correct."),
    ("18", "Final Answer: The final answer is \\$18. I hope it is correct."),
    ("18", "Final Answer: The final answer is $18. I hope it is correct."),
    ("18.5", "Final Answer: The final answer is $18.50. I hope it is correct."),
    # DeepSeek-R1's and QwQ's closing heading states the answer after a tentative one in the thinking
    ("5", "<think>so the final answer is 4.\n\nHmm, let me re-read the problem. It asks for squares. So 5.\n"
          "</think>\n\n**Final Answer**\n\\boxed{5}"),
    # a heading only where "final answer" stands alone on its line before math or a box; a clause's words are
    # cut only after an answer that begins the sentence (a fourth breaker: each had been graded wrong)
    ("36", "## Step 3: Compute the final answer\nFirst, 9 * 2 = 18 per day. Then over 2 days, 18 * 2 = 36.\n\n"
           "Therefore, the answer is 36."),
    ("20", "Let me double check my final answer\n2 * 20 = 40. Correct.\n\n\\boxed{20}"),
    ("2.5", "**Final Answer**\nIt takes 2 hours and 30 minutes, i.e. 2.5 hours."),
    ("5", "The final answer is the number of primes, and that is $5$."),
    ("5", "The final answer is the number of primes less than 12, and that number is 5."),
    ("5", "The final answer is $a+b$, which is $\\boxed{5}$."),
    # retractions as reasoning models write them
    ("5", "So the final answer is 4.\n\nWait! I misapplied the rule.\n\\boxed{5}"),
    ("5", "So the final answer is 4. Wait\u2014I misapplied the rule. \\boxed{5}"),
    ("5", "So the final answer is 4.\n\nBut wait\nthe rule is different. \\boxed{5}"),
    ("5", "So the final answer is 4. That doesn't seem right. \\boxed{5}"),
    ("5", "So the final answer is 4. Upon re-evaluation, the answer is \\boxed{5}"),
])
def test_stated_answers_as_models_write_them(gold, text):
    assert answer.verify("#### " + gold, text), answer.extract_answer(text)


def test_the_latest_statement_of_a_final_answer_is_the_answer():
    """A reviewer: "The final answer is 3. ... Final answer: \\boxed{4}" had been 3, the form "final answer
    is" read before "final answer:" wherever each stood."""
    text = "The final answer is $3$.\n\nLet me look at the second step again.\n\nFinal answer: $\\boxed{4}$"
    assert answer.extract_answer(text) == ("4", "final_answer")
    minerva = "Final Answer: The final answer is $5$. I hope it is correct."
    assert answer.extract_answer(minerva) == ("5", "final_answer")


@pytest.mark.parametrize("text", [
    # a template's placeholder, a few-shot prompt's next problem, a chat turn and code after the answer are
    # not the solution going on (a reviewer)
    "Final Answer: The final answer is $3$. I hope it is correct.\n\nNote: write it as \\boxed{answer}.",
    "Final Answer: The final answer is $3$. I hope it is correct.\n\\boxed{\\text{your answer}} \\boxed{?} \\boxed{\\ldots}",
    "Final Answer: The final answer is $3$. I hope it is correct.\n\nProblem:\nFind $x$ if $2x=10$.\n\n"
    "Solution:\nWe have $x=\\boxed{5}$.",
    "The final answer is $3$.\n\nHuman: What is 2+3? Put your answer in \\boxed{}.\n\nAssistant: \\boxed{5}",
    "The final answer is 3.\n\n```python\nprint(r'\\boxed{' + str(ans) + '}')\n```",
    "Final Answer: The final answer is $3$. I hope it is correct.\n\n### Problem 2:\nSolve $2x=10$: $x=\\boxed{5}$.",
    "The final answer is $3$.\n\n### Instruction:\nAdd 2 and 3, answer in \\boxed{}.\n### Response:\n\\boxed{5}",
    "The final answer is 3.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nWait, and 2+3? \\boxed{5}",
    "The final answer is 3. Wait, write it as \\boxed{\\text{your answer here}} or \\boxed{[answer]} or \\boxed{<answer>}.",
    "The final answer is 3.<eos>Now, what is $2+3$? Wait, \\boxed{5}",
    "The final answer is 3.<\uff5cend\u2581of\u2581sentence\uff5c><\uff5cUser\uff5c>Wait: \\boxed{5}",
    "The final answer is 3.[/INST] Wait, next: \\boxed{5}",
    "The final answer is 3.\n\nProblem 2. Wait, what is 2+3? \\boxed{5}",
    "The final answer is 3.\n\n## Problem 2\nWait, what is 2+3? \\boxed{5}",
    "The final answer is 3.\nuser\nWait, and 2+3? \\boxed{5}",
    # boxes after a statement not in doubt restate or check it (reviewers); a problem's own terms and a
    # solution that checks its answer are no doubt (a breaker)
    "The final answer is $\\boxed{3}$.\n\n### Verification\nPlugging $x=3$: $f(3)=\\boxed{0}$ as required.",
    "The final answer is $\\boxed{3}$. Let me verify: $2 \\cdot 3 = \\boxed{6}$, which matches.",
    "I think this is right: the final answer is $3$. Indeed, $3+3=\\boxed{6}$.",
    "The final answer is $3$. There is no error: the error term is $\\boxed{0}$.",
    "Assume the speed is constant; the final answer is 3. Check: in 2 hours it goes \\boxed{6}.",
    "The final answer is $3$. Proof by contradiction: assume $n=\\boxed{8}$.",
    "The final answer is 3. The average wait time is \\boxed{60} seconds.",
    "The final answer is $\\boxed{3}$. Let me re-check: $2\\cdot3=\\boxed{6}$.",
    "The final answer is $3$. Hmm, that matches: $3+3=\\boxed{6}$.",
    "The final answer is 3. To revisit the setup, the total is \\boxed{6}.",
    "The final answer is 3. Note that an incorrect approach gives \\boxed{5}.",
    "The final answer is $3$. (A common mistake is to answer $\\boxed{4}$.)",
    "The final answer is $3$. Wait, write it as \\boxed{\\ }.",
    "The final answer is $\\boxed{3}$.\n\nNote: counting ordered pairs we would get $\\boxed{6}$ instead.",
    "The final answer is $3$.\n\nTherefore, the waiting time is $\\boxed{3}$ hours and $\\boxed{20}$ minutes.",
])
def test_a_box_past_the_solutions_own_text_leaves_the_stated_answer(text):
    assert answer.extract_answer(text) == ("3", "final_answer")


@pytest.mark.parametrize("text,extracted", [
    (r"The final answer is $3$ or \boxed{4}.", "4"),   # the box, as the rule for boxes reads it
    (r"The final answer is $3$, \boxed{4}.", "4"),
    (r"The final answer is $3$ (or \boxed{4}).", "4"),
    (r"The final answer is $18$ \boxed{18}.", "18"),    # not a list of two (a reviewer)
    (r"The final answer is $m+n = 7$, \boxed{7}.", "7"),
    (r"The final answer is $a + b = 2 + 3 = $\boxed{5}.", "5"),
    (r"The final answer is $x = \boxed{5}$.", "5"),     # a box in the math, as before
    (r"The final answer is $a+b$, which is \boxed{5}.", "5"),   # a box in a reason still marks the answer
    # math in an aside is left out, as before: it explains ("that is"), restates in another form or unit, or
    # offers a hedge's second option, whose first alone is credited, as if it stood alone (a reviewer)
    (r"The final answer is $12$ (that is, $3 \times 4$).", "12"),
    (r"The final answer is $3$ (or $3.0$).", "3"),
    (r"The final answer is $3$ (or $4$).", "3"),
    (r"The final answer is $3$ (or, equivalently, $\frac{6}{2}$).", "3"),
    (r"The final answer is $\sqrt{2}$ (or approximately $1.414$).", r"\sqrt{2}"),
    (r"The final answer is $5$ dollars (or $500$ cents).", "5"),
    # between boxes: an arrow of implication derives, in either case; "or approximately" rounds; "->" maps
    (r"So \boxed{7 - 1} \Longrightarrow \boxed{6}.", "6"),
    (r"So \boxed{\sqrt{2}} (or approximately \boxed{1.414}).", r"\sqrt{2}"),
    (r"So x -> \boxed{2}, y -> \boxed{3}.", "2, 3"),
])
def test_boxes_beside_math_in_the_stated_final_answer_are_the_answer(text, extracted):
    """Found by a breaker: in the stated final answer's sentence only the math spans counted, so "$3$ or
    \\boxed{4}" was 3, a hedge's unboxed option credited and the box ignored. Where its math holds no box,
    boxes beside it are the answer; an aside opening with "or" offers another answer."""
    assert answer.extract_answer(text)[0] == extracted
    assert answer.verify("#### 3", text) is (extracted == "3")
    assert answer.verify("#### 5", text) is (extracted == "5")


@pytest.mark.parametrize("gold,pred,equal", [
    ("52_8", "52_{8}", True), ("4210_{5}", "4210_5", True), ("2516_8", "2516_{8}", True),
    ("52_8", "52_{9}", False), ("52_8", "52", False),
])
def test_a_numerals_base_braced_or_not(gold, pred, equal):
    """Real MATH500 golds write a base both ways (52_8, 4210_{5}); the two forms had differed."""
    assert answer.is_equiv(gold, pred) is equal and answer.is_equiv(pred, gold) is equal


@pytest.mark.parametrize("gold,pred,equal", [
    ("8", "8 cookies", True), ("5", r"5\text{ eggs}", True), ("12", "12 Eggs left", True),
    ("1,000", "1,000 widgets", True),
    # words that change or join the number keep it from matching
    ("5", "5 million", False), ("5", "5 or 6", False), ("2", "2 squared", False), ("8", "8 x", False),
    ("3", "3 sqrt two", False), ("8", "-8 cookies", False),
    # fractions and signs in words (a reviewer)
    ("3", "3 eighths", False), ("7", "7 thousandths", False), ("5", "5 negative", False),
])
def test_a_number_and_the_noun_it_counts(gold, pred, equal):
    """GSM8K answers name what they count with any noun: "The answer is 8 cookies." had not been 8 (only a
    list of unit words was dropped)."""
    assert answer.is_equiv(gold, pred) is equal and answer.is_equiv(pred, gold) is equal
    if equal:
        assert answer.verify(f"#### {gold}", f"So in all, the answer is {pred}.")


@pytest.mark.parametrize("gold,pred,equal", [
    (r"\{1\pm\sqrt{5},-2\}", r"\{1+\sqrt5, 1-\sqrt5, -2\}", True), (r"\pm 1, \pm 2", "1,-1,2,-2", True),
    (r"3\pm2\sqrt2", r"\{3\pm2\sqrt2\}", True),
    (r"\{1\pm\sqrt{5},-2\}", r"\{1+\sqrt5, -2\}", False), (r"\{1\pm\sqrt{5},-2\}", r"\{1+\sqrt5, 1-\sqrt5, 2\}", False),
    # a set of one value is that value (Math-Verify agrees); not a set of two
    ("5", r"\{5\}", True), (r"\{5\}", "6", False), (r"\{5\}", r"\{5,6\}", False)
])
def test_plus_minus_inside_a_set_is_its_two_values(gold, pred, equal):
    """A real MATH500 gold, \\{1\\pm\\sqrt{5},-2\\}, matched neither its three values written out nor itself
    in other forms: a \\pm inside a list or set was one item."""
    assert answer.is_equiv(gold, pred) is equal and answer.is_equiv(pred, gold) is equal


@pytest.mark.parametrize("gold,pred,equal", [
    ("3x^2+2", "3x²+2", True), ("3x+2", "3x²+2", False), ("9", "3²", True), ("10", "10²", False),
    ("8", "2³", True), (r"\pi r^2", "πr²", True), ("x^2+y^2=1", "x²+y²=1", True),
    ("15", "15 cm²", True), ("15", "15 m²", True), ("15", "15 m³", True),
    (r"\frac12", "½", True), ("2.5", "2½", True), ("0.75", "¾", True), ("-6", "–6", True),
])
def test_unicode_superscripts_fractions_and_dashes(gold, pred, equal):
    """A ² was dropped everywhere, not only after a unit: 3x²+2 had equalled 3x+2 and not 3x^2+2; ½ and the
    en dash were not read."""
    assert answer.is_equiv(gold, pred) is equal and answer.is_equiv(pred, gold) is equal


@pytest.mark.parametrize("gold,pred,equal", [
    ("|x-5|", "5-x", False), ("|x+10|", "x+10", False), (r"\sqrt{x^2-20x+100}", "10-x", False),
    (r"\frac{1}{|x-12|}", r"\frac{1}{12-x}", False), ("|x-8|+|x-12|", "20-2x", False), ("|a-b-5|", "b+5-a", False),
    ("|x-40|", "40-x", False), ("|x+30|", "x+30", False), (r"\sqrt{(x-100)^2}", "100-x", False),
    # with a decimal written, where no irrational part makes doubles noisy there (a second breaker)
    ("|x-5|", "5.0-x", False), ("|x-7|", "7-x+0.0", False), ("0.5|x-10|", "5-0.5x", False),
    ("x^2+0.5x", r"x^2+\frac{x}{2}", True), ("1.5x^3-2.25x", r"\frac{3}{2}x^3-\frac{9}{4}x", True),
    ("|x-50|+|y|", "50-x+|y|", False),
    # equal ones stay equal out there: absolute values, roots of squares, growth past a double, logs of squares
    (r"\sqrt{x^2-20x+100}", "|x-10|", True), ("|x|", r"\sqrt{x^2}", True), (r"e^{x^2}", r"(e^{x})^{x}", True),
    (r"\ln(x^2)", r"2\ln|x|", True), (r"(x-\sqrt{2})^9", r"(\sqrt{2}-x)^9 \cdot (-1)", True),
    (r"e^{-t/8}", r"e^{-0.125t}", True),
])
@QUAD
def test_values_that_part_far_from_the_sample_points(gold, pred, equal):
    """|x-5| had equalled 5-x: every sample point lay below 5 (and above -6), where the two agree. Three
    points far out (|x| 12 to 45) now refute; they never accept on their own."""
    assert answer.is_equiv(gold, pred) is equal and answer.is_equiv(pred, gold) is equal


@QUAD
def test_a_far_point_where_quad_precision_cannot_tell_refutes_nothing():
    """A reviewer: (x+20)^{30} against its expansion cancels more at the far points than quad precision
    holds; "cannot tell" had been read as "different" there."""
    import sympy
    x = sympy.Symbol("x")
    expansion = sympy.latex(sympy.expand((x + 20) ** 30))
    assert answer.is_equiv("(x+20)^{30}", expansion) and answer.is_equiv(expansion, "(x+20)^{30}")
    assert not answer.is_equiv("(x+20)^{30}", expansion + "+1")


@pytest.mark.parametrize("gold,pred,equal", [
    ("5", r"\tan(\pi/2)-\tan(\pi/2)+5", False), (r"\tan\frac{\pi}{4}", "1", True), (r"\sec\frac{\pi}{3}", "2", True),
    (r"\tan x", r"\frac{\sin x}{\cos x}", True),
    pytest.param("0", r"\sin(64\pi x)", False, marks=QUAD), pytest.param("x", r"x+\sin(128\pi x)", False, marks=QUAD),
    (r"\begin{pmatrix}1&2\\3&4\end{pmatrix}", r"\begin{vmatrix}1&2\\3&4\end{vmatrix}", False),
    (r"\begin{vmatrix}1&2\\3&4\end{vmatrix}", r"\begin{vmatrix}1&2\\3&4\end{vmatrix}", True),
])
def test_poles_grid_periodic_terms_and_determinants(gold, pred, equal):
    """Adversarial forms from the breaker: \\tan at its pole was 1.6e16 (so a padding of two of them cancelled
    to any value), \\sin(64\\pi x) vanished at every sample point (all on a 1/64 grid), and a vmatrix (a
    determinant) equalled the pmatrix of its entries."""
    assert answer.is_equiv(gold, pred) is equal and answer.is_equiv(pred, gold) is equal


@pytest.mark.parametrize("gold,pred,equal", [
    (r"(2,\infty)", "x>2", True), (r"[2,\infty)", r"x\ge 2", True), (r"(-\infty,0]", r"x\le 0", True),
    (r"(-\infty,0]", r"0 \ge x", True), (r"x \in (2,\infty)", "x>2", True),
    (r"(-\infty,0)", r"x\le 0", False), (r"(2,\infty)", "x<2", False), (r"x \in [2,\infty)", "x>2", False),
    (r"(2,\infty)", "x>3", False), ("x>2", "2<x", True),
])
def test_a_one_sided_inequality_is_its_ray_with_set_relation(gold, pred, equal):
    """The breaker's (2,\\infty) against x > 2 differed even with set_relation (Math-Verify's
    allow_set_relation_comp), which took only two-sided chains; without it they stay apart, as in Math-Verify."""
    assert answer.is_equiv(gold, pred, set_relation=True) is equal
    assert answer.is_equiv(pred, gold, set_relation=True) is equal
    if gold.startswith(("(", "[")):
        assert not answer.is_equiv(gold, pred)


@pytest.mark.parametrize("gold,pred,equal", [
    ("5", r"-5 \cdot -1", True), ("-6", r"2\times -3", True), ("-6", "2*-3", True), ("6", "-2*-3", True),
    ("-8", "2^3*-1", True), ("-1", "2*-3+5", True), ("6", "2*-3", False),
    (r"(-\infty,\infty)", r"\mathbb{R}", True), (r"(0,\infty)", r"\mathbb{R}", False),
])
def test_a_sign_after_an_explicit_product_and_the_reals(gold, pred, equal):
    """From the breaker: "-5 \\cdot -1" and "2*-3" (a program's or a model's form) did not parse, and
    \\mathbb{R} was not the interval of all reals (Math-Verify reads both)."""
    assert answer.is_equiv(gold, pred) is equal and answer.is_equiv(pred, gold) is equal


@pytest.mark.parametrize("gold,pred,equal", [
    # equal forms through functions of large arguments at the far points (breaker, round 2)
    (r"\sin((x+3)^5)", r"\sin(x^5+15x^4+90x^3+270x^2+405x+243)", True), (r"\sin(e^{2x})", r"\sin((e^{x})^2)", True),
    (r"\cos(e^{x})", r"\cos(e^{x/2}e^{x/2})", True), (r"\sin(x^6+\pi)", r"-\sin(x^6)", True),
    pytest.param(r"\sin(100000\pi)", "0", True, marks=QUAD), (r"\frac{3^{80}}{3}", "3^{79}", True), (r"\sqrt{3^{160}}", "3^{80}", True),
    (r"\frac{10^{50}}{2}", r"5\cdot10^{49}", True),
    # names, ranges, nested sets, branches
    ("P(A)", "P(a)", False), ("f(X)", "f(x)", False), ("xY", "Xy", False), ("NORTH", "north", True),
    ("3–5", "-2", False), (r"\{\{5\}\}", "5", False),
    (r"\sqrt{-\pi}", r"-i\sqrt{\pi}", False), (r"\sqrt{-\pi}", r"i\sqrt{\pi}", True), (r"\ln(-e)", r"1+i\pi", True),
    # past a double's range an irrational value is compared in quad precision (both had been inf, unequal)
    pytest.param(r"e^{(x+1)^{6}}", r"e^{x^{6} + 6 x^{5} + 15 x^{4} + 20 x^{3} + 15 x^{2} + 6 x + 1}", True, marks=QUAD),
    pytest.param(r"e^{(x+1)^{6}}", r"e^{x^{6} + 6 x^{5} + 15 x^{4} + 20 x^{3} + 15 x^{2} + 6 x + 2}", False, marks=QUAD),
    pytest.param(r"e^{1000}", r"(e^{500})^2", True, marks=QUAD), (r"e^{1000}", r"e^{1001}", False),
    # number words
    ("7", "7 grand", False), ("3", "3 sixteenths", False), ("12", "12 below zero", False), ("3", "3 months", True),
])
def test_found_by_the_second_grader_breaker(gold, pred, equal):
    """Regressions of this session's changes (quad precision's tolerance against a function's amplified
    rounding at the far points, the integer rule past 2^112, the case rule, the en dash, the singleton
    set) and older faults (a negated real on the lower branch, number words)."""
    assert answer.is_equiv(gold, pred) is equal and answer.is_equiv(pred, gold) is equal


def test_the_far_points_do_not_run_an_equal_pair_out_of_its_budget():
    """255 terms \\tan(10^{300}x) against the same with one factor order changed had fitted the budget
    (179k steps); the far points ran it out, a difference then."""
    gold = "+".join([r"\tan(10^{300}x)"] * 255)
    pred = "+".join([r"\tan(10^{300}x)"] * 254 + [r"\tan(x10^{300})"])
    assert answer.is_equiv(gold, pred)
    assert answer.grading_steps(gold, pred) <= answer._C.max_grading_steps()


@pytest.mark.parametrize("text,extracted", [
    ("The final answer is 5 million.", "5 million"), ("The final answer is 2 dozen eggs.", "2 dozen eggs"),
    ("The final answer is 3 squared.", "3 squared"), ("Final Answer: The final answer is 18 apples.", "18"),
])
def test_a_stated_final_answer_keeps_a_word_that_changes_its_number(text, extracted):
    """The second breaker: "The final answer is 5 million." gave 5 (the last number of a stated answer in
    words), so it equalled 5; now a word that changes the number keeps it."""
    assert answer.extract_answer(text) == (extracted, "final_answer")
    assert not answer.verify("#### 5", "The final answer is 5 million.")


@pytest.mark.parametrize("text,extracted", [
    (r"The final answer is 7 hours and 30 minutes, i.e. \boxed{7.5}.", "7.5"),
    (r"The final answer is 12 apples, e.g. $\boxed{12}$ of them.", "12"),
    ("The final answer is 7.5 hours, i.e. 7 hours 30 minutes.", "7.5"),
])
def test_a_box_after_an_abbreviation_in_the_stated_final_answer_is_the_answer(text, extracted):
    """A breaker: "The final answer is 7 hours and 30 minutes, i.e. \\boxed{7.5}" ended its sentence at "i.e."
    and took the last number before it, 30. Without a box the words before the abbreviation still decide."""
    assert answer.extract_answer(text) == (extracted, "final_answer")
    assert answer.verify(r"$\boxed{7.5}$", text) is (extracted == "7.5")


@pytest.mark.parametrize("gold,text,extracted", [
    ("18", "She sells 9 eggs at $2 each, so she makes $18.", "18"),               # two prices, not math
    ("18", "**Final Answer:** 18", "18"), ("18", "The final answer is **18**.", "18"),   # markdown bold
    ("18", "Therefore, the answer is **18**.", "18"),
    ("18", "The answer is 18 dollars per day.", "18"), ("18", "The answer is approximately 18.", "18"),
    ("18", "The answer is approx. 18.", "18"), ("5", "The answer is 5, i.e. 500 cents.", "5"),
    ("2", "The final answer is 2 (not 3).", "2"), ("6", "The final answer is 6 (rounded from 5.8).", "6"),
    ("10", "The area of the rectangle is 10 cm^2.", "10"),                          # a unit's power
    ("5000000", "The answer is 5 million.", "5 million"),
])
def test_extraction_of_answers_stated_in_plain_text(gold, text, extracted):
    """A breaker of real-output extraction: each had extracted the wrong span ("2 each, so she makes", "**18**",
    "18 dollars per day", "5, i.e", "3", "5.8", "2") and failed against its gold."""
    assert answer.extract_answer(text)[0] == extracted
    assert answer.verify(gold, text)


def test_a_scaled_number_in_a_sentence_keeps_its_scale():
    """"So he made 5 million dollars." had given 5, equal to a gold of 5."""
    assert answer.extract_answer("So he made 5 million dollars.")[0] == "5 million"
    assert not answer.verify("5", "So he made 5 million dollars.")
    assert answer.verify("5000000", "So he made 5 million dollars.")


@pytest.mark.parametrize("gold,pred,equal", [
    ("5", "five", True), ("25", "twenty-five", True), ("25", "Twenty five", True), ("302", "three hundred and two", True),
    ("100", "a hundred", True), ("3", "Three trucks", True), ("5", "five million", False), ("7", "seventy", False),
    ("5000000", "five million", True), ("24", "two dozen eggs", True), ("1100", "eleven hundred", True),
    ("10000", "ten thousand", True), ("500", "five hundred", True),
    ("5000000", "5 million", True), ("2500000", "2.5 million", True), ("-3000", "-3 thousand", True),
    ("36", "3 dozen eggs", True), ("5", "5 million", False), ("0.5", "0.0005 thousand", True),
    ("10", "10 km/h", True), ("10", "10\\text{ m/s}", True), ("75", "75^\\circ \\text{F}", True), ("10", "10 °C", True),
    ("10", "10 lb", True), ("10", "10 hrs", True), ("10", "10 oz", True), ("10", "10 C", False),
    ("18", "\xa018", True), ("1000", "1\u2009000", True), ("1000", "1\u202f000", True), ("18", "\ufeff18\u200b", True),
])
def test_numbers_in_words_units_and_unicode_spaces(gold, pred, equal):
    """The same breaker: numbers in words, scale words, units with a slash or a temperature scale, and Unicode
    spaces had all stayed text, unequal to their numbers."""
    assert answer.is_equiv(gold, pred) is equal
    assert answer.is_equiv(pred, gold) is equal


@pytest.mark.parametrize("gold,text,graded", [
    # several numbers in a stated answer: whichever were taken could be wrong (a reviewer and a breaker)
    ("6", "The answer is 5, not 6.", False), ("6", "The answer is 5 or 6 apples.", False),
    ("3", "The answer is 10 minus 3.", False), ("200", "The answer is 5 percent of 200.", False),
    ("4", "The answer is between 3 and 4.", False), ("6", "The final answer is 5 or 6 apples.", False),
    ("18", "The answer is 18, since 9 x 2 = 18.", True), ("18", "The final answer is the total cost (18 dollars).", True),
    # "approx." after the answer ends its sentence; "cf."/"vs." do not reach a box
    ("18", "Final Answer: The final answer is 18 approx. I hope it is correct.", True),
    ("20", "The answer is 18 approx. She used 20 eggs.", False),
    ("7", r"The final answer is 7 apples vs. \boxed{5} pears.", True),
    ("9", r"Final Answer: Since \boxed{x=3} is the root, the area is 9 square units.", True),
    # Python's power stays a power; markdown bold around parentheses goes
    ("1024", "The answer is 2 ** 10.", True), ("0.5", "The answer is 2**-1.", True),
    ("18", "The answer is (**18**).", True),
    # math between dollars that holds words; a unit's power only
    ("12", "Let the width be $w = 3$. Then $Area = length \\times width = 12$.", True),
    ("4", "The highest power in the expansion is x^4.", True),
    ("2000000", "So the area is 2 million m^2.", True),
    # scale words that are no scale of the answer
    ("5", "She has 5 hundred-dollar bills.", True), ("3", "How many dozen? She needs 3 dozen eggs.", True),
])
def test_stated_answers_with_several_numbers_and_the_first_rules_regressions(gold, text, graded):
    """A breaker and a reviewer of the rules above: each had been graded the other way."""
    assert answer.verify(gold, text) is graded, answer.extract_answer(text)


@pytest.mark.parametrize("gold,pred,equal", [
    ("5", "-five", False), ("-5", "-five", False), ("0", "zero point five", False), ("half", "one half", False),
    ("g", "g \\circ C", False), ("x", "x^\\circ C", False), ("2", "2m/s", False), ("10", "10 Km/h", True),
    ("x", "x min", False), ("15000000", "1,5 million", False), ("1500000", "1,500 thousand", True),
])
def test_the_normalizers_new_rules_keep_to_their_forms(gold, pred, equal):
    """The same review: a sign before a spelled number had been dropped, words after it ignored, a composition
    with C read as Celsius, algebra read as units, a decimal comma as a thousands separator."""
    assert answer.is_equiv(gold, pred) is equal


@pytest.mark.parametrize("text", [r"The final answer is \$18 per day.", "The answer is 18 dollars per day.",
                                  "He earns $18 per day."])
def test_a_rate_per_unit_is_its_number(text):
    """A breaker: "\\$18 per day" had kept "per", one of the words that keep a number whole, and was no number."""
    assert answer.verify("18", text)
    assert answer.is_equiv("18", "18 per day") and answer.is_equiv("5", "5 per cent")


def test_a_stated_answer_of_many_parentheses_is_extracted_in_linear_time():
    """Leaving out asides searched each '(' its ')': quadratic in "The final answer is ((((...". A stated answer
    in words is a phrase: past 1000 bytes it is no number (1.5 s of CPU for one text of 200,000 parentheses)."""
    import time
    for text in ["The final answer is 5 apples " + "(abc " * 200_000, "The answer is 7 apples " + "(abc " * 200_000]:
        start = time.process_time()
        answer.extract_answer(text)
        assert time.process_time() - start < 0.5   # 0.02 s; 1.5 s before, at 200,000 parentheses
    assert answer.extract_answer("The final answer is 5 apples (" + "x" * 2000 + ").")[0] != "5"


@pytest.mark.parametrize("gold,text,graded", [
    # a stated final answer that derives its number: the last side, or the last number of a plain sentence
    ("25", "Final Answer: 20 + 5 = 25 cookies", True), ("18", "The final answer is: Janet makes 9 * 2 = 18 dollars every day.", True),
    ("6", "Final Answer: Each of the 4 friends gets 6 cookies", True), ("40", "Final answer: In 2 weeks he saves 40 dollars", True),
    ("9", "Final answer: x = 4 and y = 5 so x + y = 9", True), ("36", "Final Answer: The final answer is 12 x 3 = 36 apples.", True),
    ("6", "The final answer is 5, not 6.", False), ("4", "The final answer is between 3 and 4.", False),
    # "the answer is" in words: only a number that leads plain words
    ("2", "The answer is 2x dollars.", False), ("1", "The answer is n + 1 apples.", False),
    ("18", "The answer is over 18 dollars.", False), ("5", "The answer is negative 5.", False),
    ("2", "The answer is CO2 gas.", False), ("-5", "The answer is -5 degrees.", True),
    ("5", "The answer is 5 (million).", False), ("5000000", "The answer is 5 (million).", False),
    # digits before function names between dollars are math, not prices
    ("2 \\sin x \\cos x", "So the result is $2 sin x cos x$.", True),
])
def test_the_third_breakers_stated_answers(gold, text, graded):
    """A third breaker of today's rules: the one-number rule had kept derivations whole (the grader before it
    took their last number, rightly), "the answer is" in words took a digit from algebra or after a qualifier
    that changes it, asides without a number that scale the answer were dropped, and "$2 sin x cos x$" was
    taken for prices."""
    assert answer.verify(gold, text) is graded, answer.extract_answer(text)


@pytest.mark.parametrize("gold,pred", [("2", "two fifty"), ("5", "five thirty"), ("1", "one twenty")])
def test_two_spelled_numbers_in_a_row_are_not_the_first(gold, pred):
    assert not answer.is_equiv(gold, pred)


def test_the_word_after_a_stated_number_is_read_where_that_number_is():
    """Re-reading the change: the word after the answer's number was read after the last copy of its digits,
    so "2 million m^2" read nothing after the 2 of "^2" and gave 2."""
    assert answer.extract_answer("The final answer is 2 million m^2.")[0] == "2 million m^2"
    assert not answer.verify("2", "The final answer is 2 million m^2.")


@pytest.mark.parametrize("gold,pred,equal", [
    # the value stated for a sum of names: AIME's "find m + n" answered "\boxed{m+n=17}" (Math-Verify takes it)
    ("17", "m+n=17", True), ("17", "m + n + p = 17", True), ("17", "a+b=\\frac{34}{2}", True),
    ("\\frac{1}{2}", "p+q=0.5", True), ("18", "m+n=17", False),
    # not a multiple, a power, a constant term, a repeated name, a difference, nor one name's equation
    ("17", "2x=17", False), ("17", "a+3z=17", False), ("17", "m+n+1=17", False), ("17", "x+x=17", False),
    ("17", "m-n=17", False), ("17", "x^2+y=17", False), ("17", "m+n=17+k", False),
    # a value of another name, or an equation, is no value of the sum; constants are no names
    ("x=17", "m+n=17", False), ("y=17", "x+y=17", False), ("x+y=17", "x+y=17", True), ("x+y=17", "y=17-x", True),
    ("17", "m+\\pi=17", False), ("17", "\\pi+m=17", False), ("17", "x+e=17", False), ("17", "x+i=17", False),
    # left by earlier notes: names without case (x + X is 2x), and e or i as a name among three or more names
    ("17", "x+X=17", False), ("17", "a+A+b=17", False), ("17", "a+b+c+d+e=17", True), ("17", "h+i+j+k=17", True),
    ("17", "a+b+e=17", False), ("17", "a+b+c+d+e+e=17", False), ("18", "a+b+c+d+e=17", False),
    # i beside j is an index ("i+j+k=17" had stated nothing); without j it stays the imaginary unit
    ("17", "i+j+k=17", True), ("17", "i+j=17", True), ("17", "I+J=17", True), ("17", "i+e+j=17", False),
    ("17", "m+i+k=17", False),
    # a Greek letter and its variant are one name
    ("17", "\\phi+\\varphi=17", False), ("17", "\\theta+\\vartheta=17", False), ("17", "\\alpha+\\beta=17", True),
])
def test_the_stated_value_of_a_sum_of_names(gold, pred, equal):
    """Left by an earlier breaker: "\\boxed{m+n=17}" against the gold 17 had been wrong; the value of a sum of
    names stands for what was asked, as a name's does ("x = 17")."""
    assert answer.is_equiv(gold, pred) is equal


@pytest.mark.parametrize("gold,pred", [("x+y+z=0", "0"), ("x+y=10", "10"), ("a+b+c=180", "180"),
                                       ("x+y+z=0", "\\boxed{0}")])
def test_a_gold_equation_is_not_answered_by_its_constant(gold, pred):
    """A breaker of the sum rule: it had held both ways, so a gold plane "x + y + z = 0" took the answer 0."""
    assert not answer.is_equiv(gold, pred)
    assert answer.is_equiv(pred, gold)   # the other way, a gold 0 against the prediction "x + y + z = 0"


def test_votes_for_a_value_and_for_a_sum_stated_equal_to_it_are_one_answer_either_way():
    """Between votes neither is the gold: "17" and "m+n=17" are one answer in either order."""
    assert answer.group_answers(["17", "m+n=17", "18"]).tolist() == [0, 0, 1]
    assert answer.group_answers(["m+n=17", "17", "18"]).tolist() == [0, 0, 1]


def test_the_stated_value_of_a_sum_in_a_box_is_graded():
    assert answer.verify("17", "So $m + n = 17$. The answer is \\boxed{m+n=17}.")
    assert not answer.verify("16", "So $m + n = 17$. The answer is \\boxed{m+n=17}.")


@pytest.mark.parametrize("gold,pred,equal", [
    ("30^\\circ C", "30^\\circ F", False), ("30 °C", "30 °F", False), ("30^\\circ \\text{C}", "30 °C", True),
    ("30", "30 °F", True), ("30^\\circ", "30 °C", True), ("75^\\circ F", "75^{\\circ}\\text{F}", True),
    ("30^\\circ C", "30^\\circ C = 86^\\circ F", False),
    # the scales in order, not one mark for "both" (a breaker of the first form)
    ("30°C", "30°F+0°C", False), ("30°C", "30°F\\cdot 1°C", False), ("30 °C, 40 °F", "30 °F, 40 °C", False),
    ("30°C,40°F", "30°F,40°F", False), ("30 °C, 40 °F", "30°C, 40°F", True),
    # a scale's word counts (a reviewer: "30 °Celsius" had equalled 30 °F), and two scales are not paired
    # with their numbers, so answers with two are equal only written alike
    ("30 °F", "30 °Celsius", False), ("30 °C", "30 °Fahrenheit", False), ("30 °F", "30^\\circ \\text{Celsius}", False),
    ("30 °F", "30 °Kelvin", False), ("30 °F", "30 °Cels", False), ("30 °C", "30 °Celsius", True), ("30", "30 °Celsius", True),
    ("30 °K", "30 °Kelvin", True), ("30 °C, 40 °F", "40 °C, 30 °F", False),
    ("\\{30 °C, 40 °F\\}", "\\{40 °C, 30 °F\\}", False), ("30 °C, 40 °F", "30^\\circ C, 40^\\circ F", True),
])
def test_temperatures_in_two_scales_differ(gold, pred, equal):
    """Left by an earlier breaker: the scale went with the degree mark, so 30 °C equalled 30 °F. One scale
    against none stays a value."""
    assert answer.is_equiv(gold, pred) is equal
    assert answer.is_equiv(pred, gold) is equal


@pytest.mark.parametrize("gold,pred,equal", [
    ("500000", ".5 million", True), ("-500000", "-.5 million", True), ("5000000", "5 millions", True),
    ("60", "5 dozens", True), ("3000", "3 thousands", True), ("5", "5 millions", False), ("5", ".5 million", False),
])
def test_scale_words_after_a_bare_decimal_or_in_the_plural(gold, pred, equal):
    """Left by an earlier breaker: ".5 million" (no leading zero) and "5 millions" had stayed words."""
    assert answer.is_equiv(gold, pred) is equal


def test_a_stated_answer_in_millions_keeps_its_scale():
    assert answer.verify("5000000", "The final answer is 5 millions.")
    assert not answer.verify("5", "The final answer is 5 millions.")


LOCALE_PROBE = r'''
import json, locale, sys
if sys.argv[1:]:
    locale.setlocale(locale.LC_CTYPE, sys.argv[1])
from cotnpot import answer
texts = ["5 Äpfel", "12 café", "x\u00a0=\u00a03", "à", "Ã", "é", "The answer is 5 Äpfel.", "7 Öl", "é = 3", "α + β",
         "Final Answer: 18 Bäume", "\\boxed{5} Äpfel", "18 über"]
print(json.dumps([[answer.normalize(t) for t in texts], [answer.extract_answer(t)[0] for t in texts],
                  [[answer.is_equiv(x, y) for y in texts] for x in texts]]))
'''


def test_the_grader_reads_the_same_under_a_latin1_locale(tmp_path):
    """Python sets the C locale's character classes from the environment, and the grader's were <cctype>'s: under
    Latin-1, UTF-8's bytes were letters and spaces, so "é = 3" normalized to "3" (é a name) and 4 of these
    verdicts changed; a lone such letter also indexed past a 26-entry table. Its classes are ASCII now."""
    import os
    import shutil
    if shutil.which("localedef") is None:
        pytest.skip("localedef is not installed")
    made = subprocess.run(["localedef", "-i", "en_US", "-f", "ISO-8859-1", str(tmp_path / "en_US.ISO-8859-1")],
                          capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"cannot make a Latin-1 locale here: {made.stderr.strip()[-200:]}")
    env = {**os.environ, "LOCPATH": str(tmp_path)}
    plain = subprocess.run([sys.executable, "-c", LOCALE_PROBE], capture_output=True, text=True, env=env, check=True)
    latin1 = subprocess.run([sys.executable, "-c", LOCALE_PROBE, "en_US.ISO-8859-1"], capture_output=True, text=True,
                            env=env, check=True)
    assert json.loads(latin1.stdout) == json.loads(plain.stdout)


@pytest.mark.parametrize("gold, pred, equal", [
    (r"[1,3]", r"[1,2)\cup[2,3]", True),                     # touching pieces, one end closed
    (r"[1,3]", r"[1,2]\cup[2,3]", True),
    (r"[0,5]", r"[0,3]\cup[1,5]", True),                     # overlapping
    (r"(-1,0)\cup(3,4)", r"(3,4)\cup(-1,0)", True),           # in any order
    (r"(-\infty,\infty)", r"(-\infty,0]\cup(0,\infty)", True),
    (r"[\sqrt{2},3]", r"[\sqrt2,2)\cup[2,3]", True),
    (r"(-\infty,\frac{1}{2})\cup[2,3]", r"[2,3]\cup(-\infty,0.5)", True),
    (r"[1,3]", r"[1,2)\cup(2,3]", False),                    # 2 left out
    (r"(1,3)", r"(1,2)\cup(2,3)", False),
    (r"[1,4]", r"[1,2]\cup[3,4]", False),
    (r"(-\infty,0)\cup(0,\infty)", r"(-\infty,\infty)", False),
    (r"[1,3]", r"[1,2)\cup[2,4]", False),
    (r"(a,b)\cup(c,d)", r"(c,d)\cup(a,b)", True),             # ends not constants: the pieces, unordered
])
def test_unions_of_intervals_compare_as_sets(gold, pred, equal):
    """[1,2) \\cup [2,3] had differed from [1,3]: a union compared as its pieces, unordered. Now touching and
    overlapping pieces merge, as sympy's Union simplifies them (what Math-Verify compares)."""
    assert answer.is_equiv(gold, pred) is equal and answer.is_equiv(pred, gold) is equal


@pytest.mark.parametrize("pred", [r"x<-2 \text{ and } x>3", r"x>3 \text{ and } x<-2", r"x<-2 \text{ or } x>3",
                                  r"x<-2, x>3"])
def test_inequalities_joined_by_and_or_or_are_not_read_as_a_union(pred):
    """For one commit "x < -2 or x > 3" equalled its union with set_relation; but normalization makes "or" and
    "and" one list separator, so "x < -2 and x > 3" (empty, a classic wrong answer) equalled it too (a
    reviewer). Neither is read as a union."""
    gold = r"(-\infty,-2)\cup(3,\infty)"
    assert not answer.is_equiv(gold, pred, set_relation=True) and not answer.is_equiv(pred, gold, set_relation=True)


@pytest.mark.parametrize("gold, pred", [
    (r"[0,2]", r"[0,1]\cup[1+10^{-17},2]"),                          # 1 and 1 + 10^{-17}: one double
    (r"(0,2)", r"(0,1]\cup(1+10^{-20},2)"),
    (r"[0,2\cdot10^{12}]", r"[0,10^{12}]\cup[10^{12}+10^{-5},2\cdot10^{12}]"),
])
def test_union_pieces_whose_ends_round_to_one_double_are_not_merged(gold, pred):
    """A reviewer: pieces were merged by double equality while ends are compared exactly, so a gap of 10^{-17}
    vanished. Ends that tie as doubles are one point only where exactly equal."""
    assert not answer.is_equiv(gold, pred) and not answer.is_equiv(pred, gold)
    assert answer.is_equiv(r"[0,2]", r"[0,1]\cup[1,2]") and answer.is_equiv(r"[0,2]", r"[0,\frac{2}{2}]\cup[1,2]")


def test_a_scalar_times_a_large_matrix_is_charged_before_it_is_built():
    """A reviewer: 1,300 factors times a 1,300-entry matrix built 1.7 million nodes (226 MB) before the budget
    saw them. The cost is charged first; past the budget the comparison is false, without the memory. Peak
    memory of a process making the comparison against one comparing two small matrices."""
    script = """
import resource, sys
from cotnpot import answer
n = int(sys.argv[1])
bs = chr(92)   # a backslash
gold = bs + "begin{pmatrix}" + (2 * bs).join(["1"] * n) + bs + "end{pmatrix}"
assert answer.is_equiv(bs + "begin{pmatrix}" + (2 * bs).join(["2"] * 2) + bs + "end{pmatrix}", "2" + gold) or n != 2
assert not answer.is_equiv(gold, "x" * n + gold)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""
    peaks = [int(subprocess.run([sys.executable, "-c", script, str(n)], capture_output=True, text=True, check=True,
                                timeout=120).stdout) for n in (2, 1300)]
    assert peaks[1] - peaks[0] < 50_000, peaks   # kB


@pytest.mark.parametrize("gold, pred, equal", [
    (r"\begin{pmatrix}1/3\\2/3\end{pmatrix}", r"\frac{1}{3}\begin{pmatrix}1\\2\end{pmatrix}", True),
    (r"\begin{pmatrix}2&4\\6&8\end{pmatrix}", r"2\begin{pmatrix}1&2\\3&4\end{pmatrix}", True),
    (r"\begin{pmatrix}-1\\2\end{pmatrix}", r"-\begin{pmatrix}1\\-2\end{pmatrix}", True),
    (r"\begin{pmatrix}\sqrt2/2\\ \sqrt2/2\end{pmatrix}", r"\frac{1}{\sqrt{2}}\begin{pmatrix}1\\1\end{pmatrix}", True),
    (r"\begin{pmatrix}2x\\2\end{pmatrix}", r"2\begin{pmatrix}x\\1\end{pmatrix}", True),
    (r"\begin{pmatrix}1/3\\2/3\end{pmatrix}", r"\frac{1}{3}\begin{pmatrix}1\\3\end{pmatrix}", False),
    (r"\begin{pmatrix}2\\4\end{pmatrix}", r"\begin{pmatrix}1\\2\end{pmatrix}", False),
    (r"\begin{pmatrix}1&0\\0&1\end{pmatrix}", r"\begin{pmatrix}1&0\\0&1\end{pmatrix}\begin{pmatrix}1&0\\0&1\end{pmatrix}", False),
])
def test_a_scalar_factored_out_of_a_matrix(gold, pred, equal):
    """A breaker's form: a vector written with its scalar factored out had differed from its entries. A product
    of two matrices is left alone (not distributed)."""
    assert answer.is_equiv(gold, pred) is equal and answer.is_equiv(pred, gold) is equal


# A breaker's false positives (2026-12-04): two numbers side by side had been a product or one number.
@pytest.mark.parametrize("gold, pred, equal", [
    ("1.5", "1 1/2", True), ("0.5", "1 1/2", False), ("137.5", "137 1/2", True), ("68.5", "137 1/2", False),
    ("-2.5", "-2 1/2", True), ("2.5", "x = 2 1/2", True), ("(1.5, 2.75)", "(1 1/2, 2 3/4)", True),
    ("2.5", "2 1/2 cups", True), ("0.75", "3/4 cups", True),
    ("12", "3 4", False), ("6", "2 3", False), ("12", "3\xa04", False), ("12", "3\t4", False), ("6", "1 2 3", False),
    ("0.36", "1.2 .3", False), ("10000", "10 000", True), ("10000", r"10\,000", True), ("2\\pi", "2 \\pi", True),
    ("34", r"3\text{ hours }4\text{ minutes}", False), ("12", r"3 \text{ feet } 4 \text{ inches}", False),
    ("90", r"3 \text{ hours } 30\text{ minutes}", False), ("34", r"3\text{ dollars }4\text{ cents}", False),
    ("6", r"2 \text{ cm } 3", False), ("12", r"12\text{ cm}^2", True), ("5", r"5\text{ cm}", True),
    ("12", r"12\text{ cm^2}", True), ("5", r"5\text{ m^3}", True), ("72", "2^3 3^2", True), ("360", "2^3 3^2 5", True),
    ("3x^2", "x^2 3", True), ("3", r"\log_2 8", True),
    ("3", r"3\text{4}", False), ("34", r"3\text{4}", True),
])
def test_numbers_side_by_side_are_neither_a_product_nor_one_number(gold, pred, equal):
    """"3 4" had equalled 12 and "1 1/2" 0.5 (a product); a unit dropped between two numbers had joined them
    ("3 hours 4 minutes" was 34), and a \\text{} of digits had been taken for a unit ("3\\text{4}" was 3). A
    whole number and a proper fraction in plain text are the mixed number they read as."""
    assert answer.is_equiv(gold, pred) is equal and answer.is_equiv(pred, gold) is equal


@pytest.mark.parametrize("pred, value", [
    ("two thousand twenty four", "2024"), ("two thousand twenty-four", "2024"), ("two thousand one", "2001"),
    ("nine thousand nine", "9009"), ("five million three", "5000003"), ("one hundred thousand two", "100002"),
    ("five million three hundred thousand", "5300000"), ("two thousand and five", "2005"), ("two thousand", "2000"),
])
def test_compound_number_words_keep_their_tail(pred, value):
    """A breaker's: "two thousand twenty four" had been cut at its scale word, 2000."""
    assert answer.normalize(pred) == value
    assert answer.verify(value, f"#### {pred}")
    assert not answer.verify(str(int(value) // 1000 * 1000 if int(value) % 1000 else int(value) + 1), f"#### {pred}")


@pytest.mark.parametrize("text, wrong, right", [
    ("The final answer is 2 1/2 cups.", "0.5", "2.5"),
    ("The final answer is 12 cookies after 3 days.", "3", None),
    ("Final Answer: 25 dollars for 5 items.", "5", None),
    ("The final answer is 60 miles in 2 hours.", "2", None),
    ("The final answer is 4 hours 20 minutes.", "20", None),
    ("Each of the 4 friends gets 6 cookies. The final answer is 6 cookies.", "4", "6"),
    # a unit's power is no second number (a reviewer)
    ("The final answer is 36 units^2.", "2", "36"), ("The final answer is 9.8 m/s^2 downward.", "2", "9.8"),
    # a derivation in words is read as one with '=' (a regression hunt)
    ("Final Answer: The final answer is 9 * 2 equals 18. I hope it is correct.", "2", "18"),
    ("The final answer is 100 / 4 gives 25.", "4", "25"), ("The final answer is 9 x 2 so 18 dollars.", "2", "18"),
    # a number's power is that power, not its exponent (both builds before had given 10)
    ("Final Answer: The final answer is 2^10 ways. I hope it is correct.", "10", "1024"),
    ("The final answer is 10^6 dollars.", "6", "1000000"),
])


def test_a_stated_final_answer_that_begins_with_a_number_is_not_its_last(text, wrong, right):
    """A breaker's: words after "the final answer is" that begin with a number had given their last number
    ("12 cookies after 3 days" was 3), where "The answer is" keeps the phrase whole."""
    assert not answer.verify(wrong, text)
    if right is not None:
        assert answer.verify(right, text)


@pytest.mark.parametrize("text, wrong, right", [
    ("Each person gets 2 1/2 pizzas.", r"\frac{1}{2}", "2.5"), ("So the total distance is 3 1/4 miles.", "0.25", "3.25"),
    ("Therefore, the recipe needs 1/2 cups of flour.", "2", "0.5"),
])
def test_the_last_number_of_a_text_is_its_mixed_number(text, wrong, right):
    """A regression hunt: the last-number rule had taken the fraction of a mixed number alone."""
    assert not answer.verify(wrong, text) and answer.verify(right, text)


@pytest.mark.parametrize("pred", ["3‐5", "2‑3", "3‐5 hours"])
def test_a_unicode_hyphen_between_numbers_is_a_range(pred):
    """A regression hunt: read as a minus sign, "3‐5" (U+2010) had equalled -2; as the answer's sign it stays one."""
    assert not answer.is_equiv(str(int(pred[0]) - int(pred[2])), pred)
    assert answer.is_equiv("-2", "‐2") and answer.is_equiv("-2", "‑2")
@pytest.mark.parametrize("pred", ["(C) or D", "C. or D", "C. 12 or D", "(C) 12 and D", r"(C) \text{12 or D}", "(C), D"])
def test_a_choice_hedged_with_a_bare_letter_gets_no_credit(pred):
    """A breaker's: a second option named by its bare letter had left the first one's credit."""
    assert not answer.is_equiv("C", pred) and not answer.verify("C", rf"The answer is $\boxed{{{pred}}}$.")


@pytest.mark.parametrize("pred", ["(C) 12", r"(C) $x = A$", "(C)", r"(A) \sin(A)", "(D) Both A and B", "D. Both A and B",
                                  "(C) A, B and C are collinear", "(C) A and C only", "(E) A or B", "(C) A",
                                  "(D) neither A nor B", "(C) 12 days, and A alone takes 20 days", "(A) 3, and E is the midpoint",
                                  "(C) 25 and A is 20"])
def test_a_choice_with_its_options_text_keeps_its_credit(pred):
    """Option texts that name points or other choices are the option's text (a reviewer: the bare-letter rule
    had taken "(D) Both A and B" for a hedge); a known limit: "(C) D" is credited as C too."""
    assert answer.is_equiv(pred.lstrip("(")[0], pred)


def test_a_long_bare_gold_is_the_answer_not_its_last_number():
    """A breaker's: a bare gold over 200 characters went to extraction, which took its last number; a boxed 49
    then matched a 50-term polynomial, and a boxed 59 a 59-tuple."""
    poly = "+".join(f"x^{{{i}}}" for i in range(50))
    tup = "(" + ", ".join(str(i) for i in range(1, 60)) + ")"
    for gold, last in ((poly, "49"), (tup, "59")):
        assert len(gold) > 200
        assert not answer.verify(gold, rf"\boxed{{{last}}}") and answer.verify(gold, rf"\boxed{{{gold}}}")


@pytest.mark.parametrize("gold, pred", [
    (r"\frac{\pi}{4}", r"\frac\pi4"), (r"\frac{\pi}{2}", r"\dfrac\pi2"), (r"\frac{1}{\pi}", r"\frac1\pi"),
    (r"\sqrt{\pi}", r"\sqrt\pi"), (r"\frac{\alpha}{\beta}", r"\frac\alpha\beta"),
    (r"x \neq 2", "x≠2"), (r"\alpha", "α"), (r"2\theta", "2θ"), ("6", "2⋅3"),
    (r"\frac{1}{2}", r"{1 \over 2}"), (r"\frac{a}{b}+1", r"{a \over b}+1"), (r"\{1,2\}", r"\lbrace 1,2\rbrace"),
    (r"\frac{1}{3}", r"0.\bar{3}"), (r"\phi", r"\varphi"),
])
def test_more_ways_to_write_the_same_symbol(gold, pred):
    """A breaker's false negatives: a command as an unbraced argument ("\\frac\\pi4" had become \\frac{\\}{p}i4),
    Unicode symbols, TeX's \\over, \\lbrace, \\bar as a repeating decimal's bar, \\varphi."""
    assert answer.is_equiv(gold, pred) and answer.is_equiv(pred, gold)


DAEMON_AT_EXIT = """
import sys, threading, time
from cotnpot import answer
call = {"is_equiv": lambda: answer.is_equiv("\\\\frac{1}{2}", "0.5"),
        "verify": lambda: answer.verify("\\\\frac{1}{2}", "0.5"),
        "grading_steps": lambda: answer.grading_steps("\\\\frac{1}{2}", "0.5")}[sys.argv[1]]
def loop():
    while True:
        call()
threading.Thread(target=loop, daemon=True).start()
time.sleep(0.3)
"""


GRADING_IN_DEL_AT_EXIT = """
from cotnpot._extension import _C
class Graded:
    # the binding itself, bound now: modules' globals (cotnpot.answer's too) may be gone by then
    def __del__(self, is_equiv=_C.is_equiv, say=print):
        say("equal" if is_equiv("\\\\frac{1}{2}", "0.5", 1e-6, False, False) else "differ", flush=True)
kept = Graded()   # collected as the interpreter shuts down, on the thread that shuts it down
"""


def test_grading_in_a_del_at_interpreter_exit_returns():
    """A reviewer: a first fix for the daemon threads below waited for the process to end wherever the shutdown
    had begun, also on the thread running it: a __del__ grading at exit hung."""
    done = subprocess.run([sys.executable, "-c", GRADING_IN_DEL_AT_EXIT], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout == "equal\n", (done.returncode, done.stdout, done.stderr)


@pytest.mark.parametrize("call", ["is_equiv", "verify", "grading_steps"])
def test_a_daemon_thread_grading_at_exit_does_not_abort_the_process(call):
    """An audit: a daemon thread inside a grading call as the interpreter shut down was ended by CPython with
    pthread_exit from pybind11's gil_scoped_release destructor, which may not throw: std::terminate, SIGABRT
    at every such exit (10 of 10 runs). (torch's own tensor deallocation can still do this at exit; these
    calls return no tensor.)"""
    for _ in range(3):
        done = subprocess.run([sys.executable, "-c", DAEMON_AT_EXIT, call], capture_output=True, text=True,
                              timeout=120)
        assert done.returncode == 0 and "terminate" not in done.stderr, (done.returncode, done.stderr)


def test_grading_from_four_threads_at_once_gives_the_results_of_one():
    """docs/answer.md says every function is safe from several threads (an audit checked it; this keeps it)."""
    from concurrent.futures import ThreadPoolExecutor
    rng = random.Random(3)
    pool = ["\\frac{1}{2}", "0.5", "1/2", "2", "x = 2", "\\sqrt{4}", "3.0", "3", "\\pi", "3.14159", "(1, 2)", "[1,2]"]
    inputs = [[rng.choice(pool) for _ in range(300)] for _ in range(8)]

    def work(answers):
        return (answer.grade(answers[::2], answers[1::2]).tolist(), answer.group_answers(answers).tolist(),
                [answer.is_equiv(a, b) for a, b in zip(answers[:50], answers[50:100])])
    alone = [work(a) for a in inputs]
    with ThreadPoolExecutor(4) as threads:
        for _ in range(3):
            assert list(threads.map(work, inputs)) == alone
