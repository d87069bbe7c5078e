"""Shared set-up: use every core (Debian's torch may start with one thread) and fixed seeds."""
import os
import pytest
import torch

torch.set_num_threads(os.cpu_count() or 1)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
