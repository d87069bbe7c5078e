"""Several processes, one result: under ``torchrun`` each rank takes every ``world``-th item of a list
(so every rank gets a mix of short and long work), and the results are gathered in order on every rank.
torch.distributed is the one engine (gloo for the CPU work here: execution, translation, sampling; the
verifier's scoring uses the same split). In one process everything runs locally, unchanged.

    cotnpot.distributed.init_from_env()          # the CLI does this: a process group when WORLD_SIZE > 1
    answers = map_sharded(lambda share: [run(x) for x in share], programs)
"""
import hashlib
import os
import time
from typing import Callable, Dict, List, Optional, Sequence, Tuple, TypeVar

import torch

T = TypeVar("T")
R = TypeVar("R")


def _dist():
    d = torch.distributed
    return d if d.is_available() and d.is_initialized() else None


def rank_and_world() -> Tuple[int, int]:
    d = _dist()
    return (d.get_rank(), d.get_world_size()) if d else (0, 1)


def is_main() -> bool:
    return rank_and_world()[0] == 0


def local_device(spec: str = "auto") -> torch.device:
    """The device this process trains on: ``"auto"`` is CUDA device ``LOCAL_RANK`` (0 outside torchrun)
    where torch sees a GPU, else the CPU; ``"cuda"`` is that GPU or an error; ``"cpu"`` or ``"cuda:N"`` as
    given."""
    if not isinstance(spec, str):
        raise TypeError(f"device must be a string such as 'auto', 'cpu' or 'cuda', got {type(spec).__name__}")
    if spec == "auto":
        spec = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(spec)
    except RuntimeError as error:
        raise ValueError(f"device {spec!r} is not a device torch knows ({error})") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {spec!r}: torch sees no CUDA GPU here (torch {torch.__version__}, built for "
                             f"CUDA {torch.version.cuda})")
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        if device.index is None:
            device = torch.device("cuda", local_rank)
        elif int(os.environ.get("WORLD_SIZE", "1")) > 1 and device.index != local_rank:
            raise ValueError(f"device {spec!r}: under torchrun each process takes GPU LOCAL_RANK (here "
                             f"{local_rank}); NCCL refuses two processes on one GPU: give 'cuda' or 'auto'")
        if device.index >= torch.cuda.device_count():
            raise ValueError(f"device {spec!r}: CUDA device {device.index} asked for (LOCAL_RANK "
                             f"{os.environ.get('LOCAL_RANK', 'unset')}), but this machine has "
                             f"{torch.cuda.device_count()}")
    return device


def init_from_env(device: Optional[torch.device] = None) -> bool:
    """Joins the process group torchrun describes (``WORLD_SIZE`` > 1 in the environment); returns whether
    this process is one of several. Gloo for CPU tensors and Python objects; with a CUDA ``device`` (the
    trainer's), NCCL for that device's tensors too, the device made current first (NCCL binds to it)."""
    if _dist() is not None:
        return rank_and_world()[1] > 1
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return False
    if device is not None and torch.device(device).type == "cuda":
        torch.cuda.set_device(device)
        torch.distributed.init_process_group("cpu:gloo,cuda:nccl")
    else:
        torch.distributed.init_process_group("gloo")
    return True


def local_torchrun(processes: int) -> List[str]:
    """The command line that starts ``processes`` processes on this machine under torchrun (append ``-m
    cotnpot train ...`` or a script): rendezvous at 127.0.0.1 on a free port. ``--standalone`` asks for
    "localhost", which a minimal system without /etc/hosts cannot resolve (torchrun then waits forever)."""
    import socket
    import sys
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc-per-node", str(processes),
            "--master-addr", "127.0.0.1", "--master-port", str(port)]


def _fingerprint(items: Sequence) -> Tuple[int, str]:
    digest = hashlib.sha256()
    for item in items:
        digest.update(repr(item).encode("utf-8", "surrogatepass"))
        digest.update(b"\0")
    return len(items), digest.hexdigest()


def from_main(value):
    """Rank 0's ``value`` on every process (``value`` itself in one process): a decision only rank 0 can make
    (a lock it took) taken by all, so that none goes on alone into a collective."""
    if _dist() is None:
        return value
    box = [value]
    torch.distributed.broadcast_object_list(box, src=0)
    return box[0]


def barrier() -> None:
    """Waits for every process (a no-op in one process)."""
    if _dist() is not None:
        torch.distributed.barrier()


def my_share(n: int) -> List[int]:
    """This rank's indices of a list of n items: every world-th, starting at the rank."""
    rank, world = rank_and_world()
    return list(range(rank, n, world))


def map_sharded(fn: Callable[[List[T]], Sequence[R]], items: Sequence[T]) -> List[R]:
    """``fn`` on this rank's share of ``items`` (one result per item), gathered in order on every rank.
    An exception on any rank is raised on every rank (no rank is left waiting for the others)."""
    rank, world = rank_and_world()
    if world == 1:
        return list(fn(list(items)))
    # Every rank must pass the same list (each indexes it by the others' positions): a fingerprint first.
    fingerprints: List = [None] * world
    torch.distributed.all_gather_object(fingerprints, _fingerprint(items))
    if len(set(fingerprints)) != 1:
        raise RuntimeError(f"map_sharded: the processes hold different work lists ({len(set(fingerprints))} "
                           f"versions, lengths {sorted({f[0] for f in fingerprints})}); every rank must build the same")
    mine = my_share(len(items))
    failure = None
    try:
        local = list(fn([items[i] for i in mine]))
        if len(local) != len(mine):
            raise RuntimeError(f"map_sharded: {len(local)} results for {len(mine)} items on rank {rank}")
        payload = ("ok", list(zip(mine, local)))
    except Exception as exc:   # noqa: BLE001 - re-raised below, on every rank
        failure = exc
        payload = ("error", f"rank {rank}: {type(exc).__name__}: {exc}")
    gathered: List = [None] * world
    torch.distributed.all_gather_object(gathered, payload)
    if failure is not None:   # the rank that failed raises its own exception, with its type and data
        raise failure
    errors = [p[1] for p in gathered if p[0] == "error"]
    if errors:
        raise RuntimeError("another process failed: " + "; ".join(errors))
    out: List = [None] * len(items)
    for _, part in gathered:
        for i, value in part:
            out[i] = value
    return out


def starved(result) -> bool:
    """Whether a job's timeout says more of the machine than of the program: it used under 90% of its time on
    the CPU (other processes had the CPU, or it slept or waited). A program that takes 4.1 s alone timed out
    at 5 s beside two busy workers (a new user's warm demo), and cached, it was wrong in every later run.
    ``cpu_s`` counts the job's process and what it waited for: a job whose CPU time is in processes it did not
    wait for looks starved (it is run again: time, not a wrong answer), and one whose threads share a starved
    CPU can look busy."""
    if result.status != "timeout":
        return False
    cpu, wall = getattr(result, "cpu_s", None), getattr(result, "wall_s", None)   # None: a stand-in's result
    return cpu is not None and wall is not None and cpu < 0.9 * wall


def timeout_marks(result) -> dict:
    """What a cache entry of a finished job records beside its status: for a timeout, whether it was
    :func:`starved` (which :func:`cacheable` reads)."""
    return {"starved": starved(result)} if result.status == "timeout" else {}


def cacheable(entry: dict) -> bool:
    """Whether a finished entry is kept across runs: not when the sandbox failed rather than the program (its
    worker was killed under it, say by the OOM killer, or could not start): cached, such a candidate failed in
    every rerun; nor a timeout of a job that was :func:`starved` (``"starved"`` in the entry), nor one an older
    version cached without saying (run once more: it may be one of those)."""
    if entry.get("status") == "timeout":
        return entry.get("starved") is False
    return entry.get("status") != "sandbox_error"


class _Keeper:
    """This process's finished entries, appended to the cache at most about once a second and when its
    share ends, however it ends: what a stopped run (Ctrl-C, an error) finished is not run again."""

    def __init__(self, cache):
        self.cache, self.waiting, self.kept, self.last = cache, [], set(), time.monotonic()

    def keep(self, entry: dict) -> None:
        if self.cache is None or entry["key"] in self.kept or not cacheable(entry):
            return
        self.kept.add(entry["key"])
        self.waiting.append(entry)
        if time.monotonic() - self.last >= 1.0:
            self.flush()

    def flush(self) -> None:
        # Written before they leave the list: a Ctrl-C mid-write (a second one, while the first unwinds)
        # loses none of them; run_share then writes them again (a later line with the same key wins).
        if self.waiting:
            self.cache.add(self.waiting)
        self.waiting, self.last = [], time.monotonic()


def map_sharded_cached(run: Callable[[List[str], Callable[[dict], None]], Sequence[dict]], keys: Sequence[str],
                       cache=None) -> Tuple[Dict[str, dict], int]:
    """The entries of ``keys`` (duplicates once): those ``cache`` (a :class:`cotnpot.jsonl_store.JsonlStore`)
    holds, the others from ``run(share_of_keys, keep)`` -- one entry with its ``"key"`` per key, each rank
    running its share. ``run`` may pass each entry to ``keep`` as it is made: each rank adds its own to the
    cache as they come (JsonlStore appends whole lines, so ranks share the file), and the entries of a run
    that raises (Ctrl-C) are kept up to there; those not passed are added when the share is done; entries
    that are not :func:`cacheable` never are. Returns every entry by key and how many keys were run."""
    # (a sandbox failure an older version cached is run again too)
    known = {k: e for k, e in cache.entries.items() if cacheable(e)} if cache is not None else {}
    todo = [k for k in dict.fromkeys(keys) if k not in known]
    keeper = _Keeper(cache)

    def run_share(share: List[str]) -> Sequence[dict]:
        try:
            entries = run(share, keeper.keep)
            for entry in entries:
                keeper.keep(entry)
        except BaseException:
            for _ in range(3):   # a second Ctrl-C while the first unwinds waits for the write (found by a reviewer)
                try:
                    keeper.flush()
                    break
                except KeyboardInterrupt:
                    continue
            raise
        keeper.flush()
        return entries

    fresh = map_sharded(run_share, todo)
    if cache is not None:   # the other ranks' entries, which they wrote, in this process's view too
        cache.entries.update((e["key"], e) for e in fresh if cacheable(e))
    barrier()   # no rank reads the cache file again before every rank has written its share
    return {**known, **{e["key"]: e for e in fresh}}, len(todo)
