"""cotnpot's losses next to the installed TRL's own code on the same tensors.

TRL's DPOTrainer computes its loss inside `_compute_loss(model, inputs)`, from the per-token log-probs its
model returns; a stand-in model hands it fixed log-probs, and a stand-in trainer carries the attributes
that method reads, so TRL's code runs unmodified. SimPO is TRL's `CPOTrainer.cpo_loss` with
`loss_type="simpo"`, and TRL's `get_batch_logps` is the oracle for `sequence_logprob`.
Current TRL (1.x) differs from the 0.1x releases cotnpot first followed; each difference is an option
(docs/losses.md): DPOLoss.trl() selects TRL 1.x's forms.
"""
from collections import defaultdict
from types import SimpleNamespace

import pytest
import torch

import cotnpot

trl = pytest.importorskip("trl")
from trl import DPOTrainer  # noqa: E402
from trl.experimental.cpo import CPOTrainer  # noqa: E402

TRL_DPO_LOSS_TYPES = ["sigmoid", "hinge", "ipo", "exo_pair", "nca_pair", "robust", "bco_pair", "sppo_hard", "aot",
                      "aot_unpaired", "apo_zero", "apo_down"]


def make_batch(batch=6, steps=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    completion = torch.zeros(2 * batch, steps, dtype=torch.long)
    for row in range(2 * batch):   # a prompt of 2..5 tokens, then a completion of varying length
        start = int(torch.randint(2, 6, (1,), generator=g))
        stop = int(torch.randint(start + 2, steps + 1, (1,), generator=g))
        completion[row, start:stop] = 1
    per_token = -torch.rand(2 * batch, steps - 1, generator=g, dtype=torch.float64) * 4
    per_token = per_token * completion[:, 1:]      # the model's log-probs are 0 where nothing is scored
    ref = -torch.rand(2 * batch, generator=g, dtype=torch.float64) * 20 - 5
    return completion, per_token, ref


class StandInModel:
    """Returns fixed per-token log-probs, as TRL's fused LM head does (`fused_lm_head=True`)."""

    training = True

    def __init__(self, per_token):
        self.per_token = per_token

    def __call__(self, **kwargs):
        p = self.per_token
        return SimpleNamespace(log_probs=p, entropy=torch.zeros_like(p), mean_logits=torch.zeros_like(p),
                               is_top1=torch.zeros_like(p, dtype=torch.bool))


def trl_dpo(loss_type, beta, label_smoothing, completion, per_token, ref):
    batch = completion.shape[0] // 2
    model = StandInModel(per_token)
    trainer = SimpleNamespace(
        model=model, accelerator=SimpleNamespace(device=torch.device("cpu"), gather=lambda x: x,
                                                 gather_for_metrics=lambda x: x),
        aux_loss_enabled=False, ld_alpha=None, precompute_ref_logps=True, f_divergence_type="reverse_kl",
        loss_types=[loss_type], loss_weights=[1.0], beta=beta, label_smoothing=label_smoothing,
        use_weighting=False, args=SimpleNamespace(), _metrics=defaultdict(lambda: defaultdict(list)),
        _total_train_tokens=0, _tp_size=1)
    inputs = {"input_ids": torch.zeros_like(completion), "attention_mask": torch.ones_like(completion),
              "completion_mask": completion, "ref_chosen_logps": ref[:batch], "ref_rejected_logps": ref[batch:]}
    loss = DPOTrainer._compute_loss(trainer, model, inputs, False)
    metrics = {k: v[-1] for k, v in trainer._metrics["train"].items()}
    return loss, metrics


@pytest.mark.parametrize("loss_type", TRL_DPO_LOSS_TYPES)
@pytest.mark.parametrize("beta", [0.1, 0.5])
def test_dpo_losses_equal_trl(loss_type, beta):
    completion, per_token, ref = make_batch(seed=int(beta * 10))
    # TRL 1.x smooths labels only in robust, exo_pair (where 0 would be log 0) and the aot forms.
    smoothing = 0.1 if loss_type in ("robust", "exo_pair", "aot", "aot_unpaired") else 0.0
    want, metrics = trl_dpo(loss_type, beta, smoothing, completion, per_token, ref)

    batch = completion.shape[0] // 2
    logps = per_token.sum(1)
    lengths = completion[:, 1:].sum(1)
    out = cotnpot.DPOLoss.trl(loss_type, beta=beta, label_smoothing=smoothing)(
        logps[:batch], logps[batch:], ref[:batch], ref[batch:], lengths[:batch], lengths[batch:])
    # exo_pair: TRL makes its epsilon a float32 tensor, so its log(eps) terms carry float32 rounding.
    tol = 1e-7 if loss_type == "exo_pair" else 1e-12
    torch.testing.assert_close(out.loss, want, rtol=tol, atol=tol)
    assert out.chosen_rewards.mean().item() == pytest.approx(metrics["rewards/chosen"], rel=1e-12)
    assert out.rejected_rewards.mean().item() == pytest.approx(metrics["rewards/rejected"], rel=1e-12)


def test_trl_sigmoid_has_no_label_smoothing_any_more():
    """TRL 1.x ignores label_smoothing in "sigmoid"; cotnpot keeps the TRL 0.x smoothed form by option."""
    completion, per_token, ref = make_batch()
    want, _ = trl_dpo("sigmoid", 0.1, 0.2, completion, per_token, ref)
    batch = completion.shape[0] // 2
    logps = per_token.sum(1)
    args = (logps[:batch], logps[batch:], ref[:batch], ref[batch:])
    torch.testing.assert_close(cotnpot.DPOLoss.trl("sigmoid", 0.1)(*args).loss, want)
    assert not torch.allclose(cotnpot.DPOLoss(0.1, label_smoothing=0.2)(*args).loss, want)
    with pytest.raises(ValueError, match="TRL 1.x has no label smoothing in loss_type 'sigmoid'"):
        cotnpot.DPOLoss.trl("sigmoid", 0.1, label_smoothing=0.2)


def test_old_forms_differ_from_trl_where_trl_changed():
    """bco_pair's running-mean centre and IPO rewards on normalized log-ratios are the TRL 0.x forms."""
    completion, per_token, ref = make_batch()
    batch = completion.shape[0] // 2
    logps, lengths = per_token.sum(1), completion[:, 1:].sum(1)
    args = (logps[:batch], logps[batch:], ref[:batch], ref[batch:], lengths[:batch], lengths[batch:])
    want, _ = trl_dpo("bco_pair", 0.1, 0.0, completion, per_token, ref)
    assert not torch.allclose(cotnpot.DPOLoss(0.1, loss_type="bco_pair")(*args).loss, want)
    _, metrics = trl_dpo("ipo", 0.1, 0.0, completion, per_token, ref)
    old = cotnpot.DPOLoss(0.1, loss_type="ipo")(*args)
    assert old.chosen_rewards.mean().item() != pytest.approx(metrics["rewards/chosen"])


@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
@pytest.mark.parametrize("beta, gamma", [(0.1, 0.5), (2.0, 1.0)])
def test_simpo_equals_trl_cpo_trainer(beta, gamma, label_smoothing):
    g = torch.Generator().manual_seed(1)
    chosen, rejected = (-torch.rand(8, generator=g, dtype=torch.float64) * 3 for _ in range(2))
    trainer = SimpleNamespace(alpha=0.0, beta=beta, simpo_gamma=gamma, label_smoothing=label_smoothing,
                              loss_type="simpo", accelerator=SimpleNamespace(device=torch.device("cpu")))
    want = CPOTrainer.cpo_loss(trainer, chosen, rejected)
    got = cotnpot.simpo_loss(chosen, rejected, beta=beta, gamma=gamma, label_smoothing=label_smoothing)
    for g_, w in zip(got, want):
        torch.testing.assert_close(g_, w, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("average", [False, True])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_sequence_logprob_equals_trl_get_batch_logps(average, dtype):
    logits = torch.randn(3, 9, 50, dtype=dtype)
    labels = torch.randint(50, (3, 9))
    labels[:, :3] = -100
    labels[1, 7:] = -100
    want = CPOTrainer.get_batch_logps(logits, labels, average_log_prob=average)
    got = cotnpot.sequence_logprob(logits, labels, reduction="mean" if average else "sum", shift=True)
    tol = {torch.float32: 1e-5, torch.float64: 1e-12}[dtype]
    torch.testing.assert_close(got, want.to(got.dtype), rtol=tol, atol=tol)
