"""Programs that know they are in a sandbox (issue 16): every attack here was observed against an earlier
executor; each test fails against that executor and is followed by correct jobs that must come back right."""
import os
import time

import pytest

import cotnpot

IS_ROOT = os.geteuid() == 0


@pytest.fixture(scope="module")
def one():
    """One worker: every job is forked from the same process, so whatever one job leaves, the next meets."""
    with cotnpot.Executor(workers=1, timeout=3.0, memory_mb=512) as executor:
        yield executor


def correct_jobs_still_correct(ex):
    write_read = "open('f.txt', 'w').write('hi')\nprint(open('f.txt').read())"
    r = ex.run([write_read, "print(sum(range(10)))"])
    assert [(x.status, x.answer) for x in r] == [("ok", "hi"), ("ok", "45")], [(x.status, x.error_message) for x in r]


# ---- deadlines that always fire ----------------------------------------------------------------------------

def test_closing_every_pipe_does_not_outlive_the_deadline(one):
    code = "import os, time\nfor fd in range(0, 256):\n    try:\n        os.close(fd)\n    except OSError:\n        pass\ntime.sleep(8)"
    start = time.monotonic()
    r = one.run([code], timeout=1.0)[0]
    assert r.status == "timeout", (r.status, r.error_type, r.error_message)
    assert time.monotonic() - start < 4.0
    correct_jobs_still_correct(one)


# ---- one budget per job ------------------------------------------------------------------------------------

def test_the_result_channel_has_a_total_cap(one):
    # the result descriptor is whichever one above 2 is open for writing; flood it past any per-read cap
    code = ("import os\nfor fd in range(3, 64):\n    try:\n        for _ in range(40):\n"
            "            os.write(fd, b'x' * (1 << 20))\n    except OSError:\n        pass\nos._exit(0)")
    r = one.run([code], timeout=10.0)[0]
    assert r.status == "output_limit", (r.status, r.error_type, r.error_message)
    correct_jobs_still_correct(one)


def test_a_huge_answer_is_capped(one):
    r = one.run(["ans = 'x' * (20 * 2**20)"], answer="variable", timeout=10.0)[0]
    assert r.status == "output_limit" and len(r.answer) <= 1 << 20, (r.status, len(r.answer))
    correct_jobs_still_correct(one)


def test_a_directory_bomb_does_not_break_the_next_job(one):
    bomb = ("import os\nfor i in range(1200):\n    os.mkdir('d')\n    os.chdir('d')\n"
            "for i in range(16):\n    try:\n        open(f'f{i}', 'wb').write(b'x' * (16 << 20 - 1))\n"
            "    except OSError:\n        break\nprint('planted')")
    r = one.run([bomb], timeout=20.0)[0]
    assert r.status in ("ok", "error", "killed"), (r.status, r.error_message)
    correct_jobs_still_correct(one)
    correct_jobs_still_correct(one)


# ---- verdicts a program cannot forge ------------------------------------------------------------------------

WRONG = "def f(x):\n    return 0\n"
TESTS = "assert f(2) == 918273645\nassert f(3) == 6"
FORGERIES = {
    "writes its own verdict": WRONG + "import os\nfor fd in range(3, 64):\n    try:\n"
                              "        os.write(fd, b'{\"passed\": \"1\"}')\n    except OSError:\n        pass\nos._exit(0)",
    "replaces compile": WRONG + "import builtins\n_c = builtins.compile\n"
                        "builtins.compile = lambda src, name, mode, *a, **k: _c('pass', name, mode)",
    "patches json.dumps": WRONG + "import json\njson.dumps = lambda *a, **k: '{\"passed\": \"1\"}'",
    "exits early": WRONG + "import sys\nsys.exit(0)",
    "exits at once": WRONG + "import os\nos._exit(0)",
    "SystemExit from __eq__": "class E:\n    def __eq__(self, other):\n        raise SystemExit(0)\n"
                              "def f(x):\n    return E()\n",
    "always-equal object": "class E:\n    def __eq__(self, other):\n        return True\n    __hash__ = object.__hash__\n"
                           "def f(x):\n    return E()\n",
    "always-equal int": "class I(int):\n    def __eq__(self, other):\n        return True\n    __hash__ = int.__hash__\n"
                        "def f(x):\n    return I(0)\n",
    "prints fake records": WRONG + "print('{\"passed\": \"1\"}')\nprint('[[\"int\", \"918273645\"], [\"int\", \"6\"]]')",
    "reads the tests from the caller": WRONG + "import sys\nframe = sys._getframe()\nwhile frame:\n"
                                        "    for v in list(frame.f_locals.values()):\n"
                                        "        if isinstance(v, dict) and 'tests' in v:\n"
                                        "            print('FOUND', v)\n    frame = frame.f_back",
}


@pytest.mark.parametrize("name", list(FORGERIES))
def test_a_wrong_program_never_forges_a_pass(one, name):
    r = one.run_tests([FORGERIES[name]], [TESTS])[0]
    assert not r.passed and not r.judged_in_process, (name, r)
    if name.startswith("exits"):
        assert r.error_type == "NoResult"
    if name == "reads the tests from the caller":
        assert "918273645" not in r.stdout
    honest = one.run_tests(["def f(x):\n    return 918273645 if x == 2 else 2 * x\n"], [TESTS])[0]
    assert honest.passed and honest.tests_passed == [True, True]


def test_the_expected_values_and_the_callers_environment_never_enter_the_job(monkeypatch):
    scan = ("import ctypes, re\nctypes.CDLL(None).prctl(4, 1, 0, 0, 0)  # PR_SET_DUMPABLE: own memory readable\n"
            "found = []\nmem = open('/proc/self/mem', 'rb', 0)\n"
            "for line in open('/proc/self/maps'):\n    parts = line.split()\n"
            "    if 'r' not in parts[1]:\n        continue\n"
            "    a, b = (int(x, 16) for x in parts[0].split('-'))\n    try:\n        mem.seek(a)\n"
            "        chunk = mem.read(b - a)\n    except (OSError, ValueError, OverflowError):\n        continue\n"
            "    for label, needle in (('expected', rb'9[1]8[2]7[3]6[4]5'), ('secret', rb'h[i]dden-s[e]cret-4711')):\n"
            "        if re.search(needle, chunk):\n            found.append(label)\n"
            "def f(x):\n    return sorted(set(found))\n")
    monkeypatch.setenv("COTNPOT_TEST_TOKEN", "hidden-" + "secret-4711")
    with cotnpot.Executor(workers=1) as fresh:   # no earlier job in its worker (see the next test for that)
        r = fresh.run_tests([scan], [TESTS])[0]
        assert not r.judged_in_process and r.error_type == "AssertionError"
        values = fresh.run([scan + "ans = f(0)"], answer="variable")[0]   # what it found, as its value
        planted = fresh.run(["planted = 'hidden-' + 'secret-4711'\n" + scan + "ans = f(0)"], answer="variable")[0]
    assert values.status == "ok" and values.answer == "[]", values.answer
    assert planted.answer == "['secret']"   # the scan does find what is there


def test_suites_that_cannot_be_split_say_so(one):
    loop = "for x, y in [(2, 4), (3, 6)]:\n    assert f(x) == y"
    r = one.run_tests(["def f(x):\n    return 2 * x\n"], [loop])[0]
    assert r.passed and r.judged_in_process
    forced = one.run_tests(["def f(x):\n    return 2 * x\n"], ["assert f(2) == 4"], split=False)[0]
    assert forced.passed and forced.judged_in_process


def test_split_and_in_process_judgements_agree_on_mbpp(one):
    """Real MBPP (all 974 tasks with their challenge tests, and the 427 sanitized ones with their test
    imports): almost every suite splits, and the split verdicts equal the in-process ones for the reference
    solutions and for broken variants."""
    import json
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).parent))
    from test_executor import SHARED, broken
    full = [json.loads(line) for line in (SHARED / "mbpp_full.jsonl").open()]
    sanitized = [json.loads(line) for line in (SHARED / "mbpp_sanitized.jsonl").open()]
    rows = full + sanitized
    programs = [r["code"] for r in rows] + [broken(r["code"]) for r in rows]
    suites = [r["test_list"] + r["challenge_test_list"] for r in full] + [r["test_list"] for r in sanitized]
    suites *= 2
    setup = ([r["test_setup_code"] for r in full] + ["\n".join(r["test_imports"]) for r in sanitized]) * 2
    split = one.run_tests(programs, suites, setup=setup, timeout=10)
    inside = one.run_tests(programs, suites, setup=setup, timeout=10, split=False)
    unsplit = sum(r.judged_in_process for r in split)
    assert unsplit <= 0.01 * len(programs), unsplit
    differ = [(i % len(rows), a.passed, b.passed, a.failing_test) for i, (a, b) in enumerate(zip(split, inside))
              if a.passed != b.passed]
    assert differ == [], differ[:10]
    assert sum(r.passed for r in split[:len(rows)]) > 0.95 * len(rows)   # a run that judges nothing cannot pass
