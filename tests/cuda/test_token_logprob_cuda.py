"""cotnpot's CUDA kernels of the log-prob ops (cpp/cotnpot/logprob/cuda/): built into every CUDA build of
the library (the first test runs everywhere), and run against the float64 reference on a GPU when there
is one (the others skip, saying so, on machines without)."""
import pytest
import torch

import cotnpot
from cotnpot import reference
from cotnpot._build_info import BUILD_DIR  # noqa: F401  (the build this package came from)

OPS = ("cotnpot::_token_logprob_forward", "cotnpot::_token_logprob_backward")
gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU on this machine: the kernels are "
                                                             "built and registered (tested), not run")


@pytest.mark.skipif(torch.version.cuda is None, reason="torch is not a CUDA build: no CUDA kernels to build")
def test_the_cuda_kernels_are_built_and_registered():
    for op in OPS:
        assert torch._C._dispatch_has_kernel_for_dispatch_key(op, "CUDA"), op
    # The fused op's CUDA form is not a dispatch-key kernel but a form the library installs as it loads
    # (cuda/fused_linear_cuda.cpp); without it CUDA tensors would silently run the ATen composite.
    from cotnpot._extension import _C
    assert _C.has_cuda_fused_form()


def cases():
    # (dtype, forward tolerance, gradient tolerance) against the float64 reference on the same (rounded)
    # inputs: the log-probs are float32 (float64) whatever the input dtype; 16-bit gradients are rounded once.
    return [(torch.float32, 1e-5, 1e-5), (torch.float64, 1e-12, 1e-12), (torch.bfloat16, 1e-5, 1e-2),
            (torch.float16, 1e-5, 1e-3)]


def compare(logits, labels, shift, tol, grad_tol, transpose=False):
    x = logits.cuda()
    if transpose:   # the vocabulary dimension not dense (stride > 1): the glue makes it so
        x = x.transpose(1, 2).contiguous().transpose(1, 2)
        assert x.stride(2) != 1
    x.requires_grad_()
    got = cotnpot.token_logprob(x, labels.cuda(), shift=shift)
    xr = logits.double().requires_grad_()
    want = reference.token_logprob(xr, labels, shift=shift)
    torch.testing.assert_close(got.double().cpu(), want.detach(), rtol=tol, atol=tol, equal_nan=True)
    weights = torch.randn(want.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    got_grad, = torch.autograd.grad((got.double() * weights.cuda()).sum(), x)
    want_grad, = torch.autograd.grad((want * weights).sum(), xr)
    # the reference's log_softmax backward gives 0 * NaN at an ignored position holding inf: it is 0
    ignored = (labels[:, 1:] if shift else labels) == -100
    rows = torch.nn.functional.pad(ignored, (0, 1), value=True) if shift else ignored
    want_grad[rows] = 0.0
    assert torch.isfinite(got_grad[rows.cuda()]).all() and (got_grad[rows.cuda()] == 0).all()
    torch.testing.assert_close(got_grad.double().cpu(), want_grad, rtol=grad_tol, atol=grad_tol * 0.1,
                               equal_nan=True)


@gpu
@pytest.mark.parametrize("dtype, tol, grad_tol", cases())
@pytest.mark.parametrize("shift", [False, True])
@pytest.mark.parametrize("vocab", [7, 1000, 32003])
def test_forward_and_backward_equal_the_reference(dtype, tol, grad_tol, shift, vocab):
    g = torch.Generator().manual_seed(vocab)
    logits = (torch.randn(3, 9, vocab, generator=g) * 4).to(dtype)
    labels = torch.randint(vocab, (3, 9), generator=g)
    labels[0, 2:5] = -100
    labels[2, :] = -100
    logits[0, 3, :] = float("inf")   # an ignored position holding inf: no NaN anywhere
    logits[1, 4, 0] = 1e4 if dtype != torch.float16 else 6e4
    logits[1, 6, vocab // 2] = float("inf")   # a scored row holding +inf: NaN, as log_softmax gives (not -inf)
    logits[1, 7, :vocab // 2 + 1] = float("-inf")   # masked tokens in a scored row (shift or not), labels unmasked
    labels[1, 7:9] = torch.randint(vocab // 2 + 1, vocab, (2,), generator=g)
    compare(logits, labels, shift, tol, grad_tol)


@gpu
def test_many_rows_transposed_logits_and_nan_logits():
    """More rows than blocks (the grid-stride loop, shared memory reused across rows, ignored rows between
    scored ones), logits whose vocabulary dimension is not dense, and a NaN logit that must stay NaN
    wherever it sits in its row (it used to vanish at some positions of the block's reduction)."""
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(1, 70000, 8, generator=g)
    labels = torch.randint(8, (1, 70000), generator=g)
    labels[0, ::3] = -100
    compare(logits, labels, True, 1e-5, 1e-5)
    compare(torch.randn(5, 4, 33, generator=g), torch.randint(33, (5, 4), generator=g), False, 1e-5, 1e-5,
            transpose=True)
    for vocab, where in ((7, 3), (1000, 500), (1000, 511), (1000, 999), (40000, 12345)):
        x = torch.randn(1, 1, vocab, generator=g)
        x[0, 0, where] = float("nan")
        lp = cotnpot.token_logprob(x.cuda(), torch.zeros(1, 1, dtype=torch.long, device="cuda"))
        assert torch.isnan(lp).all(), (vocab, where)


@gpu
def test_strided_logits_empty_batches_and_the_cpu_kernel_agree():
    logits = torch.randn(2, 6, 50, dtype=torch.float32)
    labels = torch.randint(50, (2, 6))
    cpu = cotnpot.sequence_logprob(logits[:, :5], labels[:, :5], reduction="mean", shift=True)
    cuda = cotnpot.sequence_logprob(logits.cuda()[:, :5], labels.cuda()[:, :5], reduction="mean", shift=True)
    torch.testing.assert_close(cuda.cpu(), cpu, rtol=1e-5, atol=1e-6)
    empty = cotnpot.token_logprob(torch.randn(0, 4, 10, device="cuda"), torch.zeros(0, 4, dtype=torch.long,
                                                                                  device="cuda"))
    assert empty.shape == (0, 4)


@gpu
def test_a_bad_label_is_a_device_side_assert_in_a_child_process():
    """An out-of-range label stops the kernel (as ATen's gather does); a fresh process, since a device-side
    assert poisons the CUDA context of the process that hit it."""
    import subprocess
    import sys
    code = ("import torch, cotnpot\n"
            "x = torch.randn(1, 3, 10, device='cuda')\n"
            "y = torch.tensor([[1, 99, 2]], device='cuda')\n"
            "cotnpot.token_logprob(x, y); torch.cuda.synchronize()\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and "labels must be in [0, V)" in (result.stderr + result.stdout)


def relative_error(got, want):
    return ((got.double().cpu() - want).norm() / want.norm().clamp_min(1e-30)).item()


# (dtype, forward atol, gradients' relative error in norm): 16-bit block logits are rounded once (their
# log-probs off by about a rounding of the logits), the float32 and float64 forms only by accumulation.
FUSED_CASES = [(torch.float32, 1e-4, 1e-5), (torch.float64, 1e-10, 1e-10), (torch.bfloat16, 6e-2, 2e-2),
               (torch.float16, 1.5e-2, 3e-3)]


def fused_case(dtype, with_bias, n=300, vocab=5000, width=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    hidden = torch.randn(n, width, generator=g).to(dtype)
    weight = (torch.randn(vocab, width, generator=g) * 0.3).to(dtype)
    bias = (torch.randn(vocab, generator=g) * 0.1).to(dtype) if with_bias else None
    labels = torch.randint(vocab, (n,), generator=g)
    labels[::7] = -100
    labels[5] = vocab - 1   # the last column of the last (partial) vocabulary block
    return hidden, weight, bias, labels


def fused_reference(hidden, weight, bias, labels):
    """float64, with the ignored rows' hidden states zeroed (they may hold inf or NaN)."""
    refs = [hidden.double().masked_fill((labels == -100)[:, None], 0.0), weight.double()]
    refs += [bias.double()] if bias is not None else []
    refs = [r.requires_grad_() for r in refs]
    logits = refs[0] @ refs[1].T + (refs[2] if bias is not None else 0)
    want = torch.log_softmax(logits, -1).gather(1, labels.clamp_min(0)[:, None])[:, 0] * (labels != -100)
    return want, refs


def check_fused(hidden, weight, bias, labels, tol, grad_tol, **blocks):
    params = [hidden.cuda(), weight.cuda()] + ([bias.cuda()] if bias is not None else [])
    params = [p.requires_grad_() for p in params]
    got = cotnpot.fused_linear_logprob(params[0], params[1], labels.cuda(),
                                       bias=params[2] if bias is not None else None, **blocks)
    want, refs = fused_reference(hidden, weight, bias, labels)
    torch.testing.assert_close(got.double().cpu(), want.detach(), rtol=0, atol=tol)
    weights = torch.randn(len(labels), generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    grads = torch.autograd.grad((got.double() * weights.cuda()).sum(), params)
    wants = torch.autograd.grad((want * weights).sum(), refs)
    for name, got_grad, want_grad in zip(("hidden", "weight", "bias"), grads, wants):
        assert torch.isfinite(got_grad).all(), name
        assert (got_grad[(labels == -100).cuda()] == 0).all() if name == "hidden" else True
        assert relative_error(got_grad, want_grad) < grad_tol, (name, relative_error(got_grad, want_grad))


@gpu
@pytest.mark.parametrize("dtype, tol, grad_tol", FUSED_CASES)
@pytest.mark.parametrize("with_bias", [False, True])
def test_fused_linear_logprob_on_cuda_equals_the_naive_reference(dtype, tol, grad_tol, with_bias):
    """The fused hidden x lm_head op on CUDA: blocks of cuBLAS GEMMs, each read once by the epilogue kernels
    (cuda/fused_linear_kernels.cu); blocks that divide neither N nor V, ignored rows holding inf and NaN."""
    hidden, weight, bias, labels = fused_case(dtype, with_bias)
    hidden[7] = float("inf")   # ignored rows: no NaN anywhere
    hidden[14] = float("nan")
    check_fused(hidden, weight, bias, labels, tol, grad_tol, row_block=128, vocab_block=1024)


@gpu
def test_fused_linear_logprob_on_cuda_runs_the_epilogue_kernels_over_more_rows_than_blocks():
    """The CUDA form is the one that runs (not the ATen composite: its kernels show in the profile), and
    its grid-stride loops cover more rows than the grid's 65,535 blocks."""
    from torch.profiler import ProfilerActivity, profile
    hidden, weight, bias, labels = fused_case(torch.float32, False, n=70_000, vocab=5, width=8, seed=2)
    labels[1::3] = -100
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        check_fused(hidden, weight, bias, labels, 1e-4, 1e-5, row_block=70_000, vocab_block=4)
        torch.cuda.synchronize()
    names = " ".join(e.name for e in prof.events())
    assert "block_forward_kernel" in names and "block_backward_kernel" in names, names[:2000]


@gpu
def test_the_current_stream_is_used():
    """The kernels launch on torch's current stream. The side stream sleeps, then writes the inputs: a kernel
    on the default stream (torch's streams do not wait for it, nor it for them) would read the zeros they held
    before. (The earlier form of this test could not fail: copies from pageable memory are synchronous, and
    the comparison ran after the stream had finished; a reviewer.)"""
    g = torch.Generator().manual_seed(5)
    logits, labels = torch.randn(4, 16, 300, generator=g), torch.randint(300, (4, 16), generator=g)
    want = reference.token_logprob(logits.double(), labels, shift=True)
    hidden, weight, bias, fused_labels = fused_case(torch.float32, True, n=200, vocab=700, width=32)
    fused_want, _ = fused_reference(hidden, weight, bias, fused_labels)
    sources = [t.cuda() for t in (logits, hidden)]
    inputs = [torch.zeros_like(t) for t in sources]
    labels, fused_labels, weight, bias = labels.cuda(), fused_labels.cuda(), weight.cuda(), bias.cuda()
    torch.cuda.synchronize()
    stream = torch.cuda.Stream()
    with torch.cuda.stream(stream):
        torch.cuda._sleep(200_000_000)   # ~0.1 s of GPU cycles before the inputs are written
        for target, source in zip(inputs, sources):
            target.copy_(source)
        got = cotnpot.token_logprob(inputs[0], labels, shift=True)
        fused = cotnpot.fused_linear_logprob(inputs[1], weight, fused_labels, bias=bias, row_block=64,
                                             vocab_block=256)
    stream.synchronize()
    torch.testing.assert_close(got.double().cpu(), want, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(fused.double().cpu(), fused_want.detach(), rtol=0, atol=1e-4)


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs two CUDA GPUs: tensors on cuda:1 while cuda:0 "
                                                           "is current")
def test_tensors_on_another_device_than_the_current_one():
    """Under cuda:0 as the current device, tensors on cuda:1: the kernels run there (a CUDAGuard). A stream
    context would switch the current device itself, so none is used (a reviewer)."""
    g = torch.Generator().manual_seed(6)
    logits, labels = torch.randn(4, 16, 300, generator=g), torch.randint(300, (4, 16), generator=g)
    want = reference.token_logprob(logits.double(), labels, shift=True)
    hidden, weight, bias, fused_labels = fused_case(torch.float32, True, n=200, vocab=700, width=32)
    fused_want, _ = fused_reference(hidden, weight, bias, fused_labels)
    with torch.cuda.device(0):
        got = cotnpot.token_logprob(logits.to("cuda:1"), labels.to("cuda:1"), shift=True)
        fused = cotnpot.fused_linear_logprob(hidden.to("cuda:1"), weight.to("cuda:1"), fused_labels.to("cuda:1"),
                                             bias=bias.to("cuda:1"), row_block=64, vocab_block=256)
        assert torch.cuda.current_device() == 0
    assert got.device == fused.device == torch.device("cuda:1")
    torch.testing.assert_close(got.double().cpu(), want, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(fused.double().cpu(), fused_want.detach(), rtol=0, atol=1e-4)


@gpu
def test_float64_log_probs_of_logits_near_1e4_are_as_exact_as_log_softmax():
    """float64 is ground truth: the log-prob is (x[y] - max) - log(sum) as in the CPU forms. x[y] - lse had
    lost half an ulp of the lse, 9e-13 at logits near 1e4 (a reviewer; the other float64 tests' rows were
    nearly one-hot, where the lse is exact). log_softmax's own error here is ~5e-15."""
    g = torch.Generator().manual_seed(8)
    x = torch.randn(64, 1000, generator=g, dtype=torch.float64) * 3 + 1e4
    labels = torch.randint(0, 1000, (64,), generator=g)
    want = torch.log_softmax(x, -1).gather(1, labels[:, None])[:, 0]
    got = cotnpot.token_logprob(x.cuda()[None], labels.cuda()[None])[0]
    torch.testing.assert_close(got.cpu(), want, rtol=0, atol=5e-14)
    # logits exact in float64 whatever the GEMM's order of sums (multiples of 1/64 near 1e4): the reference then
    # differs from the kernels by their log-prob alone, not by an ulp of cuBLAS's dot products (a reviewer)
    h = torch.randint(-8, 9, (64, 16), generator=g, dtype=torch.float64) / 8
    w = torch.randint(-8, 9, (1000, 16), generator=g, dtype=torch.float64) / 8
    bias = 1e4 + torch.randint(-300, 301, (1000,), generator=g, dtype=torch.float64) / 64
    fused_want = torch.log_softmax(h @ w.T + bias, -1).gather(1, labels[:, None])[:, 0]
    fused = cotnpot.fused_linear_logprob(h.cuda(), w.cuda(), labels.cuda(), bias=bias.cuda(), row_block=16,
                                         vocab_block=128)
    torch.testing.assert_close(fused.cpu(), fused_want, rtol=0, atol=5e-14)


@gpu
def test_one_step_under_shift_and_rows_of_minus_inf_agree_with_the_cpu_kernel():
    """T = 1 under shift: nothing to score (an empty forward) and a backward whose only work is zeros; a scored
    row that is -inf everywhere has a -inf log-sum-exp and a NaN log-prob, as on the CPU."""
    x = torch.randn(3, 1, 20, device="cuda", requires_grad=True)
    lp = cotnpot.token_logprob(x, torch.zeros(3, 1, dtype=torch.long, device="cuda"), shift=True)
    assert lp.shape == (3, 0)
    (grad,) = torch.autograd.grad(lp.sum(), x)
    assert torch.equal(grad, torch.zeros_like(x))
    logits = torch.randn(2, 3, 40)
    logits[0, 1] = float("-inf")
    labels = torch.randint(40, (2, 3))
    cpu = cotnpot.token_logprob(logits, labels)
    cuda = cotnpot.token_logprob(logits.cuda(), labels.cuda()).cpu()
    assert torch.isnan(cpu[0, 1]) and torch.isnan(cuda[0, 1])
    torch.testing.assert_close(cuda, cpu, rtol=1e-5, atol=1e-6, equal_nan=True)


@gpu
@pytest.mark.parametrize("offset", [1e4, -3e4])
@pytest.mark.parametrize("dtype, grad_rtol", [(torch.float32, 1e-4), (torch.bfloat16, 4e-3)])
def test_logits_near_1e4_keep_the_accuracy_of_log_softmax(offset, dtype, grad_rtol):
    """As tests/python/test_large_logits.py on the CPU: the kernels' lse is float64 (rounded to float it was off
    by half an ulp of 1e4, 4.9e-4), and a confident label's gradient is -g * expm1(logp). The token kernels and
    the fused form's epilogues, against float64 on the same (rounded) inputs."""
    g = torch.Generator().manual_seed(7)
    x = (torch.randn(3, 5, 700, generator=g, dtype=torch.float64) * 3 + offset).to(dtype)
    labels = torch.randint(0, 700, (3, 5), generator=g)
    labels[:, ::2] = 9
    x[..., 9] += 14
    leaf = x.cuda().requires_grad_()
    got = cotnpot.token_logprob(leaf, labels.cuda())
    weights = torch.randn(labels.shape, generator=g)
    (got_grad,) = torch.autograd.grad((got * weights.cuda()).sum(), leaf)
    x64 = x.double().requires_grad_()
    want = torch.log_softmax(x64, -1).gather(-1, labels[..., None])[..., 0]
    (want_grad,) = torch.autograd.grad((want * weights.double()).sum(), x64)
    torch.testing.assert_close(got.double().cpu(), want.detach(), rtol=0, atol=1e-5)
    torch.testing.assert_close(got_grad.double().cpu(), want_grad, rtol=grad_rtol, atol=1e-6)
    # the fused form: column 0 puts every logit at `offset` exactly (multiples of 1/8: exact GEMMs in float32)
    h = torch.randint(-8, 9, (20, 16), generator=g, dtype=torch.float64) / 8
    w = torch.randint(-8, 9, (300, 16), generator=g, dtype=torch.float64) / 8
    h[:, 0], w[:, 0] = 100.0, offset / 100
    fused_labels = torch.randint(0, 300, (20,), generator=g)
    hc, wc = h.float().cuda().requires_grad_(), w.float().cuda().requires_grad_()
    fused = cotnpot.fused_linear_logprob(hc, wc, fused_labels.cuda(), row_block=7, vocab_block=64)
    h64, w64 = h.clone().requires_grad_(), w.clone().requires_grad_()
    fused_want = torch.log_softmax(h64 @ w64.T, -1).gather(1, fused_labels[:, None])[:, 0]
    torch.testing.assert_close(fused.double().cpu(), fused_want.detach(), rtol=0, atol=1e-5)
    # the epilogue's gradients (the label's as -g * expm1): within 1e-4 of the largest (hidden's column 0 is
    # 100 * a row's gradient summed, ~0 in exact arithmetic: plain float32 log_softmax is 3e-5 off there)
    fused_weights = torch.randn(20, generator=g, dtype=torch.float64)
    got_grads = torch.autograd.grad((fused.double() * fused_weights.cuda()).sum(), (hc, wc))
    want_grads = torch.autograd.grad((fused_want * fused_weights).sum(), (h64, w64))
    for got_grad, want_grad in zip(got_grads, want_grads):
        scale = want_grad.abs().max()
        torch.testing.assert_close(got_grad.double().cpu() / scale, want_grad / scale, rtol=0, atol=1e-4)
