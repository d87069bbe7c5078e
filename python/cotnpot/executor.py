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
from typing import Callable, List, Optional, Sequence, Union

from ._extension import _C

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


class Executor:
    """A pool of ``workers`` sandboxed Python fork servers (``python``, pre-importing ``preload``).

    ``timeout`` (seconds, wall clock) and ``memory_mb`` (address space) are per-job defaults that a
    :class:`Job` may override; stdout and stderr are each capped at ``output_limit`` bytes. ``warmup``:
    Python each worker runs once before any job, so that lazy imports and caches it fills are shared by
    every job's fork instead of being rebuilt in each (an error in it stops the worker from starting). Use it as a
    context manager, or call :meth:`close`.
    """

    def __init__(self, workers: int = 2, timeout: float = 5.0, memory_mb: int = 512, python: str = "/usr/bin/python3",
                 preload: Sequence[str] = ("math", "fractions", "itertools", "collections", "re"),
                 output_limit: int = 64 * 1024, warmup: str = ""):
        if not timeout > 0:
            raise ValueError(f"timeout must be > 0 seconds, got {timeout}")
        if timeout is not None and timeout > 1e6:   # inf included: deadlines are integer milliseconds
            raise ValueError(f"timeout must be at most 1e6 seconds, got {timeout}")
        self.timeout, self.memory_mb = float(timeout), int(memory_mb)
        self._pool = _C.Executor(workers, python, list(preload), float(timeout), int(memory_mb), int(output_limit),
                                 warmup)

    def __enter__(self) -> "Executor":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Stops the workers (they exit when their input closes)."""
        self._pool = None

    @property
    def network_isolated(self) -> bool:
        return self._live().network_isolated

    @property
    def uid_isolated(self) -> bool:
        return self._live().uid_isolated

    @property
    def filesystem_isolated(self) -> bool:
        """Jobs see every mount read-only except their own directory, on a private tmpfs (needs root)."""
        return self._live().filesystem_isolated

    def _live(self):
        if self._pool is None:
            raise RuntimeError("this Executor is closed")
        return self._pool

    def run_jobs(self, jobs: List["Job"], progress: Optional[Union[bool, Callable[[int], None]]] = None) -> List[ExecResult]:
        """Runs :class:`Job` objects; results in the same order, exactly one per job."""
        callback, bar = _progress_bar(len(jobs), progress)
        try:
            return self._live().run(jobs, callback)
        finally:
            if bar is not None:
                bar.close()

    def run(self, programs: Sequence[Program], answer: str = "print", variable: str = "ans", prelude: str = "",
            timeout: Optional[float] = None, memory_mb: Optional[int] = None, progress=None) -> List[ExecResult]:
        """Runs programs; each result's ``answer`` is what it printed last (``answer="print"``), the value of
        ``solution()`` ("solution") or of ``variable`` ("variable")."""
        if timeout is not None and not timeout > 0:
            raise ValueError(f"timeout must be > 0 seconds, got {timeout}")
        if timeout is not None and timeout > 1e6:   # inf included: deadlines are integer milliseconds
            raise ValueError(f"timeout must be at most 1e6 seconds, got {timeout}")
        jobs = [p if isinstance(p, Job) else
                Job(p, answer=answer, variable=variable, prelude=prelude, timeout=timeout or 0.0, memory_mb=memory_mb or 0)
                for p in programs]
        return self.run_jobs(jobs, progress)

    def run_tests(self, programs: Sequence[Union[str, bytes]], tests: Sequence[Union[str, bytes]],
                  timeout: Optional[float] = None, memory_mb: Optional[int] = None, progress=None) -> List[ExecResult]:
        """Runs each program followed by its test code (MBPP/HumanEval asserts): ``passed`` says whether every
        assertion held, ``failing_test`` is the first failing line. Exiting before the tests is a failure."""
        if len(programs) != len(tests):
            raise ValueError(f"programs and tests must have the same length, got {len(programs)} and {len(tests)}")
        if timeout is not None and not timeout > 0:
            raise ValueError(f"timeout must be > 0 seconds, got {timeout}")
        if timeout is not None and timeout > 1e6:   # inf included: deadlines are integer milliseconds
            raise ValueError(f"timeout must be at most 1e6 seconds, got {timeout}")
        jobs = [Job(p, kind="tests", tests=t, timeout=timeout or 0.0, memory_mb=memory_mb or 0)
                for p, t in zip(programs, tests)]
        return self.run_jobs(jobs, progress)
