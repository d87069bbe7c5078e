"""Benchmark: cotnpot.sequence_logprob vs naive PyTorch (log_softmax + gather), forward and forward+backward.

Prints one markdown table, every number measured in this run:
- time (median of repeats) under glibc's default allocator and under a warm one
  (MALLOC_MMAP_THRESHOLD_/MALLOC_TRIM_THRESHOLD_ raised, so freed memory is reused instead of
  page-faulted in again); each allocator runs in its own process, since glibc reads these at start-up;
- speed-up = naive time / cotnpot time, measured in the same process;
- "% of read BW": the logits' bytes over cotnpot's forward time, against the bandwidth of
  `logits.amax(-1)` on the same tensor (a streaming read: the limit for a one-pass op; for bf16 the
  faster of that and the same bytes read as int16, since PyTorch's bf16 amax is not bandwidth-bound);
- peak extra memory: the rise of the process's peak RSS over the inputs while the op runs, each case
  in a fresh process.

Usage: python benchmarks/bench_logprob.py [--rows 4096] [--vocab 32000] [--repeats 5]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import torch

import cotnpot

WARM_ALLOCATOR = {"MALLOC_MMAP_THRESHOLD_": "4294967296", "MALLOC_TRIM_THRESHOLD_": "68719476736"}
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}
METHODS = ("naive", "cotnpot")
PASSES = ("fwd", "fwd+bwd")


def naive_logprob(logits, labels):
    return torch.gather(logits.log_softmax(-1), 2, labels.unsqueeze(2)).squeeze(2).float().sum(-1)


def cotnpot_logprob(logits, labels):
    return cotnpot.sequence_logprob(logits, labels)


FUNCTIONS = {"naive": naive_logprob, "cotnpot": cotnpot_logprob}


def make_inputs(rows, vocab, dtype):
    generator = torch.Generator().manual_seed(0)
    logits = (torch.randn(4, rows // 4, vocab, generator=generator) * 3).to(dtype)
    labels = torch.randint(vocab, (4, rows // 4), generator=generator)
    return logits, labels


def run_once(method, pass_, logits, labels):
    if pass_ == "fwd":
        with torch.no_grad():
            FUNCTIONS[method](logits, labels)
    else:
        logits.grad = None
        FUNCTIONS[method](logits, labels).sum().backward()


def median_seconds(fn, repeats):
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def worker_times(args):
    """All timings under the allocator this process was started with."""
    out = {}
    for name, dtype in DTYPES.items():
        logits, labels = make_inputs(args.rows, args.vocab, dtype)
        # PyTorch's bfloat16 amax is slow; the same bytes read as int16 give the machine's real limit.
        reads = [lambda: logits.amax(-1)] + ([lambda: logits.view(torch.int16).amax(-1)] if dtype != torch.float32 else [])
        out[f"{name}/read"] = min(median_seconds(read, args.repeats) for read in reads)
        leaf = logits.clone().requires_grad_()
        for method in METHODS:
            for pass_ in PASSES:
                x = logits if pass_ == "fwd" else leaf
                out[f"{name}/{method}/{pass_}"] = median_seconds(lambda: run_once(method, pass_, x, labels),
                                                                 args.repeats)
        del leaf
    return out


def status_kib(field):
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def worker_memory(args):
    """Peak extra resident memory of one case, in a fresh process."""
    name, method, pass_ = args.case.split("/")
    logits, labels = make_inputs(args.rows, args.vocab, DTYPES[name])
    if pass_ == "fwd+bwd":
        logits.requires_grad_()
    baseline = status_kib("VmRSS")
    with open("/proc/self/clear_refs", "w") as refs:  # "5" resets the peak RSS to the current RSS
        refs.write("5")
    run_once(method, pass_, logits, labels)
    return {"peak_extra_mib": (status_kib("VmHWM") - baseline) / 1024}


def spawn(extra_args, env_extra):
    env = {**os.environ, **env_extra}
    cmd = [sys.executable, __file__, *extra_args]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=4096, help="B*T positions (B = 4)")
    parser.add_argument("--vocab", type=int, default=32000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--worker", choices=["times", "memory"], help=argparse.SUPPRESS)
    parser.add_argument("--case", help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)

    if args.worker == "times":
        print(json.dumps(worker_times(args)))
        return
    if args.worker == "memory":
        print(json.dumps(worker_memory(args)))
        return

    common = ["--rows", str(args.rows), "--vocab", str(args.vocab), "--repeats", str(args.repeats)]
    print(f"sequence_logprob benchmark: B*T = {args.rows}, V = {args.vocab}, {torch.get_num_threads()} threads, "
          f"torch {torch.__version__}, cotnpot {cotnpot.__version__} ({cotnpot._C.cpu_isa()} kernels)", flush=True)
    default = spawn(["--worker", "times", *common], {})
    warm = spawn(["--worker", "times", *common], WARM_ALLOCATOR)
    memory = {f"{n}/{m}/{p}": spawn(["--worker", "memory", "--case", f"{n}/{m}/{p}", *common], {})["peak_extra_mib"]
              for n in DTYPES for m in METHODS for p in PASSES}

    print()
    print("| dtype | pass | naive ms (default alloc) | cotnpot ms (default alloc) | speed-up | "
          "naive ms (warm alloc) | cotnpot ms (warm alloc) | speed-up | cotnpot % of read BW (warm) | "
          "peak extra MiB naive | peak extra MiB cotnpot | memory ratio |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, dtype in DTYPES.items():
        nbytes = args.rows * args.vocab * torch.finfo(dtype).bits // 8
        for pass_ in PASSES:
            key = lambda method: f"{name}/{method}/{pass_}"  # noqa: E731
            nd, cd = default[key("naive")], default[key("cotnpot")]
            nw, cw = warm[key("naive")], warm[key("cotnpot")]
            bandwidth = f"{100 * warm[f'{name}/read'] / cw:.0f}%" if pass_ == "fwd" else "-"
            mn, mc = memory[key("naive")], memory[key("cotnpot")]
            ratio = f"{mn / mc:.0f}x less" if mc > 0.5 else "~0 MiB"
            print(f"| {name} | {pass_} | {1e3 * nd:.1f} | {1e3 * cd:.1f} | {nd / cd:.1f}x | {1e3 * nw:.1f} | "
                  f"{1e3 * cw:.1f} | {nw / cw:.1f}x | {bandwidth} | {mn:.0f} | {mc:.0f} | {ratio} |")
    print()
    for name, dtype in DTYPES.items():
        nbytes = args.rows * args.vocab * torch.finfo(dtype).bits // 8
        print(f"read bandwidth of the logits (amax), {name}: {nbytes / default[f'{name}/read'] / 1e9:.1f} GB/s "
              f"(default alloc), {nbytes / warm[f'{name}/read'] / 1e9:.1f} GB/s (warm alloc)")


if __name__ == "__main__":
    main()
