"""torchrun: `cotnpot eval` (execution and CoTnPoT translation split across ranks) and `cotnpot generate`
(requests split across ranks) in 2 gloo processes give what one process gives; rank 0 alone writes the
outputs, each rank the cache entries of its own share."""
import json
import os
import socket
import sys
from pathlib import Path

import torch.multiprocessing as mp

sys.path.insert(0, str(Path(__file__).parent))
from fake_openai_server import FakeServer  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rank(rank, world, port, argv, codes):
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port), OMP_NUM_THREADS="1")
    from cotnpot.cli import main
    code = main(argv)
    Path(codes).joinpath(str(rank)).write_text(str(code))
    import torch.distributed
    torch.distributed.destroy_process_group()


def run_two(argv, tmp_path):
    codes = tmp_path / "codes"
    codes.mkdir(exist_ok=True)
    mp.spawn(_rank, args=(2, _free_port(), argv, str(codes)), nprocs=2, join=True)
    return [int((codes / str(r)).read_text()) for r in range(2)]


def comparable(report):
    """Everything but the times."""
    report = dict(report)
    report.pop("timings")
    return report


def test_eval_in_two_processes_equals_one(tmp_path):
    from cotnpot.cli import main
    slice_ = tmp_path / "pot.jsonl"
    slice_.write_text("\n".join((ROOT / "data" / "pot_codex_gsm8k_fewshot_greedy_outputs.jsonl")
                                .read_text().splitlines()[:24]) + "\n")
    oa = tmp_path / "oa.jsonl"
    oa.write_text("\n".join((ROOT / "data" / "gsm8k_openai_example_model_solutions.jsonl")
                            .read_text().splitlines()[:20]) + "\n")
    for name, path, extra in (("pot", slice_, []), ("oa", oa, ["--translator", "offline"])):
        base = ["eval", "--candidates", str(path), "--quiet", "--resamples", "50"] + extra
        assert main(base + ["--out", str(tmp_path / f"{name}1")]) == 0
        assert run_two(base + ["--out", str(tmp_path / f"{name}2")], tmp_path) == [0, 0]
        one = json.loads((tmp_path / f"{name}1" / "report.json").read_text())
        two = json.loads((tmp_path / f"{name}2" / "report.json").read_text())
        assert comparable(one) == comparable(two), name
        # each rank caches its own executions as they finish, into the one file: every one once
        cached = [[json.loads(line) for line in (tmp_path / f"{name}{k}" / "cache" / "executions.jsonl").open()]
                  for k in (1, 2)]
        keys = [[e["key"] for e in entries] for entries in cached]
        assert sorted(keys[0]) == sorted(keys[1]) and len(set(keys[1])) == len(keys[1]) > 0, name
        assert {e["key"]: e for e in cached[0]} == {e["key"]: e for e in cached[1]}, name


def test_code_eval_in_two_processes_equals_one_and_asks_once(tmp_path):
    """Test runs and the coder LLM's explanations split across ranks: the same report, the same requests."""
    from cotnpot.cli import main
    rows = [json.loads(line) for line in (ROOT.parent / "shared" / "data" / "mbpp_sanitized.jsonl").open()][:4]
    path = tmp_path / "code.jsonl"
    path.write_text("".join(json.dumps({"task_id": r["task_id"], "prompt": r["prompt"], "test_list": r["test_list"],
                                        "test_imports": r["test_imports"],
                                        "candidates": ["def nothing():\n    pass\n", r["code"]]}) + "\n"
                            for r in rows))
    server = FakeServer()
    try:
        base = ["eval", "--candidates", str(path), "--quiet", "--resamples", "50", "--example-filter",
                "--translator", server.url, "--translator-model", "m"]
        assert main(base + ["--out", str(tmp_path / "one")]) == 0
        asked_by_one = len(server.requests)
        assert run_two(base + ["--out", str(tmp_path / "two")], tmp_path) == [0, 0]
        asked_by_two = len(server.requests) - asked_by_one
    finally:
        server.close()
    assert asked_by_one == asked_by_two == 8   # one explanation per program, wherever it is asked for
    one = json.loads((tmp_path / "one" / "report.json").read_text())
    two = json.loads((tmp_path / "two" / "report.json").read_text())
    assert comparable(one) == comparable(two)


def test_generate_in_two_processes_equals_one(tmp_path):
    from cotnpot.cli import main
    questions = {f"What is {i} plus {i}?": str(2 * i) for i in range(1, 7)}
    problems = tmp_path / "p.jsonl"
    problems.write_text("".join(json.dumps({"question": q, "gold": a}) + "\n" for q, a in questions.items()))
    server = FakeServer(answers=questions)
    try:
        base = ["generate", "--problems", str(problems), "--server", server.url, "--model", "r", "--n", "3",
                "--seed", "0", "--quiet"]
        assert main(base + ["--out", str(tmp_path / "one.jsonl")]) == 0
        first = len(server.requests)
        assert run_two(base + ["--out", str(tmp_path / "two.jsonl")], tmp_path) == [0, 0]
        assert len(server.requests) - first == 18     # each sample asked once, by one of the two ranks
    finally:
        server.close()
    assert (tmp_path / "one.jsonl").read_text() == (tmp_path / "two.jsonl").read_text()


class _FlakyCache:
    """A cache whose first write is cut short by Ctrl-C after one line (a second Ctrl-C while the first
    unwinds)."""

    def __init__(self):
        self.entries, self.writes = {}, 0

    def add(self, entries):
        self.writes += 1
        for k, entry in enumerate(entries):
            if self.writes == 1 and k == 1:
                raise KeyboardInterrupt
            self.entries[entry["key"]] = entry


def test_a_second_ctrl_c_while_the_first_unwinds_loses_no_kept_entry():
    """Found by a reviewer: a second Ctrl-C during the final write of what a stopped share kept lost the
    entries not yet written. They leave the keeper only once written, and that write is retried."""
    from cotnpot.distributed import map_sharded_cached

    def run(share, keep):
        for key in share[:5]:
            keep({"key": key, "value": key.upper()})
        raise KeyboardInterrupt   # the first Ctrl-C, after five results

    cache = _FlakyCache()
    try:
        map_sharded_cached(run, [f"k{i}" for i in range(10)], cache)
    except KeyboardInterrupt:
        pass
    else:
        raise AssertionError("the interruption must come through")
    assert sorted(cache.entries) == [f"k{i}" for i in range(5)] and cache.writes == 2

