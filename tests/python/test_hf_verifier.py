"""Real Hugging Face models as verifiers: tiny Llama and Qwen2 built from configs with a byte-level BPE
tokenizer trained offline on the bundled GSM8K questions, saved with save_pretrained, loaded back offline
by load_verifier and scored; cotnpot's average log-prob equals the one computed from transformers' own
outputs, and `cotnpot eval --verifier DIR` ranks with it."""
import json
from pathlib import Path

import pytest
import torch

from cotnpot.cli import main
from cotnpot.pipeline.data import load_candidates
from cotnpot.models.hf_tiny import CHATML_TEMPLATE, tiny_causal_lm, train_bpe_tokenizer
from cotnpot.verifier import HFTokenizer, load_verifier, prompt_for, score_solutions

ROOT = Path(__file__).resolve().parents[2]
QUESTIONS = [json.loads(line)["question"] for line in (ROOT / "data" / "gsm8k_test.jsonl").open()][:300]
PAIRS = [(QUESTIONS[0], "She has 16 - 3 - 4 = 9 eggs left, so 9 * 2 = 18 dollars. The answer is 18."),
         (QUESTIONS[1], "2 + 1 = 3 bolts."),
         (QUESTIONS[2], "He made a profit of 70000 dollars, the answer is 70000"),
         ("", "An empty question still has a prompt.")]


@pytest.fixture(scope="module", params=["llama", "qwen2"])
def saved_model(request, tmp_path_factory):
    arch = request.param
    template = CHATML_TEMPLATE if arch == "qwen2" else None   # Qwen2 chats; this Llama has no template
    tokenizer = train_bpe_tokenizer(QUESTIONS, vocab_size=400, chat_template=template)
    model = tiny_causal_lm(arch, tokenizer)
    directory = tmp_path_factory.mktemp(arch)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return arch, directory, model


def reference_average_logprob(model, tokenizer, question, solution):
    """From transformers' own outputs, one pair at a time, no padding: log_softmax of the logits at the
    positions that predict the solution's tokens (and EOS), averaged."""
    if tokenizer.chat_template:
        prompt = tokenizer.apply_chat_template([{"role": "user", "content": question}], add_generation_prompt=True,
                                               tokenize=False)
        head = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    else:
        head = tokenizer(prompt_for(question))["input_ids"]
    tail = tokenizer(solution, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    ids = torch.tensor([head + tail])
    with torch.no_grad():
        logits = model(input_ids=ids).logits.double()
    logp = torch.log_softmax(logits[0, :-1], -1).gather(1, ids[0, 1:, None])[:, 0]
    return logp[len(head) - 1:].mean().item()


def test_load_verifier_reloads_the_saved_model_offline(saved_model, monkeypatch):
    arch, directory, original = saved_model
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model, tokenizer = load_verifier(str(directory))
    assert model.config.model_type == arch and isinstance(tokenizer, HFTokenizer)
    assert tokenizer.uses_chat_template == (arch == "qwen2")
    saved, loaded = original.state_dict(), model.state_dict()
    assert saved.keys() == loaded.keys()
    for name in saved:
        assert torch.equal(saved[name], loaded[name]), name


def test_scores_equal_transformers_own_log_probs(saved_model):
    _, directory, _ = saved_model
    model, tokenizer = load_verifier(str(directory))
    scores = score_solutions(model, tokenizer, PAIRS, batch_size=3)   # padded batches of mixed lengths
    want = torch.tensor([reference_average_logprob(model, tokenizer.tok, q, s) for q, s in PAIRS])
    torch.testing.assert_close(scores.double(), want.double(), rtol=1e-5, atol=1e-5)
    # An untrained model over a 400-token vocabulary: about log(1/400) per token.
    assert (scores - torch.log(torch.tensor(1 / 400))).abs().max() < 1.0


def test_chat_template_is_the_prompt(saved_model):
    arch, directory, _ = saved_model
    _, tokenizer = load_verifier(str(directory))
    ids, start = tokenizer.encode_example("What is 2 + 3?", "5")
    prompt = tokenizer.tok.decode(ids[:start])
    if arch == "qwen2":
        assert prompt == "<|im_start|>user\nWhat is 2 + 3?<|im_end|>\n<|im_start|>assistant\n"
    else:
        assert prompt == "Question: What is 2 + 3?\nAnswer: "
    assert tokenizer.tok.decode(ids[start:]) == "5<|endoftext|>"


def test_cotnpot_eval_ranks_with_a_saved_hf_model(saved_model, tmp_path):
    _, directory, _ = saved_model
    rows = [json.loads(r) for r in (ROOT / "data" / "qwen25math_rm_maj_example_math_cot_100.jsonl").open()][:4]
    for r in rows:
        r["code"] = [c[-200:] for c in r["code"]]
    (tmp_path / "c.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main(["eval", "--candidates", str(tmp_path / "c.jsonl"), "--verifier", str(directory),
                 "--out", str(tmp_path / "out"), "--quiet"]) == 0
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    # rm@8 from scores computed here one solution at a time, from transformers' outputs, not by cotnpot
    model, tokenizer = load_verifier(str(directory))
    table = load_candidates(tmp_path / "c.jsonl")
    labels = table.labels()
    best = torch.tensor([max(range(len(r["code"])), key=lambda i, r=r: reference_average_logprob(
        model, tokenizer.tok, r["question"], r["code"][i])) for r in rows])
    want = 100 * labels.gather(1, best[:, None]).float().mean().item()
    assert report["metrics"]["source"]["rm"]["8"]["value"] == pytest.approx(want)


def test_bad_architecture():
    with pytest.raises(ValueError, match="architecture must be one of \\['llama', 'qwen2'\\], got 'gpt9'"):
        tiny_causal_lm("gpt9", train_bpe_tokenizer(QUESTIONS[:20], vocab_size=300))
