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
