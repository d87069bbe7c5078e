"""Benchmark: per-token log-probs from the last hidden state and the lm_head weight, forward and
forward+backward, time and peak memory, naive PyTorch (hidden @ weight.T -> log_softmax -> gather) against
cotnpot.fused_linear_logprob, each in its own process (peak RSS is per process), one run, one table.

Liger-Kernel's fused linear losses need Triton (a GPU) and Cut Cross-Entropy's are not in this project's
pinned packages yet, so they are not run here (issue 17 keeps them as the anchors to add).

Usage: python benchmarks/bench_fused_linear.py [--n 4096] [--h 1024] [--v 32000]
"""
import argparse
import json
import subprocess
import sys

CHILD = r'''
import json, resource, sys, time, torch, cotnpot
variant, n, h, v, dtype, backward = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6] == "1"
dt = {"fp32": torch.float32, "bf16": torch.bfloat16}[dtype]
torch.manual_seed(0)
hidden = torch.randn(n, h, dtype=dt, requires_grad=backward)
weight = (torch.randn(v, h) / h ** 0.5).to(dt).requires_grad_(backward)
labels = torch.randint(0, v, (n,))
def naive():
    logits = (hidden @ weight.T).float()
    return torch.log_softmax(logits, -1).gather(1, labels[:, None])[:, 0]
def fused():
    return cotnpot.fused_linear_logprob(hidden, weight, labels)
fn = {"naive": naive, "cotnpot": fused}[variant]
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
out = fn()
if backward:
    out.sum().backward()
wall = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"s": wall, "extra_mib": (peak - base) / 1024}))
'''


def run(variant, n, h, v, dtype, backward):
    out = subprocess.run([sys.executable, "-c", CHILD, variant, str(n), str(h), str(v), dtype, str(int(backward))],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=4096)
    parser.add_argument("--h", type=int, default=1024)
    parser.add_argument("--v", type=int, default=32000)
    args = parser.parse_args()
    print(f"N={args.n} H={args.h} V={args.v}; peak RSS growth during the call (MiB), wall time (s)\n")
    print("| dtype | pass | naive s | cotnpot s | naive extra MiB | cotnpot extra MiB | memory |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for dtype in ("fp32", "bf16"):
        for backward in (False, True):
            a = run("naive", args.n, args.h, args.v, dtype, backward)
            b = run("cotnpot", args.n, args.h, args.v, dtype, backward)
            print(f"| {dtype} | {'fwd+bwd' if backward else 'fwd'} | {a['s']:.2f} | {b['s']:.2f} | "
                  f"{a['extra_mib']:.0f} | {b['extra_mib']:.0f} | {100 * b['extra_mib'] / max(a['extra_mib'], 1):.0f}% |")


if __name__ == "__main__":
    main()
