"""Results kept across runs in one JSONL file of ``{"key": ..., ...}`` entries: the execution, translation
and verifier-score caches all store themselves this way. Entries are appended as they are made (an
interrupted run keeps what it finished); a line that does not parse (cut short by such an interruption)
is skipped, and a later entry with the same key wins."""
import json
import os
import threading
from pathlib import Path
from typing import Dict, Iterable

from .atomic_file import atomic_file


class JsonlStore:
    def __init__(self, path):
        self.path = Path(path)
        self.entries: Dict[str, dict] = {}
        self._lock = threading.Lock()   # translators save batches from several threads
        if self.path.is_file():
            for line in self.path.read_text(encoding="utf-8", errors="replace").splitlines():
                try:
                    entry = json.loads(line)
                    self.entries[entry["key"]] = entry
                except (ValueError, KeyError, TypeError):
                    continue

    def add(self, entries: Iterable[dict]) -> None:
        """Appends the entries with one write on an O_APPEND descriptor per entry, so processes sharing
        the file (torchrun ranks) never interleave within a line."""
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                for entry in entries:
                    self.entries[entry["key"]] = entry
                    data = (json.dumps(entry) + "\n").encode("utf-8", "surrogatepass")
                    written = os.write(fd, data)
                    while written < len(data):   # a short write (rare): finish it
                        written += os.write(fd, data[written:])
            finally:
                os.close(fd)


def atomic_jsonl_writer(path):
    """A text file for JSON lines, replaced whole (:func:`cotnpot.atomic_file.atomic_file`). A str holding a
    lone surrogate is written as its JSON escape (``\\ud800``), which reads back as the same str, instead of
    failing to encode."""
    return atomic_file(path, "w", permissions=0o644, encoding="utf-8", errors="backslashreplace")
