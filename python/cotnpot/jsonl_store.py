"""Results kept across runs in one JSONL file of ``{"key": ..., ...}`` entries: the execution, translation
and verifier-score caches all store themselves this way. Entries are appended as they are made (an
interrupted run keeps what it finished); a line that does not parse (cut short by such an interruption)
is skipped, and a later entry with the same key wins. So is an entry that the store's ``valid(entry)``
refuses (a field of the wrong type, by hand or by another tool): it had crashed every rerun with a TypeError
(a breaker); it is counted in ``skipped`` and made again.

A cache is worth its results only: with ``best_effort`` (the execution, suite, score and translation caches),
a write the file system refuses (a full disk, a quota, a read-only or vanished directory) warns once and the
store goes on in memory, so a long run is not lost to its cache. A store that *is* the output (``cotnpot
generate``'s samples) raises instead."""
import json
import os
import threading
import warnings
from pathlib import Path
from typing import Callable, Dict, Iterable, Optional

from . import strict_json
from .atomic_file import atomic_file


class JsonlStore:
    def __init__(self, path, valid: Optional[Callable[[dict], bool]] = None, best_effort: bool = False):
        self.path = Path(path)
        self.entries: Dict[str, dict] = {}
        self.skipped = 0   # lines that did not parse or that `valid` refused
        self.best_effort = best_effort
        self.write_error: Optional[OSError] = None   # the refused write that ended a best-effort store's saving
        self._lock = threading.Lock()   # translators save batches from several threads
        if self.path.is_file():
            for line in self.path.read_text(encoding="utf-8", errors="replace").splitlines():
                try:
                    entry = strict_json.loads(line)
                    if not isinstance(entry["key"], str) or (valid is not None and not valid(entry)):
                        raise TypeError(entry)
                    self.entries[entry["key"]] = entry
                except (ValueError, KeyError, TypeError):
                    self.skipped += bool(line.strip())
                    continue

    def add(self, entries: Iterable[dict]) -> None:
        """Appends the entries with one write on an O_APPEND descriptor per entry, so processes sharing
        the file (torchrun ranks) never interleave within a line. An entry is kept in memory only once it is
        written, or once a best-effort store has stopped saving."""
        with self._lock:
            entries = list(entries)
            for entry in entries:
                if not isinstance(entry, dict) or "key" not in entry:
                    raise ValueError(f"JsonlStore.add: each entry must be a dict with a 'key', got {entry!r:.200}")
            if self.write_error is not None:   # saving stopped: the run goes on in memory
                self.entries.update((entry["key"], entry) for entry in entries)
                return
            try:
                self._append(entries)
            except OSError as exc:
                if not self.best_effort:
                    raise
                self.write_error = exc
                warnings.warn(f"cache {self.path}: {exc.strerror or exc}; this run goes on without saving to it "
                              "(what it saved so far stays; a rerun makes the rest again)",
                              RuntimeWarning, stacklevel=2)
                self.entries.update((entry["key"], entry) for entry in entries)

    def _append(self, entries) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            # A line cut short by an interrupted run, or a file written without a final newline, would
            # swallow the first entry appended after it (found by a breaker): start on a line of its own.
            size = os.fstat(fd).st_size
            on_new_line = size == 0 or os.pread(fd, 1, size - 1) == b"\n"
            for entry in entries:
                data = (json.dumps(entry) + "\n").encode("utf-8", "surrogatepass")
                if not on_new_line:
                    data, on_new_line = b"\n" + data, True
                written = os.write(fd, data)
                while written < len(data):   # a short write (rare): finish it
                    written += os.write(fd, data[written:])
                self.entries[entry["key"]] = entry
        finally:
            os.close(fd)


def atomic_jsonl_writer(path):
    """A text file for JSON lines, replaced whole (:func:`cotnpot.atomic_file.atomic_file`). A str holding a
    lone surrogate is written as its JSON escape (``\\ud800``), which reads back as the same str, instead of
    failing to encode."""
    return atomic_file(path, "w", permissions=0o644, encoding="utf-8", errors="backslashreplace")
