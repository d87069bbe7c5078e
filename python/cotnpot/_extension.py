"""Loads the C++ core, after checking that it was built against the torch imported now.

A mismatch would otherwise surface as an undefined-symbol error or, worse, as silent memory corruption.
"""
import torch


def check_torch_version(built_with: str, running: str) -> None:
    """Raise ImportError unless the extension's torch and the running torch are the same version."""
    if built_with != running:
        raise ImportError(
            f"cotnpot's C++ extension was built against torch {built_with}, but torch {running} "
            f"(from {torch.__file__}) is imported now. Rebuild cotnpot with this torch: `make install` "
            "in the cotnpot checkout, or `pip install --no-build-isolation .`.")


try:
    from . import _build_info
except ImportError as error:
    raise ImportError(
        "cotnpot's C++ extension is not built: this looks like the source tree. Install the package "
        "(`make install`, then use .venv/bin/python) instead of importing python/cotnpot directly.") from error

check_torch_version(_build_info.TORCH_VERSION, torch.__version__)

from . import _C  # noqa: E402  (loads libcotnpot, which registers torch.ops.cotnpot.*)

__all__ = ["_C", "check_torch_version"]
