"""What this CPU computes fast: whether a bfloat16 matmul is worth choosing over a float32 one.

torch's CPU bfloat16 GEMM is fast where the CPU has bf16 dot products (x86's AVX512_BF16 or AMX). On an
AVX2 machine it falls back to a scalar loop: on a 2-core AVX2 AMD EPYC a 512 x 512 bf16 matmul took
306 ms against 4.7 ms in float32 (65x), and a tiny Llama's bf16 autocast training step ran about as much
slower. Code that autocasts for speed asks here first. The reading is the C++ fused log-prob's
(fused_linear_cpu.cpp: bf16_gemm_is_fast), and as conservative: other CPUs count as slow.
"""
import functools
import os

import torch


@functools.lru_cache(maxsize=None)
def cpu_has_fast_bf16() -> bool:
    """True where the CPU has x86's bfloat16 dot-product instructions (AVX512_BF16 or AMX-BF16)."""
    try:
        capabilities = torch._C._cpu._get_cpu_capability()   # torch's cpuinfo reading (2.x)
    except AttributeError:                                     # an older torch: its narrower probes
        cpu = getattr(torch, "cpu", None)
        probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
        return any(bool(getattr(cpu, p, lambda: False)()) for p in probes)
    return any(bool(capabilities.get(key, False)) for key in ("avx512_bf16", "amx_bf16"))


def fused_bf16_gemms() -> bool:
    """Whether the fused log-prob's CPU form multiplies bf16 inputs' blocks in bf16 (else as float32 copies):
    where the CPU has bf16 instructions, unless ``COTNPOT_FUSED_BF16_GEMMS`` is ``1`` or ``0``, which choose
    (read at each call, as the C++ side does: the tests run both forms on any CPU)."""
    choice = os.environ.get("COTNPOT_FUSED_BF16_GEMMS", "")[:1]
    return choice == "1" if choice in ("0", "1") else cpu_has_fast_bf16()


def fast_bf16(device: torch.device) -> bool:
    """Whether bfloat16 autocast speeds up matmuls on ``device``: CUDA devices of compute capability 8.0 and
    above (Ampere) and CPUs with bf16 instructions."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.get_device_capability(device)[0] >= 8
    return device.type == "cpu" and cpu_has_fast_bf16()
