"""JSON that every parser reads: Python's ``json`` writes ``NaN`` and ``Infinity`` by default, which are not
JSON (jq, JavaScript's ``JSON.parse``, Go, Rust's serde refuse the whole file). Reports and logs meant for
other tools go through :func:`dumps`: a number that is not finite (a missing interval, an empty solution's
score, a diverged loss) is written as ``null``.
"""
import json
import math
from typing import Any


def finite_or_none(value: Any) -> Any:
    """``value`` with every float that is not finite replaced by None, through dicts, lists and tuples; a dict
    key that is such a float by the name ``json.dumps`` writes for it (``NaN``, ``Infinity``, ``-Infinity``),
    and a key that would then repeat another is refused (a value would be lost)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            key = k if not isinstance(k, float) or math.isfinite(k) else json.dumps(k)
            if key in out:
                raise ValueError(f"strict_json: the dict key {k!r} would be written as {key!r}, which another key "
                                 f"already is")
            out[key] = finite_or_none(v)
        return out
    if isinstance(value, (list, tuple)):
        return [finite_or_none(v) for v in value]
    return value


def dumps(value: Any, **options) -> str:
    """``json.dumps`` of ``value`` with non-finite floats as null; anything else non-finite left over (a
    numpy or torch scalar that is no float) raises instead of writing NaN."""
    return json.dumps(finite_or_none(value), allow_nan=False, **options)


def loads(text):
    """``json.loads``, with every way a text fails to be read as a ValueError: arrays or objects nested past
    Python's recursion limit raised RecursionError, which no reader caught (a reviewer: a raw traceback)."""
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("JSON nested too deeply to read") from None
