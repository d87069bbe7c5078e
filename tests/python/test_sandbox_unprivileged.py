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
    isolation can stop is stopped (what cannot hold without root skips with its reason, as documented)."""
    r = unprivileged([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs",
                      "tests/python/test_sandbox_attacks.py", "tests/python/test_executor.py",
                      "-k", "not test_executor or hostile or network or outside or read_only or environ"],
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
