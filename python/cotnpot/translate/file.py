"""Translations made elsewhere: a JSONL file of {"question", "text", "translation"} rows, matched to
requests by their question and candidate text (a request with no row gets None)."""
import json
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from .base import Request


class FileTranslator:
    template = "file"
    llm_calls = 1   # translations made elsewhere, by a model: each cost a call

    def __init__(self, path):
        self.path = Path(path)
        self.name = f"file:{self.path.name}"
        if not self.path.is_file():
            raise FileNotFoundError(f"translation file not found: {self.path}")
        self.by_text: Dict[Tuple[str, str], str] = {}
        for number, line in enumerate(self.path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                key, translation = (row["question"], row["text"]), row["translation"]
                if not all(isinstance(v, str) for v in (*key, translation)):   # a number failed in the sandbox
                    raise TypeError("question, text and translation must be strings")
                self.by_text[key] = translation
            except (ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"{self.path}:{number}: expected a JSON object with question, text and "
                                 f"translation ({exc})") from None

    def translate(self, requests: Sequence[Request]) -> List[Optional[str]]:
        return [self.by_text.get((r.question, r.text)) for r in requests]
