"""Tokenized preference batches: the one prompt template that scoring uses (the tokenizer's chat template
when it has one, else ``Question: …\\nAnswer: ``; :func:`cotnpot.verifier.encode_example`), so a verifier is
scored exactly as it was trained; chosen and rejected in TRL's concatenated layout (one forward pass),
labels with the prompt and padding masked, or packed with their shared prefix once (:mod:`.packing`);
an explicit truncation policy for both."""
from dataclasses import dataclass
from typing import List, Sequence, Tuple

import torch

from ..verifier import encode_example, pad_examples
from .packing import Encoded, PackedPairs, pack_pairs
from .pairs import PreferencePair

IGNORE_INDEX = -100
TRUNCATION = ("error", "truncate")


@dataclass
class PreferenceBatch:
    input_ids: torch.Tensor       # [2B, T]: B chosen, then B rejected
    attention_mask: torch.Tensor  # [2B, T]
    labels: torch.Tensor          # [2B, T], -100 at the prompt and padding

    @property
    def pairs(self) -> int:
        return self.input_ids.shape[0] // 2

    @property
    def tokens(self) -> int:
        return int(self.attention_mask.sum())

    def label_counts(self) -> torch.Tensor:
        """Scored (solution) tokens per sequence, ``[2B]``."""
        return (self.labels[:, 1:] != IGNORE_INDEX).sum(-1)

    def solution_tokens(self) -> int:
        """The solutions' tokens, as ORM scores them (each one's own hidden state)."""
        return int((self.labels != IGNORE_INDEX).sum())

    def to(self, device) -> "PreferenceBatch":
        return PreferenceBatch(self.input_ids.to(device), self.attention_mask.to(device), self.labels.to(device))


def _where(pair: PreferencePair, side: str = "") -> str:
    """How an error names a pair (and which of its sequences)."""
    return f"pair of problem {pair.problem_id!r}" + (f" ({side})" if side else "")


class PreferenceCollator:
    """Turns pairs into a :class:`PreferenceBatch`.

    ``max_length`` bounds every sequence (prompt + solution + EOS); ``truncation="error"`` refuses a longer
    one, naming the pair, ``"truncate"`` cuts the solution's end and counts it in ``self.truncated``. A
    prompt that alone reaches ``max_length`` is always an error: nothing of the solution would be scored.
    """

    def __init__(self, tokenizer, max_length: int = 1024, truncation: str = "error"):
        if truncation not in TRUNCATION:
            raise ValueError(f"truncation must be one of {TRUNCATION}, got {truncation!r}")
        if max_length < 2:
            raise ValueError(f"max_length must be >= 2, got {max_length}")
        self.tokenizer, self.max_length, self.truncation = tokenizer, max_length, truncation
        self._truncated = set()   # the sequences cut, once each (each epoch and the DPO references encode them again)
        pad = getattr(tokenizer, "pad_token_id", None)
        self.pad_token_id = 0 if pad is None else pad

    def encode(self, question: str, solution: str, where: str) -> Tuple[List[int], int]:
        ids, start = encode_example(self.tokenizer, question, solution)
        self._check_length(ids, start, where)
        if len(ids) > self.max_length:
            self._truncated.add(hash((question, solution)))
            ids = ids[:self.max_length]
        return ids, start

    @property
    def truncated(self) -> int:
        """How many distinct sequences were cut to ``max_length``."""
        return len(self._truncated)

    def check_lengths(self, pairs: Sequence[PreferencePair]) -> None:
        """Raises as a batch of these pairs would, before any is trained on (nothing is counted as truncated),
        and for an empty solution that has no token to score. With ``truncation="error"`` each pair is encoded;
        with ``"truncate"`` only each distinct prompt and each empty solution, the things that can then fail
        (an extra pass over the data where none is needed would cost a large file's whole tokenization before
        its first step)."""
        for p in pairs:
            for side, solution in (("chosen", p.chosen), ("rejected", p.rejected)):
                if solution:
                    continue
                ids, start = encode_example(self.tokenizer, p.prompt, "")
                if len(ids) <= start:
                    # nothing to score: its average log-prob would be 0, probability 1, the best reward there
                    # is (scoring gives such a solution NaN; found by a breaker)
                    raise ValueError(f"{_where(p, side)}: an empty solution, and the tokenizer adds no EOS token: it "
                                     "has no token to score (drop the pair, or give the tokenizer an EOS token)")
        if self.truncation == "error":
            for p in pairs:
                for side, solution in (("chosen", p.chosen), ("rejected", p.rejected)):
                    ids, start = encode_example(self.tokenizer, p.prompt, solution)
                    self._check_length(ids, start, _where(p, side))
            return
        seen = set()
        for p in pairs:
            if p.prompt not in seen:
                seen.add(p.prompt)
                _, start = encode_example(self.tokenizer, p.prompt, "")
                self._check_length([], start, _where(p))

    def _check_length(self, ids: List[int], start: int, where: str) -> None:
        if start >= self.max_length:
            raise ValueError(f"{where}: the prompt alone has {start} tokens, max_length is {self.max_length}")
        if len(ids) > self.max_length and self.truncation == "error":
            raise ValueError(f"{where}: {len(ids)} tokens, more than max_length {self.max_length} (raise it, "
                             "or truncation='truncate' to cut the solution's end)")

    def _encode_pairs(self, pairs: Sequence[PreferencePair]) -> Tuple[List[Encoded], List[Encoded]]:
        if not pairs:
            raise ValueError("an empty batch of pairs")
        return ([self.encode(p.prompt, p.chosen, _where(p, "chosen")) for p in pairs],
                [self.encode(p.prompt, p.rejected, _where(p, "rejected")) for p in pairs])

    def __call__(self, pairs: Sequence[PreferencePair]) -> PreferenceBatch:
        chosen, rejected = self._encode_pairs(pairs)
        input_ids, labels, attention_mask = pad_examples(chosen + rejected, self.pad_token_id)
        return PreferenceBatch(input_ids, attention_mask, labels)

    def pack(self, pairs: Sequence[PreferencePair]) -> PackedPairs:
        """The same pairs, encoded and truncated alike, in the shared-prefix layout (:mod:`.packing`)."""
        return pack_pairs(*self._encode_pairs(pairs), self.pad_token_id)
