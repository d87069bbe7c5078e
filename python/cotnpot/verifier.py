"""Verifier scores from a model: the average log-prob of each solution's tokens given its question.

The model protocol is Hugging Face's causal LM: ``model(input_ids, attention_mask)`` returns an object
with ``.logits`` [B, T, V]. The tokenizer protocol is ``encode_example(question, solution) -> (ids, start)``
(the solution's tokens are ``ids[start:]``): one prompt template, the one training is to use too. A
tokenizer with a chat template gets the question as the user's turn (``apply_chat_template`` with the
generation prompt) and the solution as the assistant's answer; one without gets :func:`prompt_for`.
:class:`HFTokenizer` adapts a Hugging Face tokenizer by tokenizing the prompt and the solution separately,
so the span is exact. :func:`load_verifier` loads any causal LM saved with ``save_pretrained`` (and its
tokenizer) from a directory, offline. Solutions are scored in
batches of similar length (sorted, right-padded) with :func:`cotnpot.sequence_logprob`
(``reduction="mean"``, ``shift=True``) under ``torch.no_grad``.

Under ``torchrun`` (torch.distributed initialized) :func:`score_solutions` shards the pairs across ranks
(every ``world_size``-th pair, so each rank gets a mix of lengths) and gathers all scores, in order, on
every rank.
"""
import hashlib
import json
import threading
import weakref
from pathlib import Path
from typing import Callable, List, Optional, Sequence, Tuple

import torch
from torch import Tensor

from . import distributed
from .jsonl_store import JsonlStore
from .text_fields import key_text, utf8_safe
from .logprob import sequence_logprob


def prompt_for(question: str) -> str:
    """The prompt for tokenizers without a chat template."""
    return f"Question: {question}\nAnswer: "


class HFTokenizer:
    """Adapts a Hugging Face tokenizer to ``encode_example``: the prompt (chat template when the tokenizer has
    one, else :func:`prompt_for`), then the solution's tokens and EOS (the verifier also judges where the
    solution stops)."""

    def __init__(self, tokenizer, add_eos: bool = True):
        self.tok = tokenizer
        self.pad_token_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        self.add_eos = add_eos
        self.uses_chat_template = bool(getattr(tokenizer, "chat_template", None))

    def prompt_ids(self, question: str) -> List[int]:
        question = utf8_safe(question)
        if self.uses_chat_template:
            ids = self.tok.apply_chat_template([{"role": "user", "content": question}], add_generation_prompt=True,
                                               tokenize=True)
            return list(ids["input_ids"] if isinstance(ids, dict) or hasattr(ids, "keys") else ids)
        return self._prompt_tokens(prompt_for(question))

    def _prompt_tokens(self, prompt: str) -> List[int]:
        """The prompt with the tokenizer's special tokens, less an EOS it appends (Llama's add_eos_token=True, a
        post-processor "$A </s>"): the solution follows the prompt, and an end of sequence there had been fed to
        the model mid-text (a breaker)."""
        ids = list(self.tok(prompt, add_special_tokens=True)["input_ids"])
        eos = self.tok.eos_token_id
        if len(ids) > 1 and eos is not None and ids[-1] == eos:
            ids.pop()
        return ids

    def encode_pair(self, prompt: str, solution: str) -> Tuple[List[int], int]:
        """The older protocol: a ready prompt string, tokenized as it is (no chat template)."""
        return self._with_solution(self._prompt_tokens(utf8_safe(prompt)), solution)

    def encode_example(self, question: str, solution: str) -> Tuple[List[int], int]:
        return self._with_solution(self.prompt_ids(question), solution)

    def _with_solution(self, head: List[int], solution: str) -> Tuple[List[int], int]:
        tail = self.tok(utf8_safe(solution), add_special_tokens=False)["input_ids"]
        if self.add_eos and self.tok.eos_token_id is not None:
            tail = tail + [self.tok.eos_token_id]
        return head + tail, len(head)


def verifier_tokenizer(tokenizer):
    """``tokenizer`` as cotnpot reads it (``encode_example``, or ``encode_pair`` as
    :class:`cotnpot.models.ByteTokenizer` has): a Hugging Face tokenizer is wrapped in :class:`HFTokenizer`
    (given as such, training and scoring had failed with "no attribute encode_pair": a new user); anything
    else is a TypeError that says what is expected."""
    if hasattr(tokenizer, "encode_example") or hasattr(tokenizer, "encode_pair"):
        return tokenizer
    if callable(tokenizer) and hasattr(tokenizer, "eos_token_id") and hasattr(tokenizer, "pad_token_id"):
        return HFTokenizer(tokenizer)
    raise TypeError(f"the tokenizer must be a Hugging Face tokenizer or have encode_example(question, solution) "
                    f"-> (ids, start), got {type(tokenizer).__name__}")


def encode_example(tokenizer, question: str, solution: str) -> Tuple[List[int], int]:
    """(ids, start) of one (question, solution): ``encode_example`` where the tokenizer has it, else
    ``encode_pair(prompt_for(question), solution)`` (e.g. :class:`cotnpot.models.ByteTokenizer`); a Hugging
    Face tokenizer as :class:`HFTokenizer` encodes it."""
    for name, value in (("question", question), ("solution", solution)):
        if not isinstance(value, str):
            raise TypeError(f"{name} must be a str, got {type(value).__name__}: {value!r:.80}")
    tokenizer = verifier_tokenizer(tokenizer)
    if hasattr(tokenizer, "encode_example"):
        return tokenizer.encode_example(question, solution)
    return tokenizer.encode_pair(prompt_for(question), solution)


def pad_examples(encoded: Sequence[Tuple[List[int], int]], pad_token_id: int) -> Tuple[Tensor, Tensor, Tensor]:
    """``(input_ids, labels, attention_mask)``, each ``[len(encoded), T]``, from ``(ids, start)`` examples
    padded on the right; labels are the tokens from ``start`` on and -100 at the prompt and padding."""
    length = max(len(ids) for ids, _ in encoded)
    input_ids = torch.full((len(encoded), length), pad_token_id, dtype=torch.long)
    labels = torch.full((len(encoded), length), -100, dtype=torch.long)
    attention_mask = torch.zeros((len(encoded), length), dtype=torch.long)
    for row, (ids, start) in enumerate(encoded):
        input_ids[row, :len(ids)] = torch.tensor(ids)
        labels[row, start:len(ids)] = torch.tensor(ids[start:])
        attention_mask[row, :len(ids)] = 1
    return input_ids, labels, attention_mask


def _saved_model_type(path: Path) -> Optional[str]:
    """config.json's model_type, or None where it has none (or does not parse: transformers then says why)."""
    try:
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return config.get("model_type") if isinstance(config, dict) else None


def load_verifier(spec: str, dtype: Optional[torch.dtype] = None):
    """(model, tokenizer) from a directory written by ``save_pretrained`` (any causal LM ``transformers``
    knows, with its tokenizer), or ``tiny:DIR`` (a saved :class:`cotnpot.models.TinyCausalLM`; a directory whose
    config says so is loaded as one without the prefix).

    Loading is offline: nothing is fetched from a hub. ``dtype`` overrides the saved one (e.g.
    ``torch.bfloat16``)."""
    if spec.startswith("tiny:"):
        from .models import ByteTokenizer, TinyCausalLM
        model = TinyCausalLM.from_pretrained(spec[5:])
        return _with_orm_head(model.to(dtype) if dtype is not None else model, Path(spec[5:])).eval(), ByteTokenizer()
    path = Path(spec)
    if not path.is_dir():
        raise FileNotFoundError(f"verifier {spec!r}: no such directory. cotnpot loads verifiers offline from a "
                                "directory written by save_pretrained (model and tokenizer), or tiny:DIR")
    if not (path / "config.json").exists():
        raise FileNotFoundError(f"verifier {spec!r}: no config.json in that directory; save the model with "
                                "save_pretrained")
    if _saved_model_type(path) == "cotnpot-tiny":   # transformers' "does not recognize this architecture" (a new user)
        return load_verifier(f"tiny:{spec}", dtype)
    from transformers import AutoModelForCausalLM, AutoTokenizer
    model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True,
                                                 **({"dtype": dtype} if dtype is not None else {}))
    return _with_orm_head(model, path).eval(), HFTokenizer(AutoTokenizer.from_pretrained(path, local_files_only=True))


def _with_orm_head(model, path: Path):
    """The model, with the head of a verifier trained as an ORM (cotnpot train --objective orm) where the
    directory has one: it scores with that head. (A tiny ORM verifier had been loaded without it, and scored
    with average log-probs: a reviewer.)"""
    head_file = path / "orm_head.pt"
    if head_file.exists():
        from .modules import ORMHead
        saved = torch.load(head_file, map_location="cpu", weights_only=True)
        model.orm_head = ORMHead(saved["hidden_size"])
        model.orm_head.load_state_dict(saved["state"])
    return model


def scores_are_probabilities(model) -> bool:
    """Whether ``model``'s scores are an ORM head's probabilities of a correct solution, in (0, 1) (a verifier
    trained with ``--objective orm``), rather than average log-probs (<= 0)."""
    return getattr(model, "orm_head", None) is not None


def _model_limits(model) -> Tuple[Optional[int], Optional[int]]:
    """(context length, vocabulary size) of a Hugging Face model, None where it does not say."""
    config = getattr(model, "config", None)
    context = None
    for name in ("max_position_embeddings", "n_positions", "max_seq_len"):
        context = context or getattr(config, name, None)
    vocab = None
    embeddings = getattr(model, "get_input_embeddings", None)
    if callable(embeddings):
        table = embeddings()
        vocab = getattr(table, "num_embeddings", None)
    return context, vocab


def _pair_named(pairs: Sequence[Tuple[str, str]], i: int) -> str:
    """A pair as an error names it: its index alone ("pair 48") had not said which problem (a new user)."""
    question = " ".join(str(pairs[i][0]).split())
    return f"pair {i} of {len(pairs)} (question {question[:60] + ('...' if len(question) > 60 else '')!r})"


def _check_fits(limits: Tuple[Optional[int], Optional[int]], encoded: Sequence[Tuple[List[int], int]],
                pairs: Sequence[Tuple[str, str]]) -> None:
    """What the trainer checks, before any batch: a pair past the model's context (limits: _model_limits) was
    scored silently (rotary models) or raised a bare IndexError (learned positions), and so did a token id
    past its vocabulary."""
    context, vocab = limits
    for i, (ids, _) in enumerate(encoded):
        if context is not None and len(ids) > context:
            raise ValueError(f"{_pair_named(pairs, i)}: {len(ids)} tokens, more than the model's context of {context}; score with "
                             f"max_length (at most {context}; cotnpot eval --verifier-max-length) to keep the start "
                             f"of each solution")
        if vocab is not None and ids and max(ids) >= vocab:
            raise ValueError(f"{_pair_named(pairs, i)}: token id {max(ids)}, but the model's vocabulary has {vocab} tokens (the "
                             "tokenizer does not belong to this model)")


_model_locks: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_model_locks_guard = threading.Lock()
_unreferenceable_models_lock = threading.RLock()   # shared by models that take no weak reference


def _scoring_lock(model) -> threading.RLock:
    """One lock per model object: scoring switches the model to eval mode and back, and two threads scoring
    one model at once had left it in the wrong mode, one of them scoring with dropout on (a reviewer). Scoring
    one model from several threads takes turns (its forward passes use every core anyway)."""
    with _model_locks_guard:
        try:
            lock = _model_locks.get(model)
            if lock is None:
                lock = _model_locks[model] = threading.RLock()
        except TypeError:   # not weakly referenceable
            lock = _unreferenceable_models_lock
        return lock


@torch.no_grad()
def _score_local(model, tokenizer, pairs: Sequence[Tuple[str, str]], batch_size: int, device, max_length,
                 progress: Optional[Callable[[int], None]], on_scores=None) -> Tensor:
    encoded = [encode_example(tokenizer, q, s) for q, s in pairs]
    if max_length is not None:   # keep the start of the solution; a prompt longer than the limit is an error
        for i, (ids, start) in enumerate(encoded):
            if start >= max_length:
                raise ValueError(f"{_pair_named(pairs, i)}: the prompt alone has {start} tokens, more than max_length "
                                 f"{max_length}")
            encoded[i] = (ids[:max_length], start)
    limits = _model_limits(model)
    _check_fits(limits, encoded, pairs)
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i][0]))
    pad = getattr(tokenizer, "pad_token_id", 0) or 0
    vocab = limits[1]
    if vocab is not None and not 0 <= pad < vocab:
        # a [PAD] added to the tokenizer without resizing the model had raised a bare IndexError in the
        # embedding (found by a breaker); padding is masked out of attention and labels, so any id of the
        # model's vocabulary gives the same scores
        pad = 0
    head = getattr(model, "orm_head", None)   # an ORM verifier scores with its head (scores_are_probabilities)
    out = torch.zeros(len(encoded), dtype=torch.float32)
    with _scoring_lock(model):
        _score_batches(model, head, encoded, order, pad, batch_size, device, out, progress, on_scores)
    return out


def _score_batches(model, head, encoded, order, pad, batch_size, device, out, progress, on_scores) -> None:
    """Fills ``out`` batch by batch, in eval mode (dropout on would make the scores random), the mode restored."""
    training = model.training
    model.eval()
    try:
        for b in range(0, len(order), batch_size):
            idx = order[b:b + batch_size]
            ids, labels, mask = pad_examples([encoded[i] for i in idx], pad)
            # A solution with no token to score (empty, and no EOS added) has no average log-prob: NaN, which
            # best-of-N and votes skip. The mean over nothing was 0.0, probability 1, the best score there is.
            if head is not None:   # an ORM verifier: its head's score at the solution's last token
                scored = (labels != -100).any(1)
                hidden = model(input_ids=ids.to(device), attention_mask=mask.to(device),
                               output_hidden_states=True).hidden_states[-1]
                batch = torch.full((len(idx),), float("nan"))
                if bool(scored.any()):
                    rows = scored.to(hidden.device)
                    batch[scored] = head.score(hidden[rows].to(head.linear.weight.dtype),
                                               (labels[scored] != -100).to(device)).float().cpu()
            else:
                scored = (labels[:, 1:] != -100).any(1)
                logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits
                batch = sequence_logprob(logits, labels.to(device), reduction="mean", shift=True).float().cpu()
                batch = torch.where(scored, batch, torch.full_like(batch, float("nan")))
            out[idx] = batch
            if on_scores:
                on_scores(idx, out[idx].tolist())
            if progress:
                progress(len(idx))
    finally:
        model.train(training)


def score_solutions(model, tokenizer, pairs: Sequence[Tuple[str, str]], batch_size: int = 8, device=None,
                    max_length: Optional[int] = None, progress: Optional[Callable[[int], None]] = None,
                    on_scores: Optional[Callable[[List[int], List[float]], None]] = None) -> Tensor:
    """Average log-prob of each (question, solution) pair's solution tokens: float32 ``[len(pairs)]``.
    ``on_scores(indices, scores)`` is called after each batch this process scores (indices into ``pairs``),
    so that a caller can keep them should the run stop before the end."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    tokenizer = verifier_tokenizer(tokenizer)
    device = device or next(model.parameters()).device
    if distributed.rank_and_world()[1] == 1:
        return _score_local(model, tokenizer, pairs, batch_size, device, max_length, progress, on_scores)
    mine = distributed.my_share(len(pairs))   # the share map_sharded gives this rank: its indices
    kept = None if on_scores is None else lambda idx, scores: on_scores([mine[i] for i in idx], scores)
    scores = distributed.map_sharded(
        lambda share: _score_local(model, tokenizer, share, batch_size, device, max_length, progress, kept).tolist(),
        pairs)
    return torch.tensor(scores, dtype=torch.float32)


# The prompt format scores were computed with; a change of format must not reuse cached scores.
# v2: the tokenizer's chat template when it has one (v1 was always prompt_for).
# v3: no EOS at the prompt's end where the tokenizer appends one (HFTokenizer._prompt_tokens).
PROMPT_FORMAT = "prompt-v3"


def model_identity(spec: str) -> str:
    """What a score cache is keyed by: the prompt format, the verifier's name, and for a local directory the
    size and time of its files (the chat template among them), so a retrained model in the same place does
    not reuse old scores."""
    path = Path(spec[5:] if spec.startswith("tiny:") else spec)
    if path.is_dir():
        stamp = sorted((f.name, f.stat().st_size, f.stat().st_mtime_ns) for f in path.iterdir() if f.is_file())
        return f"{PROMPT_FORMAT}:{spec}:{stamp}"
    return f"{PROMPT_FORMAT}:{spec}"


def _valid_score(entry: dict) -> bool:
    """A cached score: a number (NaN included: JSON's NaN is read as such)."""
    score = entry.get("score")
    return isinstance(score, (int, float)) and not isinstance(score, bool)


class ScoreCache(JsonlStore):
    """Verifier scores kept across runs, keyed by (model identity, question, solution)."""

    def __init__(self, path, identity: str):
        super().__init__(path, valid=_valid_score, best_effort=True)
        self.identity = identity

    def key(self, question: str, solution: str, max_length: Optional[int] = None) -> str:
        """Texts joined by NUL, as always, where none holds one (the keys of existing caches stay valid); a
        NUL made ("a\\0b", "c") and ("a", "b\\0c") one key, so such texts are keyed as a JSON list. A
        ``max_length`` (which changes the scores) is part of the key."""
        fields = [self.identity if max_length is None else f"{self.identity}|max_length={max_length}",
                  question, solution]
        return hashlib.sha256(key_text(fields).encode("utf-8", "surrogatepass")).hexdigest()


def score_table(table, model, tokenizer, batch_size: int = 8, device=None, max_length: Optional[int] = None,
                progress=None, cache: Optional[ScoreCache] = None) -> Tensor:
    """Scores ``[P, N]`` for a :class:`cotnpot.pipeline.data.CandidateTable` (NaN at padding); with a ``cache``
    only the pairs it lacks are scored."""
    pairs = [(p.question, c.text) for p in table.problems for c in p.candidates]
    if cache is None:
        flat = score_solutions(model, tokenizer, pairs, batch_size, device, max_length, progress)
    else:
        keys = [cache.key(q, s, max_length) for q, s in pairs]
        todo = [i for i, k in enumerate(keys) if k not in cache.entries]
        if todo:   # each rank adds its scores batch by batch: a run stopped mid-way keeps them
            fresh = score_solutions(model, tokenizer, [pairs[i] for i in todo], batch_size, device, max_length, progress,
                                    on_scores=lambda idx, scores: cache.add({"key": keys[todo[i]], "score": s}
                                                                            for i, s in zip(idx, scores)))
            cache.entries.update((keys[i], {"key": keys[i], "score": s}) for i, s in zip(todo, fresh.tolist()))
        flat = torch.tensor([cache.entries[k]["score"] for k in keys], dtype=torch.float32)
    out = torch.full((len(table.problems), table.n_max), float("nan"))
    out[table.valid()] = flat
    return out
