"""Preference pairs packed for one forward pass, the prefix they share computed once.

A pair's chosen and rejected sequences share their prompt (and often the solution's first words): TRL's
concatenated layout runs that prefix twice and pads every sequence to the batch's longest. Here a pair is
one *unit*: the chosen sequence, then the rejected one's tokens after the longest common prefix, with
position ids continuing from that prefix and a mask that lets them see the prefix but not the chosen
tail. Units are packed first-fit (longest first) into rows as long as the longest unit, each attending
only within itself. Every token attends to exactly the keys, at exactly the positions, it has in its own
unpacked sequence, so its hidden state and log-prob are the concatenated layout's up to float rounding,
while the model runs on prompt + chosen + rejected tail tokens per pair instead of twice the padded
length (the prompt is about 40% of a pair on GSM8K-style data).

Only the positions that predict a solution token are scored: their hidden states go through the LM
head's weight in :func:`cotnpot.fused_linear_logprob`, so no ``[tokens, vocabulary]`` logits exist. ORM
scores the hidden states of the solution tokens themselves (``solution``), through its head.

Needs a Hugging Face causal LM whose decoder takes ``position_ids`` and a custom 4-D boolean attention
mask (the ``sdpa`` attention) and applies it as given in every layer (full causal attention: no sliding
window, chunks or ALiBi, no state-space layers that scan the row in order), and whose logits are its
plain linear head's output (no soft-capping or scaling). A custom mask replaces the model's own, so only
architectures checked to agree with their unpacked forward are used by default (``KNOWN_GOOD``);
:func:`shared_prefix_unsupported` says why a model is not one.
"""
import inspect
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

Encoded = Tuple[List[int], int]   # (token ids, index of the first solution token)

# Config fields that change logits after the linear head (Gemma 2, Cohere, Granite, Falcon-H1, ...).
LOGIT_TRANSFORMS = ("final_logit_softcapping", "logit_scale", "logits_scaling", "output_multiplier_scale",
                    "lm_head_multiplier",
                    # RecurrentGemma, xLSTM and Jev soft-cap, Muse's scale the logits; Inkling divides the hidden
                    # state before the head (the first two found by a reviewer: accepted, losses 2.7x off)
                    "logits_soft_cap", "output_logit_soft_cap", "softcap", "output_multiplier",
                    "logits_mup_width_multiplier")
# Architectures whose packed forward was checked against the unpacked one (per-token log-probs within
# float rounding, tiny models of each in fp64/fp32): full causal attention through the sdpa mask given.
KNOWN_GOOD = ("llama", "qwen2", "qwen3", "mistral", "gemma", "gpt2", "gpt_neox", "opt", "phi", "phi3", "stablelm",
              "olmo", "olmo2", "gptj", "falcon", "starcoder2")


def logit_transform(config) -> Optional[str]:
    """``"name=value"`` of the first LOGIT_TRANSFORMS field a model's config sets, else None; a multimodal
    model's text config is read too (Gemma 3 keeps its soft-capping there: a reviewer)."""
    text = getattr(config, "get_text_config", None)
    for part in (config, *([text()] if callable(text) else [])):
        for name in LOGIT_TRANSFORMS:
            value = getattr(part, name, None)
            if value not in (None, 1, 1.0):
                return f"{name}={value!r}"
    return None


@dataclass
class PackedPairs:
    input_ids: Tensor        # [R, C]
    position_ids: Tensor     # [R, C]
    attention_mask: Tensor   # [R, 1, C, C] bool: True where a query (dim 2) may read a key (dim 3)
    source: Tensor           # [M] flat index (row * C + column) of the hidden state predicting each scored token
    target: Tensor           # [M] the scored token
    sequence: Tensor         # [M] its sequence: i for pair i's chosen solution, pairs + i for its rejected one
    counts: Tensor           # [2 * pairs] scored tokens per sequence
    solution: Tensor         # [K] flat index of each solution token (ORM scores the hidden state that read it)
    solution_sequence: Tensor  # [K] its sequence, numbered as `sequence`
    pairs: int
    tokens: int              # tokens of the 2 * pairs sequences, as if unpacked (for tokens/s)

    def to(self, device) -> "PackedPairs":
        moved = {name: getattr(self, name).to(device) for name in
                 ("input_ids", "position_ids", "attention_mask", "source", "target", "sequence", "counts", "solution",
                  "solution_sequence")}
        return PackedPairs(**moved, pairs=self.pairs, tokens=self.tokens)

    def label_counts(self) -> Tensor:
        return self.counts

    def solution_tokens(self) -> int:
        return self.solution.numel()

    def reduce(self, token_logps: Tensor, reduction: str) -> Tensor:
        """Per-sequence ``"sum"`` or ``"mean"`` of the scored tokens' log-probs, ``[2 * pairs]``."""
        total = token_logps.new_zeros(2 * self.pairs).index_add(0, self.sequence, token_logps)
        if reduction == "sum":
            return total
        if reduction == "mean":
            return total / self.counts.clamp_min(1).to(total.dtype)
        raise ValueError(f"reduction must be 'sum' or 'mean', got {reduction!r}")


def _common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    for i in range(n):
        if a[i] != b[i]:
            return i
    return n


def _unit_mask(chosen_length: int, shared: int, length: int) -> Tensor:
    """[length, length]: causal; the rejected tail (from chosen_length on) reads the shared prefix and
    itself, never the chosen tail."""
    q = torch.arange(length)[:, None]
    k = torch.arange(length)[None, :]
    return (k <= q) & ((q < chosen_length) | (k < shared) | (k >= chosen_length))


def pack_pairs(chosen: Sequence[Encoded], rejected: Sequence[Encoded], pad_token_id: int) -> PackedPairs:
    """Packs pair i = (chosen[i], rejected[i]), each ``(ids, start)`` with the solution from ``start``."""
    if len(chosen) != len(rejected) or not chosen:
        raise ValueError(f"pack_pairs: need as many chosen as rejected sequences, and some; got {len(chosen)} "
                         f"and {len(rejected)}")
    n = len(chosen)
    units = []   # (ids, positions, chosen length, shared prefix length)
    for (c, _), (r, _) in zip(chosen, rejected):
        shared = _common_prefix(c, r)
        units.append((c + r[shared:], list(range(len(c))) + list(range(shared, len(r))), len(c), shared))
    capacity = max(len(u[0]) for u in units)
    rows: List[List[int]] = []       # unit indices per row
    room: List[int] = []
    place = [(0, 0)] * n             # (row, offset) of each unit
    for i in sorted(range(n), key=lambda i: -len(units[i][0])):
        size = len(units[i][0])
        row = next((r for r in range(len(rows)) if room[r] >= size), None)
        if row is None:
            rows.append([])
            room.append(capacity)
            row = len(rows) - 1
        place[i] = (row, capacity - room[row])
        rows[row].append(i)
        room[row] -= size
    input_ids = torch.full((len(rows), capacity), pad_token_id, dtype=torch.long)
    position_ids = torch.zeros((len(rows), capacity), dtype=torch.long)
    mask = torch.eye(capacity, dtype=torch.bool).repeat(len(rows), 1, 1)   # padding reads itself (no empty rows)
    source, target, sequence, counts, solution, solution_sequence = [], [], [], [], [], []
    for seq_index, (encoded, is_chosen) in enumerate([(e, True) for e in chosen] + [(e, False) for e in rejected]):
        ids, start = encoded
        i = seq_index if is_chosen else seq_index - n
        _, _, chosen_length, shared = units[i]
        row, offset = place[i]
        first = max(start, 1)   # token 0 has no predecessor (never scored, as with shifted labels)
        t = torch.arange(first, len(ids))
        if is_chosen:
            packed_prev = t - 1
        else:   # original index u sits at u inside the shared prefix, after the chosen sequence past it
            u = t - 1
            packed_prev = torch.where(u < shared, u, chosen_length + u - shared)
        source.append(row * capacity + offset + packed_prev)
        target.append(torch.tensor(ids[first:], dtype=torch.long))
        sequence.append(torch.full((len(t),), seq_index, dtype=torch.long))
        counts.append(len(t))
        own = torch.arange(start, len(ids))   # the solution's tokens themselves, where each was read
        where = own if is_chosen else torch.where(own < shared, own, chosen_length + own - shared)
        solution.append(row * capacity + offset + where)
        solution_sequence.append(torch.full((len(own),), seq_index, dtype=torch.long))
    for i, (ids, positions, chosen_length, shared) in enumerate(units):
        row, offset = place[i]
        size = len(ids)
        input_ids[row, offset:offset + size] = torch.tensor(ids)
        position_ids[row, offset:offset + size] = torch.tensor(positions)
        mask[row, offset:offset + size, offset:offset + size] = _unit_mask(chosen_length, shared, size)
    tokens = sum(len(ids) for ids, _ in chosen) + sum(len(ids) for ids, _ in rejected)
    return PackedPairs(input_ids, position_ids, mask[:, None], torch.cat(source), torch.cat(target),
                       torch.cat(sequence), torch.tensor(counts), torch.cat(solution), torch.cat(solution_sequence), n,
                       tokens)


def decoder_of(model) -> Optional[nn.Module]:
    """The model's decoder stack (hidden states without the LM head), or None."""
    prefix = getattr(model, "base_model_prefix", None)
    decoder = getattr(model, prefix, None) if prefix else None
    return decoder if isinstance(decoder, nn.Module) and decoder is not model else None


def _not_full_attention(config) -> Optional[str]:
    """Why the model's attention is not full causal attention over a mask it takes as given, or None."""
    layer_types = getattr(config, "layer_types", None)
    if layer_types:
        other = sorted({t for t in layer_types if t != "full_attention"})
        if other:
            return f"its layers include {', '.join(map(repr, other))} (a custom mask would make them full attention)"
    elif getattr(config, "sliding_window", None) is not None and getattr(config, "use_sliding_window", True):
        return f"it uses sliding-window attention (window {config.sliding_window}), which a custom mask would drop"
    if getattr(config, "attention_chunk_size", None):
        return "it uses chunked attention, which a custom mask would drop"
    if getattr(config, "alibi", False):
        return "it uses ALiBi position biases"
    return None


def shared_prefix_unsupported(model, known_only: bool = True) -> Optional[str]:
    """Why ``model`` cannot run packed pairs (None when it can). ``known_only``: also refuse architectures
    not in ``KNOWN_GOOD`` (what ``pair_layout="auto"`` does; ``"shared_prefix"`` lets a user vouch for one,
    and the first-batch check still runs)."""
    config = getattr(model, "config", None)
    if config is None or not hasattr(model, "get_output_embeddings"):
        return "not a Hugging Face model (no config / output embeddings)"
    model_type = getattr(config, "model_type", None)
    if known_only and model_type not in KNOWN_GOOD:
        return (f"its architecture {model_type!r} is not among those checked to give the unpacked log-probs "
                f"({', '.join(KNOWN_GOOD)}); pair_layout='shared_prefix' to try it")
    reason = _not_full_attention(config)
    if reason:
        return reason
    attention = getattr(config, "_attn_implementation", None)
    if attention != "sdpa":
        return f"its attention is {attention!r}; packed pairs need 'sdpa' (which takes a boolean 4-D mask)"
    head = model.get_output_embeddings()
    if not isinstance(head, nn.Linear):
        return f"its LM head is a {type(head).__name__}, not a plain Linear"
    transform = logit_transform(config)
    if transform:
        return f"its config sets {transform}: logits are not the head's plain output"
    decoder = decoder_of(model)
    if decoder is None:
        return "no decoder found under its base_model_prefix"
    if "position_ids" not in inspect.signature(decoder.forward).parameters:
        return f"its decoder ({type(decoder).__name__}) takes no position_ids"
    return None


def packed_hidden(model, packed_inputs: Tuple[Tensor, Tensor, Tensor], positions: Tensor) -> Tensor:
    """The decoder's last hidden states on the packed rows at the flat ``positions``, ``[M, H]``."""
    input_ids, attention_mask, position_ids = packed_inputs
    hidden = decoder_of(model)(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                               use_cache=False).last_hidden_state
    return hidden.reshape(-1, hidden.shape[-1]).index_select(0, positions)


def packed_token_logps(model, packed_inputs: Tuple[Tensor, Tensor, Tensor], source: Tensor, target: Tensor) -> Tensor:
    """Log-probs ``[M]`` of the scored tokens: the decoder on the packed rows, the hidden states that
    predict them gathered, then the LM head's weight through the fused op (float32 or float64)."""
    from ..fused import fused_linear_logprob
    head = model.get_output_embeddings()
    rows = packed_hidden(model, packed_inputs, source).to(head.weight.dtype)
    return fused_linear_logprob(rows, head.weight, target, head.bias)
