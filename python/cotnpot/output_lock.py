"""One run at a time per output directory: an advisory lock (``flock``) on a file in it, held while the
returned file is open (the run closes it at its end; a killed process's lock ends with it). Two ``cotnpot
train`` runs into one ``--out`` had both run to the end, their metrics rows interleaved and the verifier,
checkpoint and pair files each of whichever wrote last (a breaker)."""
import fcntl
import os
from pathlib import Path
from typing import IO

LOCK_NAME = ".cotnpot.lock"


class OutputInUse(RuntimeError):
    """Another process holds the directory's lock."""


def hold_output_lock(directory: Path, command: str) -> IO:
    """Takes ``directory``'s lock or raises :class:`OutputInUse` naming the holder's pid. Keep the returned
    file open for as long as the run writes there and close it at the end: the lock ends with it (and with the
    process, however it ends: no stale lock after a kill)."""
    path = Path(directory) / LOCK_NAME
    f = open(path, "a+", encoding="utf-8")
    try:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.seek(0)
        holder = f.read().strip() or "unknown"
        f.close()
        raise OutputInUse(f"{directory} is in use by another {command} (pid {holder}); wait for it to end, or "
                          f"write to another directory") from None
    f.seek(0)
    f.truncate()
    f.write(f"{os.getpid()}\n")
    f.flush()
    return f
