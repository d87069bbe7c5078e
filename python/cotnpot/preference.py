"""Log-probs of chosen and rejected solutions from one forward pass of a model.

The model follows the Hugging Face causal-LM convention: ``model(input_ids, attention_mask)`` returns
an object with ``.logits`` ``[B,T,V]``. Labels hold the token ids to score and ``ignore_index`` at the
prompt and padding; logits at t predict the label at t+1.
"""
from typing import NamedTuple, Optional

import torch
from torch import Tensor

from .logprob import sequence_logprob


class PreferenceLogprobs(NamedTuple):
    chosen: Tensor            # [B] log-probs of the chosen solutions (reduced as asked)
    rejected: Tensor          # [B]
    chosen_lengths: Tensor    # [B] scored tokens per chosen solution (what length-normalized IPO needs)
    rejected_lengths: Tensor  # [B]


def _check_pair_inputs(**tensors) -> None:
    """Each a 2-D tensor [B, T] (a bare AttributeError or IndexError had named nothing: a breaker)."""
    for name, t in tensors.items():
        if not isinstance(t, Tensor):
            raise TypeError(f"concatenate_pairs: {name} must be a Tensor, got {type(t).__name__}")
        if t.dim() != 2:
            raise ValueError(f"concatenate_pairs: {name} must be 2-D [B, T], got shape {tuple(t.shape)}")


def _check_fill(name: str, value, dtype: torch.dtype) -> None:
    """A padding value must be an integer its tensor's dtype holds: 0.5 had padded with 0, and -100 in uint8
    labels failed in torch's cast with a message naming neither."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"concatenate_pairs: {name} must be an int, got {value!r}")
    if dtype.is_floating_point or dtype == torch.bool:
        return
    info = torch.iinfo(dtype)
    if not info.min <= value <= info.max:
        raise ValueError(f"concatenate_pairs: {name} {value} does not fit the tensor's dtype {dtype} "
                         f"([{info.min}, {info.max}])")


def _pad_right(t: Tensor, length: int, value: int) -> Tensor:
    return torch.nn.functional.pad(t, (0, length - t.shape[1]), value=value)


def concatenate_pairs(chosen_input_ids: Tensor, chosen_attention_mask: Tensor, chosen_labels: Tensor,
                      rejected_input_ids: Tensor, rejected_attention_mask: Tensor, rejected_labels: Tensor,
                      pad_token_id: int = 0, ignore_index: int = -100):
    """TRL's concatenated layout: pad both halves on the right to one length, chosen first. Returns
    ``(input_ids[2B,T], attention_mask[2B,T], labels[2B,T])``."""
    _check_pair_inputs(chosen_input_ids=chosen_input_ids, chosen_attention_mask=chosen_attention_mask,
                       chosen_labels=chosen_labels, rejected_input_ids=rejected_input_ids,
                       rejected_attention_mask=rejected_attention_mask, rejected_labels=rejected_labels)
    for name, value, dtype in (("pad_token_id", pad_token_id, chosen_input_ids.dtype),
                               ("ignore_index", ignore_index, chosen_labels.dtype)):
        _check_fill(name, value, dtype)
    for name, t in (("chosen_attention_mask", chosen_attention_mask), ("chosen_labels", chosen_labels)):
        if t.shape != chosen_input_ids.shape:
            raise ValueError(f"{name} must have the shape of chosen_input_ids {tuple(chosen_input_ids.shape)}, "
                             f"got {tuple(t.shape)}")
    for name, t in (("rejected_attention_mask", rejected_attention_mask), ("rejected_labels", rejected_labels)):
        if t.shape != rejected_input_ids.shape:
            raise ValueError(f"{name} must have the shape of rejected_input_ids "
                             f"{tuple(rejected_input_ids.shape)}, got {tuple(t.shape)}")
    if chosen_input_ids.shape[0] != rejected_input_ids.shape[0]:
        raise ValueError(f"chosen and rejected batches must pair up, got {chosen_input_ids.shape[0]} chosen and "
                         f"{rejected_input_ids.shape[0]} rejected")
    length = max(chosen_input_ids.shape[1], rejected_input_ids.shape[1])
    input_ids = torch.cat([_pad_right(chosen_input_ids, length, pad_token_id),
                           _pad_right(rejected_input_ids, length, pad_token_id)])
    attention_mask = torch.cat([_pad_right(chosen_attention_mask, length, 0),
                                _pad_right(rejected_attention_mask, length, 0)])
    labels = torch.cat([_pad_right(chosen_labels, length, ignore_index),
                        _pad_right(rejected_labels, length, ignore_index)])
    return input_ids, attention_mask, labels


def preference_logprobs(model, input_ids: Tensor, attention_mask: Tensor, labels: Tensor,
                        rejected_input_ids: Optional[Tensor] = None, rejected_attention_mask: Optional[Tensor] = None,
                        rejected_labels: Optional[Tensor] = None, reduction: str = "mean",
                        ignore_index: int = -100, pad_token_id: int = 0) -> PreferenceLogprobs:
    """Chosen and rejected log-probs from a single forward pass.

    Either TRL's concatenated batch (``input_ids[2B,T]``: first B chosen, then B rejected) or separate
    chosen (``input_ids``…) and rejected (``rejected_*``) batches, which are padded and concatenated.
    ``reduction="mean"`` gives length-averaged log-probs (SimPO), ``"sum"`` summed ones (DPO).

    Example:
        >>> class Model(torch.nn.Module):
        ...     def forward(self, input_ids, attention_mask):
        ...         return type("Out", (), {"logits": torch.zeros(*input_ids.shape, 5)})()
        >>> ids = torch.tensor([[1, 2, 3], [1, 4, 0]])
        >>> labels = torch.tensor([[-100, 2, 3], [-100, 4, -100]])
        >>> out = preference_logprobs(Model(), ids, torch.ones_like(ids), labels)
        >>> [round(x, 4) for x in (out.chosen.item(), out.rejected.item())], out.chosen_lengths.tolist()
        ([-1.6094, -1.6094], [2])
    """
    separate = (rejected_input_ids, rejected_attention_mask, rejected_labels)
    if any(t is not None for t in separate):
        if any(t is None for t in separate):
            raise ValueError("pass all of rejected_input_ids, rejected_attention_mask and rejected_labels, or none")
        input_ids, attention_mask, labels = concatenate_pairs(input_ids, attention_mask, labels, *separate,
                                                              pad_token_id=pad_token_id, ignore_index=ignore_index)
    elif input_ids.shape[0] % 2:
        raise ValueError(f"a concatenated batch holds chosen then rejected, so input_ids needs an even batch size, "
                         f"got {input_ids.shape[0]}")
    half = input_ids.shape[0] // 2
    logits = model(input_ids, attention_mask).logits
    logps = sequence_logprob(logits, labels, ignore_index=ignore_index, reduction=reduction, shift=True)
    lengths = (labels[:, 1:] != ignore_index).sum(-1)
    return PreferenceLogprobs(logps[:half], logps[half:], lengths[:half], lengths[half:])
