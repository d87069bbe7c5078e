"""cotnpot.Executor: answers and tests, hostile programs contained (each followed by a correct job),
worker replacement, bad input, real MBPP and PoT programs, and no lost results under load."""
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

import cotnpot

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"
IS_ROOT = os.geteuid() == 0


@pytest.fixture(scope="module")
def ex():
    with cotnpot.Executor(workers=2, timeout=5.0, memory_mb=256) as executor:
        yield executor


def assert_still_serving(ex):
    r = ex.run(["print(sum(range(10)))"])[0]
    assert (r.status, r.answer) == ("ok", "45")


# ---- answers and tests --------------------------------------------------------------------------------

def test_answer_modes_and_prelude(ex):
    r = ex.run(["print(1)\nprint(6 * 7)\n", "ans = 2 ** 10", "def solution():\n    return 'x'"], answer="print")
    assert [x.answer for x in r][:1] == ["42"]
    assert ex.run(["ans = 2 ** 10"], answer="variable")[0].answer == "1024"
    assert ex.run(["res = 3"], answer="variable", variable="res")[0].answer == "3"
    assert ex.run(["def solution():\n    return 7 / 2"], answer="solution")[0].answer == "3.5"
    r = ex.run(["ans = solve_it(5)"], answer="variable", prelude="def solve_it(x):\n    return x * 2")[0]
    assert (r.status, r.answer) == ("ok", "10")
    missing = ex.run(["x = 1"], answer="variable")[0]
    assert (missing.status, missing.error_type) == ("error", "NameError")


def test_results_carry_output_exit_and_usage(ex):
    r = ex.run(["import sys\nprint('out')\nprint('err', file=sys.stderr)\n"])[0]
    assert r.stdout == "out\n" and r.stderr == "err\n"
    assert r.exit_code == 0 and r.signal == 0 and r.wall_s > 0 and r.peak_rss_kb > 0
    e = ex.run(["raise ValueError('bad value')"])[0]
    assert (e.status, e.error_type, e.error_message) == ("error", "ValueError", "bad value")


def test_worker_source_splits_into_blocks_that_compile_to_the_whole():
    """executor.cpp's bootstrap compiles worker.py one top-level block (two blank lines apart) at a time, so a
    worker.py with two blank lines inside a statement would not start: the blocks must give the whole's
    statements, at the whole's line numbers."""
    import ast
    source = (Path(__file__).resolve().parents[2] / "cpp" / "cotnpot" / "exec" / "worker.py").read_text()
    whole = [ast.dump(node, include_attributes=True) for node in ast.parse(source).body]
    blocks, line = [], 0
    for block in source.split("\n\n\n"):
        blocks += [ast.dump(node, include_attributes=True) for node in ast.parse("\n" * line + block).body]
        line += block.count("\n") + 3
    assert len(whole) > 50 and blocks == whole


def test_only_the_jobs_own_process_reports_not_a_child_it_forked(ex):
    # The child runs on to the end of the program first (its parent waits for it) and, before the fix, wrote
    # a report of its own ahead of its parent's: the job's answer was the child's.
    program = ("import os, sys\npid = os.fork()\nif pid:\n    os.waitpid(pid, 0)\n"
               "else:\n    print('from the child')\nans = 'parent' if pid else 'child'\n")
    for r in ex.run([program] * 4, answer="variable"):
        assert (r.status, r.answer) == ("ok", "parent"), r
        assert r.stdout == "from the child\n"   # the child's output still arrives


def test_unit_tests_pass_fail_and_report_the_failing_line(ex):
    code = "def add(a, b):\n    return a + b\n"
    ok, bad = ex.run_tests([code, code], ["assert add(1, 2) == 3", "assert add(1, 2) == 3\nassert add(2, 2) == 5"])
    assert ok.passed and ok.status == "ok"
    assert not bad.passed and bad.error_type == "AssertionError" and bad.failing_test == "assert add(2, 2) == 5"
    # judged in the job (a loop) and split (assert True is judged by the caller): an exit passes neither
    exits = ex.run_tests(["import sys\nsys.exit(0)"], ["for _ in [1]:\n    assert True"])[0]
    assert not exits.passed and exits.error_type == "SystemExit"
    exits = ex.run_tests(["import sys\nsys.exit(0)"], ["assert True"])[0]
    assert not exits.passed and exits.error_type == "NoResult" and not exits.judged_in_process


def test_every_job_draws_its_own_random_numbers():
    """random is preloaded in the workers and reseeded from the kernel in every job (by the C seed alone,
    not random.py's: fewer copy-on-write faults per job); no two jobs share a stream, and none a Gaussian
    that a warmup left cached (the C seed does not clear it: found by a reviewer)."""
    with cotnpot.Executor(workers=2, timeout=5.0, warmup="import random; random.gauss(0, 1)") as pool:
        results = pool.run(["import sys; preloaded = 'random' in sys.modules\n"
                            "import random; print(preloaded, random.getrandbits(64), random.gauss(0, 1))"] * 24)
    assert {r.status for r in results} == {"ok"}
    fields = [r.answer.split() for r in results]
    assert {f[0] for f in fields} == {"True"}
    assert len({f[1] for f in fields}) == 24 and len({f[2] for f in fields}) == 24


def test_per_job_overrides(ex):
    slow = cotnpot.Job("import time\ntime.sleep(2)\nprint('late')", timeout=0.3)
    big = cotnpot.Job("x = bytearray(150 * 2**20)\nprint(len(x))", memory_mb=64)
    r = ex.run_jobs([slow, big, cotnpot.Job("x = bytearray(150 * 2**20)\nprint('fits')")])
    assert [x.status for x in r] == ["timeout", "memory_limit", "ok"]
    assert r[0].wall_s < 1.5


# ---- hostile programs: contained, and the pool keeps serving -----------------------------------------

def tcp_server():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    return server, server.getsockname()[1]


HOSTILE = {
    "fork bomb": ("import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass", {"timeout", "killed", "error"}),
    "memory bomb": ("x = []\nwhile True:\n    x.append(' ' * 10**8)", {"memory_limit", "killed"}),
    "infinite loop": ("while True:\n    pass", {"timeout"}),
    "infinite output": ("while True:\n    print('spam' * 1000)", {"output_limit"}),
    "huge file": ("with open('big', 'wb') as f:\n    while True:\n        f.write(b'x' * 2**20)", {"error", "killed"}),
    "segfault": ("import ctypes\nctypes.string_at(0)", {"killed"}),
    "kill parent": ("import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\nprint('survived')", {"error", "ok"}),
    "ignore SIGTERM": ("import signal\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nwhile True:\n    pass", {"timeout"}),
    "threads bomb": ("import threading, time\nwhile True:\n    threading.Thread(target=time.sleep, args=(100,)).start()", {"error", "timeout", "memory_limit", "killed"}),
    "fork with handlers": ("import os, signal\nfor s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):\n    signal.signal(s, signal.SIG_IGN)\n"
                           "while True:\n    try:\n        os.fork()\n    except OSError:\n        pass", {"timeout", "killed", "error"}),
    # without a pid namespace the job's filter refuses setsid: the child sleeps on in the job's group then (had it
    # raised, its own report could reach the result channel before its parent's, as a job's forks may write)
    "daemon escapes session": ("import os, time\nif os.fork() == 0:\n    try:\n        os.setsid()\n    except OSError:\n"
                               "        pass\n    time.sleep(1000)\nprint('parent done')", {"ok"}),
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_program_is_contained(ex, name):
    code, statuses = HOSTILE[name]
    r = ex.run([code], timeout=1.0)[0]
    assert r.status in statuses, (name, r.status, r.error_type, r.error_message)
    if name == "kill parent":   # as root: another uid (PermissionError), or in a pid namespace where the
        # worker is not even visible (getppid() is 0: kill(0) reaches only the job's own group)
        assert "survived" not in r.stdout or IS_ROOT is False or ex.pid_isolated
    assert_still_serving(ex)


@pytest.fixture
def outside_dir():
    """A directory the jobs can see: workers hide every top-level directory but the system's (/usr, /etc, ...)
    and /tmp, /run, /dev/shm behind tmpfs mounts, so as root it goes under /usr/local/share."""
    build = Path(__file__).resolve().parents[2] / "build"
    base = Path("/usr/local/share") if IS_ROOT and os.access("/usr/local/share", os.W_OK) else \
        build if os.access(build, os.W_OK) else Path(tempfile.gettempdir())   # the host's /tmp: hidden too
    base.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix="cotnpot-test-", dir=base))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path)


def test_files_outside_the_job_directory_are_safe(ex, outside_dir):
    if not (IS_ROOT or ex.filesystem_isolated):
        pytest.skip("jobs run as the caller's uid, on the caller's file system (no root, no user namespace here: "
                    "the documented weaker fallback)")
    canary = outside_dir / "canary.txt"
    canary.write_text("alive")
    secret = outside_dir / "secret.txt"
    secret.write_text("s3cret")
    secret.chmod(0o600)
    deleter, reader = ex.run([f"import os\nos.remove({str(canary)!r})", f"print(open({str(secret)!r}).read())"])
    # as root: another uid, on a read-only view; in a user namespace: the caller's uid, but outside_dir is
    # hidden (only the system's directories are left visible)
    refused = ("PermissionError", "OSError") if IS_ROOT else ("FileNotFoundError",)
    assert deleter.status == "error" and deleter.error_type in refused, deleter.error_type
    assert canary.read_text() == "alive"
    assert reader.status == "error" and reader.error_type in refused[:1] + refused[-1:] and "s3cret" not in reader.stdout
    assert_still_serving(ex)


def test_filesystem_is_read_only_but_the_job_directory(ex, outside_dir):
    if not IS_ROOT and not ex.filesystem_isolated:
        pytest.skip("a mount namespace needs root or a user namespace (the documented weaker fallback)")
    if not ex.filesystem_isolated:
        # e.g. inside a chroot whose root is not a mount point (CI's pristine root): the worker cannot make
        # its read-only view there and falls back, as docs/executor.md says
        root_is_mount = any(line.split()[4] == "/" for line in Path("/proc/self/mountinfo").read_text().splitlines())
        assert not root_is_mount, "the root is a mount point, yet the worker made no read-only view"
        pytest.skip("no read-only view possible here: / is not a mount point (a chroot)")
    outside_dir.chmod(0o777)   # even a world-writable directory
    jobs = [f"open({str(outside_dir / 'planted.txt')!r}, 'w').write('x')",
            f"import os\nos.mkdir({str(outside_dir / 'sub')!r})",
            "import os\nos.makedirs('a/b')\nopen('a/b/c.txt', 'w').write('ok')\nprint(open('a/b/c.txt').read())",
            "import os\nprint(sorted(os.listdir('.')))"]
    planted, mkdir, own, fresh = ex.run(jobs)
    for r in (planted, mkdir):   # without root, outside_dir is in a hidden directory: not even there
        assert r.status == "error" and (("Read-only file system" in r.error_message) if IS_ROOT
                                        else r.error_type == "FileNotFoundError"), (r.error_type, r.error_message)
    assert not (outside_dir / "planted.txt").exists() and not (outside_dir / "sub").exists()
    assert (own.status, own.answer) == ("ok", "ok")
    assert (fresh.status, fresh.answer) == ("ok", "[]")   # the next job's directory starts empty


def test_no_network(ex):
    server, port = tcp_server()
    try:
        r = ex.run([f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=1)\nprint('connected')"])[0]
    finally:
        server.close()
    assert r.status == "error" and "connected" not in r.stdout
    assert r.error_type in ("OSError", "ConnectionRefusedError", "PermissionError", "TimeoutError")


def test_no_processes_survive_a_job(ex):
    before = set(leftover_job_processes())
    ex.run([HOSTILE["daemon escapes session"][0]])
    time.sleep(0.2)
    new = set(leftover_job_processes()) - before
    if new:   # another pool on this kernel (a concurrent test run) starts short jobs too; the daemon would
        time.sleep(3)   # sleep 1000 s, so a process of this job is one that is still there seconds later
        new &= set(leftover_job_processes())
    assert new == set()


def process_stat(pid):
    """The fields of /proc/<pid>/stat after the command name (state first, then the parent), or None."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def process_state(pid):
    fields = process_stat(pid)
    return fields[0] if fields else "gone"


def alive(pid):
    return process_state(pid) not in ("Z", "X", "gone")


def children_of(parent):
    return [int(e) for e in os.listdir("/proc") if e.isdigit() and (process_stat(e) or [None, -1])[1] == str(parent)]


def worker_pids():
    return children_of(os.getpid())


def lasting_job_processes():
    """Job processes still there seconds after a batch. A worker killed from outside takes its jobs with it
    as its pid namespace is torn down, which under load (a full suite beside two compilers) outlasted the
    0.3 s first allowed; a process that leaked is still there after 5 s."""
    time.sleep(0.3)
    left = set(leftover_job_processes())
    deadline = time.monotonic() + 5.0
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left &= set(leftover_job_processes())
    return sorted(left)


def leftover_job_processes():
    """Processes running as a job uid (the workers draw them from 10^8..1.1*10^9), zombies included."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                uid = int(re.search(r"^Uid:\s+(\d+)", Path(f"/proc/{entry}/status").read_text(), re.M).group(1))
            except (OSError, AttributeError):
                continue
            if 100_000_000 <= uid < 1_100_000_000:
                found.append(int(entry))
    return found


def test_a_killed_worker_is_replaced_and_its_job_reported():
    others = set(worker_pids())   # the shared fixture's workers stay alive
    with cotnpot.Executor(workers=1, timeout=5.0) as ex:
        def kill_workers():
            time.sleep(0.5)
            for pid in set(worker_pids()) - others:
                os.kill(pid, signal.SIGKILL)
        killer = threading.Thread(target=kill_workers)
        killer.start()
        r = ex.run(["import time\ntime.sleep(3)\nprint('slow')", "print('next')"])
        killer.join()
        assert (r[0].status, r[0].error_type) == ("sandbox_error", "WorkerDied")
        assert (r[1].status, r[1].answer) == ("ok", "next")


def test_the_worker_writes_few_pages_per_job():
    """The fork server's own page faults per trivial job. Each fork write-protects all of its pages, so every
    page it writes before the next fork is a fault (a copy while the job still shares it): with the per-job
    loop in Python, ~190 a job, the largest cost the pool added to a trivial job; in C (job_loop.c) ~10."""
    others = set(worker_pids())
    with cotnpot.Executor(workers=1, timeout=5.0) as ex:
        ex.run(["x = 1"] * 20)
        started = set(worker_pids()) - others
        assert len(started) == 1
        (started,) = started
        server = children_of(started) or [started]   # with a pid namespace: the waiting process's one child
        assert len(server) == 1

        def faults():
            return int(process_stat(server[0])[7])   # minflt, the 10th field of /proc/<pid>/stat

        before = faults()
        jobs = 300
        results = ex.run(["x = 1"] * jobs)
        per_job = (faults() - before) / jobs
    assert all(r.status == "ok" for r in results)
    assert per_job < 60, per_job


SECCOMP_PROBE = "print(open('/proc/self/status').read().split('Seccomp:')[1].split()[0])"


def seccomp_mode(pid):
    """The Seccomp: field of /proc/<pid>/status (0 none, 2 a filter)."""
    return int(re.search(r"^Seccomp:\s+(\d)", Path(f"/proc/{pid}/status").read_text(), re.M).group(1))


@pytest.mark.skipif(platform.machine() not in ("x86_64", "aarch64"), reason="the jobs' filter exists for these")
@pytest.mark.parametrize("job_namespaces", [True, False])
def test_the_jobs_seccomp_filter_is_installed_once_in_the_worker(job_namespaces):
    """With a pid namespace per job, the fork server runs under the jobs' seccomp filter itself, installed once
    before its first job and inherited by each: installed by each job, the kernel compiled it once per job
    (110-270 us a fork on the project's VM). Without one (the filter refuses setsid and setpgid, which a job's
    confinement calls), each job installs it. Either way every job runs under it."""
    others = set(worker_pids())
    with cotnpot.Executor(workers=1, timeout=5.0, job_namespaces=job_namespaces) as ex:
        results = ex.run([SECCOMP_PROBE] * 3)
        pid_isolated = ex.pid_isolated
        (started,) = set(worker_pids()) - others
        server = children_of(started) if pid_isolated else [started]
        assert len(server) == 1
        server_mode = seccomp_mode(server[0])
    assert [(r.status, r.answer) for r in results] == [("ok", "2")] * 3
    assert server_mode == (2 if pid_isolated else 0)


FILTER_REFUSED = """
import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
class F(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8), ("k", ctypes.c_uint32)]
class P(ctypes.Structure):
    _fields_ = [("len", ctypes.c_uint16), ("filter", ctypes.POINTER(F))]
# a filter of the caller's own: prctl(PR_SET_SECCOMP, ...) answers EINVAL, everything else runs
prog = [(0x20, 0, 0, 0), (0x15, 0, 3, 157), (0x20, 0, 0, 16), (0x15, 0, 1, 22), (0x06, 0, 0, 0x50000 | 22),
        (0x06, 0, 0, 0x7FFF0000)]
array = (F * len(prog))(*[F(*p) for p in prog])
assert libc.prctl(38, 1, 0, 0, 0) == 0 and libc.prctl(22, 2, ctypes.byref(P(len(prog), array)), 0, 0) == 0
import cotnpot
with cotnpot.Executor(workers=1, timeout=5.0) as ex:
    for r in ex.run(["print(1)"] * 3):
        print(r.status, r.error_message)
"""


@pytest.mark.skipif(platform.machine() != "x86_64", reason="the caller's filter names x86-64's prctl")
def test_a_filter_the_worker_cannot_install_fails_each_job_with_its_cause():
    """Where the worker cannot install the jobs' filter, each job tries and reports why: a sandbox_error that
    names the cause. Failing the worker instead had made every job a WorkerDied and restarted the worker for
    each (a reviewer)."""
    done = subprocess.run([sys.executable, "-c", FILTER_REFUSED], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines() == ["sandbox_error OSError: cannot install the job's seccomp filter: Invalid argument"] * 3


def test_a_worker_with_threads_of_its_own_still_runs_every_job():
    """The job loop forks holding the GIL (os.fork's rule): a thread the warmup started cannot hold it across a
    fork and leave the job waiting for it. A loop called without the GIL timed out every job after the first
    (found by review); without per-job namespaces the warmup's threads live in the fork server itself."""
    spin = "import threading\ndef spin():\n    while True:\n        pass\nthreading.Thread(target=spin, daemon=True).start()"
    with cotnpot.Executor(workers=1, timeout=3.0, warmup=spin, job_namespaces=False) as ex:
        results = ex.run([f"print({i})" for i in range(4)])
    assert [(r.status, r.answer) for r in results] == [("ok", str(i)) for i in range(4)]


def test_the_job_does_not_copy_its_frame():
    """The job's fields are read in place from its copy of the frame (memoryviews), not copied after its
    memory limit is set: a 32 MiB field the job does not use adds only the frame's own pages to its peak RSS.
    Two copies (ctypes.string_at, then slices) once made a job fail with exit 71 below a limit the Python
    loop had met (found by review)."""
    with cotnpot.Executor(workers=1, timeout=20.0, memory_mb=1024) as ex:
        trivial, carrying = ex.run_jobs([cotnpot.Job("x = 1"), cotnpot.Job("x = 1", tests="x" * (32 << 20))])
    assert (trivial.status, carrying.status) == ("ok", "ok")
    extra_mib = (carrying.peak_rss_kb - trivial.peak_rss_kb) / 1024
    assert 30 < extra_mib < 48, extra_mib


# ---- bad input ---------------------------------------------------------------------------------------------

def test_bad_input(ex):
    megabytes = "# " + "x" * 2_000_000 + "\nx = 1\nprint(x)"
    r = ex.run([b"print('\xff')", "", megabytes])
    assert (r[0].status, r[0].error_type) == ("error", "UnicodeDecodeError")
    assert (r[1].status, r[1].answer) == ("ok", "")
    assert (r[2].status, r[2].answer) == ("ok", "1")
    with pytest.raises(ValueError, match="timeout must be > 0 seconds, got 0"):
        ex.run(["print(1)"], timeout=0)
    with pytest.raises(ValueError, match="timeout must be > 0 seconds, got -1"):
        cotnpot.Executor(timeout=-1)
    for workers in (0, 1025, 2 ** 40):   # 2 ** 40 had been the binding's TypeError, dumping every argument
        with pytest.raises(ValueError, match=rf"workers must be in \[1, 1024\], got {workers}$"):
            cotnpot.Executor(workers=workers)
    for grace in (0, -1, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="worker_grace must be > 0 and at most 1e6 seconds"):
            cotnpot.Executor(worker_grace=grace)
    with pytest.raises(ValueError, match="kind must be 'program' or 'tests', got 'shell'"):
        ex.run_jobs([cotnpot.Job("x", kind="shell")])
    with pytest.raises(ValueError, match="same length, got 1 and 2"):
        ex.run_tests(["x"], ["a", "b"])
    with pytest.raises(RuntimeError, match="cannot start the worker interpreter '/nonexistent/python'"):
        cotnpot.Executor(python="/nonexistent/python")
    with pytest.raises(ValueError, match="unknown protection 'network'"), pytest.warns(RuntimeWarning):
        cotnpot.Executor(isolation_off=["network"])
    with pytest.raises(TypeError, match="sequence of names, got the string 'uid'"):
        cotnpot.Executor(isolation_off="uid")
    # a reply carries stdout and stderr whole, with 32-bit lengths: a larger cap once let 4 GiB + k bytes of
    # output pass for k, and the rest for fields the job chose (found by review)
    for limit in (0, (64 << 20) + 1, 1 << 33):
        with pytest.raises(ValueError, match="output_limit must be between 1 and 67108864 bytes"):
            cotnpot.Executor(output_limit=limit)


def test_isolation_off_switches_only_what_it_names():
    with pytest.warns(RuntimeWarning, match="weaker isolation"):
        weak = cotnpot.Executor(workers=1, isolation_off=["rlimits"])
    with weak, cotnpot.Executor(workers=1) as strong:
        probe = ("import os, resource, socket\nlimit = resource.getrlimit(resource.RLIMIT_NOFILE)[0] == 64\n"
                 "try:\n    socket.socket(socket.AF_UNIX)\n    unix = 'open'\nexcept OSError:\n    unix = 'refused'\n"
                 "print(limit, unix)")
        # the rlimits off, and only them: the seccomp filter still refuses Unix sockets
        assert weak.run([probe])[0].answer == "False refused"
        assert strong.run([probe])[0].answer == "True refused"
        assert cotnpot.executor.ISOLATION_FEATURES == ("uid", "memory_cgroup", "seccomp", "rlimits", "zeroing")


# ---- real data ------------------------------------------------------------------------------------------

def mbpp_rows():
    return [json.loads(line) for line in (SHARED / "mbpp_sanitized.jsonl").open()]


def mbpp_tests(row):
    return "\n".join(row["test_imports"] + row["test_list"])


def broken(code):
    """Every function body replaced by `return None` (keeping the def lines and their indentation)."""
    out, skipping, indent = [], False, 0
    for line in code.splitlines():
        stripped = line.lstrip()
        current = len(line) - len(stripped)
        if skipping and stripped and current <= indent:
            skipping = False
        if skipping:
            continue
        out.append(line)
        if stripped.startswith("def ") and line.rstrip().endswith(":"):
            out.append(" " * (current + 4) + "return None")
            skipping, indent = True, current
    return "\n".join(out)


def test_mbpp_reference_solutions_pass_and_broken_ones_fail(ex):
    rows = mbpp_rows()
    assert len(rows) == 427
    results = ex.run_tests([r["code"] for r in rows], [mbpp_tests(r) for r in rows], timeout=10)
    failures = [(r["task_id"], x.status, x.error_type, x.failing_test) for r, x in zip(rows, results) if not x.passed]
    assert failures == []
    expects_none = {r["task_id"] for r in rows if "None" in mbpp_tests(r)}
    broken_results = ex.run_tests([broken(r["code"]) for r in rows], [mbpp_tests(r) for r in rows], timeout=10)
    survivors = [r["task_id"] for r, x in zip(rows, broken_results) if x.passed and r["task_id"] not in expects_none]
    assert survivors == []


def test_pot_codex_gsm8k_programs_reproduce_their_recorded_values(ex):
    rows = [json.loads(line) for line in (SHARED / "pot_codex_gsm8k_fewshot_greedy_outputs.jsonl").open()]
    rows = [r for r in rows if "question" in r]
    assert len(rows) == 1318
    results = ex.run([r["generated"][0] for r in rows], answer="variable", variable="ans", timeout=5)
    mismatches = []
    for row, res in zip(rows, results):
        recorded = row["executed"]
        if recorded is None:   # the program failed when it was recorded: it must fail here too
            if res.status == "ok" and res.answer not in ("", "None"):
                mismatches.append((row["question"][:40], recorded, res.status, res.answer))
            continue
        try:
            same = abs(float(res.answer) - float(recorded)) <= 1e-6 * max(1.0, abs(float(recorded)))
        except (TypeError, ValueError):
            same = res.answer == str(recorded)
        if not same:
            mismatches.append((row["question"][:40], recorded, res.status, res.answer))
    assert len(mismatches) <= 13, mismatches[:20]   # <1%: see the note in docs/executor.md


# ---- load ---------------------------------------------------------------------------------------------------

LOAD_HOSTILE = [HOSTILE["infinite loop"][0], "x = ' ' * 10**10", HOSTILE["segfault"][0], HOSTILE["fork bomb"][0],
                HOSTILE["infinite output"][0]]
LOAD_HOSTILE_STATUS = [{"timeout"}, {"memory_limit", "killed"}, {"killed"}, {"timeout", "killed", "error"},
                       {"output_limit"}]


def mixed_load(n, tag):
    """n jobs, every tenth hostile (0.15 s timeouts for those), the others printing a value of their own."""
    jobs, wanted = [], []
    for i in range(n):
        if i % 10 == 5:
            k = (i // 10) % len(LOAD_HOSTILE)
            jobs.append(cotnpot.Job(LOAD_HOSTILE[k], timeout=0.15))
            wanted.append(LOAD_HOSTILE_STATUS[k])
        else:
            jobs.append(cotnpot.Job(f"print('{tag}-{i}')"))
            wanted.append(f"{tag}-{i}")
    return jobs, wanted


def check_load(wanted, results, worker_died_allowed=False):
    """Each job's own value, or its expected failure; the number of WorkerDied results (a job under a worker
    killed from outside), which only worker_died_allowed permits."""
    assert len(results) == len(wanted)
    died = 0
    for want, r in zip(wanted, results):
        if worker_died_allowed and (r.status, r.error_type) == ("sandbox_error", "WorkerDied"):
            died += 1
        elif isinstance(want, str):
            assert (r.status, r.answer) == ("ok", want)
        else:
            assert r.status in want, (want, r.status, r.error_type)
    return died


def test_no_lost_results_under_load():
    """10,000 mixed jobs, 10% hostile, 2 workers."""
    jobs, wanted = mixed_load(10_000, "load")
    before = set(Path("/tmp").glob("cotnpot-exec-*"))
    with cotnpot.Executor(workers=2, timeout=5.0, memory_mb=256) as ex:
        check_load(wanted, ex.run_jobs(jobs, progress=False))
        assert lasting_job_processes() == []
    assert set(Path("/tmp").glob("cotnpot-exec-*")) <= before   # the pool's temp dirs are gone


def test_load_from_two_threads_with_workers_killed_from_outside():
    """3,000 mixed jobs (10% hostile) submitted by two threads at once while a worker is killed from
    outside every 300 finished jobs: every job gets exactly one result -- its own value, or WorkerDied for a
    job whose worker was killed under it -- and no process, temp directory or descriptor is left.
    COTNPOT_FULL_LOAD=1: the issue's size, 10,000 jobs with a kill every 500 (figures in docs/executor.md)."""
    full = os.environ.get("COTNPOT_FULL_LOAD") == "1"
    per_thread, every = (5000, 500) if full else (1500, 300)
    started = time.monotonic()
    others = set(worker_pids())
    before_dirs = set(Path("/tmp").glob("cotnpot-exec-*"))
    fds_before = sorted(os.listdir("/proc/self/fd"))
    finished, kills, lock, stop = [0], [0], threading.Lock(), threading.Event()

    def progress(done):
        with lock:
            finished[0] += 1

    def killer():
        next_kill = every
        while not stop.is_set():
            if finished[0] >= next_kill:
                mine = sorted(set(worker_pids()) - others)
                if mine:
                    os.kill(mine[kills[0] % len(mine)], signal.SIGKILL)
                    kills[0] += 1
                next_kill += every
            time.sleep(0.005)
    with cotnpot.Executor(workers=2, timeout=5.0, memory_mb=256) as ex:
        batches = {tag: mixed_load(per_thread, tag) for tag in ("a", "b")}
        results = {}

        def submit(tag):
            results[tag] = ex.run_jobs(batches[tag][0], progress=progress)
        threads = [threading.Thread(target=submit, args=(tag,)) for tag in batches] + [threading.Thread(target=killer)]
        for t in threads:
            t.start()
        for t in threads[:2]:
            t.join()
        stop.set()
        threads[2].join()
        died = sum(check_load(wanted, results[tag], worker_died_allowed=True) for tag, (_, wanted) in batches.items())
        assert kills[0] >= 5 and died <= kills[0], (kills[0], died)
        assert lasting_job_processes() == []
    assert set(Path("/tmp").glob("cotnpot-exec-*")) <= before_dirs
    assert sorted(os.listdir("/proc/self/fd")) == fds_before
    print(f"\nload: {2 * per_thread} jobs from 2 threads, {kills[0]} workers killed, {died} WorkerDied, "
          f"{time.monotonic() - started:.1f} s")


def test_a_progress_callback_that_raises_comes_back_to_the_caller(ex):
    """It used to end the process in std::terminate (SIGABRT): the exception left a worker thread."""
    def boom(done):
        raise ValueError(f"progress failed at {done}")
    with pytest.raises(ValueError, match="progress failed at"):
        ex.run(["print(1)"] * 20, progress=boom)
    # the pool is still usable after the cancelled batch
    assert [r.answer for r in ex.run(["print(2)", "print(3)"])] == ["2", "3"]


def test_on_result_gives_each_job_once_with_its_index(ex):
    seen = []
    progress = []
    results = ex.run([f"print({i} * {i})" for i in range(30)], progress=progress.append,
                     on_result=lambda i, r: seen.append((i, r.status, r.answer, len(progress))))
    assert sorted(i for i, *_ in seen) == list(range(30))
    assert all((status, answer) == ("ok", str(i * i)) for i, status, answer, _ in seen)
    assert [n for *_, n in seen] == list(range(30))   # each job's result comes before its progress count
    assert [r.answer for r in results] == [str(i * i) for i in range(30)]


def test_a_stopped_batch_still_hands_over_the_jobs_that_finish(ex):
    """What a stopped batch finished can be kept: the jobs that finished come to on_result, and so does the
    job running when the batch is stopped (here by a progress callback that raises, as Ctrl-C stops it),
    ended with its worker (Cancelled: until 2026-12-04 it ran to its end first); the jobs never started do
    not."""
    seen = {}

    def stop_at_three(done):
        if done == 3:
            raise KeyboardInterrupt

    programs = ["import time; time.sleep(5.0); print('slow')"] + [f"print({i})" for i in range(1, 40)]
    start = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        ex.run(programs, progress=stop_at_three,
               on_result=lambda i, r: seen.setdefault(i, r.answer if r.status == "ok" else r.error_type))
    assert time.monotonic() - start < 4
    assert seen[0] == "Cancelled" and all(seen[i] == str(i) for i in seen if i)
    assert 4 <= len(seen) < 40
    results = ex.run_tests(["def f(): return 1"] * 2, ["assert f() == 1", "assert f() == 2"],
                           on_result=lambda i, r: seen.__setitem__(("tests", i), r.passed))
    assert [r.passed for r in results] == [True, False] and (seen["tests", 0], seen["tests", 1]) == (True, False)


def test_two_threads_sharing_one_executor_get_their_own_results(ex):
    """Batches from several threads take turns: every result is its own job's (21 of 120 were swapped)."""
    out = {}
    def submit(tag):
        out[tag] = ex.run([f"print('{tag}', {i})" for i in range(60)])
    threads = [threading.Thread(target=submit, args=(t,)) for t in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for tag in ("a", "b"):
        assert [r.answer for r in out[tag]] == [f"{tag} {i}" for i in range(60)]


def output_after_ctrl_c(script):
    """What a Python script prints when SIGINT reaches it a second after it printed 'ready'."""
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    return proc.communicate(timeout=60)[0]


def test_ctrl_c_stops_a_long_batch(tmp_path):
    """SIGINT to a process running a long batch: KeyboardInterrupt within seconds, not at the batch's end."""
    script = tmp_path / "long_batch.py"
    script.write_text(
        "import signal, sys, time, cotnpot\n"
        # as in an interactive Python (a test run started in the background inherits SIGINT ignored)
        "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
        "with cotnpot.Executor(workers=2, timeout=5.0) as ex:\n"
        "    print('ready', flush=True)\n"
        "    start, kept = time.time(), []\n"
        "    try:\n"
        "        ex.run(['import time; time.sleep(0.2)'] * 400,\n"
        "               on_result=lambda i, r: kept.append(r.status if r.status == 'ok' else r.error_type))\n"
        "        print('finished', flush=True)\n"
        "    except KeyboardInterrupt:\n"
        "        print(f'interrupted after {time.time() - start:.1f}s', flush=True)\n"
        "    print(len(kept), sorted(set(kept)), flush=True)\n"
        "    print([r.answer for r in ex.run(['print(7)'])], flush=True)\n")
    out = output_after_ctrl_c(script)
    assert out.startswith("interrupted after") and float(out.split()[2].rstrip("s")) < 10   # 400 jobs: ~40 s
    kept, statuses = out.splitlines()[1].split(" ", 1)
    # the jobs that finished, and those running at the Ctrl-C, ended with their workers (Cancelled)
    assert 2 <= int(kept) < 400 and statuses in ("['ok']", "['Cancelled', 'ok']"), out
    assert out.splitlines()[-1] == "['7']"   # the pool still works after the interruption


def test_ctrl_c_ends_the_running_jobs_at_once(tmp_path):
    """Found by a breaker: a stopped batch waited for its running jobs' deadlines (Ctrl-C in `cotnpot eval
    --timeout 30` took 26 s, and a second Ctrl-C no less). The running jobs are ended with their workers now,
    reported Cancelled (a sandbox_error: not cached), nothing of theirs left; the next batch runs on fresh
    workers."""
    script = tmp_path / "long_jobs.py"
    script.write_text(
        "import os, signal, sys, time, cotnpot\n"
        "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
        "with cotnpot.Executor(workers=2, timeout=60.0) as ex:\n"
        "    print('ready', flush=True)\n"
        "    start, kept = time.time(), []\n"
        "    try:\n"
        "        ex.run(['import os, time\\nif os.fork() == 0:\\n    time.sleep(120)\\ntime.sleep(60)'] * 4,\n"
        "               on_result=lambda i, r: kept.append((r.status, r.error_type)))\n"
        "    except KeyboardInterrupt:\n"
        "        print(f'interrupted after {time.time() - start:.1f}s', flush=True)\n"
        "    print(sorted(kept), flush=True)\n"
        "    print([r.answer for r in ex.run(['print(7)', 'print(8)'])], flush=True)\n")
    before = set(leftover_job_processes())
    out = output_after_ctrl_c(script)
    lines = out.splitlines()
    assert lines[0].startswith("interrupted after") and float(lines[0].split()[2].rstrip("s")) < 3, out
    assert lines[1] == str([("sandbox_error", "Cancelled")] * 2), out
    assert lines[2] == "['7', '8']", out
    deadline = time.monotonic() + 5   # as root, each job a uid of its own: none of theirs is left
    while set(leftover_job_processes()) - before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert set(leftover_job_processes()) - before == set()


def test_ctrl_c_reaches_a_batch_waiting_for_another_threads_batch(tmp_path):
    """A batch waiting its turn behind another thread's took its KeyboardInterrupt only once that whole batch
    had run: Ctrl-C unanswered for as long as the other batch lasted."""
    script = tmp_path / "waiting_batch.py"
    script.write_text(
        "import signal, threading, time, cotnpot\n"
        "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
        "with cotnpot.Executor(workers=1, timeout=30.0) as ex:\n"
        "    other = threading.Thread(target=lambda: print('other', [r.status for r in ex.run(['import time; "
        "time.sleep(8)'])], flush=True))\n"
        "    other.start()\n"
        "    time.sleep(0.5)\n"
        "    print('ready', flush=True)\n"
        "    start = time.time()\n"
        "    try:\n"
        "        ex.run(['print(1)'])\n"
        "        print(f'finished after {time.time() - start:.1f}s', flush=True)\n"
        "    except KeyboardInterrupt:\n"
        "        print(f'interrupted after {time.time() - start:.1f}s', flush=True)\n"
        "    other.join()\n"
        "    print([r.answer for r in ex.run(['print(7)'])], flush=True)\n")
    out = output_after_ctrl_c(script)
    lines = out.splitlines()
    assert lines[0].startswith("interrupted after") and float(lines[0].split()[2].rstrip("s")) < 4, out
    assert lines[1:] == ["other ['ok']", "['7']"], out   # the other thread's batch, and the pool, unharmed


def test_the_parents_environment_never_reaches_a_job(monkeypatch):
    """Workers used to start with the parent's whole environment; os.environ.clear() in the worker does not
    change /proc/self/environ, which every forked job could read (a token or key of the caller) -- as root
    the job's uid switch hides the file, without root nothing did."""
    monkeypatch.setenv("COTNPOT_TEST_SECRET", "s3cret-token")
    before = set(worker_pids())
    with cotnpot.Executor(workers=1, timeout=5.0) as own:
        workers = set(worker_pids()) - before
        environs = []
        for pid in workers:
            try:
                environs.append(Path(f"/proc/{pid}/environ").read_bytes())
            except PermissionError:   # a non-dumpable worker's /proc files are root's: no job of ours reads them
                environs.append(b"PATH=(unreadable)")
        r = own.run(["import os\ntry:\n    print(open('/proc/self/environ', 'rb').read())\n"
                     "except PermissionError:\n    print('unreadable')\nprint(dict(os.environ))"])[0]
    assert workers and environs
    assert all(b"s3cret-token" not in e and b"PATH=" in e for e in environs)   # what every job inherits
    assert r.status == "ok" and "s3cret-token" not in r.stdout, (r.error_type, r.error_message, r.stdout)


def test_descriptors_above_4096_are_closed_in_jobs():
    """The caller's open files must not reach a job, however high their descriptor numbers."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 5000:
        pytest.skip(f"RLIMIT_NOFILE hard limit {hard} is below 5000")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 5000), hard))
    fd = os.open("/dev/null", os.O_RDONLY)
    high = os.dup2(fd, 4500, inheritable=True)
    try:
        with cotnpot.Executor(workers=1, timeout=5.0) as own:
            r = own.run(["import os\nprint(sorted(int(f) for f in os.listdir('/proc/self/fd')))"])[0]
    finally:
        os.close(high)
        os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert r.status == "ok"
    assert all(n < 4096 for n in json.loads(r.answer)), r.answer


def test_an_infinite_timeout_is_refused():
    with pytest.raises(ValueError, match="at most 1e6 seconds"):
        cotnpot.Executor(workers=1, timeout=float("inf"))


def test_a_stuck_worker_is_replaced_and_its_late_reply_never_answers_another_job():
    """The job is retried on a fresh worker (the first was killed before the batch), that one is stopped
    mid-job: the job is reported WorkerDied and -- this used to be skipped after a retry -- the stuck worker
    replaced, so its late reply cannot be taken for the next batch's job (ids are unique across batches)."""
    def live_children():
        return {pid for pid in worker_pids() if alive(pid)}
    others = live_children()   # other executors of this test module
    with cotnpot.Executor(workers=1, timeout=2.0, worker_grace=1.0) as own:
        first = live_children() - others
        assert len(first) == 1
        tree = {p for pid in first for p in [pid] + children_of(pid)}   # as root, the fork server under it
        for pid in first:
            os.kill(pid, signal.SIGKILL)
        deadline = time.time() + 5
        while any(alive(p) for p in tree) and time.time() < deadline:
            time.sleep(0.05)
        stopped = []
        def stop_new_workers():   # the worker and the fork server under it (in its own pid namespace, as root)
            for pid in live_children() - others - first:
                for p in [pid] + children_of(pid):
                    os.kill(p, signal.SIGSTOP)
                    stopped.append(p)
        timer = threading.Timer(0.8, stop_new_workers)
        timer.start()
        try:
            r1 = own.run(["import time; time.sleep(1.5); print('SLEEP-JOB')"])[0]
        finally:
            timer.cancel()
            for pid in stopped:
                try:
                    os.kill(pid, signal.SIGCONT)
                except ProcessLookupError:
                    pass
        assert stopped and r1.status == "sandbox_error" and r1.error_type == "WorkerDied"
        time.sleep(1.0)   # the stopped worker, resumed, would now write its stale reply
        r2 = own.run(["print('second batch')"])[0]
        assert r2.status == "ok" and r2.answer == "second batch", (r2.status, r2.stdout)


def test_close_stops_a_batch_running_on_another_thread():
    """Found by a breaker: close() returned at once while the batch went on starting jobs to its end."""
    ex = cotnpot.Executor(workers=1, timeout=5.0)
    outcome = {}

    def batch():
        start = time.monotonic()
        try:
            ex.run(["import time\ntime.sleep(0.3)"] * 30)
            outcome["error"] = None
        except RuntimeError as e:
            outcome["error"] = str(e)
        outcome["seconds"] = time.monotonic() - start

    thread = threading.Thread(target=batch)
    thread.start()
    time.sleep(0.5)
    ex.close()
    thread.join(timeout=20)
    assert "closed while the batch ran" in outcome["error"] and outcome["seconds"] < 3, outcome


def test_a_caller_that_exits_during_a_batch_does_not_abort(tmp_path):
    """Found by a breaker: sys.exit() while a batch ran on a daemon thread ended in std::terminate (SIGABRT)."""
    script = tmp_path / "exits.py"
    script.write_text("import sys, threading, time, cotnpot\nex = cotnpot.Executor(workers=1, timeout=20.0)\n"
                      "threading.Thread(target=lambda: ex.run(['import time\\ntime.sleep(15)']), daemon=True).start()\n"
                      "time.sleep(0.5)\nsys.exit(0)\n")
    start = time.monotonic()
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, (done.returncode, done.stderr[-500:])
    assert time.monotonic() - start < 10


def test_a_worker_that_cannot_restart_leaves_its_jobs_to_the_others(tmp_path):
    """A worker killed between batches whose replacement cannot start (here: the interpreter refuses to
    start from then on) must not take jobs -- and fail each at once -- while another worker is healthy:
    every job runs on the healthy one. With no worker left, every job still gets its result, saying why."""
    wrapper = tmp_path / "python3"
    wrapper.write_text(f"#!/bin/sh\n[ -e '{tmp_path}/broken' ] && exit 1\nexec /usr/bin/python3 \"$@\"\n")
    wrapper.chmod(0o755)
    others = set(worker_pids())
    with cotnpot.Executor(workers=2, timeout=5.0, python=str(wrapper)) as ex:
        assert [r.answer for r in ex.run(["print(1)", "print(2)"])] == ["1", "2"]
        mine = sorted(set(worker_pids()) - others)
        assert len(mine) == 2
        (tmp_path / "broken").touch()

        def kill_worker(pid):   # and wait for its process tree to be gone (no reader left on its pipe)
            tree = [pid] + children_of(pid)
            os.kill(pid, signal.SIGKILL)
            while any(alive(p) for p in tree):
                time.sleep(0.01)
        kill_worker(mine[0])
        results = ex.run([f"print({i})" for i in range(40)])
        assert [(r.status, r.answer) for r in results] == [("ok", str(i)) for i in range(40)]
        kill_worker(mine[1])
        results = ex.run([f"print({i})" for i in range(5)])
        assert all((r.status, r.error_type) == ("sandbox_error", "WorkerDied") for r in results), results
        assert all(re.search(r"could (not )?be restarted: .*exited before it was ready", r.error_message)
                   for r in results), results[0].error_message


def test_a_stopped_batch_ends_a_job_with_a_long_output_at_once():
    """Found by a breaker: a job holding more output than a pipe (its worker's reply) kept its worker from
    exiting when the batch was stopped, until the worker was killed 2 s later. The reply is read and dropped
    as it comes now."""
    big = ("import sys, time\nsys.stdout.write('x' * 6000000)\nsys.stdout.flush()\nsys.stderr.write('y' * 6000000)\n"
           "sys.stderr.flush()\ntime.sleep(60)")

    def stop_at_first(done):
        raise KeyboardInterrupt

    with cotnpot.Executor(workers=2, timeout=60.0, output_limit=8 << 20) as ex:
        start = time.monotonic()
        with pytest.raises(KeyboardInterrupt):
            ex.run([big, "import time\ntime.sleep(1.0)\nprint(1)"], progress=stop_at_first)
        assert time.monotonic() - start < 2.5   # 1 s of the second job, then the stop (it had taken 3.1 s)
        assert [r.answer for r in ex.run(["print(7)"])] == ["7"]
