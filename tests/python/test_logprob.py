"""cotnpot.sequence_logprob / token_logprob against the pure-PyTorch reference and float64 ground truth."""
import pytest
import torch

import cotnpot
from cotnpot import reference

# (B, T, V): V off every vector width, T = 1, B = 1, a vocabulary over several 2048-float blocks.
SHAPES = [(1, 1, 1), (1, 1, 7), (2, 3, 5), (1, 6, 33), (3, 17, 130), (2, 5, 2049), (2, 3, 32000)]
REDUCTIONS = ["sum", "mean", "none"]


def make_inputs(shape, dtype=torch.float32, ignore_frac=0.25, scale=4.0):
    batch, steps, vocab = shape
    logits = torch.randn(batch, steps, vocab, dtype=torch.float64) * scale
    labels = torch.randint(vocab, (batch, steps))
    labels[torch.rand(batch, steps) < ignore_frac] = -100
    return logits.to(dtype), labels


def tolerance(reduction, steps):
    # A sum over T tokens carries T tokens' rounding.
    return 1e-5 * (steps if reduction == "sum" else 1)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shift", [False, True])
def test_float32_matches_reference(shape, reduction, shift):
    logits, labels = make_inputs(shape)
    got = cotnpot.sequence_logprob(logits, labels, reduction=reduction, shift=shift)
    want = reference.sequence_logprob(logits, labels, reduction=reduction, shift=shift)
    truth = reference.sequence_logprob(logits.double(), labels, reduction=reduction, shift=shift)
    assert got.dtype == torch.float32
    assert got.shape == want.shape
    tol = tolerance(reduction, shape[1])
    torch.testing.assert_close(got, want, rtol=1e-5, atol=tol)
    torch.testing.assert_close(got.double(), truth, rtol=1e-5, atol=tol)


def test_shapes_of_each_reduction():
    logits, labels = make_inputs((3, 6, 10))
    assert cotnpot.sequence_logprob(logits, labels).shape == (3,)
    assert cotnpot.sequence_logprob(logits, labels, reduction="mean").shape == (3,)
    assert cotnpot.sequence_logprob(logits, labels, reduction="none").shape == (3, 6)
    assert cotnpot.sequence_logprob(logits, labels, reduction="none", shift=True).shape == (3, 5)
    assert cotnpot.token_logprob(logits, labels, shift=True).shape == (3, 5)


def test_float64_is_computed_in_float64():
    logits, labels = make_inputs((2, 4, 300), dtype=torch.float64)
    got = cotnpot.sequence_logprob(logits, labels, reduction="none")
    assert got.dtype == torch.float64
    torch.testing.assert_close(got, reference.sequence_logprob(logits, labels, reduction="none"),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("shape", [(2, 7, 33), (2, 5, 2049), (1, 8, 32000)])
@pytest.mark.parametrize("shift", [False, True])
def test_bfloat16_error_at_most_twice_pytorchs(shape, shift):
    logits, labels = make_inputs(shape, ignore_frac=0.0)
    truth = reference.token_logprob(logits, labels, shift=shift)   # float32 logits: the ground truth
    low = logits.bfloat16()
    ours = cotnpot.token_logprob(low, labels, shift=shift)
    x, y = (low[:, :-1], labels[:, 1:]) if shift else (low, labels)
    pytorch = torch.log_softmax(x, -1).gather(-1, y.unsqueeze(-1)).squeeze(-1).float()
    our_error, pytorch_error = (ours - truth).abs(), (pytorch - truth).abs()
    assert our_error.max() <= 2 * pytorch_error.max(), (our_error.max(), pytorch_error.max())
    assert our_error.mean() <= 2 * pytorch_error.mean(), (our_error.mean(), pytorch_error.mean())


# float16: PyTorch's CPU log_softmax has no float16 kernel, so the reference is the float32 computation on
# the same float16 values; we compute in float32 too, so they agree to float32 rounding.
FLOAT16_ATOL = 5e-5


@pytest.mark.parametrize("shape", [(2, 7, 33), (2, 5, 2049), (1, 4, 32000)])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_float16_matches_upcast_reference(shape, reduction):
    logits, labels = make_inputs(shape)
    half = logits.half()
    got = cotnpot.sequence_logprob(half, labels, reduction=reduction)
    want = reference.sequence_logprob(half.float(), labels, reduction=reduction)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, want, rtol=1e-5, atol=FLOAT16_ATOL * (shape[1] if reduction == "sum" else 1))


@pytest.mark.parametrize("layout", ["time_major", "sliced_time", "strided_vocab", "labels_transposed"])
def test_non_contiguous_inputs(layout):
    logits, labels = make_inputs((3, 8, 257))
    if layout == "time_major":          # rows at unusual strides, vocabulary still dense
        logits = logits.transpose(0, 1).contiguous().transpose(0, 1)
    elif layout == "sliced_time":
        logits, labels = logits[:, 1:-1], labels[:, 1:-1]
    elif layout == "strided_vocab":     # vocabulary itself strided: copied once
        logits = torch.randn(3, 8, 514)[..., ::2]
    else:
        labels = labels.t().contiguous().t()
    assert not (logits.is_contiguous() and labels.is_contiguous())
    for reduction in REDUCTIONS:
        torch.testing.assert_close(cotnpot.sequence_logprob(logits, labels, reduction=reduction, shift=True),
                                   reference.sequence_logprob(logits, labels, reduction=reduction, shift=True),
                                   rtol=1e-5, atol=1e-4)


def test_all_ignored_row_gives_zero_not_nan():
    logits, labels = make_inputs((3, 5, 11), ignore_frac=0.0)
    labels[1] = -100
    for shift in (False, True):
        for reduction in ("sum", "mean"):
            out = cotnpot.sequence_logprob(logits, labels, reduction=reduction, shift=shift)
            assert out[1].item() == 0.0
            assert torch.isfinite(out).all()
    leaf = logits.clone().requires_grad_()
    cotnpot.sequence_logprob(leaf, labels, reduction="mean").sum().backward()
    assert torch.count_nonzero(leaf.grad[1]) == 0
    assert torch.isfinite(leaf.grad).all()


def test_custom_ignore_index_and_shift_ignores_first_label():
    logits, labels = make_inputs((2, 6, 9), ignore_frac=0.0)
    labels[:, 2] = 7777          # ignore_index=7777 marks these
    labels[:, 0] = 123456        # never predicted under shift, so any value is fine
    got = cotnpot.sequence_logprob(logits, labels, ignore_index=7777, shift=True)
    want = reference.sequence_logprob(logits, labels, ignore_index=7777, shift=True)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shift", [False, True])
def test_gradcheck_float64(reduction, shift):
    logits, labels = make_inputs((2, 4, 7), dtype=torch.float64)
    logits.requires_grad_()
    assert torch.autograd.gradcheck(
        lambda x: cotnpot.sequence_logprob(x, labels, reduction=reduction, shift=shift), (logits,))


@pytest.mark.parametrize("shape", [(2, 5, 33), (2, 3, 2049), (1, 2, 32000)])
@pytest.mark.parametrize("reduction", ["sum", "mean"])
@pytest.mark.parametrize("shift", [False, True])
def test_backward_float32_matches_reference(shape, reduction, shift):
    logits, labels = make_inputs(shape)
    ours = logits.clone().requires_grad_()
    ref = logits.clone().requires_grad_()
    weights = torch.randn(shape[0])
    (cotnpot.sequence_logprob(ours, labels, reduction=reduction, shift=shift) * weights).sum().backward()
    (reference.sequence_logprob(ref, labels, reduction=reduction, shift=shift) * weights).sum().backward()
    torch.testing.assert_close(ours.grad, ref.grad, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_backward_16bit_is_the_rounded_float32_gradient(dtype):
    logits, labels = make_inputs((2, 4, 3000))
    low = logits.to(dtype)
    ours = low.clone().requires_grad_()
    ref = low.float().requires_grad_()
    cotnpot.sequence_logprob(ours, labels).sum().backward()
    reference.sequence_logprob(ref, labels).sum().backward()
    assert ours.grad.dtype == dtype
    eps = torch.finfo(dtype).eps
    torch.testing.assert_close(ours.grad.float(), ref.grad, rtol=eps, atol=1e-6)


def test_every_entry_point_agrees():
    logits, labels = make_inputs((2, 5, 40))
    via_package = cotnpot.sequence_logprob(logits, labels, reduction="mean", shift=True)
    via_ops = torch.ops.cotnpot.sequence_logprob(logits, labels, -100, "mean", True)
    assert torch.equal(via_package, via_ops)
    # The ops are torch.ops.cotnpot.* only: pybind11 keeps what is not a tensor op.
    assert not hasattr(cotnpot._C, "sequence_logprob") and not hasattr(cotnpot._C, "simpo_loss")
    assert torch.equal(cotnpot.token_logprob(logits, labels), torch.ops.cotnpot.token_logprob(logits, labels))


def test_inference_mode_and_no_grad():
    logits, labels = make_inputs((2, 3, 20))
    want = reference.sequence_logprob(logits, labels)
    with torch.inference_mode():
        torch.testing.assert_close(cotnpot.sequence_logprob(logits, labels), want)
    with torch.no_grad():
        out = cotnpot.sequence_logprob(logits.requires_grad_(), labels)
    assert not out.requires_grad


def test_nan_logits_propagate():
    logits, labels = make_inputs((1, 2, 50), ignore_frac=0.0)
    logits[0, 0, 17] = float("nan")
    out = cotnpot.sequence_logprob(logits, labels, reduction="none")
    assert torch.isnan(out[0, 0]) and torch.isfinite(out[0, 1])


def test_every_cpu_isa_gives_the_same_numbers(tmp_path):
    """The AVX-512, AVX2 and generic kernels, each forced through COTNPOT_CPU_ISA in a subprocess."""
    import subprocess
    import sys
    logits, labels = make_inputs((2, 6, 5000))
    torch.save((logits, labels), tmp_path / "inputs.pt")
    script = ("import sys, torch, cotnpot; x, y = torch.load(sys.argv[1]);"
              "print(cotnpot._C.cpu_isa()); torch.save(cotnpot.token_logprob(x, y), sys.argv[2])")
    want = reference.token_logprob(logits, labels)
    for isa in ("generic", "avx2", "avx512"):
        out = tmp_path / f"{isa}.pt"
        env = {"COTNPOT_CPU_ISA": isa, "PATH": "/usr/bin:/bin"}
        run = subprocess.run([sys.executable, "-c", script, str(tmp_path / "inputs.pt"), str(out)],
                             env=env, capture_output=True, text=True, check=True)
        if run.stdout.strip() != isa:   # the CPU lacks it: the best available one ran instead
            continue
        torch.testing.assert_close(torch.load(out), want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_masked_leading_vocabulary_stays_finite(dtype):
    """Found by a reviewer: a row whose first 2,048 logits (one block of the CPU kernel's online log-sum-exp)
    are all -inf -- tokens masked out, as constrained decoding or a padded vocabulary does -- came out NaN:
    the block's sum took exp(-inf - (-inf)). log_softmax gives finite log-probs for the tokens left."""
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 4, 5000, generator=g).to(dtype)
    logits[..., :2100] = float("-inf")
    logits[1, 2, :] = float("-inf")
    logits[1, 2, 4000] = 1.0                                   # a single token left
    labels = torch.randint(2100, 5000, (3, 4), generator=g)
    labels[1, 2] = 4000
    got = cotnpot.token_logprob(logits.requires_grad_(), labels)
    want = torch.log_softmax(logits.detach().float(), -1).gather(-1, labels[..., None])[..., 0]
    assert torch.isfinite(got).all()
    assert torch.allclose(got, want, atol=1e-5 if dtype == torch.float32 else 2e-2)
    grad, = torch.autograd.grad(got.sum(), logits)
    # masked tokens: no gradient (the kernel's exp flushes below e^-87 to 2^-126, not to 0)
    assert torch.isfinite(grad).all() and grad[..., :2100].abs().max() < 1e-30


@pytest.mark.parametrize("payload", [0x7FC00000, 0x7FC00001, 0x7F800001, 0xFFC0007F, 0x7FFFFFFF])
def test_every_nan_stays_nan_whatever_its_payload(payload):
    """Found by a breaker: the kernels' exp adds its integer exponent, taken from the bits of x - max, to
    the polynomial's bits; a NaN whose low payload bits were set rewrote the exponent and came out finite
    (0x7fc00001 gave a log-prob of -3.66, log_softmax NaN). One NaN per row, at a lane, in the tail."""
    logits = torch.zeros(1, 3, 40)
    for t, at in enumerate((3, 17, 39)):
        logits.view(torch.int32)[0, t, at] = torch.tensor(payload, dtype=torch.int64).to(torch.int32)
    assert logits.isnan().sum() == 3
    labels = torch.tensor([[0, 5, 39]])
    out = cotnpot.token_logprob(logits.requires_grad_(), labels)
    assert out.isnan().all(), out
    grad, = torch.autograd.grad(out.sum(), logits)
    assert grad.isnan().any(dim=-1).all()


def test_nan_payloads_stay_nan_on_every_cpu_isa():
    import subprocess
    import sys
    script = ("import torch, cotnpot\nx = torch.zeros(2, 3, 70)\n"
              "for t, at in enumerate((3, 17, 69)): x.view(torch.int32)[:, t, at] = 0x7fc00001\n"
              "print(cotnpot._C.cpu_isa(), bool(cotnpot.token_logprob(x, torch.zeros(2, 3, dtype=torch.long)).isnan().all()),"
              " bool(cotnpot.token_logprob(x.bfloat16(), torch.zeros(2, 3, dtype=torch.long)).isnan().all()))")
    for isa in ("generic", "avx2", "avx512"):
        run = subprocess.run([sys.executable, "-c", script], env={"COTNPOT_CPU_ISA": isa, "PATH": "/usr/bin:/bin"},
                             capture_output=True, text=True, check=True)
        ran, fp32_nan, bf16_nan = run.stdout.split()
        assert (fp32_nan, bf16_nan) == ("True", "True"), (ran, run.stdout)


def test_double_backward_is_refused_not_silently_zero():
    """Found by a breaker: the backward op has no autograd kernel, so under create_graph its gradient
    carried no graph and a Hessian came out zero (log_softmax's: 8.78), with only a deprecation warning."""
    logits, labels = make_inputs((2, 3, 5), dtype=torch.float64, ignore_frac=0.0)
    logits.requires_grad_()
    with pytest.raises(RuntimeError, match="token_logprob: double backward"):
        torch.autograd.grad(cotnpot.sequence_logprob(logits, labels).sum(), logits, create_graph=True)
    with pytest.raises(RuntimeError, match="double backward"):
        torch.autograd.functional.hessian(lambda z: cotnpot.sequence_logprob(z, labels).sum(), logits.detach())
    # the first derivative alone still works
    grad, = torch.autograd.grad(cotnpot.sequence_logprob(logits, labels).sum(), logits)
    torch.testing.assert_close(grad, torch.autograd.grad(reference.sequence_logprob(logits, labels).sum(), logits)[0])
