"""Programs that know they are in a sandbox (issue 16): every attack here was observed against an earlier
executor; each test fails against that executor and is followed by correct jobs that must come back right."""
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import pytest

import cotnpot

sys.path.insert(0, str(Path(__file__).parent))
from test_executor import (IS_ROOT, SHARED, alive, broken, leftover_job_processes, process_state,  # noqa: E402
                           worker_pids)


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
    # disk_limit: without a tmpfs of the job's own, deeper than the worker measures (the test below)
    assert r.status in ("ok", "error", "killed", "disk_limit"), (r.status, r.error_message)
    correct_jobs_still_correct(one)
    correct_jobs_still_correct(one)


# Each writes past the job's file budget (64 MiB, 4096 inodes) in its own way, then waits to be measured.
DISK_HOGS = {
    "bytes": "for i in range(200):\n    open(f'f{i}', 'wb').write(b'x' * (1 << 20))\nprint('wrote')",
    "inodes": "for i in range(6000):\n    open(f'f{i}', 'w').close()\nprint('wrote')",
    "depth": "import os\nos.makedirs('/'.join(['d'] * 40))\nprint('wrote')",
    # found by a breaker: a directory its worker cannot read (mkdir's mode, no chmod needed) hid what lay below;
    # only where the worker is the job's uid (the fallback's test): a root worker reads it, and counts 96 MiB
    "unreadable": "import os\nos.umask(0)\nos.mkdir('h', 0o300)\nfor i in range(6):\n"
                  "    open(f'h/f{i}', 'wb').write(b'x' * (16 << 20))\nprint('wrote')",
    # found by a breaker: files unlinked while held are in no directory (1.6 GiB held with 5 descriptors), and
    # a one-page shared mapping holds a whole file after its descriptor is closed
    "held open": "import os\nheld = []\nfor i in range(6):\n    f = open(f'f{i}', 'w+b')\n"
                 "    f.write(b'x' * (15 << 20))\n    f.flush()\n    os.unlink(f'f{i}')\n    held.append(f)\n"
                 "print('wrote')",
    # (libc's mmap: Python's mmap keeps a descriptor of its own)
    "held mapped": "import ctypes, os\nlibc = ctypes.CDLL(None)\nlibc.mmap.restype = ctypes.c_void_p\n"
                   "libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]\n"
                   "for i in range(6):\n    fd = os.open(f'f{i}', os.O_CREAT | os.O_RDWR, 0o600)\n"
                   "    os.write(fd, b'x' * (15 << 20))\n    assert libc.mmap(None, 4096, 1, 1, fd, 0) not in (None, 2**64 - 1)\n"
                   "    os.close(fd)\n    os.unlink(f'f{i}')\nprint(len(os.listdir('/proc/self/fd')))",
    # a breaker's: the same from a process whose main thread ended while another runs on, whose
    # /proc/<pid>/maps is then empty (960 MiB held, `ok`)
    "held mapped, main thread ended": (
        "import ctypes, os, threading, time\nlibc = ctypes.CDLL(None)\nlibc.mmap.restype = ctypes.c_void_p\n"
        "libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]\n"
        "def hold():\n    time.sleep(0.05)\n    for i in range(6):\n"
        "        fd = os.open(f'f{i}', os.O_CREAT | os.O_RDWR, 0o600)\n        os.write(fd, b'x' * (15 << 20))\n"
        "        libc.mmap(None, 4096, 1, 1, fd, 0)\n        os.close(fd)\n        os.unlink(f'f{i}')\n    time.sleep(3)\n"
        "if os.fork() == 0:\n    threading.Thread(target=hold).start()\n"
        "    libc.syscall({'x86_64': 60, 'aarch64': 93}[os.uname().machine], 0)\nprint('wrote')"),
    # a breaker's: maps made huge (40,000 mappings under a 3.8 KB path) made each walk take 1.9 s and the
    # next one come 19 s later; more than 4 MiB of maps is past the budget
    "huge maps": (
        "import ctypes, os\nlibc = ctypes.CDLL(None)\nlibc.mmap.restype = ctypes.c_void_p\n"
        "libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]\n"
        "top = os.getcwd()\nfor i in range(15):\n    os.mkdir(chr(97 + i) * 250)\n    os.chdir(chr(97 + i) * 250)\n"
        "fd = os.open('f', os.O_CREAT | os.O_RDWR, 0o600)\nos.ftruncate(fd, 3 * 4096)\n"
        "base = libc.mmap(None, 40000 * 4096, 0, 0x22, -1, 0)\nfor i in range(40000):\n"
        "    libc.mmap(base + i * 4096, 4096, 1, 1 | 0x10, fd, (i % 2) * 8192)\nos.chdir(top)\nprint('wrote')"),
    # and one that hides them from a worker of its uid (non-dumpable): past the budget for being unreadable (a
    # root worker reads it, and counts 90 MiB)
    "held, not dumpable": "import ctypes, os\nctypes.CDLL(None).prctl(4, 0, 0, 0, 0)\nheld = []\nfor i in range(6):\n"
                          "    f = open(f'f{i}', 'w+b')\n    f.write(b'x' * (15 << 20))\n    f.flush()\n"
                          "    os.unlink(f'f{i}')\n    held.append(f)\nprint('wrote')",
}
# Found by a breaker: FALLOC_FL_KEEP_SIZE reserves blocks without growing the file, past RLIMIT_FSIZE, and an
# unlinked file held open is in no directory: 2 GiB of the host's /tmp held by one call. Refused (mode 0 only).
DISK_RESERVE = ("import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\n"
                "fd = os.open('f', os.O_CREAT | os.O_RDWR, 0o600)\nos.unlink('f')\n"
                "r = libc.fallocate(fd, 1, ctypes.c_long(0), ctypes.c_long(256 << 20))\n"
                "print('reserved' if r == 0 else f'refused {ctypes.get_errno()}')\n"
                "print(os.posix_fallocate(fd, 0, 1 << 20), os.fstat(fd).st_size)")
# Found by a breaker where the job's directory lies on a disk (ext4: the host's /tmp of the Landlock fallback
# or of root in a chroot): a removed directory keeps its blocks while held (3,800 long names left one 1.5 MiB),
# 168 MiB held so by descriptors. A tmpfs keeps none: there the hog says so and ends ok.
DISK_HOG_REMOVED_DIRECTORIES = (
    "import os\nheld = []\nfor k in range(48):\n    d = f'd{k}'\n    os.mkdir(d)\n    open(d + '/f', 'w').close()\n"
    "    names = [d + '/' + ('%05d' % i) * 50 for i in range(3800)]\n    for n in names:\n        os.link(d + '/f', n)\n"
    "    for n in names:\n        os.unlink(n)\n    os.unlink(d + '/f')\n"
    "    held.append(os.open(d, os.O_RDONLY | os.O_DIRECTORY))\n    os.rmdir(d)\n"
    "    if os.fstat(held[0]).st_blocks == 0:\n        print('no blocks kept here')\n        break\n"
    "import time\ntime.sleep(2)")
# The job's temporary files go to its own directory: tempfile had cached /tmp when the worker made its base
# directory there, and a job's TemporaryFile() failed under Landlock (a breaker).
TEMPFILE_JOB = "import os, tempfile\nf = tempfile.TemporaryFile()\nf.write(b'x')\nprint(tempfile.gettempdir() == os.getcwd())"
# Three unlinked files of 12 MiB, held by the job and by a child it forked: 36 MiB, counted once each; and
# anonymous shared memory (multiprocessing's), which maps list as "/dev/zero (deleted)": none of its files.
DISK_HONEST_HELD = ("import mmap, os, tempfile, time\nshared = [mmap.mmap(-1, 1 << 20) for _ in range(8)]\n"
                    "held = [tempfile.TemporaryFile(dir='.') for _ in range(3)]\n"
                    "for f in held:\n    f.write(b'x' * (12 << 20))\n    f.flush()\npid = os.fork()\n"
                    "if pid == 0:\n    time.sleep(0.6)\n    os._exit(0)\ntime.sleep(0.3)\nos.waitpid(pid, 0)\n"
                    "print(sum(os.fstat(f.fileno()).st_size for f in held))")
DISK_HONEST = ("import os\nfor name in 'abc':\n    open(name, 'wb').write(b'x' * (12 << 20))\nos.makedirs('a1/b/c')\n"
               "for i in range(500):\n    open(f'a1/b/c/f{i}', 'w').write('y')\nimport time\ntime.sleep(0.3)\n"
               "print(sum(map(os.path.getsize, 'abc')), len(os.listdir('a1/b/c')))")


def test_a_job_directory_without_a_tmpfs_of_its_own_has_a_budget():
    """Found by a breaker: without a mount namespace (the Landlock fallback of a chroot) the job's directory is a
    plain one in the host's /tmp, bounded only by the file-size limit per file (with job_namespaces=False, as
    here, a plain one in its worker's tmpfs, measured the same way). A job wrote 768 MiB and 19,000 inodes in a
    second and filled a small /tmp: honest jobs beside it printed answers from empty scratch files. The worker
    now measures the directory while its job runs and ends a job past the tmpfs's own limits (64 MiB, 4096
    inodes) as disk_limit; an honest job's files stay its own."""
    hogs = [code + "\nimport time\ntime.sleep(2)" for code in DISK_HOGS.values()]
    with cotnpot.Executor(workers=1, timeout=20.0, job_namespaces=False) as ex:
        results = ex.run(hogs + [DISK_RESERVE, DISK_HONEST, DISK_HONEST_HELD])
        correct_jobs_still_correct(ex)
    statuses = {name: (r.status, r.stdout.strip()) for name, r in zip(DISK_HOGS, results)}
    assert all(status == "disk_limit" for status, _ in statuses.values()), statuses
    assert (results[-3].status, results[-3].stdout.splitlines()) == ("ok", ["refused 1", "None 1048576"]), results[-3]
    assert (results[-2].status, results[-2].stdout.strip()) == ("ok", "37748736 500"), results[-2]
    assert (results[-1].status, results[-1].stdout.strip()) == ("ok", "37748736"), results[-1]


def test_a_report_written_while_the_job_is_stopped_for_a_walk_arrives_whole():
    """Found in a pristine-root run: the job's report (here a 900 kB answer, through a 64 KiB pipe) was
    written with one write, which a stop for the disk walk cuts short (a pipe write interrupted after some
    data returns what it wrote); the rest was lost, and the job ended `error`, "without a result". The
    report is now written to its end. Jobs of more than 10 ms are walked, and stopped, every 10 ms."""
    job = "import time\ntime.sleep(0.012)\nans = 'y' * 900_000"
    with cotnpot.Executor(workers=1, timeout=20.0, job_namespaces=False) as ex:
        results = ex.run([job] * 60, answer="variable")
    assert [(r.status, len(r.answer)) for r in results] == [("ok", 900_000)] * 60, \
        [(r.status, r.error_message) for r in results if r.status != "ok"][:3]


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


# A job's readable memory, mapping by mapping, read with process_vm_readv on itself: a job cannot make itself
# dumpable (the filter refuses it: a dumpable job had set its worker session's autogroup nice), so its
# /proc/self/mem is not its to open; process_vm_readv needs only the same process.
OWN_MEMORY = (
    "import ctypes, os\n"
    "class _Iov(ctypes.Structure):\n    _fields_ = [('base', ctypes.c_void_p), ('len', ctypes.c_size_t)]\n"
    "_libc = ctypes.CDLL(None, use_errno=True)\n_libc.process_vm_readv.restype = ctypes.c_ssize_t\n"
    "def own_memory():\n"
    "    for line in open('/proc/self/maps'):\n        parts = line.split()\n"
    "        if 'r' not in parts[1]:\n            continue\n"
    "        a, b = (int(x, 16) for x in parts[0].split('-'))\n"
    "        buf = ctypes.create_string_buffer(b - a)\n"
    "        local, remote = _Iov(ctypes.addressof(buf), b - a), _Iov(a, b - a)\n"
    "        n = _libc.process_vm_readv(os.getpid(), ctypes.byref(local), 1, ctypes.byref(remote), 1, 0)\n"
    "        if n > 0:\n            yield buf.raw[:n]\n")


def test_the_expected_values_and_the_callers_environment_never_enter_the_job(monkeypatch):
    scan = (OWN_MEMORY + "import re\nfound = []\nfor chunk in own_memory():\n"
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


def test_an_earlier_jobs_data_is_not_in_a_later_jobs_memory():
    """Forked jobs inherit their worker's memory: a job that scans its own finds nothing of the job before it
    (its tests judged in the job, its code, its output), while a planted string is found (the scan works)."""
    scan = (OWN_MEMORY + "import re\nfound = []\nfor chunk in own_memory():\n"
            "    for label, needle in (('tests', rb'q[u]ux-tests-551'), ('code', rb'q[u]ux-code-662'), "
            "('output', rb'q[u]ux-output-773')):\n"
            "        if re.search(needle, chunk):\n            found.append(label)\nans = sorted(set(found))\n")
    earlier = "secret = 'quux-code-662'\nprint('quux-output-' + '773')\ndef f():\n    return 1\n"
    with cotnpot.Executor(workers=1) as ex:
        first = ex.run_tests([earlier], ["assert f() == 1, 'quux-tests-551'"], split=False)[0]
        assert first.passed and "quux-output-773" in first.stdout
        later = ex.run([scan], answer="variable")[0]
        planted = ex.run(["x = 'quux-' + 'output-773'\n" + scan], answer="variable")[0]
    assert later.status == "ok" and later.answer == "[]", later.answer
    assert planted.answer == "['output']"


# A later job's scan of its own writable memory (memmem, in place: no copy of it) for the 8-byte patterns an
# earlier job's output lengths leave: the reply's length headers (key length 6, then the value's length) and
# the lengths as size_t. Its own needle objects are skipped (with the bytes after each: one needle's tail and
# padding can look like another needle).
LENGTH_SCAN = r'''
import ctypes
libc = ctypes.CDLL(None)
libc.memmem.restype = ctypes.c_void_p
libc.memmem.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p, ctypes.c_size_t]
needles = [bytes([6, 0, 0, 0, 0x7E, 0xA1, 0x05, 0]), bytes([6, 0, 0, 0, 0xDE, 0xC0, 0x03, 0]),
           bytes([0x7E, 0xA1, 0x05, 0, 0, 0, 0, 0]), bytes([0xDE, 0xC0, 0x03, 0, 0, 0, 0, 0])]
owns = [ctypes.cast(ctypes.c_char_p(needle), ctypes.c_void_p).value for needle in needles]
found = []
for line in open("/proc/self/maps"):
    parts = line.split()
    if parts[1][:2] != "rw":
        continue
    start, end = (int(x, 16) for x in parts[0].split("-"))
    for k, needle in enumerate(needles):
        at, left = start, end - start
        while left >= len(needle):
            hit = libc.memmem(at, left, owns[k], len(needle))
            if not hit:
                break
            if not any(own <= hit < own + 24 for own in owns):
                found.append(k)
            left -= hit + 1 - at
            at = hit + 1
ans = sorted(set(found))
'''


def test_what_the_worker_knew_of_an_earlier_job_is_not_in_a_later_jobs_memory():
    """The job loop's own knowledge of a job -- its output lengths, exit code, times, the reply's length
    headers -- is job-chosen data too: a breaker read an earlier job's output lengths (two 16-bit values
    and more, a channel between jobs) from the stack a later job inherits, and its exit code, wall time and
    RSS from the loop's static texts. The worker now zeroes them and the stack below its loop after each
    reply. The planted control shows that the scan finds such a pattern where there is one."""
    earlier = ("import os, sys\nsys.stdout.write('o' * 369022)\nsys.stderr.write('e' * 245982)\n"
               "sys.stdout.flush()\nsys.stderr.flush()\nos._exit(201)")
    with cotnpot.Executor(workers=1, output_limit=1 << 20) as ex:
        first, later = ex.run([earlier, LENGTH_SCAN], answer="variable")
        planted = ex.run(["planted = bytes([6, 0, 0, 0, 0x7E, 0xA1, 0x05, 0]) + b'x'\n" + LENGTH_SCAN],
                         answer="variable")[0]
    assert (len(first.stdout), len(first.stderr), first.exit_code) == (369022, 245982, 201)
    assert later.status == "ok" and later.answer == "[]", later.answer
    assert planted.status == "ok" and planted.answer.startswith("[0"), planted.answer   # (its freed temporary too)


def test_a_job_cannot_pass_its_own_signal_for_a_limit():
    """Found by a breaker: a job that filled its output cap and then crashed was reported `output_limit`, and
    one that sent itself SIGXCPU (without a pid namespace, where its signals to itself are not ignored)
    `timeout` after no CPU time at all. Now only the signals the limits send count, once the limit was met."""
    crash_after_cap = "import sys, ctypes\nsys.stdout.write('x' * 1000)\nsys.stdout.flush()\nctypes.string_at(0)"
    with cotnpot.Executor(workers=1, output_limit=1000) as ex:
        crashed = ex.run([crash_after_cap])[0]
    own_sigxcpu = "import os, signal\nos.kill(os.getpid(), signal.SIGXCPU)"
    with cotnpot.Executor(workers=1, job_namespaces=False) as ex:   # the jobs share their worker's namespaces
        sent = ex.run([own_sigxcpu])[0]
    assert (crashed.status, crashed.signal, len(crashed.stdout)) == ("killed", 11, 1000), crashed
    assert (sent.status, sent.signal) == ("killed", 24), sent


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


# ---- nothing shared, nothing outside ------------------------------------------------------------------------

def job_processes():
    return set(leftover_job_processes())


@pytest.mark.skipif(not IS_ROOT, reason="jobs run as the caller without root (docs/executor.md)")
def test_processes_spinning_on_killing_the_worker_never_win():
    # each spinner kills its parent and every pid its /proc lists (the worker's among them, as root)
    spinner = ("import os, time\nw = os.getppid()\nfor _ in range(10):\n    if os.fork() == 0:\n"
               "        while True:\n            for p in [w] + [int(e) for e in os.listdir('/proc') if e.isdigit()]:\n"
               "                if p not in (os.getpid(), 0, 1):\n                    try:\n"
               "                        os.kill(p, 9)\n                    except OSError:\n"
               "                        pass\ntime.sleep(0.3)\nprint('done')")
    before = job_processes()
    with cotnpot.Executor(workers=1, timeout=1.0) as ex:
        r = ex.run([spinner] * 30)
        assert [x.error_type for x in r if x.status == "sandbox_error"] == []
        correct_jobs_still_correct(ex)
    assert still_running(job_processes() - before) == set()


@pytest.mark.skipif(not IS_ROOT, reason="jobs run as the caller without root (docs/executor.md)")
def test_no_job_process_outlives_its_worker():
    import signal
    import threading
    # (setsid is refused now: the daemon stays in the job's group, and must die with it all the same)
    daemon = ("import os, time\nif os.fork() == 0:\n    try:\n        os.setsid()\n    except OSError:\n        pass\n"
              "    if os.fork() == 0:\n        time.sleep(60)\n    os._exit(0)\ntime.sleep(30)")
    before = job_processes()
    with cotnpot.Executor(workers=1, timeout=40.0) as ex:
        workers = worker_pids()
        threading.Timer(1.0, lambda: [os.kill(p, signal.SIGKILL) for p in workers]).start()
        r = ex.run([daemon])[0]
        assert r.error_type == "WorkerDied"
        assert still_running(job_processes() - before) == set()
        correct_jobs_still_correct(ex)


def still_running(pids, seconds=5.0):
    """The processes among pids that are neither gone nor zombies after up to `seconds` (a namespace's
    teardown and the reaping of its zombies by whoever adopted them take a moment)."""
    deadline = time.monotonic() + seconds
    while True:
        left = {p for p in pids if alive(p)}
        if not left or time.monotonic() > deadline:
            return {(p, process_state(p)) for p in left}
        time.sleep(0.1)


def test_host_processes_are_invisible(one):
    r = one.run([f"import os\nprint(os.path.exists('/proc/{os.getpid()}'), os.path.exists('/proc/1/cmdline'))"])[0]
    if not (one.pid_isolated and one.filesystem_isolated):
        pytest.skip("no pid namespace, or no mount namespace for its /proc, here")
    assert (r.status, r.answer) == ("ok", "False True"), (r.status, r.answer, r.error_message)


def test_sysv_shared_memory_does_not_cross_jobs(one):
    create = ("import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\nlibc.shmat.restype = ctypes.c_void_p\n"
              "i = libc.shmget(4711, 4096, 0o1666)\n"
              "if i >= 0:\n    ctypes.memmove(libc.shmat(i, None, 0), b'left-behind', 11)\nprint(i >= 0)")
    find = ("import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\nlibc.shmat.restype = ctypes.c_void_p\n"
            "i = libc.shmget(4711, 4096, 0o666)\nprint(ctypes.string_at(libc.shmat(i, None, 0), 11) if i >= 0 else 'none')")
    a, b = one.run([create, find])
    # shmget is refused everywhere (test_sysv_objects_leave_nothing_charged_to_the_next_job)
    assert a.answer == "False" and b.answer == "none", (a.answer, b.answer, b.error_message)


def test_memory_outside_the_address_space_is_held_to_the_budget():
    """Found by a breaker (without root, no memory cgroup): pages in a memfd filled with fallocate, and in a SysV
    segment attached, filled and detached, count against no RLIMIT_AS: a 64 MiB job held 3.5 GiB. Where a memory
    cgroup holds the job's total memfds are charged to it; elsewhere memfd_create is refused. shmget is refused
    everywhere (test_sysv_objects_leave_nothing_charged_to_the_next_job)."""
    # 40 memfds of 8 MiB: each under the job's file-size limit (16 MiB), 320 MiB in all
    memfd = ("import os\nfds = [os.memfd_create('x') for _ in range(40)]\n"
             "for fd in fds:\n    os.posix_fallocate(fd, 0, 8 << 20)\nprint('held')")
    sysv = ("import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\nlibc.shmat.restype = ctypes.c_void_p\n"
            "i = libc.shmget(0, 256 << 20, 0o1600)\nassert i >= 0, ctypes.get_errno()\n"
            "addr = libc.shmat(i, None, 0)\nctypes.memset(addr, 1, 256 << 20)\nlibc.shmdt(ctypes.c_void_p(addr))\n"
            "print('held')")
    with cotnpot.Executor(workers=1, timeout=5.0, memory_mb=64) as ex:
        by_memfd, by_segment = ex.run([memfd, sysv])
        assert by_memfd.answer != "held" and by_segment.answer != "held", ex.isolation
        assert by_memfd.status in ({"memory_limit", "killed"} if ex.memory_isolated else {"error"}), \
            (by_memfd.status, by_memfd.error_message)
        segment = (by_segment.status, by_segment.error_type, by_segment.error_message)
        assert segment == ("error", "AssertionError", "1"), segment   # shmget: EPERM
        correct_jobs_still_correct(ex)


def test_no_inotify(one):
    """Found by a breaker (without root): a job used up the uid's 128 inotify instances, which the caller shares,
    while it ran, and watches on a shared read-only file signalled between concurrent jobs. Then a later
    breaker, as root (each job a uid of its own): a job watching the interpreter's __pycache__ saw which
    modules a concurrent job on another worker imported. inotify is refused everywhere."""
    import platform
    if platform.machine() != "x86_64":
        pytest.skip("the test's syscall number is x86-64's")
    probe = ("import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
             "fd = libc.inotify_init1(0)\nprint(fd >= 0, ctypes.get_errno() if fd < 0 else 0)")
    r = one.run([probe])[0]
    assert r.status == "ok", r.error_message
    assert r.answer == "False 1", (one.isolation, r.answer)


# The jobs' seccomp filter exists on x86-64 and aarch64: the tests of what it refuses run there.
JOB_FILTER = pytest.mark.skipif(
    not sys.platform.startswith("linux") or os.uname().machine not in ("x86_64", "aarch64"),
    reason="the jobs' filter exists on x86-64 and aarch64")

# Job-side: attempt(f) runs f and says `done`, or the name of the errno it failed with.
ATTEMPT = ("import errno\n"
           "def attempt(f, done='ran'):\n    try:\n        f()\n        return done\n"
           "    except OSError as e:\n        return errno.errorcode[e.errno]\n")


@JOB_FILTER
def test_calls_that_force_writeback_return_without_running(one):
    """Found by a breaker: a job's os.sync() wrote back every dirty page of the host (2.2 GB that a checkpoint
    had left) and slept uninterruptibly to 3x its deadline; fsync on a host file it can read does the same
    for that file. sync, syncfs, fsync, fdatasync, sync_file_range and msync now return 0 without running:
    on a descriptor that does not exist they succeed where the kernel would say EBADF. Writing and reading
    a file still work."""
    probe = ("import ctypes, os, time\nlibc = ctypes.CDLL(None, use_errno=True)\n"
             "start = time.monotonic()\nos.sync()\nos.fsync(999)\nos.fdatasync(999)\n"
             "syncfs, sync_file_range = {'x86_64': (306, 277), 'aarch64': (267, 84)}[os.uname().machine]\n"
             "print(libc.syscall(syncfs, 999), libc.syscall(sync_file_range, 999, 0, 0, 0),\n"
             "      time.monotonic() - start < 0.5)")   # -1 (EBADF) where the calls run; errno is stale on success
    r = one.run([probe])[0]
    assert (r.status, r.answer) == ("ok", "0 0 True"), (r.status, r.answer, r.error_type, r.error_message)
    # the same per file, found by a reviewer in the kernel's source: O_DIRECT (a direct read writes the file's
    # dirty pages back first) answers EINVAL, as on a filesystem without it, and FIEMAP (its SYNC flag) EPERM
    direct = (ATTEMPT + "import fcntl, os, sys\n"
              "fd = os.open(sys.executable, os.O_RDONLY)\n"
              "print(attempt(lambda: os.close(os.open(sys.executable, os.O_RDONLY | os.O_DIRECT))),\n"
              "      attempt(lambda: fcntl.fcntl(fd, fcntl.F_SETFL, os.O_DIRECT)),\n"
              "      attempt(lambda: fcntl.ioctl(fd, 0xC020660B, bytearray(32))),\n"
              "      attempt(lambda: fcntl.fcntl(fd, fcntl.F_SETFL, os.O_NONBLOCK)), len(os.read(fd, 4)))")
    r = one.run([direct])[0]
    assert (r.status, r.answer) == ("ok", "EINVAL EINVAL EPERM ran 4"), (r.status, r.answer, r.error_message)
    correct_jobs_still_correct(one)


SYSV_LEAVE = ("import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
              "buf = ctypes.create_string_buffer(b'\\1\\0\\0\\0\\0\\0\\0\\0left-behind')\n"
              "q = libc.msgget(0x5EC7E7, 0o1666)\n"
              "sent = q >= 0 and libc.msgsnd(q, buf, 11, 0o4000) == 0\n"
              "s = libc.semget(0x5EC7E8, 1, 0o1666)\n"
              "print(sent, s >= 0 and libc.semctl(s, 0, 16, 1234) == 0)")   # SETVAL
SYSV_FIND = ("import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
             "buf = ctypes.create_string_buffer(64)\nq = libc.msgget(0x5EC7E7, 0o666)\n"
             "got = libc.msgrcv(q, buf, 56, 0, 0o4000) if q >= 0 else -1\n"
             "s = libc.semget(0x5EC7E8, 1, 0o666)\n"
             "print(buf.raw[8:8 + got] if got > 0 else 'none', libc.semctl(s, 0, 12) if s >= 0 else 'none')")  # GETVAL


@JOB_FILTER
@pytest.mark.parametrize("job_namespaces", [True, False])
def test_sysv_queues_and_semaphores_do_not_cross_jobs(job_namespaces):
    """Found by a breaker, where jobs get no IPC namespace of their own: a message queue and a semaphore a job
    left outlived it and the executor, and a job of a later executor read what they held. Every SysV IPC call is
    refused now, with or without an IPC namespace per job (test_sysv_objects_leave_nothing_charged_to_the_next_job)."""
    with cotnpot.Executor(workers=1, timeout=5.0, job_namespaces=job_namespaces) as ex:
        leave, find = ex.run([SYSV_LEAVE, SYSV_FIND])
        own_namespace = ex.pid_isolated
        correct_jobs_still_correct(ex)
    with cotnpot.Executor(workers=1, timeout=5.0, job_namespaces=job_namespaces) as ex:
        (later,) = ex.run([SYSV_FIND])
    assert (leave.status, find.status, later.status) == ("ok", "ok", "ok"), (leave.error_message, find.error_message)
    assert find.answer == later.answer == "none none", (find.answer, later.answer)
    assert leave.answer == "False False", (own_namespace, leave.answer)


@JOB_FILTER
def test_message_queues_are_refused():
    """Found by a breaker (without root, no memory cgroup): SysV message queues count against no RLIMIT_AS, and
    a new IPC namespace allows 32,000 queues of 16 KiB: a 64 MiB job held 500 MiB of the host's memory. Where a
    memory cgroup holds the job they are charged to it, but stay charged after the job until the kernel frees
    the job's IPC namespace, later: the next job met a full budget (memory_limit for a program that writes a
    file). msgget is refused everywhere."""
    hog = ("import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
           "buf = ctypes.create_string_buffer(8 + 8192)\nbuf[0] = 1\nheld = 0\n"
           "for _ in range(32000):\n    q = libc.msgget(0, 0o1600)\n    if q < 0:\n        break\n"
           "    while libc.msgsnd(q, buf, 8192, 0o4000) == 0:\n        held += 8192\n"
           "print(held >> 20)")
    with cotnpot.Executor(workers=1, timeout=8.0, memory_mb=64) as ex:
        (r,) = ex.run([hog])
        assert (r.status, r.answer) == ("ok", "0"), (r.status, r.answer, r.error_message)
        correct_jobs_still_correct(ex)


def test_sysv_objects_leave_nothing_charged_to_the_next_job():
    """Found by a breaker (as root, a memory cgroup): SysV segments and semaphore arrays a job made stayed
    charged to the worker's cgroup after the job, until the kernel freed the job's IPC namespace, later: the
    next correct jobs that needed 30 MB came back memory_limit. Without a memory cgroup, 200 semaphore arrays
    of 32,000 took 400 MB of kernel memory from a 64 MiB job. Every SysV IPC call is refused."""
    segments = ("import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\nlibc.shmat.restype = ctypes.c_void_p\n"
                "made = 0\nfor _ in range(14):\n    i = libc.shmget(0, 4 << 20, 0o1600)\n    if i < 0:\n        break\n"
                "    p = libc.shmat(i, None, 0)\n    ctypes.memset(p, 1, 4 << 20)\n    libc.shmdt(ctypes.c_void_p(p))\n"
                "    made += 1\nprint(made)")
    semaphores = ("import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
                  "made = 0\nfor _ in range(28):\n    if libc.semget(0, 32000, 0o1600) < 0:\n        break\n"
                  "    made += 1\nprint(made, ctypes.get_errno())")
    needs_30_mb = "x = bytearray(30 << 20)\nprint(len(x) >> 20)"
    with cotnpot.Executor(workers=1, timeout=5.0, memory_mb=64) as ex:
        results = ex.run([segments, needs_30_mb, needs_30_mb, semaphores, needs_30_mb, needs_30_mb])
    assert [(r.status, r.answer) for r in results] == [("ok", "0"), ("ok", "30"), ("ok", "30"), ("ok", "0 1"),
                                                       ("ok", "30"), ("ok", "30")], \
        [(r.status, r.answer, r.error_message) for r in results]


def test_no_open_file_description_locks_and_few_pending_signals(one):
    """Found by a breaker: OFD locks, kept by a mapping after their descriptor was closed, let a job hold 905,000
    locks, 172 MB of kernel memory that no cgroup (since Linux 6.8) or rlimit counts: F_OFD_* is refused (plain
    POSIX locks still work). Without root, jobs are the caller's uid: one queued 96,000 real-time signals, and
    the caller's own sigqueue and timer_create failed while it ran: a job may have 64 pending, and lock none of
    its memory."""
    probe = (ATTEMPT + "import ctypes, fcntl, os, resource, signal, struct\n"
             "libc = ctypes.CDLL(None, use_errno=True)\nfd = os.open('f', os.O_RDWR | os.O_CREAT)\nos.write(fd, b'x')\n"
             "lock = struct.pack('hhqqi', fcntl.F_WRLCK, 0, 0, 1, 0)\n"
             "signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGRTMIN])\nqueued = 0\n"
             "while queued < 100000 and libc.sigqueue(os.getpid(), signal.SIGRTMIN, ctypes.c_void_p(0)) == 0:\n"
             "    queued += 1\n"
             "print(attempt(lambda: fcntl.fcntl(fd, 37, lock)),\n"   # F_OFD_SETLK
             "      attempt(lambda: fcntl.fcntl(fd, fcntl.F_SETLK, lock)), queued <= 64,\n"
             "      resource.getrlimit(resource.RLIMIT_SIGPENDING), resource.getrlimit(resource.RLIMIT_MEMLOCK))")
    (r,) = one.run([probe])
    assert (r.status, r.answer) == ("ok", "EPERM ran True (64, 64) (0, 0)"), (r.status, r.answer, r.error_message)
    correct_jobs_still_correct(one)


@JOB_FILTER
def test_no_linux_aio(one):
    """Found by a breaker: an AIO fsync (io_submit with IOCB_CMD_FSYNC) wrote back a host file's dirty pages,
    past the rule that makes fsync return without running, and io_setup reserved the host's whole
    fs.aio-max-nr while the job ran, failing every other process's AIO. io_setup and io_submit are refused.
    fadvise(POSIX_FADV_DONTNEED), which starts a file's writeback and drops the host's cached pages of it,
    returns 0 without running (on a descriptor that does not exist: EBADF where it runs); other advice runs."""
    probe = (ATTEMPT + "import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\n"
             "io_setup, io_submit = {'x86_64': (206, 209), 'aarch64': (0, 2)}[os.uname().machine]\n"
             "ctx = ctypes.c_ulong(0)\nsetup = libc.syscall(io_setup, 4, ctypes.byref(ctx))\n"
             "setup_errno = ctypes.get_errno()\nsubmit = libc.syscall(io_submit, 0, 0, None)\n"
             "submit_errno = ctypes.get_errno()\n"
             "print(setup, setup_errno, submit, submit_errno,\n"
             "      attempt(lambda: os.posix_fadvise(999, 0, 0, os.POSIX_FADV_DONTNEED)),\n"
             "      attempt(lambda: os.posix_fadvise(999, 0, 0, os.POSIX_FADV_SEQUENTIAL)))")
    r = one.run([probe])[0]
    assert (r.status, r.answer) == ("ok", "-1 1 -1 1 ran EBADF"), (r.status, r.answer, r.error_message)
    correct_jobs_still_correct(one)


def test_a_verdict_written_before_a_timeout_does_not_count(one):
    """Found by a breaker: a suite judged in the job (a loop) whose job wrote passed=1 to its report and
    then slept past its deadline came back as status "timeout" with passed=True, which callers that read
    only `passed` counted as a pass."""
    forge = ("def f(x):\n    return 0\nimport os, struct, stat, time\n"
             "k, v = b'passed', b'1'\nframe = struct.pack('<I', len(k)) + k + struct.pack('<I', len(v)) + v\n"
             "for fd in range(3, 64):\n    try:\n        if stat.S_ISFIFO(os.fstat(fd).st_mode):\n"
             "            os.write(fd, frame)\n    except OSError:\n        pass\ntime.sleep(30)")
    r = one.run_tests([forge], ["for x in [2]:\n    assert f(x) == 918273645"], timeout=1.0)[0]
    assert r.judged_in_process and r.status == "timeout", (r.status, r.judged_in_process)
    assert not r.passed and r.tests_passed == [False], (r.passed, r.tests_passed)
    correct_jobs_still_correct(one)


@JOB_FILTER
def test_no_pipe_grown_where_jobs_share_the_callers_uid(one):
    """Found by a breaker (without root): pipe buffer pages are a per-uid quota (pipe-user-pages-soft), which
    jobs share with the caller where they run as its uid; each pipe grown to 1 MiB with F_SETPIPE_SZ drew 16x
    a default pipe's share. There F_SETPIPE_SZ is refused (other fcntl commands work); as root each job has a
    uid, and a quota, of its own and keeps it."""
    probe = ("import fcntl, os\nr, w = os.pipe()\nflags = fcntl.fcntl(r, fcntl.F_GETFL)\n"
             "try:\n    grown = fcntl.fcntl(w, 1031, 1 << 20)\nexcept OSError as e:\n    grown = e.errno\n"
             "print(flags == os.O_RDONLY, grown, fcntl.fcntl(w, 1032))")   # 1031, 1032: F_SETPIPE_SZ, F_GETPIPE_SZ
    r = one.run([probe])[0]
    assert r.status == "ok", r.error_message
    assert r.answer == ("True 1048576 1048576" if one.uid_isolated else "True 1 65536"), (one.isolation, r.answer)


def test_only_internet_sockets_and_only_the_usual_devices(one, tmp_path):
    """Found by a breaker: an AF_VSOCK socket (no network namespace holds vsock) listened from a
    network-isolated job -- on a VM, a way to the hypervisor's side; and in a user namespace (jobs are the
    caller's uid) a job opened the caller's terminal, read what was typed and wrote to it. Jobs now get
    AF_INET/AF_INET6 sockets only (none at all without a network namespace) and, with a private file-system
    view, a /dev holding only the usual character devices."""
    sockets = ("import socket\nout = []\nfor family in (40, socket.AF_INET):\n    try:\n"
               "        socket.socket(family, socket.SOCK_STREAM).close()\n        out.append('made')\n"
               "    except OSError as e:\n        out.append(e.errno)\nprint(out)")
    master, slave = os.openpty()
    try:
        terminal = os.ttyname(slave)
        os.chmod(terminal, 0o666)   # as open as a terminal can be: only what the job's /dev holds decides
        grab = f"f = open({terminal!r}, 'wb', buffering=0)\nf.write(b'[job] all tests passed')\nprint('opened')"
        devices = "import os\nprint(sorted(os.listdir('/dev')))"
        s, g, d = one.run([sockets, grab, devices])
    finally:
        os.close(master), os.close(slave)
    internet = one.network_isolated and one.memory_isolated and one.uid_isolated   # (test_no_socket_where_no_memory_...)
    assert s.status == "ok" and s.answer == str([1, "made" if internet else 1]), (s.answer, s.error_message)
    if one.filesystem_isolated or one.landlock_abi:   # else (a kernel without Landlock) the host's /dev: documented
        assert g.answer != "opened", (g.status, g.error_message)
    if one.filesystem_isolated:
        assert d.answer == str(sorted(["fd", "full", "null", "random", "stderr", "stdin", "stdout", "urandom", "zero"]))
    correct_jobs_still_correct(one)


def test_host_unix_sockets_are_unreachable(one, tmp_path):
    import socket
    import tempfile
    for base in ("/var/tmp", "/run"):
        if not (os.path.isdir(base) and os.access(base, os.W_OK)):   # /run: root's only
            continue
        directory = tempfile.mkdtemp(prefix="cotnpot-sock-", dir=base)
        os.chmod(directory, 0o755)
        path = os.path.join(directory, "s")
        server = socket.socket(socket.AF_UNIX)
        server.bind(path)
        os.chmod(path, 0o777)
        server.listen(1)
        try:   # Unix sockets are refused in jobs anyway (seccomp): the hiding is tested by the path's absence
            r = one.run([f"import os\nprint(os.path.exists({path!r}))"])[0]
        finally:
            server.close()
            os.unlink(path)
            os.rmdir(directory)
        if not one.filesystem_isolated:
            pytest.skip("no mount namespace here")
        assert (r.status, r.answer) == ("ok", "False"), (base, r.status, r.stdout)


def test_memory_is_one_budget_for_the_whole_process_tree():
    """Six forked processes of 120 MiB each under memory_mb=256: within every per-process limit, over the
    job's total. With a memory cgroup (root, where the machine has one) the job ends as memory_limit."""
    code = ("import os, time\nkids = []\nfor _ in range(6):\n    k = os.fork()\n    if k == 0:\n"
            "        x = b'x' * (120 << 20)\n        time.sleep(1)\n        os._exit(0)\n    kids.append(k)\n"
            "print(sum(os.waitpid(k, 0)[1] == 0 for k in kids))")
    with cotnpot.Executor(workers=1, memory_mb=256, timeout=20.0) as ex:
        r = ex.run([code])[0]
        if not ex.memory_isolated:
            assert r.status == "ok" and r.answer == "6"   # the documented per-process fallback
            pytest.skip("no memory cgroup here: memory_mb holds per process")
        assert r.status == "memory_limit", (r.status, r.answer)
        correct_jobs_still_correct(ex)


def test_a_jobs_threads_and_children_are_in_its_memory_cgroup():
    """The job joins the memory cgroup by moving only its own thread (v1 `tasks`, job_loop.c: cheaper than
    cgroup.procs): a thread it starts and a process it forks must be there too, and that cgroup must be the
    job's (named cotnpot-...), not the worker's parent."""
    code = ("import os, threading\nmain = open('/proc/self/cgroup').read()\nseen = {}\n"
            "t = threading.Thread(target=lambda: seen.update(thread=open('/proc/thread-self/cgroup').read()))\n"
            "t.start()\nt.join()\nr, w = os.pipe()\npid = os.fork()\nif pid == 0:\n"
            "    os.write(w, open('/proc/self/cgroup').read().encode())\n    os._exit(0)\nos.close(w)\n"
            "child = os.read(r, 65536).decode()\nos.waitpid(pid, 0)\n"
            "print(main == seen['thread'] == child, '/cotnpot-' in main)")
    with cotnpot.Executor(workers=1) as ex:
        if not ex.memory_isolated:
            pytest.skip("no memory cgroup here: jobs join none")
        r = ex.run([code])[0]
        assert (r.status, r.answer) == ("ok", "True True"), (r.status, r.stdout, r.error_message)


def test_a_job_cannot_pass_for_a_failure_of_the_sandbox():
    """Found by a breaker: a job that wrote its own report with error_type NotSent was run a second time,
    WorkerDied restarted its worker, a sandbox_error field made it a sandbox_error. Now each is only that
    job's error; the result channel's first byte, written before the job's code runs, tells them apart."""
    forge = ("import os, struct, stat\ndef field(k, v):\n    return struct.pack('<I', len(k)) + k + struct.pack('<I', len(v)) + v\n"
             "report = field(b'error_type', b'{kind}') + field(b'sandbox_error', b'forged') + field(b'error_message', b'x')\n"
             "for fd in range(3, 64):\n    try:\n        if stat.S_ISFIFO(os.fstat(fd).st_mode):\n"
             "            os.write(fd, report)\n    except OSError:\n        pass\n"
             "os.write(1, b'ran\\n')\nos._exit(0)")
    with cotnpot.Executor(workers=1) as ex:
        pids = set(os.listdir("/proc"))
        for kind in ("NotSent", "WorkerDied"):
            r = ex.run([forge.replace("{kind}", kind)])[0]
            assert r.status == "error" and r.stdout.count("ran") == 1, (kind, r.status, r.error_type, r.stdout)
        raised = ex.run(["class WorkerDied(Exception):\n    pass\nraise WorkerDied('mine')"])[0]
        assert (raised.status, raised.error_type) == ("error", "WorkerDied")
        correct_jobs_still_correct(ex)


def test_nothing_a_job_leaves_outside_its_directory_reaches_the_next_job(one):
    """Found by review: in a user namespace, jobs are the uid that owns the worker's /tmp, and a directory one
    job made there was listed by every later job of the worker. /tmp is read-only now with per-job
    namespaces; as root it was never the job's to write, and with Landlock it is refused."""
    places = "('/tmp', os.path.dirname(os.getcwd()), '/var/tmp', '/dev/shm')"   # the job directory's parent too
    plant = (f"import os\nmade = []\nfor d in {places}:\n"
             "    try:\n        os.mkdir(os.path.join(d, 'cotnpot-planted'))\n        made.append(d)\n"
             "    except OSError:\n        pass\nprint(made)")
    look = (f"import os\nseen = []\nfor d in {places}:\n"
            "    try:\n        seen += [d] if 'cotnpot-planted' in os.listdir(d) else []\n    except OSError:\n"
            "        pass\nprint(seen)")
    planted, looked = one.run([plant, look])
    assert planted.status == "ok" and looked.status == "ok", (planted.error_message, looked.error_message)
    if one.filesystem_isolated and one.pid_isolated:
        assert planted.answer == "[]", planted.answer   # nowhere to write but its own directory
    assert looked.answer == "[]", (planted.answer, looked.answer)
    correct_jobs_still_correct(one)


def test_no_kernel_keyring_channel_between_jobs():
    """Found by a breaker: a key added under the job's uid outlived the job (and the executor) and was read
    by later jobs and the host. The keyring calls are refused now; set-uid binaries raise no privileges."""
    add = ("import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\nlibc.syscall.restype = ctypes.c_long\n"
           "k = libc.syscall(248, b'user', b'cotnpot-leak', b'secret', 6, -4)\nprint(k, ctypes.get_errno())")
    privs = "print(open('/proc/self/status').read().split('NoNewPrivs:')[1].split()[0])"
    uring = ("import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\nlibc.syscall.restype = ctypes.c_long\n"
             "params = ctypes.create_string_buffer(120)\nprint(libc.syscall(425, 1, params), ctypes.get_errno())")
    import platform
    if platform.machine() != "x86_64":
        pytest.skip("the test's syscall numbers are x86-64's")
    with cotnpot.Executor(workers=1) as ex:
        r, p, u = ex.run([add, privs, uring])
    assert r.status == "ok" and r.answer == "-1 1", r.answer   # EPERM
    assert p.answer == "1" and u.answer == "-1 1", (p.answer, u.answer)


@pytest.mark.skipif(not IS_ROOT, reason="job processes are found by their job uid (root)")
def test_jobs_end_with_a_caller_that_is_killed(tmp_path):
    """Found by a breaker: a caller killed by SIGKILL left its worker and a 15 s job running to the job's
    deadline. The worker now sees its caller's pipe close and ends the job at once."""
    import signal
    import subprocess
    import sys
    script = tmp_path / "caller.py"
    script.write_text("import cotnpot\nex = cotnpot.Executor(workers=1, timeout=60.0)\nprint('ready', flush=True)\n"
                      "ex.run(['import time\\ntime.sleep(50)'])\n")
    before = job_processes()
    caller = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    assert caller.stdout.readline().strip() == "ready"
    deadline = time.monotonic() + 10
    while not job_processes() - before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert job_processes() - before, "the job never started"
    caller.send_signal(signal.SIGKILL)
    caller.wait()
    assert still_running(job_processes() - before) == set()


def test_the_callers_files_are_hidden():
    """Found by a breaker: MBPP/HumanEval files on the host were readable from jobs, and a program looked its
    own tests' expected values up in them. Only the system's directories (and the interpreter's own) remain."""
    here = str(Path(__file__).resolve())
    code = f"import os\nprint(os.path.exists({here!r}), os.path.exists('/usr/lib'), sorted(os.listdir('/'))[:40])"
    with cotnpot.Executor(workers=1) as ex:
        r = ex.run([code])[0]
        if not ex.filesystem_isolated:
            pytest.skip("no mount namespace here")
        pot = ex.run(["import fractions, math\nprint(math.comb(5, 2))"])[0]
    assert r.status == "ok" and r.stdout.startswith("False True"), r.stdout
    assert (pot.status, pot.answer) == ("ok", "10")


def test_only_the_interpreters_own_directories_are_bound_back():
    """Found by a breaker: every sys.path entry of the worker's interpreter was bound back into the jobs' view,
    and so were its prefixes whole. A .pth file (an editable install) naming a project root made the whole
    project readable -- its tests, data and cached answers -- and so did a virtual environment made in a
    project's root. Now only the standard library, site-packages, the executable's and library directories:
    a module in the venv's site-packages still imports, the rest of the venv and the .pth's target are hidden."""
    repo = Path(__file__).resolve().parents[2]
    if repo.parts[1] in {"bin", "sbin", "lib", "lib32", "lib64", "libx32", "usr", "etc", "dev", "proc", "sys", "run"}:
        pytest.skip(f"the checkout is under a system directory (/{repo.parts[1]}): jobs see it anyway")
    build = repo / "build"
    if not os.access(build if build.exists() else repo, os.W_OK):   # the unprivileged run (test_sandbox_unprivileged.py)
        pytest.skip(f"{build} is not writable here")
    build.mkdir(exist_ok=True)
    venv = Path(tempfile.mkdtemp(prefix="venv-in-a-project-", dir=build))
    venv.chmod(0o755)   # as a venv made with `python -m venv` is (mkdtemp's 0700 kept other uids out by itself)
    try:
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120,
                       env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")})
        python = next((venv / "bin").glob("python3"))
        site_packages = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                            capture_output=True, text=True, check=True).stdout.strip())
        (site_packages / "editable_project.pth").write_text(f"{repo}\n")
        (site_packages / "venv_module.py").write_text("VALUE = 42\n")
        (venv / "notes.txt").write_text("the project's notes\n")
        probe = (f"import os\ntry:\n    from venv_module import VALUE\nexcept ImportError:\n    VALUE = None\n"
                 f"print(os.path.exists({str(Path(__file__).resolve())!r}), os.path.exists({str(venv / 'notes.txt')!r}), VALUE)")
        with cotnpot.Executor(workers=1, python=str(python)) as ex:
            r = ex.run([probe])[0]
            if not ex.filesystem_isolated:
                pytest.skip("no mount namespace here")
        assert (r.status, r.stdout.split()) == ("ok", ["False", "False", "42"]), (r.status, r.stdout, r.error_message)
    finally:
        shutil.rmtree(venv, ignore_errors=True)


@JOB_FILTER
def test_no_unix_sockets_in_jobs():
    """Found by a second breaker round: memfds sent in a cycle over a Unix socketpair stayed charged to the
    worker's cgroup after the job (and the executor), so later correct jobs hit memory_limit."""
    code = ("import socket\nfor make in (socket.socketpair, lambda: socket.socket(socket.AF_INET)):\n    try:\n"
            "        make()\n        print('made')\n    except PermissionError:\n        print('refused')")
    with cotnpot.Executor(workers=1) as ex:
        r = ex.run([code])[0]
        correct_jobs_still_correct(ex)
        # Internet sockets only inside a network namespace of the worker's own (no interface but a down
        # loopback); without one (no root and no user namespace) the job would share the host's network
        inet = "made" if ex.network_isolated and ex.memory_isolated and ex.uid_isolated else "refused"
    assert r.stdout.split() == ["refused", inet], (r.status, r.stdout, r.error_message)


def test_no_nested_user_namespace_no_flow_labels_and_threads_still_run(one):
    """Found by a breaker: in a user namespace of its own a job brought up a loopback and held 866 MiB of kernel
    TCP buffers from a 128 MiB job (no cgroup v1 or rlimit counts them; they are the host's); flow labels,
    kept in the worker's network namespace after their socket, carried values to the next job. unshare and
    clone with CLONE_NEWUSER are refused, clone3 answers ENOSYS (glibc then uses clone: threads run), and
    IPV6_FLOWLABEL_MGR is refused."""
    import platform
    if platform.machine() != "x86_64":
        pytest.skip("the test's syscall numbers are x86-64's")
    calls = ("import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\nlibc.syscall.restype = ctypes.c_long\n"
             "out = []\nfor flags in (0x10000000, 0x10000000 | 0x40000000):\n"
             "    out.append((libc.syscall(272, flags), ctypes.get_errno()))\n"                        # unshare
             "out.append((libc.syscall(56, 0x10000000 | 17, 0, 0, 0, 0), ctypes.get_errno()))\n"     # clone
             "out.append((libc.syscall(435, 0, 0), ctypes.get_errno()))\n"                            # clone3
             "print(out)")
    # (where the worker has no network namespace, the socket itself is refused: EPERM as well)
    flowlabel = ("import socket, struct\n"
                 "req = socket.inet_pton(socket.AF_INET6, '::1') + struct.pack('!I', 0xC0FFE) "
                 "+ struct.pack('=BBHHHI', 0, 3, 1, 0, 60, 0)\n"
                 "try:\n    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)\n"
                 "    s.setsockopt(socket.IPPROTO_IPV6, 32, req)\n    print('set')\n"
                 "except OSError as e:\n    print(e.errno)")
    threads = ("import threading, os\nout = []\nt = threading.Thread(target=lambda: out.append(7))\nt.start()\n"
               "t.join()\npid = os.fork()\nif pid == 0:\n    os._exit(3)\nprint(out, os.waitpid(pid, 0)[1] >> 8)")
    c, f, t = one.run([calls, flowlabel, threads])
    assert c.answer == "[(-1, 1), (-1, 1), (-1, 1), (-1, 38)]", c.answer   # EPERM x3, ENOSYS
    assert f.answer == "1", f.answer
    assert t.answer == "[7] 3", (t.answer, t.error_message)


def test_values_the_caller_cannot_decode_fail_their_program_alone(one):
    """Found by a breaker: a forged fraction of denominator 0 (ZeroDivisionError) or a decimal that is none
    (InvalidOperation) escaped the decoder, and run_tests raised: the batch was lost, and rerun, lost again."""
    forge = "import json\ndef f(x):\n    return x\njson.dumps = lambda out: '[[\"{0}\", {1}]]'\n"
    programs = ["def f(x):\n    return x\n", forge.format("fraction", '[\\"1\\", \\"0\\"]'),
                forge.format("decimal", '\\"not a number\\"'), "def f(x):\n    return x\n"]
    results = one.run_tests(programs, ["assert f(2) == 2"] * 4)
    assert [r.passed for r in results] == [True, False, False, True]
    assert all(not r.judged_in_process for r in results)


def test_a_results_repr_takes_whatever_bytes_a_job_wrote(one):
    """Found by a breaker: error_type b"\\xff\\xfe" written to the result channel made repr(result) raise."""
    program = ("import os\ndef kv(k, v):\n    return len(k).to_bytes(4, 'little') + k + len(v).to_bytes(4, 'little') + v\n"
               "os.write(3, kv(b'error_type', b'\\xff\\xfe') + kv(b'answer', b'x'))\nraise ValueError('boom')\n")
    (r,) = one.run([program])
    assert r.error_type == "\ufffd\ufffd" and repr(r) == "ExecResult(status='error', answer='x', error_type='\ufffd\ufffd')"


NO_SOCKET_PROBE = ("import socket\ntry:\n    socket.socket().close()\n    print('made')\n"
                   "except PermissionError:\n    print('refused')")


@JOB_FILTER
def test_no_socket_where_no_memory_cgroup_holds_the_job():
    """Found by a breaker (without root, no memory cgroup): a TCP socket mapped read-only outlives its descriptor,
    and 4.7 M epoll watches on such sockets held 963 MB of kernel memory from a 64 MiB job and used up the uid's
    max_user_watches, which the caller shares there (its own epoll_ctl failed). Where no memory cgroup holds
    the job, every socket is refused; with one, internet sockets stay (charged to it)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)   # weaker isolation, on purpose
        with cotnpot.Executor(workers=1, timeout=5.0, isolation_off=["memory_cgroup"]) as ex:
            (without,) = ex.run([NO_SOCKET_PROBE])
    with cotnpot.Executor(workers=1, timeout=5.0) as ex:
        (default,) = ex.run([NO_SOCKET_PROBE])
        held = ex.memory_isolated and ex.network_isolated and ex.uid_isolated
    assert (without.status, without.answer) == ("ok", "refused"), (without.status, without.error_message)
    assert (default.status, default.answer) == ("ok", "made" if held else "refused"), default.error_message


@JOB_FILTER
def test_no_vmsplice_perf_fanotify_bpf_or_userfaultfd(one):
    """Found by a breaker (without root): vmsplice of 4 KiB of a transparent huge page into a pipe kept the whole
    2 MiB page after it was unmapped, outside RLIMIT_AS (256 MB from a 20 MB address space); perf_event_open's
    ring buffers and fanotify_init's groups used up per-uid allowances the caller shares (its own perf mapping
    and fanotify_init failed while the job ran). All refused, with bpf and userfaultfd (which hosts usually
    refuse to unprivileged users already: those two cases hold on such hosts without the filter; the filter's
    own test, test_job_filter.py, checks its decisions for them)."""
    probe = ("import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\nlibc.syscall.restype = ctypes.c_long\n"
             "numbers = {'x86_64': (278, 298, 300, 321, 323),\n"
             "           'aarch64': (75, 241, 262, 280, 282)}[os.uname().machine]\n"
             "vmsplice, perf_event_open, fanotify_init, bpf, userfaultfd = numbers\n"
             "r, w = os.pipe()\nbuf = ctypes.create_string_buffer(4096)\n"
             "iov = (ctypes.c_void_p * 2)(ctypes.addressof(buf), 4096)\n"
             "attr = ctypes.create_string_buffer(128)\nattr[4] = 128   # perf_event_attr.size; type 0 (hardware)\n"
             "calls = [(vmsplice, w, iov, 1, 0), (perf_event_open, attr, 0, -1, -1, 0), (fanotify_init, 0x200, 0),\n"
             "         (bpf, 0, attr, 72), (userfaultfd, 0)]\n"
             "out = []\nfor call in calls:\n    got = libc.syscall(*call)\n"
             "    out.append('EPERM' if got == -1 and ctypes.get_errno() == 1 else f'ran {got} {ctypes.get_errno()}')\n"
             "print(' '.join(out))")
    (r,) = one.run([probe])
    assert (r.status, r.answer) == ("ok", " ".join(["EPERM"] * 5)), (r.status, r.answer, r.error_message)
    correct_jobs_still_correct(one)


@JOB_FILTER
def test_flock_and_byte_range_locks_take_nothing_and_leases_are_refused(one):
    """Found by a reviewer: flock and leases belong to the open file description, which a one-page mapping
    keeps after its descriptor is closed (30,000 flocks in 0.24 s, 3,000 leases), and one descriptor holds any
    number of POSIX byte ranges (97,000 in 4 s): kernel memory no cgroup or rlimit counts, as the OFD locks
    refused before. flock, F_SETLK and F_SETLKW now return 0 without running (a job's own files are its alone;
    its lock on a system file no longer makes a host process wait), F_SETLEASE is refused, F_GETLK runs."""
    probe = (ATTEMPT + "import fcntl, os, struct\nfd = os.open('f', os.O_RDWR | os.O_CREAT)\nos.write(fd, b'x' * 10)\n"
             "fcntl.flock(fd, fcntl.LOCK_EX)\nfcntl.lockf(fd, fcntl.LOCK_EX, 5)\n"
             "pid = os.fork()\nif pid == 0:\n    other = os.open('f', os.O_RDWR)\n"
             "    got = [attempt(lambda: fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB), 'taken'),\n"
             "           attempt(lambda: fcntl.lockf(other, fcntl.LOCK_EX | fcntl.LOCK_NB, 5), 'taken')]\n"
             "    lock = fcntl.fcntl(other, fcntl.F_GETLK, struct.pack('hhqqi', fcntl.F_WRLCK, 0, 0, 5, 0))\n"
             "    got.append(struct.unpack('hhqqi', lock)[0] == fcntl.F_UNLCK)\n"
             "    print(*got, flush=True)\n    os._exit(0)\nos.waitpid(pid, 0)\n"
             "print(attempt(lambda: fcntl.fcntl(fd, 1024, fcntl.F_RDLCK), 'leased'))")
    (r,) = one.run([probe])
    assert (r.status, r.stdout.split()) == ("ok", ["taken", "taken", "True", "EPERM"]), (r.stdout, r.error_message)
    correct_jobs_still_correct(one)


@JOB_FILTER
def test_no_page_cache_pinned_in_pipes_where_no_memory_cgroup_holds_the_job(tmp_path):
    """Found by a breaker (without root, no memory cgroup): one byte of a host file's 2 MiB page-cache folio
    spliced (or sent with sendfile) into a pipe kept the whole folio, past drop_caches, outside RLIMIT_AS: 320
    MB held by a 64 MiB job. There sendfile, splice and tee answer ENOSYS; shutil.copyfile still copies (it
    falls back to read and write when its first sendfile fails)."""
    probe = (ATTEMPT + "import os, shutil, sys\nsrc = os.open(sys.executable, os.O_RDONLY)\nr, w = os.pipe()\n"
             "out = [attempt(lambda: os.splice(src, w, 1, offset_src=0), 'moved'),\n"
             "       attempt(lambda: os.sendfile(w, src, 0, 1), 'moved')]\n"
             "shutil.copyfile(sys.executable, 'copy')\n"
             "out.append(os.path.getsize('copy') == os.path.getsize(sys.executable))\nprint(*out)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)   # weaker isolation, on purpose
        with cotnpot.Executor(workers=1, timeout=5.0, isolation_off=["memory_cgroup"]) as ex:
            (without,) = ex.run([probe])
    with cotnpot.Executor(workers=1, timeout=5.0) as ex:
        (default,) = ex.run([probe])
        held = ex.memory_isolated
    assert (without.status, without.answer) == ("ok", "ENOSYS ENOSYS True"), (without.answer, without.error_message)
    assert (default.status, default.answer) == ("ok", "moved moved True" if held else "ENOSYS ENOSYS True"), \
        (default.answer, default.error_message)


# A job's attempts at a session of its own, a stacked seccomp filter (seccomp and prctl) and a Landlock ruleset.
SESSION_AND_KERNEL_OBJECTS = (
    ATTEMPT + "import ctypes, os, struct\nlibc = ctypes.CDLL(None, use_errno=True)\nlibc.syscall.restype = ctypes.c_long\n"
    "seccomp = {'x86_64': 317, 'aarch64': 277}[os.uname().machine]\n"
    "allow = ctypes.create_string_buffer(struct.pack('HBBI', 0x06, 0, 0, 0x7FFF0000))\n"
    "prog = ctypes.create_string_buffer(struct.pack('HxxxxxxQ', 1, ctypes.addressof(allow)))\n"
    "def call(f):\n    def run():\n        if f() != 0:\n            e = ctypes.get_errno()\n            raise OSError(e, os.strerror(e))\n    return run\n"
    "print(attempt(os.setsid), attempt(call(lambda: libc.prctl(22, 2, prog, 0, 0))),\n"
    "      attempt(call(lambda: libc.prctl(4, 1, 0, 0, 0))),   # PR_SET_DUMPABLE: its worker's autogroup\n"
    "      attempt(call(lambda: libc.syscall(seccomp, 1, 0, prog))),\n"
    "      attempt(call(lambda: min(libc.syscall(444, None, 0, 1), 0))))\n")   # Landlock's ABI version, or -1


@JOB_FILTER
def test_no_session_of_its_own_no_stacked_filters_and_no_landlock_rulesets(one):
    """Found by a breaker: with a pid namespace per job, a job could make sessions, and where the kernel groups
    scheduling by session (sched_autogroup) 16 processes in 16 sessions took 16/17 of the CPU: an honest job on
    the other worker ran past its deadline. And a job stacked 3,600 seccomp filters per process (300 MB of
    kernel memory from a 64 MiB job, no limit counting it) or built 16 M Landlock rules (1.1 GB, whose freeing
    at the job's exit ran seconds past its deadline). All refused now; the job runs in a process group of its
    own in its worker's session, and cannot make itself dumpable: a dumpable job wrote nice 19 to
    /proc/self/autogroup, its worker session's scheduling group, and every later job of that worker ran at
    1/30 of the CPU (a second breaker). (The same probe runs in the Landlock fallback: test_sandbox_unprivileged.py.)"""
    (r,) = one.run([SESSION_AND_KERNEL_OBJECTS])
    assert (r.status, r.answer) == ("ok", "EPERM EPERM EPERM EPERM EPERM"), (r.status, r.answer, r.error_message)
    correct_jobs_still_correct(one)
