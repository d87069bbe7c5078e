"""Fake (shape-only) kernels of the ops whose real kernels are C++ backend kernels, for FakeTensor and
torch.compile: they say what the outputs look like without reading any data. The composite ops
(token_logprob, sequence_logprob, the losses) need none: tracing goes through the ops they are made of.
"""
import torch


def _check_one_device(op, like_name, like, **others):
    """The real kernels' device checks. A fake kernel also serves the Meta key, and a call mixing meta and
    CPU tensors dispatches to it: without this it returned uninitialized CPU memory as the result."""
    for name, t in others.items():
        if t is not None:
            torch._check(t.device == like.device,
                         lambda: f"{op}: {name} must be on device {like.device} (where {like_name} is), got {t.device}")


def _check_mask(op, name, mask, like):
    if mask is None:
        return
    torch._check(mask.dtype == torch.bool, lambda: f"{op}: {name} must be bool, got {mask.dtype}")
    torch._check(mask.shape == like.shape, lambda: f"{op}: {name} must have shape {list(like.shape)}, got "
                                                   f"{list(mask.shape)}")


def _logprob_dtype(logits: torch.Tensor) -> torch.dtype:
    return torch.float64 if logits.dtype == torch.float64 else torch.float32


def _check_logprob_inputs(op, logits, labels):
    """The metadata checks of the C++ kernels, so a traced program fails where an eager one would."""
    torch._check(logits.dim() == 3, lambda: f"{op}: logits must be 3-D [B,T,V], got {logits.dim()}-D")
    torch._check(labels.dim() == 2, lambda: f"{op}: labels must be 2-D [B,T], got {labels.dim()}-D")
    torch._check(labels.shape[0] == logits.shape[0] and labels.shape[1] == logits.shape[1],
                 lambda: f"{op}: labels must have shape [B,T] = {list(logits.shape[:2])}, got {list(labels.shape)}")


@torch.library.register_fake("cotnpot::_token_logprob_forward")
def _token_logprob_forward(logits, labels, ignore_index, shift):
    _check_logprob_inputs("_token_logprob_forward", logits, labels)
    _check_one_device("_token_logprob_forward", "logits", logits, labels=labels)
    batch, steps = logits.shape[0], logits.shape[1] - (1 if shift else 0)
    out = logits.new_empty((batch, steps), dtype=_logprob_dtype(logits))
    # lse is float64 whatever the logits' dtype: rounded to float it lost the digits that a log-prob from
    # logits near 1e4 needs (row_kernels.h)
    return out, torch.empty_like(out, dtype=torch.float64)


@torch.library.register_fake("cotnpot::_token_logprob_backward")
def _token_logprob_backward(grad, logits, labels, lse, ignore_index, shift):
    _check_logprob_inputs("_token_logprob_backward", logits, labels)
    _check_one_device("_token_logprob_backward", "logits", logits, grad=grad, labels=labels, lse=lse)
    want = [logits.shape[0], logits.shape[1] - (1 if shift else 0)]
    torch._check(list(grad.shape) == want and list(lse.shape) == want,
                 lambda: f"_token_logprob_backward: grad and lse must have shape {want}, got {list(grad.shape)} "
                         f"and {list(lse.shape)}")
    return torch.empty_like(logits, memory_format=torch.contiguous_format)


def _check_fallback(op, fallback):
    # as the kernels do: under FakeTensorMode (torch.compile's tracing) a bad fallback had passed (a breaker)
    torch._check(fallback in ("all", "none"), lambda: f'{op}: fallback must be "all" or "none", got "{fallback}"')


@torch.library.register_fake("cotnpot::best_of_n")
def _best_of_n(scores, valid=None, keep=None, fallback="all"):
    _check_fallback("best_of_n", fallback)
    torch._check(scores.dim() == 2, lambda: f"best_of_n: scores must be 2-D [P,N], got {scores.dim()}-D")
    torch._check(scores.is_floating_point(), lambda: f"best_of_n: scores must be floating-point, got {scores.dtype}")
    _check_one_device("best_of_n", "scores", scores, valid=valid, keep=keep)
    _check_mask("best_of_n", "valid", valid, scores)
    _check_mask("best_of_n", "keep", keep, scores)
    return scores.new_empty((scores.shape[0],), dtype=torch.long)


@torch.library.register_fake("cotnpot::vote")
def _vote(classes, valid=None, weights=None, keep=None, fallback="all"):
    _check_fallback("vote", fallback)
    torch._check(classes.dim() == 2, lambda: f"vote: classes must be 2-D [P,N], got {classes.dim()}-D")
    torch._check(classes.dtype in (torch.int64, torch.int32),
                 lambda: f"vote: classes must be int64 or int32, got {classes.dtype}")
    _check_one_device("vote", "classes", classes, valid=valid, weights=weights, keep=keep)
    _check_mask("vote", "valid", valid, classes)
    _check_mask("vote", "keep", keep, classes)
    if weights is not None:
        torch._check(weights.is_floating_point(), lambda: f"vote: weights must be floating-point, got {weights.dtype}")
        torch._check(weights.shape == classes.shape,
                     lambda: f"vote: weights must have shape {list(classes.shape)}, got {list(weights.shape)}")
    problems = classes.shape[0]
    return (classes.new_empty((problems,), dtype=torch.long), classes.new_empty((problems,), dtype=torch.long),
            classes.new_empty((problems,), dtype=torch.float64))


def _accumulation_dtype(t: torch.Tensor) -> torch.dtype:
    return torch.float64 if t.dtype == torch.float64 else torch.float32


@torch.library.register_fake("cotnpot::_fused_linear_logprob_forward")
def _fused_linear_logprob_forward(hidden, weight, labels, bias, ignore_index, row_block, vocab_block):
    torch._check(hidden.dim() == 2 and weight.dim() == 2 and labels.dim() == 1,
                 lambda: "fused_linear_logprob: hidden [N,H], weight [V,H] and labels [N] expected")
    _check_one_device("fused_linear_logprob", "hidden", hidden, weight=weight, labels=labels, bias=bias)
    out = hidden.new_empty((hidden.shape[0],), dtype=_accumulation_dtype(hidden))
    return out, torch.empty_like(out, dtype=torch.float64)   # lse in float64, as _token_logprob_forward's


@torch.library.register_fake("cotnpot::_fused_linear_logprob_backward")
def _fused_linear_logprob_backward(grad, hidden, weight, labels, lse, bias, ignore_index, row_block, vocab_block,
                                   output_mask):
    _check_one_device("fused_linear_logprob", "hidden", hidden, grad=grad, weight=weight, labels=labels, lse=lse,
                      bias=bias)
    want_bias = output_mask[2] and bias is not None
    # Contiguous whatever the inputs' layout, as the kernels' gradient buffers are: empty_like kept a transposed
    # hidden's or weight's strides, and a compiled backward then failed its stride check.
    return (hidden.new_empty(hidden.shape) if output_mask[0] else hidden.new_empty((0,)),
            weight.new_empty(weight.shape) if output_mask[1] else weight.new_empty((0,)),
            weight.new_empty((weight.shape[0],)) if want_bias else weight.new_empty((0,)))


@torch.library.register_fake("cotnpot::_fused_linear_logprob_frozen_weight_forward")
def _fused_linear_logprob_frozen_weight_forward(hidden, weight, labels, bias, ignore_index, row_block, vocab_block):
    logp, lse = _fused_linear_logprob_forward(hidden, weight, labels, bias, ignore_index, row_block, vocab_block)
    return logp, lse, hidden.new_empty(hidden.shape, dtype=_accumulation_dtype(hidden))


@torch.library.register_fake("cotnpot::_fused_linear_logprob_frozen_weight_backward")
def _fused_linear_logprob_frozen_weight_backward(grad, dlogp_dhidden, dtype):
    _check_one_device("fused_linear_logprob", "dlogp_dhidden", dlogp_dhidden, grad=grad)
    return torch.empty_like(dlogp_dhidden, dtype=dtype)   # its layout, as the elementwise product keeps it
