"""``nn.Module`` forms of the verifier losses, with the metrics a training loop logs, and the ORM head."""
import math
import numbers
from dataclasses import dataclass
from typing import Dict, Optional

import torch
from torch import Tensor, nn

from . import losses as F


@dataclass
class PreferenceLossOutput:
    """What a preference loss module returns: the loss to backpropagate and what to log."""

    loss: Tensor              # reduced as the module's ``reduction`` says
    losses: Tensor            # per pair, [B]
    chosen_rewards: Tensor    # [B], detached
    rejected_rewards: Tensor  # [B], detached

    @property
    def reward_accuracy(self) -> Tensor:
        """Fraction of pairs whose chosen reward beats the rejected one."""
        return (self.chosen_rewards > self.rejected_rewards).float().mean()

    @property
    def reward_margin(self) -> Tensor:
        """Mean of chosen minus rejected reward."""
        return (self.chosen_rewards - self.rejected_rewards).mean()

    def metrics(self) -> Dict[str, float]:
        """Plain floats, named as TRL logs them."""
        return {"loss": self.loss.detach().mean().item(),
                "rewards/chosen": self.chosen_rewards.mean().item(),
                "rewards/rejected": self.rejected_rewards.mean().item(),
                "rewards/accuracies": self.reward_accuracy.item(),
                "rewards/margins": self.reward_margin.item()}


def _check_reduction(reduction: str) -> None:
    if reduction not in F.REDUCTIONS:
        raise ValueError(f"reduction must be one of {F.REDUCTIONS}, got {reduction!r}")


def _check_number(name: str, value, low: float, high: float = math.inf, low_open: bool = False) -> None:
    """At construction, what the op would refuse only at the first call (a module built in one place and
    first called an epoch later should fail where it is built)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {type(value).__name__} {value!r}")
    if not (math.isfinite(value) and (value > low if low_open else value >= low) and value <= high):
        if math.isfinite(high):
            bound = f" and in {'(' if low_open else '['}{low}, {high}]"
        elif math.isfinite(low):
            bound = f" and {'>' if low_open else '>='} {low}"
        else:
            bound = ""
        raise ValueError(f"{name} must be finite{bound}, got {value}")


def _check_common(beta: float, loss_type: str, valid_types, reduction: str, label_smoothing: float) -> None:
    _check_number("beta", beta, 0.0, low_open=True)
    if loss_type not in valid_types:
        raise ValueError(f"loss_type must be one of {valid_types}, got {loss_type!r}")
    _check_number("label_smoothing", label_smoothing, 0.0, 0.5)
    if loss_type == "robust" and label_smoothing == 0.5:
        raise ValueError("loss_type 'robust' divides by 1 - 2 * label_smoothing and needs label_smoothing < 0.5, "
                         "got 0.5")
    _check_reduction(reduction)


class SimPOLoss(nn.Module):
    """SimPO (see :func:`cotnpot.simpo_loss`); defaults are the SimPO authors' trainer's.

    Example:
        >>> loss_fn = SimPOLoss()
        >>> out = loss_fn(torch.tensor([-1.0, -0.5]), torch.tensor([-2.0, -0.4]))
        >>> out.loss.shape, out.reward_accuracy.item()
        (torch.Size([]), 0.5)
    """

    def __init__(self, beta: float = 2.0, gamma: Optional[float] = None, gamma_beta_ratio: float = 0.25,
                 label_smoothing: float = 0.0, loss_type: str = "sigmoid", sft_weight: float = 0.0,
                 reduction: str = "mean"):
        super().__init__()
        _check_common(beta, loss_type, F.SIMPO_LOSS_TYPES, reduction, label_smoothing)
        _check_number("sft_weight", sft_weight, 0.0)
        if gamma is not None:
            _check_number("gamma", gamma, -math.inf)
        _check_number("gamma_beta_ratio", gamma_beta_ratio, -math.inf)
        self.beta, self.gamma, self.gamma_beta_ratio = beta, gamma, gamma_beta_ratio
        self.label_smoothing, self.loss_type, self.sft_weight, self.reduction = (
            label_smoothing, loss_type, sft_weight, reduction)

    @classmethod
    def trl_cpo(cls, beta: float = 0.1, simpo_gamma: float = 0.5, cpo_alpha: float = 1.0, **kwargs) -> "SimPOLoss":
        """SimPO as TRL's ``CPOTrainer(loss_type="simpo")`` computes it: gamma absolute, an SFT term of weight
        ``cpo_alpha``, TRL's defaults."""
        return cls(beta=beta, gamma=simpo_gamma, sft_weight=cpo_alpha, **kwargs)

    def forward(self, chosen_logps: Tensor, rejected_logps: Tensor) -> PreferenceLossOutput:
        losses, chosen_rewards, rejected_rewards = F.simpo_loss(
            chosen_logps, rejected_logps, self.beta, self.gamma, self.gamma_beta_ratio, self.label_smoothing,
            self.loss_type, self.sft_weight)
        return PreferenceLossOutput(F.reduce(losses, self.reduction), losses, chosen_rewards, rejected_rewards)

    def extra_repr(self) -> str:
        gamma = f"gamma={self.gamma}" if self.gamma is not None else f"gamma_beta_ratio={self.gamma_beta_ratio}"
        return (f"beta={self.beta}, {gamma}, label_smoothing={self.label_smoothing}, loss_type={self.loss_type!r}, "
                f"sft_weight={self.sft_weight}, reduction={self.reduction!r}")


class DPOLoss(nn.Module):
    """A DPO-family loss (see :func:`cotnpot.dpo_loss`).

    For ``loss_type="bco_pair"`` the module keeps the running mean of the batch-mean rewards in buffers
    (``bco_running_mean``, ``bco_running_count``: saved with ``state_dict``), updated in training mode
    before each loss, as TRL's ``RunningMoments`` did with one value per batch (TRL < 1.0);
    ``bco_running_mean=False`` centres on nothing, as TRL >= 1.0 does. :meth:`trl` gives every current TRL
    convention at once.

    Example:
        >>> loss_fn = DPOLoss(beta=0.1)
        >>> t = torch.tensor
        >>> round(loss_fn(t([-10.0]), t([-12.0]), t([-11.0]), t([-11.0])).loss.item(), 4)
        0.5981
    """

    def __init__(self, beta: float = 0.1, label_smoothing: float = 0.0, loss_type: str = "sigmoid",
                 ipo_length_normalize: bool = True, reduction: str = "mean", bco_running_mean: bool = True,
                 ipo_rewards_on_sums: bool = False):
        super().__init__()
        _check_common(beta, loss_type, F.DPO_LOSS_TYPES, reduction, label_smoothing)
        self.beta, self.label_smoothing, self.loss_type = beta, label_smoothing, loss_type
        self.ipo_length_normalize, self.reduction = ipo_length_normalize, reduction
        self.use_bco_running_mean, self.ipo_rewards_on_sums = bco_running_mean, ipo_rewards_on_sums
        # Shape [1], not a 0-d tensor: torch.compile (aot_eager and inductor, torch 2.x) drops an in-place update
        # of a 0-d float64 input, so a compiled module never moved its mean off 0 (float32 and [1] are kept).
        self.register_buffer("bco_running_mean", torch.zeros(1, dtype=torch.float64))
        self.register_buffer("bco_running_count", torch.zeros((), dtype=torch.int64))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        old = state_dict.get(prefix + "bco_running_mean")
        if old is not None and old.dim() == 0:   # saved by a version whose mean was 0-d
            state_dict[prefix + "bco_running_mean"] = old.reshape(1)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def forward(self, chosen_logps: Tensor, rejected_logps: Tensor, ref_chosen_logps: Tensor,
                ref_rejected_logps: Tensor, chosen_lengths: Optional[Tensor] = None,
                rejected_lengths: Optional[Tensor] = None) -> PreferenceLossOutput:
        delta, running = None, None
        given = (chosen_logps, rejected_logps, ref_chosen_logps, ref_rejected_logps)
        if not all(isinstance(t, Tensor) for t in given):
            pass   # the loss below refuses them by name (the running mean's code read .shape first: a breaker)
        elif self.loss_type == "bco_pair" and not self.use_bco_running_mean:
            delta = torch.zeros((), dtype=chosen_logps.dtype, device=chosen_logps.device)
        elif self.loss_type == "bco_pair":
            # The updated mean and count are written to the buffers only once the loss has accepted this
            # batch: a batch it refuses (mismatched sizes) once left its rewards in the mean, and an empty
            # batch's mean (NaN) made every later loss NaN.
            count, mean = self.bco_running_count, self.bco_running_mean
            # Buffers elsewhere than the batch: torch's message had named neither the module nor its buffer,
            # and in eval mode the loss's named an argument the caller never passed (a breaker)
            if mean.device != chosen_logps.device:
                raise ValueError(f"DPOLoss: its bco_running_mean buffer is on {mean.device}, the log-probs on "
                                 f"{chosen_logps.device}: move the loss module too (loss.to(device))")
            # Mismatched sizes: no update here; the loss below refuses them with a message naming the argument
            # (the update's own subtraction failed first, with torch's generic size error).
            same = chosen_logps.shape == rejected_logps.shape == ref_chosen_logps.shape == ref_rejected_logps.shape
            if self.training and chosen_logps.numel() > 0 and same:
                rewards = torch.cat([chosen_logps - ref_chosen_logps, rejected_logps - ref_rejected_logps]) * self.beta
                batch_mean = rewards.detach().mean().double()
                # A batch with a NaN or infinite reward (its own loss is then NaN) is left out of the mean: it
                # made the mean, and so every later loss, NaN for good (a breaker). The update itself syncs nothing.
                finite = torch.isfinite(batch_mean)
                mean = torch.where(finite, mean + (batch_mean - mean) / (count + 1), mean)
                count = torch.where(finite, count + 1, count)
                running = (mean, count)
            if count > 0:
                delta = mean.reshape(())
        losses, chosen_rewards, rejected_rewards = F.dpo_loss(
            chosen_logps, rejected_logps, ref_chosen_logps, ref_rejected_logps, self.beta, self.label_smoothing,
            self.loss_type, chosen_lengths, rejected_lengths, self.ipo_length_normalize, delta,
            self.ipo_rewards_on_sums)
        if running is not None:
            self.bco_running_mean.copy_(running[0])
            self.bco_running_count.copy_(running[1])
        return PreferenceLossOutput(F.reduce(losses, self.reduction), losses, chosen_rewards, rejected_rewards)

    @classmethod
    def trl(cls, loss_type: str = "sigmoid", beta: float = 0.1, label_smoothing: float = 0.0,
            reduction: str = "mean") -> "DPOLoss":
        """The conventions of current TRL (``DPOTrainer`` of TRL 1.x, tested against 1.16): bco_pair with no
        running-mean centre, IPO on length-normalized log-ratios with rewards on sums. TRL 1.x smooths labels
        only in robust, exo_pair, aot and aot_unpaired; elsewhere a non-zero ``label_smoothing`` is refused,
        as TRL would ignore it."""
        if label_smoothing and loss_type not in ("robust", "exo_pair", "aot", "aot_unpaired"):
            raise ValueError(f"DPOLoss.trl: TRL 1.x has no label smoothing in loss_type {loss_type!r} "
                             f"(only robust, exo_pair, aot, aot_unpaired), got label_smoothing={label_smoothing}")
        return cls(beta, label_smoothing, loss_type, ipo_length_normalize=True, reduction=reduction,
                   bco_running_mean=False, ipo_rewards_on_sums=True)

    def extra_repr(self) -> str:
        return (f"beta={self.beta}, label_smoothing={self.label_smoothing}, loss_type={self.loss_type!r}, "
                f"ipo_length_normalize={self.ipo_length_normalize}, reduction={self.reduction!r}, "
                f"bco_running_mean={self.use_bco_running_mean}, ipo_rewards_on_sums={self.ipo_rewards_on_sums}")


class ORMLoss(nn.Module):
    """The ORM objective (see :func:`cotnpot.orm_loss`).

    Example:
        >>> scores, mask = torch.tensor([[0.0, 2.0, -1.0]]), torch.tensor([[True, True, False]])
        >>> round(ORMLoss()(scores, torch.tensor([1]), mask).item(), 4)
        0.41
    """

    def __init__(self, reduction: str = "mean"):
        super().__init__()
        _check_reduction(reduction)
        self.reduction = reduction

    def forward(self, scores: Tensor, labels: Tensor, mask: Tensor) -> Tensor:
        return F.orm_loss(scores, labels, mask, self.reduction)


class ORMHead(nn.Module):
    """A per-token scalar head on a model's hidden states: ``scores[B,T] = hidden[B,T,H] @ w + b``.

    Example:
        >>> head = ORMHead(hidden_size=8)
        >>> hidden, mask = torch.randn(2, 5, 8), torch.ones(2, 5, dtype=torch.bool)
        >>> head(hidden).shape, head.score(hidden, mask).shape
        (torch.Size([2, 5]), torch.Size([2]))
    """

    def __init__(self, hidden_size: int, bias: bool = True):
        super().__init__()
        self.linear = nn.Linear(hidden_size, 1, bias=bias)

    def forward(self, hidden_states: Tensor, mask: Optional[Tensor] = None) -> Tensor:
        """``mask[B,T]`` (bool), optional: the head reads 0 in place of the hidden states at masked positions,
        so a NaN or infinite padding state (fp16 overflow) cannot turn the weight's gradient NaN (0 times NaN);
        the scores there are then the bias alone, which the ORM loss and score ignore."""
        if mask is not None:
            if mask.dtype != torch.bool or mask.shape != hidden_states.shape[:-1]:
                raise ValueError(f"ORMHead: mask must be bool with shape {tuple(hidden_states.shape[:-1])}, "
                                 f"got {mask.dtype} {tuple(mask.shape)}")
            hidden_states = torch.where(mask.unsqueeze(-1), hidden_states, hidden_states.new_zeros(()))
        return self.linear(hidden_states).squeeze(-1)

    def score(self, hidden_states: Tensor, mask: Tensor, mode: str = "last") -> Tensor:
        """Each solution's score in (0, 1), see :func:`cotnpot.orm_score`."""
        return F.orm_score(self(hidden_states, mask), mask, mode)
