"""fused_linear_logprob with a frozen lm_head (only hidden needs a gradient, as under LoRA): the forward also
computes each row's d logp / d hidden, (1 - p) W[y] - sum_{v != y} p_v W[v], and the backward scales it.
Values and hidden's gradient against the naive reference (shapes that do not divide the blocks, ignored rows,
bias, masked vocabulary blocks, any weight strides), every dtype no worse than the naive path in it,
confident tokens, float64 gradcheck, which op each case takes, in-place edits of the output, peak memory,
opcheck, torch.compile, bad input."""
import math
import sys
from pathlib import Path

import pytest
import torch

import cotnpot
from cotnpot import fused_linear_logprob, fused_sequence_logprob
from cotnpot._cpu import fused_bf16_gemms

sys.path.insert(0, str(Path(__file__).parent))
from test_fused import BLOCK_SHAPES, inputs, naive  # noqa: E402

FROZEN_OP = "cotnpot__fused_linear_logprob_frozen_weight_forward"


def frozen_inputs(N, H, V, dtype=torch.float32, bias=False, ignored=(), seed=0):
    hidden, weight, labels, b = inputs(N, H, V, dtype=dtype, bias=bias, ignored=ignored, seed=seed)
    return hidden, weight.detach(), labels, (b.detach() if b is not None else None)


def took_the_frozen_op(out):
    return FROZEN_OP in type(out.grad_fn).__name__


@pytest.mark.parametrize("N,H,V,rows,vocab", BLOCK_SHAPES)
@pytest.mark.parametrize("bias", [False, True])
def test_values_and_hidden_gradient_equal_the_naive_reference(N, H, V, rows, vocab, bias):
    hidden, weight, labels, b = frozen_inputs(N, H, V, bias=bias, ignored=[0, N - 1])
    got = fused_linear_logprob(hidden, weight, labels, b, row_block=rows, vocab_block=vocab)
    assert took_the_frozen_op(got)
    want = naive(hidden, weight, labels, b)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=0)
    g = torch.randn(N, generator=torch.Generator().manual_seed(1))
    (ours,) = torch.autograd.grad((got * g).sum(), hidden)
    (ref,) = torch.autograd.grad((want * g).sum(), hidden)
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=0)
    assert torch.equal(ours[0], torch.zeros(H)) and torch.equal(ours[N - 1], torch.zeros(H))   # ignored rows


def test_gradcheck_in_float64():
    hidden, weight, labels, b = frozen_inputs(9, 5, 13, dtype=torch.float64, bias=True, ignored=[4])
    assert torch.autograd.gradcheck(
        lambda h: fused_linear_logprob(h, weight, labels, b, row_block=4, vocab_block=6), (hidden,))


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_each_dtype_is_no_worse_than_the_naive_path_in_that_dtype(dtype):
    """fp32 and bf16 take the CPU form (row kernels; bf16 probabilities times bf16 weight rows, summed in
    float32), fp16 the composite; the naive path's hidden gradient is a GEMM in the dtype, rounded once."""
    hidden, weight, labels, _ = frozen_inputs(64, 32, 700, dtype=torch.float64, ignored=[5])
    g = torch.randn(64, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    truth_logp = naive(hidden, weight, labels)
    (truth,) = torch.autograd.grad((truth_logp * g).sum(), hidden)
    h, w = hidden.detach().to(dtype).requires_grad_(), weight.to(dtype)
    ours_logp = fused_linear_logprob(h, w, labels, row_block=8, vocab_block=128)
    assert took_the_frozen_op(ours_logp) and ours_logp.dtype == torch.float32
    (ours,) = torch.autograd.grad((ours_logp * g.float()).sum(), h)
    hn = hidden.detach().to(dtype).requires_grad_()
    naive_logp = torch.log_softmax((hn @ w.T).float(), -1).gather(1, labels.clamp_min(0)[:, None])[:, 0] \
        * (labels != -100)
    (theirs,) = torch.autograd.grad((naive_logp * g.float()).sum(), hn)
    assert ours.dtype == dtype
    for a, b, t in ((ours_logp, naive_logp, truth_logp), (ours, theirs, truth)):
        err_ours, err_naive = (a.double() - t).abs().max(), (b.double() - t).abs().max()
        assert err_ours <= 2 * err_naive + 1e-6, (err_ours.item(), err_naive.item())


@pytest.mark.parametrize("dtype,gemms", [(torch.float32, ""), (torch.bfloat16, "1"), (torch.bfloat16, "0"),
                                         (torch.float16, "")])
@pytest.mark.parametrize("scale", [14.0, 20.0])
def test_confident_tokens_keep_the_gradients_precision(dtype, gemms, scale, monkeypatch):
    """Every row near-certain of its label (median 1 - p about 1e-2 at scale 14, 1e-4 at 20), as trained LMs
    mostly are: the gradient (1 - p) W[y] - sum_{v != y} p_v W[v] is small, and must not come out as the
    difference of two rounded sums near W[y] (a reviewer measured 10-20x the plain form's bf16 error that way).
    The truth is float64 from the logits as the dtype rounds them (the rounding both forms share), so what is
    compared is the gradient's own error: no worse than 1.5x the plain form's (which scales g (onehot - p) in
    float32 before rounding), and for half dtypes no worse than the naive path's."""
    monkeypatch.setenv("COTNPOT_FUSED_BF16_GEMMS", gemms)   # bf16: both forms, bf16 GEMMs or float32 copies
    g = torch.Generator().manual_seed(5)
    weight = (torch.randn(2000, 64, generator=g, dtype=torch.float64) / 8).to(dtype)
    labels = torch.randint(0, 2000, (64,), generator=g)
    hidden = (0.3 * torch.randn(64, 64, generator=g, dtype=torch.float64) + scale * weight[labels].double()).to(dtype)
    grad = torch.randn(64, generator=g, dtype=torch.float64)
    # the logits as the op's GEMMs round them (bf16's take float32 copies on a CPU without bf16 instructions)
    exact = dtype == torch.bfloat16 and not fused_bf16_gemms()
    probs = torch.softmax(hidden.double() @ weight.double().T if exact else (hidden @ weight.T).double(), -1)
    assert (1 - probs.gather(1, labels[:, None])).median() < (2e-2 if scale == 14.0 else 1e-3)
    truth = ((torch.nn.functional.one_hot(labels, 2000) - probs) * grad[:, None]) @ weight.double()
    h = hidden.clone().requires_grad_()
    ours_logp = fused_linear_logprob(h, weight, labels, vocab_block=256)
    assert took_the_frozen_op(ours_logp)
    (ours,) = torch.autograd.grad((ours_logp * grad.float()).sum(), h)
    hp = hidden.clone().requires_grad_()   # the plain form (a trainable weight)
    plain_logp = fused_linear_logprob(hp, weight.clone().requires_grad_(), labels, vocab_block=256)
    (plain,) = torch.autograd.grad((plain_logp * grad.float()).sum(), hp)
    hn = hidden.clone().requires_grad_()
    naive_logp = torch.log_softmax((hn @ weight.T).float(), -1).gather(1, labels[:, None])[:, 0]
    (theirs,) = torch.autograd.grad((naive_logp * grad.float()).sum(), hn)
    err_ours, err_plain, err_naive = ((x.double() - truth).abs().max() for x in (ours, plain, theirs))
    assert err_ours <= 1.5 * err_plain + 1e-7, (err_ours.item(), err_plain.item())
    if dtype != torch.float32:
        assert err_ours <= 1.5 * err_naive, (err_ours.item(), err_naive.item())


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float64])
def test_rows_with_masked_vocabulary_blocks_and_ignored_rows_of_huge_logits(dtype):
    """A row whose first vocabulary blocks are all -inf (masked tokens) starts its sum at its first finite
    block; ignored rows holding 1e4 or inf add nothing and get a zero gradient, never NaN."""
    hidden, weight, labels, _ = frozen_inputs(6, 4, 40, dtype=dtype, ignored=[2, 3])
    bias = torch.zeros(40, dtype=dtype)
    bias[:16] = float("-inf")               # the first two blocks of 8 masked for every row
    labels[labels < 16] = 20
    labels[[2, 3]] = -100
    with torch.no_grad():
        hidden[2] = 1e4
        hidden[3, 0] = float("inf")
    got = fused_linear_logprob(hidden, weight, labels, bias, row_block=4, vocab_block=8)
    assert took_the_frozen_op(got)
    (gh,) = torch.autograd.grad(got.sum(), hidden)
    assert torch.isfinite(got).all() and torch.isfinite(gh).all()
    assert torch.equal(gh[2:4], torch.zeros(2, 4, dtype=dtype))
    keep = [0, 1, 4, 5]
    h = hidden.detach()[keep].double().requires_grad_()
    want = naive(h, weight.double(), labels[keep], bias.double())
    (ref,) = torch.autograd.grad(want.sum(), h)
    tol = 1e-5 if dtype != torch.bfloat16 else 3e-2
    torch.testing.assert_close(got[keep].double(), want, atol=tol, rtol=0)
    torch.testing.assert_close(gh[keep].double(), ref, atol=tol, rtol=0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float64])
def test_later_vocabulary_blocks_far_above_the_first_rescale_what_was_summed(dtype):
    """Logits rising by 40 across the vocabulary: the CPU form sums exp(logit - reference) with a reference
    that moves only when the log-sum-exp has grown by 8, and rescales the sum so far when it does."""
    hidden, weight, labels, _ = frozen_inputs(10, 6, 64, dtype=dtype, ignored=[7])
    bias = torch.linspace(0, 40, 64, dtype=torch.float64).to(dtype)
    got = fused_linear_logprob(hidden, weight, labels, bias, row_block=4, vocab_block=8)
    assert took_the_frozen_op(got)
    (gh,) = torch.autograd.grad(got.sum(), hidden)
    if dtype == torch.bfloat16:   # logits near 40 are rounded by 0.125 in bf16: the plain op on the same input
        h = hidden.detach().requires_grad_()
        want = fused_linear_logprob(h, weight.requires_grad_(), labels, bias, row_block=4, vocab_block=8)
        tol = 2e-2
    else:
        h = hidden.detach().double().requires_grad_()
        want, tol = naive(h, weight.double(), labels, bias.double()), 1e-5
    (ref,) = torch.autograd.grad(want.sum(), h)
    torch.testing.assert_close(got.double(), want.double(), atol=tol, rtol=0)
    torch.testing.assert_close(gh.double(), ref.double(), atol=tol, rtol=0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float64])
@pytest.mark.parametrize("layout", ["transposed", "offset"])
def test_a_weight_of_any_strides(dtype, layout):
    """The CPU form reads each label's row of the weight in place, by its strides: a weight stored transposed
    (an lm_head tied to a transposed embedding) or sliced out of a larger tensor (a storage offset)."""
    hidden, weight, labels, b = frozen_inputs(11, 6, 37, dtype=dtype, bias=True, ignored=[4])
    if layout == "transposed":
        w = weight.T.contiguous().T
    else:
        w = torch.zeros(45, 9, dtype=dtype)[8:, 3:]
        w.copy_(weight)
    assert not w.is_contiguous() or w.storage_offset() > 0
    got = fused_linear_logprob(hidden, w, labels, b, row_block=4, vocab_block=8)
    assert took_the_frozen_op(got)
    (gh,) = torch.autograd.grad(got.sum(), hidden)
    (want,) = torch.autograd.grad(fused_linear_logprob(hidden, weight.contiguous().requires_grad_(), labels, b,
                                                       row_block=4, vocab_block=8).sum(), hidden)
    torch.testing.assert_close(gh, want, atol=1e-5 if dtype != torch.bfloat16 else 2e-2, rtol=0)


def test_a_nan_gradient_at_an_ignored_row_gives_zeros_as_the_plain_form_does():
    """Found by a reviewer: the frozen form's backward multiplied each row's saved gradient (zeros at an ignored
    row) by the incoming one, so a NaN or inf arriving at an ignored row made it NaN; the plain form writes 0."""
    hidden, weight, labels, _ = frozen_inputs(5, 4, 11, ignored=[1, 3])
    grad = torch.tensor([1.0, math.nan, 2.0, math.inf, -1.0])
    frozen = fused_linear_logprob(hidden, weight, labels)
    assert took_the_frozen_op(frozen)
    (ours,) = torch.autograd.grad(frozen, hidden, grad)
    (plain,) = torch.autograd.grad(fused_linear_logprob(hidden, weight.requires_grad_(), labels), hidden, grad)
    assert torch.equal(ours[[1, 3]], torch.zeros(2, 4)) and torch.isfinite(ours).all()
    torch.testing.assert_close(ours, plain, atol=1e-6, rtol=0)


def test_which_op_each_case_takes():
    """Only where hidden alone needs a gradient: a trainable weight or bias, or no gradient at all (scoring),
    keep the plain forward (no [N, H] buffer)."""
    hidden, weight, labels, b = frozen_inputs(8, 4, 20, bias=True)
    assert took_the_frozen_op(fused_linear_logprob(hidden, weight, labels, b))
    assert not took_the_frozen_op(fused_linear_logprob(hidden, weight.requires_grad_(), labels))
    weight.requires_grad_(False)
    assert not took_the_frozen_op(fused_linear_logprob(hidden, weight, labels, b.requires_grad_()))
    with torch.no_grad():
        assert fused_linear_logprob(hidden, weight, labels).grad_fn is None
    assert fused_linear_logprob(hidden.detach(), weight, labels).grad_fn is None
    # Off the CPU (CUDA: unmeasured there) the plain form serves; a meta tensor stands for another device.
    from cotnpot.fused import _only_hidden_needs_a_gradient
    assert _only_hidden_needs_a_gradient(hidden, weight, None)
    assert not _only_hidden_needs_a_gradient(torch.empty(8, 4, device="meta", requires_grad=True),
                                             weight.to("meta"), None)


def test_the_sequence_form_and_simpo_through_it_equal_the_unfused_loss(monkeypatch):
    g = torch.Generator().manual_seed(4)
    hidden = torch.randn(4, 6, 8, generator=g, requires_grad=True)   # chosen, chosen, rejected, rejected
    weight = torch.randn(30, 8, generator=g)
    labels = torch.randint(0, 30, (4, 6), generator=g)
    labels[:, :2] = -100
    def loss(logps):
        losses, _, _ = cotnpot.simpo_loss(logps[:2], logps[2:], beta=2.0, gamma=0.5)
        return losses.mean()
    import cotnpot.fused
    token_logps, inner = [], cotnpot.fused.fused_linear_logprob   # what the sequence form gets from the op
    monkeypatch.setattr(cotnpot.fused, "fused_linear_logprob",
                        lambda *args, **kwargs: token_logps.append(inner(*args, **kwargs)) or token_logps[-1])
    logps = fused_sequence_logprob(hidden, weight, labels, reduction="mean", shift=True, vocab_block=7)
    assert len(token_logps) == 1 and took_the_frozen_op(token_logps[0])
    fused, plain = loss(logps), loss(cotnpot.sequence_logprob(hidden @ weight.T, labels, reduction="mean", shift=True))
    torch.testing.assert_close(fused, plain, atol=1e-6, rtol=0)
    torch.testing.assert_close(torch.autograd.grad(fused, hidden)[0], torch.autograd.grad(plain, hidden)[0],
                               atol=1e-5, rtol=0)


def test_opcheck():
    hidden, weight, labels, b = frozen_inputs(10, 6, 17, bias=True, ignored=[2])
    op = torch.ops.cotnpot._fused_linear_logprob_frozen_weight_forward.default
    torch.library.opcheck(op, (hidden, weight, labels, b, -100, 4, 5))
    torch.library.opcheck(op, (hidden, weight, labels, None, -100, 0, 0))
    _, _, dlogp_dhidden = op(hidden, weight, labels, b, -100, 4, 5)
    for dtype in (torch.float32, torch.bfloat16):
        torch.library.opcheck(torch.ops.cotnpot._fused_linear_logprob_frozen_weight_backward.default,
                              (torch.randn(10), dlogp_dhidden.detach(), dtype))
    torch.library.opcheck(torch.ops.cotnpot._fused_linear_logprob_frozen_weight_backward.default,
                          (torch.randn(10), torch.randn(6, 10).T, torch.float32))   # a transposed one


def test_compiles_fullgraph_with_its_gradient():
    hidden, weight, labels, _ = frozen_inputs(12, 8, 30, ignored=[1])
    def step(h):
        return fused_linear_logprob(h, weight, labels, vocab_block=7).sum()
    graphs = []
    def backend(gm, example_inputs):   # aot_eager, recording which op the traced graph calls
        graphs.append(str(gm.graph))
        return torch._dynamo.lookup_backend("aot_eager")(gm, example_inputs)
    compiled = torch.compile(step, fullgraph=True, backend=backend)
    got, want = compiled(hidden), step(hidden)
    assert len(graphs) == 1 and "_fused_linear_logprob_frozen_weight_forward" in graphs[0]
    torch.testing.assert_close(got, want)
    torch.testing.assert_close(torch.autograd.grad(got, hidden)[0], torch.autograd.grad(want, hidden)[0])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_every_logit_masked_gives_nan_as_log_softmax_does(dtype):
    """A bias of -inf everywhere: log_softmax's log-prob and gradient are NaN, and so are both forms' (CPU
    form in fp32, composite in fp64); the first version gave this row a finite gradient."""
    hidden, weight, labels, _ = frozen_inputs(3, 4, 10, dtype=dtype)
    bias = torch.full((10,), float("-inf"), dtype=dtype)
    got = fused_linear_logprob(hidden, weight, labels, bias, vocab_block=4)
    (gh,) = torch.autograd.grad(got.sum(), hidden)
    h = hidden.detach().requires_grad_()
    want = torch.log_softmax(h @ weight.T + bias, -1).gather(1, labels[:, None])[:, 0]
    (ref,) = torch.autograd.grad(want.sum(), h)
    assert want.isnan().all() and ref.isnan().all()
    assert got.isnan().all() and gh.isnan().all()


def test_the_returned_log_probs_may_be_changed_in_place():
    """As with the plain op (found in review: the first version saved the log-probs it returned, so
    logp.mul_(mask) made the backward an autograd error)."""
    hidden, weight, labels, _ = frozen_inputs(8, 4, 20, ignored=[1])
    logp = fused_linear_logprob(hidden, weight, labels)
    assert took_the_frozen_op(logp)
    mask = torch.arange(8) % 2 == 0
    logp.mul_(mask)
    (got,) = torch.autograd.grad(logp.sum(), hidden)
    (want,) = torch.autograd.grad((naive(hidden, weight, labels) * mask).sum(), hidden)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=0)


def test_misuse_is_refused_with_a_reason():
    hidden, weight, labels, _ = frozen_inputs(8, 4, 20)
    with pytest.raises(RuntimeError, match="double backward"):
        torch.autograd.grad(fused_linear_logprob(hidden, weight, labels).sum(), hidden, create_graph=True)
    # The op itself, called with a weight that wants a gradient it cannot give: an error, not a silent None.
    logp, _, _ = torch.ops.cotnpot._fused_linear_logprob_frozen_weight_forward(
        hidden, weight.requires_grad_(), labels, None, -100, 0, 0)
    with pytest.raises(RuntimeError, match="gives hidden alone a gradient"):
        logp.sum().backward()
    op = torch.ops.cotnpot._fused_linear_logprob_frozen_weight_backward
    with pytest.raises(RuntimeError, match=r"dlogp_dhidden must be a floating \[N, H\] tensor, got Long"):
        op(torch.ones(8), torch.zeros(8, 4, dtype=torch.long), torch.float32)
    with pytest.raises(RuntimeError, match=r"grad must be a floating \[N\] tensor with N = 8, got Float of shape \[7"):
        op(torch.ones(7), torch.zeros(8, 4), torch.float32)
    with pytest.raises(RuntimeError, match="dtype must be floating, got Long"):
        op(torch.ones(8), torch.zeros(8, 4), torch.long)
    # The public call names itself, whichever form serves it.
    with pytest.raises(RuntimeError, match="^fused_linear_logprob: weight must have hidden's dtype"):
        fused_linear_logprob(hidden, weight.detach().double(), labels)


_FROZEN_PEAK = r'''
hidden = torch.randn(4096, 256, requires_grad=True)
weight, labels = torch.randn(65536, 256) / 16, torch.randint(0, 65536, (4096,))
cotnpot.fused_linear_logprob(hidden[:8], weight, labels[:8]).sum().backward()   # warm-up: thread pools
hidden.grad = None
measure(lambda: cotnpot.fused_linear_logprob(hidden, weight, labels).sum().backward())
'''


def test_forward_and_backward_hold_one_block_and_the_sum_not_the_logits():
    """fp32 fwd+bwd at N = 4096, H = 256, V = 65536: the logits would be 1 GiB. The frozen form holds at most
    one block of logits (8 MiB), its [N, H] d logp / d hidden (4 MiB) and hidden's gradient (4 MiB), some
    of it reused by the allocator: measured 13.6 MiB in all (the plain form: 14.2); a form that kept the
    logits would be far above the bound."""
    from test_fused import _peak_mib
    peak = _peak_mib(_FROZEN_PEAK)
    assert peak < 22, f"frozen-head fwd+bwd peak {peak:.0f} MiB beyond its inputs"
