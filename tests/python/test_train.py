"""Verifier training: pairs (counts, dedup, no leakage), the collator, gradient accumulation equal to one
big batch, exact resume after a stop, atomic checkpoints, DPO's cached reference, a SimPO run that learns,
ORM scoring through `cotnpot eval`, and bad input."""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from cotnpot.answer import group_answers
from cotnpot.cli import main
from cotnpot.distributed import local_torchrun
from cotnpot.pipeline.data import Candidate, CandidateTable, Problem, load_candidates
from cotnpot.models.hf_tiny import tiny_causal_lm, train_bpe_tokenizer
from cotnpot.train import (PreferenceCollator, PreferencePair, TrainConfig, VerifierTrainer, build_pairs,
                           pairs_from_rows, read_pairs, split_by_problem, write_pairs)
from cotnpot.train import checkpoint
from cotnpot.verifier import HFTokenizer, load_verifier, prompt_for

ROOT = Path(__file__).resolve().parents[2]



def problem(pid, labeled):
    return Problem(pid, f"question {pid}", "1", [Candidate(text, label=label) for text, label in labeled])


# ---- pairs -------------------------------------------------------------------------------------------------


def test_all_correct_times_wrong_with_duplicates_removed_and_stats():
    table = CandidateTable("test", "test", [
        problem("a", [("r1", True), ("r2", True), ("w1", False), ("r1 ", True), ("w2", False), ("w3", False)]),
        problem("b", [("r", True), ("r", True)]),          # no wrong solution
        problem("c", [("w", False)]),                      # no correct solution
        problem("d", [("x", True), ("x", False), ("y", False)]),   # "x" labeled both ways: wrong
    ])
    pairs, stats = build_pairs(table)
    assert [(p.problem_id, p.chosen, p.rejected) for p in pairs if p.problem_id == "a"] == [
        ("a", c, w) for c in ("r1", "r2") for w in ("w1", "w2", "w3")]
    assert not [p for p in pairs if p.problem_id == "d"]
    assert (stats.problems, stats.problems_used, stats.pairs) == (4, 1, 6)
    assert (stats.correct, stats.wrong, stats.duplicates_removed) == (2 + 1 + 0 + 0, 3 + 0 + 1 + 2, 3)
    assert (stats.problems_without_correct, stats.problems_without_wrong) == (2, 1)
    assert stats.skipped_problem_ids == ["b", "c", "d"]
    assert stats.per_problem()["pairs"] == 6.0
    assert "3 duplicates removed" in stats.summary()


def test_pairs_keep_texts_as_the_verifier_scores_them():
    """Left by the previous stop: pairs held stripped texts while scoring reads them as they are, so a
    HumanEval completion trained without its first indentation (and a trailing newline's token was never
    trained). The first copy's text is kept; copies that differ in surrounding whitespace are still one."""
    body, wrong = "    return a + b\n", "    return a - b\n"
    table = CandidateTable("test", "test", [problem("a", [(body, True), (body.strip(), True), (wrong, False)])])
    pairs, stats = build_pairs(table)
    assert [(p.chosen, p.rejected) for p in pairs] == [(body, wrong)] and stats.duplicates_removed == 1


def test_k_pairs_per_problem_are_seeded():
    table = CandidateTable("test", "test", [problem("a", [(f"r{i}", True) for i in range(4)] + [(f"w{i}", False) for i in range(5)])])
    first, _ = build_pairs(table, pairs_per_problem=3, seed=1)
    again, _ = build_pairs(table, pairs_per_problem=3, seed=1)
    other, _ = build_pairs(table, pairs_per_problem=3, seed=2)
    assert len(first) == 3 and first == again and first != other
    assert len(set(first)) == 3


def test_real_candidate_file_pairs_and_split_by_problem():
    table = load_candidates(ROOT / "data" / "gsm8k_openai_example_model_solutions.jsonl")
    pairs, stats = build_pairs(table)
    # Recount independently: per problem, distinct correct x distinct wrong texts.
    want = 0
    for p in table.problems:
        texts = {}
        for c in p.candidates:
            texts[c.text.strip()] = texts.get(c.text.strip(), True) and c.label
        want += sum(texts.values()) * (len(texts) - sum(texts.values()))
    assert stats.pairs == len(pairs) == want > 1000
    train, held_out = split_by_problem(pairs, eval_fraction=0.2, seed=0)
    assert len(train) + len(held_out) == len(pairs)
    assert not {p.problem_id for p in train} & {p.problem_id for p in held_out}
    assert 0.1 < len({p.problem_id for p in held_out}) / stats.problems_used < 0.3


def test_trl_rows_round_trip_and_bad_rows(tmp_path):
    pairs = [PreferencePair("p", "q?", "good", "bad"), PreferencePair("r", "q2?", "g2", "b2")]
    write_pairs(pairs, tmp_path / "pairs.jsonl")
    assert read_pairs(tmp_path / "pairs.jsonl") == pairs
    rows = [{"prompt": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "q?"}],
             "chosen": [{"role": "assistant", "content": "good"}], "rejected": "bad"}]
    assert pairs_from_rows(rows) == [PreferencePair("q?", "q?", "good", "bad")]
    datasets = pytest.importorskip("datasets")
    assert pairs_from_rows(datasets.Dataset.from_list([{"prompt": "q", "chosen": "a", "rejected": "b"}]))[0].chosen == "a"
    with pytest.raises(ValueError, match="row 0 lacks rejected"):
        pairs_from_rows([{"prompt": "q", "chosen": "a"}])
    (tmp_path / "bad.jsonl").write_text('{"prompt": "q", "chosen": "a", "rejected": "b"}\n{oops\n')
    with pytest.raises(ValueError, match=r"bad.jsonl:2: not a JSON object"):
        read_pairs(tmp_path / "bad.jsonl")
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(ValueError, match="no pairs in the file"):
        read_pairs(tmp_path / "empty.jsonl")


def test_unlabeled_candidates_are_refused():
    with pytest.raises(ValueError, match="problem 'a', candidate 1: no correctness label"):
        build_pairs(CandidateTable("test", "test", [problem("a", [("x", True), ("y", None)])]))


# ---- a tiny model and its tokenizer --------------------------------------------------------------------------

QUESTIONS = [json.loads(line)["question"] for line in (ROOT / "data" / "gsm8k_test.jsonl").open()][:200]


@pytest.fixture(scope="module")
def tokenizer():
    return train_bpe_tokenizer(QUESTIONS + ["0 1 2 3 4 5 6 7 8 9 Repeat:"] * 20, vocab_size=300)


def small_pairs(n=12):
    g = torch.Generator().manual_seed(0)
    out = []
    for i in range(n):
        a, b = torch.randint(10, 99, (2,), generator=g).tolist()
        out.append(PreferencePair(f"p{i % 6}", f"What is {a} + {b}?", f"{a} + {b} = {a + b}. The answer is {a + b}.",
                                  f"{a} + {b} = {a + b + 1}. The answer is {a + b + 1}."))
    return out


def trainer_for(tokenizer, tmp_path, **overrides):
    model = tiny_causal_lm("llama", tokenizer, hidden_size=32, layers=1, heads=2, kv_heads=1).double()
    config = TrainConfig(**{"batch_size": 4, "micro_batch_size": 4, "max_length": 128, "progress": False,
                            "lr": 1e-3, "warmup_steps": 1, **overrides})
    return VerifierTrainer(model, HFTokenizer(tokenizer), config, tmp_path)


def save_base_model(tokenizer, directory):
    """A tiny Llama and its tokenizer as save_pretrained writes them: what --model and load_verifier take."""
    tiny_causal_lm("llama", tokenizer, hidden_size=32, layers=1, heads=2, kv_heads=1).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def openai_candidates(path, problems):
    """The first problems of OpenAI's GSM8K example solutions, as a candidate file."""
    rows = (ROOT / "data" / "gsm8k_openai_example_model_solutions.jsonl").read_text().splitlines()[:problems]
    path.write_text("\n".join(rows) + "\n")


def parameters(trainer):
    state = {k: v.detach().clone() for k, v in trainer.model.state_dict().items()}
    if trainer.head is not None:
        state.update({f"head.{k}": v.detach().clone() for k, v in trainer.head.state_dict().items()})
    return state


def test_collator_masks_the_prompt_and_truncates_by_policy(tokenizer):
    tok = HFTokenizer(tokenizer)
    pair = PreferencePair("p", "What is 2 + 3?", "2 + 3 = 5.", "2 + 3 = 6, so 6.")
    batch = PreferenceCollator(tok, max_length=64)([pair])
    head = tokenizer(prompt_for(pair.prompt))["input_ids"]
    assert batch.input_ids.shape[0] == 2 and batch.labels[0, :len(head)].eq(-100).all()
    chosen_ids = tokenizer(pair.chosen, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    assert batch.labels[0, len(head):len(head) + len(chosen_ids)].tolist() == chosen_ids
    assert batch.attention_mask[0].sum() == len(head) + len(chosen_ids)
    short = len(head) + 2
    with pytest.raises(ValueError, match=f"pair of problem 'p' \\(chosen\\): .* more than max_length {short}"):
        PreferenceCollator(tok, max_length=short)([pair])
    cut = PreferenceCollator(tok, max_length=short, truncation="truncate")
    assert cut([pair]).input_ids.shape[1] == short and cut.truncated == 2
    with pytest.raises(ValueError, match="the prompt alone has"):
        PreferenceCollator(tok, max_length=len(head), truncation="truncate")([pair])


@pytest.mark.parametrize("objective", ["simpo", "orm", "dpo"])
def test_gradient_accumulation_equals_one_big_batch(tokenizer, tmp_path, objective):
    pairs = small_pairs(8)
    big = trainer_for(tokenizer, tmp_path / "big", objective=objective, max_steps=2)
    small = trainer_for(tokenizer, tmp_path / "small", objective=objective, max_steps=2, micro_batch_size=1)
    before = parameters(big)
    big.train(pairs)
    small.train(pairs)
    after_big, after_small = parameters(big), parameters(small)
    assert any(not torch.equal(before[k], after_big[k]) for k in before)
    for name in after_big:
        torch.testing.assert_close(after_small[name], after_big[name], rtol=1e-9, atol=1e-11, msg=name)


def test_a_model_whose_head_is_frozen_trains_through_the_frozen_head_op(tokenizer, tmp_path, monkeypatch):
    """A head the caller froze (as LoRA leaves it) stays as it was, and the packed layout's fused log-probs
    take the frozen-head form (no GEMM in its backward; float32: the CPU form): the first step's gradients of
    every other parameter equal those with the head trainable (gradient clipping off: the head's gradient would
    enter its norm)."""
    import cotnpot.fused
    taken = []
    choose = cotnpot.fused._only_hidden_needs_a_gradient
    monkeypatch.setattr(cotnpot.fused, "_only_hidden_needs_a_gradient",
                        lambda *a: taken.append(choose(*a)) or taken[-1])

    def first_step_gradients(trainer):
        grads = {}
        trainer.optimizer.register_step_pre_hook(lambda *_: grads.update(
            {k: p.grad.clone() for k, p in trainer.model.named_parameters() if p.grad is not None}))
        trainer.train(small_pairs(4))
        return grads

    trainers = {}
    for name in ("frozen", "trainable"):
        trainers[name] = trainer_for(tokenizer, tmp_path / name, max_steps=1, max_grad_norm=1e30)
        trainers[name].model.float()
    trainers["frozen"].model.lm_head.weight.requires_grad_(False)
    head_before = trainers["frozen"].model.lm_head.weight.detach().clone()
    frozen = first_step_gradients(trainers["frozen"])
    assert True in taken
    taken.clear()
    trainable = first_step_gradients(trainers["trainable"])
    assert taken and True not in taken
    assert torch.equal(trainers["frozen"].model.lm_head.weight, head_before) and "lm_head.weight" not in frozen
    assert "lm_head.weight" in trainable and set(frozen) == set(trainable) - {"lm_head.weight"}
    assert len(frozen) >= 5
    for name in frozen:
        assert frozen[name].abs().max() > 0, name
        torch.testing.assert_close(frozen[name], trainable[name], rtol=1e-4, atol=1e-6, msg=name)


@pytest.mark.parametrize("objective, stop_at", [("simpo", 1), ("simpo", 3), ("orm", 5), ("dpo", 4)])
def test_resume_after_a_stop_gives_the_same_parameters(tokenizer, tmp_path, objective, stop_at):
    pairs = small_pairs(12)   # 6 steps in all: stops inside the first and the second epoch
    straight = trainer_for(tokenizer, tmp_path / "straight", objective=objective, epochs=2)
    straight.train(pairs)
    first = trainer_for(tokenizer, tmp_path / "stopped", objective=objective, epochs=2)
    first.train(pairs, stop_at_step=stop_at)
    assert first.step == stop_at
    resumed = trainer_for(tokenizer, tmp_path / "stopped", objective=objective, epochs=2)
    resumed.train(pairs, resume=True)
    assert resumed.step == straight.step == 6
    a, b = parameters(straight), parameters(resumed)
    for name in a:
        assert torch.equal(a[name], b[name]), name
    steps = [json.loads(line)["step"] for line in (tmp_path / "stopped" / "metrics.jsonl").open()]
    assert steps == list(range(1, 7))


def test_resume_from_an_earlier_checkpoint_drops_the_replayed_rows(tokenizer, tmp_path):
    """A process killed after step 3 with its last checkpoint at step 2 replays step 3: its row once."""
    pairs = small_pairs(12)
    first = trainer_for(tokenizer, tmp_path, epochs=2, checkpoint_every=2)
    first.train(pairs, stop_at_step=2)
    saved = (tmp_path / "checkpoint.pt").read_bytes()
    again = trainer_for(tokenizer, tmp_path, epochs=2, checkpoint_every=2)
    again.train(pairs, resume=True, stop_at_step=3)
    (tmp_path / "checkpoint.pt").write_bytes(saved)   # as if killed before step 3's checkpoint
    last = trainer_for(tokenizer, tmp_path, epochs=2, checkpoint_every=2)
    last.train(pairs, resume=True)
    steps = [json.loads(line)["step"] for line in (tmp_path / "metrics.jsonl").open()]
    assert steps == list(range(1, 7))


@pytest.mark.parametrize("change, message", [
    ("other pairs", "12 pairs, here 10"),
    ("same number, other pairs", "12 pairs here too, but not the same ones in the same order"),
    ("same pairs, other order", "12 pairs here too, but not the same ones in the same order"),
    ("lr", "lr 0.001 -> 0.002"),
    ("seed", "seed 0 -> 1"),
    ("batch_size", "batch_size 4 -> 2"),
])
def test_resume_refuses_another_runs_pairs_or_options(tokenizer, tmp_path, change, message):
    """Found by a breaker: --resume with other candidates (or another split seed, or another learning rate)
    went on silently from the checkpoint's position, in an order and schedule that belong to another run.
    The checkpoint keeps the pairs' fingerprint and the options; a resume that differs is refused, naming
    what differs, and leaves the checkpoint as it was."""
    pairs = small_pairs(12)
    first = trainer_for(tokenizer, tmp_path, epochs=2)
    first.train(pairs, stop_at_step=2)
    saved = (tmp_path / "checkpoint.pt").read_bytes()
    options = {"epochs": 2}
    if change == "other pairs":
        pairs = pairs[:10]
    elif change == "same number, other pairs":
        pairs = pairs[:11] + small_pairs(13)[12:]
    elif change == "same pairs, other order":
        pairs = pairs[1:] + pairs[:1]
    else:
        options[change] = {"lr": 2e-3, "seed": 1, "batch_size": 2}[change]
    again = trainer_for(tokenizer, tmp_path, **{"micro_batch_size": 2, **options})
    with pytest.raises(ValueError, match=re.escape(message)) as caught:
        again.train(pairs, resume=True)
    assert str(tmp_path / "checkpoint.pt") in str(caught.value)
    assert (tmp_path / "checkpoint.pt").read_bytes() == saved and again.step == 0


def test_resume_may_change_how_the_steps_run(tokenizer, tmp_path):
    """micro_batch_size, checkpoint_every and progress change how the same steps run: a resume with other
    values goes on, to the same parameters as a run that never stopped (to rounding: micro-batches add the
    step's gradient in another order). (epochs may change too: test_orm_run_resumes_through_the_cli.)"""
    pairs = small_pairs(12)
    straight = trainer_for(tokenizer, tmp_path / "straight", epochs=2)
    straight.train(pairs)
    first = trainer_for(tokenizer, tmp_path / "stopped", epochs=2)
    first.train(pairs, stop_at_step=2)
    resumed = trainer_for(tokenizer, tmp_path / "stopped", epochs=2, micro_batch_size=2, checkpoint_every=1)
    resumed.train(pairs, resume=True)
    assert resumed.step == straight.step == 6
    a, b = parameters(straight), parameters(resumed)
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=1e-9, atol=1e-12, msg=name)


def test_after_a_too_long_pair_the_resume_may_raise_max_length_or_truncate(tokenizer, tmp_path):
    """Found by a reviewer: the fix the trainer's own error suggests ("raise it, or truncation='truncate'")
    was refused on resume. A run with truncation="error" truncated nothing, so a longer max_length and
    truncation may change then, and a shorter max_length may not (a breaker: it cut pairs whose DPO references
    were of the whole pairs); after a run that truncated, max_length may not change (it would change what
    earlier steps trained on). A too-long pair is refused before the first step (check_start), even where an
    epoch's order meets it only in its third step: nothing of the run is written."""
    pairs = small_pairs(12)
    last_step = torch.randperm(12, generator=torch.Generator().manual_seed(0)).tolist()[8:]   # epoch 0's order
    for i in last_step:   # too long, and met only in the third step
        pairs[i] = PreferencePair("x", "q", "1 " * 200, "2")
    first = trainer_for(tokenizer, tmp_path / "error", checkpoint_every=1)
    with pytest.raises(ValueError, match="more than max_length 128"):
        first.train(pairs)
    assert first.step == 0 and not (tmp_path / "error" / "checkpoint.pt").exists()
    fits = trainer_for(tokenizer, tmp_path / "error", max_length=512, checkpoint_every=1)
    fits.train(pairs, stop_at_step=2)
    with pytest.raises(ValueError, match=r"max_length 512 -> 256 \(only a longer one\)"):
        trainer_for(tokenizer, tmp_path / "error", max_length=256, truncation="truncate").train(pairs, resume=True)
    again = trainer_for(tokenizer, tmp_path / "error", truncation="truncate", max_length=1024, pair_layout="concatenated")
    again.train(pairs, resume=True)
    assert again.step == 3
    truncating = trainer_for(tokenizer, tmp_path / "truncate", truncation="truncate", max_steps=1)
    truncating.train(pairs)
    with pytest.raises(ValueError, match=r"max_length 128 -> 256"):
        trainer_for(tokenizer, tmp_path / "truncate", truncation="truncate", max_length=256).train(pairs, resume=True)


def test_a_metrics_line_cut_short_by_a_kill_does_not_block_resume(tokenizer, tmp_path):
    """Found by a breaker: a kill -9 mid-write leaves half a line at the end of metrics.jsonl, and --resume
    then failed on it ("Unterminated string", no file named). The cut line is dropped (its step reruns);
    a bad line before the end is still an error that names the file."""
    pairs = small_pairs(12)
    first = trainer_for(tokenizer, tmp_path, epochs=2, checkpoint_every=2)
    first.train(pairs, stop_at_step=2)
    with (tmp_path / "metrics.jsonl").open("a") as f:
        f.write('{"step": 3, "lo')
    last = trainer_for(tokenizer, tmp_path, epochs=2, checkpoint_every=2)
    last.train(pairs, resume=True)
    steps = [json.loads(line)["step"] for line in (tmp_path / "metrics.jsonl").open()]
    assert steps == list(range(1, 7))
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    (tmp_path / "metrics.jsonl").write_text("\n".join(["{broken"] + lines) + "\n")
    with pytest.raises(ValueError, match=r"metrics.jsonl:1: not a JSON line"):
        trainer_for(tokenizer, tmp_path, epochs=2, checkpoint_every=2).train(pairs, resume=True)


def test_a_fresh_run_ignores_files_of_an_earlier_run(tokenizer, tmp_path):
    pairs = small_pairs(8)
    orm = trainer_for(tokenizer, tmp_path, objective="orm", max_steps=1)
    orm.train(pairs)
    assert (orm.save_verifier() / "orm_head.pt").exists()
    dpo = trainer_for(tokenizer, tmp_path, objective="dpo", max_steps=1)
    (tmp_path / "ref_logps.pt").write_bytes(b"stale")
    dpo.train(pairs)   # recomputes the references, does not read the stale file
    from cotnpot.train.trainer import pair_key
    assert checkpoint.load(tmp_path / "ref_logps.pt") == dpo.ref_logps and len(dpo.ref_logps) == 8
    assert not (dpo.save_verifier() / "orm_head.pt").exists()   # no stale head to score the DPO model
    assert [json.loads(line)["step"] for line in (tmp_path / "metrics.jsonl").open()] == [1]


def test_dpo_reference_is_computed_once_and_kept(tokenizer, tmp_path):
    pairs = small_pairs(8)
    trainer = trainer_for(tokenizer, tmp_path, objective="dpo", max_steps=1)
    with torch.no_grad():   # the reference: the untrained model's summed log-probs
        batch = trainer.collator(pairs[:1])
        logits = trainer.model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits
        logp = torch.log_softmax(logits[:, :-1].double(), -1).gather(-1, batch.input_ids[:, 1:, None])[..., 0]
        want = (logp * (batch.labels[:, 1:] != -100)).sum(1)
    trainer.train(pairs)
    from cotnpot.train.trainer import pair_key
    assert trainer.ref_logps[pair_key(pairs[0])] == pytest.approx(want.tolist(), rel=1e-9)
    cached = torch.load(tmp_path / "ref_logps.pt", weights_only=False)
    assert cached == trainer.ref_logps and len(cached) == 8


def test_checkpoint_killed_mid_write_leaves_the_previous_one(tmp_path):
    path = tmp_path / "checkpoint.pt"
    checkpoint.save_atomically({"step": 1, "weights": torch.zeros(10)}, path)
    # The installed package (the source tree has no compiled extension: with python/ on sys.path the writer
    # died at its import and the test waited 30 s for a file that never came, then passed anyway).
    code = ("import torch\n"
            "from cotnpot.train import checkpoint\n"
            f"step = 2\n"
            f"while True:\n"
            f"    checkpoint.save_atomically({{'step': step, 'weights': torch.randn(4_000_000)}}, {str(path)!r})\n"
            f"    step += 1\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE)
    deadline = time.time() + 60
    while time.time() < deadline and proc.poll() is None and not list(tmp_path.glob(".checkpoint.pt.*.tmp")):
        time.sleep(0.001)
    assert proc.poll() is None, proc.stderr.read().decode()[-2000:]   # the writer is alive and mid-write
    assert list(tmp_path.glob(".checkpoint.pt.*.tmp"))
    proc.send_signal(signal.SIGKILL)   # most likely mid-write: a temporary file exists
    proc.wait()
    state = checkpoint.load(path)
    assert state["step"] >= 1 and state["weights"].shape in ((10,), (4_000_000,))
    for leftover in tmp_path.glob(".checkpoint.pt.*.tmp"):
        leftover.unlink()


def test_simpo_learns_to_prefer_correct_solutions_on_held_out_problems(tokenizer, tmp_path):
    """A short SimPO run on a synthetic task: count on from a digit ("3 4 5 6 7"); the rejected solution
    slips once (a wrong digit at one step). Held-out problems' reward accuracy rises clearly above chance."""
    g = torch.Generator().manual_seed(3)
    pairs = []
    for i in range(192):
        start = int(torch.randint(0, 10, (1,), generator=g))
        digits = [(start + k) % 10 for k in range(5)]
        wrong = list(digits)
        k = int(torch.randint(1, 5, (1,), generator=g))
        wrong[k] = (wrong[k] + 1 + int(torch.randint(0, 8, (1,), generator=g))) % 10
        pairs.append(PreferencePair(f"p{i}", f"Count on from {start}.", " ".join(map(str, digits)),
                                    " ".join(map(str, wrong))))
    train, held_out = pairs[:128], pairs[128:]
    model = tiny_causal_lm("llama", tokenizer, hidden_size=32, layers=1, heads=4, kv_heads=2)
    trainer = VerifierTrainer(model, HFTokenizer(tokenizer), TrainConfig(
        objective="simpo", epochs=30, batch_size=16, micro_batch_size=16, lr=1e-2, warmup_steps=5, max_length=64,
        progress=False), tmp_path)

    def accuracy():
        trainer.model.eval()
        with torch.no_grad():
            batch = trainer.collator(held_out)
            from cotnpot import sequence_logprob
            logits = trainer.model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits
            avg = sequence_logprob(logits, batch.labels, reduction="mean", shift=True)
        return (avg[:len(held_out)] > avg[len(held_out):]).float().mean().item()

    before = accuracy()
    trainer.train(train, evaluate=lambda t: {"reward_accuracy": accuracy()})
    after = accuracy()
    print("held-out reward accuracy", before, "->", after)
    assert after > 0.75 and after > before + 0.2, (before, after)
    evals = [json.loads(line) for line in (tmp_path / "metrics.jsonl").open() if "eval/reward_accuracy" in line]
    assert len(evals) == 30 and evals[-1]["eval/reward_accuracy"] == after


def test_orm_verifier_scores_through_cotnpot_eval(tokenizer, tmp_path):
    rows = [json.loads(r) for r in (ROOT / "data" / "qwen25math_rm_maj_example_math_cot_100.jsonl").open()][:3]
    for r in rows:
        r["code"] = [c[-150:] for c in r["code"]]
    (tmp_path / "c.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    trainer = trainer_for(tokenizer, tmp_path / "run", objective="orm", max_steps=2)
    trainer.train(small_pairs(8))
    verifier = trainer.save_verifier()
    assert (verifier / "orm_head.pt").exists()
    assert main(["eval", "--candidates", str(tmp_path / "c.jsonl"), "--verifier", str(verifier),
                 "--out", str(tmp_path / "out"), "--quiet"]) == 0
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    # rm@8 by hand: the head on the last hidden state of each solution's last token.
    model, tok = load_verifier(str(verifier))
    head = model.orm_head
    right = weighted_right = 0
    for r in rows:
        scores = []
        for text in r["code"]:
            ids, start = tok.encode_example(r["question"], text)
            with torch.no_grad():
                hidden = model(input_ids=torch.tensor([ids]), output_hidden_states=True).hidden_states[-1]
            scores.append(torch.sigmoid(head(hidden.float())[0, -1]).item())
        right += bool(r["score"][max(range(len(scores)), key=scores.__getitem__)])
        # weighted@8: the answer class with the largest sum of the head's probabilities (a reviewer found them
        # exponentiated as if they were log-probs), the class's first candidate's label
        classes = group_answers(r["pred"]).tolist()
        totals = {c: sum(s for s, k in zip(scores, classes) if k == c) for c in set(classes) if c >= 0}
        weighted_right += bool(r["score"][classes.index(max(totals, key=totals.get))])
    assert report["metrics"]["source"]["rm"]["8"]["value"] == pytest.approx(100 * right / len(rows))
    assert report["metrics"]["source"]["weighted"]["8"]["value"] == pytest.approx(100 * weighted_right / len(rows))
    assert report["rules"]["weighted"].startswith("votes weighted by the ORM head's probability")
    assert report["rules"]["rm"].startswith("best-of-N by the ORM head's probability")


def test_bad_input(tokenizer, tmp_path):
    with pytest.raises(ValueError, match="objective must be one of"):
        trainer_for(tokenizer, tmp_path, objective="kto")
    with pytest.raises(ValueError, match=r"batch_size \(6\) must be a multiple of micro_batch_size \(4\)"):
        trainer_for(tokenizer, tmp_path, batch_size=6)
    with pytest.raises(ValueError, match="no training pairs"):
        trainer_for(tokenizer, tmp_path).train([])
    with pytest.raises(ValueError, match="max_length 4096 exceeds the model's context of 2048 positions"):
        trainer_for(tokenizer, tmp_path, max_length=4096)
    small = tiny_causal_lm("llama", train_bpe_tokenizer(QUESTIONS[:20], vocab_size=280), hidden_size=32, layers=1,
                           heads=2, kv_heads=1)
    with pytest.raises(ValueError, match="the tokenizer has 300 tokens but the model's vocabulary is"):
        VerifierTrainer(small, HFTokenizer(tokenizer), TrainConfig(progress=False), tmp_path)
    # A run that fails on a too-long pair leaves what was saved in its directory.
    trainer = trainer_for(tokenizer, tmp_path / "run", max_steps=1, checkpoint_every=1)
    trainer.train(small_pairs(4))
    long = [PreferencePair("x", "q", "1 " * 200, "2")] * 8
    again = trainer_for(tokenizer, tmp_path / "run", max_steps=2, epochs=2)
    with pytest.raises(ValueError, match="more than max_length 128"):
        again.train(long)
    assert checkpoint.load(tmp_path / "run" / "checkpoint.pt")["step"] == 1


def test_cotnpot_train_then_eval_closes_the_loop(tokenizer, tmp_path, capsys):
    openai_candidates(tmp_path / "c.jsonl", 40)
    model_dir = save_base_model(tokenizer, tmp_path / "base")
    out = tmp_path / "run"
    assert main(["train", "--candidates", str(tmp_path / "c.jsonl"), "--model", str(model_dir), "--objective",
                 "simpo", "--out", str(out), "--batch-size", "4", "--micro-batch-size", "2", "--max-length", "512",
                 "--truncation", "truncate", "--eval-fraction", "0.25", "--quiet"]) == 0
    assert "pair layout shared_prefix;" in capsys.readouterr().out
    stats = json.loads((out / "pair_stats.json").read_text())
    train = read_pairs(out / "train_pairs.jsonl")
    held_out = read_pairs(out / "eval_pairs.jsonl")
    assert stats["pairs"] == len(train) + len(held_out) and stats["problems"] == 40
    assert not {p.problem_id for p in train} & {p.problem_id for p in held_out}
    metrics = [json.loads(line) for line in (out / "metrics.jsonl").open()]
    steps = [m for m in metrics if "loss" in m]
    assert len(steps) == -(-len(train) // 4)   # one epoch
    evals = [m for m in metrics if "eval/best_of_n_accuracy" in m]
    assert len(evals) == 1 and 0 <= evals[0]["eval/best_of_n_accuracy"] <= 100
    assert main(["eval", "--candidates", str(tmp_path / "c.jsonl"), "--verifier", str(out / "verifier"),
                 "--out", str(tmp_path / "eval"), "--quiet"]) == 0
    assert "rm" in json.loads((tmp_path / "eval" / "report.json").read_text())["metrics"]["source"]
    # bad input: a clear message, exit code 2
    assert main(["train", "--pairs", str(tmp_path / "missing.jsonl"), "--model", str(model_dir), "--out",
                 str(tmp_path / "x"), "--quiet"]) == 2


def _leave_without_teardown():
    """A gloo worker's exit once its work is done and its group destroyed: torch's gloo aborts now and then in
    its teardown at interpreter exit ("terminate called without an active exception", after the barrier and
    destroy_process_group: pristine-root runs twice, a local run once), failing a test whose results were
    all written. The parent checks those results; the worker skips that teardown."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _ddp_worker(rank, world, store, model_dir, out_dir, objective, sharding="ddp", n_pairs=14):
    import datetime
    os.environ["OMP_NUM_THREADS"] = "1"
    torch.distributed.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world,
                                         timeout=datetime.timedelta(seconds=120))
    try:
        model, tok = load_verifier(str(model_dir))
        trainer = VerifierTrainer(model.double(), tok, TrainConfig(
            objective=objective, batch_size=4, micro_batch_size=1, lr=1e-3, warmup_steps=1,
            max_length=128, progress=False, sharding=sharding), out_dir)
        trainer.train(small_pairs(n_pairs))
        whole = trainer.full_policy_state()   # under FSDP, a collective
        if rank == 0:
            torch.save({k: v.detach().clone() for k, v in whole.items()}, out_dir / "final.pt")
        trainer.save_verifier()
        torch.distributed.barrier()   # no process tears the group down while another still talks to it
    finally:
        torch.distributed.destroy_process_group()
    _leave_without_teardown()


@pytest.mark.parametrize("objective, sharding", [("simpo", "ddp"), ("orm", "ddp"), ("simpo", "fsdp"),
                                                 ("orm", "fsdp")])
def test_two_gloo_processes_train_like_one(tokenizer, tmp_path, objective, sharding):
    import torch.multiprocessing as mp
    model_dir = save_base_model(tokenizer, tmp_path / "base")
    mp.spawn(_ddp_worker, args=(2, tmp_path / "store", model_dir, tmp_path / "ddp", objective, sharding), nprocs=2,
             join=True)
    model, tok = load_verifier(str(model_dir))
    one = VerifierTrainer(model.double(), tok, TrainConfig(objective=objective, batch_size=4, micro_batch_size=2,
                                                           lr=1e-3, warmup_steps=1, max_length=128,
                                                           progress=False), tmp_path / "one")
    one.train(small_pairs(14))   # 3 full steps and a last one of 2 pairs: one per process
    ddp = torch.load(tmp_path / "ddp" / "final.pt")
    single = one.policy.state_dict()
    assert ddp.keys() == single.keys()
    for name in single:
        torch.testing.assert_close(ddp[name], single[name], rtol=1e-9, atol=1e-11, msg=name)
    losses = [json.loads(line)["loss"] for line in (tmp_path / "ddp" / "metrics.jsonl").open()]
    want = [json.loads(line)["loss"] for line in (tmp_path / "one" / "metrics.jsonl").open()]
    assert losses == pytest.approx(want, rel=1e-9)
    # the verifier written by rank 0 holds the whole (gathered) parameters
    saved, _ = load_verifier(str(tmp_path / "ddp" / "verifier"))
    for name, value in saved.state_dict().items():   # the ORM head is attached as orm_head when there is one
        key = f"head.{name[len('orm_head.'):]}" if name.startswith("orm_head.") else f"model.{name}"
        torch.testing.assert_close(value.double(), single[key].double(), rtol=1e-6, atol=1e-7, msg=name)


def test_cotnpot_train_under_torchrun_trains_one_model_like_one_process(tokenizer, tmp_path):
    """``torchrun -m cotnpot train`` with two processes: one DDP run (every process used to train on its own
    and both wrote the same files), equal to the same command in one process with the same global batch."""
    openai_candidates(tmp_path / "c.jsonl", 24)
    model_dir = save_base_model(tokenizer, tmp_path / "base")
    common = ["train", "--candidates", str(tmp_path / "c.jsonl"), "--model", str(model_dir), "--batch-size", "4",
              "--max-length", "512", "--truncation", "truncate", "--eval-fraction", "0.25", "--max-steps", "3",
              "--lr", "1e-3", "--device", "cpu", "--quiet"]
    # torchrun leaves a directory of its own (torchelastic_*) in TMPDIR: the test's, not the machine's /tmp
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TMPDIR": str(tmp_path)}
    done = subprocess.run([*local_torchrun(2),
                           "-m", "cotnpot", *common, "--micro-batch-size", "1", "--out", str(tmp_path / "ddp")],
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("cotnpot train: 3 steps on 2 processes (cpu)") == 1, done.stdout   # rank 0 alone
    assert main([*common, "--micro-batch-size", "2", "--out", str(tmp_path / "one")]) == 0
    rows = {name: [json.loads(line) for line in (tmp_path / name / "metrics.jsonl").open()] for name in ("ddp", "one")}
    steps = {name: [r for r in rows[name] if "loss" in r] for name in rows}
    assert [r["step"] for r in steps["ddp"]] == [1, 2, 3]   # one writer: each step once
    assert [r["loss"] for r in steps["ddp"]] == pytest.approx([r["loss"] for r in steps["one"]], rel=1e-4)
    together, alone = (load_verifier(str(tmp_path / name / "verifier"))[0].state_dict() for name in ("ddp", "one"))
    moved = 0
    base = load_verifier(str(model_dir))[0].state_dict()
    for name, value in alone.items():
        # The two runs' updates, compared as a whole: Adam divides each gradient by its own scale, so where a
        # gradient is near 0 the sum order of a machine's GEMM (1 thread against 2, AVX-512 or not) moves
        # single elements by up to 1.4e-5 of a 2e-3 update (an element-wise 1e-5 bound failed on AVX-512); a DDP
        # that trained each process on its own data or skipped the all-reduce moves the whole update.
        update, ddp_update = value - base[name], together[name] - base[name]
        # here at most 1.7e-4 of the update; a parameter one run left alone the other leaves within 1e-6
        assert (ddp_update - update).norm() <= 1e-2 * update.norm() + 1e-6, name
        moved += not torch.equal(value, base[name])
    assert moved > 0   # the comparison is between trained models
    assert read_pairs(tmp_path / "ddp" / "train_pairs.jsonl") == read_pairs(tmp_path / "one" / "train_pairs.jsonl")


def test_cotnpot_train_refuses_a_device_it_cannot_use(tokenizer, tmp_path, capsys):
    openai_candidates(tmp_path / "c.jsonl", 4)
    model_dir = save_base_model(tokenizer, tmp_path / "base")
    args = ["train", "--candidates", str(tmp_path / "c.jsonl"), "--model", str(model_dir), "--out", str(tmp_path / "x")]
    assert main([*args, "--device", "tpu"]) == 2
    assert "device 'tpu' is not a device torch knows" in capsys.readouterr().err
    if not torch.cuda.is_available():
        assert main([*args, "--device", "cuda"]) == 2
        assert "device 'cuda': torch sees no CUDA GPU here" in capsys.readouterr().err
    else:
        assert main([*args, "--device", f"cuda:{torch.cuda.device_count()}"]) == 2
        assert "but this machine has" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()   # refused before anything was written


def test_a_run_that_cannot_load_its_model_leaves_the_earlier_runs_files(tokenizer, tmp_path, capsys):
    """Found by a breaker: pairs were written before the model was loaded, so a rerun with a wrong --model
    (or another seed) failed but replaced the earlier run's pair files, which then no longer matched its
    verifier and checkpoint. A model directory that does not load is one line naming it, exit 2."""
    openai_candidates(tmp_path / "c.jsonl", 8)
    out = tmp_path / "run"
    out.mkdir()
    for name in ("train_pairs.jsonl", "eval_pairs.jsonl", "pair_stats.json"):
        (out / name).write_text("the earlier run's\n")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("[1, 2]")
    assert main(["train", "--candidates", str(tmp_path / "c.jsonl"), "--model", str(broken), "--out", str(out),
                 "--seed", "7", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"cotnpot train: cannot load the model from {broken}") and "Traceback" not in err, err
    for name in ("train_pairs.jsonl", "eval_pairs.jsonl", "pair_stats.json"):
        assert (out / name).read_text() == "the earlier run's\n"
    assert main(["train", "--candidates", str(tmp_path / "c.jsonl"), "--model", str(broken), "--out",
                 str(tmp_path / "c.jsonl"), "--quiet"]) == 2
    assert "--out" in capsys.readouterr().err
    # a --model that is no directory is named before the pairs are built and their statistics printed (a new user)
    assert main(["train", "--candidates", str(tmp_path / "c.jsonl"), "--model", str(tmp_path / "nowhere"), "--out",
                 str(tmp_path / "fresh")]) == 2
    said = capsys.readouterr()
    assert said.out == "" and said.err == (f"cotnpot train: cannot load the model from {tmp_path / 'nowhere'}: no such "
                                           "directory (--model takes a directory written by save_pretrained, or "
                                           "tiny:DIR)\n")


def test_each_torchrun_process_takes_its_own_gpu(monkeypatch):
    """--device resolution as on a 2-GPU machine under torchrun (CUDA faked): 'cuda' and 'auto' are GPU
    LOCAL_RANK; another explicit GPU is refused (NCCL would fail at the first collective, on every rank)."""
    from cotnpot import distributed
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert distributed.local_device("auto") == distributed.local_device("cuda") == torch.device("cuda", 1)
    assert distributed.local_device("cuda:1") == torch.device("cuda", 1)
    assert distributed.local_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match="each process takes GPU LOCAL_RANK \\(here 1\\)"):
        distributed.local_device("cuda:0")
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert distributed.local_device("cuda:0") == torch.device("cuda", 0)   # one process: any GPU it names
    with pytest.raises(ValueError, match="CUDA device 2 asked for"):
        distributed.local_device("cuda:2")


def _ddp_dropout_worker(rank, world, store, model_dir, out_dir, stop_at, resume):
    """DDP with attention dropout: each process draws its own masks from its own RNG stream."""
    import datetime
    os.environ["OMP_NUM_THREADS"] = "1"
    torch.distributed.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world,
                                         timeout=datetime.timedelta(seconds=120))
    try:
        model, tok = load_verifier(str(model_dir))
        for layer in model.model.layers:
            layer.self_attn.attention_dropout = 0.3
        trainer = VerifierTrainer(model.double(), tok, TrainConfig(
            objective="simpo", batch_size=4, micro_batch_size=1, lr=1e-3, epochs=2, max_length=128,
            progress=False), out_dir)
        trainer.train(small_pairs(12), resume=resume, stop_at_step=stop_at)
        if rank == 0 and stop_at is None:
            torch.save({k: v.detach().clone() for k, v in trainer.policy.state_dict().items()}, out_dir / "final.pt")
        torch.distributed.barrier()   # as in _ddp_worker: a pristine-root run aborted in gloo's teardown here
    finally:
        torch.distributed.destroy_process_group()
    _leave_without_teardown()


def test_two_gloo_processes_with_dropout_resume_exactly(tokenizer, tmp_path):
    """Each process's RNG state is in the checkpoint (it used to hold rank 0's alone, so rank 1 drew other
    dropout masks after a resume)."""
    import torch.multiprocessing as mp
    model_dir = save_base_model(tokenizer, tmp_path / "base")
    runs = [("straight", None, False), ("stopped", 2, False), ("stopped", None, True)]
    for i, (name, stop_at, resume) in enumerate(runs):
        mp.spawn(_ddp_dropout_worker, args=(2, tmp_path / f"store{i}", model_dir, tmp_path / name, stop_at, resume),
                 nprocs=2, join=True)
    straight, resumed = torch.load(tmp_path / "straight" / "final.pt"), torch.load(tmp_path / "stopped" / "final.pt")
    for name in straight:
        assert torch.equal(straight[name], resumed[name]), name


def test_bf16_autocast_trains_and_matches_fp32_roughly(tokenizer, tmp_path):
    import warnings
    pairs = small_pairs(8)
    runs = {}
    for bf16 in (False, True):
        with warnings.catch_warnings():   # on a CPU without bf16 instructions bf16=True warns that it is slow
            warnings.filterwarnings("ignore", message="TrainConfig.bf16")
            trainer = trainer_for(tokenizer, tmp_path / str(bf16), max_steps=2, bf16=bf16)
        trainer.model.float()
        seen = []   # a decoder layer runs in both pair layouts (the LM head only in the concatenated one)
        layer = trainer.model.model.layers[0].mlp.down_proj
        hook = layer.register_forward_hook(lambda m, i, o: seen.append(o.dtype))
        runs[bf16] = trainer.train(pairs)
        hook.remove()
        assert trainer.layout == "shared_prefix"
        # the training steps' passes (the first batch's layout check runs without autocast, in fp32)
        assert seen[-1] == (torch.bfloat16 if bf16 else torch.float32) and seen.count(seen[-1]) >= 2
    assert runs[True]["loss"] == pytest.approx(runs[False]["loss"], rel=0.02)


def test_a_last_batch_that_cannot_be_shared_evenly_is_cut_not_deadlocked(tokenizer, tmp_path):
    import torch.multiprocessing as mp
    model_dir = save_base_model(tokenizer, tmp_path / "base")
    mp.spawn(_ddp_worker, args=(2, tmp_path / "store", model_dir, tmp_path / "ddp", "simpo", "ddp", 13), nprocs=2,
             join=True)
    steps = [json.loads(line)["step"] for line in (tmp_path / "ddp" / "metrics.jsonl").open()]
    assert steps == [1, 2, 3]   # 13 pairs, batches of 4: the 1 left over cannot feed 2 processes
    # 15 pairs under FSDP, micro-batches of 1: the last 3 are cut to 2, one each (2 and 1 would deadlock)
    mp.spawn(_ddp_worker, args=(2, tmp_path / "store2", model_dir, tmp_path / "fsdp", "simpo", "fsdp", 15), nprocs=2,
             join=True)
    steps = [json.loads(line)["step"] for line in (tmp_path / "fsdp" / "metrics.jsonl").open()]
    assert steps == [1, 2, 3, 4]


def test_held_out_solutions_past_the_context_are_scored_as_the_training_cut_them(tokenizer, tmp_path, capsys):
    """Found by a breaker: with --truncation truncate, a held-out solution longer than the model's context ended
    the run after its whole training (the held-out scoring did not cut it), and the epoch's checkpoint and the
    verifier were lost; cotnpot eval --verifier had no option to score such a file."""
    model_dir = tmp_path / "base"
    tiny_causal_lm("llama", tokenizer, hidden_size=32, layers=1, heads=2, kv_heads=1,
                   max_position_embeddings=128).save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    rows = []
    for i in range(12):
        a, b = 10 + i, 20 + i
        outs = [{"response": f"{a} + {b} = {a + b + d}. The answer is {a + b + d}.", "response_answer": str(a + b + d),
                 "label": d == 0} for d in (0, 1, 0)]
        outs.append({"response": f"{a} + {b} = {a + b}. " * 60 + f"The answer is {a + b}.",
                     "response_answer": str(a + b), "label": True})
        rows.append({"idx": i, "question": f"What is {a} + {b}?", "ground_truth": str(a + b), "outputs": outs})
    cands = tmp_path / "c.jsonl"
    cands.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "run"
    assert main(["train", "--candidates", str(cands), "--model", str(model_dir), "--out", str(out), "--max-length",
                 "64", "--truncation", "truncate", "--eval-fraction", "0.5", "--batch-size", "4", "--quiet"]) == 0
    assert (out / "checkpoint.pt").is_file() and (out / "verifier").is_dir()
    evals = [json.loads(line) for line in (out / "metrics.jsonl").open() if "eval/problems" in line]
    assert len(evals) == 1 and evals[0]["eval/problems"] == 6
    capsys.readouterr()
    args = ["eval", "--candidates", str(cands), "--verifier", str(out / "verifier"), "--quiet"]
    assert main(args) != 0
    assert "more than the model's context of 128" in capsys.readouterr().err
    assert main([*args, "--verifier-max-length", "100", "--out", str(tmp_path / "eval")]) == 0
    assert "rm" in json.loads((tmp_path / "eval" / "report.json").read_text())["metrics"]["source"]


def test_an_epoch_is_saved_before_its_evaluation_which_a_resume_then_runs(tokenizer, tmp_path):
    """An evaluation that failed after an epoch lost the epoch: the checkpoint was written after it. Written
    before, a resume then skipped that evaluation (found by a reviewer): it runs it first, and only where
    metrics.jsonl does not hold it already."""
    pairs, calls = small_pairs(8), []

    def failing(_):
        raise RuntimeError("evaluation failed")

    def counting(trainer):
        calls.append(trainer.step)
        return {"value": float(trainer.step)}
    with pytest.raises(RuntimeError, match="evaluation failed"):
        trainer_for(tokenizer, tmp_path, epochs=1).train(pairs, evaluate=failing)
    assert checkpoint.load(tmp_path / "checkpoint.pt")["step"] == 2
    trainer_for(tokenizer, tmp_path, epochs=1).train(pairs, resume=True, evaluate=counting)
    trainer_for(tokenizer, tmp_path, epochs=2).train(pairs, resume=True, evaluate=counting)
    evals = [json.loads(line) for line in (tmp_path / "metrics.jsonl").open() if "eval/value" in line]
    assert [(e["epoch"], e["step"]) for e in evals] == [(0, 2), (1, 4)] and calls == [2, 4]


def test_orm_run_resumes_through_the_cli(tokenizer, tmp_path):
    openai_candidates(tmp_path / "c.jsonl", 24)
    model_dir = save_base_model(tokenizer, tmp_path / "base")
    args = ["train", "--candidates", str(tmp_path / "c.jsonl"), "--model", str(model_dir), "--objective", "orm",
            "--out", str(tmp_path / "run"), "--batch-size", "4", "--max-length", "512", "--truncation", "truncate",
            "--eval-fraction", "0.25", "--quiet"]
    assert main(args) == 0   # one epoch, then the held-out evaluation scores with the head
    assert main(args[:-1] + ["--epochs", "2", "--resume", "--quiet"]) == 0
    evals = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").open() if "eval/problems" in line]
    assert [e["epoch"] for e in evals] == [0, 1]


def test_a_run_started_from_an_orm_verifier_does_not_keep_its_head_in_the_lm(tokenizer, tmp_path):
    """Found by a breaker: load_verifier attaches an ORM directory's head as model.orm_head. A SimPO run started
    from such a directory trained that head along, saved it into its LM's weights and ranked its held-out
    problems by its probabilities; an ORM run from it failed to resume (the head's keys). Now a SimPO run
    drops the head and an ORM run goes on training it as its own."""
    from safetensors import safe_open
    openai_candidates(tmp_path / "c.jsonl", 16)
    common = ["train", "--candidates", str(tmp_path / "c.jsonl"), "--batch-size", "4", "--max-length", "512",
              "--truncation", "truncate", "--eval-fraction", "0.25", "--quiet"]
    orm = tmp_path / "orm"
    assert main([*common, "--model", str(save_base_model(tokenizer, tmp_path / "base")), "--objective", "orm",
                 "--out", str(orm)]) == 0
    assert (orm / "verifier" / "orm_head.pt").is_file()
    simpo = tmp_path / "simpo"
    assert main([*common, "--model", str(orm / "verifier"), "--objective", "simpo", "--out", str(simpo)]) == 0
    assert not (simpo / "verifier" / "orm_head.pt").exists()
    with safe_open(str(simpo / "verifier" / "model.safetensors"), "pt") as f:
        assert not [k for k in f.keys() if "orm_head" in k]
    model, _ = load_verifier(str(simpo / "verifier"))
    assert getattr(model, "orm_head", None) is None
    again = tmp_path / "orm2"
    args = [*common, "--model", str(orm / "verifier"), "--objective", "orm", "--out", str(again)]
    assert main(args) == 0
    assert main([*args, "--epochs", "2", "--resume"]) == 0
    # the ORM run starts from the loaded head (a fresh one would hold other values)
    first = torch.load(orm / "verifier" / "orm_head.pt", weights_only=True)["state"]
    model, hf_tokenizer = load_verifier(str(orm / "verifier"))
    start = VerifierTrainer(model, hf_tokenizer, TrainConfig(objective="orm", progress=False), tmp_path / "x")
    assert torch.equal(start.head.linear.weight.detach().cpu().to(first["linear.weight"].dtype), first["linear.weight"])
    assert getattr(model, "orm_head", None) is None


def test_a_run_that_cannot_start_for_any_reason_leaves_the_earlier_runs_files(tokenizer, tmp_path, capsys):
    """Found by a breaker, after the model-load case above was fixed: a refused --resume (another seed), a
    --max-length past the model's context and a pair too long for --max-length all failed after the pair
    files were rewritten, and a fresh run that failed on its first batch had deleted the earlier metrics."""
    openai_candidates(tmp_path / "c.jsonl", 8)
    model = save_base_model(tokenizer, tmp_path / "base")
    out = tmp_path / "run"
    base = ["train", "--candidates", str(tmp_path / "c.jsonl"), "--model", str(model), "--out", str(out),
            "--batch-size", "2", "--max-steps", "2", "--quiet"]
    assert main(base) == 0
    capsys.readouterr()
    before = {f.name: f.read_bytes() for f in out.iterdir() if f.is_file()}
    assert {"train_pairs.jsonl", "eval_pairs.jsonl", "metrics.jsonl", "checkpoint.pt"} <= set(before)
    # (a new run in the same --out must be asked for: --overwrite; a new user's rerun had replaced the run)
    for extra, message in (([], f"--out {out} holds an earlier run (checkpoint.pt, metrics.jsonl, verifier): "
                                "--overwrite starts a new run in its place, or --resume continues it"),
                           (["--resume", "--seed", "1"], "written for other training pairs"),
                           (["--overwrite", "--max-length", "100000"], "exceeds the model's context"),
                           (["--overwrite", "--max-length", "12"], "max_length is 12"),
                           (["--overwrite", "--max-length", "230"], "more than max_length 230"),
                           (["--overwrite", "--micro-batch-size", "0"], "--micro-batch-size must be >= 1, got 0"),
                           (["--overwrite", "--lr", "inf"], "lr must be finite and > 0, got inf"),
                           (["--overwrite", "--warmup-steps", "-3"], "warmup_steps must be >= 0, got -3")):
        assert main([*base, *extra]) == 2, extra
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, (extra, err)
        assert {f.name: f.read_bytes() for f in out.iterdir() if f.is_file()} == before, extra
    assert main([*base, "--overwrite", "--lr", "1e-3"]) == 0   # asked for: a new run in its place
    assert (out / "checkpoint.pt").read_bytes() != before["checkpoint.pt"]
    # a run stopped before its first checkpoint left only its metrics: nothing to --resume, said so (a reviewer)
    (out / "checkpoint.pt").unlink()
    shutil.rmtree(out / "verifier")
    assert main(base) == 2
    assert (f"--out {out} holds an earlier run (metrics.jsonl): --overwrite starts a new run in its place (it has "
            "no checkpoint.pt to continue: --resume starts afresh too)") in capsys.readouterr().err
    with pytest.raises(SystemExit):   # one or the other
        main([*base, "--resume", "--overwrite"])


def test_a_resume_with_another_length_steps_at_the_new_schedules_rate(tokenizer, tmp_path):
    """Found by a breaker: the optimizer kept the old schedule's last rate, so the first step after a resume
    with more epochs ran at 0.0 (the finished run's last rate) instead of the new schedule's."""
    pairs = small_pairs(8)
    first = trainer_for(tokenizer, tmp_path / "a", epochs=1, warmup_steps=0)
    first.train(pairs)
    longer = trainer_for(tokenizer, tmp_path / "a", epochs=2, warmup_steps=0)
    longer.train(pairs, resume=True)
    rates = [json.loads(line)["lr"] for line in (tmp_path / "a" / "metrics.jsonl").open() if "lr" in line]
    straight = trainer_for(tokenizer, tmp_path / "b", epochs=2, warmup_steps=0)
    straight.train(pairs)
    want = [json.loads(line)["lr"] for line in (tmp_path / "b" / "metrics.jsonl").open() if "lr" in line]
    assert len(want) == 4 and rates[2:] == pytest.approx(want[2:]) and rates[2] > 0


def test_batch_dependent_dpo_losses_refuse_micro_batches_and_bad_types_are_named(tokenizer, tmp_path):
    """Found by a breaker: bco_pair centres on its batch's mean reward and aot_pair sorts its batch, so split into
    micro-batches they trained another loss (parameters 4.5e-4 apart after 2 steps); an unknown type was
    refused only by the loss, after the reference pass."""
    for loss_type in ("bco_pair", "aot_pair", "aot", "aot_unpaired"):   # aot: found by a later breaker
        with pytest.raises(ValueError, match=f"{loss_type}' depends on the whole batch"):
            TrainConfig(objective="dpo", dpo_loss_type=loss_type, batch_size=4, micro_batch_size=2).check()
        TrainConfig(objective="dpo", dpo_loss_type=loss_type, batch_size=4, micro_batch_size=4).check()
    with pytest.raises(ValueError, match="dpo_loss_type must be one of"):
        TrainConfig(objective="dpo", dpo_loss_type="kto").check()


def test_conversational_rows_take_the_assistants_turns_as_the_completions():
    """Found by a breaker: a string prompt with chosen and rejected as whole conversations (UltraFeedback-binarized)
    made both the user's question: the pair trained on two equal texts."""
    from cotnpot.train.pairs import pairs_from_rows
    user = {"role": "user", "content": "What is 2+2?"}
    (pair,) = pairs_from_rows([{"prompt": "What is 2+2?", "problem_id": 0,
                                "chosen": [user, {"role": "assistant", "content": "4"}],
                                "rejected": [user, {"role": "assistant", "content": "5"}]}])
    assert (pair.prompt, pair.chosen, pair.rejected, pair.problem_id) == ("What is 2+2?", "4", "5", "0")
    (pair,) = pairs_from_rows([{"prompt": [{"role": "system", "content": "Be brief."}, user],
                                "chosen": [{"role": "assistant", "content": "4"}], "rejected": "5"}])
    assert (pair.prompt, pair.chosen, pair.rejected) == ("What is 2+2?", "4", "5")
    hello = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello! How can I help?"}, user]
    (pair,) = pairs_from_rows([{"prompt": "What is 2+2?", "chosen": [*hello, {"role": "assistant", "content": "4"}],
                                "rejected": [*hello, {"role": "assistant", "content": "5"}]}])
    assert (pair.chosen, pair.rejected) == ("4", "5")   # the answer after the last user turn (a reviewer)
    with pytest.raises(ValueError, match="row 0, chosen: the conversation ends with a user turn"):
        pairs_from_rows([{"prompt": "q", "chosen": [{"role": "assistant", "content": "A"}, user], "rejected": "5"}])


def test_each_truncated_sequence_is_counted_once(tokenizer):
    """The count grew with every encoding of a sequence (each epoch, the DPO reference pass); the check before
    the first step counts none, and with truncation it encodes only the prompts."""
    pair = PreferencePair("p", "q", "1 " * 200, "2 " * 200)
    cut = PreferenceCollator(HFTokenizer(tokenizer), max_length=32, truncation="truncate")
    cut.check_lengths([pair] * 5)
    assert cut.truncated == 0
    for _ in range(3):
        cut([pair])
    assert cut.truncated == 2
    calls = []
    class Counting(HFTokenizer):
        def encode_example(self, question, solution):
            calls.append(solution)
            return super().encode_example(question, solution)
    PreferenceCollator(Counting(tokenizer), max_length=32, truncation="truncate").check_lengths([pair] * 5)
    assert calls == [""]


def test_an_empty_solution_with_no_eos_is_refused_before_training(tokenizer, tmp_path):
    """Found by a breaker: with a tokenizer that adds no EOS an empty solution has no token to score; scoring
    gives it NaN, but training gave it an average log-prob of 0 (probability 1), the best reward there is."""
    import copy
    raw = copy.deepcopy(tokenizer)
    raw.eos_token = None
    model = tiny_causal_lm("llama", tokenizer, hidden_size=32, layers=1, heads=2, kv_heads=1).double()
    config = TrainConfig(batch_size=2, micro_batch_size=2, max_length=128, progress=False, truncation="truncate")
    pairs = [PreferencePair("p0", "What is 2 + 3?", "5", ""), PreferencePair("p1", "What is 2 + 4?", "6", "7")]
    trainer = VerifierTrainer(model, HFTokenizer(raw), config, tmp_path)
    with pytest.raises(ValueError, match=r"pair of problem 'p0' \(rejected\): an empty solution, and the tokenizer "
                                         r"adds no EOS"):
        trainer.train(pairs)
    assert not (tmp_path / "metrics.jsonl").exists()
    # with an EOS the empty solution has a token to score, and trains
    VerifierTrainer(model, HFTokenizer(tokenizer), config, tmp_path / "eos").train(pairs)


def test_a_resume_with_another_model_or_tokenizer_is_refused_by_name(tokenizer, tmp_path):
    """Found by a breaker: resuming with a tokenizer that has a chat template went on silently on another prompt
    format, and resuming with another architecture failed in load_state_dict with a raw RuntimeError."""
    import copy
    from cotnpot.models.hf_tiny import CHATML_TEMPLATE
    pairs = small_pairs(8)
    config = TrainConfig(batch_size=4, micro_batch_size=4, max_length=128, progress=False, max_steps=2)
    first = trainer_for(tokenizer, tmp_path, max_steps=2)
    first.train(pairs, stop_at_step=1)
    qwen = tiny_causal_lm("qwen2", tokenizer, hidden_size=32, layers=1, heads=2, kv_heads=1).double()
    with pytest.raises(ValueError, match=r"written for another model: here another architecture or size"):
        VerifierTrainer(qwen, HFTokenizer(tokenizer), config, tmp_path).train(pairs, resume=True)
    chat = copy.deepcopy(tokenizer)
    chat.chat_template = CHATML_TEMPLATE
    llama = tiny_causal_lm("llama", tokenizer, hidden_size=32, layers=1, heads=2, kv_heads=1).double()
    with pytest.raises(ValueError, match=r"written for another model: here another tokenizer"):
        VerifierTrainer(llama, HFTokenizer(chat), config, tmp_path).train(pairs, resume=True)
    again = trainer_for(tokenizer, tmp_path, max_steps=2)   # the same model and tokenizer resume
    again.train(pairs, resume=True)
    assert again.step == 2


def test_a_plain_hugging_face_tokenizer_is_taken_as_it_comes(tokenizer, tmp_path):
    """Found by a new user: the README says any save_pretrained causal LM and tokenizer, but a tokenizer from
    AutoTokenizer (not wrapped in HFTokenizer) failed training and scoring with "no attribute encode_pair". It
    is wrapped now: the same steps as with HFTokenizer; something that is no tokenizer is named."""
    from cotnpot.verifier import score_solutions, verifier_tokenizer
    pairs = small_pairs(4)
    config = TrainConfig(batch_size=4, micro_batch_size=4, max_length=128, progress=False, max_steps=1)
    trained = {}
    for name, tok in (("raw", tokenizer), ("wrapped", HFTokenizer(tokenizer))):
        torch.manual_seed(0)
        model = tiny_causal_lm("llama", tokenizer, hidden_size=32, layers=1, heads=2, kv_heads=1).double()
        trainer = VerifierTrainer(model, tok, config, tmp_path / name)
        trainer.train(pairs)
        trained[name] = score_solutions(trainer.model, tok, [(p.prompt, p.chosen) for p in pairs])
    assert isinstance(trainer.tokenizer, HFTokenizer)
    torch.testing.assert_close(trained["raw"], trained["wrapped"], rtol=0, atol=0)
    with pytest.raises(TypeError, match="must be a Hugging Face tokenizer or have encode_example"):
        verifier_tokenizer(object())


@pytest.mark.parametrize("fast", [False, True])
def test_bf16_on_a_cpu_without_bf16_instructions_warns(tokenizer, tmp_path, monkeypatch, fast):
    """On an AVX2 CPU torch's bf16 GEMM is a scalar fallback (~65x float32's time): asking for bf16 autocast
    there says so, once, at the trainer's start; where bf16 is fast, or not asked for, nothing is said."""
    import warnings
    import cotnpot.train.trainer as trainer_module
    monkeypatch.setattr(trainer_module, "fast_bf16", lambda device: fast)
    for bf16 in (False, True):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            trainer_for(tokenizer, tmp_path / f"{fast}{bf16}", bf16=bf16)
        said = [w for w in caught if "TrainConfig.bf16" in str(w.message)]
        assert len(said) == (1 if bf16 and not fast else 0), [str(w.message) for w in said]
        if said:   # the caller's line, not the trainer's
            assert "no bfloat16 matmul instructions" in str(said[0].message) and said[0].filename == __file__


def test_split_by_problem_keeps_one_question_on_one_side_under_two_ids():
    """A breaker: two sampling rounds concatenated (the same question under idx and idx+100) put 4 of 5
    held-out questions on the training side too. Without repeated questions the split is the one made per id
    before (the same seed, the same held-out ids)."""
    pairs = [PreferencePair(f"{i}", f"question {i}?", "good", f"bad {j}") for i in range(40) for j in range(2)]
    doubled = pairs + [PreferencePair(f"{100 + i}", f"question  {i}?\n", "good", "bad") for i in range(40)]
    train, held = split_by_problem(doubled, eval_fraction=0.25, seed=3)
    asked = lambda side: {" ".join(p.prompt.split()) for p in side}   # noqa: E731
    assert not asked(train) & asked(held) and len(asked(held)) == 10
    assert {p.problem_id for p in held} == {i for q in range(40) if f"question {q}?" in asked(held)
                                             for i in (f"{q}", f"{100 + q}")}
    # the old rule (shuffled sorted ids) on distinct questions gives the same held-out problems
    import random
    ids = sorted({p.problem_id for p in pairs})
    random.Random(3).shuffle(ids)
    assert {p.problem_id for p in split_by_problem(pairs, 0.25, 3)[1]} == set(ids[:10])


def test_pair_keys_of_texts_holding_nul_differ():
    """A breaker: joined by NUL, ("Q\\0A", "B") and ("Q", "A\\0B") were one key, so a DPO pair trained against
    another's reference log-probs and a resume accepted other pairs. Keys of texts without NUL are unchanged
    (checkpoints' fingerprints stay valid)."""
    import hashlib
    from cotnpot.train.trainer import pair_key
    p1, p2 = PreferencePair("p1", "Q\0A", "B", "C"), PreferencePair("p2", "Q", "A\0B", "C")
    assert pair_key(p1) != pair_key(p2)
    plain = PreferencePair("p", "Q", "A", "B")
    assert pair_key(plain) == hashlib.sha256("Q\0A\0B".encode()).hexdigest()


def test_a_tiny_model_trains_an_orm_head_and_its_context_is_checked_before_any_file(tmp_path, capsys):
    """A breaker: --objective orm with a tiny: model raised AttributeError ('hidden_size'), and a tiny model whose
    context is shorter than --max-length failed at its first step, after the pair files were written."""
    from cotnpot.models.tiny import TinyCausalLM, TinyConfig
    openai_candidates(tmp_path / "c.jsonl", 6)
    for context, name in ((2048, "long"), (48, "short")):
        torch.manual_seed(0)
        TinyCausalLM(TinyConfig(dim=16, layers=1, heads=2, hidden=32, max_length=context)).save_pretrained(
            tmp_path / name)
    base = ["train", "--candidates", str(tmp_path / "c.jsonl"), "--batch-size", "2", "--max-steps", "1", "--quiet",
            "--max-length", "1500"]
    assert main([*base, "--model", f"tiny:{tmp_path / 'long'}", "--objective", "orm", "--out", str(tmp_path / "orm")]) == 0
    assert (tmp_path / "orm" / "verifier").is_dir()
    capsys.readouterr()
    assert main([*base, "--model", f"tiny:{tmp_path / 'short'}", "--out", str(tmp_path / "short_run")]) == 2
    err = capsys.readouterr().err
    assert "max_length 1500 exceeds the model's context of 48 positions" in err and "Traceback" not in err
    assert not (tmp_path / "short_run" / "train_pairs.jsonl").exists()


def test_a_second_run_into_a_busy_out_is_refused_and_writes_nothing(tokenizer, tmp_path, capsys):
    """A breaker: two runs into one --out both ran to the end, their metrics rows interleaved and the verifier,
    checkpoint and pair files each of whichever wrote last. The directory's lock refuses the second."""
    from cotnpot.output_lock import hold_output_lock
    openai_candidates(tmp_path / "c.jsonl", 6)
    model = save_base_model(tokenizer, tmp_path / "base")
    out = tmp_path / "run"
    out.mkdir()
    (out / "metrics.jsonl").write_text("the first run's rows\n")
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from pathlib import Path; "
                               "from cotnpot.output_lock import hold_output_lock; "
                               f"lock = hold_output_lock(Path({str(out)!r}), 'x'); print('held', flush=True); "
                               "sys.stdin.read()"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        args = ["train", "--candidates", str(tmp_path / "c.jsonl"), "--model", str(model), "--out", str(out),
                "--batch-size", "2", "--max-steps", "1", "--quiet"]
        assert main(args) == 2
        err = capsys.readouterr().err
        assert f"{out} is in use by another cotnpot train (pid {holder.pid})" in err, err
        assert (out / "metrics.jsonl").read_text() == "the first run's rows\n"
        assert not (out / "train_pairs.jsonl").exists()
    finally:
        holder.communicate("", timeout=30)
    assert main([*args, "--overwrite"]) == 0   # the lock ended with its process (its metrics: an earlier run's)
    lock = hold_output_lock(out, "x")   # and this run's with the run
    lock.close()


@pytest.mark.parametrize("name", ["train_pairs.jsonl", "eval_pairs.jsonl"])
def test_train_refuses_pairs_that_its_out_would_overwrite(tmp_path, capsys, name):
    """Found by a breaker: --pairs OUT/train_pairs.jsonl --out OUT rewrote the input with its own training split
    (the held-out pairs gone from disk), and OUT/eval_pairs.jsonl as the input lost both files' pairs."""
    from cotnpot.cli import main
    out = tmp_path / "out"
    out.mkdir()
    pairs = out / name
    pairs.write_text('{"prompt": "q", "chosen": "a", "rejected": "b"}\n')
    before = pairs.read_bytes()
    assert main(["train", "--pairs", str(pairs), "--model", str(tmp_path / "no-model"), "--out", str(out),
                 "--quiet"]) == 2
    assert f"--out's {name} {pairs}: is the run's input (--pairs), which it would overwrite" in capsys.readouterr().err
    assert pairs.read_bytes() == before and sorted(p.name for p in out.iterdir()) == [name]


def test_pair_files_name_a_line_that_is_not_utf8_and_take_content_parts_not_their_repr(tmp_path):
    """Found by a breaker: a line that was not UTF-8 gave the codec's message, naming neither file nor line; a
    message's content that was no string went through str(): OpenAI content parts trained as a list's repr,
    a null content as "None"."""
    path = tmp_path / "pairs.jsonl"
    good = json.dumps({"prompt": "q", "chosen": "a", "rejected": "b"}).encode()
    path.write_bytes(good + b"\n" + b'{"prompt": "\xff"}\n')
    with pytest.raises(ValueError, match=rf"{re.escape(str(path))}:2: not UTF-8 text \(invalid start byte at byte 12"):
        read_pairs(path)
    parts = [{"role": "user", "content": [{"type": "text", "text": "What is "}, {"type": "text", "text": "2+2?"}]}]
    row = {"prompt": parts, "chosen": [{"role": "assistant", "content": "4"}],
           "rejected": [{"role": "assistant", "content": [{"type": "text", "text": "5"}]}]}
    assert pairs_from_rows([row]) == [PreferencePair("What is 2+2?", "What is 2+2?", "4", "5")]
    for bad, message in (({"content": None}, "the assistant's answer has no text"),
                         ({"content": 5}, "a message's content must be text or a list of text parts, got int")):
        with pytest.raises(ValueError, match=message):
            pairs_from_rows([{**row, "rejected": [{"role": "assistant", **bad}]}])
