"""Picking one candidate per problem: best-of-N by score and (score-weighted) votes over answer classes.

All take ``[P, N]`` tensors (P problems, N candidates; ragged groups as padding with ``valid=False``), are
the ops ``torch.ops.cotnpot.best_of_n`` / ``vote`` (so ``torch.compile`` traces them), run as C++ ATen composites on the tensors' device, and break ties deterministically: best-of-N takes the
lowest index, a vote the class seen first. ``keep`` filters candidates (CoTnPoT's consistency mask);
``fallback`` says what a problem whose every candidate is filtered out gets: ``"all"`` (default) selects
as if unfiltered, ``"none"`` gives -1. A problem with no eligible candidate at all gets -1.

    >>> import torch, cotnpot
    >>> cotnpot.best_of_n(torch.tensor([[0.1, 0.9, 0.9]]))
    tensor([1])
    >>> cotnpot.vote(torch.tensor([[0, 1, 1, 0]])).answer_class     # tie: class 0 was seen first
    tensor([0])
"""
from typing import NamedTuple, Optional

import torch
from torch import Tensor

from ._extension import _C  # noqa: F401  (registers the ops)

FALLBACKS = ("all", "none")


class VoteResult(NamedTuple):
    answer_class: Tensor   #: [P] int64, the winning class id (-1: no candidate voted)
    index: Tensor          #: [P] int64, the first candidate of the winning class (-1: none)
    support: Tensor        #: [P] float64, its vote count or summed weight


def best_of_n(scores: Tensor, valid: Optional[Tensor] = None, keep: Optional[Tensor] = None,
              fallback: str = "all") -> Tensor:
    """Index of the best-scored eligible candidate per problem, ``[P]`` int64; NaN scores never win."""
    return torch.ops.cotnpot.best_of_n(scores, valid, keep, fallback)


def vote(classes: Tensor, valid: Optional[Tensor] = None, weights: Optional[Tensor] = None,
         keep: Optional[Tensor] = None, fallback: str = "all") -> VoteResult:
    """Majority vote (``weights=None``) or score-weighted vote over answer-class ids ``[P, N]``.

    Class ids are per problem in ``[0, N)`` (what :func:`cotnpot.answer.group_answers` gives); a negative
    id (no answer) and a non-finite weight do not vote.
    """
    return VoteResult(*torch.ops.cotnpot.vote(classes, valid, weights, keep, fallback))
