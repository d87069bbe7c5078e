"""Texts as the native code, the tokenizers and the caches take them.

- :func:`utf8_safe`: ``json.loads`` gives a str holding a lone surrogate for ``"\\ud83d"``; such a str cannot
  be encoded as UTF-8, which pybind11 (a job's code) and the Hugging Face tokenizers need. Each such
  surrogate becomes what its bytes decode to: three U+FFFD, one per byte of its (invalid) UTF-8 form.
- :func:`key_text`: the text a cache hashes for several fields. Joined by NUL, as the caches always did, where
  no field holds one (existing caches stay valid); a NUL inside a field made ("a\\0b", "c") and ("a", "b\\0c")
  one key, so such fields are joined as a JSON list.
"""
import json
from typing import Sequence


def utf8_safe(text: str) -> str:
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


def key_text(fields: Sequence[str]) -> str:
    return json.dumps(list(fields)) if any("\0" in f for f in fields) else "\0".join(fields)
