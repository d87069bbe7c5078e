"""An on-disk translation cache: a translation is made once per (model, template, request) and shared
by every later run. One JSONL file, appended as translations finish (so an interrupted run keeps them)."""
import hashlib
import json
import threading
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from .base import Request
from .openai_client import TranslationServerError


class CachedTranslator:
    def __init__(self, inner, path):
        self.inner = inner
        self.name, self.template = inner.name, inner.template
        self.path = Path(path)
        self.entries: Dict[str, str] = {}
        self._lock = threading.Lock()
        if self.path.is_file():
            for line in self.path.read_text(encoding="utf-8", errors="replace").splitlines():
                try:
                    entry = json.loads(line)
                    self.entries[entry["key"]] = entry["translation"]
                except (ValueError, KeyError, TypeError):
                    continue   # a line cut short by an interrupted run

    def key(self, r: Request) -> str:
        text = "\0".join([self.name, self.template, r.kind, r.question, r.text])
        return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()

    def _save(self, keys: List[str], texts: List[Optional[str]]) -> None:
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as f:
                for k, t in zip(keys, texts):
                    if t is not None:
                        self.entries[k] = t
                        f.write(json.dumps({"key": k, "model": self.name, "translation": t}) + "\n")

    def translate(self, requests: Sequence[Request]) -> List[Optional[str]]:
        keys = [self.key(r) for r in requests]
        todo = [i for i, k in enumerate(keys) if k not in self.entries]
        self.misses = len(todo)
        if todo:
            asked = [requests[i] for i in todo]
            try:
                if getattr(self.inner, "reports_batches", False):   # saved batch by batch as they finish
                    self.inner.translate(asked, on_done=lambda idx, texts: self._save([keys[todo[i]] for i in idx],
                                                                                       texts))
                else:
                    self._save([keys[i] for i in todo], self.inner.translate(asked))
            except TranslationServerError as exc:   # what finished is saved; hand it back with the error
                raise TranslationServerError(str(exc), [self.entries.get(k) for k in keys]) from None
        return [self.entries.get(k) for k in keys]
