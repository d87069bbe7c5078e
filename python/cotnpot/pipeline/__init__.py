"""Best-of-N evaluation, from candidate files to reports: the stages of ``cotnpot eval``.

    data         candidate files (five formats) -> CandidateTable
    programs     re-running their programs in the sandbox, with a cache
    consistency  CoTnPoT: CoT -> program translation, execution, the agreement mask
    code_tasks   code tasks (MBPP style): tests, explanations, the example filter
    methods      the method registry (inputs, LLM calls, rule text)
    metrics      every method at every N: exact estimators, bootstrap intervals, paired differences
    evaluation   the stages of one file, timed; records (per-problem logs) and report (markdown/JSON)

The main names are importable from here and from ``cotnpot`` itself (lazily: ``import cotnpot`` does not
pay for sympy and the evaluation modules until one is used).
"""
from .code_tasks import CodeResult, CodeTask, evaluate_code
from .consistency import check_consistency
from .data import CandidateFileError, CandidateTable, load_candidates
from .evaluation import EvalOptions, Evaluation, evaluate_file, evaluate_table
from .metrics import accuracy_curve, bootstrap_ci

__all__ = ["CodeResult", "CodeTask", "evaluate_code", "check_consistency", "CandidateFileError", "CandidateTable",
           "load_candidates", "EvalOptions", "Evaluation", "evaluate_file", "evaluate_table", "accuracy_curve",
           "bootstrap_ci"]
