"""JSON that every parser reads: Python's ``json`` writes ``NaN`` and ``Infinity`` by default, which are not
JSON (jq, JavaScript's ``JSON.parse``, Go, Rust's serde refuse the whole file). Reports and logs meant for
other tools go through :func:`dumps`: a number that is not finite (a missing interval, an empty solution's
score, a diverged loss) is written as ``null``.
"""
import json
import math
from typing import Any


def finite_or_none(value: Any) -> Any:
    """``value`` with every float that is not finite replaced by None, through dicts, lists and tuples."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):   # a key that is no finite float becomes its name ("nan"), keeping keys apart
        return {(k if not isinstance(k, float) or math.isfinite(k) else str(k)): finite_or_none(v)
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_or_none(v) for v in value]
    return value


def dumps(value: Any, **options) -> str:
    """``json.dumps`` of ``value`` with non-finite floats as null; anything else non-finite left over (a
    numpy or torch scalar that is no float) raises instead of writing NaN."""
    return json.dumps(finite_or_none(value), allow_nan=False, **options)
