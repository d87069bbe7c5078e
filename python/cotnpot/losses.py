"""Verifier training losses: SimPO, the DPO family and the outcome reward model (ORM), functional form.

Each function calls the C++ op of the same name in ``torch.ops.cotnpot``; the formulas, their defaults
and their sources are in docs/losses.md. Autograd flows through all of them.
"""
from typing import Optional, Tuple

import torch
from torch import Tensor

from ._extension import _C  # noqa: F401  (registers the ops)

DPO_LOSS_TYPES = ("sigmoid", "hinge", "ipo", "robust", "bco_pair", "sppo_hard", "nca_pair", "exo_pair", "aot",
                  "aot_pair", "aot_unpaired", "apo_zero", "apo_down")
SIMPO_LOSS_TYPES = ("sigmoid", "hinge")
REDUCTIONS = ("none", "mean", "sum")


def reduce(losses: Tensor, reduction: str) -> Tensor:
    """``losses`` as they are ("none"), their mean or their sum."""
    if reduction == "none":
        return losses
    if reduction == "mean":
        return losses.mean()
    if reduction == "sum":
        return losses.sum()
    raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")


def simpo_loss(chosen_logps: Tensor, rejected_logps: Tensor, beta: float = 2.0, gamma: Optional[float] = None,
               gamma_beta_ratio: float = 0.25, label_smoothing: float = 0.0, loss_type: str = "sigmoid",
               sft_weight: float = 0.0, reduction: str = "none") -> Tuple[Tensor, Tensor, Tensor]:
    """SimPO on length-averaged log-probs of chosen and rejected solutions (``[B]`` each).

    ``z = beta * (chosen - rejected) - gamma`` with ``gamma = gamma_beta_ratio * beta`` unless ``gamma``
    is given; sigmoid: ``-(1-eps) log s(z) - eps log s(-z)``; hinge: ``relu(1 - z)``; plus
    ``sft_weight * (-chosen)`` (the chosen sequence's mean token NLL). Defaults: the SimPO authors'
    trainer. TRL's ``CPOTrainer(loss_type="simpo")``: ``beta=0.1, gamma=0.5, sft_weight=1.0``.

    Returns ``(losses, chosen_rewards, rejected_rewards)``, rewards ``= beta * logps`` (detached);
    ``losses`` reduced as ``reduction`` says ("none": ``[B]``).

    Example:
        >>> losses, chosen_r, rejected_r = simpo_loss(torch.tensor([-1.0]), torch.tensor([-2.0]))
        >>> round(losses.item(), 4)   # -log sigmoid(2 * 1 - 0.5)
        0.2014
    """
    losses, chosen_rewards, rejected_rewards = torch.ops.cotnpot.simpo_loss(
        chosen_logps, rejected_logps, beta, gamma, gamma_beta_ratio, label_smoothing, loss_type, sft_weight)
    return reduce(losses, reduction), chosen_rewards, rejected_rewards


def dpo_loss(chosen_logps: Tensor, rejected_logps: Tensor, ref_chosen_logps: Tensor, ref_rejected_logps: Tensor,
             beta: float = 0.1, label_smoothing: float = 0.0, loss_type: str = "sigmoid",
             chosen_lengths: Optional[Tensor] = None, rejected_lengths: Optional[Tensor] = None,
             ipo_length_normalize: bool = True, bco_delta: Optional[Tensor] = None,
             ipo_rewards_on_sums: bool = False, reduction: str = "none") -> Tuple[Tensor, Tensor, Tensor]:
    """A DPO-family loss on summed log-probs of the policy and the reference model (``[B]`` each).

    With ``l = (chosen - rejected) - (ref_chosen - ref_rejected)``: "sigmoid" is
    ``-(1-eps) log s(beta l) - eps log s(-beta l)``; the other ``loss_type`` values (``DPO_LOSS_TYPES``)
    follow TRL's ``DPOTrainer.dpo_loss`` formula of the same name (docs/losses.md). "ipo" averages the
    log-probs over ``chosen_lengths`` / ``rejected_lengths`` tokens first (current TRL), unless
    ``ipo_length_normalize=False``. "bco_pair" centres rewards on ``bco_delta`` (the running mean kept
    by :class:`cotnpot.DPOLoss`; the batch mean when None; TRL >= 1.0 has no such centre: pass
    ``torch.zeros(())``). "aot_unpaired" (TRL >= 1.0's name) is "aot_pair". IPO's rewards are on the
    length-normalized ratios unless ``ipo_rewards_on_sums`` (TRL >= 1.0). Reference log-probs may be
    precomputed.

    Returns ``(losses, chosen_rewards, rejected_rewards)``, rewards ``= beta * (logps - ref_logps)``.

    Example:
        >>> t = torch.tensor
        >>> losses, _, _ = dpo_loss(t([-10.0]), t([-12.0]), t([-11.0]), t([-11.0]))
        >>> round(losses.item(), 4)   # -log sigmoid(0.1 * 2)
        0.5981
    """
    losses, chosen_rewards, rejected_rewards = torch.ops.cotnpot.dpo_loss(
        chosen_logps, rejected_logps, ref_chosen_logps, ref_rejected_logps, beta, label_smoothing, loss_type,
        chosen_lengths, rejected_lengths, ipo_length_normalize, bco_delta, ipo_rewards_on_sums)
    return reduce(losses, reduction), chosen_rewards, rejected_rewards


def orm_loss(scores: Tensor, labels: Tensor, mask: Tensor, reduction: str = "mean") -> Tensor:
    """Binary cross-entropy of every valid token's score (a logit, ``[B,T]``) against its solution's label.

    ``labels[B]``: 1 (or True) for a correct solution, 0 for a wrong one; ``mask[B,T]`` (bool) marks the
    solution's tokens. "mean" averages over all valid tokens of the batch, "sum" sums them, "none" gives
    ``[B,T]`` with 0 at masked positions.

    Example:
        >>> scores = torch.tensor([[0.0, 2.0, -1.0]])
        >>> mask = torch.tensor([[True, True, False]])
        >>> round(orm_loss(scores, torch.tensor([1]), mask).item(), 4)   # (log 2 + log(1 + e^-2)) / 2
        0.41
    """
    return torch.ops.cotnpot.orm_loss(scores, labels, mask, reduction)


def orm_score(scores: Tensor, mask: Tensor, mode: str = "last") -> Tensor:
    """A solution's ORM score at inference, ``[B]``: sigmoid of the last valid token's score ("last") or the
    mean sigmoid over valid tokens ("mean").

    Example:
        >>> scores, mask = torch.tensor([[0.0, 2.0, -1.0]]), torch.tensor([[True, True, False]])
        >>> round(orm_score(scores, mask).item(), 4)   # sigmoid(2)
        0.8808
    """
    return torch.ops.cotnpot.orm_score(scores, mask, mode)
