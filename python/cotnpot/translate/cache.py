"""An on-disk translation cache: a translation is made once per (model, template, request) and shared
by every later run. One JSONL file, appended as translations finish (so an interrupted run keeps them)."""
import hashlib
import threading
from typing import Dict, List, Optional, Sequence

from ..jsonl_store import JsonlStore
from ..text_fields import key_text
from .base import Request
from .openai_client import TranslationServerError


class CachedTranslator:
    def __init__(self, inner, path):
        self.inner = inner
        self.name, self.template = inner.name, inner.template
        self.llm_calls = getattr(inner, "llm_calls", 1)
        self.store = JsonlStore(path, valid=lambda entry: isinstance(entry.get("translation"), str), best_effort=True)
        # The last call's keys, misses and failures, per calling thread (one translator may serve several)
        self._last = threading.local()

    @property
    def misses(self) -> int:
        """How many of this thread's last call's requests the cache did not hold."""
        return getattr(self._last, "misses", 0)

    @property
    def failures(self) -> Dict[int, str]:
        """This thread's last call's refused requests (the inner translator's), in that call's indices."""
        return getattr(self._last, "failures", {})

    def key(self, r: Request) -> str:
        # key_text: a NUL inside a field had made two requests share a key ("Q\0A", "B" and "Q", "A\0B")
        text = key_text([self.name, self.template, r.kind, r.question, r.text])
        return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()

    def _save(self, keys: List[str], texts: List[Optional[str]], cut: Sequence[bool]) -> None:
        # `truncated` kept with the translation: a cached rerun still reports the replies cut at max_tokens
        self.store.add({"key": k, "model": self.name, "translation": t, **({"truncated": True} if c else {})}
                       for k, t, c in zip(keys, texts, cut) if t is not None)

    @property
    def truncated(self) -> List[int]:
        """This thread's last call's requests (their indices) whose reply was cut at max_tokens, cached or not."""
        keys = getattr(self._last, "keys", [])
        return [i for i, k in enumerate(keys) if (self.store.entries.get(k) or {}).get("truncated")]

    def _get(self, key: str) -> Optional[str]:
        entry = self.store.entries.get(key)
        return None if entry is None else entry["translation"]

    def translate(self, requests: Sequence[Request]) -> List[Optional[str]]:
        keys = self._last.keys = [self.key(r) for r in requests]
        todo = [i for i, k in enumerate(keys) if k not in self.store.entries]
        self._last.misses, self._last.failures = len(todo), {}
        if todo:
            asked = [requests[i] for i in todo]
            try:
                if getattr(self.inner, "reports_batches", False):   # saved batch by batch as they finish
                    self.inner.translate(asked, on_done=lambda idx, texts, cut: self._save(
                        [keys[todo[i]] for i in idx], texts, cut))
                else:
                    texts = self.inner.translate(asked)
                    cut = set(getattr(self.inner, "truncated", []))   # the inner's, as far as it knows
                    self._save([keys[i] for i in todo], texts, [i in cut for i in range(len(todo))])
            except TranslationServerError as exc:   # what finished is saved; hand it back with the error
                raise TranslationServerError(str(exc), [self._get(k) for k in keys]) from None
            finally:   # the inner translator's per-request outcomes, in this call's indices
                self._last.failures = {todo[i]: why for i, why in getattr(self.inner, "failures", {}).items()}
        return [self._get(k) for k in keys]
