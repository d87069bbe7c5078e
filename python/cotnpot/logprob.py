"""Log-probabilities of label sequences under a model's logits (the C++ op torch.ops.cotnpot.*).

One fused pass per position (running max, log-sum-exp and the label's logit) with no [B,T,V]
temporary; the backward recomputes softmax row by row instead of storing it. Both run in float32
for float32/bfloat16/float16 logits (float64 for float64), and return that dtype.
"""
import numbers

import torch
from torch import Tensor

from ._extension import _C  # noqa: F401  (registers the ops)


def checked_ignore_index(op: str, ignore_index):
    """ignore_index, where it is an int that fits int64: past that, torch's own message had called an int no int
    (a breaker). Other types are left to the op's own check."""
    if isinstance(ignore_index, numbers.Integral) and not isinstance(ignore_index, bool) and \
            not -2 ** 63 <= ignore_index < 2 ** 63:
        raise ValueError(f"{op}: ignore_index must fit int64, got {ignore_index}")
    return ignore_index


def token_logprob(logits: Tensor, labels: Tensor, ignore_index: int = -100, shift: bool = False) -> Tensor:
    """Per-token log-probs ``logp[b,t] = logits[b,t,y] - logsumexp(logits[b,t,:])`` with ``y = labels[b,t]``.

    Args:
        logits: ``[B,T,V]`` float32, float64, float16 or bfloat16, any device.
        labels: ``[B,T]`` int64; positions equal to ``ignore_index`` give 0.
        ignore_index: label value that marks positions to skip (prompt, padding).
        shift: if True, logits at t predict labels at t+1 (causal LM); the result has T-1 positions.

    Returns:
        ``[B,T]`` (or ``[B,T-1]``) float32 (float64 for float64 logits).

    Example:
        >>> lp = token_logprob(torch.randn(2, 5, 11), torch.randint(11, (2, 5)), shift=True)
        >>> lp.shape
        torch.Size([2, 4])
    """
    return torch.ops.cotnpot.token_logprob(logits, labels, checked_ignore_index("token_logprob", ignore_index), shift)


def sequence_logprob(logits: Tensor, labels: Tensor, ignore_index: int = -100, reduction: str = "sum",
                     shift: bool = False) -> Tensor:
    """Log-prob of each label sequence: per-token log-probs reduced over the valid positions of each row.

    ``reduction="sum"`` gives ``[B]`` sums (DPO's sequence log-prob), ``"mean"`` ``[B]`` length-averaged
    log-probs (SimPO's reward and the verifier score; 0 for a row with no valid token), ``"none"`` the
    ``[B,T]`` per-token values of :func:`token_logprob`. Other arguments as in :func:`token_logprob`.

    Example:
        >>> logits, labels = torch.randn(2, 5, 11), torch.randint(11, (2, 5))
        >>> labels[:, :2] = -100   # the prompt: not scored
        >>> sequence_logprob(logits, labels, reduction="mean").shape
        torch.Size([2])
    """
    return torch.ops.cotnpot.sequence_logprob(logits, labels, checked_ignore_index("sequence_logprob", ignore_index),
                                              reduction, shift)
