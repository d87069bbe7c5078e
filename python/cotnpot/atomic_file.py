"""Files replaced whole: written to a temporary file of their own in the same directory, flushed and
fsync'ed, renamed over the old one, and the directory fsync'ed. A process killed mid-write leaves the
previous file whole, a reader never sees half a file, and two writers of one path each replace it whole
(a fixed ``path.tmp`` name let one rename the other's half-written file). On an error the temporary file is
removed and the old file stays. A symbolic link's target is what is replaced; a FIFO or a device, which
cannot be, is written to directly, and so is the file this process's stdout or stderr writes to."""
import contextlib
import os
import sys
import tempfile
from pathlib import Path
from typing import Optional


def _standard_stream(path: Path) -> Optional[int]:
    """1 or 2 where ``path`` is the file that stdout or stderr writes to, else None."""
    try:
        target = os.stat(path)
    except OSError:
        return None
    for fd in (1, 2):
        try:
            stream = os.fstat(fd)
        except OSError:   # closed
            continue
        if (stream.st_dev, stream.st_ino) == (target.st_dev, target.st_ino):
            return fd
    return None


@contextlib.contextmanager
def atomic_file(path, mode: str = "w", permissions: Optional[int] = None, **open_args):
    """``open(path, mode, **open_args)`` for writing, replaced whole on success. ``mkstemp`` makes the file
    0600: ``permissions`` sets others (for outputs read by other users, as ``open`` would have made them)."""
    path = Path(path)
    stream = _standard_stream(path)
    if stream is not None:
        # "--log-samples /dev/stdout > run.log": replaced by a rename, the file lost what had been printed to it,
        # and what was printed after went to the old, unlinked file. Written through the stream's own
        # descriptor, the records land at its offset, after what was printed before them.
        for f in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                f.flush()
        with os.fdopen(os.dup(stream), mode, **open_args) as f:
            yield f
        return
    if path.is_symlink():   # the file a link names is replaced, the link kept (it had become a file of its own)
        path = Path(os.path.realpath(path))
    if path.exists() and not path.is_file() and not path.is_dir():
        # A FIFO or a device ("/dev/stdout") is written to as it is: renamed over, it had become a regular
        # file, and its reader got nothing (a reviewer).
        with open(path, mode, **open_args) as f:
            yield f
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode, **open_args) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        if permissions is not None:
            os.chmod(tmp, permissions)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
