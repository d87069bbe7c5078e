"""Every bad input raises an error that names the argument and what was seen."""
import pytest
import torch

import cotnpot

LOGITS = torch.randn(2, 3, 5)
LABELS = torch.zeros(2, 3, dtype=torch.long)


@pytest.mark.parametrize("logits, labels, kwargs, message", [
    (LOGITS[0], LABELS, {}, "sequence_logprob: logits must be 3-D [B,T,V], got 2-D with shape [3, 5]"),
    (LOGITS.unsqueeze(0), LABELS, {}, "logits must be 3-D [B,T,V], got 4-D"),
    (LOGITS, LABELS[0], {}, "labels must be 2-D [B,T], got 1-D with shape [3]"),
    (LOGITS, LABELS[:, :2], {}, "labels must have shape [B,T] = [2, 3] to match logits [2, 3, 5], got [2, 2]"),
    (LOGITS[:1], LABELS, {}, "labels must have shape [B,T] = [1, 3]"),
    (LOGITS.long(), LABELS, {}, "logits must be float32, float64, float16 or bfloat16, got Long"),
    (LOGITS.int(), LABELS, {}, "got Int"),
    (LOGITS, LABELS.float(), {}, "labels must be int64, got Float"),
    (LOGITS, LABELS.int(), {}, "labels must be int64, got Int"),
    (LOGITS, torch.full((2, 3), 5), {}, "labels must be in [0, V) = [0, 5) or equal ignore_index = -100, got 5 at labels[0, 0]"),
    (LOGITS, torch.tensor([[0, 1, 2], [3, -1, 4]]), {}, "got -1 at labels[1, 1]"),
    (LOGITS, torch.tensor([[0, 1, 2], [3, -100, 4]]), {"ignore_index": -1}, "got -100 at labels[1, 1]"),
    (LOGITS, LABELS, {"reduction": "avg"}, "reduction must be one of 'sum', 'mean', 'none', got 'avg'"),
    (torch.randn(2, 3, 0), LABELS, {}, "V >= 1, got V = 0"),
    (torch.randn(2, 0, 5), torch.zeros(2, 0, dtype=torch.long), {"shift": True}, "shift=True needs T >= 1, got T = 0"),
])
def test_bad_input_message(logits, labels, kwargs, message):
    with pytest.raises(RuntimeError) as error:
        cotnpot.sequence_logprob(logits, labels, **kwargs)
    assert message in str(error.value)


def test_label_out_of_range_after_shift_is_reported_at_its_position():
    labels = torch.tensor([[9, 0, 1], [2, 3, 7]])   # labels[:, 0] is unused under shift
    with pytest.raises(RuntimeError, match=r"got 7 at labels\[1, 2\]"):
        cotnpot.sequence_logprob(LOGITS, labels, shift=True)


def test_tensors_on_different_devices():
    with pytest.raises(RuntimeError, match="logits and labels must be on the same device, got logits on cpu "
                                           "and labels on meta"):
        cotnpot.sequence_logprob(LOGITS, LABELS.to("meta"))


def test_token_logprob_names_itself():
    with pytest.raises(RuntimeError, match="token_logprob: labels must be int64, got Double"):
        cotnpot.token_logprob(LOGITS, LABELS.double())


def test_internal_kernel_bounds_checks_labels():
    """The raw forward op skips the up-front range check but still never reads outside a row."""
    with pytest.raises(RuntimeError, match=r"token_logprob: labels must be in \[0, V\) = \[0, 5\) .* got 99 at"):
        torch.ops.cotnpot._token_logprob_forward(LOGITS, torch.full((2, 3), 99), -100, False)


@pytest.mark.parametrize("device", ["cpu", "meta"])
def test_backward_kernels_check_grad_and_lse_shapes(device):
    """Every kernel of the internal backward op checks its metadata (the device-generic one used to
    broadcast a [2,1] grad silently)."""
    logits, labels = LOGITS.to(device), LABELS.to(device)
    bad = torch.zeros(2, 1, device=device)
    with pytest.raises(RuntimeError, match=r"_token_logprob_backward: grad and lse must have shape \[2, 3\], got"):
        torch.ops.cotnpot._token_logprob_backward(bad, logits, labels, bad, -100, False)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_the_composite_kernels_stay_finite_with_huge_or_infinite_logits_at_ignored_positions(dtype):
    """The device-generic kernels (CUDA's path), called here on the CPU through the dispatcher: ignored
    positions holding 100 or +-inf (fp16 padding) gave NaN gradients (exp(x - 0) * 0)."""
    ks = torch._C.DispatchKeySet(torch._C.DispatchKey.CompositeExplicitAutograd)
    forward = torch.ops.cotnpot._token_logprob_forward.default
    backward = torch.ops.cotnpot._token_logprob_backward.default
    x = torch.randn(2, 4, 6).to(dtype)
    x[0, 1] = 100.0
    x[0, 2, 0], x[1, 3, :] = float("inf"), float("-inf")
    y = torch.tensor([[1, -100, -100, 2], [3, 0, 5, -100]])
    lp, lse = forward.redispatch(ks, x, y, -100, False)
    grad = backward.redispatch(ks, torch.ones(2, 4), x, y, lse, -100, False)
    assert torch.isfinite(lp).all() and torch.isfinite(grad.float()).all()
    ignored = (y == -100)
    assert (grad[ignored] == 0).all()
    # the valid positions agree with the CPU kernel (fp32 as ground truth)
    cpu_lp, cpu_lse = forward(x.float(), y, -100, False)
    cpu_grad = backward(torch.ones(2, 4), x.float(), y, cpu_lse, -100, False)
    tol = {torch.float32: 1e-5, torch.float16: 2e-3}[dtype]
    assert torch.allclose(lp.float()[~ignored], cpu_lp[~ignored], atol=tol)
    assert torch.allclose(grad.float()[~ignored], cpu_grad[~ignored], atol=tol)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_every_form_gives_nan_for_a_row_holding_plus_inf_and_skips_masked_tokens(dtype):
    """Found by a reviewer: a scored row holding +inf gave -inf log-probs through the device-generic
    (composite) kernels and the fused op's composite form (fp16, fp64), NaN through the CPU kernels --
    log_softmax gives NaN. Rows of masked (-inf) tokens stay finite in all of them."""
    ks = torch._C.DispatchKeySet(torch._C.DispatchKey.CompositeExplicitAutograd)
    forward = torch.ops.cotnpot._token_logprob_forward.default
    x = torch.randn(2, 3, 5000, dtype=dtype)
    x[0, 1, 7] = float("inf")
    x[1, 2, :2100] = float("-inf")
    y = torch.tensor([[1, 2, 3], [4, 5, 4000]])
    want = torch.log_softmax(x.double(), -1).gather(-1, y[..., None])[..., 0]
    composite, _ = forward.redispatch(ks, x, y, -100, False)
    kernel, _ = forward(x, y, -100, False)
    for got in (composite, kernel):
        torch.testing.assert_close(got.double(), want, equal_nan=True)
        assert torch.isnan(got[0, 1]) and torch.isfinite(got[1]).all()
    # the fused op: a +inf bias entry makes every row NaN; its composite form serves fp64 and fp16
    for half in (torch.float64, torch.float16):
        h, w, b = torch.randn(3, 4, dtype=half), torch.randn(10, 4, dtype=half), torch.zeros(10, dtype=half)
        b[7] = float("inf")
        got = cotnpot.fused_linear_logprob(h, w, torch.tensor([1, 7, 2]), b, vocab_block=4)
        assert torch.isnan(got).all(), (half, got)


@pytest.mark.parametrize("bad", [torch.zeros(2, 3, dtype=torch.long), torch.zeros(2, 3, dtype=torch.bool),
                                 torch.zeros(2, 3, dtype=torch.complex64)])
def test_the_internal_backward_refuses_a_grad_or_lse_that_is_no_float(bad):
    """Found by a breaker: the registered backward op cast an integer, bool or complex grad silently (its fused
    sibling refuses them)."""
    lse = torch.zeros(2, 3)
    with pytest.raises(RuntimeError, match=r"_token_logprob_backward: grad and lse must be floating-point, got"):
        torch.ops.cotnpot._token_logprob_backward(bad, LOGITS, LABELS, lse, -100, False)
    with pytest.raises(RuntimeError, match=r"_token_logprob_backward: grad and lse must be floating-point, got"):
        torch.ops.cotnpot._token_logprob_backward(lse, LOGITS, LABELS, bad, -100, False)


@pytest.mark.parametrize("call", ["token_logprob", "sequence_logprob", "fused_linear_logprob"])
def test_an_ignore_index_past_int64_is_named(call):
    """Found by a breaker: torch's own message for 2**63 read "Expected a value of type 'int' ... but instead
    found type 'int'"."""
    args = ((torch.randn(4, 3), torch.randn(5, 3), torch.zeros(4, dtype=torch.long)) if call == "fused_linear_logprob"
            else (LOGITS, LABELS))
    with pytest.raises(ValueError, match=rf"{call}: ignore_index must fit int64, got {2 ** 63}"):
        getattr(cotnpot, call)(*args, ignore_index=2 ** 63)
