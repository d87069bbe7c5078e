"""Log-probs from the last hidden state and the lm_head weight, never materializing the [N, V] logits
(the C++ op ``torch.ops.cotnpot._fused_linear_logprob_forward``: blocks of rows x vocabulary with an
online log-sum-exp; its backward recomputes each block). For verifier training at real vocabularies
(Qwen's 152k tokens), where the logits and their gradient dominate memory.

    >>> import torch, cotnpot
    >>> hidden, weight = torch.randn(6, 8), torch.randn(50, 8)
    >>> labels = torch.tensor([1, 2, 3, -100, 4, 5])
    >>> logp = cotnpot.fused_linear_logprob(hidden, weight, labels)
    >>> torch.allclose(logp, torch.log_softmax(hidden @ weight.T, -1).gather(1, labels.clamp_min(0)[:, None])[:, 0]
    ...                * (labels != -100), atol=1e-5)
    True

From a Hugging Face causal LM: ``out = model.model(input_ids, attention_mask=...)`` (the decoder without
its head) gives ``out.last_hidden_state`` [B, T, H]; ``model.lm_head.weight`` is [V, H]. Then
:func:`fused_sequence_logprob` (``shift=True``) gives what ``sequence_logprob(model(...).logits, labels,
shift=True)`` gives, and its sums feed :func:`cotnpot.simpo_loss` / :func:`cotnpot.dpo_loss` unchanged,
gradients flowing to the hidden states and the weight.
"""
import math
import numbers
from typing import Optional, Tuple

import torch
from torch import Tensor

from ._extension import _C  # registers the ops
from .logprob import checked_ignore_index

REDUCTIONS = ("sum", "mean", "none")
VOCAB_BLOCK = _C.FUSED_VOCAB_BLOCK   # the op's own choice on the CPU when vocab_block is 0 (fused_linear_logprob.h)


def block_sizes(vocab: int, row_block: int = 0, vocab_block: int = 0,
                block_memory_mb: Optional[float] = None) -> Tuple[int, int]:
    """The (row_block, vocab_block) to pass to the op: sizes given stay; with ``block_memory_mb``, the
    vocabulary block (``vocab_block``, else the CPU's default width) and as many rows as fit that many MiB of
    float32 block logits, on any device; without, 0 lets the op choose (8 MiB on the CPU, 64 MiB on CUDA)."""
    for name, size in (("row_block", row_block), ("vocab_block", vocab_block)):
        if not isinstance(size, numbers.Integral) or isinstance(size, bool):
            raise TypeError(f"{name} must be an int >= 0 (0: chosen), got {size!r}")
        if not 0 <= size < 2 ** 63:   # past int64, torch's own message had called an int no int (a breaker)
            raise ValueError(f"{name} must be an int >= 0 (0: chosen) that fits int64, got {size!r}")
    if block_memory_mb is None:
        return row_block, vocab_block
    # Checked even where row_block decides: a bad budget had passed silently beside one
    is_number = isinstance(block_memory_mb, numbers.Real) and not isinstance(block_memory_mb, bool)
    mb = float(block_memory_mb) if is_number else math.nan
    if not (math.isfinite(mb) and mb > 0):
        raise ValueError(f"block_memory_mb must be a finite number > 0, got {block_memory_mb!r}")
    if row_block:
        return row_block, vocab_block
    width = min(vocab, vocab_block or VOCAB_BLOCK)
    # More rows than an int64 holds is "all of them" (1e300 MiB once overflowed the op's argument).
    rows = min(mb * 2 ** 20 // (4 * max(width, 1)), 2 ** 62)
    return max(1, int(rows)), width


def _setup_context(ctx, inputs, output):
    hidden, weight, labels, bias, ignore_index, row_block, vocab_block = inputs
    ctx.mark_non_differentiable(output[1])   # the lse: a gradient through it was silently 0 (a breaker)
    ctx.save_for_backward(hidden, weight, labels, output[1], bias)
    ctx.options = (ignore_index, row_block, vocab_block)
    ctx.has_bias = bias is not None


def _backward(ctx, grad_logp, grad_lse):
    """Gradients of the log-probs (the log-sum-exp output is an internal value: not differentiable). Only the
    inputs that need one get one: a frozen lm_head costs no [V, H] work or buffer."""
    if torch.is_grad_enabled():
        raise RuntimeError("fused_linear_logprob: double backward (create_graph=True) is not supported")
    hidden, weight, labels, lse, bias = ctx.saved_tensors
    if grad_logp is None:
        grad_logp = torch.zeros_like(lse)
    need = ctx.needs_input_grad
    mask = [bool(need[0]), bool(need[1]), bool(ctx.has_bias and need[3])]
    grad_hidden, grad_weight, grad_bias = torch.ops.cotnpot._fused_linear_logprob_backward(
        grad_logp, hidden, weight, labels, lse, bias, *ctx.options, mask)
    return (grad_hidden if mask[0] else None, grad_weight if mask[1] else None, None,
            grad_bias if mask[2] else None, None, None, None)


torch.library.register_autograd("cotnpot::_fused_linear_logprob_forward", _backward, setup_context=_setup_context)


def _setup_frozen_weight_context(ctx, inputs, output):
    # Only the op's third output, which the caller never sees: saving the log-probs it returns would make an
    # in-place change to them (logp.mul_(mask)) an autograd error, as it is not with the plain op.
    ctx.mark_non_differentiable(output[1], output[2])   # internal values: no gradient flows through them
    ctx.save_for_backward(output[2], inputs[2])
    ctx.dtype = inputs[0].dtype   # hidden's: its gradient's
    ctx.ignore_index = inputs[4]


def _frozen_weight_backward(ctx, grad_logp, grad_lse, grad_dlogp_dhidden):
    """hidden's gradient alone: grad times each row's d logp / d hidden, which the forward computed."""
    if torch.is_grad_enabled():
        raise RuntimeError("fused_linear_logprob: double backward (create_graph=True) is not supported")
    need = ctx.needs_input_grad
    if need[1] or need[3]:
        raise RuntimeError("_fused_linear_logprob_frozen_weight_forward gives hidden alone a gradient; the weight "
                           "or bias requires one: use cotnpot.fused_linear_logprob, which picks the op that does")
    dlogp_dhidden, labels = ctx.saved_tensors
    if grad_logp is None or not need[0]:
        return None, None, None, None, None, None, None
    # An ignored row's log-prob is the constant 0: no gradient, whatever arrives there (a NaN or inf grad
    # times its zero row was NaN; the plain form's backward writes zeros).
    grad_logp = grad_logp.masked_fill(labels == ctx.ignore_index, 0)
    grad_hidden = torch.ops.cotnpot._fused_linear_logprob_frozen_weight_backward(grad_logp, dlogp_dhidden,
                                                                                  ctx.dtype)
    return grad_hidden, None, None, None, None, None, None


torch.library.register_autograd("cotnpot::_fused_linear_logprob_frozen_weight_forward", _frozen_weight_backward,
                                setup_context=_setup_frozen_weight_context)


def _only_hidden_needs_a_gradient(hidden: Tensor, weight: Tensor, bias: Optional[Tensor]) -> bool:
    """Whether the frozen-head form serves: on the CPU, where it was measured (fwd+bwd 1.5x faster than the
    plain form). On CUDA it would run ATen epilogues and float32 GEMMs (the composite form) against the plain
    form's own kernels and bf16 GEMMs: unmeasured (no GPU yet), so CUDA keeps the plain form."""
    return (torch.is_grad_enabled() and hidden.requires_grad and hidden.device.type == "cpu"
            and not weight.requires_grad and (bias is None or not bias.requires_grad))


def widened_labels(labels: Tensor) -> Tensor:
    """Integer labels as int64, where they are compared with ``ignore_index``: in uint8 ``labels == -100`` holds
    for 156 (torch wraps the scalar), so a scored token 156 had counted as ignored in a mean's denominator and
    got no gradient in the frozen-head backward (a breaker). Other dtypes pass unchanged for the op to refuse."""
    if labels.dtype != torch.int64 and not labels.is_floating_point() and not labels.is_complex() \
            and labels.dtype != torch.bool:
        return labels.long()
    return labels


def fused_linear_logprob(hidden: Tensor, weight: Tensor, labels: Tensor, bias: Optional[Tensor] = None,
                         ignore_index: int = -100, row_block: int = 0, vocab_block: int = 0,
                         block_memory_mb: Optional[float] = None) -> Tensor:
    """``log_softmax(hidden @ weight.T + bias)[n, labels[n]]`` per row, ``[N]`` (0 at ``ignore_index``), in
    float32 (float64 for float64 inputs), differentiable in hidden, weight and bias. Where only hidden needs a
    gradient (a frozen lm_head, as under LoRA; on the CPU), the backward needs no GEMM: the forward keeps an
    [N, H] float32 buffer instead (each row's log-prob's gradient in its hidden state).
    Block sizes: 0 picks them, from ``block_memory_mb`` of float32 logits per block (default about 8 MiB on
    the CPU, 64 MiB on CUDA); see :func:`block_sizes`."""
    for name, value in (("hidden", hidden), ("weight", weight), ("labels", labels)):
        if not isinstance(value, Tensor):   # before .shape and .requires_grad are read (an AttributeError)
            raise TypeError(f"fused_linear_logprob: {name} must be a tensor, got {type(value).__name__}")
    labels = widened_labels(labels)
    checked_ignore_index("fused_linear_logprob", ignore_index)
    # a 0-d weight: the op names it (weight.shape[0] was an IndexError)
    row_block, vocab_block = block_sizes(weight.shape[0] if weight.dim() else 0, row_block, vocab_block,
                                         block_memory_mb)
    if _only_hidden_needs_a_gradient(hidden, weight, bias):
        # A frozen lm_head (LoRA): the forward also sums each row's softmax-weighted weight rows, so the backward
        # needs no GEMM -- 2 GEMMs per block in all instead of 3 (fused_linear_logprob.h).
        logp, _, _ = torch.ops.cotnpot._fused_linear_logprob_frozen_weight_forward(
            hidden, weight, labels, bias, ignore_index, row_block, vocab_block)
        return logp
    logp, _ = torch.ops.cotnpot._fused_linear_logprob_forward(hidden, weight, labels, bias, ignore_index,
                                                              row_block, vocab_block)
    return logp


def fused_sequence_logprob(hidden: Tensor, weight: Tensor, labels: Tensor, bias: Optional[Tensor] = None,
                           ignore_index: int = -100, reduction: str = "sum", shift: bool = False,
                           row_block: int = 0, vocab_block: int = 0, block_memory_mb: Optional[float] = None) -> Tensor:
    """Per-sequence log-probs from hidden states ``[B, T, H]`` and labels ``[B, T]``, as
    :func:`cotnpot.sequence_logprob` computes them from logits (``shift``: position t predicts label t+1)."""
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    for name, t in (("hidden", hidden), ("weight", weight), ("labels", labels)):
        if not isinstance(t, Tensor):   # fused_linear_logprob's own check comes after the reshapes below
            raise TypeError(f"fused_sequence_logprob: {name} must be a Tensor, got {type(t).__name__}")
    labels = widened_labels(labels)
    if hidden.dim() != 3 or labels.dim() != 2 or hidden.shape[:2] != labels.shape:
        raise ValueError(f"fused_sequence_logprob: hidden must be [B,T,H] and labels [B,T] with the same B and T, "
                         f"got {list(hidden.shape)} and {list(labels.shape)}")
    if shift:
        if labels.shape[1] < 1:   # as sequence_logprob (zeros had come back, and a SimPO loss of 0.97; a breaker)
            raise ValueError(f"fused_sequence_logprob: shift=True needs T >= 1, got T = {labels.shape[1]}")
        hidden, labels = hidden[:, :-1], labels[:, 1:]
    B, T = labels.shape
    try:
        tokens = fused_linear_logprob(hidden.reshape(B * T, hidden.shape[-1]), weight, labels.reshape(B * T), bias,
                                      ignore_index, row_block, vocab_block, block_memory_mb).reshape(B, T)
    except RuntimeError as exc:
        # The op names a position in the flattened (and shifted) labels; the caller's is labels[b, t]. Found
        # here, on the failing path only: a check before the call would cost every call a sync.
        if "labels must be in [0, V)" not in str(exc) or torch.compiler.is_compiling():
            raise
        bad = ((labels != ignore_index) & ((labels < 0) | (labels >= weight.shape[0]))).nonzero()
        if not len(bad):
            raise
        b, t = bad[0].tolist()
        raise RuntimeError(f"fused_sequence_logprob: labels must be in [0, V) = [0, {weight.shape[0]}) or equal "
                           f"ignore_index {ignore_index}, got {labels[b, t].item()} at labels[{b}, {t + int(shift)}]"
                           ) from exc
    if reduction == "none":
        return tokens
    total = tokens.sum(1)
    if reduction == "sum":
        return total
    return total / (labels != ignore_index).sum(1).clamp_min(1).to(total.dtype)
