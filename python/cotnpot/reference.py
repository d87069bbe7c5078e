"""Pure-PyTorch reference implementations of cotnpot's ops: slow, obviously correct, used by the tests.

Each function has the signature and the semantics of the op of the same name in the cotnpot namespace.
"""
import torch
from torch import Tensor


def token_logprob(logits: Tensor, labels: Tensor, ignore_index: int = -100, shift: bool = False) -> Tensor:
    """``log_softmax`` + ``gather`` in float32 (float64 for float64 logits); 0 at ignored positions."""
    if shift:
        logits, labels = logits[:, :-1], labels[:, 1:]
    compute = torch.float64 if logits.dtype == torch.float64 else torch.float32
    valid = labels != ignore_index
    safe = labels.masked_fill(~valid, 0)
    logp = torch.log_softmax(logits.to(compute), dim=-1).gather(-1, safe.unsqueeze(-1)).squeeze(-1)
    return logp.masked_fill(~valid, 0.0)


def sequence_logprob(logits: Tensor, labels: Tensor, ignore_index: int = -100, reduction: str = "sum",
                     shift: bool = False) -> Tensor:
    """Sum, mean over valid tokens (0 when there are none), or no reduction of :func:`token_logprob`."""
    logp = token_logprob(logits, labels, ignore_index, shift)
    if reduction == "none":
        return logp
    total = logp.sum(-1)
    if reduction == "sum":
        return total
    if reduction == "mean":
        used = labels[:, 1:] if shift else labels
        return total / (used != ignore_index).sum(-1).clamp_min(1).to(total.dtype)
    raise ValueError(f"reduction must be one of 'sum', 'mean', 'none', got {reduction!r}")
