"""cotnpot: verify LLM reasoning by scaling inference compute.

Train verifiers with preference losses, score candidate solutions with them, and pick the right
answer out of many samples. The heavy lifting is C++ on LibTorch; this package holds the Python API.

    >>> import torch, cotnpot
    >>> logits, labels = torch.randn(2, 5, 11), torch.randint(11, (2, 5))
    >>> cotnpot.sequence_logprob(logits, labels, reduction="mean").shape
    torch.Size([2])
"""
from ._extension import _C
from . import answer, reference
from .executor import ExecResult, Executor, Job
from .fused import fused_linear_logprob, fused_sequence_logprob
from .fused_losses import FusedLinearDPOLoss, FusedLinearSimPOLoss
from .logprob import sequence_logprob, token_logprob
from .losses import DPO_LOSS_TYPES, dpo_loss, orm_loss, orm_score, simpo_loss
from .modules import DPOLoss, ORMHead, ORMLoss, PreferenceLossOutput, SimPOLoss
from .preference import PreferenceLogprobs, concatenate_pairs, preference_logprobs
from .selection import VoteResult, best_of_n, vote

__version__: str = _C.__version__

# The evaluation pipeline's names, loaded on first use (its modules import sympy and more)
_PIPELINE = ("CodeResult", "CodeTask", "evaluate_code", "check_consistency", "CandidateFileError", "CandidateTable",
             "load_candidates", "EvalOptions", "Evaluation", "evaluate_file", "evaluate_table", "accuracy_curve",
             "bootstrap_ci")


def __getattr__(name):
    if name in _PIPELINE or name == "pipeline":
        import importlib   # not `from . import pipeline`: that looks the attribute up first, i.e. here
        pipeline = importlib.import_module(".pipeline", __name__)
        return pipeline if name == "pipeline" else getattr(pipeline, name)
    raise AttributeError(f"module 'cotnpot' has no attribute {name!r}")

__all__ = ["__version__", "answer", "reference", "ExecResult", "Executor", "Job", "fused_linear_logprob",
           "fused_sequence_logprob", "FusedLinearDPOLoss", "FusedLinearSimPOLoss", "sequence_logprob", "token_logprob",
           "DPO_LOSS_TYPES", "dpo_loss", "orm_loss", "orm_score", "simpo_loss",
           "DPOLoss", "ORMHead", "ORMLoss", "PreferenceLossOutput", "SimPOLoss",
           "PreferenceLogprobs", "concatenate_pairs", "preference_logprobs", "VoteResult", "best_of_n", "vote",
           "pipeline", *_PIPELINE]
