"""Benchmark: per-token log-probs from the last hidden state and the lm_head weight, forward and
forward+backward, time and peak memory, cotnpot.fused_linear_logprob against naive PyTorch and the
anchors of issue 17 (torch.compile, Liger-Kernel, Cut Cross-Entropy), each variant in its own process
(peak RSS is per process), one run, one table.

What each variant computes, from hidden [N, H], weight [V, H] and labels [N] (no bias, no ignored rows);
fwd+bwd is `out.sum().backward()` into both hidden and weight (a loss is -log-prob: same cost);
"fwd+bwd, frozen head" into hidden alone, the weight not requiring grad (LoRA, a frozen lm_head):
  gemm          the floor, no softmax: fwd `hidden @ weight.T`; fwd+bwd also the two gradient GEMMs
                `g @ weight` and `g.T @ hidden` with a given g [N, V] (3 GEMMs, no autograd; frozen
                head: `g @ weight` alone, 2 GEMMs).
  naive         `log_softmax((hidden @ weight.T).float()).gather(labels)`: per-token log-probs, fp32.
  compiled      the same function under `torch.compile` (inductor, CPU, default mode).
  liger         Liger-Kernel's pure-PyTorch chunked selective log-prob, the op under its
                LigerFusedLinearGRPOLoss / PPO losses (liger_kernel.chunked_loss.fused_linear_ppo.
                _ChunkedSelectiveLogProbFunction: 2048 rows x 4096 vocabulary per block, online
                log-sum-exp, backward recomputes the logits and runs its gradient GEMMs in fp32):
                per-token log-probs, fp32. Its chunked_loss module has no plain cross-entropy.
  liger-flce    LigerFusedLinearCrossEntropyLoss(reduction="none"): per-token cross-entropy; a Triton
                kernel, so it needs a GPU.
  cce-compile   cut_cross_entropy.linear_cross_entropy(impl="torch_compile", reduction="none"):
                `F.cross_entropy((e @ c.T).float())` under torch.compile(dynamic=True): per-token loss.
  cce           the same with impl="cce": Cut Cross-Entropy's Triton kernels, so it needs a GPU.
  cotnpot       cotnpot.fused_linear_logprob(hidden, weight, labels): per-token log-probs, fp32.

The timed calls (the best of --repeat, 3 by default; one at --v-large) are warmed up first: the compiled
variants with one call at the full shape (compiling), the others with one call on 64 rows (thread pools,
kernels). "extra" is the peak RSS growth during the first timed call (the peak is reset after the warm-up,
/proc/self/clear_refs), including the output and, for fwd+bwd, the gradients of hidden and weight. A
variant that cannot run here (an error in its process) shows the error's first line in its cell. A row at
--v-large (fp32, fwd+bwd) is for memory; the last rows (fp32, bf16) are the frozen head's fwd+bwd.

Usage: python benchmarks/bench_fused_linear.py [--n 4096] [--h 1024] [--v 32000] [--v-large 152064]
       [--repeat 3] [--variants gemm,naive,...]   (--v-large 0: no large row)
"""
import argparse
import json
import subprocess
import sys

VARIANTS = ("gemm", "naive", "compiled", "liger", "liger-flce", "cce-compile", "cce", "cotnpot")

CHILD = r'''
import ctypes, gc, json, sys, time, torch
variant, n, h, v, dtype, mode, repeat = (sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5],
                                         sys.argv[6], int(sys.argv[7]))
backward, frozen = mode != "fwd", mode == "fwd+bwd, frozen head"
dt = {"fp32": torch.float32, "bf16": torch.bfloat16}[dtype]

def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024  # MiB

try:
    torch.manual_seed(0)
    hidden = torch.randn(n, h, dtype=dt, requires_grad=backward and variant != "gemm")
    weight = (torch.randn(v, h) / h ** 0.5).to(dt).requires_grad_(backward and not frozen and variant != "gemm")
    labels = torch.randint(0, v, (n,))
    if variant == "gemm":
        g = torch.randn(n, v, dtype=dt) if backward else None
        def fn(x, w, y):
            logits = x @ w.T
            if g is not None:
                return (logits, g[:len(x)] @ w) if frozen else (logits, g[:len(x)] @ w, g[:len(x)].T @ x)
            return logits
    elif variant in ("naive", "compiled"):
        def fn(x, w, y):
            return torch.log_softmax((x @ w.T).float(), -1).gather(1, y[:, None])[:, 0]
        if variant == "compiled":
            fn = torch.compile(fn)
    elif variant == "liger":
        from liger_kernel.chunked_loss.fused_linear_ppo import _ChunkedSelectiveLogProbFunction, _SELECTIVE_LOGPROB_VOCAB_CHUNK_SIZE
        def fn(x, w, y):
            return _ChunkedSelectiveLogProbFunction.apply(x, w, y, None, 1.0, _SELECTIVE_LOGPROB_VOCAB_CHUNK_SIZE)
    elif variant == "liger-flce":
        from liger_kernel.transformers import LigerFusedLinearCrossEntropyLoss
        loss = LigerFusedLinearCrossEntropyLoss(reduction="none")
        def fn(x, w, y):
            return loss(w, x, y)
    elif variant in ("cce-compile", "cce"):
        from cut_cross_entropy import linear_cross_entropy
        impl = {"cce-compile": "torch_compile", "cce": "cce"}[variant]
        def fn(x, w, y):
            return linear_cross_entropy(x, w, y, reduction="none", impl=impl)
    else:
        import cotnpot
        def fn(x, w, y):
            return cotnpot.fused_linear_logprob(x, w, y)

    def call(x, y):
        out = fn(x, weight, y)
        if backward and variant != "gemm":
            out.sum().backward()
        return out

    full_warmup = variant in ("compiled", "cce-compile")
    out = call(hidden, labels) if full_warmup else call(hidden[:64].detach().requires_grad_(hidden.requires_grad), labels[:64])
    if variant != "gemm":  # the same numbers as naive in fp32 (a loss is -log-prob) on the first 64 rows
        ref = torch.log_softmax(hidden[:64].detach().float() @ weight.detach().float().T, -1).gather(1, labels[:64, None])[:, 0]
        got = out[:64].detach().float() * (-1 if variant in ("liger-flce", "cce-compile", "cce") else 1)
        err = (got - ref).abs().max().item()
        if not err <= (1e-3 if dtype == "fp32" else 0.1):
            raise AssertionError(f"max |log-prob - reference| = {err:.3g}")
    del out
    hidden.grad = weight.grad = None
    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)  # freed heap pages back to the system, so RSS growth is this call's
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # resets VmHWM, the peak RSS, to the current RSS
    base = status("VmRSS")
    start = time.perf_counter()
    out = call(hidden, labels)
    wall = time.perf_counter() - start
    extra = status("VmHWM") - base   # of the first timed call
    if backward and variant != "gemm" and (hidden.grad is None or (weight.grad is None) != frozen):
        raise AssertionError("no gradient for hidden, or the weight's is not as asked")
    for _ in range(repeat - 1):   # the best of `repeat` calls: one call's time moves with the VM's state
        del out
        hidden.grad = weight.grad = None
        start = time.perf_counter()
        out = call(hidden, labels)
        wall = min(wall, time.perf_counter() - start)
    print(json.dumps({"s": wall, "extra_mib": extra}))
except Exception as e:
    line = (str(e).strip().splitlines() or [""])[0]
    why = "Triton kernel, no GPU here: " if variant in ("liger-flce", "cce") and not torch.cuda.is_available() else ""
    print(json.dumps({"error": f"{why}{type(e).__name__}: {line}"[:90]}))
'''


def run(variant, n, h, v, dtype, mode, repeat):
    proc = subprocess.run([sys.executable, "-c", CHILD, variant, str(n), str(h), str(v), dtype, mode, str(repeat)],
                          capture_output=True, text=True)
    lines = proc.stdout.strip().splitlines()
    if proc.returncode or not lines:
        err = (proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"])[-1]
        return {"error": f"process died ({proc.returncode}): {err}"[:90]}
    return json.loads(lines[-1])


def cell(r, memory=True):
    if "error" in r:
        return "n/a: " + r["error"].replace("|", "/")
    return f"{r['s']:.2f} s, {r['extra_mib']:.0f} MiB" if memory else f"{r['s']:.2f} s"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=4096)
    parser.add_argument("--h", type=int, default=1024)
    parser.add_argument("--v", type=int, default=32000)
    parser.add_argument("--v-large", type=int, default=152064, help="vocabulary of the fp32 fwd+bwd memory row; 0: none")
    parser.add_argument("--repeat", type=int, default=3, help="time: the best of this many calls (the --v rows)")
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated, among " + ", ".join(VARIANTS))
    args = parser.parse_args()
    variants = [x for x in args.variants.split(",") if x]
    unknown = set(variants) - set(VARIANTS)
    if unknown:
        parser.error(f"unknown variants: {', '.join(sorted(unknown))}")
    anchors = [x for x in variants if x != "gemm"]
    rows = [(args.v, dtype, mode) for dtype in ("fp32", "bf16") for mode in ("fwd", "fwd+bwd")]
    if args.v_large:
        rows.append((args.v_large, "fp32", "fwd+bwd"))
    rows += [(args.v, dtype, "fwd+bwd, frozen head") for dtype in ("fp32", "bf16")]

    print(f"N={args.n} H={args.h}; wall time of a warm call, best of {args.repeat} at V={args.v} (s), peak RSS growth "
          f"during the first (MiB); GEMM floor: fwd 1 GEMM, fwd+bwd 3 GEMMs (frozen head: 2)\n")
    print("| V | dtype | pass | " + ("GEMM floor | " if "gemm" in variants else "") + " | ".join(anchors) + " |")
    print("|---:|---|---|" + ("---:|" if "gemm" in variants else "") + "---:|" * len(anchors))
    for v, dtype, mode in rows:
        cells = []
        repeat = args.repeat if v == args.v else 1   # the large row is for memory
        if "gemm" in variants:
            cells.append(cell(run("gemm", args.n, args.h, v, dtype, mode, repeat), memory=False))
        cells += [cell(run(x, args.n, args.h, v, dtype, mode, repeat)) for x in anchors]
        print(f"| {v} | {dtype} | {mode} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
