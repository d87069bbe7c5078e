"""Loads the C++ core, after checking that it was built against the torch imported now.

A mismatch would otherwise surface as an undefined-symbol error or, worse, as silent memory corruption.
"""
import re

import torch


def _release(version: str) -> tuple:
    """(2, 13, 0) for "2.13.0+cu130": the numeric release, local build tag dropped."""
    return tuple(int(part) for part in re.findall(r"\d+", version.split("+")[0])[:3])


def check_torch_version(built_with: str, running: str, supported: str = "") -> None:
    """Raise ImportError unless the extension's torch and the running torch are the same version.

    ``supported`` is the range cotnpot supports (">=MIN,<BELOW", pyproject.toml); a running torch outside
    it is named as such, since rebuilding against it would not help.
    """
    if built_with == running:
        return
    match = re.fullmatch(r">=([0-9.]+),<([0-9.]+)", supported)
    if match and not (_release(match.group(1)) <= _release(running) < _release(match.group(2))):
        raise ImportError(
            f"cotnpot supports torch {supported} and was built against torch {built_with}, but torch {running} "
            f"(from {torch.__file__}) is imported now, which is outside that range. Install a supported torch "
            "(constraints.txt pins the tested one).")
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

check_torch_version(_build_info.TORCH_VERSION, torch.__version__, getattr(_build_info, "TORCH_RANGE", ""))

from . import _C  # noqa: E402  (loads libcotnpot, which registers torch.ops.cotnpot.*)
from . import _fake  # noqa: E402,F401  (shape kernels for FakeTensor / torch.compile)

__all__ = ["_C", "check_torch_version"]
