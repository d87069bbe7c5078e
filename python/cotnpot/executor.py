"""Run untrusted programs and unit tests in cotnpot's sandboxed fork-server pool (C++ core).

    >>> import cotnpot
    >>> with cotnpot.Executor(workers=1) as ex:
    ...     r = ex.run(["print(6 * 7)", "ans = 2 ** 10"], answer="print")
    ...     [x.status for x in r], r[0].answer
    (['ok', 'ok'], '42')

Each job runs in a fresh forked child of a long-lived worker: own session, rlimits (memory, CPU,
processes, file size, open files, no core), stdin from /dev/null, a private temporary directory, no
network where the worker could make a network namespace, and as root a job-private uid whose processes
are all killed when the job ends. See docs/executor.md for what holds where.
"""
import sys
import warnings
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, Union

from . import judge
from ._extension import _C
from .text_fields import utf8_safe

Job = _C.Job
ExecResult = _C.ExecResult
Program = Union[str, bytes, "Job"]


def _progress_bar(total: int, progress):
    """A tqdm bar for long batches (progress=None: more than 200 jobs and a terminal), or the given callable."""
    if progress is False or (progress is None and (total <= 200 or not sys.stderr.isatty())):
        return None, None
    if callable(progress):
        return progress, None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None, None
    bar = tqdm(total=total, desc="executing", unit="job")
    state = {"done": 0}

    def update(done: int) -> None:
        bar.update(done - state["done"])
        state["done"] = done

    return update, bar


# What Executor(isolation_off=...) may name (the C++ ExecutorOptions' list)
ISOLATION_FEATURES = _C.ISOLATION_FEATURES
# The modules every worker imports before its first fork, unless told otherwise
DEFAULT_PRELOAD = ("math", "fractions", "itertools", "collections", "re")
_DEFAULT_PYTHON = "/usr/bin/python3"
_DEFAULT_OUTPUT_LIMIT = 64 * 1024


def result_identity(executor) -> List[str]:
    """:meth:`Executor.result_identity` of an executor, or of an object standing in for one (a wrapper that
    counts or filters its jobs): from its ``timeout``, ``memory_mb``, ``output_limit`` and ``python`` where it
    has no such method."""
    method = getattr(executor, "result_identity", None)
    if callable(method):
        return list(method())
    return _identity(getattr(executor, "timeout", None), getattr(executor, "memory_mb", None),
                     getattr(executor, "output_limit", _DEFAULT_OUTPUT_LIMIT),
                     getattr(executor, "python", _DEFAULT_PYTHON))


def _identity(timeout, memory_mb, output_limit, python) -> List[str]:
    identity = [repr(timeout), repr(memory_mb)]
    if output_limit != _DEFAULT_OUTPUT_LIMIT:
        identity.append(f"output_limit={output_limit}")
    if python != _DEFAULT_PYTHON:
        identity.append(f"python={python}")
    return identity


class Executor:
    """A pool of ``workers`` sandboxed Python fork servers (``python``, pre-importing ``preload``: best effort,
    a module that fails to import is skipped, and a job that needs it meets the error itself).

    ``timeout`` (seconds, wall clock) and ``memory_mb`` (address space) are per-job defaults that a
    :class:`Job` may override; stdout and stderr are each capped at ``output_limit`` bytes. ``warmup``:
    Python each worker runs once before any job, so that lazy imports and caches it fills are shared by
    every job's fork instead of being rebuilt in each (an error in it stops the worker from starting; a
    thread it starts never runs again once the worker serves jobs, and no job inherits it).
    ``worker_grace`` is how long past a job's timeout its worker may stay silent before it is taken for stuck
    (replaced; the job is ``sandbox_error``/``WorkerDied``): the worker ends each job at its timeout itself.
    ``job_namespaces=False`` lets a worker's jobs share its namespaces and tmpfs (weaker isolation, kept to
    measure its cost; see docs/executor.md); so does ``isolation_off``, for benchmarks only: per-job
    protections switched off, any of :data:`ISOLATION_FEATURES`. Use it as a context manager, or call
    :meth:`close`.
    """

    def __init__(self, workers: int = 2, timeout: float = 5.0, memory_mb: int = 512, python: str = _DEFAULT_PYTHON,
                 preload: Sequence[str] = DEFAULT_PRELOAD,
                 output_limit: int = _DEFAULT_OUTPUT_LIMIT, warmup: str = "", job_namespaces: bool = True,
                 isolation_off: Sequence[str] = (), worker_grace: float = 30.0):
        if isinstance(workers, int) and not isinstance(workers, bool) and not 1 <= workers <= 1024:
            # checked here as well: past int's range the binding's TypeError dumped every argument (a reviewer)
            raise ValueError(f"Executor: workers must be in [1, 1024], got {workers}")
        if not timeout > 0:
            raise ValueError(f"timeout must be > 0 seconds, got {timeout}")
        if timeout is not None and timeout > 1e6:   # inf included: deadlines are integer milliseconds
            raise ValueError(f"timeout must be at most 1e6 seconds, got {timeout}")
        if isinstance(isolation_off, str):
            raise TypeError(f"isolation_off must be a sequence of names, got the string {isolation_off!r}")
        if isolation_off:   # e.g. "uid" as root: jobs run as root itself
            warnings.warn(f"Executor(isolation_off={list(isolation_off)!r}): jobs run with weaker isolation than "
                          "docs/executor.md describes (meant for benchmarks only)", RuntimeWarning, stacklevel=2)
        self.timeout, self.memory_mb = float(timeout), int(memory_mb)
        self.output_limit, self.python = int(output_limit), str(python)
        self._pool = _C.Executor(workers, python, list(preload), float(timeout), int(memory_mb), int(output_limit),
                                 warmup, bool(job_namespaces), list(isolation_off), float(worker_grace))

    def result_identity(self) -> List[str]:
        """What, besides the job itself, decides its result: the key part of caches of results (the time and
        memory limits; the output limit and interpreter where they are not the defaults, so that keys made
        before they were part of it stay valid). A result cut at a 100-byte output limit is no result at
        64 KiB."""
        return _identity(self.timeout, self.memory_mb, self.output_limit, self.python)

    def __enter__(self) -> "Executor":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Stops the workers (they exit when their input closes). A batch running on another thread starts no
        new job, ends its running ones with their workers and raises."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.cancel()

    @property
    def network_isolated(self) -> bool:
        return self._live().network_isolated

    @property
    def uid_isolated(self) -> bool:
        """Each job runs as a uid of its own, unprivileged (needs root)."""
        return self._live().uid_isolated

    @property
    def user_namespace(self) -> bool:
        """Without root: each worker is root of a user namespace of its own (where the kernel allows an
        unprivileged user one; not from a chroot), which gives it the network, mount, pid and IPC isolation
        root has; its jobs run as the caller's uid with no capability."""
        return self._live().user_namespace

    @property
    def landlock_abi(self) -> int:
        """Without a private file-system view (no root and no user namespace; as root, a chroot whose / is not
        a mount point): the Landlock ABI version that confines each job
        -- reading only the system's and the interpreter's directories, writing only its own, no /proc, and
        from ABI 6 no signal to any process outside the job; 0 where the kernel lacks Landlock or the workers
        are isolated by namespaces instead."""
        return self._live().landlock_abi

    @property
    def isolation(self) -> Dict[str, bool]:
        """What isolation the workers got, by name: ``network``, ``uid``, ``user_namespace``, ``filesystem``,
        ``pid``, ``memory`` and ``landlock`` (see the properties of the same names and docs/executor.md)."""
        pool = self._live()
        return {"network": pool.network_isolated, "uid": pool.uid_isolated, "user_namespace": pool.user_namespace,
                "filesystem": pool.filesystem_isolated, "pid": pool.pid_isolated, "memory": pool.memory_isolated,
                "landlock": pool.landlock_abi > 0}

    @property
    def filesystem_isolated(self) -> bool:
        """Jobs see every mount read-only except their own directory, on a private tmpfs (needs root, or a user namespace)."""
        return self._live().filesystem_isolated

    @property
    def pid_isolated(self) -> bool:
        """Each job is pid 1 of its own pid namespace and has its own IPC objects: it can signal no process
        outside it, its /proc (the worker's) lists only the worker and the job, and when it ends or is killed
        everything it started dies with it (needs root, or a user namespace)."""
        return self._live().pid_isolated

    @property
    def memory_isolated(self) -> bool:
        """``memory_mb`` is a total for each job's whole process tree (a memory cgroup, as root where the machine
        has one); otherwise it holds per process (RLIMIT_AS)."""
        return self._live().memory_isolated

    def _live(self):
        if self._pool is None:
            raise RuntimeError("this Executor is closed")
        return self._pool

    def run_jobs(self, jobs: List["Job"], progress: Optional[Union[bool, Callable[[int], None]]] = None,
                 on_result: Optional[Callable[[int, ExecResult], None]] = None) -> List[ExecResult]:
        """Runs :class:`Job` objects; results in the same order, exactly one per job. ``on_result(i,
        result)`` is called as each job finishes, and for each job that Ctrl-C (or an exception from a
        callback) ended when it stopped the batch (``sandbox_error``, ``Cancelled``): what a stopped batch
        finished can be kept, though the call then raises. Callbacks run one at a time, on the pool's
        threads."""
        callback, bar = _progress_bar(len(jobs), progress)
        try:
            return self._live().run(jobs, callback, on_result)
        finally:
            if bar is not None:
                bar.close()

    def run(self, programs: Sequence[Program], answer: str = "print", variable: str = "ans", prelude: str = "",
            timeout: Optional[float] = None, memory_mb: Optional[int] = None, progress=None,
            on_result=None) -> List[ExecResult]:
        """Runs programs; each result's ``answer`` is what it printed last (``answer="print"``), the value of
        ``solution()`` ("solution") or of ``variable`` ("variable"). ``on_result``: see :meth:`run_jobs`."""
        if timeout is not None and not timeout > 0:
            raise ValueError(f"timeout must be > 0 seconds, got {timeout}")
        if timeout is not None and timeout > 1e6:   # inf included: deadlines are integer milliseconds
            raise ValueError(f"timeout must be at most 1e6 seconds, got {timeout}")
        _check_sequence("programs", programs)
        jobs = [p if isinstance(p, Job) else
                Job(job_text(p), answer=answer, variable=variable, prelude=job_text(prelude), timeout=timeout or 0.0,
                    memory_mb=memory_mb or 0)
                for p in programs]
        return self.run_jobs(jobs, progress, on_result)

    def run_tests(self, programs: Sequence[Union[str, bytes]], tests: Sequence[Union[str, bytes, Sequence[str]]],
                  timeout: Optional[float] = None, memory_mb: Optional[int] = None, progress=None,
                  setup: Optional[Sequence[str]] = None, split: bool = True, on_result=None) -> List["TestResult"]:
        """Runs each program against its tests (MBPP/HumanEval asserts): ``passed`` says whether every test
        held, ``failing_test`` is the first failing one, ``tests_passed`` each test's verdict (a test is one
        element where ``tests[i]`` is a list, else one assert). Exiting before the tests is a failure.

        Tests of the forms in :mod:`cotnpot.judge` are judged here, outside the job (the job returns the
        values of the calls, never sees the expected values, and cannot forge a verdict); other suites, and
        every suite with ``split=False``, are judged inside the job and say so (``judged_in_process``).
        ``setup``: per program, code the tests need (MBPP's test imports). ``on_result(i, test_result)``:
        as in :meth:`run_jobs`."""
        _check_sequence("programs", programs)
        _check_sequence("tests", tests)
        if len(programs) != len(tests):
            raise ValueError(f"programs and tests must have the same length, got {len(programs)} and {len(tests)}")
        if setup is not None and len(setup) != len(programs):
            raise ValueError(f"setup must have one entry per program, got {len(setup)} for {len(programs)} programs")
        if timeout is not None and not timeout > 0:
            raise ValueError(f"timeout must be > 0 seconds, got {timeout}")
        if timeout is not None and timeout > 1e6:   # inf included: deadlines are integer milliseconds
            raise ValueError(f"timeout must be at most 1e6 seconds, got {timeout}")
        limits = dict(timeout=timeout or 0.0, memory_mb=memory_mb or 0)
        jobs, plans, counts = [], [], []
        for i, (program, suite) in enumerate(zip(programs, tests)):
            listed = not isinstance(suite, (str, bytes))
            items = [_text(t) for t in suite] if listed else [_text(suite)]
            prefix = _text(setup[i]) if setup is not None else ""
            plan = judge.split_tests(items, prefix) if split else None
            if plan is not None and not listed:   # a code block: every assert is one test
                plan.groups = [(j, j + 1) for j in range(len(plan.checks))]
            plans.append(plan)
            counts.append(len(plan.groups) if plan is not None else len(items) if listed else _asserts(items[0]))
            if plan is None:
                jobs.append(Job(job_text(program), kind="tests",
                                tests=job_text("\n".join(([prefix] if prefix else []) + items)), **limits))
            else:
                jobs.append(Job(job_text(_text(program) + "\n" + plan.setup + "\n" + plan.harness()), answer="variable",
                                variable=judge.VALUES_VARIABLE, **limits))
        def verdict(i: int, r: ExecResult) -> "TestResult":
            return TestResult.from_split(r, plans[i]) if plans[i] is not None else TestResult.in_process(r, counts[i])

        each = None if on_result is None else lambda i, r: on_result(i, verdict(i, r))
        raw = self.run_jobs(jobs, progress, each)
        return [verdict(i, r) for i, r in enumerate(raw)]


def _text(x: Union[str, bytes]) -> str:
    return x.decode("utf-8", "replace") if isinstance(x, bytes) else x


def job_text(x: Union[str, bytes]) -> Union[str, bytes]:
    """A program's text as a job carries it (UTF-8, :func:`cotnpot.text_fields.utf8_safe`): a lone surrogate had
    raised a TypeError out of the whole batch."""
    return x if isinstance(x, bytes) else utf8_safe(x)


def _check_sequence(name: str, value) -> None:
    """A str is a sequence too: ``run("print(42)")`` ran nine one-character programs."""
    if isinstance(value, (str, bytes)):
        raise TypeError(f"{name} must be a sequence (one entry per program), got a {type(value).__name__}; "
                        f"for one program pass [program]")


def _asserts(code: str) -> int:
    """The asserts of a test block (each one test), at least 1."""
    import ast
    try:
        return max(1, sum(isinstance(n, ast.Assert) for n in ast.walk(ast.parse(code))))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return 1


@dataclass
class TestResult:
    """One program's test run: the fields of :class:`ExecResult` plus how it was judged."""
    status: str
    passed: bool
    failing_test: str
    error_type: str
    error_message: str
    judged_in_process: bool
    tests_passed: List[bool]          # per test; in process: every test the same (only "all held" is known)
    answer: str = ""
    stdout: str = ""
    stderr: str = ""
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    exit_code: int = -1
    signal: int = 0
    wall_s: float = 0.0
    peak_rss_kb: int = 0
    cpu_s: float = 0.0

    @staticmethod
    def _common(r) -> dict:
        return dict(stdout=r.stdout, stderr=r.stderr, stdout_truncated=r.stdout_truncated,
                    stderr_truncated=r.stderr_truncated, exit_code=r.exit_code, signal=r.signal, wall_s=r.wall_s,
                    peak_rss_kb=r.peak_rss_kb, cpu_s=r.cpu_s)

    @classmethod
    def in_process(cls, r, count: int) -> "TestResult":
        return cls(r.status, r.passed, r.failing_test, r.error_type, r.error_message, True, [r.passed] * count,
                   **cls._common(r))

    @classmethod
    def from_split(cls, r, plan: "judge.SplitTests") -> "TestResult":
        common = cls._common(r)
        if r.status != "ok":   # the program itself failed: no test held
            return cls(r.status, False, "", r.error_type, r.error_message, False, [False] * len(plan.groups),
                       **common)
        if not r.answer:   # exit() or os._exit in the program: the calls never ran
            return cls("error", False, plan.checks[0].line, "NoResult", "the program ended before the tests' calls ran",
                       False, [False] * len(plan.groups), **common)
        values = judge.decode_values(r.answer, len(plan.checks))
        held = [ok and check.holds(value) for check, (ok, value) in zip(plan.checks, values)]
        per_test = [all(held[a:b]) for a, b in plan.groups]
        if all(held):
            return cls("ok", True, "", "", "", False, per_test, **common)
        first = held.index(False)
        ok, value = values[first]
        error_type, message = "AssertionError", ""
        if not ok:   # the call raised, or its value could not be read
            error_type, _, message = str(value).partition(": ") if ": " in str(value) else ("ValueError", "", str(value))
        return cls("error", False, plan.checks[first].line, error_type, message, False, per_test, **common)
