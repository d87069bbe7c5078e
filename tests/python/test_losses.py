"""Every loss against its pure-PyTorch reference: values, gradients (gradcheck in float64), low precision,
bad inputs, and the module forms."""
import math

import pytest
import torch

import cotnpot
from cotnpot import ORMHead, reference

B = 7


def pair_logps(dtype=torch.float32, scale=5.0):
    g = torch.Generator().manual_seed(1)
    return [(-scale * torch.rand(B, generator=g, dtype=torch.float64) - 1).to(dtype) for _ in range(4)]


def lengths():
    return torch.tensor([3, 5, 8, 13, 2, 7, 4]), torch.tensor([4, 4, 9, 1, 6, 3, 10])


def dpo_kwargs(loss_type):
    kwargs = {"loss_type": loss_type, "beta": 0.3}
    if loss_type == "ipo":
        kwargs["chosen_lengths"], kwargs["rejected_lengths"] = lengths()
    if loss_type in ("sigmoid", "robust", "exo_pair", "aot", "aot_pair"):
        kwargs["label_smoothing"] = 0.1
    return kwargs


@pytest.mark.parametrize("loss_type", cotnpot.DPO_LOSS_TYPES)
def test_dpo_family_matches_reference(loss_type):
    inputs = pair_logps(torch.float64)
    kwargs = dpo_kwargs(loss_type)
    got = cotnpot.dpo_loss(*inputs, **kwargs)
    want = reference.dpo_loss(*inputs, **kwargs)
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, rtol=1e-12, atol=1e-12)


def test_ipo_sum_form_and_bco_delta_match_reference():
    inputs = pair_logps(torch.float64)
    for kwargs in ({"loss_type": "ipo", "ipo_length_normalize": False},
                   {"loss_type": "bco_pair", "bco_delta": torch.tensor(0.37, dtype=torch.float64)}):
        torch.testing.assert_close(cotnpot.dpo_loss(*inputs, **kwargs)[0], reference.dpo_loss(*inputs, **kwargs)[0])


@pytest.mark.parametrize("kwargs", [{}, {"loss_type": "hinge"}, {"label_smoothing": 0.2}, {"sft_weight": 1.0},
                                    {"beta": 0.1, "gamma": 0.5, "sft_weight": 1.0}, {"gamma_beta_ratio": 0.0}])
def test_simpo_matches_reference(kwargs):
    chosen, rejected = pair_logps(torch.float64)[:2]
    for g, w in zip(cotnpot.simpo_loss(chosen, rejected, **kwargs), reference.simpo_loss(chosen, rejected, **kwargs)):
        torch.testing.assert_close(g, w, rtol=1e-12, atol=1e-12)


def orm_inputs(dtype=torch.float32):
    g = torch.Generator().manual_seed(2)
    scores = torch.randn(4, 9, generator=g, dtype=torch.float64).to(dtype)
    mask = torch.rand(4, 9, generator=g) < 0.7
    mask[:, 0] = True
    labels = torch.tensor([True, False, True, False])
    return scores, labels, mask


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_orm_loss_matches_reference(reduction):
    scores, labels, mask = orm_inputs(torch.float64)
    torch.testing.assert_close(cotnpot.orm_loss(scores, labels, mask, reduction),
                               reference.orm_loss(scores, labels, mask, reduction))
    # integer and float labels are the same labels
    torch.testing.assert_close(cotnpot.orm_loss(scores, labels.long(), mask, reduction),
                               cotnpot.orm_loss(scores, labels.double(), mask, reduction))


@pytest.mark.parametrize("mode", ["last", "mean"])
def test_orm_score_matches_reference(mode):
    scores, _, mask = orm_inputs(torch.float64)
    torch.testing.assert_close(cotnpot.orm_score(scores, mask, mode), reference.orm_score(scores, mask, mode))


# ---- gradients -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("loss_type", cotnpot.DPO_LOSS_TYPES)
def test_dpo_family_gradcheck(loss_type):
    inputs = [x.requires_grad_() for x in pair_logps(torch.float64)]
    kwargs = dpo_kwargs(loss_type)
    if loss_type == "bco_pair":  # the batch-mean delta is detached (as in TRL): hold it fixed for finite differences
        kwargs["bco_delta"] = torch.tensor(0.2, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda *xs: cotnpot.dpo_loss(*xs, **kwargs)[0], inputs)


@pytest.mark.parametrize("kwargs", [{}, {"loss_type": "hinge"}, {"label_smoothing": 0.2, "sft_weight": 0.5}])
def test_simpo_gradcheck(kwargs):
    inputs = [x.requires_grad_() for x in pair_logps(torch.float64)[:2]]
    assert torch.autograd.gradcheck(lambda c, r: cotnpot.simpo_loss(c, r, **kwargs)[0], inputs)


def test_orm_gradcheck():
    scores, labels, mask = orm_inputs(torch.float64)
    scores.requires_grad_()
    assert torch.autograd.gradcheck(lambda s: cotnpot.orm_loss(s, labels, mask), (scores,))
    assert torch.autograd.gradcheck(lambda s: cotnpot.orm_score(s, mask, "last"), (scores,))
    assert torch.autograd.gradcheck(lambda s: cotnpot.orm_score(s, mask, "mean"), (scores,))


def test_rewards_are_detached():
    chosen, rejected = [x.requires_grad_() for x in pair_logps()[:2]]
    _, chosen_r, rejected_r = cotnpot.simpo_loss(chosen, rejected)
    assert not chosen_r.requires_grad and not rejected_r.requires_grad


# ---- low precision: float32 tight; bfloat16 no worse than twice PyTorch's own bfloat16 error ----------

def low_precision_errors(fn, ref_fn, inputs, dtype):
    """(our error, PyTorch reference's own error) in dtype, both against the float32 reference on float32 inputs."""
    truth = ref_fn(*inputs)
    ours = fn(*(x.to(dtype) for x in inputs)).float()
    theirs = ref_fn(*(x.to(dtype) for x in inputs)).float()
    return (ours - truth).abs().max().item(), (theirs - truth).abs().max().item()


@pytest.mark.parametrize("loss_type", cotnpot.DPO_LOSS_TYPES)
def test_dpo_family_float32_and_bfloat16(loss_type):
    inputs = pair_logps(torch.float32, scale=1.0)
    kwargs = dpo_kwargs(loss_type)
    ours = cotnpot.dpo_loss(*inputs, **kwargs)[0]
    torch.testing.assert_close(ours, reference.dpo_loss(*(x.double() for x in inputs), **kwargs)[0].float(),
                               rtol=1e-5, atol=1e-6)
    our_error, pytorch_error = low_precision_errors(lambda *xs: cotnpot.dpo_loss(*xs, **kwargs)[0],
                                                    lambda *xs: reference.dpo_loss(*xs, **kwargs)[0],
                                                    inputs, torch.bfloat16)
    assert cotnpot.dpo_loss(*(x.bfloat16() for x in inputs), **kwargs)[0].dtype == torch.bfloat16
    assert our_error <= 2 * pytorch_error + 1e-6, (our_error, pytorch_error)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf"), 100.0])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_orm_gradients_at_masked_positions_are_zero_whatever_the_score_there(bad, dtype):
    """Found by a breaker: a NaN score at a padding position gave a NaN gradient there in
    orm_loss and both orm_score modes (0 times the BCE's or the sigmoid's derivative at NaN); the values were
    right. Now the gradients equal those with 0 at the padding: 0 there, the rest unchanged."""
    mask = torch.tensor([[True, True, False, False], [True, False, True, False]])
    labels = torch.tensor([1, 0])
    for fn in (lambda s: cotnpot.orm_loss(s, labels, mask), lambda s: cotnpot.orm_loss(s, labels, mask, "none").sum(),
               lambda s: cotnpot.orm_score(s, mask, "last").sum(), lambda s: cotnpot.orm_score(s, mask, "mean").sum()):
        grads = []
        for pad in (bad, 0.0):
            scores = torch.tensor([[0.5, 2.0, pad, pad], [-1.0, pad, 3.0, pad]], dtype=dtype, requires_grad=True)
            value = fn(scores)
            value.backward()
            grads.append(scores.grad)
            assert torch.isfinite(value)
        torch.testing.assert_close(grads[0], grads[1], rtol=0, atol=0)
        assert (grads[0][~mask] == 0).all() and (grads[0] != 0).any()


def test_orm_head_with_a_mask_keeps_its_weight_gradient_finite_past_nan_padding():
    """The head's own backward multiplies each position's gradient (0 at padding) by its hidden state: a NaN
    state at padding made the weight's gradient NaN. With the mask the head reads 0 there."""
    torch.manual_seed(0)
    head = ORMHead(hidden_size=4)
    hidden, mask = torch.randn(2, 3, 4), torch.tensor([[True, True, False], [True, True, True]])
    grads = []
    for pad in (float("nan"), 0.0):
        head.zero_grad()
        h = hidden.clone()
        h[0, 2] = pad
        cotnpot.orm_loss(head(h, mask), torch.tensor([1, 0]), mask).backward()
        grads.append(head.linear.weight.grad.clone())
    assert torch.isfinite(grads[0]).all()
    torch.testing.assert_close(grads[0], grads[1], rtol=0, atol=0)
    torch.testing.assert_close(head.score(hidden, mask), cotnpot.orm_score(head(hidden), mask))
    with pytest.raises(ValueError, match=r"ORMHead: mask must be bool with shape \(2, 3\), got torch.int64 \(2, 3\)"):
        head(hidden, mask.long())


def test_simpo_and_orm_float32_and_bfloat16():
    chosen, rejected = pair_logps(torch.float32, scale=1.0)[:2]
    torch.testing.assert_close(cotnpot.simpo_loss(chosen, rejected, sft_weight=0.5)[0],
                               reference.simpo_loss(chosen.double(), rejected.double(), sft_weight=0.5)[0].float())
    our_error, pytorch_error = low_precision_errors(lambda c, r: cotnpot.simpo_loss(c, r, sft_weight=0.5)[0],
                                                    lambda c, r: reference.simpo_loss(c, r, sft_weight=0.5)[0],
                                                    (chosen, rejected), torch.bfloat16)
    assert our_error <= 2 * pytorch_error + 1e-6, (our_error, pytorch_error)
    scores, labels, mask = orm_inputs(torch.float32)
    our_error, pytorch_error = low_precision_errors(lambda s: cotnpot.orm_loss(s, labels, mask),
                                                    lambda s: reference.orm_loss(s, labels, mask),
                                                    (scores,), torch.bfloat16)
    assert our_error <= 2 * pytorch_error + 1e-6, (our_error, pytorch_error)


# ---- bad input -----------------------------------------------------------------------------------------

V = torch.tensor([-1.0, -2.0])


@pytest.mark.parametrize("call, message", [
    (lambda: cotnpot.dpo_loss(V, torch.tensor([-1.0]), V, V), "rejected_logps must have the batch size of chosen_logps (2), got 1"),
    (lambda: cotnpot.dpo_loss(V, V, V, V[None]), "ref_rejected_logps must be 1-D [B], got 2-D"),
    (lambda: cotnpot.dpo_loss(V, V, V, V, beta=-0.1), "beta must be finite and > 0, got -0.1"),
    (lambda: cotnpot.dpo_loss(V.long(), V, V, V), "chosen_logps must be a floating-point tensor, got Long"),
    (lambda: cotnpot.dpo_loss(V, V, V, V, loss_type="kto"), "loss_type must be one of 'sigmoid', 'hinge', 'ipo', "
                                                             "'robust', 'bco_pair', 'sppo_hard', 'nca_pair', "
                                                             "'exo_pair', 'aot', 'aot_pair', 'aot_unpaired', 'apo_zero', 'apo_down', "
                                                             "got 'kto'"),
    (lambda: cotnpot.dpo_loss(V, V, V, V, loss_type="ipo"), "needs chosen_lengths"),
    (lambda: cotnpot.dpo_loss(V, V, V, V, loss_type="ipo", chosen_lengths=torch.tensor([1, 0]),
                              rejected_lengths=torch.tensor([1, 1])), "chosen_lengths must be finite and > 0, got 0"),
    # found by a breaker: an infinite count passed and scaled its pair's loss to 0
    (lambda: cotnpot.dpo_loss(V, V, V, V, loss_type="ipo", chosen_lengths=torch.tensor([1.0, 2.0]),
                              rejected_lengths=torch.tensor([math.inf, 1.0])), "rejected_lengths must be finite and > 0, got inf"),
    (lambda: cotnpot.dpo_loss(V, V, V, V, loss_type="bco_pair", bco_delta=torch.zeros((), device="meta")),
     "bco_delta must be on chosen_logps's device cpu, got meta"),
    (lambda: cotnpot.dpo_loss(V, V, V, V, loss_type="robust", label_smoothing=0.5), "needs label_smoothing < 0.5"),
    (lambda: cotnpot.dpo_loss(V, V, V, V, label_smoothing=0.7), "label_smoothing must be in [0, 0.5], got 0.7"),
    (lambda: cotnpot.dpo_loss(V, V, V, V, loss_type="bco_pair", bco_delta=V), "bco_delta must hold one value"),
    (lambda: cotnpot.dpo_loss(V, V, V, V.to("meta")), "ref_rejected_logps must be on chosen_logps's device cpu, got meta"),
    (lambda: cotnpot.simpo_loss(V, V[:1]), "simpo_loss: rejected_logps must have the batch size of chosen_logps (2), got 1"),
    (lambda: cotnpot.simpo_loss(V, V, beta=0.0), "simpo_loss: beta must be finite and > 0, got 0"),
    (lambda: cotnpot.simpo_loss(V.int(), V), "chosen_logps must be a floating-point tensor, got Int"),
    (lambda: cotnpot.simpo_loss(V, V, loss_type="ipo"), "loss_type must be one of 'sigmoid', 'hinge', got 'ipo'"),
    (lambda: cotnpot.simpo_loss(V, V, sft_weight=-1.0), "sft_weight must be finite and >= 0, got -1"),
    (lambda: cotnpot.orm_loss(torch.zeros(2, 3), torch.tensor([1, 2]), torch.ones(2, 3, dtype=torch.bool)),
     "labels must be 0 (wrong) or 1 (correct)"),
    # found by a breaker: checked after the cast to the scores' dtype, 1.0001 read as 1 in fp16
    (lambda: cotnpot.orm_loss(torch.zeros(2, 3, dtype=torch.float16), torch.tensor([1.0001, 0.0], dtype=torch.float64),
                              torch.ones(2, 3, dtype=torch.bool)), "labels must be 0 (wrong) or 1 (correct)"),
    (lambda: cotnpot.orm_loss(torch.zeros(2, 3), torch.tensor([1]), torch.ones(2, 3, dtype=torch.bool)),
     "labels must be 1-D [B] with B = 2, got shape [1]"),
    (lambda: cotnpot.orm_loss(torch.zeros(2, 3), torch.tensor([1, 0]), torch.ones(2, 3)), "mask must be bool, got Float"),
    (lambda: cotnpot.orm_loss(torch.zeros(2, 3), torch.tensor([1, 0]), torch.ones(2, 2, dtype=torch.bool)),
     "mask must have the shape of scores [2, 3], got [2, 2]"),
    (lambda: cotnpot.orm_loss(torch.zeros(6), torch.tensor([1, 0]), torch.ones(6, dtype=torch.bool)),
     "scores must be 2-D [B,T], got 1-D"),
    (lambda: cotnpot.orm_loss(torch.zeros(2, 3, dtype=torch.long), torch.tensor([1, 0]), torch.ones(2, 3, dtype=torch.bool)),
     "scores must be a floating-point tensor, got Long"),
    (lambda: cotnpot.orm_loss(torch.zeros(2, 3), torch.tensor([1, 0]), torch.ones(2, 3, dtype=torch.bool), "avg"),
     "reduction must be one of 'mean', 'sum', 'none', got 'avg'"),
    (lambda: cotnpot.orm_score(torch.zeros(2, 3), torch.tensor([[True] * 3, [False] * 3])), "row 1 has none"),
    (lambda: cotnpot.orm_score(torch.zeros(2, 3), torch.ones(2, 3, dtype=torch.bool), "max"),
     "mode must be one of 'last', 'mean', got 'max'"),
    # found by a breaker: NaN or infinite settings gave NaN or inf losses without a word
    (lambda: cotnpot.simpo_loss(V, V, beta=float("inf")), "simpo_loss: beta must be finite and > 0, got inf"),
    (lambda: cotnpot.simpo_loss(V, V, gamma=float("nan")), "simpo_loss: gamma must be finite, got nan"),
    (lambda: cotnpot.simpo_loss(V, V, gamma_beta_ratio=float("nan")), "gamma_beta_ratio must be finite, got nan"),
    (lambda: cotnpot.simpo_loss(V, V, sft_weight=float("inf")), "sft_weight must be finite and >= 0, got inf"),
    (lambda: cotnpot.dpo_loss(V, V, V, V, beta=float("nan")), "beta must be finite and > 0, got nan"),
])
def test_bad_input_message(call, message):
    with pytest.raises(RuntimeError) as error:
        call()
    assert message in str(error.value)


@pytest.mark.parametrize("make, message", [
    (lambda: cotnpot.SimPOLoss(beta=-1), "beta must be finite and > 0"),
    # found by a breaker: each was accepted here and failed (or gave NaN losses) only at the first call
    (lambda: cotnpot.SimPOLoss(gamma=float("nan")), "gamma must be finite, got nan"),
    (lambda: cotnpot.SimPOLoss(gamma_beta_ratio=float("inf")), "gamma_beta_ratio must be finite, got inf"),
    (lambda: cotnpot.SimPOLoss(sft_weight=float("inf")), "sft_weight must be finite and >= 0"),
    (lambda: cotnpot.SimPOLoss(beta=float("inf")), "beta must be finite and > 0"),
    (lambda: cotnpot.DPOLoss(label_smoothing=0.7), r"label_smoothing must be finite and in \[0.0, 0.5\], got 0.7"),
    (lambda: cotnpot.DPOLoss(loss_type="robust", label_smoothing=0.5), "needs label_smoothing < 0.5"),
    (lambda: cotnpot.DPOLoss(loss_type="kto"), "loss_type must be one of"),
    (lambda: cotnpot.DPOLoss(reduction="avg"), "reduction must be one of"),
    (lambda: cotnpot.ORMLoss(reduction="avg"), "reduction must be one of"),
])
def test_modules_reject_bad_settings_at_construction(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_a_setting_that_is_not_a_number_is_named():
    """Found by a breaker: ``SimPOLoss(beta="2")`` failed with a bare "'>' not supported"."""
    with pytest.raises(TypeError, match="beta must be a number, got str '2'"):
        cotnpot.SimPOLoss(beta="2")
    with pytest.raises(TypeError, match="label_smoothing must be a number, got NoneType"):
        cotnpot.DPOLoss(label_smoothing=None)


def test_orm_score_of_no_solutions_is_empty_in_both_modes():
    """Found by a breaker: with no rows, mode "last" raised amax's IndexError while "mean" gave []."""
    for mode in ("last", "mean"):
        out = cotnpot.orm_score(torch.zeros(0, 0), torch.zeros(0, 0, dtype=torch.bool), mode)
        assert out.shape == (0,) and out.dtype == torch.float32
        assert cotnpot.orm_score(torch.zeros(0, 4), torch.zeros(0, 4, dtype=torch.bool), mode).shape == (0,)


def test_a_refused_or_empty_batch_leaves_the_bco_running_mean_as_it_was():
    """Found by a breaker: the module updated its running mean before the loss checked the batch, so a batch
    of mismatched sizes raised but left its rewards in the mean (-5.075 after one), and an empty batch's
    mean (NaN) made every later loss NaN."""
    t = torch.tensor
    module = cotnpot.DPOLoss(loss_type="bco_pair")
    with pytest.raises(RuntimeError, match="batch size"):
        module(t([-1.0, -2.0]), t([-2.0, -1.0]), t([100.0]), t([100.0]))
    assert module.bco_running_mean.item() == 0.0 and module.bco_running_count.item() == 0
    module(*[torch.zeros(0)] * 4)
    assert module.bco_running_mean.item() == 0.0 and module.bco_running_count.item() == 0
    out = module(t([-1.0]), t([-2.0]), t([-1.5]), t([-2.5]))
    fresh = cotnpot.DPOLoss(loss_type="bco_pair")
    want = fresh(t([-1.0]), t([-2.0]), t([-1.5]), t([-2.5]))
    assert torch.isfinite(out.loss) and out.loss.item() == want.loss.item()
    # beta 0.1 times the log-ratios 0.5 and 0.5
    assert module.bco_running_mean.item() == fresh.bco_running_mean.item() == pytest.approx(0.05)
    assert module.bco_running_count.item() == 1


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_a_batch_with_a_non_finite_reward_is_left_out_of_the_bco_running_mean(bad):
    """Found by a breaker: one batch with a NaN (or an infinite) log-prob made the running mean NaN (or inf),
    saved with the state_dict, and every later batch's loss NaN. That batch's own loss is what its rewards give."""
    t = torch.tensor
    module, fresh = cotnpot.DPOLoss(loss_type="bco_pair"), cotnpot.DPOLoss(loss_type="bco_pair")
    module(t([-10.0, -3.0]), t([-12.0, -2.0]), t([-11.0, -3.0]), t([-11.0, -1.0]))
    fresh(t([-10.0, -3.0]), t([-12.0, -2.0]), t([-11.0, -3.0]), t([-11.0, -1.0]))
    module(t([bad, -3.0]), t([-12.0, -2.0]), t([-11.0, -3.0]), t([-11.0, -1.0]))
    assert module.bco_running_mean.item() == fresh.bco_running_mean.item() != 0.0
    assert module.bco_running_count.item() == 1
    later = [t([-9.0, -4.0]), t([-12.0, -2.0]), t([-11.0, -3.0]), t([-10.0, -1.0])]
    assert module(*later).loss.item() == fresh(*later).loss.item()
    assert module.bco_running_count.item() == 2 and torch.isfinite(module.bco_running_mean).all()


def test_a_compiled_bco_pair_module_moves_its_running_mean_as_eager_does():
    """Found by a breaker: torch.compile drops an in-place update of a 0-d float64 buffer, so a compiled
    DPOLoss(bco_pair) kept its mean at 0 and its losses (and gradients) differed from eager's from the second
    batch on. The mean is a [1] buffer now; a 0-d one from an older state_dict still loads."""
    batches = [[torch.randn(4, generator=torch.Generator().manual_seed(10 * s + i)) * 3 for i in range(4)]
               for s in range(3)]
    eager, compiled = cotnpot.DPOLoss(loss_type="bco_pair", beta=0.3), cotnpot.DPOLoss(loss_type="bco_pair", beta=0.3)
    step = torch.compile(compiled, backend="aot_eager")
    for batch in batches:
        torch.testing.assert_close(step(*batch).losses, eager(*batch).losses, rtol=1e-6, atol=1e-6)
        assert compiled.bco_running_mean.item() == pytest.approx(eager.bco_running_mean.item(), rel=1e-12)
    assert eager.bco_running_mean.item() != 0.0 and compiled.bco_running_count.item() == 3
    old = {"bco_running_mean": torch.tensor(0.25, dtype=torch.float64), "bco_running_count": torch.tensor(2)}
    restored = cotnpot.DPOLoss(loss_type="bco_pair")
    restored.load_state_dict(old)
    assert restored.bco_running_mean.tolist() == [0.25] and restored.bco_running_count.item() == 2


def test_bco_pair_module_names_mismatched_sizes():
    t = torch.tensor
    with pytest.raises(RuntimeError, match=r"ref_chosen_logps must have the batch size of chosen_logps \(3\), got 4"):
        cotnpot.DPOLoss(loss_type="bco_pair")(t([1.0, 2, 3]), t([1.0, 2, 3]), t([1.0, 2, 3, 4]), t([1.0, 2, 3]))


def test_nan_and_inf_propagate_to_their_own_pair_only():
    """Documented behaviour: no sync to look for NaN; a NaN or Inf log-prob gives NaN (or Inf) in that pair's
    loss and leaves the other pairs' losses finite."""
    chosen, rejected, ref_c, ref_r = pair_logps()
    chosen[2] = float("nan")
    rejected[4] = float("-inf")
    for losses in (cotnpot.simpo_loss(chosen, rejected)[0], cotnpot.dpo_loss(chosen, rejected, ref_c, ref_r)[0]):
        assert torch.isnan(losses[2])
        assert losses[4].item() == 0.0 or not math.isfinite(losses[4].item())
        keep = [0, 1, 3, 5, 6]
        assert torch.isfinite(losses[keep]).all()


# ---- modules -------------------------------------------------------------------------------------------

def test_simpo_module_reports_accuracy_and_margin():
    chosen, rejected = torch.tensor([-1.0, -0.5, -2.0]), torch.tensor([-2.0, -0.4, -3.0])
    out = cotnpot.SimPOLoss()(chosen, rejected)
    torch.testing.assert_close(out.loss, cotnpot.simpo_loss(chosen, rejected)[0].mean())
    assert out.reward_accuracy.item() == pytest.approx(2 / 3)
    assert out.reward_margin.item() == pytest.approx(2.0 * (1.0 - 0.1 + 1.0) / 3)
    metrics = out.metrics()
    assert set(metrics) == {"loss", "rewards/chosen", "rewards/rejected", "rewards/accuracies", "rewards/margins"}
    assert cotnpot.SimPOLoss(reduction="sum")(chosen, rejected).loss.item() == pytest.approx(out.losses.sum().item())


def test_simpo_trl_cpo_convention():
    chosen, rejected = pair_logps()[:2]
    got = cotnpot.SimPOLoss.trl_cpo()(chosen, rejected).losses
    want = reference.simpo_loss(chosen, rejected, beta=0.1, gamma=0.5, sft_weight=1.0)[0]
    torch.testing.assert_close(got, want)


def test_dpo_module_keeps_bco_running_mean_like_trl():
    """TRL's RunningMoments gets one value per batch (the batch's mean reward): its mean is the mean of those."""
    loss_fn = cotnpot.DPOLoss(beta=0.5, loss_type="bco_pair")
    batch_means = []
    for seed in range(3):
        g = torch.Generator().manual_seed(seed)
        pc, pr, rc, rr = (torch.randn(4, generator=g) for _ in range(4))
        batch_means.append((0.5 * torch.cat([pc - rc, pr - rr])).mean().item())
        delta = torch.tensor(sum(batch_means) / len(batch_means))
        out = loss_fn(pc, pr, rc, rr)
        want = reference.dpo_loss(pc, pr, rc, rr, beta=0.5, loss_type="bco_pair", bco_delta=delta)[0]
        torch.testing.assert_close(out.losses, want)
    assert loss_fn.bco_running_count.item() == 3
    state = loss_fn.state_dict()
    restored = cotnpot.DPOLoss(beta=0.5, loss_type="bco_pair")
    restored.load_state_dict(state)
    assert restored.bco_running_mean.item() == pytest.approx(sum(batch_means) / 3)
    restored.eval()
    restored(pc, pr, rc, rr)   # evaluation does not move the running mean
    assert restored.bco_running_count.item() == 3


def test_orm_head_and_loss_train_together():
    torch.manual_seed(0)
    head = cotnpot.ORMHead(hidden_size=6)
    hidden = torch.randn(4, 5, 6)
    mask = torch.ones(4, 5, dtype=torch.bool)
    labels = torch.tensor([1, 0, 1, 0])
    loss = cotnpot.ORMLoss()(head(hidden), labels, mask)
    loss.backward()
    assert head.linear.weight.grad is not None and torch.isfinite(head.linear.weight.grad).all()
    torch.testing.assert_close(head.score(hidden, mask, "mean"), torch.sigmoid(head(hidden)).mean(1))


def test_orm_mean_of_16_bit_scores_over_many_tokens_is_taken_in_float32():
    """A breaker: the token count was cast to the scores' dtype, so in fp16 16 x 4096 valid tokens (65,536, past
    fp16's 65,504) were inf: the loss 0 with no gradient; a sum past 65,504 was inf. orm_score's mean too."""
    mask = torch.ones(16, 4096, dtype=torch.bool)
    for dtype in (torch.float16, torch.bfloat16):
        scores = torch.zeros(16, 4096, dtype=dtype, requires_grad=True)
        loss = cotnpot.orm_loss(scores, torch.ones(16), mask)
        loss.backward()
        assert loss.dtype == dtype and loss.item() == pytest.approx(math.log(2), rel=1e-2)
        # d/ds of mean BCE at s = 0, label 1: -0.5 / 65,536 per token
        assert scores.grad.float().mean().item() == pytest.approx(-0.5 / 65536, rel=1e-2)
        low = torch.full((12, 4096), -2.0, dtype=dtype)
        want = torch.nn.functional.softplus(torch.tensor(2.0)).item()   # -log sigmoid(-2) = 2.127
        assert cotnpot.orm_loss(low, torch.ones(12), mask[:12]).item() == pytest.approx(want, rel=1e-2)
        total = cotnpot.orm_loss(low, torch.ones(12), mask[:12], reduction="sum").float().item()
        # 104,545: past fp16's range (inf, as torch's own sum in fp16 gives), within bf16's
        assert total == math.inf if dtype == torch.float16 else total == pytest.approx(12 * 4096 * want, rel=1e-2)
        long_row = torch.zeros(1, 70_000, dtype=dtype)
        score = cotnpot.orm_score(long_row, torch.ones(1, 70_000, dtype=torch.bool), mode="mean")
        assert score.dtype == dtype and score.item() == pytest.approx(0.5)


def test_ipo_token_counts_past_float16s_range_still_average():
    """Found by a breaker: with float16 log-probs, a token count above 65504 passed the check (finite, > 0) and
    then became inf in float16, zeroing its pair's normalized log-ratio silently. The division runs in float32
    now: the float16 loss matches the float32 one."""
    t = torch.tensor
    half = [t([-6e4]).half(), t([-10.0]).half(), t([-5e4]).half(), t([-10.0]).half()]
    lengths = {"chosen_lengths": t([70000]), "rejected_lengths": t([5])}
    got = cotnpot.dpo_loss(*half, loss_type="ipo", **lengths)
    want = cotnpot.dpo_loss(*[x.float() for x in half], loss_type="ipo", **lengths)
    assert got[0].dtype == torch.float16
    torch.testing.assert_close(got[0].float(), want[0], rtol=2e-3, atol=1e-3)
    assert got[1].item() != 0.0   # the chosen reward: (-6e4 + 5e4) / 70000 * beta
    torch.testing.assert_close(got[1].float(), want[1], rtol=2e-3, atol=1e-5)


def test_a_bco_pair_module_on_another_device_than_its_batch_says_so():
    """Found by a breaker: the running mean's buffers stay where the module is, and a batch elsewhere got torch's
    generic message (training) or one naming bco_delta, an argument the caller never passed (eval). The meta
    device stands in for a GPU."""
    batch = [torch.randn(3, device="meta") for _ in range(4)]
    loss = cotnpot.DPOLoss(loss_type="bco_pair")
    for training in (True, False):
        loss.train(training)
        with pytest.raises(ValueError, match=r"DPOLoss: its bco_running_mean buffer is on cpu, the log-probs on "
                                             r"meta: move the loss module too"):
            loss(*batch)
