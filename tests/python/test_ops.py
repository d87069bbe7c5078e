"""Every torch.ops.cotnpot op passes torch.library.opcheck (schema, autograd registration, FakeTensor,
AOT dispatch with static and dynamic shapes) over several shapes and dtypes, and a compiled training
step (model -> sequence_logprob -> simpo_loss -> backward) equals eager."""
import pytest
import torch
from torch.library import opcheck

import cotnpot  # noqa: F401  (registers the ops)

ops = torch.ops.cotnpot
FLOATS = [torch.float32, torch.float64, torch.bfloat16]


def logprob_inputs(shape, dtype, requires_grad):
    batch, steps, vocab = shape
    logits = torch.randn(batch, steps, vocab, dtype=dtype, requires_grad=requires_grad)
    labels = torch.randint(vocab, (batch, steps))
    labels[0, : steps // 2] = -100
    return logits, labels


@pytest.mark.parametrize("shape", [(2, 5, 11), (1, 1, 3), (3, 7, 64)])
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shift", [False, True])
def test_opcheck_logprob_ops(shape, dtype, shift):
    for requires_grad in (False, True):
        logits, labels = logprob_inputs(shape, dtype, requires_grad)
        opcheck(ops.token_logprob, (logits, labels, -100, shift))
        opcheck(ops._token_logprob, (logits, labels, -100, shift))
        for reduction in ("sum", "mean", "none"):
            opcheck(ops.sequence_logprob, (logits, labels, -100, reduction, shift))
    logits, labels = logprob_inputs(shape, dtype, False)
    logp, lse = ops._token_logprob_forward(logits, labels, -100, shift)
    opcheck(ops._token_logprob_forward, (logits, labels, -100, shift))
    opcheck(ops._token_logprob_backward, (torch.randn_like(logp), logits, labels, lse, -100, shift))


def pair(batch, dtype, requires_grad=True):
    return [(-torch.rand(batch, dtype=dtype) * 5).requires_grad_(requires_grad) for _ in range(2)]


@pytest.mark.parametrize("batch", [1, 4, 9])
@pytest.mark.parametrize("dtype", FLOATS)
def test_opcheck_simpo(batch, dtype):
    chosen, rejected = pair(batch, dtype)
    for loss_type in ("sigmoid", "hinge"):
        opcheck(ops.simpo_loss, (chosen, rejected, 2.0, None, 0.25, 0.1, loss_type, 0.5))
    opcheck(ops.simpo_loss, (chosen, rejected, 0.1, 0.5, 0.25, 0.0, "sigmoid", 1.0))


@pytest.mark.parametrize("batch", [2, 5])
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("loss_type", cotnpot.DPO_LOSS_TYPES)
def test_opcheck_dpo(batch, dtype, loss_type):
    chosen, rejected = pair(batch, dtype)
    ref_chosen, ref_rejected = pair(batch, dtype, requires_grad=False)
    lengths = torch.randint(1, 20, (batch,)), torch.randint(1, 20, (batch,))
    smoothing = 0.1 if loss_type in ("sigmoid", "robust", "exo_pair", "aot", "aot_pair") else 0.0
    args = (chosen, rejected, ref_chosen, ref_rejected, 0.1, smoothing, loss_type, *lengths, True,
            torch.tensor(0.05, dtype=dtype) if loss_type == "bco_pair" else None)
    opcheck(ops.dpo_loss, args)
    opcheck(ops.dpo_loss, (*args, True))   # TRL 1.x's IPO rewards on sums


@pytest.mark.parametrize("shape", [(2, 6), (5, 3)])
@pytest.mark.parametrize("dtype", FLOATS)
def test_opcheck_orm(shape, dtype):
    scores = torch.randn(*shape, dtype=dtype, requires_grad=True)
    mask = torch.rand(*shape) < 0.7
    mask[:, 0] = True
    labels = torch.randint(2, (shape[0],))
    for reduction in ("mean", "sum", "none"):
        opcheck(ops.orm_loss, (scores, labels, mask, reduction))
    for mode in ("last", "mean"):
        opcheck(ops.orm_score, (scores, mask, mode))


@pytest.mark.parametrize("shape", [(3, 8), (1, 1), (4, 0)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_opcheck_selection(shape, dtype):
    problems, n = shape
    scores = torch.randn(*shape, dtype=dtype)
    valid = torch.rand(*shape) < 0.8
    keep = torch.rand(*shape) < 0.5
    classes = torch.randint(max(n, 1), shape) if n else torch.zeros(shape, dtype=torch.long)
    for fallback in ("all", "none"):
        opcheck(ops.best_of_n, (scores, valid, keep, fallback))
        opcheck(ops.vote, (classes, valid, scores.abs(), keep, fallback))
    opcheck(ops.best_of_n, (scores, None, None, "all"))
    opcheck(ops.vote, (classes, None, None, None, "all"))


def test_every_op_is_pt2_compliant_and_tested():
    # From the dispatcher's registry: dir(torch.ops.cotnpot) lists only the ops already looked up, so this
    # test failed when run alone.
    names = {name.split("::")[1].split(".")[0] for name in torch._C._dispatch_get_all_op_names()
             if name.startswith("cotnpot::")}
    assert names == {"_token_logprob_forward", "_token_logprob_backward", "_token_logprob", "token_logprob",
                     "sequence_logprob", "simpo_loss", "dpo_loss", "orm_loss", "orm_score", "best_of_n", "vote",
                     "_fused_linear_logprob_forward", "_fused_linear_logprob_backward",
                     "_fused_linear_logprob_frozen_weight_forward",   # opcheck: test_fused*.py
                     "_fused_linear_logprob_frozen_weight_backward"}
    for name in names:
        assert torch.Tag.pt2_compliant_tag in getattr(ops, name).default.tags, name


class TinyLM(torch.nn.Module):
    def __init__(self, vocab=37, dim=16):
        super().__init__()
        self.embed = torch.nn.Embedding(vocab, dim)
        self.mix = torch.nn.Linear(dim, dim)
        self.head = torch.nn.Linear(dim, vocab)

    def forward(self, ids):
        return self.head(torch.tanh(self.mix(self.embed(ids))))


def simpo_loss_of(model, ids, labels):
    logits = model(ids)
    avg = cotnpot.sequence_logprob(logits, labels, reduction="mean", shift=True)
    chosen, rejected = avg[0::2], avg[1::2]
    losses, _, _ = cotnpot.simpo_loss(chosen, rejected)
    return losses.mean()


@pytest.mark.parametrize("dynamic", [False, True])
def test_compiled_training_step_equals_eager(dynamic):
    torch._dynamo.reset()
    ids = torch.randint(37, (4, 9))
    labels = ids.clone()
    labels[:, :3] = -100     # the prompt
    eager, compiled_model = TinyLM(), TinyLM()
    compiled_model.load_state_dict(eager.state_dict())
    # One graph for model, log-probs and loss; AOTAutograd compiles its backward, which loss.backward() runs.
    compiled_loss = torch.compile(simpo_loss_of, fullgraph=True, dynamic=dynamic)

    for _ in range(2):   # the second call reuses the compiled graph
        expected = simpo_loss_of(eager, ids, labels)
        got = compiled_loss(compiled_model, ids, labels)
        expected.backward()
        got.backward()
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)
        for (name, p), q in zip(eager.named_parameters(), compiled_model.parameters()):
            torch.testing.assert_close(q.grad, p.grad, rtol=1e-4, atol=1e-6, msg=name)
            p.grad = q.grad = None


def test_compiled_selection_equals_eager():
    torch._dynamo.reset()
    scores = torch.randn(5, 8)
    keep = torch.rand(5, 8) < 0.5
    classes = torch.randint(8, (5, 8))

    def select(scores, keep, classes):
        return cotnpot.best_of_n(scores, keep=keep), tuple(cotnpot.vote(classes, weights=scores.exp(), keep=keep))

    got = torch.compile(select, fullgraph=True)(scores, keep, classes)
    expected = select(scores, keep, classes)
    assert torch.equal(got[0], expected[0])
    for g, e in zip(got[1], expected[1]):
        assert torch.equal(g, e)


def test_bad_labels_still_fail_under_compile():
    """The label range check lives in the kernel, so it also guards compiled code."""
    torch._dynamo.reset()
    logits = torch.randn(2, 4, 5)
    labels = torch.full((2, 4), 7)
    with pytest.raises(Exception, match=r"labels must be in \[0, V\) = \[0, 5\)"):
        torch.compile(lambda x, y: cotnpot.sequence_logprob(x, y), fullgraph=True)(logits, labels)


META = torch.device("meta")
MIXED_DEVICE_CALLS = {
    "fused weight": lambda: cotnpot.fused_linear_logprob(torch.randn(3, 8), torch.randn(5, 8, device=META),
                                                         torch.tensor([0, 1, 2])),
    "fused labels": lambda: cotnpot.fused_linear_logprob(torch.randn(3, 8), torch.randn(5, 8),
                                                         torch.tensor([0, 1, 2], device=META)),
    "fused bias": lambda: cotnpot.fused_linear_logprob(torch.randn(3, 8), torch.randn(5, 8), torch.tensor([0, 1, 2]),
                                                       bias=torch.randn(5, device=META)),
    "frozen-head fused backward": lambda: torch.ops.cotnpot._fused_linear_logprob_frozen_weight_backward(
        torch.randn(3), torch.randn(3, 8, device=META), torch.float32),
    "token labels": lambda: torch.ops.cotnpot._token_logprob_forward(
        torch.randn(2, 3, 5), torch.zeros(2, 3, dtype=torch.long, device=META), -100, False),
    "token backward lse": lambda: torch.ops.cotnpot._token_logprob_backward(
        torch.randn(2, 3), torch.randn(2, 3, 5), torch.zeros(2, 3, dtype=torch.long), torch.randn(2, 3, device=META),
        -100, False),
    "best_of_n valid": lambda: cotnpot.best_of_n(torch.randn(3, 4),
                                                 valid=torch.ones(3, 4, dtype=torch.bool, device=META)),
    "vote weights": lambda: cotnpot.vote(torch.zeros(3, 4, dtype=torch.long), weights=torch.ones(3, 4, device=META)),
}


@pytest.mark.parametrize("call", MIXED_DEVICE_CALLS.values(), ids=MIXED_DEVICE_CALLS.keys())
def test_a_meta_tensor_among_cpu_ones_is_refused(call):
    """Found by a breaker: the fake kernels also serve the Meta key, which a call mixing meta and CPU tensors
    dispatches to, and they made their outputs on the first input's device without a device check: the
    caller got uninitialized CPU memory as log-probs, indices or votes."""
    with pytest.raises(RuntimeError, match=r"must be on device (cpu|meta) \(where .* is\), got (meta|cpu)"):
        call()


def test_meta_only_calls_still_give_shapes_and_fakes_check_what_the_kernels_check():
    out = cotnpot.fused_linear_logprob(torch.randn(3, 8, device=META), torch.randn(5, 8, device=META),
                                       torch.tensor([0, 1, 2], device=META))
    assert out.device == META and out.shape == (3,)
    with pytest.raises(RuntimeError, match="best_of_n: scores must be floating-point"):
        cotnpot.best_of_n(torch.zeros(3, 4, dtype=torch.long, device=META))
    with pytest.raises(RuntimeError, match=r"best_of_n: valid must have shape \[3, 4\]"):
        cotnpot.best_of_n(torch.randn(3, 4, device=META), valid=torch.ones(3, 5, dtype=torch.bool, device=META))
    with pytest.raises(RuntimeError, match="vote: weights must be floating-point"):
        cotnpot.vote(torch.zeros(3, 4, dtype=torch.long, device=META), weights=torch.ones(3, 4, dtype=torch.long,
                                                                                          device=META))


def test_the_fakes_check_fallback_as_the_kernels_do():
    """Found by a breaker: under FakeTensorMode (and on meta tensors) a bad fallback passed, so torch.compile's
    tracing accepted what eager mode refuses."""
    from torch._subclasses.fake_tensor import FakeTensorMode
    for call, make in ((cotnpot.best_of_n, lambda: torch.randn(3, 4)),
                       (cotnpot.vote, lambda: torch.zeros(3, 4, dtype=torch.long))):
        message = rf'{call.__name__}: fallback must be "all" or "none", got "x"'
        with FakeTensorMode():
            with pytest.raises(RuntimeError, match=message):
                call(make(), fallback="x")
        with pytest.raises(RuntimeError, match=message):
            call(make().to(META), fallback="x")
