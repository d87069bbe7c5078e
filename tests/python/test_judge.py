"""cotnpot.judge: which asserts split, how the job's values are decoded (strictly), and a HumanEval-style
suite judged end to end."""
import json
import subprocess

import pytest

import cotnpot
from cotnpot import judge

HUMANEVAL = '''
METADATA = {"author": "jt"}

def check(candidate):
    assert candidate([1.0, 2.0, 3.9, 4.0, 5.0, 2.2], 0.3) == True
    assert candidate([1.0, 2.0], 0.05) == False
    assert not candidate([1.0, 2.5], 0.1)

check(has_close_elements)
'''


@pytest.mark.parametrize("test, call, kind, expected", [
    ("assert f(2) == 5", "f(2)", "eq", 5),
    ("assert 5 == f(2)", "f(2)", "eq", 5),
    ("assert f(2) != 5, 'message'", "f(2)", "ne", 5),
    ("assert set(f((3, 4))) == set((4, 5))", "set(f((3, 4)))", "eq", {4, 5}),
    ("assert f(1) is None", "f(1)", "is", None),   # the job reports which of True, False, None it is
    ("assert f(1) is not True", "f(1)", "is not", True),
    ("assert math.isclose(f(1), 0.5, rel_tol=0.001)", "f(1)", "isclose", 0.5),
    ("assert is_prime(7)", "is_prime(7)", "truthy", None),
    ("assert not is_prime(8)", "is_prime(8)", "falsy", None),
    ("assert f(1) == float('inf')", "f(1)", "eq", float("inf")),
    ("assert f(1) == 1+2j", "f(1)", "eq", 1 + 2j),
    ("assert f(1) == 2.0/3.0", "f(1)", "eq", 2.0 / 3.0),
    # HumanEval's float checks and its debugging line (found by a breaker: any of them sent a whole suite
    # into the job, where a wrong program forged a pass by writing its own report)
    ("assert abs(f([1.0, 2.0, 3.0]) - 2.0/3.0) < 1e-6", "f([1.0, 2.0, 3.0])", "within", (2.0 / 3.0, 1e-6, False)),
    ("assert abs(2.5 - f(1)) <= 1e-4", "f(1)", "within", (2.5, 1e-4, True)),
    ("assert 1e-6 > abs(f(2) - -1)", "f(2)", "within", (-1, 1e-6, False)),
    ("assert True, 'This prints if this assert fails 1 (good for debugging!)'", "None", "const", True),
    ("assert 0", "None", "const", False),
])
def test_split_forms(test, call, kind, expected):
    plan = judge.split_tests([test])
    assert plan is not None and len(plan.checks) == 1
    c = plan.checks[0]
    assert (c.call, c.kind, c.expected) == (call, kind, expected)


@pytest.mark.parametrize("test", [
    "for x in range(3):\n    assert f(x) == x",        # a loop: judged in the job
    "assert f(1) == g(1)",                              # no literal side
    "assert all(f(x) == x for x in [1, 2])",            # the expected values inside the call
    "assert len(f(1)) == 3 and f(2)",                   # a boolean expression
    "assert isinstance(f(1), int)",                     # a builtin the job could replace
    "expected = f(0)\nassert f(1) == expected",         # set-up that is not a literal
    "assert abs(f(1) - g(1)) < 1e-6",                   # no literal centre
    "assert abs(f(1) - 2) < f(0)",                      # nor tolerance
    "abs = lambda x: 0\nassert abs(f(1) - 2) < 1e-6",   # abs the suite rebinds
    "assert abs(f(1) - 2) == 0",                        # not a tolerance
    "assert f(1) == 10**400 * 10**400",                 # no powers: unbounded work in the caller
])
def test_forms_judged_in_the_job(test):
    assert judge.split_tests([test]) is None


def test_humaneval_check_is_rewritten_to_the_entry_point():
    plan = judge.split_tests([HUMANEVAL])
    assert [(c.call, c.kind, c.expected) for c in plan.checks] == [
        ("has_close_elements([1.0, 2.0, 3.9, 4.0, 5.0, 2.2], 0.3)", "eq", True),
        ("has_close_elements([1.0, 2.0], 0.05)", "eq", False),
        ("has_close_elements([1.0, 2.5], 0.1)", "falsy", None)]
    assert "METADATA" in plan.setup


def test_values_are_decoded_strictly():
    text = json.dumps([["int", "12345678901234567890"], ["tuple", [["str", "a"], ["float", "nan"]]],
                       ["set", [["int", "1"], ["tuple", [["none"]]]]], ["dict", [[["str", "k"], ["bytes", "ff00"]]]],
                       ["error", "ZeroDivisionError: division by zero"], ["object", "x"], ["list", [["list"] * 3]],
                       ["int", "9" * 5000]])
    got = judge.decode_values(text, 9)
    assert got[0] == (True, 12345678901234567890)
    assert got[1][0] and got[1][1][0] == "a" and got[1][1][1] != got[1][1][1]   # nan
    assert got[2] == (True, {1, (None,)})
    assert got[3] == (True, {"k": b"\xff\x00"})
    assert got[4] == (False, "ZeroDivisionError: division by zero")
    assert not got[5][0] and not got[6][0] and not got[7][0]   # unknown tag, malformed, over the digit limit
    assert got[8] == (False, "no value for this call")
    deep = "[" * 100000 + "]" * 100000
    assert judge.decode_values(deep, 2) == [(False, "the job's values could not be read")] * 2
    assert judge.decode_values('{"passed": "1"}', 1) == [(False, "the job's values could not be read")]
    assert judge.decode_values(json.dumps([["dict", [[["frozenset", [["int", "1"]]], ["int", "1"]]]]]), 1) == \
        [(True, {frozenset({1}): 1})]


def test_humaneval_suite_end_to_end():
    right = ("def has_close_elements(numbers, threshold):\n"
             "    return any(abs(a - b) < threshold for i, a in enumerate(numbers) for b in numbers[i + 1:])\n")
    always_true = "def has_close_elements(numbers, threshold):\n    return True\n"
    with cotnpot.Executor(workers=1) as ex:
        good, bad = ex.run_tests([right, always_true], [HUMANEVAL, HUMANEVAL])
    assert good.passed and good.tests_passed == [True, True, True] and not good.judged_in_process
    assert not bad.passed and bad.tests_passed == [True, False, False]
    assert bad.failing_test == "assert candidate([1.0, 2.0], 0.05) == False"   # as the suite writes it


def test_a_candidate_that_rebinds_builtins_at_top_level_is_judged_as_in_the_job():
    """Found by a breaker: the split harness runs in the program's namespace and looked up isinstance, list,
    str, dict ... there, so a correct candidate whose driver code says `list = [3, 1, 3]` failed every test
    (split) while it passed judged in the job."""
    programs = ["def dedup(xs):\n    return sorted(set(xs))\n\nlist = [3, 1, 3]\nprint(dedup(list))\n",
                "def shout(s):\n    return s.upper()\n\nstr = 'hello'\nisinstance = type = None\n",
                "def squares(n):\n    return {i: i * i for i in range(n)}\n\ndict = squares(3)\neval = bool = 0\n"]
    tests = [["assert dedup([3, 1, 3]) == [1, 3]"], ["assert shout('ab') == 'AB'", "assert shout('') != 'x'"],
             ["assert squares(2) == {0: 0, 1: 1}", "assert squares(1)"]]
    with cotnpot.Executor(workers=1) as ex:
        split = ex.run_tests(programs, tests)
        whole = ex.run_tests(programs, tests, split=False)
    assert [r.passed for r in split] == [True, True, True], [r.error_message for r in split]
    assert not any(r.judged_in_process for r in split) and [r.passed for r in whole] == [True, True, True]


def test_names_the_suite_binds_are_not_the_candidates_function():
    # found by a breaker: `from math import isclose` made isclose(...) a "truthy candidate call", so the
    # expected value travelled into the job, which replaced math.isclose
    assert judge.split_tests(["from math import isclose\nassert isclose(f(2), 5.0)"]) is None
    assert judge.split_tests(["from operator import eq\nassert eq(f(2), 5)"]) is None
    with cotnpot.Executor(workers=1) as ex:
        r = ex.run_tests(["import math\nmath.isclose = lambda *a, **k: True\ndef f(x):\n    return 0"],
                         ["from math import isclose\nassert isclose(f(2), 5.0)"])[0]
    assert r.judged_in_process   # not split: the verdict is the job's own, and the result says so


def test_arithmetic_that_fails_in_a_suite_does_not_take_the_batch_down():
    """Found by a reviewer: `abs(f(1) - 1/0) < 1e-6` raised ZeroDivisionError out of split_tests, and so out of
    the whole run_tests batch; such a suite is judged in the job, where its assert fails."""
    for test in ("assert abs(f(1) - 1/0) < 1e-6", "assert abs(f(1) - 1) < 1/0", "assert f(1) < 1/0",
                 "assert f(1) == 1/0"):
        assert judge.split_tests([test]) is None, test


def test_a_humaneval_suite_with_float_checks_and_a_debugging_line_is_judged_outside_the_job():
    """Found by a breaker: one `assert True, "..."` line or `abs(...) < 1e-6` check sent the whole suite into
    the job, where a wrong program forged a pass by writing passed=1 to its report and exiting."""
    suite = ('def check(candidate):\n    assert abs(candidate([1.0, 2.0, 3.0]) - 2.0/3.0) < 1e-6\n'
             '    assert abs(candidate([2.0]) - 0.0) < 1e-6\n'
             '    assert True, "This prints if this assert fails 1 (good for debugging!)"\n\ncheck(f)\n')
    right = "def f(xs):\n    m = sum(xs) / len(xs)\n    return sum(abs(x - m) for x in xs) / len(xs)"  # HumanEval/4
    near = "def f(xs):\n    return {3: 2 / 3 + 1e-7, 1: -1e-7}[len(xs)]"
    wrong = "def f(xs):\n    return 0.0"
    forge = wrong + ("\nimport os, struct, stat\nk, v = b'passed', b'1'\n"
                     "frame = struct.pack('<I', len(k)) + k + struct.pack('<I', len(v)) + v\n"
                     "for fd in range(3, 64):\n    try:\n        if stat.S_ISFIFO(os.fstat(fd).st_mode):\n"
                     "            os.write(fd, frame)\n    except OSError:\n        pass\nos._exit(0)")
    with cotnpot.Executor(workers=1) as ex:
        got = ex.run_tests([right, near, wrong, forge], [suite] * 4)
    assert [r.judged_in_process for r in got] == [False] * 4
    assert [r.passed for r in got] == [True, True, False, False], [(r.passed, r.failing_test) for r in got]


def test_sets_of_colliding_tuples_are_capped_by_their_items():
    """Found by a breaker: 4,096 tuples of 14 colliding ints in one set passed the cap of 4,096 set items and
    took 0.7 s of the caller's CPU to decode; a set now costs its items x the values inside them."""
    tuples = [["tuple", [["int", "1"]] * 13 + [["int", str((2 ** 61 - 1) * k + 7)]]] for k in range(1, 4097)]
    ok, why = judge.decode_values(json.dumps([["set", tuples]]), 1)[0]
    assert not ok and "more than 4096" in why
    small = [["tuple", [["int", str(k)], ["str", "x"]]] for k in range(1000)]   # 3,000 values: kept
    ok, value = judge.decode_values(json.dumps([["set", small]]), 1)[0]
    assert ok and len(value) == 1000
    # a dict's values are not hashed: only its keys count
    ok, value = judge.decode_values(json.dumps([["dict", [[t, ["list", [["int", "0"]] * 50]] for t in small]]]), 1)[0]
    assert ok and len(value) == 1000
    # found by a reviewer: counting items alone over a whole result refused 4 correct sets of 500 pairs
    pairs = [["set", [["tuple", [["int", str(k)], ["int", str(k + 1)]]] for k in range(500)]]]
    assert all(ok for ok, _ in judge.decode_values(json.dumps(pairs * 4), 4))
    # big ints weigh by their digits: 4,096 colliding 230-digit ints cost 0.17 s where 4,096 small ones pass
    big = [["set", [["int", str((2 ** 732 - 1) * k + 7)] for k in range(1, 4097)]]]   # 2^61 - 1 divides it
    ok, why = judge.decode_values(json.dumps(big), 1)[0]
    assert not ok and "more than 4096" in why


def test_decimals_beside_colliding_big_numbers_are_charged_by_their_conversion():
    """Found by a breaker: a Decimal compared with an int or Fraction of its hash converts the number to
    decimal, quadratic in its digits, while the budget charged a Decimal a flat 30. One 320,000-hex-digit int
    and 3 colliding Decimals in a set took 30 s of the caller's CPU (a 13 ms job), holding the GIL; 120
    colliding 4,000-digit Fractions beside 400 Decimals took 33 s. Both are refused now, unbuilt."""
    m = 2 ** 61 - 1
    n = int("9" * 320000, 16)
    huge = [["set", [["inthex", "9" * 320000]] + [["decimal", str(n % m + j * m)] for j in range(3)]]]
    ok, why = judge.decode_values(json.dumps(huge), 1)[0]
    assert not ok and "more than 4096" in why
    q = 10 ** 3999 + 7   # prime to m; p = 12345 q (mod m): the Fraction p/q hashes as the int 12345
    p = (12345 * q) % m + m * 10 ** 3990
    fractions_ = [["fraction", [str(p + k * m * q), str(q)]] for k in range(120)]
    decimals = [["decimal", str(12345 + j * m)] for j in range(400)]
    ok, why = judge.decode_values(json.dumps([["set", fractions_ + decimals]]), 1)[0]
    assert not ok and "more than 4096" in why
    # one 818,000-bit int and one Decimal of its hash: 0.88 s, within a budget that charged (bits/200)^2 (a
    # third breaker)
    wide = (1 << 817998) | 12345
    ok, why = judge.decode_values(json.dumps([["set", [["inthex", format(wide, "x")], ["decimal", str(wide % m)]]]]),
                                  1)[0]
    assert not ok and "more than 4096" in why
    # wrapped in 1-tuples or frozensets, which hash from their items, the same pairs are compared as they are
    # inside (3.3 s and 8.1 s for a 160,000-digit int beside 6 Decimals: a reviewer)
    big = int("9" * 160000, 16)
    for wrapper in ("tuple", "frozenset"):
        items = [[wrapper, [["inthex", "9" * 160000]]]] + \
                [[wrapper, [["decimal", str(big % m + j * m)]]] for j in range(6)]
        ok, why = judge.decode_values(json.dumps([["set", items]]), 1)[0]
        assert not ok and "more than 4096" in why, wrapper
    # a float against a Decimal is converted to an exact decimal (a subnormal: 751 digits), against a Fraction
    # through Python code: 264 Decimals (or Fractions) beside 1,471 equal floats cost 1.7 s (0.8 s) within
    # the budget (a second breaker)
    h = hash(5e-324)
    for tag, number in [("decimal", lambda k: str(h + k * m)), ("fraction", lambda k: [str(h + k * m), "1"])]:
        floats = [[tag, number(k)] for k in range(1, 265)] + [["float", "5e-324"]] * 1471
        ok, why = judge.decode_values(json.dumps([["set", floats]]), 1)[0]
        assert not ok and "more than 4096" in why, tag
    # Decimals beside small colliding ints, or big numbers without a Decimal, are decoded as before
    ok, value = judge.decode_values(json.dumps([["set", [["int", str(7 + j * m)] for j in range(200)] +
                                                         [["decimal", str(7 + j * m)] for j in range(200, 400)]]]), 1)[0]
    assert ok and len(value) == 400
    ok, value = judge.decode_values(json.dumps([["set", [["inthex", "9" * 320000], ["int", "5"]]]]), 1)[0]
    assert ok and value == {n, 5}


def test_sets_of_colliding_sets_are_charged_for_comparing_them():
    """Found by a breaker: 178 frozensets that collide, each of 177 colliding ints, were charged as 178 x 178
    items, but comparing two of them compares their items with each other: 2.2 s of the caller's CPU for a
    1 MB result. A set inside another now weighs what building it cost."""
    m = 2 ** 61 - 1
    base = [["int", str(5 + k * m)] for k in range(1, 178)]
    sets = [["frozenset", base + [["int", str(5 + (178 + i) * m)]]] for i in range(178)]
    ok, why = judge.decode_values(json.dumps([["set", sets]]), 1)[0]
    assert not ok and "more than 4096" in why
    small = [["frozenset", [["int", str(k)], ["int", str(k + 1)]]] for k in range(1000)]   # sets of pairs: kept
    ok, value = judge.decode_values(json.dumps([["set", small]]), 1)[0]
    assert ok and len(value) == 1000


def test_an_error_message_with_a_lone_surrogate_is_utf8():
    # found by a breaker: the split path returned the job's '\ud800 forged' as it came, and .encode() raised
    got = judge.decode_values(json.dumps([["error", "\ud800 forged"]]), 1)
    assert got == [(False, "\ufffd\ufffd\ufffd forged")]
    got[0][1].encode("utf-8")


def test_a_value_that_cannot_be_compared_fails_its_test_not_the_batch():
    # found by a breaker: math.isclose(10**400, 5.0) raised OverflowError out of run_tests, losing the batch
    with cotnpot.Executor(workers=1) as ex:
        r = ex.run_tests(["def f(x):\n    return 5.0", "def f(x):\n    return 10**400", "def f(x):\n    return 5"],
                         ["import math\nassert math.isclose(f(2), 5.0)"] * 3)
    assert [x.passed for x in r] == [True, False, True]


def test_huge_sets_are_refused_before_they_are_hashed():
    # found by a breaker: 27,000 ints of one hash took 4.4 s of the caller's CPU to decode
    colliding = [["int", str((2 ** 61 - 1) * k + 7)] for k in range(1, 27000)]
    ok, why = judge.decode_values(json.dumps([["set", colliding]]), 1)[0]
    assert not ok and "more than 4096" in why


@pytest.mark.parametrize("test", [
    # found by a second breaker round: each carried the expected value into the job inside a predicate
    "import math\nassert math.isclose(area(2), 12.566, rel_tol=1e-3) == True",
    "import math\nassert math.isclose(area(2), 12.566, rel_tol=1e-3) is True",
    "from math import isclose\nassert isclose(area(2), 12.566, rel_tol=1e-3) == True",
    "from math import *\nassert isclose(area(2), 12.566, rel_tol=1e-3)",
    "assert area(2) - 12 == 0",
    # a name set twice: the set-up runs before every call, so the first assert would see the second value
    "x = 2\nassert sq(x) == 4\nx = 3\nassert sq(x) == 9",
])
def test_predicates_the_job_could_replace_are_judged_in_the_job(test):
    assert judge.split_tests([test]) is None


def test_a_rebound_name_across_tests_is_not_split():
    assert judge.split_tests(["x = 2\nassert sq(x) == 4", "x = 3\nassert dbl(x) == 6"]) is None
    assert judge.split_tests(["assert set(f((3, 4))) == {4}", "assert sorted(f(1))[0] == 2"]) is not None


def test_colliding_sets_are_capped_across_a_whole_result():
    one = [["set", [["int", str((2 ** 61 - 1) * k + 7)] for k in range(1, 3000)]]]
    got = judge.decode_values(json.dumps(one * 7), 7)
    assert got[0][0] and not any(ok for ok, _ in got[1:])


def test_an_undecodable_exception_name_does_not_cost_the_batch():
    # found by a second breaker round: error_type b"\xff\xfe" made reading the result raise UnicodeDecodeError
    forge = ("import os, struct, stat\nk, v = b'error_type', b'\\xff\\xfe'\n"
             "frame = struct.pack('<I', len(k)) + k + struct.pack('<I', len(v)) + v\n"
             "for fd in range(3, 64):\n    try:\n        if stat.S_ISFIFO(os.fstat(fd).st_mode):\n"
             "            os.write(fd, frame)\n    except OSError:\n        pass\nos._exit(0)")
    with cotnpot.Executor(workers=1) as ex:
        r = ex.run([forge])[0]
        assert r.status == "error" and r.error_type == "\ufffd\ufffd"
        t = ex.run_tests([forge, "def f(x):\n    return 5"], ["assert f(2) == 5"] * 2)
    assert [x.passed for x in t] == [False, True]


def test_values_that_are_not_plain_compare_as_they_would_in_the_job():
    """Found by a review: numpy scalars, Fractions and Decimals failed split checks that pass in the job;
    other objects are opaque (equal to nothing, not None); frozensets keep their type."""
    programs = ["from fractions import Fraction\ndef f(x):\n    return Fraction(x, 2)",
                "import decimal\ndef f(x):\n    return decimal.Decimal(x) / 2",
                "class Box:\n    pass\ndef f(x):\n    return Box()"]
    tests = ["assert f(1) == 0.5", "assert f(1) == 0.5", "assert f(1) is not None\nassert f(1) != 0"]
    try:
        import numpy  # noqa: F401
        programs.append("import numpy as np\ndef f(x):\n    return np.int64(x) * 2")
        tests.append("assert f(2) == 4\nassert f(3) != 4")
    except ImportError:
        pass
    with cotnpot.Executor(workers=1) as ex:
        split = ex.run_tests(programs, tests)
        inside = ex.run_tests(programs, tests, split=False)
    assert all(not r.judged_in_process for r in split)
    assert [r.passed for r in split] == [r.passed for r in inside] == [True] * len(programs), \
        [(r.failing_test, r.error_message) for r in split]


# ---- found by a breaker comparing verdicts with the program and its asserts run by python3 itself ----------

NUMPY_AND_FRIENDS = [
    # (program, tests, the verdict of python3 running program + asserts)
    ("import numpy as np\ndef is_even(a): return np.sum(a) % 2 == 0", ["assert is_even([1,3]) is True"], False),
    ("import numpy as np\ndef f(a): return np.any(a)", ["assert f([0,0]) is False"], False),   # np.False_ is not False
    ("import math\ndef f(n): return math.factorial(n)", ["assert f(2000) is not None"], True),   # 5,736 digits
    ("import math\ndef f(n): return math.factorial(n)", ["assert f(2000) != 0"], True),
    ("from fractions import Fraction\ndef f(): return Fraction(1, 3)", ["import math", "assert math.isclose(f(), 0.3333333333)"], True),
    ("from decimal import Decimal\ndef f(): return Decimal('2.5')", ["import math", "assert math.isclose(f(), 2.5)"], True),
    ("def f(): return True", ["import math", "assert math.isclose(f(), 1.0)"], True),
    ("def f(d): return d.keys()", ["assert f({1: 2, 3: 4}) == {1, 3}"], True),
    ("def f(d): return d.items()", ["assert f({1: 2}) == {(1, 2)}"], True),
    ("def f(d): return d.keys()", ["assert f({1: 2, 3: 4}) == [1, 3]"], False),
    ("def f(d): return d.values()", ["assert f({1: 2}) == [2]"], False),
    ("def f(n): return set(range(n))", ["assert f(5000) is not None"], True),   # past the set cap: identity only
    # check()'s locals lifted to the top level had replaced the program's global `data`
    ("data = [10, 20]\ndef total(xs): return sum(xs) + len(data)",
     ["def check(candidate):\n    data = [1, 2, 3]\n    assert candidate(data) == 8\n\ncheck(total)"], True),
]


def split_and_in_the_job(program, tests):
    """The results of one suite judged split (where it can be) and judged in the job."""
    with cotnpot.Executor(workers=1) as ex:
        return ex.run_tests([program], [tests])[0], ex.run_tests([program], [tests], split=False)[0]


@pytest.mark.parametrize("program, tests, truth", NUMPY_AND_FRIENDS)
def test_verdicts_agree_with_python_running_the_asserts(program, tests, truth):
    split, whole = split_and_in_the_job(program, tests)
    assert not split.judged_in_process
    assert (split.passed, whole.passed) == (truth, truth), (split.error_type, split.error_message)


def test_a_recursion_gets_the_stack_a_script_has():
    """The worker's frames (and eval's, in the split harness) were taken from the job's recursion limit: a
    recursion that passes run as a script failed from depth 993 (in the job) or 990 (split)."""
    program = "def f(n): return 0 if n == 0 else 1 + f(n - 1)"

    def script_passes(n):
        # the interpreter the workers run (the Executor's default)
        return subprocess.run(["/usr/bin/python3", "-c", f"{program}\nassert f({n}) == {n}"], capture_output=True,
                              stdin=subprocess.DEVNULL).returncode == 0
    deepest = max(n for n in range(990, 1001) if script_passes(n))
    with cotnpot.Executor(workers=1) as ex:
        for split in (True, False):
            got = [r.passed for r in ex.run_tests([program] * 2, [[f"assert f({deepest}) == {deepest}"],
                                                                  [f"assert f({deepest + 1}) == {deepest + 1}"]],
                                                  split=split)]
            assert got == [True, False], (split, deepest)


def test_the_failing_assert_is_named_as_written_whole():
    """A multi-line assert was named by one of its lines judged in the job (``assert f(1) == [``), and split
    by its ast.unparse ({'b': 1} for {'b':1})."""
    program = "def f(x): return x"
    tests = [["assert (\n    f(2)\n    == [2, 2, 3]\n)"], ["assert f({'b':1}) == {'b':2}"]]
    with cotnpot.Executor(workers=1) as ex:
        for split in (True, False):
            named = [r.failing_test for r in ex.run_tests([program] * 2, tests, split=split)]
            assert named == ["assert (\n    f(2)\n    == [2, 2, 3]\n)", "assert f({'b':1}) == {'b':2}"], split


def test_a_job_cannot_read_the_literal_of_an_identity_assert():
    """Found by a breaker: with `(CALL) is True` in its harness, a job read the literal from its caller's
    bytecode and returned it, passing every `is True/False/None` assert without computing anything. The job
    now reports which identity the value has; the literal stays with the caller."""
    reader = ("import sys, dis\n"
              "def is_prime(*args):\n"
              "    frame = sys._getframe(1)\n"
              "    names = [x.argval for x in dis.get_instructions(frame.f_code)]\n"
              "    for value in (True, False, None):\n"
              "        if value in names and any(x is value for x in names):\n"
              "            return value\n"
              "    return 'no idea'\n")
    suite = ["assert is_prime(7) is True", "assert is_prime(8) is False", "assert is_prime(1) is False",
             "assert is_prime(13) is True"]
    true_plan, false_plan = judge.split_tests([suite[0]]), judge.split_tests([suite[1].replace("8", "7")])
    assert true_plan.harness() == false_plan.harness()   # nothing of the literal in the job
    with cotnpot.Executor(workers=1) as ex:
        got = ex.run_tests([reader], [suite])[0]
    assert not got.judged_in_process and not got.passed


def test_colliding_fractions_are_charged_by_their_comparisons_and_distinct_items_are_not():
    """Found by a breaker: 4,096 Fractions of one hash cost the caller 1.6 s (a Fraction's == is Python); and
    a correct set of 5,000 distinct ints was refused, every item charged whether it collided or not."""
    import time
    p = 2 ** 61 - 1
    fractions_ = [["fraction", [str(1 + i * p), "1"]] for i in range(4096)]
    start = time.process_time()
    ok, why = judge.decode_values(json.dumps([["set", fractions_]]), 1)[0]
    assert not ok and "more than 4096" in why and time.process_time() - start < 0.5
    ok, value = judge.decode_values(json.dumps([["set", [["int", str(k)] for k in range(5000)]]]), 1)[0]
    assert ok and value == set(range(5000))
    with cotnpot.Executor(workers=1) as ex:
        r = ex.run_tests(["def f(n): return set(range(n))"], [["assert f(5000) != {1}"]])[0]
    assert r.passed and not r.judged_in_process


def test_an_error_text_that_is_not_text_costs_nothing():
    deep = ["error", [[[[1]]]] * 10]
    assert judge.decode_values(json.dumps([deep]), 1) == [(False, "error")]


def test_a_humaneval_assert_gets_the_stack_it_has_inside_check():
    """check() puts its asserts a frame deeper than a top-level one: lifted without it, a recursion that fails
    in check() passed (a breaker)."""
    program = "def f(n): return 0 if n == 0 else 1 + f(n - 1)"

    def suite(n):
        return f"def check(candidate):\n    assert candidate({n}) == {n}\n\ncheck(f)"

    def script_passes(n):
        return subprocess.run(["/usr/bin/python3", "-c", f"{program}\n{suite(n)}"], capture_output=True,
                              stdin=subprocess.DEVNULL).returncode == 0
    deepest = max(n for n in range(990, 1001) if script_passes(n))
    with cotnpot.Executor(workers=1) as ex:
        got = ex.run_tests([program] * 2, [[suite(deepest)], [suite(deepest + 1)]])
    assert [r.passed for r in got] == [True, False] and not any(r.judged_in_process for r in got)


REVIEWERS_CASES = [
    # found by a reviewer: check()'s locals were every name stored anywhere in it, comprehension targets too
    ("n = 3\ndef f(xs): return sum(xs)",
     ["def check(candidate):\n    assert candidate([n for n in range(4)]) == 6\n    assert candidate([n]) == 3\n\ncheck(f)"],
     True),
    # a local of check() that a lambda's argument shadows: judged in the job, where the lambda reads its own
    ("def f(g): return g(1)", ["def check(candidate):\n    x = 5\n    assert candidate(lambda x: x + 1) == 2\n\ncheck(f)"],
     True),
    # a walrus binds for the asserts after it; inside the harness's lambda it would not
    ("def f(v): return v", ["assert f(y := 5) == 5\nassert f(y) == 5"], True),
    # a dict items view with unhashable values equals nothing one can write: `!=` holds
    ("def f(): return {1: [2]}.items()", ["assert f() != 5"], True),
]


def test_the_failing_statement_is_the_assert_not_its_line_neighbour():
    with cotnpot.Executor(workers=1) as ex:
        got = ex.run_tests(["def f(x): return x"], [["x = 1; assert f(1) == 2"]], split=False)[0]
    assert got.failing_test == "assert f(1) == 2"


def test_splitting_a_long_suite_is_linear():
    """Each assert's text taken with ast.get_source_segment re-split the whole source: 4,000 asserts took 25 s
    of the caller's CPU (a reviewer). A generous bound: the quadratic form is ~20x past it."""
    import time
    suite = "\n".join(f"assert f({k}) == {k}" for k in range(4000))
    start = time.process_time()
    plan = judge.split_tests([suite])
    assert plan is not None and len(plan.checks) == 4000 and plan.checks[-1].line == "assert f(3999) == 3999"
    assert time.process_time() - start < 2.5


def test_colliding_heavy_items_among_many_light_ones_are_charged_by_their_own_weight():
    """Found by a reviewer: the set's average item weight charged 1,000 colliding Fractions and 2,000 colliding
    Decimals among 48,000 distinct ints as ints: 1.7 s of the caller's CPU, within the budget. Timed against
    decoding as many distinct ints in the same process (an absolute 0.5 s had failed on a slower, loaded VM:
    0.72 s, against 0.24 s alone), the best of three each, with the garbage collector off: in the full suite a
    collection of the whole process's heap (every earlier test's objects) fell inside one timing, 1.01 s
    against 0.12 s, while alone the two take the same time."""
    import gc
    import time
    p = 2 ** 61 - 1
    items = ([["fraction", [str(1 + i * p), "1"]] for i in range(1000)]
             + [["decimal", str(1 + j * p)] for j in range(2000)] + [["int", str(10 ** 6 + k)] for k in range(48000)])
    light = json.dumps([["set", [["int", str(10 ** 6 + k)] for k in range(51000)]]])
    heavy = json.dumps([["set", items]])

    def cpu_time_of(payload):
        start = time.process_time()
        result = judge.decode_values(payload, 1)
        return time.process_time() - start, result

    gc.collect()
    gc.disable()
    try:
        baseline, took = float("inf"), float("inf")
        for _ in range(3):
            baseline = min(baseline, cpu_time_of(light)[0])
            seconds, result = cpu_time_of(heavy)
            took = min(took, seconds)
    finally:
        gc.enable()
    ok, why = result[0]
    assert not ok and "more than 4096" in why
    assert took < 4 * baseline + 0.05, (took, baseline)   # charged by weight: about the light set's time


@pytest.mark.parametrize("program, tests, truth", REVIEWERS_CASES + [
    # found by a second reviewer: a recursion limit one call sets stays for the next, as in the script (each call's offset reset it)
    ("import sys\ndef prepare():\n    sys.setrecursionlimit(20000)\n    return True\n"
     "def depth(n): return 0 if n == 0 else 1 + depth(n - 1)", ["assert prepare() is True", "assert depth(5000) == 5000"],
     True),
    # an import in check() binds check()'s own name, not the program's
    ("def sqrt(x): return 3\ndef f(x): return sqrt(x) + 1",
     ["def check(candidate):\n    from math import sqrt\n    assert candidate(4) == 4\n    assert sqrt(4) == 2.0\n\ncheck(f)"],
     True),
    # an assert after check(f) runs after check()'s asserts (a stateful candidate tells)
    ("calls = []\ndef f(x):\n    calls.append(x)\n    return len(calls)",
     ["def check(candidate):\n    assert candidate(0) == 1\n\ncheck(f)\nassert f(0) == 2"], True),
])
def test_suites_reviewers_found_misjudged(program, tests, truth):
    split, whole = split_and_in_the_job(program, tests)
    assert (split.passed, whole.passed) == (truth, truth), (split.error_type, split.error_message)


def test_a_name_check_imports_is_never_the_candidates_function():
    """check()'s `from math import isclose`, renamed apart from the program's names, must stay the suite's: taken
    for the candidate's function, `isclose(candidate(2), 5.0)` would carry 5.0 into the job, which can replace
    math.isclose."""
    suite = "def check(candidate):\n    from math import isclose\n    assert isclose(candidate(2), 5.0)\n\ncheck(f)"
    assert judge.split_tests([suite]) is None
    forge = "import math\nmath.isclose = lambda *a, **k: True\ndef f(x): return 0.0"
    with cotnpot.Executor(workers=1) as ex:
        got = ex.run_tests([forge], [[suite]])[0]
    assert got.judged_in_process   # judged in the job, as its result says: never split
