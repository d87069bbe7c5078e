"""An on-disk translation cache: a translation is made once per (model, template, request) and shared
by every later run. One JSONL file, appended as translations finish (so an interrupted run keeps them)."""
import hashlib
from typing import List, Optional, Sequence

from ..jsonl_store import JsonlStore
from ..text_fields import key_text
from .base import Request
from .openai_client import TranslationServerError


class CachedTranslator:
    def __init__(self, inner, path):
        self.inner = inner
        self.name, self.template = inner.name, inner.template
        self.llm_calls = getattr(inner, "llm_calls", 1)
        self.store = JsonlStore(path, valid=lambda entry: isinstance(entry.get("translation"), str))
        self._keys: List[str] = []   # the last call's requests

    def key(self, r: Request) -> str:
        # key_text: a NUL inside a field had made two requests share a key ("Q\0A", "B" and "Q", "A\0B")
        text = key_text([self.name, self.template, r.kind, r.question, r.text])
        return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()

    def _save(self, keys: List[str], texts: List[Optional[str]], cut: Sequence[bool]) -> None:
        # `truncated` kept with the translation: a cached rerun still reports the replies cut at max_tokens
        self.store.add({"key": k, "model": self.name, "translation": t, **({"truncated": True} if c else {})}
                       for k, t, c in zip(keys, texts, cut) if t is not None)

    def _cut(self, indices) -> List[bool]:
        """Whether each of the inner translator's request indices was cut at max_tokens (as far as it knows)."""
        cut = set(getattr(self.inner, "truncated", []))
        return [i in cut for i in indices]

    @property
    def truncated(self) -> List[int]:
        """The last call's requests (their indices) whose reply was cut at max_tokens, cached or not."""
        return [i for i, k in enumerate(self._keys) if (self.store.entries.get(k) or {}).get("truncated")]

    def _get(self, key: str) -> Optional[str]:
        entry = self.store.entries.get(key)
        return None if entry is None else entry["translation"]

    def translate(self, requests: Sequence[Request]) -> List[Optional[str]]:
        keys = self._keys = [self.key(r) for r in requests]
        todo = [i for i, k in enumerate(keys) if k not in self.store.entries]
        self.misses = len(todo)
        self.failures = {}
        if todo:
            asked = [requests[i] for i in todo]
            try:
                if getattr(self.inner, "reports_batches", False):   # saved batch by batch as they finish
                    self.inner.translate(asked, on_done=lambda idx, texts: self._save([keys[todo[i]] for i in idx],
                                                                                       texts, self._cut(idx)))
                else:
                    texts = self.inner.translate(asked)
                    self._save([keys[i] for i in todo], texts, self._cut(range(len(todo))))
            except TranslationServerError as exc:   # what finished is saved; hand it back with the error
                raise TranslationServerError(str(exc), [self._get(k) for k in keys]) from None
            finally:   # the inner translator's per-request outcomes, in this call's indices
                self.failures = {todo[i]: why for i, why in getattr(self.inner, "failures", {}).items()}
        return [self._get(k) for k in keys]
