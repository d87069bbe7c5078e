"""fused_linear_logprob: values and gradients against the naive hidden @ weight.T -> log_softmax -> gather
reference (shapes that do not divide the blocks, all-ignored rows, bias or not), float64 gradcheck,
bf16/fp16 error no worse than the naive path's against fp32, finite with huge logits at ignored rows, the
sequence form against sequence_logprob, SimPO through it equal to the unfused loss, opcheck, bad input."""
import pytest
import torch

import cotnpot
from cotnpot import fused_linear_logprob, fused_sequence_logprob


def naive(hidden, weight, labels, bias=None, ignore_index=-100):
    logits = hidden.float() @ weight.float().T if hidden.dtype != torch.float64 else hidden @ weight.T
    if bias is not None:
        logits = logits + bias.to(logits.dtype)
    valid = labels != ignore_index
    picked = torch.log_softmax(logits, -1).gather(1, labels.clamp_min(0)[:, None])[:, 0]
    return torch.where(valid, picked, torch.zeros_like(picked))


def inputs(N, H, V, dtype=torch.float32, bias=False, ignored=(), seed=0):
    g = torch.Generator().manual_seed(seed)
    hidden = torch.randn(N, H, generator=g, dtype=torch.float64).to(dtype).requires_grad_()
    weight = (torch.randn(V, H, generator=g, dtype=torch.float64) / H ** 0.5).to(dtype).requires_grad_()
    b = (torch.randn(V, generator=g, dtype=torch.float64)).to(dtype).requires_grad_() if bias else None
    labels = torch.randint(0, V, (N,), generator=g)
    labels[list(ignored)] = -100
    return hidden, weight, labels, b


# (N, H, V, row_block, vocab_block): blocks that divide neither N nor V, N below a block, the op's own blocks,
# one-row one-column blocks
BLOCK_SHAPES = [(37, 16, 53, 8, 10), (5, 8, 100, 64, 7), (64, 32, 1000, 0, 0), (3, 4, 5, 1, 1)]


@pytest.mark.parametrize("N,H,V,rows,vocab", BLOCK_SHAPES)
@pytest.mark.parametrize("bias", [False, True])
def test_values_and_gradients_equal_the_naive_reference(N, H, V, rows, vocab, bias):
    hidden, weight, labels, b = inputs(N, H, V, bias=bias, ignored=[0, N - 1])
    got = fused_linear_logprob(hidden, weight, labels, b, row_block=rows, vocab_block=vocab)
    want = naive(hidden, weight, labels, b)
    assert torch.allclose(got, want, atol=1e-5)
    g = torch.randn(N)
    params = [hidden, weight] + ([b] if bias else [])
    ours = torch.autograd.grad((got * g).sum(), params)
    ref = torch.autograd.grad((want * g).sum(), params)
    for a, r in zip(ours, ref):
        assert torch.allclose(a, r, atol=1e-5)


def test_gradcheck_in_float64():
    hidden, weight, labels, b = inputs(9, 5, 13, dtype=torch.float64, bias=True, ignored=[4])
    assert torch.autograd.gradcheck(
        lambda h, w, bb: fused_linear_logprob(h, w, labels, bb, row_block=4, vocab_block=6), (hidden, weight, b))


def test_all_ignored_rows_and_huge_logits_there_stay_finite():
    hidden, weight, labels, _ = inputs(6, 4, 9, ignored=range(6))
    with torch.no_grad():
        hidden[2] = 1e4        # logits far beyond exp's range
        hidden[3, 0] = float("inf")
    logp = fused_linear_logprob(hidden, weight, labels, vocab_block=4)
    assert torch.equal(logp, torch.zeros(6))
    gh, gw = torch.autograd.grad(logp.sum(), (hidden, weight))
    assert torch.equal(gh, torch.zeros_like(gh)) and torch.equal(gw, torch.zeros_like(gw))


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_is_no_worse_than_the_naive_half_path(dtype):
    hidden, weight, labels, _ = inputs(64, 32, 700, dtype=torch.float64, ignored=[5])
    truth = naive(hidden, weight, labels)
    h, w = hidden.detach().to(dtype), weight.detach().to(dtype)
    ours = fused_linear_logprob(h, w, labels, vocab_block=128)
    assert ours.dtype == torch.float32
    naive_half = torch.log_softmax((h @ w.T).float(), -1).gather(1, labels.clamp_min(0)[:, None])[:, 0] \
        * (labels != -100)
    err_ours = (ours.double() - truth).abs().max()
    err_naive = (naive_half.double() - truth).abs().max()
    assert err_ours <= 2 * err_naive + 1e-6
    # gradients (of the weight accumulated in float32 across row blocks, bf16 GEMMs for bf16) no worse than
    # the naive half path's, whose GEMMs round their products to the half dtype once
    hh, ww = h.clone().requires_grad_(), w.clone().requires_grad_()
    ours = torch.autograd.grad(fused_linear_logprob(hh, ww, labels, row_block=8, vocab_block=128).sum(), (hh, ww))
    hn, wn = h.clone().requires_grad_(), w.clone().requires_grad_()
    naive_half = torch.log_softmax((hn @ wn.T).float(), -1).gather(1, labels.clamp_min(0)[:, None])[:, 0] \
        * (labels != -100)
    theirs = torch.autograd.grad(naive_half.sum(), (hn, wn))
    truths = torch.autograd.grad(truth.sum(), (hidden, weight))
    for name, a, b, t in zip(("hidden", "weight"), ours, theirs, truths):
        assert a.dtype == dtype
        err_ours, err_naive = (a.double() - t).abs().max(), (b.double() - t).abs().max()
        assert err_ours <= 2 * err_naive + 1e-6, (name, err_ours.item(), err_naive.item())


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("wanted", ["all", "weight", "bias"])
def test_half_precision_bias_and_each_gradient_alone_against_float64(dtype, wanted):
    """The weight's and bias's gradients of half inputs go through a float32 block per vocabulary block
    (its rows done, converted into the output); the partial last vocabulary block included (V = 301, blocks
    of 64), and with only some gradients wanted (a frozen head, a bias alone)."""
    hidden, weight, labels, b = inputs(37, 24, 301, dtype=torch.float64, bias=True, ignored=[3])
    g = torch.randn(37, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    truths = torch.autograd.grad((naive(hidden, weight, labels, b) * g).sum(), (hidden, weight, b))
    needs = {"all": (True, True, True), "weight": (False, True, False), "bias": (False, False, True)}[wanted]
    h, w, bb = (t.detach().to(dtype).requires_grad_(need) for t, need in zip((hidden, weight, b), needs))
    logp = fused_linear_logprob(h, w, labels, bb, row_block=8, vocab_block=64)
    params = [t for t in (h, w, bb) if t.requires_grad]
    got = torch.autograd.grad((logp * g.float()).sum(), params)
    for a, t in zip(got, [t for t, need in zip(truths, needs) if need]):
        assert a.dtype == dtype and a.shape == t.shape
        assert (a.double() - t).abs().max() <= 2e-2 * (1 + t.abs().max()), wanted


@pytest.mark.parametrize("reduction", ["sum", "mean", "none"])
def test_the_sequence_form_equals_sequence_logprob_from_logits(reduction):
    g = torch.Generator().manual_seed(3)
    hidden = torch.randn(3, 7, 8, generator=g)
    weight = torch.randn(40, 8, generator=g)
    labels = torch.randint(0, 40, (3, 7), generator=g)
    labels[0, :3] = -100
    got = fused_sequence_logprob(hidden, weight, labels, reduction=reduction, shift=True, vocab_block=16)
    want = cotnpot.sequence_logprob(hidden @ weight.T, labels, reduction=reduction, shift=True)
    assert torch.allclose(got, want, atol=1e-5)


def test_simpo_through_the_fused_log_probs_equals_the_unfused_loss():
    g = torch.Generator().manual_seed(4)
    hidden = torch.randn(4, 6, 8, generator=g, requires_grad=True)   # chosen, chosen, rejected, rejected
    weight = torch.randn(30, 8, generator=g, requires_grad=True)
    labels = torch.randint(0, 30, (4, 6), generator=g)
    labels[:, :2] = -100                                              # the prompt
    def loss(logps):
        losses, _, _ = cotnpot.simpo_loss(logps[:2], logps[2:], beta=2.0, gamma=0.5)
        return losses.mean()
    fused = loss(fused_sequence_logprob(hidden, weight, labels, reduction="mean", shift=True, vocab_block=7))
    plain = loss(cotnpot.sequence_logprob(hidden @ weight.T, labels, reduction="mean", shift=True))
    assert torch.allclose(fused, plain, atol=1e-6)
    for a, b in zip(torch.autograd.grad(fused, (hidden, weight)), torch.autograd.grad(plain, (hidden, weight))):
        assert torch.allclose(a, b, atol=1e-5)


def test_opcheck():
    hidden, weight, labels, b = inputs(10, 6, 17, bias=True, ignored=[2])
    torch.library.opcheck(torch.ops.cotnpot._fused_linear_logprob_forward.default,
                          (hidden, weight, labels, b, -100, 4, 5))
    torch.library.opcheck(torch.ops.cotnpot._fused_linear_logprob_forward.default,
                          (hidden, weight, labels, None, -100, 0, 0))
    _, lse = torch.ops.cotnpot._fused_linear_logprob_forward(hidden, weight, labels, b, -100, 4, 5)
    torch.library.opcheck(torch.ops.cotnpot._fused_linear_logprob_backward.default,
                          (torch.randn(10), hidden.detach(), weight.detach(), labels, lse.detach(), b.detach(), -100, 4, 5,
                           [True, False, True]))


def test_compiles_fullgraph_with_its_gradient():
    hidden, weight, labels, _ = inputs(12, 8, 30, ignored=[1])
    def step(h, w):
        return fused_linear_logprob(h, w, labels, vocab_block=7).sum()
    compiled = torch.compile(step, fullgraph=True, backend="aot_eager")
    got = compiled(hidden, weight)
    want = step(hidden, weight)
    assert torch.allclose(got, want)
    a = torch.autograd.grad(got, (hidden, weight))
    b = torch.autograd.grad(want, (hidden, weight))
    assert all(torch.allclose(x, y, atol=1e-6) for x, y in zip(a, b))


@pytest.mark.parametrize("layout", ["hidden transposed", "weight transposed", "both"])
def test_a_compiled_backward_takes_transposed_inputs(layout):
    """A hidden kept [H, N] or a head kept [H, V], passed transposed: the backward's fake gave its gradients the
    inputs' strides, the kernels give contiguous ones, and the compiled backward failed ("expected ... stride
    6==1 ... incorrect fake kernel")."""
    hidden, weight, labels, b = inputs(8, 6, 30, bias=True, ignored=[3])
    hidden_t = hidden.detach().T.contiguous().requires_grad_() if layout != "weight transposed" else hidden
    weight_t = weight.detach().T.contiguous().requires_grad_() if layout != "hidden transposed" else weight
    def step(h, w, bias):
        h = h.T if layout != "weight transposed" else h
        w = w.T if layout != "hidden transposed" else w
        return fused_linear_logprob(h, w, labels, bias=bias, vocab_block=7).sum()
    compiled = torch.compile(step, fullgraph=True, backend="aot_eager")
    got, want = compiled(hidden_t, weight_t, b), step(hidden_t, weight_t, b)
    torch.testing.assert_close(got, want)
    for x, y in zip(torch.autograd.grad(got, (hidden_t, weight_t, b)), torch.autograd.grad(want, (hidden_t, weight_t, b))):
        torch.testing.assert_close(x, y, atol=1e-6, rtol=1e-5)
    _, lse = torch.ops.cotnpot._fused_linear_logprob_forward(hidden.detach().T.contiguous().T, weight.detach(), labels,
                                                             b.detach(), -100, 4, 5)
    torch.library.opcheck(torch.ops.cotnpot._fused_linear_logprob_backward.default,
                          (torch.randn(8), hidden.detach().T.contiguous().T, weight.detach().T.contiguous().T, labels,
                           lse, b.detach(), -100, 4, 5, [True, True, True]))


def test_bad_input_names_the_argument():
    hidden, weight, labels, _ = inputs(4, 3, 6)
    with torch.no_grad():
        with pytest.raises(RuntimeError, match=r"weight must be \[V, H\] with H = 3"):
            fused_linear_logprob(hidden, torch.randn(6, 4), labels)
        with pytest.raises(RuntimeError, match="weight must have hidden's dtype"):
            fused_linear_logprob(hidden, weight.double(), labels)
        with pytest.raises(RuntimeError, match=r"labels must be \[N\] with N = 4"):
            fused_linear_logprob(hidden, weight, labels[:3])
        with pytest.raises(RuntimeError, match=r"labels must be in \[0, V\) = \[0, 6\).*got 9 at position 1"):
            fused_linear_logprob(hidden, weight, torch.tensor([0, 9, 1, 2]))
        with pytest.raises(RuntimeError, match=r"bias must be \[V\] with V = 6"):
            fused_linear_logprob(hidden, weight, labels, torch.zeros(5))
        with pytest.raises(RuntimeError, match="hidden must be 2-D"):
            fused_linear_logprob(hidden[None], weight, labels)
    with pytest.raises(ValueError, match="reduction must be one of"):
        fused_sequence_logprob(hidden[None], weight, labels[None], reduction="max")
    # the sequence form names the caller's labels[b, t], not a position in its flattened, shifted copy
    bad = torch.zeros(2, 4, dtype=torch.long)
    bad[1, 2], bad[0, 0] = 9, -5   # labels[0, 0] is shifted out: only labels[1, 2] is read
    for shift, named in ((True, r"9 at labels\[1, 2\]"), (False, r"-5 at labels\[0, 0\]")):   # the first read
        with torch.no_grad(), pytest.raises(RuntimeError, match=r"fused_sequence_logprob: labels must be in "
                                            r"\[0, V\) = \[0, 6\).*got " + named + "$"):
            fused_sequence_logprob(torch.randn(2, 4, 3), weight, bad, shift=shift)
    # found by a breaker: complex labels passed (their imaginary part dropped with a warning), float8 hidden
    # states were taken, and an infinite or huge memory budget failed in int() or in pybind11's cast
    with torch.no_grad():
        with pytest.raises(RuntimeError, match="labels must be integer token ids, got ComplexFloat"):
            fused_linear_logprob(hidden, weight, labels.to(torch.complex64))
        with pytest.raises(RuntimeError, match="hidden must be float32, float64, float16 or bfloat16, got Float8"):
            fused_linear_logprob(hidden.to(torch.float8_e4m3fn), weight.to(torch.float8_e4m3fn), labels)
        for budget in (float("inf"), float("nan"), 0, -1.0, "8"):
            with pytest.raises(ValueError, match="block_memory_mb must be a finite number > 0"):
                fused_linear_logprob(hidden, weight, labels, block_memory_mb=budget)
        torch.testing.assert_close(fused_linear_logprob(hidden, weight, labels, block_memory_mb=1e300),
                                   fused_linear_logprob(hidden, weight, labels))
    # found by a breaker: None and a 0-d weight failed in the wrapper with an AttributeError or IndexError
    with pytest.raises(TypeError, match="fused_linear_logprob: weight must be a tensor, got NoneType"):
        fused_linear_logprob(hidden, None, labels)
    with pytest.raises(TypeError, match="fused_linear_logprob: hidden must be a tensor, got NoneType"):
        fused_linear_logprob(None, weight, labels)
    with pytest.raises(RuntimeError, match=r"weight must be 2-D \[V,H\], got 0-D"):
        fused_linear_logprob(hidden, torch.tensor(1.0), labels)


def test_the_log_sum_exp_output_carries_no_gradient():
    """Found by a breaker: the internal op's lse (and the frozen form's dlogp_dhidden) carried a grad_fn whose
    gradient was silently 0; they are marked non-differentiable."""
    hidden, weight, labels, _ = inputs(4, 3, 6)
    _, lse = torch.ops.cotnpot._fused_linear_logprob_forward(hidden, weight, labels, None, -100, 0, 0)
    _, lse2, dlogp = torch.ops.cotnpot._fused_linear_logprob_frozen_weight_forward(hidden, weight.detach(), labels,
                                                                                  None, -100, 0, 0)
    assert not lse.requires_grad and not lse2.requires_grad and not dlogp.requires_grad


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("frozen", [False, True])
def test_small_shares_of_many_vocabulary_blocks_add_up(dtype, frozen):
    """Found by a breaker: the blocks' log-sum-exps were merged in float log space, where a block whose share
    of the softmax is below half a float step of the running value vanishes. A confident token (logit 20,
    4095 others at 6) over one-column blocks had a log-prob of 0.0 instead of -3.4e-3, and at V = 152k with
    the default blocks its hidden gradient had the wrong sign. Now within float32's own error."""
    V, label = 4096, 17
    weight = torch.full((V, 1), 6.0, dtype=torch.float64)
    weight[label] = 20.0
    hidden = torch.ones(2, 1, dtype=torch.float64)
    labels = torch.tensor([label, 3])
    ref_h = hidden.clone().requires_grad_()
    want = torch.log_softmax(ref_h @ weight.T, -1).gather(1, labels[:, None])[:, 0]
    (want_grad,) = torch.autograd.grad(want.sum(), ref_h)
    h = hidden.to(dtype).requires_grad_()
    w = weight.to(dtype).requires_grad_(not frozen)
    for vocab_block in (1, 8, 0):
        got = fused_linear_logprob(h, w, labels, vocab_block=vocab_block)
        torch.testing.assert_close(got.double(), want.detach(), atol=2e-6, rtol=0)
        (got_grad,) = torch.autograd.grad(got.sum(), h)
        # 16-bit: the plain form's gradient of the logits is rounded once to the dtype (as the naive path's)
        rtol = 2e-3 if dtype == torch.float32 or frozen else 1e-2
        torch.testing.assert_close(got_grad.double(), want_grad, atol=1e-4, rtol=rtol)


def test_a_frozen_head_gets_no_weight_gradient_and_double_backward_is_refused():
    hidden, weight, labels, _ = inputs(8, 4, 20)
    weight.requires_grad_(False)
    (gh,) = torch.autograd.grad(fused_linear_logprob(hidden, weight, labels).sum(), hidden)
    assert torch.allclose(gh, torch.autograd.grad(naive(hidden, weight, labels).sum(), hidden)[0], atol=1e-5)
    lse = torch.ops.cotnpot._fused_linear_logprob_forward(hidden, weight, labels, None, -100, 0, 0)[1]
    out = torch.ops.cotnpot._fused_linear_logprob_backward(torch.ones(8), hidden.detach(), weight, labels, lse,
                                                            None, -100, 0, 0, [True, False, False])
    assert out[0].shape == hidden.shape and out[1].numel() == 0 and out[2].numel() == 0   # no [V,H] buffer
    weight.requires_grad_(True)
    with pytest.raises(RuntimeError, match="double backward"):
        torch.autograd.grad(fused_linear_logprob(hidden, weight, labels).sum(), hidden, create_graph=True)


def test_empty_sequences():
    hidden, weight = torch.randn(2, 1, 4), torch.randn(9, 4)
    labels = torch.zeros(2, 1, dtype=torch.long)
    assert torch.equal(fused_sequence_logprob(hidden, weight, labels, shift=True), torch.zeros(2))
    # T = 0 under shift: refused as sequence_logprob refuses it (zeros had come back; a breaker)
    with pytest.raises(ValueError, match="fused_sequence_logprob: shift=True needs T >= 1, got T = 0"):
        fused_sequence_logprob(hidden[:, :0], weight, labels[:, :0], shift=True)


def test_block_sizes_from_a_memory_budget():
    from cotnpot.fused import block_sizes
    assert block_sizes(32000) == (0, 0)                                   # the op chooses (8 MiB on the CPU)
    assert block_sizes(32000, block_memory_mb=16) == (4096, 1024)         # 16 MiB / (1024 columns x 4 bytes)
    assert block_sizes(32000, vocab_block=1000, block_memory_mb=1) == (262, 1000)
    assert block_sizes(50, block_memory_mb=0.001) == (5, 50)              # a vocabulary narrower than a block
    assert block_sizes(32000, row_block=7, block_memory_mb=1) == (7, 0)   # sizes given stay
    assert block_sizes(32000, block_memory_mb=1e-9) == (1, 1024)          # at least one row
    with pytest.raises(ValueError, match="block_memory_mb must be a finite number > 0, got 0"):
        block_sizes(10, block_memory_mb=0)
    with pytest.raises(ValueError, match="row_block must be an int >= 0"):
        block_sizes(10, row_block=-1)
    # The values and gradients do not depend on the blocks.
    g = torch.Generator().manual_seed(3)
    hidden = torch.randn(40, 16, generator=g, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(300, 16, generator=g, dtype=torch.float64, requires_grad=True)
    labels = torch.randint(300, (40,), generator=g)
    labels[3] = -100
    out = {}
    for budget in (None, 0.002):   # 0.002 MiB: 1 row of 300 columns per block
        logp = cotnpot.fused_linear_logprob(hidden, weight, labels, block_memory_mb=budget)
        out[budget] = (logp, *torch.autograd.grad(logp.sum(), (hidden, weight)))
    for a, b in zip(out[None], out[0.002]):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def _peak_mib(body, *args):
    """Peak RSS growth (MiB) of what `body` passes to measure(), in a process of its own (peak RSS is per
    process), its GEMMs on 2 threads (their packing buffers are per thread: the same budget on any machine)."""
    import subprocess
    import sys
    preamble = (
        "import sys, torch, cotnpot\n"
        "torch.set_num_threads(2)\n"
        "def rss(key):\n"
        "    return next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith(key + ':')) / 1024\n"
        "def measure(step):\n"
        "    open('/proc/self/clear_refs', 'w').write('5')   # peak := now\n"
        "    base = rss('VmRSS')\n"
        "    step()\n"
        "    print(rss('VmHWM') - base)\n"
        "torch.manual_seed(0)\n")
    return float(subprocess.run([sys.executable, "-c", preamble + body, *args], capture_output=True, text=True,
                                check=True, timeout=120).stdout)


_BACKWARD_PEAK = r'''
dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[sys.argv[1]]
hidden = torch.randn(512, 256, dtype=dtype, requires_grad=True)
weight = (torch.randn(32768, 256) / 16).to(dtype).requires_grad_()
labels = torch.randint(0, 32768, (512,))
cotnpot.fused_linear_logprob(hidden[:8], weight, labels[:8]).sum().backward()   # warm-up: thread pools
weight.grad = hidden.grad = None
out = cotnpot.fused_linear_logprob(hidden, weight, labels)
measure(lambda: out.sum().backward())
'''


@pytest.mark.parametrize("dtype", ["fp32", "bf16"])
def test_the_backward_holds_one_vocabulary_block_beyond_the_gradients(dtype):
    """Peak memory of the backward, V = 32768, H = 256: the weight's gradient is 32 MiB in fp32, 16 MiB in
    bf16. Beyond it the backward may hold blocks (8 MiB of logits, a float32 block of the weight's gradient:
    4 MiB) and the hidden state's (0.5 MiB), not a float32 [V, H] accumulator -- which for bf16 was 32 MiB
    more than the gradient itself."""
    peak = _peak_mib(_BACKWARD_PEAK, dtype)
    grad_mib = {"fp32": 32, "bf16": 16}[dtype]
    assert peak < grad_mib + 20, f"{dtype}: backward peak {peak:.0f} MiB beyond its inputs, gradient {grad_mib} MiB"


_FORWARD_PEAK = r'''
hidden, weight = torch.randn(4096, 256), torch.randn(65536, 256) / 16
labels = torch.randint(0, 65536, (4096,))
with torch.no_grad():
    cotnpot.fused_linear_logprob(hidden[:8], weight, labels[:8])   # warm-up: thread pools
    measure(lambda: cotnpot.fused_linear_logprob(hidden, weight, labels))
'''


def test_the_forward_holds_one_block_of_logits():
    """Peak memory of the fp32 forward at N = 4096, V = 65536: the logits would be 1 GiB; the op holds one
    block of 8 MiB, written into one reused buffer, plus the GEMM's packing buffers. A fresh tensor per block
    held several blocks at once."""
    peak = _peak_mib(_FORWARD_PEAK)
    assert peak < 16, f"forward peak {peak:.0f} MiB beyond its inputs (one block: 8 MiB)"


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_a_vocabulary_block_masked_by_the_bias_stays_finite(dtype):
    """Found by a reviewer: a bias of -inf over a whole vocabulary block (tokens masked out) made every row
    NaN in the CPU form: that block's log-sum-exp took exp(-inf - (-inf)). Its tokens have probability 0."""
    hidden, weight, labels, b = inputs(6, 8, 20, dtype=torch.float64, bias=True)
    with torch.no_grad():
        b[:4] = float("-inf")
    labels = labels.clamp_min(4)
    want = naive(hidden, weight, labels, b)
    h, w, bb = (t.detach().to(dtype).requires_grad_() for t in (hidden, weight, b))
    got = fused_linear_logprob(h, w, labels, bb, vocab_block=4)
    assert torch.isfinite(got).all()
    assert torch.allclose(got.double(), want, atol=1e-5 if dtype == torch.float32 else 5e-2)
    gh, gw = torch.autograd.grad(got.sum(), (h, w))
    assert torch.isfinite(gh).all() and torch.isfinite(gw).all() and gw[:4].abs().max() < 1e-30


@pytest.mark.parametrize("frozen", [False, True])
def test_autocast_changes_nothing(frozen):
    """Found by a reviewer: the composite form (fp16 and fp64 on the CPU, any other device) ran its block GEMMs
    through autocast, in bf16 under torch.autocast("cpu"): an fp16 input's log-probs were 10x as far off (the
    trainer autocasts its fused path with bf16=True). Values and gradients are now the same with and without.
    (fp16: the CPU form's out= GEMMs, for fp32 and bf16, never went through autocast; fp64 it never casts.)"""
    dtype = torch.float16
    g = torch.Generator().manual_seed(3)
    hidden = torch.randn(16, 64, generator=g).to(dtype).requires_grad_()
    weight = (torch.randn(300, 64, generator=g) * 0.3).to(dtype).requires_grad_(not frozen)
    labels = torch.randint(300, (16,), generator=g)
    results = []
    for enabled in (False, True):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=enabled):
            logp = fused_linear_logprob(hidden, weight, labels)
        wanted = [hidden] + ([] if frozen else [weight])
        results.append((logp.detach(), *torch.autograd.grad(logp.sum(), wanted)))
    for plain, under in zip(*results):
        assert plain.dtype == under.dtype and torch.equal(plain, under)


@pytest.mark.parametrize("with_bias", [False, True])
def test_bf16_inputs_take_float32_gemms_on_a_cpu_without_bf16_instructions(with_bias, monkeypatch):
    """On an AVX2 CPU torch's bf16 GEMM is a scalar fallback (65x float32's time; the bf16 forward+backward
    took 12.5 s at N = 1024, H = 512, V = 8000 against 0.56 s now): the blocks' GEMMs take float32 copies, so
    the values and gradients are exactly the float32 op's on the same (bf16-representable) numbers. Both
    forms run on any CPU through COTNPOT_FUSED_BF16_GEMMS; without it the CPU decides."""
    from cotnpot._cpu import cpu_has_fast_bf16
    monkeypatch.setenv("COTNPOT_FUSED_BF16_GEMMS", "0")   # float32 copies, as on a CPU without bf16 instructions
    assert _bf16_and_float32_results_equal(with_bias)
    monkeypatch.setenv("COTNPOT_FUSED_BF16_GEMMS", "1")   # bf16 GEMMs: each block's logits rounded to bf16
    assert not _bf16_and_float32_results_equal(with_bias)
    monkeypatch.delenv("COTNPOT_FUSED_BF16_GEMMS")
    assert _bf16_and_float32_results_equal(with_bias) is not cpu_has_fast_bf16()


def _bf16_and_float32_results_equal(with_bias):
    torch.manual_seed(0)
    hidden = torch.randn(70, 48).bfloat16()
    weight = (torch.randn(1100, 48) / 4).bfloat16()
    bias = torch.randn(1100).bfloat16() if with_bias else None
    labels = torch.randint(0, 1100, (70,))
    labels[3] = -100
    results = []
    for dtype in (torch.bfloat16, torch.float32):
        h, w = hidden.to(dtype, copy=True).requires_grad_(), weight.to(dtype, copy=True).requires_grad_()
        b = bias.to(dtype, copy=True).requires_grad_() if with_bias else None
        out = fused_linear_logprob(h, w, labels, bias=b, row_block=32, vocab_block=500)
        out.backward(torch.linspace(-1, 1, 70))
        results.append((out, h.grad.float(), w.grad.float(), b.grad.float() if with_bias else None))
    (out16, gh16, gw16, gb16), (out32, gh32, gw32, gb32) = results
    return (torch.equal(out16, out32) and torch.equal(gh16, gh32.bfloat16().float())
            and torch.equal(gw16, gw32.bfloat16().float()) and (not with_bias or torch.equal(gb16, gb32.bfloat16().float())))


@pytest.mark.parametrize("dtype, ignore_index", [(torch.uint8, -100), (torch.int8, 356), (torch.int16, -100)])
def test_narrow_integer_labels_compare_with_ignore_index_as_integers(dtype, ignore_index):
    """A breaker: in uint8, `labels == -100` holds for 156 (torch wraps the scalar), so a scored token 156 counted
    as ignored in the mean's denominator and got no gradient in the frozen-head backward, while the forward
    scored it. Every path now equals the same labels in int64."""
    g = torch.Generator().manual_seed(3)
    hidden, weight = torch.randn(2, 4, 8, generator=g), torch.randn(200, 8, generator=g)
    wide = torch.tensor([[156 if dtype == torch.uint8 else 100, 3, 7, 11], [5, 6, 9, 12]])
    if dtype == torch.int16:
        wide[1, 0] = ignore_index   # an ignored position, where the dtype can hold ignore_index
    labels = wide.to(dtype)
    for reduction in ("mean", "sum", "none"):
        torch.testing.assert_close(fused_sequence_logprob(hidden, weight, labels, ignore_index=ignore_index,
                                                          reduction=reduction),
                                   fused_sequence_logprob(hidden, weight, wide, ignore_index=ignore_index,
                                                          reduction=reduction))
    grads = []
    for y in (labels, wide):   # the frozen-head form (weight needs no gradient)
        h = hidden.reshape(8, 8).clone().requires_grad_()
        fused_linear_logprob(h, weight, y.reshape(8), ignore_index=ignore_index).sum().backward()
        grads.append(h.grad)
    torch.testing.assert_close(grads[0], grads[1])
    assert grads[0][0].abs().sum() > 0   # the row of label 156 (or 100) is scored and has a gradient
    loss = cotnpot.FusedLinearSimPOLoss(torch.nn.Linear(8, 200, bias=False))
    assert torch.equal(loss.lengths(labels), loss.lengths(wide))
