"""Verifier scoring with models: TinyCausalLM's padding invariance, scores equal to a pure-PyTorch
reference, save/load, the loading errors, `cotnpot eval --verifier`, and 2 gloo processes giving the same
scores as one."""
import json
import os
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from cotnpot.cli import main
from cotnpot.models import ByteTokenizer, TinyCausalLM, TinyConfig
from cotnpot.verifier import load_verifier, prompt_for, score_solutions

ROOT = Path(__file__).resolve().parents[2]
PAIRS = [("What is 2+2?", "2+2 = 4. The answer is 4."), ("Janet has 3 apples.", "She has 3."),
         ("q", "a much longer solution, with more tokens than the others in this batch"), ("x", "y"),
         ("Kim runs 5 km a day.", "5 * 7 = 35 km a week")]


def tiny(seed=0):
    torch.manual_seed(seed)
    return TinyCausalLM(TinyConfig(dim=32, layers=2, heads=4, hidden=86)).eval()


def reference_scores(model, tokenizer, pairs):
    """One pair at a time, no padding: log_softmax + gather over the solution tokens, averaged."""
    out = []
    for q, s in pairs:
        ids, start = tokenizer.encode_pair(prompt_for(q), s)
        logits = model(torch.tensor([ids])).logits[0].double()
        logp = torch.log_softmax(logits[:-1], -1).gather(-1, torch.tensor(ids[1:])[:, None])[:, 0]
        out.append(logp[start - 1:].mean().item())
    return torch.tensor(out, dtype=torch.float64)


def test_padding_does_not_change_the_logits_of_real_tokens():
    model, ids = tiny(), torch.tensor([[256, 72, 105, 33, 257]])
    alone = model(ids).logits
    right = model(torch.cat([ids, torch.full((1, 3), 258)], 1), torch.tensor([[1] * 5 + [0] * 3])).logits[:, :5]
    left = model(torch.cat([torch.full((1, 3), 258), ids], 1), torch.tensor([[0] * 3 + [1] * 5])).logits[:, 3:]
    assert torch.allclose(alone, right, atol=1e-5) and torch.allclose(alone, left, atol=1e-5)


@pytest.mark.parametrize("batch_size", [1, 2, 8])
def test_scores_equal_the_reference(batch_size):
    model, tok = tiny(), ByteTokenizer()
    got = score_solutions(model, tok, PAIRS, batch_size=batch_size)
    assert torch.allclose(got.double(), reference_scores(model, tok, PAIRS), atol=1e-5, rtol=1e-5)


def test_save_load_and_loading_errors(tmp_path):
    model = tiny(1)
    model.save_pretrained(tmp_path / "m")
    loaded, tok = load_verifier(f"tiny:{tmp_path / 'm'}")
    assert torch.equal(score_solutions(model, tok, PAIRS), score_solutions(loaded, tok, PAIRS))
    with pytest.raises(FileNotFoundError, match="config.json is missing"):
        load_verifier(f"tiny:{tmp_path / 'nothing'}")
    # Found by a breaker: these named no file (a bare JSONDecodeError, pickle's "Ran out of input").
    config, weights = tmp_path / "m" / "config.json", tmp_path / "m" / "model.pt"
    whole = weights.read_bytes()
    weights.write_bytes(whole[:len(whole) // 2])
    with pytest.raises(ValueError, match=f"{weights}: not this model's weights"):
        load_verifier(f"tiny:{tmp_path / 'm'}")
    weights.write_bytes(whole)
    text = config.read_text()
    config.write_text(text[:-5])
    with pytest.raises(ValueError, match=f"{config}: not a JSON file"):
        load_verifier(f"tiny:{tmp_path / 'm'}")
    config.write_text(text.replace('"dim"', '"width"'))
    with pytest.raises(ValueError, match=f"{config}: .*'width'"):
        load_verifier(f"tiny:{tmp_path / 'm'}")
    config.write_text(text)
    assert torch.equal(score_solutions(model, tok, PAIRS), score_solutions(load_verifier(f"tiny:{tmp_path / 'm'}")[0], tok, PAIRS))
    with pytest.raises(ValueError, match="heads of even size"):
        TinyCausalLM(TinyConfig(dim=30, heads=4))
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        score_solutions(model, tok, PAIRS, batch_size=0)
    with pytest.raises(ValueError, match="longer than max_length 8"):
        TinyCausalLM(TinyConfig(dim=32, heads=4, max_length=8))(torch.zeros(1, 9, dtype=torch.long))
    # Offline only: a hub name is not a directory, and a directory needs save_pretrained's config.json.
    with pytest.raises(FileNotFoundError, match="'Qwen/Qwen2.5-Math-7B': no such directory"):
        load_verifier("Qwen/Qwen2.5-Math-7B")
    with pytest.raises(FileNotFoundError, match="no config.json"):
        load_verifier(str(tmp_path))
    # Without the tiny: prefix, a saved TinyCausalLM had met transformers' "does not recognize this
    # architecture" (a new user): its config says what it is, so it loads as one
    plain, _ = load_verifier(str(tmp_path / "m"))
    assert isinstance(plain, TinyCausalLM) and torch.equal(score_solutions(plain, tok, PAIRS),
                                                           score_solutions(model, tok, PAIRS))
    # ... and with the head of an ORM verifier, either way (a reviewer: the tiny: path had dropped it, and the
    # verifier scored with average log-probs)
    from cotnpot.modules import ORMHead
    from cotnpot.verifier import scores_are_probabilities
    head = ORMHead(model.config.dim)
    torch.save({"hidden_size": model.config.dim, "state": head.state_dict()}, tmp_path / "m" / "orm_head.pt")
    for spec in (str(tmp_path / "m"), f"tiny:{tmp_path / 'm'}"):
        orm, _ = load_verifier(spec)
        assert scores_are_probabilities(orm) and torch.equal(orm.orm_head.linear.weight, head.linear.weight), spec
        probabilities = score_solutions(orm, tok, PAIRS)
        assert ((probabilities > 0) & (probabilities < 1)).all(), probabilities


def test_cli_scores_with_the_verifier(tmp_path):
    tiny(2).save_pretrained(tmp_path / "m")
    rows = [json.loads(r) for r in (ROOT / "data" / "qwen25math_rm_maj_example_math_cot_100.jsonl").open()][:6]
    for r in rows:   # the solutions' last 120 characters: byte-level attention over whole solutions is slow
        r["code"] = [c[-120:] for c in r["code"]]
    (tmp_path / "c.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main(["eval", "--candidates", str(tmp_path / "c.jsonl"), "--verifier", f"tiny:{tmp_path / 'm'}",
                 "--out", str(tmp_path / "out"), "--quiet"]) == 0
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert "verifier" in report["rules"]["rm"] and "score" in report["timings"]
    # rm@8 is then the label of the candidate with the highest model score, problem by problem
    from cotnpot.pipeline.data import load_candidates
    from cotnpot.verifier import score_table
    table = load_candidates(tmp_path / "c.jsonl")
    model, tok = load_verifier(f"tiny:{tmp_path / 'm'}")
    best = score_table(table, model, tok).argmax(1)
    want = 100 * table.labels().gather(1, best[:, None]).float().mean().item()
    assert report["metrics"]["source"]["rm"]["8"]["value"] == pytest.approx(want)
    # The run directory caches the scores: a rerun with other N values scores nothing again.
    cached = (tmp_path / "out" / "cache" / "scores.jsonl").read_text().splitlines()
    assert len(cached) == 48
    assert main(["eval", "--candidates", str(tmp_path / "c.jsonl"), "--verifier", f"tiny:{tmp_path / 'm'}",
                 "--out", str(tmp_path / "out"), "--ks", "1,8", "--quiet"]) == 0
    assert (tmp_path / "out" / "cache" / "scores.jsonl").read_text().splitlines() == cached
    again = json.loads((tmp_path / "out" / "report.json").read_text())
    assert again["metrics"]["source"]["rm"]["8"] == report["metrics"]["source"]["rm"]["8"]


def test_scores_finished_before_ctrl_c_are_kept_in_the_cache(tmp_path):
    """Found by a breaker (in the execution stage; scoring had the same flaw): the score cache was written
    once every pair was scored, so Ctrl-C lost them all. Each batch is cached as it is scored: the rerun
    scores only the rest, to the scores of a run never stopped."""
    from cotnpot.pipeline.data import load_candidates
    from cotnpot.verifier import ScoreCache, score_table
    rows = [json.loads(r) for r in (ROOT / "data" / "qwen25math_rm_maj_example_math_cot_100.jsonl").open()][:4]
    for r in rows:
        r["code"] = [c[-60:] for c in r["code"]]
    (tmp_path / "c.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    table, model, tok = load_candidates(tmp_path / "c.jsonl"), tiny(3), ByteTokenizer()
    scored = []

    def stop_after_two_batches(n):
        scored.append(n)
        if len(scored) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        score_table(table, model, tok, batch_size=8, progress=stop_after_two_batches,
                    cache=ScoreCache(tmp_path / "scores.jsonl", "tiny-3"))
    assert len((tmp_path / "scores.jsonl").read_text().splitlines()) == 16
    scored.clear()
    resumed = score_table(table, model, tok, batch_size=8, progress=scored.append,
                          cache=ScoreCache(tmp_path / "scores.jsonl", "tiny-3"))
    assert sum(scored) == 32 - 16
    assert torch.equal(resumed, score_table(table, model, tok, batch_size=8))


def _worker(rank, world, store, model_dir, out):
    torch.distributed.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world)
    model, tok = load_verifier(f"tiny:{model_dir}")
    reported = []
    scores = score_solutions(model, tok, PAIRS * 3, batch_size=2,
                             on_scores=lambda idx, s: reported.extend(zip(idx, s)))
    torch.save(reported, f"{out}.rank{rank}")
    if rank == 0:
        torch.save(scores, out)
    torch.distributed.destroy_process_group()


def test_two_gloo_processes_give_the_same_scores_as_one(tmp_path):
    tiny(3).save_pretrained(tmp_path / "m")
    out = tmp_path / "scores.pt"
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    mp.spawn(_worker, args=(2, tmp_path / "store", tmp_path / "m", out), nprocs=2, join=True)
    model, tok = load_verifier(f"tiny:{tmp_path / 'm'}")
    assert torch.allclose(torch.load(out), score_solutions(model, tok, PAIRS * 3, batch_size=2), atol=1e-6)
    # on_scores reports each pair once, on the rank that scored it, by its index into the whole list
    reported = [torch.load(f"{out}.rank{rank}") for rank in (0, 1)]
    assert sorted(i for part in reported for i, _ in part) == list(range(len(PAIRS) * 3))
    assert {i % 2 for i, _ in reported[0]} == {0} and {i % 2 for i, _ in reported[1]} == {1}
    final = torch.load(out)
    assert all(abs(score - final[i].item()) < 1e-6 for part in reported for i, score in part)
