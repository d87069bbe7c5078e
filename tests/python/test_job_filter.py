"""The jobs' seccomp filter (cpp/cotnpot/exec/worker.py, job_filter) assembled for every configuration on both
architectures it exists for, and run on an interpreter of the BPF instructions it uses: a jump past one byte
only raised where a worker started, in that machine's configuration (found by a reviewer)."""
import ctypes
import itertools
import platform
import struct
from pathlib import Path

import pytest

WORKER = Path(__file__).resolve().parents[2] / "cpp" / "cotnpot" / "exec" / "worker.py"
EPERM, EINVAL, ENOSYS, ALLOW, SKIPPED = 0x50001, 0x50016, 0x50026, 0x7FFF0000, 0x50000
AUDIT = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}


def job_filter_function():
    source = WORKER.read_text()
    structs = source[source.index("class _SockFilter"):source.index("\n\n\n", source.index("class _SockFprog"))]
    functions = source[source.index("def job_filter("):source.index("\nclass _LandlockRulesetAttr")]
    namespace = {"ctypes": ctypes, "CLONE_NEWUSER": 0x10000000, "PR_SET_SECCOMP": 22, "PR_SET_DUMPABLE": 4,
                 "LANDLOCK_CALLS": (444, 445, 446)}
    exec(structs, namespace)
    exec(functions, namespace)   # job_filter, late_job_filter and their assembler
    return namespace["job_filter"], namespace["late_job_filter"]


def seccomp_data(arch_token, nr, args=()):
    args = (tuple(args) + (0,) * 6)[:6]
    return struct.pack("<iIQ6Q", nr, arch_token, 0, *[a & (2 ** 64 - 1) for a in args])


def run(program, arch, nr, args=()):
    """The action of a classic BPF program (ld abs 32-bit, jeq/jge/jset, ret) on one system call."""
    return run_raw(program, seccomp_data(AUDIT[arch], nr, args))


def run_raw(program, data):
    acc, pc = 0, 0
    while True:
        f = program[pc]
        if f.code == 0x20:
            acc, pc = struct.unpack_from("<I", data, f.k)[0], pc + 1
        elif f.code in (0x15, 0x35, 0x45):
            hit = acc == f.k if f.code == 0x15 else acc >= f.k if f.code == 0x35 else bool(acc & f.k)
            pc += 1 + (f.jt if hit else f.jf)
        elif f.code == 0x06:
            return f.k
        else:
            raise AssertionError(f"instruction {f.code:#x} at {pc}")


CASES = {   # (x86-64 nr, aarch64 nr, args, action in every configuration)
    "read": (0, 63, (), ALLOW), "mmap": (9, 222, (), ALLOW), "futex": (202, 98, (), ALLOW),
    "shmget": (29, 194, (), EPERM), "semget": (64, 190, (), EPERM), "msgget": (68, 186, (), EPERM),
    "mq_open": (240, 180, (), EPERM), "io_setup": (206, 0, (), EPERM), "io_submit": (209, 2, (), EPERM),
    "vmsplice": (278, 75, (), EPERM), "perf_event_open": (298, 241, (), EPERM), "fanotify_init": (300, 262, (), EPERM),
    "bpf": (321, 280, (), EPERM), "userfaultfd": (323, 282, (), EPERM), "keyctl": (250, 219, (), EPERM),
    "io_uring_setup": (425, 425, (), EPERM), "clone3": (435, 435, (), ENOSYS), "openat2": (437, 437, (), ENOSYS),
    "sync": (162, 81, (), SKIPPED), "flock": (73, 32, (), SKIPPED),
    "fcntl F_SETLK": (72, 25, (3, 6), SKIPPED), "fcntl F_SETLKW": (72, 25, (3, 7), SKIPPED),
    "fcntl F_GETLK": (72, 25, (3, 5), ALLOW), "fcntl F_OFD_SETLK": (72, 25, (3, 37), EPERM),
    "fcntl F_SETLEASE": (72, 25, (3, 1024), EPERM), "fcntl F_SETFL O_DIRECT": (72, 25, (3, 4, 0o40000), None),
    "fadvise DONTNEED": (221, 223, (3, 0, 0, 4), SKIPPED), "fadvise SEQUENTIAL": (221, 223, (3, 0, 0, 2), ALLOW),
    "unshare CLONE_NEWUSER": (272, 97, (0x10000000,), EPERM), "unshare CLONE_NEWNS": (272, 97, (0x20000,), ALLOW),
}


@pytest.mark.parametrize("arch", ["x86_64", "aarch64"])
def test_every_configuration_assembles_and_decides_as_documented(arch, monkeypatch):
    monkeypatch.setattr(platform, "machine", lambda: arch)
    job_filter, late_job_filter = job_filter_function()
    o_direct = {"x86_64": 0o40000, "aarch64": 0o200000}[arch]
    seccomp, prctl = {"x86_64": (317, 157), "aarch64": (277, 167)}[arch]
    setsid, setpgid = {"x86_64": (112, 109), "aarch64": (157, 154)}[arch]
    late, _ = late_job_filter()
    for network, pid, memory, own_uid, landlock in itertools.product([True, False], repeat=5):
        program, fprog = job_filter(network, pid, memory, own_uid, landlock)
        assert fprog.len == len(program) and len(program) < 4096
        for name, (x86, arm, args, want) in CASES.items():
            nr = x86 if arch == "x86_64" else arm
            if name == "fcntl F_SETFL O_DIRECT":
                args, want = (3, 4, o_direct), EINVAL
            assert run(program, arch, nr, args) == want, (arch, network, pid, memory, own_uid, name)
        socket = {"x86_64": 41, "aarch64": 198}[arch]
        want = ALLOW if network and memory and own_uid else EPERM
        assert run(program, arch, socket, (2,)) == want, (arch, network, memory)   # AF_INET
        assert run(program, arch, socket, (1,)) == EPERM                           # AF_UNIX
        assert run(program, arch, {"x86_64": 319, "aarch64": 279}[arch]) == (ALLOW if memory else EPERM)  # memfd
        for nr in {"x86_64": (40, 275, 276), "aarch64": (71, 76, 77)}[arch]:   # sendfile, splice, tee
            assert run(program, arch, nr) == (ALLOW if memory else ENOSYS), (arch, memory, nr)
        assert run_raw(program, seccomp_data(0x40000003, 0)) == EPERM   # another ABI (i386): refused
        # found by a breaker: a job's sessions outweighed its neighbours in the scheduler, its stacked filters and
        # Landlock rules held kernel memory no limit counts. Where jobs confine themselves with Landlock after
        # this filter, the late filter refuses what it leaves them for that.
        assert run(program, arch, setsid) == EPERM
        assert run(program, arch, setpgid, (0, 0)) == (ALLOW if pid else EPERM)
        after = late if landlock else program
        for nr, args in [(seccomp, (1, 0, 0)), (prctl, (22, 2, 0)), (444, ()), (445, ()), (446, ())]:
            assert run(program, arch, nr, args) == (ALLOW if landlock else EPERM), (arch, landlock, nr)
            assert run(after, arch, nr, args) == EPERM, (arch, landlock, nr)
        for args in [(38, 1), (1, 9)]:   # PR_SET_NO_NEW_PRIVS, PR_SET_PDEATHSIG
            assert run(program, arch, prctl, args) == ALLOW and run(late, arch, prctl, args) == ALLOW
        # PR_SET_DUMPABLE: a dumpable job wrote nice 19 to its worker session's autogroup (a breaker)
        assert run(program, arch, prctl, (4, 1)) == (ALLOW if landlock else EPERM)
        assert run(after, arch, prctl, (4, 1)) == EPERM
        assert run(late, arch, 0) == ALLOW   # read

