"""Translations made elsewhere: a JSONL file of {"question", "text", "translation"} rows, matched to
requests by their question and candidate text (a request with no row gets None)."""
import hashlib
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from .. import strict_json
from .base import Request


class FileTranslator:
    template = "file"
    llm_calls = 1   # translations made elsewhere, by a model: each cost a call

    def __init__(self, path):
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"translation file not found: {self.path}")
        data = self.path.read_bytes()
        # The name keys the translation cache: with the content's hash, another file of the same name, or this
        # one edited, is not answered from the cache with the old programs.
        self.name = f"file:{self.path.name}:{hashlib.sha256(data).hexdigest()[:16]}"
        self.by_text: Dict[Tuple[str, str], str] = {}
        for number, raw in enumerate(data.split(b"\n"), start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise ValueError(f"{self.path}:{number}: not UTF-8 text ({exc})") from None
            if not line.strip():
                continue
            try:
                row = strict_json.loads(line)
                key, translation = (row["question"], row["text"]), row["translation"]
                if not all(isinstance(v, str) for v in (*key, translation)):   # a number failed in the sandbox
                    raise TypeError("question, text and translation must be strings")
                self.by_text[key] = translation
            except (ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"{self.path}:{number}: expected a JSON object with question, text and "
                                 f"translation ({exc})") from None

    def translate(self, requests: Sequence[Request]) -> List[Optional[str]]:
        return [self.by_text.get((r.question, r.text)) for r in requests]
