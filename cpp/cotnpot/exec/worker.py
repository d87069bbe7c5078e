# cotnpot executor worker: a long-lived fork server. Embedded into libcotnpot at build time (CMake turns
# this file into a C++ string) and started by the C++ Executor as `python3 -c <this source> <args>`.
#
# Protocol on stdin/stdout: frames of [u32 length][payload]; a payload is a sequence of
# [u32 key length][key][u32 value length][value], all values bytes. One job frame in, one result frame out.
#
# Isolation of each job is done by the operating system, never by Python builtins: the job runs in a forked
# child with its own session and process group, rlimits (address space, CPU, processes, file size, open
# files, no core), stdin from /dev/null, a private temporary directory, no network (the worker lives in its
# own network namespace when it can make one) and, as root, a job-private unprivileged uid/gid: the worker
# ends every job by killing every process of that uid, so nothing a job forks (even into a new session)
# survives it, and the job can neither read root's files nor delete files outside its directory.
# Without root, the worker gets the same namespaces as root of a user namespace of its own (jobs hold no
# capability there), or, where the kernel allows none (a chroot), each job confines itself with Landlock.
#
# This file sets the worker up once (namespaces, mounts, cgroup, the jobs' seccomp filter) and runs each
# job's Python in its child; the per-job loop and the job's confinement are C (job_loop.c), so that the
# worker writes almost no page between forks (each such page is a copy-on-write fault, job after job).
import ctypes
import gc
import json  # noqa: F401 -- not used here: preloaded for the jobs (cotnpot.judge's harness encodes with it)
import os
import shutil
import signal
import struct
import sys
import time
import traceback


def import_random_with_a_reseed_in_c():
    """random, preloaded for the jobs, reseeded in every job from the kernel's random bytes as always, but
    by the C seed of _random alone: random.py's own after-fork hook runs its Python seed(), whose frames and
    reference counts cost copy-on-write page faults (a bare fork + exit: 102 faults with it, 78 without;
    a job: ~12 fewer). Its hook is held back as it is registered, and functools.partial (C) calls
    _random.Random.seed instead: no Python frame runs (the cached Gaussian, which only seed() clears, is
    cleared once after the warmup). Where random is already imported (a sitecustomize), its hook stays."""
    if "random" in sys.modules:
        return
    import functools
    register, held = os.register_at_fork, []
    os.register_at_fork = lambda **hooks: held.append(hooks)
    try:
        import random
    finally:
        os.register_at_fork = register
    import _random
    for hooks in held:   # random's own hook alone is replaced (a bound method compares by self and function)
        if hooks.get("after_in_child") == random._inst.seed:
            hooks = {**hooks, "after_in_child": functools.partial(_random.Random.seed, random._inst)}
        register(**hooks)


import_random_with_a_reseed_in_c()
import tempfile  # noqa: E402 -- imports random: after its reseed is set up

# The per-job loop, in C (job_loop.c): the caller hands its library over as descriptor 3, in memory.
# A PyDLL: the loop runs holding the GIL, so no other thread of the worker (a warmup may start some) holds it
# across a fork, as with os.fork; the child then runs PyOS_AfterFork_Child before any of its Python.
try:
    JOB_LOOP = ctypes.PyDLL("/proc/self/fd/3")
except OSError as exc:   # no /proc, or no descriptor 3 (not started by the C++ Executor)
    sys.exit(f"cotnpot worker: cannot load the job loop from descriptor 3: {exc}")
os.close(3)
WORKER_INDEX = int(sys.argv[1]) if len(sys.argv) > 1 else 0
PRELOAD = [m for m in (sys.argv[2].split(",") if len(sys.argv) > 2 else []) if m]
IS_ROOT = os.geteuid() == 0
# Job uids: a block of 100 (one per job slot) drawn at random among 10^7 blocks above 10^8, where no
# distribution allocates users. Random, not numbered by worker index: a job's end kills every process of
# its uid, so two pools running at once (other processes, other chroots on the same kernel) must never
# share uids; a fixed numbering made them kill each other's jobs.
JOB_UID_LOW, JOB_UID_BLOCKS = 100_000_000, 10_000_000
UID_BASE = JOB_UID_LOW + 100 * (int.from_bytes(os.urandom(4), "little") % JOB_UID_BLOCKS)
CLONE_NEWNET = 0x40000000
CLONE_NEWNS = 0x00020000
CLONE_NEWPID, CLONE_NEWUSER = 0x20000000, 0x10000000
PR_SET_CHILD_SUBREAPER, PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_SET_SECCOMP = 36, 1, 4, 22
LANDLOCK_CALLS = (444, 445, 446)   # landlock_create_ruleset, landlock_add_rule, landlock_restrict_self (every arch)
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_BIND, MS_REC, MS_PRIVATE = 1, 2, 4, 8, 0x1000, 0x4000, 1 << 18
SYS_MOUNT_SETATTR, AT_FDCWD, AT_RECURSIVE, MOUNT_ATTR_RDONLY = 442, -100, 0x8000, 1
JOB_FILES_MB = 256  # the private tmpfs that holds every job directory of this worker
JOB_DIR_MB, JOB_DIR_INODES = 64, 4096  # each job's own tmpfs (with filesystem isolation): its file budget
# Directories of the system's that hold Unix sockets and shared scratch: each hidden behind an empty read-only
# tmpfs in the worker's mount namespace (a read-only mount does not stop connect() on a socket in it); no job
# gets POSIX shared memory (/dev/shm) then. /var (with /var/run and /var/tmp) goes with every other non-system
# directory (hide_host_directories).
HIDDEN_DIRS = (b"/run", b"/dev/shm")
RESULT_LIMIT = 1 << 20  # bytes a job may send on its result channel (answer, messages), in total
# The device files jobs get: the usual character devices. With a mount namespace, /dev is a tmpfs holding only
# these (bound from the real ones); with Landlock, a rule per file (not /dev, under which /dev/shm lies).
DEVICE_FILES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom")

WARMUP = sys.argv[3] if len(sys.argv) > 3 else ""
JOB_NAMESPACES = (sys.argv[4] if len(sys.argv) > 4 else "1") == "1"  # per-job namespaces and tmpfs
# Per-job protections switched off to measure their cost (ExecutorOptions::isolation_off; benchmarks only)
OFF = set(sys.argv[5].split(",")) if len(sys.argv) > 5 and sys.argv[5] else set()
JOB_UIDS = IS_ROOT and "uid" not in OFF
for _name in PRELOAD:  # warm imports shared (copy-on-write) by every forked job
    try:
        __import__(_name)
    except Exception:
        pass
if WARMUP:  # the caller's own warm-up (lazy imports, caches); an error in it is the caller's to see
    exec(compile(WARMUP, "<warmup>", "exec"), {"__name__": "__cotnpot_warmup__"})
# The C seed each job runs (import_random_with_a_reseed_in_c) leaves random.py's cached second Gaussian:
# one a warmup drew would be every job's first random.gauss(). random.py's seed() clears it; so does this.
if "random" in sys.modules:
    sys.modules["random"]._inst.gauss_next = None
# Jobs inherit this environment; cleaning it once here spares every job the copy-on-write faults of doing it
os.environ.clear()
os.environ.update({"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"})
# A process's first compile() builds the parser's state lazily: ~200 pages, faulted in (copied) by every job
# that compiles its program, 0.8 ms of a 3 ms trivial job. Built once here, it is shared by all of them.
compile("x = 1", "<cotnpot-warm>", "exec")
gc.collect()
gc.freeze()  # keep the collector from touching (and so copying) the worker's objects in every job

_libc = ctypes.CDLL(None, use_errno=True)


class _MountAttr(ctypes.Structure):
    _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64),
                ("propagation", ctypes.c_uint64), ("userns_fd", ctypes.c_uint64)]


def set_read_only(path, on, flags):
    attr = _MountAttr(MOUNT_ATTR_RDONLY if on else 0, 0 if on else MOUNT_ATTR_RDONLY, 0, 0)
    return _libc.syscall(SYS_MOUNT_SETATTR, AT_FDCWD, path, flags, ctypes.byref(attr), ctypes.sizeof(attr)) == 0


# Top-level directories jobs keep seeing: the system (programs, libraries, configuration, devices). Every
# other one (/home, /root, /srv, /opt, /var, the caller's project and data...) is hidden behind an empty tmpfs:
# test files with their expected values, datasets and checkpoints are not the job's to read.
SYSTEM_DIRS = {"bin", "sbin", "lib", "lib32", "lib64", "libx32", "usr", "etc", "dev", "proc", "sys", "tmp", "run"}


def interpreter_directories():
    """What the interpreter itself reads: its standard library and site-packages (sysconfig's and site's),
    its executable's directory and its library directory (libpython, the libraries extension modules load).
    Not its prefixes whole, nor every sys.path entry: a .pth file adds entries from anywhere, and an editable
    install's project root (its tests and data, the expected answers with them) had been readable to every
    job, as had all of a project whose root was a virtual environment's prefix (a breaker). A package
    installed that way is not importable in jobs, unless a preload imported it."""
    import site
    import sysconfig
    paths = sysconfig.get_paths()
    dirs = [paths.get(key) for key in ("stdlib", "platstdlib", "purelib", "platlib")]
    dirs += site.getsitepackages() if hasattr(site, "getsitepackages") else []
    dirs += [os.path.dirname(sys.executable), sysconfig.get_config_var("LIBDIR")]
    # the standard library as a zip file beside it, where it is one (python311.zip)
    stdlib_parent = os.path.dirname(paths.get("stdlib") or "")
    dirs += [p for p in sys.path if p.endswith(".zip") and os.path.dirname(p) == stdlib_parent]
    return frozenset(d for d in dirs if d)


# Found once, in the worker: every job read them again for its Landlock rules (sysconfig and site on each)
INTERPRETER_DIRECTORIES = interpreter_directories()


def hide_host_directories():
    """Hides every top-level directory but SYSTEM_DIRS; what the interpreter itself needs from a hidden one
    (INTERPRETER_DIRECTORIES: e.g. a virtual environment's site-packages under /home) is bound back."""
    needed = {os.path.realpath(d) for d in INTERPRETER_DIRECTORIES if os.path.isdir(d)}
    hidden = [e for e in os.listdir("/") if e not in SYSTEM_DIRS and os.path.isdir("/" + e)
              and not os.path.islink("/" + e)]
    keep = {d: os.open(d, os.O_PATH | os.O_CLOEXEC) for d in needed if d.split("/")[1:2] and d.split("/")[1] in hidden}
    for entry in hidden:
        _libc.mount(b"cotnpot-hidden", ("/" + entry).encode(), b"tmpfs", MS_NOSUID | MS_NODEV, b"size=64k,mode=0755")
    for directory, fd in sorted(keep.items()):
        os.makedirs(directory, exist_ok=True)
        _libc.mount(f"/proc/self/fd/{fd}".encode(), directory.encode(), None, MS_BIND | MS_REC, None)
        os.close(fd)


# With per-job namespaces, the one place each job's own tmpfs is mounted (a job at a time per worker). /tmp is
# read-only then: in a user namespace jobs are the uid that owns it, and a directory one job made in a
# writable /tmp was there for every later job of the worker to read (found by review).
JOB_MOUNTPOINT = "/tmp/job"


def minimal_dev():
    """Puts a tmpfs over /dev holding only DEVICE_FILES (bind mounts of the real nodes) and the /dev/fd,
    stdin, stdout and stderr links. A device node opens for writing on a read-only mount, and in a user
    namespace jobs are the caller's uid: the caller's terminal (/dev/pts/N) was theirs to read keystrokes
    from and to write to (found by a breaker); every node of mode 0666 (/dev/fuse, /dev/net/tun where they
    are) was open to them in any mode. Returns whether /dev was replaced."""
    keep = {}
    for path in DEVICE_FILES:
        try:
            keep[path] = os.open(path, os.O_PATH | os.O_CLOEXEC)
        except OSError:
            pass
    try:
        if _libc.mount(b"cotnpot-dev", b"/dev", b"tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, b"size=4k,mode=0755") != 0:
            return False
        try:
            for path, fd in keep.items():
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))   # the mount point
                if _libc.mount(f"/proc/self/fd/{fd}".encode(), path.encode(), None, MS_BIND, None) != 0:
                    raise OSError(ctypes.get_errno(), f"cannot bind {path}")
            for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                                 ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):
                os.symlink(target, f"/dev/{name}")
        except OSError:
            _libc.umount2(b"/dev", 2)   # MNT_DETACH, with the binds under it: the real /dev again
            return False
        return True
    finally:
        for fd in keep.values():
            os.close(fd)


def private_read_only_filesystem():
    """In a mount namespace of our own: every mount read-only (recursively, with mount_setattr: syscall 442 on every architecture), and a fresh
    size-limited tmpfs on /tmp, owned by root with mode 0711, to hold the job directories: read-only too with
    per-job namespaces (each job's directory is then a tmpfs of its own mounted on JOB_MOUNTPOINT), else
    writable. Jobs then can write nothing but their own directory; the tmpfs, and whatever a job left in it,
    vanishes with this worker.
    Returns the base directory, or None when no mount namespace can be made (not root): the caller falls
    back to a directory under the host's /tmp."""
    if _libc.unshare(CLONE_NEWNS) != 0 or _libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None) != 0:
        return None
    if _libc.mount(b"cotnpot-jobs", b"/tmp", b"tmpfs", 0, f"size={JOB_FILES_MB}m,mode=0711".encode()) != 0:
        return None

    for path in HIDDEN_DIRS:
        if os.path.isdir(path) and not os.path.islink(path):
            _libc.mount(b"cotnpot-hidden", path, b"tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, b"size=4k,mode=0755")
    if not minimal_dev():   # as for a missing mount_setattr below: no private view then
        _libc.umount2(b"/tmp", 2)  # MNT_DETACH
        return None
    hide_host_directories()
    if JOB_NAMESPACES:   # each job's own tmpfs is mounted here; /tmp itself stays read-only
        os.mkdir(JOB_MOUNTPOINT, 0o711)
    if not (set_read_only(b"/", True, AT_RECURSIVE) and (JOB_NAMESPACES or set_read_only(b"/tmp", False, 0))):
        set_read_only(b"/", False, AT_RECURSIVE)  # kernels before 5.12 lack mount_setattr: the fallback
        _libc.umount2(b"/tmp", 2)  # MNT_DETACH
        return None
    return "/tmp"


def enter_user_namespace():
    """Without root, where the kernel lets an unprivileged user make one (not from a chroot, nor where
    user.max_user_namespaces is 0 or a security module refuses): the worker becomes root of a user namespace
    of its own, in which only the caller's uid and gid are mapped (to 0). That root can make the network,
    mount, pid and IPC namespaces that real root makes, and owns nothing outside them: files outside keep
    their owners, and files of other users (root's included) show as the overflow uid. Jobs run as that uid 0
    with every capability dropped (job_loop.c: drop_capabilities) before their code runs: they are the caller's uid,
    locked in the worker's namespaces. Returns whether the worker is in one."""
    if IS_ROOT:
        return False
    uid, gid = os.getuid(), os.getgid()
    if _libc.unshare(CLONE_NEWUSER) != 0:
        return False
    for name, text in (("setgroups", "deny"), ("uid_map", f"0 {uid} 1"), ("gid_map", f"0 {gid} 1")):
        with open(f"/proc/self/{name}", "w") as f:   # a failure here stops the worker: its error is on stderr
            f.write(text)
    return True


USER_NAMESPACE = enter_user_namespace()
NAMESPACE_ROOT = IS_ROOT or USER_NAMESPACE   # may make namespaces and mounts (in its user namespace)
NETWORK_ISOLATED = _libc.unshare(CLONE_NEWNET) == 0
_libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)  # orphans of jobs come back to us to be reaped
BASE_DIR = private_read_only_filesystem()
FILESYSTEM_ISOLATED = BASE_DIR is not None
if BASE_DIR is None:   # its real path: maps name a job's files so (job_loop.c: note_mapped_files)
    BASE_DIR = os.path.realpath(tempfile.mkdtemp(prefix=f"cotnpot-exec-{os.getpid()}-"))
    os.chmod(BASE_DIR, 0o711)


def sweep_stale_cgroups(parent):
    """Cgroups of workers that were killed before they could remove theirs (empty, named by the pid)."""
    for entry in os.listdir(parent):
        if entry.startswith("cotnpot-") and entry.count("-") == 2:
            pid = entry.split("-")[1]
            if pid.isdigit() and not os.path.exists(f"/proc/{pid}"):
                try:
                    os.rmdir(f"{parent}/{entry}")
                except OSError:
                    pass


def memory_cgroup():
    """As root, where the machine has a memory cgroup this process may make children in: one cgroup for this
    worker's jobs (v2 memory.max, else v1 memory.limit_in_bytes), reused job after job (making one per job
    costs ~5 ms); each job moves itself into it before it drops root, so its memory limit is a total for
    its whole process tree and an excess ends in the cgroup's OOM kill. Returns (directory, limit file,
    events file, events key) or None (the per-process RLIMIT_AS then stays the only limit)."""
    if not (IS_ROOT and JOB_NAMESPACES) or "memory_cgroup" in OFF:
        return None
    try:
        with open("/proc/self/cgroup") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controllers == "":
            mounts, limit, events = ("/sys/fs/cgroup", "/sys/fs/cgroup/unified"), "memory.max", "memory.events"
        elif "memory" in controllers.split(","):
            mounts, limit, events = ("/sys/fs/cgroup/memory",), "memory.limit_in_bytes", "memory.oom_control"
        else:
            continue
        for mount in mounts:
            parent = mount + path.rstrip("/")
            if not os.path.isdir(parent):
                continue
            if FILESYSTEM_ISOLATED:
                set_read_only(mount.encode(), False, 0)   # root-owned files: still closed to the jobs
            sweep_stale_cgroups(parent)
            directory = f"{parent}/cotnpot-{os.getpid()}-{os.urandom(4).hex()}"
            try:
                if limit == "memory.max" and not os.path.exists(f"{parent}/cgroup.subtree_control"):
                    continue
                os.mkdir(directory, 0o755)
            except OSError:
                continue
            if os.path.exists(f"{directory}/{limit}") and os.path.exists(f"{directory}/{events}"):
                return directory, limit, events
            os.rmdir(directory)
    return None


JOB_CGROUP = memory_cgroup()
MEMORY_ISOLATED = JOB_CGROUP is not None


def remove_cgroup():
    if JOB_CGROUP is not None:
        for _ in range(100):   # its last processes may still be on their way out
            try:
                os.rmdir(JOB_CGROUP[0])
                return
            except FileNotFoundError:
                return
            except OSError:
                time.sleep(0.01)


def enter_own_pid_namespace():
    """As root (real, or of its own user namespace): the worker becomes pid 1 of a pid namespace of its own (the process the
    caller started stays behind, waiting, and the worker dies with it) and, in its own mount namespace, mounts
    a /proc of that namespace: jobs see no host process. Then each job, forked after unsharing a further pid namespace, is pid 1 of its
    own: when it ends, or is killed, the kernel kills everything it started, and it can signal nothing
    outside. Returns a descriptor of the worker's pid namespace (to return to after each fork), or None."""
    if not (NAMESPACE_ROOT and JOB_NAMESPACES) or _libc.unshare(CLONE_NEWPID) != 0:
        return None
    waiting = os.getpid()
    pid = os.fork()
    if pid > 0:   # the process the caller knows: waits, and passes the worker's end on
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        caller = os.getppid()
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            if os.getppid() != caller:   # the caller died: the worker, and with it every job, goes too
                os.kill(pid, signal.SIGKILL)
            time.sleep(0.2)
        remove_cgroup()
        os._exit(os.waitstatus_to_exitcode(status) & 0xFF if os.WIFEXITED(status) else 70)
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if not os.path.exists(f"/proc/{waiting}"):   # it died before the line above: so do we
        os._exit(0)
    # Only in the worker's own mount namespace (a chroot whose root is not a mount point has none that is
    # private): there, host processes stay listed in /proc, though out of reach of any signal. A kernel that
    # refuses a new proc mount (masked /proc in some containers) leaves the host's /proc in place.
    if FILESYSTEM_ISOLATED:
        _libc.mount(b"proc", b"/proc", b"proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, None)
    own = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
    if _libc.unshare(CLONE_NEWPID) != 0 or _libc.setns(own, CLONE_NEWPID) != 0:   # per-job namespaces work?
        os.close(own)
        return None
    return own


OWN_PID_NAMESPACE = enter_own_pid_namespace()
WORKER_PID = os.getpid()   # the fork server's own pid (the process under the one the caller started, as root)
PID_ISOLATED = OWN_PID_NAMESPACE is not None
# No ptrace of the worker, no /proc/<worker>/mem for a job running as the same user (without root)
_libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
# Job data never lingers in the worker, whose memory every later job inherits: the job loop (job_loop.c)
# reads frames into one reused buffer, outputs into buffers mapped once, writes replies with writev from
# them, and zeroes them all after each job. The worker parses no job data but the few settings it needs (the
# job's report goes to the caller as it is), so no copy of it is made in the worker's heap.
IN_FD, OUT_FD = 0, 1


def write_frame(fields):
    """One frame to the caller: its length, then its fields (only the start-up frame; job replies are the
    job loop's)."""
    payload = encode_fields(fields)
    data = memoryview(struct.pack("<I", len(payload)) + payload)
    while data:
        data = data[os.write(OUT_FD, data):]


SETUP_FAILED, CODE_RAN = b"S", b"R"   # the result channel's first byte


class _SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8), ("k", ctypes.c_uint32)]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_uint16), ("filter", ctypes.POINTER(_SockFilter))]


def job_filter(network_isolated, pid_isolated, memory_isolated, own_uid, landlock_in_jobs):
    """A seccomp filter for jobs, refusing with EPERM:
    - the kernel keyring calls (add_key, request_key, keyctl): keyrings belong to no namespace, and a key a
      job leaves under its uid outlives the job, its worker and the executor -- a channel to later jobs and
      to the host;
    - every socket family but AF_INET and AF_INET6 (socket and socketpair), which the job's network
      namespace holds: Unix sockets (descriptors sent over one in a cycle are not reclaimed when the job
      dies, so the memory behind them stayed charged to the worker's cgroup after the job, the worker and
      the executor), and families no network namespace holds (AF_VSOCK listened to the hypervisor's side of
      a VM from a network-isolated job: found by a breaker), or that only widen the kernel's surface;
    - memfd_create, where no memory cgroup holds the job's total: pages put in a memfd with fallocate count
      against no RLIMIT_AS (a breaker held 3.5 GiB from a 64 MiB job, with SysV segments too);
    - every SysV IPC call (segments, semaphores, message queues) and every POSIX message queue call, found by
      two breakers: without a memory cgroup they are kernel memory no limit counts (3.5 GiB of segments, 500
      MiB of queues, 400 MiB of semaphore arrays in 1.5 s from 64 MiB jobs; a new IPC namespace allows ~64
      GB of semaphores); with one they stay charged to it after the job, until the kernel frees the job's
      IPC namespace, later: the next correct jobs met a full budget (memory_limit); and where jobs get no IPC
      namespace of their own (none without a pid namespace per job) a queue and a semaphore a job left
      outlived it and the executor, and a later job read what they held;
    - open file description locks (fcntl F_OFD_SETLK, F_OFD_SETLKW, F_OFD_GETLK) and leases (F_SETLEASE):
      kept by a mapping after their descriptor is closed, a job held 905,000 locks, 172 MB of kernel memory no
      cgroup (since Linux 6.8) or rlimit counts (found by a breaker); 3,000 leases the same way (a reviewer);
    - Linux AIO (io_setup, io_submit): an AIO fsync wrote back a host file's dirty pages past the writeback
      rule below, and io_setup reserved the host's whole fs.aio-max-nr, failing every other process's AIO
      while the job ran (found by a breaker);
    - inotify_init and inotify_init1: where jobs run as the caller's uid (without root), the uid's 128 inotify
      instances are a quota the caller shares, which one job used up while it ran, and watches on a shared
      read-only file signalled between concurrent jobs (found by a breaker); and everywhere, a job that
      watched the interpreter's __pycache__ saw which modules a concurrent job on another worker imported,
      without that job's help (a later breaker, as root);
    - where jobs run as the caller's uid on the host's filesystem, read-only only by Landlock (without root
      and without a user namespace: no pid namespace per job, so each job installs this filter and the
      worker, which sets its jobs' directories' modes, never runs under it): every call that changes a
      file's mode, owner, times or extended attributes. Landlock governs none of them, so a job chmod-ed its
      worker's base directory to 000 (every later job of that worker failed, and the directory outlived the
      executor) and made the caller's private files world-readable, reset their times and tagged them with
      xattrs that outlived the executor (found by a breaker);
    - fcntl(F_SETPIPE_SZ), there too: the uid's pipe buffer pages (pipe-user-pages-soft, 64 MiB) are
      another quota the caller shares, and a pipe grown to 1 MiB drew 16x a default pipe's share of it; a
      job now holds at most its descriptors' default pipes (64 KiB each);
    - every socket, of any family, when the worker has no network namespace of its own (without root where
      the kernel allows no user namespace): the job would share the host's network, loopback servers
      included. With one, jobs have no network anyway (a down loopback). And where no memory cgroup holds
      the job: a TCP socket mapped read-only outlives its descriptor, and 4.7 M epoll watches on such
      sockets held 963 MB of kernel memory from a 64 MiB job, and used up the uid's max_user_watches, which
      the caller shares there (found by a breaker); and where jobs are the caller's uid, whose quota that is
      (a reviewer: a non-root caller with a memory cgroup of its own);
    - vmsplice: a pipe holding 4 KiB of a transparent huge page keeps the whole 2 MiB page after it is
      unmapped, outside RLIMIT_AS (256 MB held by a 20 MB address space; found by a breaker); and where no
      memory cgroup holds the job, sendfile, splice and tee, with ENOSYS (shutil.copyfile then copies by
      read and write): one byte of a host file's 2 MiB page-cache folio spliced into a pipe kept the folio
      past drop_caches, 320 MB from a 64 MiB job (found by a breaker);
    - perf_event_open and fanotify_init: their ring buffers and groups count against per-uid allowances the
      caller shares without root (its own perf mapping and fanotify_init failed while a job ran; found by a
      breaker); bpf and userfaultfd, which hosts usually refuse to unprivileged users anyway: maps are kernel
      memory no limit counts, and userfaultfd stalls the kernel at a chosen page.
    - setsid, and setpgid where jobs get no pid namespace of their own: a job's processes then stay in its
      process group, which the worker kills at the job's end, and in the worker's session, which the caller
      kills if the worker dies during the job (session.h). A daemon made with setsid outlived its job there.
      With a pid namespace, every session is a scheduling group of its own where the kernel groups by
      session (sched_autogroup): a job of 16 processes, each in a session it made, took 16/17 of the CPU,
      and an honest job beside it ran past its deadline (found by a breaker). Jobs stay in their worker's
      session (job_loop.c: confine_job), each in a process group of its own.
    - seccomp, prctl(PR_SET_SECCOMP) and the Landlock calls: a filter or a ruleset is kernel memory no
      rlimit counts, and jobs stacked 3,600 filters per process (300 MB from a 64 MiB job) or built 16 M
      Landlock rules (1.1 GB; the job's exit then took seconds to free them, past its deadline); found by a
      breaker. Where jobs confine themselves with Landlock (worker.py: confine_files), after this filter,
      late_job_filter refuses them once that is done.
    - prctl(PR_SET_DUMPABLE), there too: a job made itself dumpable again, which gave it its
      /proc/self/autogroup, and wrote nice 19 there: that is its worker's session's scheduling group, so
      every later job of that worker ran at 1/30 of the CPU (a breaker). The jobs of the Landlock fallback
      make themselves dumpable for their worker (confine_files), before the late filter, and cannot reach
      /proc/self/autogroup (Landlock).
    - there too (jobs then run as the caller's uid and see its processes): prlimit64, sched_setparam,
      sched_setscheduler, sched_setattr and sched_setaffinity with any pid but 0 (the calling thread; its
      own pid is refused too), setpriority and ioprio_set for another process or a whole user. Landlock scopes signals, not these: a job set its worker's CPU limit to 1 s, and the kernel
      killed the worker for it.
    - a new user namespace (unshare or clone with CLONE_NEWUSER; clone3, whose flags a filter cannot read,
      answers ENOSYS, and glibc falls back to clone): in one a job brought up a loopback of its own and held
      866 MiB of kernel TCP buffers from a 128 MiB job, memory no cgroup v1 or rlimit counts, shared with
      every socket of the host (found by a breaker); it is also the kernel's widest surface;
    - setsockopt(IPPROTO_IPV6, IPV6_FLOWLABEL_MGR): flow labels live in the worker's network namespace, which
      its jobs share, and linger after their socket: a job left values there for the next one to read;
    - fallocate with any mode but 0 (posix_fallocate's): FALLOC_FL_KEEP_SIZE reserves a file's blocks without
      growing its size, which is all RLIMIT_FSIZE checks, so one call held 2 GiB of the host's /tmp where the
      job's directory is a plain one there (the Landlock fallback; found by a breaker). The other modes
      (punching holes, collapsing, zeroing ranges) are no honest program's either.
    Every other ABI (i386's int 0x80 on x86-64, x32) and io_uring are refused too. None on other
    architectures.
    The calls that force data to disk -- sync, syncfs, fsync, fdatasync, sync_file_range, msync -- return 0
    without running: a job's own files are on a tmpfs, and on a host file (read-only to it) they wrote back
    the host's dirty pages: a job's sync() flushed 2.2 GB a checkpoint had left, and slept uninterruptibly
    to 3x its deadline (found by a breaker). So do the ways to the same per file (a reviewer, from the
    kernel's source): O_DIRECT (open, openat, fcntl F_SETFL) answers EINVAL, as on a filesystem without
    it; the FS_IOC_FIEMAP ioctl EPERM; openat2, whose flags a filter cannot read, ENOSYS (glibc's open
    uses openat); fadvise64 with POSIX_FADV_DONTNEED (which starts a file's writeback and drops its cached
    pages, the host's own) returns 0, as advice may be ignored. So do the other locks, for the same kernel
    memory as OFD locks: flock, which a mapping keeps the same way (30,000 in 0.24 s: a reviewer), and fcntl
    F_SETLK and F_SETLKW, of which one descriptor holds any number of byte ranges (97,000 in 4 s from one
    process). A job's own files are its alone, so a lock protects them from no one else, and its lock on a
    system file it can read no longer makes a host process wait; but a job's own processes can no longer
    exclude each other with file locks (a reviewer). F_GETLK runs (and finds nothing locked).
    With a pid namespace per job, the worker installs this filter on itself before its first job (job_loop.c,
    install_filter_in_worker) and every job inherits it: nothing the worker's loop does may be refused here."""
    import platform
    arch = platform.machine()
    if arch == "x86_64":
        audit, keyring, sockets, x32, sessions = 0xC000003E, (248, 249, 250), (41, 53), 0x40000000, (112, 109)
        seccomp, prctl = SECCOMP_AND_PRCTL[arch]
        unaccounted = (319,)   # memfd_create
        # SysV IPC (shmget shmat shmctl shmdt semget semop semctl semtimedop msgget msgsnd msgrcv msgctl), POSIX
        # message queues (mq_open .. mq_getsetattr), Linux AIO (io_setup, io_submit)
        refused_everywhere = (29, 30, 31, 67, 64, 65, 66, 220, 68, 69, 70, 71, *range(240, 246), 206, 209,
                 278, 298, 300, 321, 323)   # vmsplice, perf_event_open, fanotify_init, bpf, userfaultfd
        fadvise = 221
        inotify = (253, 294)   # inotify_init, inotify_init1
        # chmod fchmod chown fchown lchown utime setxattr lsetxattr fsetxattr removexattr lremovexattr
        # fremovexattr utimes fchownat futimesat fchmodat utimensat fchmodat2 setxattrat removexattrat
        metadata = (90, 91, 92, 93, 94, 132, 188, 189, 190, 197, 198, 199, 235, 260, 261, 268, 280, 452, 463, 466)
        fcntl = 72
        self_only, setpriority, ioprio_set = (302, 142, 144, 314, 203), 141, 251   # pid in args[0]
        unshare, clone, setsockopt = 272, 56, 54
        writeback = (162, 306, 74, 75, 277, 26)   # sync, syncfs, fsync, fdatasync, sync_file_range, msync
        flock = 73
        pinning = (40, 275, 276)   # sendfile, splice, tee
        opens, o_direct, ioctl = ((2, 24), (257, 32)), 0x4000, 16   # (nr, offset of the flags argument)
        fallocate = 285
    elif arch == "aarch64":
        audit, keyring, sockets, x32, sessions = 0xC00000B7, (217, 218, 219), (198, 199), 0xFFFFFFFF, (157, 154)
        seccomp, prctl = SECCOMP_AND_PRCTL[arch]
        unaccounted = (279,)
        # mq_open .. shmdt, io_setup, io_submit, vmsplice, perf_event_open, fanotify_init, bpf, userfaultfd
        refused_everywhere = (*range(180, 198), 0, 2, 75, 241, 262, 280, 282)
        fadvise = 223
        inotify = (26,)   # inotify_init1 (aarch64 has no inotify_init)
        # setxattr lsetxattr fsetxattr removexattr lremovexattr fremovexattr fchmod fchmodat fchownat fchown
        # utimensat fchmodat2 setxattrat removexattrat (aarch64 has none of the older path forms)
        metadata = (5, 6, 7, 14, 15, 16, 52, 53, 54, 55, 88, 452, 463, 466)
        fcntl = 25
        self_only, setpriority, ioprio_set = (261, 118, 119, 274, 122), 140, 30
        unshare, clone, setsockopt = 97, 220, 208
        writeback = (81, 267, 82, 83, 84, 227)
        flock = 32
        pinning = (71, 76, 77)
        opens, o_direct, ioctl = ((56, 32),), 0x10000, 29
        fallocate = 47
    else:
        return None
    io_uring_setup = 425   # the same number on both: io_uring can open sockets without socket()
    clone3 = 435           # the same on both
    openat2 = 437          # the same on both
    fiemap = 0xC020660B    # FS_IOC_FIEMAP (FIEMAP_FLAG_SYNC writes the file back first)
    enosys = 0x00050000 | 38   # SECCOMP_RET_ERRNO | ENOSYS
    skipped = 0x00050000       # SECCOMP_RET_ERRNO | 0: the call is not run and returns 0
    # ("ld", offset in seccomp_data), ("jeq"/"jge", k, label if true, label if false: None = next),
    # ("ret", action or "deny"), ("label", name); labels become relative jumps below
    program = [
        ("ld", 4), ("jeq", audit, None, "deny"),                       # another ABI (int 0x80): refused
        ("ld", 0), ("jge", x32, "deny", None),                         # nr; x32 -> refused
        *[("jeq", nr, "deny", None) for nr in (*keyring, io_uring_setup, *refused_everywhere,
                                               sessions[0], *(() if pid_isolated else sessions[1:]),
                                               *(() if landlock_in_jobs else (seccomp, *LANDLOCK_CALLS)),
                                               *(() if memory_isolated else unaccounted), *inotify,
                                               *(() if own_uid or pid_isolated else metadata))],
        *([] if pid_isolated else [*[("jeq", nr, "self only", None) for nr in self_only],
                                   ("jeq", setpriority, "priority", None), ("jeq", ioprio_set, "io priority", None)]),
        *([] if landlock_in_jobs else [("jeq", prctl, "prctl", None)]),
        ("jeq", fcntl, "fcntl", None), ("jeq", ioctl, "ioctl", None), ("jeq", openat2, "enosys", None),
        ("jeq", fallocate, "fallocate", None),
        *[("jeq", nr, "enosys", None) for nr in (() if memory_isolated else pinning)],
        *[("jeq", nr, f"open flags {offset}", None) for nr, offset in opens],
        ("jeq", unshare, "namespaces", None), ("jeq", clone, "namespaces", None), ("jeq", clone3, "enosys", None),
        ("jeq", setsockopt, "setsockopt", None),
        *[("jeq", nr, "skipped", None) for nr in writeback], ("jeq", fadvise, "fadvise", None),
        ("jeq", flock, "skipped", None),
        ("jeq", sockets[0], "socket", None), ("jeq", sockets[1], "socket", "allow"),
        ("label", "socket"),
        *([] if network_isolated and memory_isolated and own_uid else [("ret", "deny")]),   # else no socket at all
        ("ld", 16), ("jeq", 2, "allow", None), ("jeq", 10, "allow", "deny"),   # args[0]: AF_INET, AF_INET6 only
        *([] if pid_isolated else [
            ("label", "self only"), ("ld", 16), ("jeq", 0, "allow", "deny"),  # pid (low 32 bits: pid_t) 0 only
            ("label", "priority"), ("ld", 16), ("jeq", 2, "deny", None),   # PRIO_USER: every process of the uid
            ("ld", 24), ("jeq", 0, "allow", "deny"),                       # who 0: itself, its group
            ("label", "io priority"), ("ld", 16), ("jeq", 3, "deny", None),  # IOPRIO_WHO_USER
            ("ld", 24), ("jeq", 0, "allow", "deny")]),
        *([] if landlock_in_jobs else [("label", "prctl"), ("ld", 16), ("jeq", PR_SET_DUMPABLE, "deny", None),
                                       ("jeq", PR_SET_SECCOMP, "deny", "allow")]),
        ("label", "fcntl"), ("ld", 24),                                 # args[1]: the command
        ("jeq", 36, "deny", None), ("jeq", 37, "deny", None), ("jeq", 38, "deny", None),   # F_OFD_GETLK, _SETLK(W)
        ("jeq", 1024, "deny", None),                                    # F_SETLEASE
        ("jeq", 6, "skipped", None), ("jeq", 7, "skipped", None),       # F_SETLK, F_SETLKW: 0, not run
        *([] if own_uid else [("jeq", 1031, "deny", None)]),            # F_SETPIPE_SZ
        ("jeq", 4, None, "allow"), ("ld", 32), ("jset", o_direct, "einval", "allow"),   # F_SETFL with O_DIRECT
        ("label", "ioctl"), ("ld", 24), ("jeq", fiemap, "deny", "allow"),
        ("label", "fallocate"), ("ld", 24), ("jeq", 0, "allow", "deny"),   # args[1]: the mode, 0 only
        *[item for offset in sorted({offset for _, offset in opens}) for item in (
            ("label", f"open flags {offset}"), ("ld", offset), ("jset", o_direct, "einval", "allow"))],
        ("label", "einval"), ("ret", 0x00050000 | 22),
        ("label", "namespaces"), ("ld", 16), ("jset", CLONE_NEWUSER, "deny", "allow"),   # args[0]: the flags
        ("label", "enosys"), ("ret", enosys),
        ("label", "fadvise"), ("ld", 40), ("jeq", 4, "skipped", "allow"),   # args[3]: POSIX_FADV_DONTNEED
        ("label", "skipped"), ("ret", skipped),
        ("label", "setsockopt"), ("ld", 24), ("jeq", 41, None, "allow"),    # args[1]: IPPROTO_IPV6
        ("ld", 32), ("jeq", 32, "deny", "allow"),                           # args[2]: IPV6_FLOWLABEL_MGR
        ("label", "allow"), ("ret", 0x7FFF0000),                     # SECCOMP_RET_ALLOW
        ("label", "deny"), ("ret", 0x00050000 | 1)]
    return _assemble(program)


# The numbers of seccomp and prctl, per architecture the filters know.
SECCOMP_AND_PRCTL = {"x86_64": (317, 157), "aarch64": (277, 167)}


def late_job_filter():
    """Where a job confines itself with Landlock after job_filter is in place (confine_files, without root or
    a user namespace): the calls job_filter leaves it for that, refused once it is done (see job_filter)."""
    import platform
    calls = SECCOMP_AND_PRCTL.get(platform.machine())
    if calls is None:
        return None
    seccomp, prctl = calls
    return _assemble([
        ("ld", 0), *[("jeq", nr, "deny", None) for nr in (seccomp, *LANDLOCK_CALLS)],   # job_filter checked the ABI
        ("jeq", prctl, None, "allow"), ("ld", 16), ("jeq", PR_SET_DUMPABLE, "deny", None),
        ("jeq", PR_SET_SECCOMP, "deny", "allow"),
        ("label", "allow"), ("ret", 0x7FFF0000),
        ("label", "deny"), ("ret", "deny")])


def _assemble(program):
    """A classic BPF program from job_filter's notation: ("ld", offset in seccomp_data), ("jeq"/"jge"/"jset", k,
    label if true, label if false: None = next), ("ret", action or "deny": EPERM), ("label", name)."""
    ld, jeq, jge, jset, ret = 0x20, 0x15, 0x35, 0x45, 0x06
    labels, position = {}, 0
    for item in program:
        if item[0] == "label":
            labels[item[1]] = position
        else:
            position += 1
    code, position = [], 0
    for item in program:
        if item[0] == "label":
            continue
        if item[0] == "ld":
            code.append((ld, 0, 0, item[1]))
        elif item[0] == "ret":
            code.append((ret, 0, 0, 0x00050000 | 1 if item[1] == "deny" else item[1]))   # EPERM, or allow
        else:
            def offset(target):
                jump = 0 if target is None else labels[target] - position - 1
                if not 0 <= jump <= 255:   # a conditional jump's offset is one byte: ctypes would wrap it silently
                    raise ValueError(f"job filter: a jump to {target!r} of {jump} instructions")
                return jump
            code.append(({"jeq": jeq, "jge": jge, "jset": jset}[item[0]], offset(item[2]), offset(item[3]), item[1]))
        position += 1
    filters = (_SockFilter * len(code))(*[_SockFilter(*i) for i in code])
    return filters, _SockFprog(len(code), filters)


class _LandlockRulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]


class _LandlockPathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


SYS_LANDLOCK_CREATE_RULESET, SYS_LANDLOCK_ADD_RULE, SYS_LANDLOCK_RESTRICT_SELF = 444, 445, 446
_libc.syscall.restype = ctypes.c_long


def landlock_abi():
    """The kernel's Landlock ABI version (0: none). Landlock needs no privilege: it is what confines a job
    whose worker got neither root nor a user namespace."""
    version = _libc.syscall(SYS_LANDLOCK_CREATE_RULESET, None, 0, 1)   # LANDLOCK_CREATE_RULESET_VERSION
    return max(0, version)


# Only where the namespaces do not do it: no private view (a chroot whose / is not a mount point, as root too:
# there jobs, each its own uid, could write the host's world-writable /tmp, and a directory one job made was
# found by the next -- found by a pristine-root run), or no pid namespace.
LANDLOCK_ABI = 0 if FILESYSTEM_ISOLATED and PID_ISOLATED else landlock_abi()
JOB_FILTER = job_filter(NETWORK_ISOLATED, PID_ISOLATED, MEMORY_ISOLATED, JOB_UIDS, bool(LANDLOCK_ABI))
LATE_JOB_FILTER = late_job_filter() if LANDLOCK_ABI else None
FS_EXECUTE, FS_WRITE_FILE, FS_READ_FILE, FS_READ_DIR, FS_TRUNCATE, FS_IOCTL_DEV = 1, 2, 4, 8, 1 << 14, 1 << 15
FS_READ = FS_EXECUTE | FS_READ_FILE | FS_READ_DIR


def confine_files(workdir):
    """Without root or a user namespace (a chroot, say), a Landlock domain for the job, which it cannot
    leave: reading only the system's directories and the interpreter's own (as with the hidden host
    directories) and its own /proc/<pid>, everything within its own directory, nothing else -- not the
    caller's files, not /proc/<caller>/environ, not other jobs' directories; where the kernel has the scopes
    (ABI 6), no signal to any process outside the domain (the caller, its worker) and no abstract Unix
    socket; from ABI 4, no TCP bind or connect either. Raises if the kernel refuses the ruleset."""
    abi = LANDLOCK_ABI
    handled = (1 << 13) - 1 | (1 << 13 if abi >= 2 else 0) | (FS_TRUNCATE if abi >= 3 else 0) \
        | (FS_IOCTL_DEV if abi >= 5 else 0)
    attr = _LandlockRulesetAttr(handled, 3 if abi >= 4 else 0, 3 if abi >= 6 else 0)   # TCP bind+connect; signals+sockets
    size = 24 if abi >= 6 else 16 if abi >= 4 else 8
    ruleset = _libc.syscall(SYS_LANDLOCK_CREATE_RULESET, ctypes.byref(attr), size, 0)
    if ruleset < 0:
        raise OSError(ctypes.get_errno(), "cannot create the job's Landlock ruleset")
    file_rights = FS_EXECUTE | FS_WRITE_FILE | FS_READ_FILE | (FS_TRUNCATE if abi >= 3 else 0)
    rules = [("/" + d, FS_READ) for d in SYSTEM_DIRS if d not in ("dev", "proc", "sys", "tmp", "run")]
    rules += [(d, FS_READ) for d in INTERPRETER_DIRECTORIES]
    # its own /proc/<pid> (the O_PATH open resolves /proc/self), no other process's
    rules += [(f, file_rights) for f in DEVICE_FILES] + [("/proc/self", FS_READ), (workdir, handled)]
    try:
        for path, rights in rules:
            try:
                fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                continue   # absent here (no /lib32, a sys.path entry that is a zip file's member...)
            try:
                if not os.path.isdir(path):
                    rights &= file_rights
                rule = _LandlockPathBeneathAttr(rights & handled, fd)
                if _libc.syscall(SYS_LANDLOCK_ADD_RULE, ruleset, 1, ctypes.byref(rule), 0) != 0:
                    raise OSError(ctypes.get_errno(), f"cannot add the job's Landlock rule for {path}")
            finally:
                os.close(fd)
        if _libc.syscall(SYS_LANDLOCK_RESTRICT_SELF, ruleset, 0) != 0:
            raise OSError(ctypes.get_errno(), "cannot enter the job's Landlock domain")
        # Dumpable again (the worker is not, and its jobs inherit that): the worker, the same uid, reads the
        # job's descriptors and mappings for the disk budget (job_loop.c: held_files_past_budget). Other jobs
        # still cannot: Landlock refuses ptrace access, /proc/<pid>/mem and fd included, across domains.
        if _libc.prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "cannot make the job readable by its worker")
    finally:
        os.close(ruleset)


def encode_fields(fields):
    """{key: value} in the frame format: per field, key length, key, value length, value (little-endian u32
    lengths); each value is sent as str(value), UTF-8."""
    out = []
    for key, value in fields.items():
        k, v = key.encode(), str(value).encode("utf-8", "replace")
        out += [struct.pack("<I", len(k)), k, struct.pack("<I", len(v)), v]
    return b"".join(out)


def first_failing_line(tb, filename, source):
    """The statement of `source` (compiled as `filename`) where the exception surfaced, if it did there: all
    its lines (an assert written over several had been named by its first line alone, `assert f(1) == [`)."""
    lines = source.splitlines()
    for frame in reversed(traceback.extract_tb(tb)):
        if frame.filename == filename and frame.lineno and 0 < frame.lineno <= len(lines):
            try:   # on a failure only: the parser is not the job's to pay for otherwise
                import ast
                column = getattr(frame, "colno", None)   # 3.11: where on its line the failing part starts

                def holds(n):   # n spans the failing position
                    if not n.lineno <= frame.lineno <= (n.end_lineno or n.lineno) or column is None:
                        return n.lineno <= frame.lineno <= (n.end_lineno or n.lineno)
                    after_start = frame.lineno > n.lineno or column >= n.col_offset
                    before_end = frame.lineno < (n.end_lineno or n.lineno) or column < (n.end_col_offset or 0)
                    return after_start and before_end

                around = [n for n in ast.walk(ast.parse(source)) if isinstance(n, ast.stmt) and holds(n)]
                if around:   # the innermost: the assert, not the `if` or function it is in, nor `x = 1;` before it
                    node = min(around, key=lambda n: ((n.end_lineno or n.lineno) - n.lineno,
                                                      (n.end_col_offset or 0) - n.col_offset))
                    return (ast.get_source_segment(source, node) or lines[frame.lineno - 1]).strip()
            except Exception:  # noqa: BLE001 -- the job may have broken the parser: its line then
                pass
            return lines[frame.lineno - 1].strip()
    return ""


STACK_PROBE = """
def probe(n):
    global depth
    depth = n
    probe(n + 1)
try:
    probe(1)
except RecursionError:
    pass
"""


STACK_SHORTFALL = 0   # set by main (stack_shortfall): calls fewer a job's program can nest than a script


def stack_shortfall():
    """How many calls fewer a job's program can nest than a script run by `python3` (recursion limit - 1 below
    its top level): the worker's own frames above it, and the interpreter's count of exec's entry (3.11).
    Measured once, from where run_child stands (main, a function, exec); the job's recursion limit is raised
    by it, so that a recursion of depth 997 passes as it does in a script (it had failed from 993 on)."""
    namespace = {}
    exec(compile(STACK_PROBE, "<cotnpot-stack-probe>", "exec"), namespace)
    return max(0, sys.getrecursionlimit() - 1 - namespace.get("depth", sys.getrecursionlimit()))


def run_child(frame, workdir, result_fd):
    """In the forked child, which the job loop has confined (job_loop.c: confine_job): the rest of its
    set-up, then run, report through result_fd, exit. Never returns."""
    try:
        job = parse_frame(frame)   # within its limits: a failure here is the sandbox's, reported as such
        if workdir != JOB_MOUNTPOINT:   # else set once, in the worker (main); the rest was cleaned there too
            os.environ["HOME"] = os.environ["TMPDIR"] = workdir
            # tempfile cached /tmp when the worker made its base directory there, and reads TMPDIR no more:
            # a job's TemporaryFile() then failed under Landlock (a breaker)
            tempfile.tempdir = workdir
        if LANDLOCK_ABI:
            confine_files(workdir)
            if LATE_JOB_FILTER is not None and "seccomp" not in OFF and \
                    _libc.prctl(PR_SET_SECCOMP, 2, ctypes.byref(LATE_JOB_FILTER[1]), 0, 0) != 0:
                raise OSError(ctypes.get_errno(), "cannot install the job's late seccomp filter")
    except BaseException as exc:  # noqa: BLE001
        os.write(result_fd, SETUP_FAILED + encode_fields({"sandbox_error": f"{type(exc).__name__}: {exc}"}))
        os._exit(70)

    report = {"error_type": "", "error_message": "", "answer": "", "passed": ""}
    job_pid = os.getpid()   # a process the job forks returns through the code below too
    # The first byte of the result channel is written here, before any code of the job runs: whatever the
    # job writes after it, it cannot pass for a failure of the sandbox's own set-up.
    os.write(result_fd, CODE_RAN)
    namespace = {"__name__": "__main__", "__builtins__": __builtins__}
    sys.setrecursionlimit(sys.getrecursionlimit() + STACK_SHORTFALL)
    stage = "program"
    try:
        code = str(job.get("code", b""), "utf-8")  # invalid UTF-8: a UnicodeDecodeError result
        prelude = str(job.get("prelude", b""), "utf-8")
        if prelude:
            stage = "prelude"
            exec(compile(prelude, "<prelude>", "exec"), namespace)
        stage = "program"
        exec(compile(code, "<program>", "exec"), namespace)
        kind, mode = str(job.get("kind", b"program"), "utf-8"), str(job.get("answer", b"print"), "utf-8")
        if kind == "tests":
            stage = "tests"
            tests = str(job.get("tests", b""), "utf-8")
            exec(compile(tests, "<tests>", "exec"), namespace)
            report["passed"] = "1"
        elif mode == "solution":
            if not callable(namespace.get("solution")):
                raise NameError("the program defines no solution()")
            report["answer"] = str(namespace["solution"]())
        elif mode == "variable":
            name = str(job.get("variable", b"ans"), "utf-8")
            if name not in namespace:
                raise NameError(f"the program sets no variable {name!r}")
            report["answer"] = str(namespace[name])
    except SystemExit as exc:
        # exit() before the tests ran is a failure, never a pass; for programs, exit(0) ends them normally
        if job.get("kind", b"program") == b"tests" or exc.code not in (0, None):
            report["error_type"], report["error_message"] = "SystemExit", f"exit({exc.code!r}) in the {stage}"
            report["passed"] = "0"
    except BaseException as exc:  # noqa: BLE001
        report["error_type"] = type(exc).__name__
        report["error_message"] = str(exc)[:2000]
        report["passed"] = "0"
        if stage == "tests":
            report["failing"] = first_failing_line(exc.__traceback__, "<tests>",
                                                   str(job.get("tests", b""), "utf-8", "replace"))
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BaseException:  # noqa: BLE001
        pass
    # Only the job's own process reports: a child it forked that ran on to the end of the program ends here
    # without a word (its output went where the job's goes).
    # Written to its end: a write into a full pipe that a stop signal interrupts (the worker stops the job
    # while it walks its directory) returns what it wrote so far, and the rest of the report was lost.
    if os.getpid() == job_pid:
        data = memoryview(encode_fields(report))
        while data:
            data = data[os.write(result_fd, data):]
    os._exit(0)


def parse_frame(data):
    """A job frame's fields, {key: memoryview} into the child's copy of the frame buffer (data: the loop's
    read-only byte view of it): parsed in the job's child (the worker itself reads only a few settings, in
    C), after its rlimits, so without copying it."""
    fields, i = {}, 0
    while i < len(data):
        (klen,) = struct.unpack_from("<I", data, i)
        key = str(data[i + 4:i + 4 + klen], "utf-8")
        i += 4 + klen
        (vlen,) = struct.unpack_from("<I", data, i)
        fields[key] = data[i + 4:i + 4 + vlen]
        i += 4 + vlen
    return fields


def jobs_readable():
    """Whether the worker may read its jobs' /proc entries (descriptors, mappings) for the disk budget of a plain
    job directory: jobs of uids of their own only with CAP_SYS_PTRACE (which root lacks in Docker's default
    set: every job had then been past the budget, a reviewer), jobs of the worker's uid also where they make
    themselves dumpable again in their Landlock domain (confine_files)."""
    effective = 0
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("CapEff:"):
                    effective = int(line.split()[1], 16)
    except (OSError, IndexError, ValueError):
        pass
    return bool(effective & (1 << 19)) or (not JOB_UIDS and bool(LANDLOCK_ABI))   # CAP_SYS_PTRACE


class _LoopConfig(ctypes.Structure):   # job_loop.h's CotnpotLoopConfig, field for field
    _fields_ = [("in_fd", ctypes.c_int32), ("out_fd", ctypes.c_int32), ("pid_isolated", ctypes.c_int32),
                ("own_pid_namespace", ctypes.c_int32), ("job_uids", ctypes.c_int32), ("uid_base", ctypes.c_int32),
                ("is_root", ctypes.c_int32), ("job_tmpfs", ctypes.c_int32), ("job_dir_mb", ctypes.c_int32),
                ("job_dir_inodes", ctypes.c_int32), ("jobs_readable", ctypes.c_int32),
                ("job_mountpoint", ctypes.c_char_p), ("base_dir", ctypes.c_char_p),
                ("cgroup_dir", ctypes.c_char_p), ("cgroup_v2", ctypes.c_int32), ("cgroup_events", ctypes.c_char_p),
                ("zeroing", ctypes.c_int32), ("result_limit", ctypes.c_uint32), ("rlimits", ctypes.c_int32),
                ("drop_capabilities", ctypes.c_int32), ("no_new_privs", ctypes.c_int32),
                ("seccomp_filter", ctypes.c_void_p), ("worker_pid", ctypes.c_int32),
                ("after_fork_child", ctypes.c_void_p), ("memory_view", ctypes.c_void_p)]


class _ChildJob(ctypes.Structure):   # job_loop.h's CotnpotChildJob
    _fields_ = [("frame_view", ctypes.py_object), ("workdir", ctypes.c_char_p), ("result_fd", ctypes.c_int32)]


def loop_config():
    cgroup = JOB_CGROUP or (None, "", "")
    return _LoopConfig(
        in_fd=IN_FD, out_fd=OUT_FD, pid_isolated=int(PID_ISOLATED),
        own_pid_namespace=OWN_PID_NAMESPACE if PID_ISOLATED else -1, job_uids=int(JOB_UIDS), uid_base=UID_BASE,
        is_root=int(IS_ROOT), job_tmpfs=int(FILESYSTEM_ISOLATED and JOB_NAMESPACES), job_dir_mb=JOB_DIR_MB,
        job_dir_inodes=JOB_DIR_INODES, jobs_readable=int(jobs_readable()), job_mountpoint=JOB_MOUNTPOINT.encode(),
        base_dir=BASE_DIR.encode(),
        cgroup_dir=cgroup[0].encode() if cgroup[0] else None, cgroup_v2=int(cgroup[1] == "memory.max"),
        cgroup_events=cgroup[2].encode(), zeroing=int("zeroing" not in OFF), result_limit=RESULT_LIMIT,
        rlimits=int("rlimits" not in OFF), drop_capabilities=int(USER_NAMESPACE and not JOB_UIDS),
        # no new privileges (set-uid binaries do not raise them) for the job and all it starts; Landlock needs it
        no_new_privs=int("seccomp" not in OFF or bool(LANDLOCK_ABI)),
        seccomp_filter=ctypes.addressof(JOB_FILTER[1]) if JOB_FILTER is not None and "seccomp" not in OFF else None,
        worker_pid=WORKER_PID,
        after_fork_child=ctypes.cast(ctypes.pythonapi.PyOS_AfterFork_Child, ctypes.c_void_p).value,
        memory_view=ctypes.cast(ctypes.pythonapi.PyMemoryView_FromMemory, ctypes.c_void_p).value)


def main():
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    trim = getattr(_libc, "malloc_trim", None)   # glibc's: hands the heap's free pages back before the forks
    if trim is not None:
        trim(0)
    write_frame({"ready": "1", "network_isolated": "1" if NETWORK_ISOLATED else "0",
                 "uid_isolated": "1" if JOB_UIDS else "0",
                 "user_namespace": "1" if USER_NAMESPACE else "0",
                 "landlock": str(LANDLOCK_ABI),
                 "filesystem_isolated": "1" if FILESYSTEM_ISOLATED else "0",
                 "pid_isolated": "1" if PID_ISOLATED else "0",
                 "memory_isolated": "1" if MEMORY_ISOLATED else "0", "pid": str(os.getpid()),
                 # the caller removes it if this process is killed before its finally below runs
                 "base_dir": "" if FILESYSTEM_ISOLATED else BASE_DIR})
    if FILESYSTEM_ISOLATED and JOB_NAMESPACES:   # every job's directory: set here, not in each job (~30 faults)
        os.environ["HOME"] = os.environ["TMPDIR"] = JOB_MOUNTPOINT
    global STACK_SHORTFALL
    STACK_SHORTFALL = stack_shortfall()
    config, child = loop_config(), _ChildJob()
    JOB_LOOP.cotnpot_job_loop.argtypes = [ctypes.POINTER(_LoopConfig), ctypes.POINTER(_ChildJob)]
    JOB_LOOP.cotnpot_job_loop_error.restype = ctypes.c_char_p
    # The loop forks in C, where os.fork's hooks do not run: they run around it as os.fork runs them around
    # each fork -- before once, here; after-in-child in each job (from C, config.after_fork_child);
    # after-in-parent when the loop ends. Between before-fork and the loop, nothing but the call itself (the
    # runtime's locks are held then, on newer CPythons more of them).
    before_fork, loop = ctypes.pythonapi.PyOS_BeforeFork, JOB_LOOP.cotnpot_job_loop
    arguments = (ctypes.byref(config), ctypes.byref(child))
    before_fork()
    outcome = loop(*arguments)
    if outcome == 1:   # a job's child: it never returns into the worker
        try:
            run_child(child.frame_view, child.workdir.decode(), child.result_fd)
        finally:
            os._exit(71)
    ctypes.pythonapi.PyOS_AfterFork_Parent()
    try:
        if outcome < 0:
            raise OSError(JOB_LOOP.cotnpot_job_loop_error().decode(errors="replace"))
    finally:
        if not FILESYSTEM_ISOLATED:  # the private tmpfs goes away with this process by itself
            shutil.rmtree(BASE_DIR, ignore_errors=True)
        if not PID_ISOLATED:   # else the process the caller started removes it once this one is gone
            remove_cgroup()

main()
