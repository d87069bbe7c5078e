"""Verifier training: preference pairs from candidate files, the collator, and a SimPO/DPO/ORM trainer for
any causal LM with checkpoints that resume exactly (see :mod:`cotnpot.train.trainer`)."""
from .collate import PreferenceBatch, PreferenceCollator
from .pairs import (PairStats, PreferencePair, build_pairs, pairs_from_rows, read_pairs, split_by_problem,
                    write_pairs)
from .trainer import OBJECTIVES, TrainConfig, VerifierTrainer

__all__ = ["PreferenceBatch", "PreferenceCollator", "PairStats", "PreferencePair", "build_pairs", "pairs_from_rows",
           "read_pairs", "split_by_problem", "write_pairs", "OBJECTIVES", "TrainConfig", "VerifierTrainer"]
