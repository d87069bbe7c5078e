"""Logits far from zero (~1e3-3e4: a large bias, an unnormalized head): every log-prob form keeps the
accuracy of log_softmax there, values and gradients, against float64 on the same inputs.

The forms had returned lse = max + log(sum) rounded to float, off by half the logits' ulp (2.4e-4 near 1e4,
where torch's own float32 error is ~6e-7), and every log-prob and softmax value computed from it inherited
that: a confident token's label gradient g * (1 - p) came out with the wrong sign. The lse is float64 now,
and the label's gradient is -g * expm1(logp) in double."""
import pytest
import torch

import cotnpot
from cotnpot._cpu import fused_bf16_gemms

COMPOSITE = torch._C.DispatchKeySet(torch._C.DispatchKey.CompositeExplicitAutograd)
OFFSETS = [1e3, 1e4, 3e4, -1e4]


def large_logits(offset, dtype, seed=0):
    """[3, 5, 700] logits around `offset`, half the positions' labels a confident token (p near 1)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(3, 5, 700, generator=g, dtype=torch.float64) * 3 + offset
    labels = torch.randint(0, 700, (3, 5), generator=g)
    labels[:, ::2] = 9
    x[..., 9] += 14
    labels[1, 3] = -100
    return x.to(dtype), labels


def reference(x, labels, grad_out):
    """float64 log_softmax on the same (rounded) logits: the log-probs and d(sum grad_out * logp)/dx."""
    x64 = x.double().requires_grad_()
    valid = labels != -100
    picked = torch.log_softmax(x64, -1).gather(-1, labels.clamp_min(0)[..., None])[..., 0]
    logp = torch.where(valid, picked, torch.zeros_like(picked))
    (grad,) = torch.autograd.grad((logp * grad_out.double()).sum(), x64)
    return logp.detach(), grad


def check(logp, grad, x, labels, grad_out, grad_rtol):
    want_logp, want_grad = reference(x, labels, grad_out)
    # float32's own error at these values is ~1e-6 (torch's log_softmax: 6e-7); the float lse was off by 2.4e-4
    torch.testing.assert_close(logp.double(), want_logp, rtol=0, atol=1e-5)
    # atol 1e-6: the confident labels' g * (1 - p), 1 - p ~ 1e-4..1e-3, within ~1% (the float lse: the wrong sign)
    torch.testing.assert_close(grad.double(), want_grad, rtol=grad_rtol, atol=1e-6)


@pytest.mark.parametrize("offset", OFFSETS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_token_logprob_cpu_kernels(offset, dtype):
    x, labels = large_logits(offset, dtype)
    grad_out = torch.randn(labels.shape, generator=torch.Generator().manual_seed(1))
    leaf = x.clone().requires_grad_()
    logp = cotnpot.token_logprob(leaf, labels)
    (grad,) = torch.autograd.grad((logp * grad_out).sum(), leaf)
    # bf16 gradients are rounded to bf16 (relative 2^-9)
    check(logp, grad, x, labels, grad_out, grad_rtol=1e-4 if dtype == torch.float32 else 4e-3)


@pytest.mark.parametrize("offset", OFFSETS)
def test_token_logprob_cpu_kernel_in_float64(offset):
    """float64 logits (gradcheck's and ground truth's dtype): the log-prob as (x[y] - max) - log(sum), as
    log_softmax computes it; x[y] - lse had lost ~1e-12 near 1e4 (a reviewer)."""
    x, labels = large_logits(offset, torch.float64)
    valid = labels != -100
    want = torch.log_softmax(x, -1).gather(-1, labels.clamp_min(0)[..., None])[..., 0]
    got = cotnpot.token_logprob(x, labels)
    torch.testing.assert_close(got[valid], want[valid], rtol=0, atol=1e-14)


@pytest.mark.parametrize("offset", OFFSETS)
def test_token_logprob_composite_kernels(offset):
    """The device-generic kernels (CUDA's fallback), through the dispatcher on CPU tensors."""
    x, labels = large_logits(offset, torch.float32)
    grad_out = torch.randn(labels.shape, generator=torch.Generator().manual_seed(1))
    logp, lse = torch.ops.cotnpot._token_logprob_forward.default.redispatch(COMPOSITE, x, labels, -100, False)
    grad = torch.ops.cotnpot._token_logprob_backward.default.redispatch(COMPOSITE, grad_out, x, labels, lse, -100,
                                                                        False)
    assert lse.dtype == torch.float64
    check(logp, grad, x, labels, grad_out, grad_rtol=1e-4)


@pytest.mark.parametrize("offset", OFFSETS)
@pytest.mark.parametrize("shift", [False, True])
def test_sequence_logprob_keeps_the_accuracy(offset, shift):
    x, labels = large_logits(offset, torch.float32)
    scored = labels[:, 1:] if shift else labels
    want, _ = reference(x[:, :-1] if shift else x, scored, torch.ones(scored.shape))
    got = cotnpot.sequence_logprob(x, labels, shift=shift)
    torch.testing.assert_close(got.double(), want.sum(-1), rtol=0, atol=4e-5)


def dyadic(shape, generator):
    """Multiples of 1/8 in [-1, 1]: every product and sum of the GEMMs below is exact in float32, whatever
    the order of its blocks, so the logits are known exactly."""
    return torch.randint(-8, 9, shape, generator=generator, dtype=torch.float64) / 8


@pytest.mark.parametrize("offset", [1e4, -3e4])
@pytest.mark.parametrize("dtype,frozen,gemms", [(torch.float32, False, ""), (torch.float32, True, ""),
                                                (torch.bfloat16, False, "1"), (torch.bfloat16, False, "0"),
                                                (torch.float16, False, ""), (torch.float64, False, "")])
def test_fused_linear_logprob_with_large_logits(offset, dtype, frozen, gemms, monkeypatch):
    """The CPU form (fp32, bf16; the frozen head's too) and the composite form (fp16, fp64), in blocks of 7
    rows x 64 tokens. Column 0 of hidden and weight puts every logit near `offset` (100 * offset / 100, exact);
    the even rows' label, token 5, is confident."""
    monkeypatch.setenv("COTNPOT_FUSED_BF16_GEMMS", gemms)   # bf16: both forms, bf16 GEMMs or float32 copies
    g = torch.Generator().manual_seed(2)
    N, H, V = 20, 16, 300
    h64, w64 = dyadic((N, H), g), dyadic((V, H), g)
    w64[5, 1:] *= 4
    h64[::2, 1:] = w64[5, 1:] / 4
    h64[:, 0], w64[:, 0] = 100.0, offset / 100
    # no bias for bf16: whether a bf16 addmm adds it before or after rounding is the GEMM library's choice
    b64 = None if dtype == torch.bfloat16 else dyadic((V,), g)
    labels = torch.randint(0, V, (N,), generator=g)
    labels[::2] = 5
    hidden = h64.to(dtype).requires_grad_()
    weight = w64.to(dtype).requires_grad_(not frozen)
    bias = None if b64 is None else b64.to(dtype).requires_grad_(not frozen)
    got = cotnpot.fused_linear_logprob(hidden, weight, labels, bias, row_block=7, vocab_block=64)
    grad_out = torch.randn(N, generator=g, dtype=torch.float64)
    wrt = [t for t in (hidden, weight, bias) if t is not None and t.requires_grad]
    grads = torch.autograd.grad((got * grad_out.to(got.dtype)).sum(), wrt)

    # float64 reference on the logits as the op computes them: exact; 16-bit ones rounded by the GEMM, and fp16's
    # (the composite form: a GEMM, then the bias, each in the dtype) again by the bias's addition. The roundings
    # pass gradients through unchanged.
    ref = [t.clone().requires_grad_() for t in (h64, w64, b64) if t is not None]

    # (bf16's only where its GEMMs run in bf16: on a CPU without bf16 instructions they take float32 copies)
    rounds = dtype == torch.float16 or (dtype == torch.bfloat16 and fused_bf16_gemms())

    def rounded(t):
        return t + (t.to(dtype).double() - t).detach() if rounds else t

    logits = rounded(ref[0] @ ref[1].T)
    if b64 is not None:
        logits = rounded(logits + ref[2])
    want = torch.log_softmax(logits, -1).gather(1, labels[:, None])[:, 0]
    want_grads = torch.autograd.grad((want * grad_out).sum(), ref[:len(wrt)])
    # float32's own error at these values is ~1e-6; the float lse was off by 2.4e-4 near 1e4
    torch.testing.assert_close(got.double(), want.detach(), rtol=0, atol=1e-12 if dtype == torch.float64 else 1e-5)
    if dtype == torch.float64:
        for got_grad, want_grad in zip(grads, want_grads):
            scale = want_grad.abs().max()
            torch.testing.assert_close(got_grad / scale, want_grad / scale, rtol=0, atol=1e-9)
        return
    # Gradients: no worse than twice the naive path's error in the same dtype. Hidden's column 0 is 100 * the
    # sum of a row's gradient, which cancels to ~0 exactly and not in floats, whatever the order of the sums
    # (plain float32 log_softmax: 3.2e-5 of the largest gradient here). bf16 gradients pass through bf16 GEMMs
    # (gemms "1"), each row block's product rounded once (3 blocks here, the naive product once in all): one ulp
    # more; with float32 copies (gemms "0") they are rounded once, at the end.
    naive_all = [t.detach().clone().requires_grad_(t.requires_grad) for t in (hidden, weight, bias) if t is not None]
    naive_logits = naive_all[0] @ naive_all[1].T + (naive_all[2] if len(naive_all) > 2 else 0)
    naive_in = [t for t in naive_all if t.requires_grad]
    naive = torch.log_softmax(naive_logits.float(), -1).gather(1, labels[:, None])[:, 0]
    naive_grads = torch.autograd.grad((naive * grad_out.float()).sum(), naive_in)
    slack = 1e-6 if dtype == torch.float32 else 2 ** -8
    for got_grad, naive_grad, want_grad in zip(grads, naive_grads, want_grads):
        scale = want_grad.abs().max()
        naive_error = (naive_grad.double() - want_grad).abs().max() / scale
        assert (got_grad.double() - want_grad).abs().max() / scale <= 2 * naive_error + slack
