"""The sandbox as root where no private mount namespace can be had: a chroot whose / is not a mount point,
like the pristine root of `fresh-run`. Workers there get a pid namespace and a uid per job, but no private
filesystem view, so each job's directory is a plain one that the worker walks for its disk budget, stopping
the job's processes (kill(-1) as the job's uid) while it walks. The tests make that case anywhere: a caller
whose seccomp filter refuses unshare and clone with CLONE_NEWNS, for itself and all it starts."""
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="the case is root's: without root jobs get no uid of their own"),
    pytest.mark.skipif(platform.machine() not in ("x86_64", "aarch64"),
                       reason="the test's seccomp filter knows x86-64 and aarch64"),
]

# unshare(flags) and clone(flags) with CLONE_NEWNS (0x00020000) answer EPERM; everything else runs.
NO_MOUNT_NAMESPACE = r'''
import ctypes, platform, struct
arch, unshare, clone = {"x86_64": (0xC000003E, 272, 56), "aarch64": (0xC00000B7, 97, 220)}[platform.machine()]
code = [(0x20, 0, 0, 4), (0x15, 0, 5, arch), (0x20, 0, 0, 0), (0x15, 1, 0, unshare), (0x15, 0, 2, clone),
        (0x20, 0, 0, 16), (0x45, 1, 0, 0x00020000), (0x06, 0, 0, 0x7FFF0000), (0x06, 0, 0, 0x00050000 | 1)]
program = ctypes.create_string_buffer(b"".join(struct.pack("HBBI", *c) for c in code))
fprog = struct.pack("HxxxxxxQ", len(code), ctypes.addressof(program))
libc = ctypes.CDLL(None, use_errno=True)
assert libc.prctl(38, 1, 0, 0, 0) == 0 and libc.prctl(22, 2, ctypes.c_char_p(fprog), 0, 0) == 0
'''

KILLED_DURING_A_WALK = NO_MOUNT_NAMESPACE + r'''
import json, os, signal, threading, time
import cotnpot
with cotnpot.Executor(workers=1, timeout=30.0) as ex:
    hog = ex.run(["open('big', 'wb').write(bytes(8 << 20))\nfor i in range(12):\n"
                  "    open(f'f{i}', 'wb').write(bytes(8 << 20))\nprint('wrote')\nimport time\ntime.sleep(2)"])[0]
    workers = [int(p) for p in open(f"/proc/{os.getpid()}/task/{os.getpid()}/children").read().split()]
    threading.Timer(1.5, lambda: [os.kill(p, signal.SIGKILL) for p in workers]).start()
    began = time.monotonic()
    killed, after = ex.run(["import time\ntime.sleep(6)\nprint('slow')", "print('next')"])
    print(json.dumps({"isolation": ex.isolation, "hog": hog.status, "killed": [killed.status, killed.error_type],
                      "after": [after.status, after.answer], "seconds": time.monotonic() - began}))
'''


def job_processes():
    """Processes running as a job uid (the workers draw them from 10^8..1.1*10^9)."""
    found = set()
    for entry in os.listdir("/proc"):
        try:
            if entry.isdigit() and 100_000_000 <= os.stat(f"/proc/{entry}").st_uid < 1_100_000_000:
                found.add(int(entry))
        except OSError:
            pass
    return found


def test_a_worker_killed_from_outside_dies_though_it_stopped_its_job_for_a_walk():
    """The worker is pid 1 of its own pid namespace and dies with the process the caller started through its
    parent-death signal, which the kernel clears whenever the worker's credentials change. It once stopped
    its job for the disk walk by taking the job's uid itself: killed from outside, it then lived on and ran
    its job to the end, `ok` (found in a pristine-root run). It now signals from a child that takes the uid."""
    before = job_processes()
    r = subprocess.run([sys.executable, "-c", KILLED_DURING_A_WALK], capture_output=True, text=True, timeout=120,
                       cwd=Path(__file__).resolve().parents[2])
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    isolation = out["isolation"]
    assert (isolation["pid"], isolation["uid"], isolation["filesystem"]) == (True, True, False), isolation
    assert out["hog"] == "disk_limit", out   # its directory is walked: the case under test
    assert out["killed"] == ["sandbox_error", "WorkerDied"], out
    assert out["after"] == ["ok", "next"], out
    assert out["seconds"] < 5, out   # the slow job did not run to its end first
    deadline = time.monotonic() + 5
    while (left := job_processes() - before) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert left == set()


DISK = NO_MOUNT_NAMESPACE + r'''
import json, sys
import cotnpot
hogs, honest = json.loads(sys.argv[1]), json.loads(sys.argv[2])
with cotnpot.Executor(workers=1, timeout=20.0) as ex:
    results = ex.run([code + "\nimport time\ntime.sleep(2)" for code in hogs] + honest + ["print(6 * 7)"])
    print(json.dumps({"isolation": ex.isolation, "results": [[r.status, r.stdout.strip()] for r in results]}))
'''


def test_the_job_directory_has_its_budget_there():
    """The hostile writers of the disk budget (test_sandbox_attacks.DISK_HOGS: bytes, inodes, depth, files
    unlinked and held by descriptors or by mappings) each end as disk_limit there, with the job stopped for
    every walk; honest jobs, one holding unlinked files with a child it forked, stay ok."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from test_sandbox_attacks import (DISK_HOG_REMOVED_DIRECTORIES, DISK_HOGS, DISK_HONEST, DISK_HONEST_HELD,
                                      DISK_RESERVE, TEMPFILE_JOB)
    hogs = {name: code for name, code in DISK_HOGS.items() if name != "unreadable"}   # root reads it all
    r = subprocess.run([sys.executable, "-c", DISK, json.dumps(list(hogs.values())),
                        json.dumps([DISK_RESERVE, DISK_HONEST, DISK_HONEST_HELD, TEMPFILE_JOB,
                                    DISK_HOG_REMOVED_DIRECTORIES])],
                       capture_output=True, text=True, timeout=120, cwd=Path(__file__).resolve().parents[2])
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert (out["isolation"]["pid"], out["isolation"]["filesystem"]) == (True, False), out["isolation"]
    assert dict(zip(hogs, out["results"])) == {name: ["disk_limit", ""] for name in hogs}, out
    assert out["results"][len(hogs):-2] == [["ok", "refused 1\nNone 1048576"], ["ok", "37748736 500"],
                                           ["ok", "37748736"], ["ok", "True"]], out
    assert out["results"][-2] in (["disk_limit", ""], ["ok", "no blocks kept here"]), out
    assert out["results"][-1] == ["ok", "42"], out


# The caller's /tmp an overlay (Docker's, where /tmp lies on the container's root): in a mount namespace of the
# caller's own, an overlay of two directories of a tmpfs on /tmp, before the filter above.
OVERLAY_TMP = r'''
import ctypes, os, tempfile
libc = ctypes.CDLL(None, use_errno=True)
if libc.unshare(0x00020000) != 0 or libc.mount(b"none", b"/", None, 0x4000 | 0x40000, None) != 0:
    print('{"skip": "no private mount namespace here (a chroot whose / is not a mount point)"}')
    raise SystemExit(0)
base = tempfile.mkdtemp(dir=os.environ["OVERLAY_BASE"])   # the test's own directory: a mount point in /tmp outlived it
assert libc.mount(b"cotnpot-overlay-test", base.encode(), b"tmpfs", 0, b"size=1g") == 0
for name in ("lower", "upper", "work"):
    os.mkdir(f"{base}/{name}")
options = f"lowerdir={base}/lower,upperdir={base}/upper,workdir={base}/work".encode()
if libc.mount(b"overlay", b"/tmp", b"overlay", 0, options) != 0:
    print('{"skip": "no overlay mount here"}')
    raise SystemExit(0)
'''


def test_files_held_on_an_overlay_are_counted(tmp_path):
    """Where /tmp is an overlay (Docker's), files held by descriptors or by mappings alone are counted. Older
    kernels' /proc/<pid>/maps names an overlay's file by the device of the layer beneath, not by the overlay's
    own that a stat of the job's directory gives, so a device match alone would miss them there: a mapped
    file counts by its path in the job's directory (6.18, this machine's, names the overlay's own device,
    so here the test cannot tell the two rules apart)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from test_sandbox_attacks import DISK_HOGS, DISK_HONEST_HELD
    hogs = {name: DISK_HOGS[name] for name in ("held open", "held mapped")}
    r = subprocess.run([sys.executable, "-c", OVERLAY_TMP + DISK, json.dumps(list(hogs.values())),
                        json.dumps([DISK_HONEST_HELD])],
                       capture_output=True, text=True, timeout=120, cwd=Path(__file__).resolve().parents[2],
                       env={**os.environ, "OVERLAY_BASE": str(tmp_path)})
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    if "skip" in out:
        pytest.skip(out["skip"])
    assert out["results"] == [["disk_limit", ""], ["disk_limit", ""], ["ok", "37748736"], ["ok", "42"]], out


NO_PTRACE_CALLER = NO_MOUNT_NAMESPACE + r'''
import json, sys
import cotnpot
with cotnpot.Executor(workers=1, timeout=20.0) as ex:
    results = ex.run([sys.argv[1], "import time\ntime.sleep(0.3)\nprint(6 * 7)"])
    print(json.dumps([[r.status, r.stdout.strip()] for r in results]))
'''


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="setpriv (util-linux) is not installed")
def test_root_without_ptrace_does_not_end_honest_jobs():
    """Found by a reviewer: root without CAP_SYS_PTRACE (Docker's default set) cannot read the /proc entries of
    jobs of other uids, and every job walked there was past the budget for being unreadable. The worker now
    counts an unreadable job as past only where it may read its jobs."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from test_sandbox_attacks import DISK_HONEST_HELD
    r = subprocess.run(["setpriv", "--bounding-set", "-sys_ptrace", sys.executable, "-c", NO_PTRACE_CALLER,
                        DISK_HONEST_HELD], capture_output=True, text=True, timeout=120,
                       cwd=Path(__file__).resolve().parents[2])
    assert r.returncode == 0, r.stderr[-3000:]
    assert json.loads(r.stdout.strip().splitlines()[-1]) == [["ok", "37748736"], ["ok", "42"]], r.stdout
