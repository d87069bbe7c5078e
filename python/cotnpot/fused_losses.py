"""SimPO and DPO straight from the last hidden state and the LM head: the log-probs go through
:func:`cotnpot.fused_sequence_logprob` (no ``[tokens, vocabulary]`` logits), then the same losses as
:class:`cotnpot.SimPOLoss` / :class:`cotnpot.DPOLoss`. Drop-in for a training step that has the model's
decoder output: for a Hugging Face causal LM, ``hidden = model.model(input_ids,
attention_mask=mask).last_hidden_state`` (:func:`cotnpot.train.packing.decoder_of` finds the decoder of
any architecture) and ``lm_head = model.get_output_embeddings()``. The fused path computes the head's plain output
``hidden @ W.T (+ b)``: models that transform their logits after the head (Gemma 2's soft-capping, Cohere's and
Granite's scaling: ``cotnpot.train.packing.LOGIT_TRANSFORMS``) would get other log-probs. Pass the model itself
as ``lm_head`` and its config is checked: such a model is refused by name.

Sequences are in TRL's concatenated layout: ``hidden[2B, T, H]`` and ``labels[2B, T]`` hold the B chosen
sequences, then the B rejected ones, labels -100 (``ignore_index``) at the prompt and padding; with
``shift=True`` (the default) position t predicts label t+1, as with a model's logits.

    >>> import torch, cotnpot
    >>> head = torch.nn.Linear(8, 50, bias=False)
    >>> hidden, labels = torch.randn(4, 6, 8), torch.randint(50, (4, 6))
    >>> labels[:, :2] = -100   # the prompt
    >>> out = cotnpot.FusedLinearSimPOLoss(head)(hidden, labels)
    >>> logps = cotnpot.sequence_logprob(hidden @ head.weight.T, labels, reduction="mean", shift=True)
    >>> torch.allclose(out.loss, cotnpot.SimPOLoss()(logps[:2], logps[2:]).loss, atol=1e-5)
    True
"""
from typing import Optional

from torch import Tensor, nn

from .fused import block_sizes, fused_sequence_logprob, widened_labels
from .logprob import checked_ignore_index
from .modules import DPOLoss, PreferenceLossOutput, SimPOLoss


def _check_plain_logits(model: nn.Module) -> None:
    """Found by a breaker: Gemma 2 (soft-capping), Cohere and Granite (scaling) transform their logits after the
    head, which the fused log-probs skip: their SimPO losses came out 0.2% to 27% off, silently."""
    from .train.packing import logit_transform
    transform = logit_transform(getattr(model, "config", None))
    if transform:
        raise ValueError(f"{type(model).__name__}'s config sets {transform}: its logits are not the LM head's plain "
                         "output, which the fused log-probs compute; use its logits with cotnpot.SimPOLoss / "
                         "cotnpot.DPOLoss instead")


def _checked_head(lm_head) -> nn.Module:
    weight = getattr(lm_head, "weight", None)
    if not isinstance(weight, Tensor) or weight.dim() != 2:
        raise TypeError(f"lm_head must have a 2-D weight [V, H] (an nn.Linear), got {type(lm_head).__name__}")
    # before hidden is cast to it: an int8 head's error had blamed a float32 hidden (a breaker)
    if not weight.is_floating_point():
        raise TypeError(f"lm_head's weight must be floating-point, got {weight.dtype} (a quantized head: "
                        f"dequantize it, or compute the log-probs from its logits)")
    return lm_head


class _FusedLinear(nn.Module):
    """The log-prob half: the head is the model's, held by reference (not a submodule of the loss, so it is
    neither saved nor moved twice), its weight and bias read at every call. Given the model, the loss asks it
    for its head at every call: a head replaced after the loss was made (``resize_token_embeddings`` with an
    untied head) had been left out, with no gradient and no warning (found by a reviewer)."""

    def __init__(self, lm_head: nn.Module, shift: bool, ignore_index: int, row_block: int, vocab_block: int,
                 block_memory_mb: Optional[float]):
        super().__init__()
        model = None
        if not isinstance(getattr(lm_head, "weight", None), Tensor) and \
                callable(getattr(lm_head, "get_output_embeddings", None)):   # the model itself: its head, checked
            _check_plain_logits(lm_head)
            model, lm_head = lm_head, lm_head.get_output_embeddings()
        block_sizes(1, row_block, vocab_block, block_memory_mb)   # bad options fail here, not at the first call
        checked_ignore_index(type(self).__name__, ignore_index)
        # plain attributes: neither is registered as a submodule
        self.__dict__["_model"], self.__dict__["_head"] = model, _checked_head(lm_head)
        self.shift, self.ignore_index, self.row_block, self.vocab_block = shift, ignore_index, row_block, vocab_block
        self.block_memory_mb = block_memory_mb

    @property
    def lm_head(self) -> nn.Module:
        """The head the loss uses: the model's current one where it was given the model."""
        model = self.__dict__["_model"]
        return self.__dict__["_head"] if model is None else _checked_head(model.get_output_embeddings())

    def logps(self, hidden: Tensor, labels: Tensor, reduction: str) -> Tensor:
        if hidden.dim() != 3 or hidden.shape[0] % 2:
            raise ValueError(f"hidden must be [2B, T, H] (B chosen, then B rejected sequences), got "
                             f"{list(hidden.shape)}")
        # checked before the cast below: an integer hidden had been cast and scored silently (a breaker)
        if not hidden.is_floating_point():
            raise TypeError(f"hidden must be floating-point, got {hidden.dtype}")
        head = self.lm_head
        # In the head's dtype: hidden states from an autocast region (bf16) meet an fp32 head.
        return fused_sequence_logprob(hidden.to(head.weight.dtype), head.weight, labels, getattr(head, "bias", None),
                                      self.ignore_index, reduction, self.shift, self.row_block, self.vocab_block,
                                      self.block_memory_mb)

    def lengths(self, labels: Tensor) -> Tensor:
        scored = widened_labels(labels[:, 1:] if self.shift else labels)
        return (scored != self.ignore_index).sum(-1)


class FusedLinearSimPOLoss(_FusedLinear):
    """SimPO on length-averaged log-probs from ``hidden[2B, T, H]`` and ``labels[2B, T]``; the loss options
    (beta, gamma, gamma_beta_ratio, label_smoothing, loss_type, sft_weight, reduction) are
    :class:`SimPOLoss`'s. Gradients reach the hidden states and the head's weight (and bias)."""

    def __init__(self, lm_head: nn.Module, shift: bool = True, ignore_index: int = -100, row_block: int = 0,
                 vocab_block: int = 0, block_memory_mb: Optional[float] = None, **loss_options):
        super().__init__(lm_head, shift, ignore_index, row_block, vocab_block, block_memory_mb)
        self.loss = SimPOLoss(**loss_options)

    def forward(self, hidden: Tensor, labels: Tensor) -> PreferenceLossOutput:
        logps = self.logps(hidden, labels, "mean")
        n = logps.shape[0] // 2
        return self.loss(logps[:n], logps[n:])


class FusedLinearDPOLoss(_FusedLinear):
    """A DPO-family loss on summed log-probs from ``hidden[2B, T, H]`` and ``labels[2B, T]``, with the
    reference model's summed log-probs ``ref_chosen_logps[B]`` and ``ref_rejected_logps[B]``; the loss
    options (beta, label_smoothing, loss_type, ...) are :class:`DPOLoss`'s. Length-normalized types take
    the scored tokens per sequence from the labels."""

    def __init__(self, lm_head: nn.Module, shift: bool = True, ignore_index: int = -100, row_block: int = 0,
                 vocab_block: int = 0, block_memory_mb: Optional[float] = None, **loss_options):
        super().__init__(lm_head, shift, ignore_index, row_block, vocab_block, block_memory_mb)
        self.loss = DPOLoss(**loss_options)

    def forward(self, hidden: Tensor, labels: Tensor, ref_chosen_logps: Tensor,
                ref_rejected_logps: Tensor) -> PreferenceLossOutput:
        logps = self.logps(hidden, labels, "sum")
        lengths = self.lengths(labels)
        n = logps.shape[0] // 2
        for name, ref in (("ref_chosen_logps", ref_chosen_logps), ("ref_rejected_logps", ref_rejected_logps)):
            if not isinstance(ref, Tensor):
                raise TypeError(f"{name} must be a tensor [B] of the reference model's summed log-probs, got "
                                f"{type(ref).__name__}")
        ref_chosen_logps = ref_chosen_logps.to(logps.dtype)
        ref_rejected_logps = ref_rejected_logps.to(logps.dtype)
        try:
            return self.loss(logps[:n], logps[n:], ref_chosen_logps, ref_rejected_logps, lengths[:n], lengths[n:])
        except (RuntimeError, ValueError) as exc:
            # The lengths are this module's count, not the caller's: say where they come from (the message had
            # named chosen_lengths, an argument the caller never passed; a breaker). On the failing path only.
            if "_lengths must be finite and > 0" not in str(exc):
                raise
            shifted = ", after the shift" if self.shift else ""
            rows = (lengths == 0).nonzero().flatten().tolist()
            raise ValueError(f"FusedLinearDPOLoss: loss_type {self.loss.loss_type!r} averages over each sequence's "
                             f"scored tokens (labels other than ignore_index {self.ignore_index}{shifted}), and "
                             f"labels[{rows[0] if rows else '?'}] has none ({exc})") from exc

    @classmethod
    def trl(cls, lm_head: nn.Module, loss_type: str = "sigmoid", beta: float = 0.1, label_smoothing: float = 0.0,
            reduction: str = "mean", **options) -> "FusedLinearDPOLoss":
        """Current TRL's conventions, as :meth:`DPOLoss.trl`."""
        fused = cls(lm_head, **options)
        fused.loss = DPOLoss.trl(loss_type, beta, label_smoothing, reduction)
        return fused
