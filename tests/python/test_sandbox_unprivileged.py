"""The sandbox for a caller without root (issues 15 and 16): the tests here start, as root, a caller that runs as
an unprivileged user (setpriv, uid 65534) and check what its jobs can reach. Where the kernel lets that user
make a user namespace, its workers get the network, mount and pid isolation root has; where it does not (a
chroot, like CI's pristine root), the documented fallback still keeps the caller's environment and the
network out of reach (a minimal environment, a seccomp filter refusing every socket)."""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
NOBODY = ["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups"]
SECRET = "cotnpot-unprivileged-secret-5d1f"

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root to start an unprivileged caller (without root, "
                                                  "the whole suite is that caller)"),
    pytest.mark.skipif(shutil.which("setpriv") is None, reason="setpriv (util-linux) is not installed"),
]


def unprivileged(args, env=None, **kwargs):
    """Runs args as uid/gid 65534 with a clean environment (plus env), from the repository's root."""
    base = {"PATH": "/usr/bin:/bin", "HOME": "/tmp", "LANG": "C.UTF-8"}
    return subprocess.run(NOBODY + ["env", "-i", *[f"{k}={v}" for k, v in {**base, **(env or {})}.items()], *args],
                          cwd=HERE.parents[1], capture_output=True, text=True, **kwargs)


def user_namespaces_allowed():
    """Whether the kernel lets the unprivileged user make a user namespace here (not from a chroot, nor where
    user.max_user_namespaces is 0 or a security module refuses)."""
    return unprivileged(["unshare", "--user", "--map-root-user", "true"]).returncode == 0


def readable_by_nobody():
    r = unprivileged([sys.executable, "-c", "import cotnpot"])
    return r.returncode == 0, r.stderr[-500:]


@pytest.fixture(scope="module", autouse=True)
def caller_can_run():
    ok, why = readable_by_nobody()
    if not ok:
        pytest.skip(f"uid 65534 cannot import cotnpot from this checkout and venv: {why}")


def test_the_hostile_suites_hold_for_an_unprivileged_caller():
    """The hostile-program and forgery suites, run by a caller without root: every attack that the caller's
    isolation can stop is stopped (what cannot hold without root skips with its reason, as documented).
    Not the MBPP agreement of split and in-process judging: no attack, and a minute of the suite (the root run
    checks it)."""
    r = unprivileged([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs",
                      "tests/python/test_sandbox_attacks.py", "tests/python/test_executor.py",
                      "-k", "(not test_executor or hostile or network or outside or read_only or environ) "
                            "and not judgements_agree_on_mbpp"],
                     timeout=600)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    assert " passed" in r.stdout and " failed" not in r.stdout


CALLER = r'''
import json, os, sys
import cotnpot
victim, port, callers_file = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
# every environment the job can read (the worker's command line is its source: only short ones are printed)
# (the caller's own pid among them, where /proc cannot be listed)
scan = ("import os\nfound = []\ntry:\n    pids = os.listdir('/proc')\nexcept OSError:\n    pids = []\n"
        "for p in pids + ['self', 'CALLER']:\n    for f in ('environ', 'cmdline'):\n"
        "        try:\n            found.append(open(f'/proc/{p}/{f}', 'rb').read()[:1000])\n        except OSError:\n"
        "            pass\nprint(b'|'.join(found).decode('latin-1'), dict(os.environ))").replace("CALLER", str(os.getpid()))
jobs = {
    "environment": scan,
    "network": f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=1)\nprint('connected')",
    "signal victim": f"import os\nos.kill({victim}, 9)\nprint('sent')",
    "signal caller": f"import os\nos.kill({os.getpid()}, 9)\nprint('sent')",
    "caller's file": f"print(open({callers_file!r}).read()[:40])",
    "capabilities": "print(open('/proc/self/status').read().split('CapEff:')[1].split()[0])",
    "unhide": "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
              "print(libc.umount2(b'/home', 2), libc.mount(b'none', b'/', None, 32 | 4096 | 16384, None), "
              "libc.unshare(0x00020000))",
}
with cotnpot.Executor(workers=1, timeout=5.0) as ex:
    if not (ex.pid_isolated or ex.landlock_abi >= 6):   # the fallback without either: jobs can signal the caller
        del jobs["signal victim"], jobs["signal caller"]
    results = ex.run(list(jobs.values()))
    print(json.dumps({"isolation": ex.isolation, "uid": os.getuid(), "results": {
        name: {"status": r.status, "stdout": r.stdout, "error_type": r.error_type, "error_message": r.error_message}
        for name, r in zip(jobs, results)}}))
'''


def test_an_unprivileged_callers_secret_network_and_processes_stay_out_of_reach():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    victim = subprocess.Popen(NOBODY + ["sleep", "60"])
    try:
        r = unprivileged([sys.executable, "-c", CALLER, str(victim.pid), str(server.getsockname()[1]), __file__],
                         env={"COTNPOT_TEST_SECRET": SECRET}, timeout=120)
        assert r.returncode == 0, r.stderr[-3000:]
        out = json.loads(r.stdout.strip().splitlines()[-1])
        time.sleep(0.2)
        victim_alive = victim.poll() is None
    finally:
        server.close()
        if victim.poll() is None:
            victim.send_signal(signal.SIGKILL)
        victim.wait()
    results, isolation = out["results"], out["isolation"]
    assert out["uid"] == 65534
    # With a minimal environment and a clean worker: the secret is nowhere a job can look, in any case
    assert SECRET not in json.dumps(results), results["environment"]
    assert results["environment"]["status"] == "ok", results["environment"]
    # No network: a network namespace of the worker's own, or (without a user namespace) no socket at all
    assert "connected" not in results["network"]["stdout"] and results["network"]["status"] == "error"
    assert isolation["user_namespace"] == user_namespaces_allowed(), isolation
    # Nothing of the caller's outside the system's directories: hidden (a user namespace) or refused (Landlock)
    if isolation["user_namespace"] or isolation["landlock"]:
        assert results["caller's file"]["error_type"] in ("FileNotFoundError", "PermissionError"), results["caller's file"]
    # No capability to undo any of it (no mount, no new mount namespace)
    assert results["unhide"]["stdout"].split() == ["-1", "-1", "-1"], results["unhide"]
    if isolation["user_namespace"]:
        assert isolation == {"network": True, "uid": False, "user_namespace": True, "filesystem": True, "pid": True,
                             "memory": False, "landlock": False}, isolation
        # uid 0 of the worker's user namespace, with no capability; the caller's processes are not in its
        # pid namespace
        assert results["capabilities"]["stdout"].strip() == "0000000000000000", results["capabilities"]
        refused = "ProcessLookupError"
    elif "signal victim" in results:   # Landlock's signal scope (ABI 6): the caller's uid, yet no signal out
        assert isolation["landlock"], isolation
        refused = "PermissionError"
    else:
        pytest.skip(f"neither a user namespace nor Landlock's signal scope for uid 65534 here ({isolation}): the "
                    "environment and the network hold; jobs can signal the caller's processes (docs/executor.md)")
    assert victim_alive and results["signal victim"]["error_type"] == refused, results["signal victim"]
    assert results["signal caller"]["error_type"] == refused, results["signal caller"]


# The caller of a chroot (CI's pristine root), made anywhere: a seccomp filter refuses it and all it starts
# unshare and clone with CLONE_NEWUSER (clone3, whose flags a filter cannot read, says ENOSYS: glibc then
# uses clone), so its workers get no user namespace (and with it no pid, mount or network namespace) and fall
# back to Landlock and the job's own filter, as there.
NO_NAMESPACES = r'''
import ctypes, platform, struct
arch, unshare, clone, clone3 = {"x86_64": (0xC000003E, 272, 56, 435), "aarch64": (0xC00000B7, 97, 220, 435)}[platform.machine()]
code = [(0x20, 0, 0, 4), (0x15, 0, 6, arch), (0x20, 0, 0, 0), (0x15, 5, 0, unshare), (0x15, 5, 0, clone3),
        (0x15, 0, 2, clone), (0x20, 0, 0, 16), (0x45, 1, 0, 0x10000000),
        (0x06, 0, 0, 0x7FFF0000), (0x06, 0, 0, 0x00050000 | 1), (0x06, 0, 0, 0x00050000 | 38)]
program = ctypes.create_string_buffer(b"".join(struct.pack("HBBI", *c) for c in code))
fprog = struct.pack("HxxxxxxQ", len(code), ctypes.addressof(program))
libc = ctypes.CDLL(None, use_errno=True)
assert libc.prctl(38, 1, 0, 0, 0) == 0 and libc.prctl(22, 2, ctypes.c_char_p(fprog), 0, 0) == 0
'''

# A daemon that leaves the job's session, if it can.
DAEMON = """import os, time
if os.fork() == 0:
    try:
        os.setsid()
    except OSError:
        pass
    time.sleep(1000)
print('parent done')"""

# The worker's and the caller's limits and scheduling, which Landlock's signal scope does not cover; the job's
# own stay its to change.
REACH = """import os, resource
out = []
for name, call in [('cpu limit', lambda p: resource.prlimit(p, resource.RLIMIT_CPU, (1, 1))),
                   ('read limit', lambda p: resource.prlimit(p, resource.RLIMIT_CPU)),
                   ('affinity', lambda p: os.sched_setaffinity(p, {0})),
                   ('scheduler', lambda p: os.sched_setscheduler(p, os.SCHED_IDLE, os.sched_param(0))),
                   ('priority', lambda p: os.setpriority(os.PRIO_PROCESS, p, 19)),
                   ('user priority', lambda p: os.setpriority(os.PRIO_USER, 0, 19))]:
    for who, pid in (('worker', os.getppid()), ('caller', CALLER)):
        try:
            call(pid)
            out.append(f'{name} of the {who}')
        except OSError:
            pass
os.setpriority(os.PRIO_PROCESS, 0, 1)
resource.prlimit(0, resource.RLIMIT_NOFILE, (32, resource.prlimit(0, resource.RLIMIT_NOFILE)[1]))
ans = out"""

# Children asleep, and a first process that drops the worker's death signal and ends only its main thread
# (/proc then shows it as a zombie while its other thread runs on), while the worker is killed from outside.
SLEEPERS = """import ctypes, os, threading, time
for _ in range(3):
    if os.fork() == 0:
        time.sleep(1000)
libc = ctypes.CDLL(None)
libc.prctl(1, 0, 0, 0, 0)
threading.Thread(target=time.sleep, args=(1000,)).start()
time.sleep(0.1)
libc.syscall({'x86_64': 60, 'aarch64': 93}[os.uname().machine], 0)"""

LEAKS = NO_NAMESPACES + r'''
import json, os, signal, sys, threading
import cotnpot
daemon, reach, sleepers = sys.argv[1:4]
with cotnpot.Executor(workers=1, timeout=30.0) as ex:
    first = ex.run([daemon], timeout=2.0)[0]
    second = ex.run([reach.replace("CALLER", str(os.getpid()))], answer="variable", timeout=5.0)[0]
    workers = [int(p) for p in open(f"/proc/{os.getpid()}/task/{os.getpid()}/children").read().split()]
    threading.Timer(1.5, lambda: [os.kill(p, signal.SIGKILL) for p in workers]).start()
    third = ex.run([sleepers])[0]
    print(json.dumps({"isolation": ex.isolation, "daemon": [first.status, first.stdout],
                      "reach": [second.status, second.answer, second.error_message],
                      "killed": [third.status, third.error_type]}))
'''


def processes_of(uid):
    """The live processes of uid: not zombies (dead, waiting for whoever adopted them to reap them), though a
    process whose main thread alone ended shows as one while its other threads run on."""
    found = set()
    for entry in os.listdir("/proc"):
        try:
            if entry.isdigit() and os.stat(f"/proc/{entry}").st_uid == uid and (
                    Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0] not in "ZX"
                    or len(os.listdir(f"/proc/{entry}/task")) > 1):
                found.add(int(entry))
        except (OSError, IndexError):
            pass
    return found


def test_no_job_process_outlives_its_job_or_its_worker_without_namespaces():
    """Found in CI's chroot (no user namespace): a daemon made with setsid outlived its job, and the children
    of a job whose worker was killed from outside outlived both; a pristine-root run left a fork bomb and a
    sleeping daemon running as uid 65534 long after the tests. Jobs there now stay in their process group and
    their worker's session (their filter refuses setsid and setpgid), and the caller kills that session when a
    worker dies, processes that look like zombies while their threads run on included. Then a breaker killed
    the worker without a signal (its CPU limit set to 1 s with prlimit) and starved it (scheduling, priority):
    the filter refuses those for any process but the job's own."""
    if os.uname().machine not in ("x86_64", "aarch64"):
        pytest.skip("the test's seccomp filter knows x86-64 and aarch64")
    before = processes_of(65534)
    r = unprivileged([sys.executable, "-c", LEAKS, DAEMON, REACH, SLEEPERS], timeout=120)
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert not out["isolation"]["user_namespace"] and not out["isolation"]["pid"], out["isolation"]
    assert out["daemon"] == ["ok", "parent done\n"], out
    assert out["reach"] == ["ok", "[]", ""], out   # found by a breaker: each of them worked
    assert out["killed"] == ["sandbox_error", "WorkerDied"], out
    deadline = time.monotonic() + 5
    while (left := processes_of(65534) - before) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid in left:   # not left running for the rest of the suite, whatever the verdict
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    assert left == set(), [Path(f"/proc/{p}/stat").read_text()[:80] for p in left if os.path.exists(f"/proc/{p}")]


def test_a_directory_a_job_locked_is_removed_with_its_job():
    """Without root and without a user namespace (a chroot: the Landlock fallback), a job's directory is a
    plain one under the host's /tmp, removed by the worker as the same uid: a job that took the permissions
    off its subdirectories (chmod 000) left them there for good -- rmtree, rm -rf and the worker's own
    clean-up all gave up. Elsewhere the job's directory is a tmpfs of its own, unmounted whole. (In the
    Landlock fallback the job's filter now refuses chmod itself: see the test below.)"""
    script = (
        "import cotnpot, glob\n"
        "lock = 'import os\\nos.makedirs(\"a/b\")\\nopen(\"a/b/f\", \"w\").write(\"x\")\\n"
        "os.chmod(\"a/b\", 0)\\nos.chmod(\"a\", 0)\\nos.chmod(\".\", 0)\\nprint(\"locked\")'\n"
        "before = set(glob.glob('/tmp/cotnpot-exec-*')) | set(glob.glob('/tmp/cotnpot-exec-*/*'))\n"
        "with cotnpot.Executor(workers=1, timeout=10.0) as ex:\n"
        "    r = ex.run([lock, 'print(2)'])\n"
        "    print(ex.isolation['landlock'] and not ex.isolation['pid'])\n"
        "    print([(x.status, x.stdout.strip(), x.error_type) for x in r])\n"
        "    print('during', sorted(set(glob.glob('/tmp/cotnpot-exec-*/*')) - before))\n"
        "print('after', sorted((set(glob.glob('/tmp/cotnpot-exec-*')) | set(glob.glob('/tmp/cotnpot-exec-*/*'))) - before))\n")
    r = unprivileged([sys.executable, "-c", script], timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    lines = r.stdout.splitlines()
    if lines[-4] == "True":   # the Landlock fallback: the job's chmod is refused
        assert lines[-3] == "[('error', '', 'PermissionError'), ('ok', '2', '')]", r.stdout
    else:
        assert lines[-3] == "[('ok', 'locked', ''), ('ok', '2', '')]", r.stdout
    assert lines[-2:] == ["during []", "after []"], r.stdout


METADATA = NO_NAMESPACES + r'''
import errno, json, os, sys, tempfile
import cotnpot
home = tempfile.mkdtemp()   # the caller's own files, as its cache or checkout
secret = os.path.join(home, "secret.txt")
open(secret, "w").write("token")
os.chmod(secret, 0o600)
os.makedirs(os.path.join(home, "cache"), mode=0o700)
attack = """import os
out = []
for name, call in [("base", lambda: os.chmod("..", 0)), ("chmod", lambda: os.chmod(SECRET, 0o666)),
                   ("utime", lambda: os.utime(SECRET, (0, 0))),
                   ("xattr", lambda: os.setxattr(SECRET, "user.note", b"left by a job")),
                   ("cache", lambda: os.chmod(CACHE, 0))]:
    try:
        call()
        out.append(name + " done")
    except OSError as e:
        out.append(name + " " + str(e.errno))
print(out)""".replace("SECRET", repr(secret)).replace("CACHE", repr(os.path.join(home, "cache")))
import atexit, shutil
atexit.register(shutil.rmtree, home, True)   # the stand-in for the caller's files: left in /tmp by every run
with cotnpot.Executor(workers=1, timeout=10.0) as ex:
    hostile = ex.run([attack])[0]
    later = ex.run(["print(6 * 7)"] * 5)
    isolation = ex.isolation
st = os.stat(secret)
try:
    tags = os.listxattr(secret)
except OSError:   # a filesystem without extended attributes
    tags = []
print(json.dumps({"isolation": isolation, "hostile": [hostile.status, hostile.stdout.strip()],
                  "later": sorted({(r.status, r.stdout.strip()) for r in later}),
                  "secret": [oct(st.st_mode & 0o777), st.st_mtime > 0, tags],
                  "cache": oct(os.stat(os.path.join(home, "cache")).st_mode & 0o777)}))
'''


def test_jobs_change_no_files_metadata_in_the_landlock_fallback():
    """Found by a breaker: without root and without a user namespace (Landlock the only filesystem rule), jobs
    run as the caller's uid on the host's filesystem, and Landlock governs no change of mode, owner, times or
    extended attributes. A job chmod-ed its worker's base directory to 000 (19 of every 20 later jobs failed,
    and the directory outlived the executor), made the caller's private file world-readable, reset its times,
    tagged it with an xattr, and locked the caller's cache directory. The job's filter now refuses them all."""
    if os.uname().machine not in ("x86_64", "aarch64"):
        pytest.skip("the test's seccomp filter knows x86-64 and aarch64")
    r = unprivileged([sys.executable, "-c", METADATA], timeout=120)
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    if not out["isolation"]["landlock"]:
        pytest.skip(f"no Landlock in this kernel: {out['isolation']} (docs/executor.md)")
    assert not out["isolation"]["pid"], out["isolation"]
    assert out["hostile"] == ["ok", "['base 1', 'chmod 1', 'utime 1', 'xattr 1', 'cache 1']"], out
    assert out["later"] == [["ok", "42"]], out
    assert out["secret"] == ["0o600", True, []] and out["cache"] == "0o700", out


DISK = NO_NAMESPACES + r'''
import json, sys
import cotnpot
hogs, reserve, honest, held, tempfiles, directories = json.loads(sys.argv[1]), *sys.argv[2:7]
with cotnpot.Executor(workers=1, timeout=20.0) as ex:
    results = ex.run([code + "\nimport time\ntime.sleep(2)" for code in hogs] +
                     [reserve, honest, held, tempfiles, directories, "print(6 * 7)"])
    print(json.dumps({"isolation": ex.isolation, "results": [[r.status, r.stdout.strip()] for r in results]}))
'''


def test_a_job_cannot_fill_the_hosts_tmp_in_the_landlock_fallback():
    """Found by a breaker: in the Landlock fallback (no root, no user namespace) the job's directory is a plain
    one in the host's /tmp, and a job wrote 768 MiB and 19,000 inodes there in a second. The worker now ends a
    job whose directory passes the tmpfs's limits (64 MiB, 4096 inodes) as disk_limit."""
    if os.uname().machine not in ("x86_64", "aarch64"):
        pytest.skip("the test's seccomp filter knows x86-64 and aarch64")
    sys.path.insert(0, str(HERE))
    from test_sandbox_attacks import (DISK_HOG_REMOVED_DIRECTORIES, DISK_HOGS, DISK_HONEST, DISK_HONEST_HELD,
                                      DISK_RESERVE, TEMPFILE_JOB)
    r = unprivileged([sys.executable, "-c", DISK, json.dumps(list(DISK_HOGS.values())), DISK_RESERVE, DISK_HONEST,
                      DISK_HONEST_HELD, TEMPFILE_JOB, DISK_HOG_REMOVED_DIRECTORIES], timeout=120)
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert not out["isolation"]["pid"] and not out["isolation"]["user_namespace"], out["isolation"]
    hogs = len(DISK_HOGS)
    assert [status for status, _ in out["results"][:hogs]] == ["disk_limit"] * hogs, out
    assert out["results"][hogs:-2] == [["ok", "refused 1\nNone 1048576"], ["ok", "37748736 500"], ["ok", "37748736"],
                                       ["ok", "True"]], out
    assert out["results"][-2] in (["disk_limit", ""], ["ok", "no blocks kept here"]), out   # a tmpfs keeps none
    assert out["results"][-1] == ["ok", "42"], out


KERNEL_OBJECTS = NO_NAMESPACES + r'''
import json, sys
import cotnpot
with cotnpot.Executor(workers=1, timeout=10.0) as ex:
    results = ex.run([sys.argv[1], "print(6 * 7)"])
    print(json.dumps({"isolation": ex.isolation, "results": [[r.status, r.answer, r.error_message] for r in results]}))
'''


def test_no_session_stacked_filters_or_landlock_rulesets_in_the_landlock_fallback():
    """The probe of test_sandbox_attacks.py's test of the same name, in the Landlock fallback: there each job
    makes its own Landlock ruleset after its seccomp filter is in place, so a second filter refuses seccomp,
    prctl(PR_SET_SECCOMP) and the Landlock calls once that is done (a breaker had stacked filters and built
    Landlock rules there: 146 and 419 MB of kernel memory no limit counts)."""
    if os.uname().machine not in ("x86_64", "aarch64"):
        pytest.skip("the test's seccomp filter knows x86-64 and aarch64")
    sys.path.insert(0, str(HERE))
    from test_sandbox_attacks import SESSION_AND_KERNEL_OBJECTS
    r = unprivileged([sys.executable, "-c", KERNEL_OBJECTS, SESSION_AND_KERNEL_OBJECTS], timeout=120)
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    if not out["isolation"]["landlock"]:
        pytest.skip(f"no Landlock in this kernel: {out['isolation']} (docs/executor.md)")
    assert not out["isolation"]["pid"], out["isolation"]
    assert out["results"] == [["ok", "EPERM EPERM EPERM EPERM EPERM", ""], ["ok", "42", ""]], out
