"""VerifierTrainer: one causal LM trained as a verifier with SimPO, DPO or ORM on preference pairs.

Any model with the Hugging Face calling convention works (``model(input_ids, attention_mask)`` returning
``.logits``, and ``output_hidden_states=True`` for ORM). SimPO and DPO score chosen and rejected in one
forward pass through cotnpot's ops; DPO's reference log-probs are those of the model before training,
computed once and kept on disk; ORM trains an :class:`cotnpot.ORMHead` on the last hidden state.

Each optimizer step takes ``batch_size`` pairs, in micro-batches of ``micro_batch_size``: the accumulated
gradient equals the one of a single batch of ``batch_size`` pairs (pair-weighted for SimPO/DPO, whose
losses are means over pairs; token-weighted for ORM, whose loss is a mean over tokens). The data order of
epoch e is a permutation seeded by ``seed + e``; a checkpoint holds the model, head, optimizer, scheduler,
RNG states and the position in that order, so a run stopped at any step and resumed ends with the same
parameters as one never stopped.

Under ``torchrun`` (torch.distributed initialized) the model and head run under DistributedDataParallel:
each rank takes every world_size-th pair of each optimizer step's batch, and its loss is scaled so that
DDP's averaged gradient is the one of the whole batch on one process. Rank 0 writes the logs, checkpoints
and the verifier; every rank reads a checkpoint to resume.
"""
import contextlib
import hashlib
import json
import math
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Union

import torch
import torch.distributed as dist
from torch import nn
from tqdm.auto import tqdm

from .. import strict_json
from ..text_fields import key_text
from .._cpu import fast_bf16
from ..losses import DPO_LOSS_TYPES, dpo_loss, orm_loss, simpo_loss
from ..logprob import sequence_logprob
from ..modules import ORMHead
from . import checkpoint
from .collate import IGNORE_INDEX, PreferenceBatch, PreferenceCollator
from .packing import PackedPairs, packed_hidden, packed_token_logps, shared_prefix_unsupported
from .pairs import PreferencePair

OBJECTIVES = ("simpo", "dpo", "orm")
PAIR_LAYOUTS = ("auto", "shared_prefix", "concatenated")
Batch = Union[PreferenceBatch, PackedPairs]   # a micro-batch in the concatenated or the shared-prefix layout
ORM_HEAD_FILE = "orm_head.pt"


# DPO losses whose value for a pair depends on the other pairs of its batch: a step split into micro-batches
# (or shared by processes) computed another loss (parameters 4.5e-4 apart after 2 steps, against 3e-14 for
# the pairwise types). aot sorts its batch's log-ratios as aot_pair does (a breaker: loss 7.29 in micro-batches of
# 1 against 6.03 whole); aot_unpaired is aot_pair's other name.
BATCH_DEPENDENT_DPO_LOSSES = ("bco_pair", "aot", "aot_pair", "aot_unpaired")


@dataclass
class TrainConfig:
    objective: str = "simpo"
    epochs: int = 1
    max_steps: Optional[int] = None      # stop (with a checkpoint) after this many optimizer steps in all
    batch_size: int = 8                  # pairs per optimizer step
    micro_batch_size: int = 8            # pairs per forward pass
    lr: float = 5e-4
    weight_decay: float = 0.0
    warmup_steps: int = 0
    lr_schedule: str = "cosine"          # after warm-up: "cosine" to 0, or "constant"
    max_grad_norm: float = 1.0
    max_length: int = 512
    truncation: str = "error"            # or "truncate" (counted)
    bf16: bool = False                   # autocast to bfloat16 (CPU or CUDA)
    seed: int = 0
    # SimPO (the SimPO authors' defaults) and DPO
    beta: float = 2.0
    gamma_beta_ratio: float = 0.25
    sft_weight: float = 0.0
    dpo_beta: float = 0.1
    dpo_loss_type: str = "sigmoid"
    checkpoint_every: int = 0            # optimizer steps; 0: at the end of each epoch (and at max_steps)
    sharding: str = "ddp"                # under torchrun: "ddp" (replicas) or "fsdp" (fully_shard)
    # The batches' layout: "shared_prefix" (a pair's common prefix run once, pairs packed, only solution
    # tokens through the LM head, or ORM's head: cotnpot.train.packing), "concatenated" (TRL's layout), or
    # "auto" (the first where the model supports it and agrees with the concatenated layout on a batch)
    pair_layout: str = "auto"
    progress: bool = True

    def check(self) -> None:
        if self.objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {OBJECTIVES}, got {self.objective!r}")
        for name in ("epochs", "batch_size", "micro_batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.batch_size % self.micro_batch_size:
            raise ValueError(f"batch_size ({self.batch_size}) must be a multiple of micro_batch_size "
                             f"({self.micro_batch_size})")
        if self.sharding not in ("ddp", "fsdp"):
            raise ValueError(f"sharding must be 'ddp' or 'fsdp', got {self.sharding!r}")
        if self.pair_layout not in PAIR_LAYOUTS:
            raise ValueError(f"pair_layout must be one of {PAIR_LAYOUTS}, got {self.pair_layout!r}")
        if self.lr_schedule not in ("cosine", "constant"):
            raise ValueError(f"lr_schedule must be 'cosine' or 'constant', got {self.lr_schedule!r}")
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError(f"max_steps must be >= 1 or None, got {self.max_steps}")
        if not (math.isfinite(self.sft_weight) and self.sft_weight >= 0):   # NaN failed only mid-training
            raise ValueError(f"sft_weight must be finite and >= 0, got {self.sft_weight}")
        if not (math.isfinite(self.lr) and self.lr > 0):   # inf trained to a NaN verifier, and exited 0
            raise ValueError(f"lr must be finite and > 0, got {self.lr}")
        for name in ("warmup_steps", "checkpoint_every"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.dpo_loss_type not in DPO_LOSS_TYPES:   # was refused only by the loss, after the reference pass
            raise ValueError(f"dpo_loss_type must be one of {DPO_LOSS_TYPES}, got {self.dpo_loss_type!r}")
        if self.objective == "dpo" and self.dpo_loss_type in BATCH_DEPENDENT_DPO_LOSSES \
                and self.micro_batch_size != self.batch_size:
            raise ValueError(f"dpo_loss_type {self.dpo_loss_type!r} depends on the whole batch (bco_pair centres "
                             "on its mean reward, aot_pair sorts it): micro_batch_size must equal batch_size, or "
                             "the gradient is not the batch's")


class Policy(nn.Module):
    """The trained parameters as one module (the LM, and the ORM head when there is one), so one
    DistributedDataParallel wraps them all. Returns logits, or with a head the per-token scores; given
    ``position_ids`` and ``source`` (packed pairs), the log-probs of the ``target`` tokens that the hidden
    states at ``source`` predict, or with a head the scores of the hidden states at ``source``."""

    def __init__(self, model, head: Optional[ORMHead]):
        super().__init__()
        self.model, self.head = model, head

    def forward(self, input_ids, attention_mask, position_ids=None, source=None, target=None):
        if source is not None and self.head is not None:
            hidden = packed_hidden(self.model, (input_ids, attention_mask, position_ids), source)
            return self.head(hidden.to(self.head.linear.weight.dtype))
        if source is not None:
            return packed_token_logps(self.model, (input_ids, attention_mask, position_ids), source, target)
        if self.head is None:
            return self.model(input_ids=input_ids, attention_mask=attention_mask).logits
        hidden = self.model(input_ids=input_ids, attention_mask=attention_mask,
                            output_hidden_states=True).hidden_states[-1]
        return self.head(hidden.to(self.head.linear.weight.dtype))


def _distributed() -> tuple:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _decoder_layers(model) -> List[nn.Module]:
    """The repeated blocks of a Hugging Face model (its ``_no_split_modules`` classes)."""
    names = set(getattr(model, "_no_split_modules", None) or [])
    return [m for m in model.modules() if type(m).__name__ in names]


def pair_key(pair: PreferencePair) -> str:
    # key_text: joined by NUL, a NUL inside a text had made two pairs one key ("Q\0A", "B" and "Q", "A\0B"), so
    # one trained against the other's reference log-probs (a breaker); keys of texts without NUL are unchanged
    return hashlib.sha256(key_text([pair.prompt, pair.chosen, pair.rejected]).encode("utf-8", "surrogatepass")
                          ).hexdigest()


def pairs_fingerprint(pairs: Sequence[PreferencePair]) -> Dict[str, object]:
    """The training pairs in their order (a checkpoint's position indexes them): their count and one hash."""
    digest = hashlib.sha256()
    for pair in pairs:
        digest.update(pair_key(pair).encode("ascii"))
    return {"count": len(pairs), "sha256": digest.hexdigest()}


def model_fingerprint(model: nn.Module, head: Optional[nn.Module], tokenizer) -> Dict[str, str]:
    """What a resume must find again: the parameters' names and shapes (the architecture and its sizes), and
    how the tokenizer encodes a probe pair (its vocabulary, special tokens and chat template). A resume with
    another tokenizer had continued silently on another prompt format, and one with another architecture
    failed in load_state_dict with a raw error (found by a breaker)."""
    from ..verifier import encode_example
    shapes = [(prefix + name, tuple(t.shape)) for module, prefix in ((model, "model."), (head, "head."))
              if module is not None for name, t in (*module.named_parameters(), *module.named_buffers())]
    ids, start = encode_example(tokenizer, "What is 12 + 30? Explain.", " 12 + 30 = 42. The answer is 42.")
    return {"parameters": hashlib.sha256(repr(shapes).encode()).hexdigest(),
            "tokenizer": hashlib.sha256(repr((ids, start)).encode()).hexdigest()}


# TrainConfig fields a resumed run may change. epochs and max_steps set where the run ends (to train on for
# another epoch; the learning-rate schedule is then the new length's); the others decide how the same steps
# are run or reported, not what they are (micro_batch_size splits a step's batch: the same gradient up to
# rounding; the pair layouts give the same loss, and "auto" keeps the layout the run chose). Any other
# change would continue from a position, an order and references of another run.
RESUME_MAY_CHANGE = ("epochs", "max_steps", "micro_batch_size", "checkpoint_every", "progress", "pair_layout")
# ...and these, after a run with truncation="error": it truncated nothing, so a longer max_length or
# truncation="truncate" (what its error about a too-long pair suggests) changes none of its steps.
RESUME_MAY_CHANGE_AFTER_NO_TRUNCATION = ("max_length", "truncation")


class VerifierTrainer:
    def __init__(self, model, tokenizer, config: TrainConfig, out_dir, device=None):
        config.check()
        from ..verifier import verifier_tokenizer
        tokenizer = verifier_tokenizer(tokenizer)   # a Hugging Face tokenizer as HFTokenizer
        self.model, self.tokenizer, self.config = model, tokenizer, config
        self.out = Path(out_dir)
        self.device = torch.device(device) if device is not None else next(model.parameters()).device
        if config.bf16 and not fast_bf16(self.device):
            warnings.warn(f"TrainConfig.bf16: {self.device} has no bfloat16 matmul instructions, so bf16 autocast "
                          "runs torch's scalar fallback (on an AVX2 CPU ~65x float32's time); float32 is faster "
                          "there", stacklevel=2)
        self.collator = PreferenceCollator(tokenizer, config.max_length, config.truncation)
        self._check_vocabulary()
        self.layout_reason = ""
        self.layout = self._static_layout()   # None: decided on the first batch
        torch.manual_seed(config.seed)
        # A model loaded from an ORM run's verifier directory carries that run's head (load_verifier attaches it
        # as model.orm_head). It is not this model's to keep: a SimPO or DPO run had trained it along, saved it
        # into the LM's weights and ranked its held-out problems by it; an ORM run goes on training it as its
        # own head (found by a breaker; its resume had failed on the head's keys).
        loaded_head = getattr(model, "orm_head", None)
        if loaded_head is not None:
            del model.orm_head
        self.head = None
        if config.objective == "orm":
            # fp32 whatever the model's dtype (bf16 models too), fp64 for fp64 models (exact tests)
            dtype = torch.promote_types(next(model.parameters()).dtype, torch.float32)
            if loaded_head is None:
                # as wide as the last hidden state, which the LM head reads (OPT projects it to word_embed_proj_dim)
                lm_head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
                width = lm_head.weight.shape[1] if isinstance(getattr(lm_head, "weight", None), torch.Tensor) \
                    else model.config.hidden_size
                loaded_head = ORMHead(width)
            self.head = loaded_head.to(self.device, dtype)
        # before DDP or FSDP wraps the parameters (their names then gain prefixes a later run need not share)
        self.model_fingerprint = model_fingerprint(model, self.head, tokenizer)
        self.policy = Policy(model, self.head)
        self.rank, self.world = _distributed()
        if config.objective == "dpo" and config.dpo_loss_type in BATCH_DEPENDENT_DPO_LOSSES and self.world > 1:
            raise ValueError(f"dpo_loss_type {config.dpo_loss_type!r} depends on the whole batch: it cannot be shared "
                             f"by {self.world} processes")
        self.forward_module = self.policy
        self.sharded = self.world > 1 and config.sharding == "fsdp"
        if self.sharded:
            # FSDP2: each decoder layer is its own unit (all-gathered in turn), the rest in the root unit.
            from torch.distributed.fsdp import fully_shard
            for layer in _decoder_layers(model):
                fully_shard(layer)
            fully_shard(self.policy)
        elif self.world > 1:
            from torch.nn.parallel import DistributedDataParallel
            # ORM never uses the LM head's output layer: DDP must not wait for its gradient.
            on_gpu = self.device.type == "cuda"   # NCCL: the one device this process owns
            self.forward_module = DistributedDataParallel(self.policy, device_ids=[self.device] if on_gpu else None,
                                                          find_unused_parameters=self.head is not None)
        # The fused AdamW kernel (one pass over all parameters, CPU and CUDA), as Hugging Face's Trainer
        # uses by default ("adamw_torch_fused"); the per-tensor loop where it is not available.
        try:
            self.optimizer = torch.optim.AdamW(self.policy.parameters(), lr=config.lr,
                                               weight_decay=config.weight_decay, fused=True)
        except (RuntimeError, ValueError):
            self.optimizer = torch.optim.AdamW(self.policy.parameters(), lr=config.lr,
                                               weight_decay=config.weight_decay)
        self.step = 0
        self.position = (0, 0)   # (epoch, pairs of that epoch's order already used)
        self.unevaluated_epoch: Optional[int] = None   # an epoch saved whose evaluation has not run yet
        self.scheduler = None
        self.metrics_path = self.out / "metrics.jsonl"
        self.checkpoint_path = self.out / "checkpoint.pt"
        self.ref_logps: Dict[str, tuple] = {}
        self.pairs_fingerprint: Optional[Dict[str, object]] = None   # of the pairs train() was given
        self._started: Optional[tuple] = None   # (pairs, resume, checkpoint state) that check_start accepted

    # ---- set-up --------------------------------------------------------------------------------------

    def _check_vocabulary(self) -> None:
        model_vocab = getattr(getattr(self.model, "config", None), "vocab_size", None)
        tok = getattr(self.tokenizer, "tok", self.tokenizer)   # HFTokenizer wraps the Hugging Face one
        tok_vocab = len(tok) if hasattr(tok, "__len__") else getattr(tok, "vocab_size", None)
        context = getattr(getattr(self.model, "config", None), "max_position_embeddings", None)
        if context is not None and self.config.max_length > context:
            raise ValueError(f"max_length {self.config.max_length} exceeds the model's context of {context} positions "
                             "(max_position_embeddings); lower it, with truncation='truncate' if needed")
        if model_vocab is not None and tok_vocab is not None and tok_vocab > model_vocab:
            raise ValueError(f"the tokenizer has {tok_vocab} tokens but the model's vocabulary is {model_vocab}: "
                             "they do not belong together (resize the model's embeddings or use its tokenizer)")

    def _usable_pairs(self, n_pairs: int) -> int:
        """Pairs of an epoch that are used: under several processes every rank must run the same number of
        forward passes (DDP broadcasts buffers, FSDP all-gathers, at each), so the last partial batch is cut
        to a multiple of the number of processes (whole shares), and dropped when that leaves nothing."""
        full, rest = divmod(n_pairs, self.config.batch_size)
        return full * self.config.batch_size + rest // self.world * self.world

    def _steps_per_epoch(self, n_pairs: int) -> int:
        return math.ceil(self._usable_pairs(n_pairs) / self.config.batch_size)

    def _total_steps(self, n_pairs: int) -> int:
        per_epoch = self._steps_per_epoch(n_pairs)
        total = per_epoch * self.config.epochs
        return min(total, self.config.max_steps) if self.config.max_steps else total

    def _make_scheduler(self, total_steps: int):
        warmup = self.config.warmup_steps

        def factor(step: int) -> float:   # linear warm-up, then cosine to 0 (or constant)
            if step < warmup:
                return (step + 1) / warmup
            if self.config.lr_schedule == "constant":
                return 1.0
            progress = (step - warmup) / max(1, total_steps - warmup)
            return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
        return torch.optim.lr_scheduler.LambdaLR(self.optimizer, factor)

    def _autocast(self):
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.config.bf16)

    # ---- the objectives ------------------------------------------------------------------------------

    def _forward_logps(self, batch: Batch, reduction: str, module=None) -> torch.Tensor:
        module = module or self.forward_module
        if isinstance(batch, PackedPairs):
            with self._autocast():
                tokens = module(batch.input_ids, batch.attention_mask, batch.position_ids, batch.source, batch.target)
            return batch.reduce(tokens, reduction)
        with self._autocast():
            logits = module(batch.input_ids, batch.attention_mask)
        return sequence_logprob(logits, batch.labels, IGNORE_INDEX, reduction, shift=True)

    # ---- the pair layout -----------------------------------------------------------------------------

    def _static_layout(self) -> Optional[str]:
        """"concatenated", or None while "shared_prefix" waits for the check on the first batch; sets
        ``layout_reason`` to why the concatenated layout is used."""
        cfg = self.config
        if cfg.pair_layout == "concatenated":
            self.layout_reason = "pair_layout='concatenated'"
            return "concatenated"
        reason = shared_prefix_unsupported(self.model, known_only=cfg.pair_layout == "auto")
        if reason is None:
            return None
        if cfg.pair_layout == "shared_prefix":
            raise ValueError(f"pair_layout='shared_prefix': the model cannot run packed pairs: {reason}")
        self.layout_reason = reason
        return "concatenated"

    @torch.no_grad()
    def _check_shared_prefix(self, pairs: Sequence[PreferencePair]) -> str:
        """Runs the first batch both ways and keeps the shared-prefix layout only where every scored token's
        log-prob agrees with the concatenated layout's: a model that ignores ``position_ids`` or the 4-D mask
        would not. Eval mode (no dropout) and no autocast, so one tolerance per parameter dtype holds; every
        module's mode as it was after (the collator counts a truncated sequence once, however often encoded).
        Every process must agree (an all-reduce). A packed forward that raises counts as a disagreement."""
        modes = [(m, m.training) for m in self.policy.modules()]
        self.policy.eval()
        gap, error = None, None
        try:
            packed = self.collator.pack(pairs).to(self.device)
            plain = self.collator(pairs).to(self.device)
            if self.head is not None:   # ORM: every solution token's score
                tokens = self.policy(packed.input_ids, packed.attention_mask, packed.position_ids, packed.solution)
                expected = self.policy(plain.input_ids, plain.attention_mask)[plain.labels != IGNORE_INDEX]
            else:
                tokens = self.policy(packed.input_ids, packed.attention_mask, packed.position_ids, packed.source,
                                     packed.target)
                logits = self.policy(plain.input_ids, plain.attention_mask)
                expected = sequence_logprob(logits, plain.labels, IGNORE_INDEX, "none", shift=True)
                expected = expected[plain.labels[:, 1:] != IGNORE_INDEX]
            # both in the packed order: sequence, then position
            gap = (tokens.double() - expected.double()).abs().max().item() if tokens.numel() else 0.0
        except Exception as e:   # noqa: BLE001 -- any failure of the packed path means: do not use it
            error = f"{type(e).__name__}: {e}"
        finally:
            for module, training in modes:
                module.train(training)
        dtype = next(self.model.parameters()).dtype
        tolerance = {torch.float64: 1e-8, torch.float32: 1e-4}.get(dtype, 2e-2)   # nats per token
        ok = torch.tensor(float(error is None and gap <= tolerance))
        if self.world > 1:
            dist.all_reduce(ok, op=dist.ReduceOp.MIN)
        if ok.item():   # the reason too, not "" (a new user: the docs say it says why)
            self.layout_reason = (f"its packed forward agreed with the concatenated layout on the first batch "
                                  f"(up to {gap:.3g} per token, tolerance {tolerance:g} for {dtype})")
            return "shared_prefix"
        if error is not None:
            reason = f"its packed forward failed on the first batch ({error})"
        elif gap is not None and gap > tolerance:
            what = "scores" if self.head is not None else "log-probs"
            reason = (f"its packed {what} differ from the concatenated layout's by up to {gap:.3g} per token on "
                      f"the first batch (tolerance {tolerance:g} for {dtype})")
        else:
            reason = "another process found its packed forward differ on the first batch"
        if self.config.pair_layout == "shared_prefix":
            raise ValueError(f"pair_layout='shared_prefix': {reason}")
        self.layout_reason = reason
        return "concatenated"

    def _batch(self, pairs: Sequence[PreferencePair]):
        """The pairs in this run's layout, on the device (the layout decided on the first batch)."""
        if self.layout is None:
            self.layout = self._check_shared_prefix(pairs)
        batch = self.collator.pack(pairs) if self.layout == "shared_prefix" else self.collator(pairs)
        return batch.to(self.device)

    @torch.no_grad()
    def compute_reference_logps(self, pairs: Sequence[PreferencePair]) -> None:
        """DPO's reference: the summed log-probs of the model as it is now (before training), once per pair
        not yet known, written to ``ref_logps.pt`` and kept in every checkpoint, so a resumed run uses the
        references of its own start (never a file left by another run or model)."""
        path = self.out / "ref_logps.pt"
        todo = [p for p in pairs if pair_key(p) not in self.ref_logps]
        if todo and self.step > 0:
            raise ValueError(f"{len(todo)} pairs have no reference log-probs in the checkpoint, and the model "
                             "is no longer the reference: resume with the pairs the run started with")
        self.model.eval()
        size = self.config.micro_batch_size
        for start in range(0, len(todo), size):
            chunk = todo[start:start + size]
            logps = self._forward_logps(self._batch(chunk), "sum", self.policy).double().cpu()
            for i, p in enumerate(chunk):
                self.ref_logps[pair_key(p)] = (logps[i].item(), logps[len(chunk) + i].item())
        if todo and self.rank == 0:
            checkpoint.save_atomically(self.ref_logps, path)

    def _loss_sum(self, batch: Batch, pairs: Sequence[PreferencePair]):
        """(summed loss of the micro-batch, metrics) for the objective."""
        cfg = self.config
        n = batch.pairs
        if cfg.objective == "orm":
            return self._orm_loss_sum(batch)
        if cfg.objective == "simpo":
            logps = self._forward_logps(batch, "mean")
            losses, cr, rr = simpo_loss(logps[:n], logps[n:], beta=cfg.beta, gamma_beta_ratio=cfg.gamma_beta_ratio,
                                        sft_weight=cfg.sft_weight)
        else:
            logps = self._forward_logps(batch, "sum")
            ref = torch.tensor([self.ref_logps[pair_key(p)] for p in pairs], dtype=logps.dtype, device=logps.device)
            lengths = batch.label_counts()
            losses, cr, rr = dpo_loss(logps[:n], logps[n:], ref[:, 0], ref[:, 1], beta=cfg.dpo_beta,
                                      loss_type=cfg.dpo_loss_type, chosen_lengths=lengths[:n],
                                      rejected_lengths=lengths[n:])
        metrics = {"rewards/accuracies": (cr > rr).float().mean().item(), "rewards/margins": (cr - rr).mean().item(),
                   "rewards/chosen": cr.mean().item(), "rewards/rejected": rr.mean().item()}
        return losses.sum(), metrics

    def _orm_loss_sum(self, batch: Batch):
        """ORM: binary cross-entropy of every solution token's score (its own hidden state: the state at t
        has read token t) against its solution's label, summed; accuracy from each solution's last token."""
        n = batch.pairs
        scores, mask, final = self._orm_scores(batch)
        if isinstance(batch, PackedPairs):
            target = (batch.solution_sequence < n).to(scores.dtype)
        else:
            target = torch.cat([torch.ones(n), torch.zeros(n)]).to(scores.device)
        loss = orm_loss(scores, target, mask, reduction="sum")
        return loss, {"rewards/accuracies": (final[:n] > final[n:]).float().mean().item()}

    def _orm_scores(self, batch: Batch):
        """(scores, mask of the solution tokens, each solution's final score [2B]): packed, one row per
        solution token in the order sequence, then position; a solution without tokens scores -inf in either
        layout (it is never the better one)."""
        with self._autocast():
            if isinstance(batch, PackedPairs):
                scores = self.forward_module(batch.input_ids, batch.attention_mask, batch.position_ids,
                                             batch.solution)[:, None]
            else:
                scores = self.forward_module(batch.input_ids, batch.attention_mask)
        scores = scores.to(torch.promote_types(scores.dtype, torch.float32))   # bf16 -> fp32, fp64 stays
        if isinstance(batch, PackedPairs):
            mask = torch.ones_like(scores, dtype=torch.bool)
            counts = torch.bincount(batch.solution_sequence, minlength=2 * batch.pairs)
            has_tokens = counts > 0
            rows = torch.where(has_tokens, counts.cumsum(0) - 1, 0)
            last = scores.detach()[rows, 0] if scores.numel() else scores.new_zeros(2 * batch.pairs)
        else:
            mask = batch.labels != IGNORE_INDEX
            has_tokens = mask.any(1)
            positions = torch.arange(mask.shape[1], device=mask.device)
            columns = torch.where(mask, positions, -1).amax(1).clamp_min(0)
            last = scores.detach().gather(1, columns[:, None])[:, 0]
        final = torch.where(has_tokens, last, torch.full_like(last, float("-inf")))
        return scores, mask, final

    # ---- the loop ------------------------------------------------------------------------------------

    def order(self, epoch: int, n: int) -> List[int]:
        return torch.randperm(n, generator=torch.Generator().manual_seed(self.config.seed + epoch)).tolist()

    def train(self, pairs: Sequence[PreferencePair], resume: bool = False, evaluate=None,
              stop_at_step: Optional[int] = None) -> Dict[str, float]:
        """Trains on ``pairs``; ``resume`` continues from ``out_dir/checkpoint.pt`` when there is one.
        ``evaluate(trainer) -> dict`` runs after every epoch (e.g. held-out best-of-N accuracy).
        ``stop_at_step`` ends the run after that optimizer step with a checkpoint, as a process stopped
        there with ``checkpoint_every=1`` would leave it (the schedule stays the full run's)."""
        cfg = self.config
        if self._started is None or self._started[0] is not pairs or self._started[1] != resume:
            self.check_start(pairs, resume)
        state, self._started = self._started[2], None
        self.out.mkdir(parents=True, exist_ok=True)
        total = self._total_steps(len(pairs))
        self.scheduler = self._make_scheduler(total)
        if state is not None:
            self._load(state)
            if self.rank == 0:   # the steps after the checkpoint run again: their rows go
                self._truncate_metrics(self.step)
            if self.unevaluated_epoch is not None:
                self._forget_evaluation_if_logged()
        elif self.rank == 0:
            self.metrics_path.unlink(missing_ok=True)
            (self.out / "ref_logps.pt").unlink(missing_ok=True)
        if cfg.objective == "dpo":
            self.compute_reference_logps(pairs)
        bar = tqdm(total=total, initial=self.step, desc=f"train {cfg.objective}",
                   disable=not cfg.progress or self.rank != 0, unit="step")
        last: Dict[str, float] = {}
        if self.unevaluated_epoch is not None and evaluate is not None:
            # the checkpoint was written before its epoch's evaluation, which then failed or was stopped:
            # evaluated now, or a resume skipped it (the last epoch's: the run's only held-out figure; a reviewer)
            self._evaluate(evaluate, self.unevaluated_epoch)
        epoch, used = self.position
        while epoch < cfg.epochs and not self._done(total):
            order = self.order(epoch, len(pairs))
            usable = self._usable_pairs(len(order))
            while used < usable and not self._done(total):
                step_pairs = [pairs[i] for i in order[used:min(used + cfg.batch_size, usable)]]
                last = self._optimizer_step(step_pairs)
                used += len(step_pairs)
                self.position = (epoch, used)
                self._log({"step": self.step, "epoch": epoch, **last})
                bar.update(1)
                if cfg.checkpoint_every and self.step % cfg.checkpoint_every == 0:
                    self.save_checkpoint()
                if stop_at_step is not None and self.step >= stop_at_step:
                    self.save_checkpoint()
                    bar.close()
                    return last
            if used >= usable:
                epoch, used = epoch + 1, 0
                self.position = (epoch, used)
                # the epoch is saved before it is evaluated: an evaluation that fails loses no training (and a
                # resume runs it first)
                self.unevaluated_epoch = epoch - 1 if evaluate is not None else None
                self.save_checkpoint()
                if evaluate is not None:
                    self._evaluate(evaluate, epoch - 1)
            else:
                self.save_checkpoint()
        bar.close()
        return last

    def _evaluate(self, evaluate, epoch: int) -> None:
        self._log({"step": self.step, "epoch": epoch, **{f"eval/{k}": v for k, v in evaluate(self).items()}})
        self.unevaluated_epoch = None

    def _done(self, total: int) -> bool:
        return self.step >= total

    def _optimizer_step(self, step_pairs: Sequence[PreferencePair]) -> Dict[str, float]:
        cfg = self.config
        self.policy.train()
        started = time.perf_counter()
        mine = list(step_pairs[self.rank::self.world])   # this rank's share of the step's batch
        micro = [mine[i:i + cfg.micro_batch_size] for i in range(0, len(mine), cfg.micro_batch_size)]
        batches = [self._batch(m) for m in micro]
        # The step's loss is a mean over all its pairs (or, for ORM, all its solution tokens, on every
        # rank): each micro-batch's summed loss is divided by the step's total, so the gradients add up to
        # one batch's. DDP averages over ranks, hence the factor world.
        units = torch.tensor(float(len(step_pairs)))
        if cfg.objective == "orm":
            units = torch.tensor(float(sum(b.solution_tokens() for b in batches)))
            if self.world > 1:
                dist.all_reduce(units)
        scale = self.world / units.item()
        self.optimizer.zero_grad(set_to_none=True)
        loss_total, metrics, tokens = torch.zeros((), dtype=torch.float64), [], 0
        for i, (batch, m) in enumerate(zip(batches, micro)):
            sync = self.world == 1 or i == len(batches) - 1   # gradients are reduced once, after the last one
            if self.sharded:
                self.policy.set_requires_gradient_sync(sync)
            with (contextlib.nullcontext() if sync or self.sharded else self.forward_module.no_sync()):
                loss_sum, info = self._loss_sum(batch, m)
                (loss_sum * scale).backward()
            loss_total += loss_sum.detach().double().cpu() / units.item()
            metrics.append((len(m), info))
            tokens += batch.tokens
        if self.world > 1:
            dist.all_reduce(loss_total)
        grad_norm = torch.nn.utils.clip_grad_norm_(self.policy.parameters(), cfg.max_grad_norm)
        grad_norm = (grad_norm.full_tensor() if hasattr(grad_norm, "full_tensor") else grad_norm).item()
        lr = self.optimizer.param_groups[0]["lr"]
        self.optimizer.step()
        self.scheduler.step()
        self.step += 1
        elapsed = time.perf_counter() - started
        out = {"loss": loss_total.item(), "lr": lr, "grad_norm": grad_norm,
               "tokens_per_s": self.world * tokens / max(elapsed, 1e-9)}
        for key in metrics[0][1]:   # this rank's pairs
            out[key] = sum(n * info[key] for n, info in metrics) / len(mine)
        return out

    # ---- checkpoints, logs, the trained verifier -----------------------------------------------------

    def full_policy_state(self) -> dict:
        """The model's and head's whole parameters (``model.*``, ``head.*``); under FSDP gathered from the
        shards, a collective every rank must call."""
        if not self.sharded:
            return self.policy.state_dict()
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict
        return get_model_state_dict(self.policy, options=StateDictOptions(full_state_dict=True, cpu_offload=True))

    def _rng_states(self) -> Optional[List[dict]]:
        """Every process's RNG states in rank order, on rank 0 (None elsewhere; a collective): each process
        draws its own dropout masks, so each resumes its own stream."""
        mine = checkpoint.rng_state()
        if self.world == 1:
            return [mine]
        gathered = [None] * self.world if self.rank == 0 else None
        dist.gather_object(mine, gathered, dst=0)
        return gathered

    def state(self, rng: Optional[List[dict]] = None) -> dict:
        """The checkpoint: whole parameters and optimizer state (under FSDP gathered: call on every rank),
        and ``rng``, the processes' RNG states (this process's alone when not given)."""
        if self.sharded:
            from torch.distributed.checkpoint.state_dict import StateDictOptions, get_state_dict
            policy, optimizer = get_state_dict(self.policy, self.optimizer,
                                               options=StateDictOptions(full_state_dict=True, cpu_offload=True))
        else:
            policy, optimizer = self.policy.state_dict(), self.optimizer.state_dict()
        return {"policy": policy, "optimizer": optimizer, "sharded": self.sharded, "ref_logps": self.ref_logps,
                "scheduler": self.scheduler.state_dict(), "rng": rng or [checkpoint.rng_state()], "step": self.step,
                "position": self.position, "unevaluated_epoch": self.unevaluated_epoch,
                "config": asdict(self.config),
                "pairs": self.pairs_fingerprint, "layout": (self.layout, self.layout_reason),
                "model": self.model_fingerprint}

    def save_checkpoint(self) -> None:
        rng = self._rng_states()
        state = self.state(rng) if self.rank == 0 or self.sharded else None
        if self.rank == 0:
            checkpoint.save_atomically(state, self.checkpoint_path)
        if self.world > 1:
            dist.barrier()   # a rank that resumes right away must find it

    def check_start(self, pairs: Sequence[PreferencePair], resume: bool = False) -> None:
        """Everything that would stop :meth:`train` before its first step, checked before anything is
        written: the pairs and the batch, a checkpoint of another run refused for ``resume``, and each pair's
        length (a pair past ``max_length`` with ``truncation="error"``, a prompt that fills it). A run that
        cannot start used to have replaced an earlier run's pair files (cotnpot train writes them after this)
        and, starting afresh, its metrics. :meth:`train` calls it where the caller has not."""
        cfg = self.config
        if not pairs:
            raise ValueError("no training pairs")
        if cfg.batch_size % self.world:
            raise ValueError(f"batch_size ({cfg.batch_size}) must be a multiple of the number of processes "
                             f"({self.world}): each takes an equal share of every step")
        self.pairs_fingerprint = pairs_fingerprint(pairs)
        state = None
        if resume and self.checkpoint_path.exists():
            state = checkpoint.load(self.checkpoint_path)
            self._check_same_run(state)
        self.collator.check_lengths(pairs)
        self._started = (pairs, resume, state)

    def _check_same_run(self, state: dict) -> None:
        """A resume continues the run that wrote the checkpoint: the same pairs in the same order and the
        same options, those in RESUME_MAY_CHANGE aside."""
        if state["config"]["objective"] != self.config.objective:
            raise ValueError(f"{self.checkpoint_path} was written by a {state['config']['objective']} run, not "
                             f"{self.config.objective}")
        saved_model = state.get("model")   # None: a checkpoint from before models were fingerprinted
        if saved_model is not None:
            labels = {"parameters": "another architecture or size (its parameters' names or shapes differ)",
                      "tokenizer": "another tokenizer (a probe pair encodes differently)"}
            what = [label for part, label in labels.items() if saved_model.get(part) != self.model_fingerprint[part]]
            if what:
                raise ValueError(f"{self.checkpoint_path} was written for another model: here {' and '.join(what)}; "
                                 "resume with the --model the run started with, or start a new run in another "
                                 "output directory")
        saved = state.get("pairs")   # None: a checkpoint from before fingerprints were kept
        if saved is not None and saved != self.pairs_fingerprint:
            count = self.pairs_fingerprint["count"]
            what = (f"{saved['count']} pairs, here {count}" if saved["count"] != count else
                    f"{count} pairs here too, but not the same ones in the same order")
            raise ValueError(f"{self.checkpoint_path} was written for other training pairs ({what}): resume with the "
                             "candidates, split and seed the run started with, or start a new run in another "
                             "output directory")
        now, then = asdict(self.config), state["config"]
        may_change = RESUME_MAY_CHANGE + (RESUME_MAY_CHANGE_AFTER_NO_TRUNCATION
                                          if then.get("truncation") == "error" else ())
        changed = [f"{name} {then[name]!r} -> {now[name]!r}" for name in now
                   if name in then and name not in may_change and then[name] != now[name]]
        if "max_length" in may_change and now["max_length"] < then.get("max_length", 0):
            # a shorter one may cut pairs the run trained on whole (and computed their DPO references on)
            changed.append(f"max_length {then['max_length']!r} -> {now['max_length']!r} (only a longer one)")
        if changed:
            raise ValueError(f"{self.checkpoint_path} was written with other options ({'; '.join(changed)}): resume "
                             f"with the run's options (only {', '.join(may_change)} may change), or start a new "
                             "run in another output directory")

    def _load(self, state: dict) -> None:
        if state["sharded"] != self.sharded:
            raise ValueError(f"{self.checkpoint_path} was written {'with' if state['sharded'] else 'without'} FSDP; "
                             "resume it the same way")
        if self.sharded:
            from torch.distributed.checkpoint.state_dict import StateDictOptions, set_state_dict
            set_state_dict(self.policy, self.optimizer, model_state_dict=state["policy"],
                           optim_state_dict=state["optimizer"], options=StateDictOptions(full_state_dict=True))
        else:
            self.policy.load_state_dict(state["policy"])
            self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        # The learning rate of the next step is the new schedule's: a resume with other epochs or max_steps ran
        # one step at the old schedule's last rate (0 after a finished run), which the optimizer had kept.
        for group, base, factor in zip(self.optimizer.param_groups, self.scheduler.base_lrs, self.scheduler.lr_lambdas):
            group["lr"] = base * factor(self.scheduler.last_epoch)
        self.scheduler._last_lr = [group["lr"] for group in self.optimizer.param_groups]
        rng = state["rng"] if isinstance(state["rng"], list) else [state["rng"]]   # older checkpoints: one
        # Each process its own stream; resumed on another number of processes (not an exact resume: the
        # steps are shared differently anyway), each takes the first process's.
        checkpoint.set_rng_state(rng[self.rank] if len(rng) == self.world else rng[0])
        self.ref_logps = dict(state.get("ref_logps") or {})
        self.step, self.position = state["step"], tuple(state["position"])
        self.unevaluated_epoch = state.get("unevaluated_epoch")
        if self.config.pair_layout == "auto" and state.get("layout", (None,))[0] is not None:
            # the layout the run decided on, not one decided again on another first batch
            self.layout, self.layout_reason = state["layout"]

    def _forget_evaluation_if_logged(self) -> None:
        """A checkpoint is written before its epoch's evaluation: where metrics.jsonl holds that evaluation (it
        ran, and the run went on or ended), a resume need not run it again. Rank 0 reads; every rank follows."""
        logged = [False]
        if self.rank == 0:
            wanted = (self.step, self.unevaluated_epoch)
            lines = self.metrics_path.read_text().splitlines() if self.metrics_path.exists() else []
            for line in filter(str.strip, lines):
                row = json.loads(line)   # whole lines only: _truncate_metrics dropped a cut last one
                logged[0] = logged[0] or ((row.get("step"), row.get("epoch")) == wanted
                                          and any(k.startswith("eval/") for k in row))
        if self.world > 1:
            dist.broadcast_object_list(logged, src=0)
        if logged[0]:
            self.unevaluated_epoch = None

    def _truncate_metrics(self, step: int) -> None:
        if not self.metrics_path.exists():
            return
        rows = [line for line in self.metrics_path.read_text().splitlines() if line.strip()]
        kept = []
        for number, line in enumerate(rows, start=1):
            try:
                row = json.loads(line)
            except ValueError:
                if number == len(rows):   # cut short by a kill mid-write: the steps after the checkpoint rerun
                    break
                raise ValueError(f"{self.metrics_path}:{number}: not a JSON line; the run cannot resume "
                                 "past it") from None
            if row.get("step", 0) <= step:
                kept.append(line)
        self.metrics_path.write_text("".join(line + "\n" for line in kept))

    def _log(self, row: dict) -> None:
        if self.rank != 0:
            return
        with open(self.metrics_path, "a") as f:
            f.write(strict_json.dumps(row) + "\n")

    def save_verifier(self, directory=None) -> Path:
        """The trained verifier as ``save_pretrained`` writes it (model and tokenizer), plus the ORM head:
        what :func:`cotnpot.verifier.load_verifier` and ``cotnpot eval --verifier DIR`` load."""
        directory = Path(directory or self.out / "verifier")
        whole = self.full_policy_state() if self.sharded else None   # a collective: every rank
        if self.rank != 0:
            return directory
        if whole is None:
            self.model.save_pretrained(directory)
            head_state = self.head.state_dict() if self.head is not None else None
        else:
            self.model.save_pretrained(directory, state_dict={k[len("model."):]: v for k, v in whole.items()
                                                              if k.startswith("model.")})
            head_state = {k[len("head."):]: v for k, v in whole.items() if k.startswith("head.")}
        tok = getattr(self.tokenizer, "tok", self.tokenizer)
        if hasattr(tok, "save_pretrained"):
            tok.save_pretrained(directory)
        if self.head is not None:
            checkpoint.save_atomically({"hidden_size": self.head.linear.in_features, "state": head_state},
                                       directory / ORM_HEAD_FILE)
        else:   # a head left by an earlier ORM run in this directory would score this model
            (directory / ORM_HEAD_FILE).unlink(missing_ok=True)
        return directory
