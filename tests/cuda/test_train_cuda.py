"""The trainer on GPUs: `cotnpot train --device cuda` in one process, equal to the same run on the CPU, and
under torchrun with NCCL (one GPU per process) equal to one process. They skip, saying why, where there is
no GPU (or, for NCCL, fewer than two: NCCL refuses two processes on one device)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from cotnpot.cli import main
from cotnpot.distributed import local_torchrun
from cotnpot.models.hf_tiny import tiny_causal_lm, train_bpe_tokenizer
from cotnpot.verifier import load_verifier

ROOT = Path(__file__).resolve().parents[2]
gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
pytestmark = pytest.mark.skipif(gpus == 0, reason="no CUDA GPU on this machine")


@pytest.fixture(scope="module")
def base_model(tmp_path_factory):
    """A tiny Llama and its tokenizer, as save_pretrained writes them."""
    questions = [json.loads(line)["question"] for line in (ROOT / "data" / "gsm8k_test.jsonl").open()][:200]
    tokenizer = train_bpe_tokenizer(questions + ["0 1 2 3 4 5 6 7 8 9 Repeat:"] * 20, vocab_size=300)
    directory = tmp_path_factory.mktemp("base")
    tiny_causal_lm("llama", tokenizer, hidden_size=32, layers=1, heads=2, kv_heads=1).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def arguments(tmp_path, base_model, objective):
    rows = (ROOT / "data" / "gsm8k_openai_example_model_solutions.jsonl").read_text().splitlines()[:24]
    (tmp_path / "c.jsonl").write_text("\n".join(rows) + "\n")
    return ["train", "--candidates", str(tmp_path / "c.jsonl"), "--model", str(base_model), "--objective",
            objective, "--batch-size", "4", "--max-length", "512", "--truncation", "truncate", "--eval-fraction",
            "0.25", "--max-steps", "3", "--lr", "1e-3", "--quiet"]


def assert_same_run(a, b, tol):
    """The same losses step by step (to 1e-3) and the same parameters (to tol: Adam's first steps move a
    parameter by about lr * sign(gradient), so one whose gradient is noise-level may differ by ~lr between
    devices)."""
    losses = [[json.loads(line)["loss"] for line in (d / "metrics.jsonl").open() if '"loss"' in line] for d in (a, b)]
    assert len(losses[0]) == 3 and losses[0] == pytest.approx(losses[1], rel=1e-3)
    got, want = (load_verifier(str(d / "verifier"))[0].state_dict() for d in (a, b))
    for name, value in want.items():
        torch.testing.assert_close(got[name].float().cpu(), value.float().cpu(), rtol=tol, atol=tol, msg=name)


@pytest.mark.parametrize("objective", ["simpo", "orm"])
def test_training_on_one_gpu_equals_the_cpu(tmp_path, base_model, objective):
    common = arguments(tmp_path, base_model, objective)
    assert main([*common, "--device", "cuda", "--micro-batch-size", "2", "--out", str(tmp_path / "gpu")]) == 0
    assert main([*common, "--device", "cpu", "--micro-batch-size", "2", "--out", str(tmp_path / "cpu")]) == 0
    assert_same_run(tmp_path / "gpu", tmp_path / "cpu", 3e-3)


@pytest.mark.skipif(gpus < 2, reason=f"NCCL needs one GPU per process; this machine has {gpus}")
@pytest.mark.parametrize("objective", ["simpo", "orm"])
def test_two_nccl_processes_train_like_one(tmp_path, base_model, objective):
    common = arguments(tmp_path, base_model, objective)
    done = subprocess.run([*local_torchrun(2),
                           "-m", "cotnpot", *common, "--device", "cuda", "--micro-batch-size", "1", "--out",
                           str(tmp_path / "nccl")],
                          env={**os.environ, "OMP_NUM_THREADS": "1", "TMPDIR": str(tmp_path)},   # torchrun's own files
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "3 steps on 2 processes (cuda:0)" in done.stdout
    assert main([*common, "--device", "cuda", "--micro-batch-size", "2", "--out", str(tmp_path / "one")]) == 0
    assert_same_run(tmp_path / "nccl", tmp_path / "one", 3e-3)
