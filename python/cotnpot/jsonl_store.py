"""Results kept across runs in one JSONL file of ``{"key": ..., ...}`` entries: the execution, translation
and verifier-score caches all store themselves this way. Entries are appended as they are made (an
interrupted run keeps what it finished); a line that does not parse (cut short by such an interruption)
is skipped, and a later entry with the same key wins."""
import contextlib
import json
import os
import tempfile
import threading
from pathlib import Path
from typing import Dict, Iterable


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


@contextlib.contextmanager
def atomic_jsonl_writer(path):
    """A text file for JSON lines, written under a temporary name of its own in the same directory and
    renamed over ``path`` once complete (fsynced): a reader never sees half a file, and two runs writing
    the same path each replace it whole (a fixed ``path.tmp`` name let one rename the other's half-written
    file). A str holding a lone surrogate is written as its JSON escape (``\\ud800``), which reads back as
    the same str, instead of failing to encode. On an error the temporary file is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", errors="backslashreplace") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
