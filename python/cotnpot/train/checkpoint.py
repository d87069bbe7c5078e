"""Checkpoints written atomically (:mod:`cotnpot.atomic_file`: a temporary file in the same directory,
flushed and fsync'ed, then renamed over the old one, and the directory fsync'ed), so a process killed
mid-write leaves the previous checkpoint whole and loadable."""
import random
from pathlib import Path
from typing import Any, Dict, Union

import numpy as np
import torch

from ..atomic_file import atomic_file


def save_atomically(state: Dict[str, Any], path: Union[str, Path]) -> None:
    with atomic_file(path, "wb") as f:
        torch.save(state, f)


def load(path: Union[str, Path]) -> Dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as error:
        raise ValueError(f"{path}: not a readable checkpoint ({error})") from error


def rng_state() -> Dict[str, Any]:
    state = {"torch": torch.get_rng_state(), "python": random.getstate(), "numpy": np.random.get_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
