"""Real Hugging Face models as verifiers: tiny Llama and Qwen2 built from configs with a byte-level BPE
tokenizer trained offline on the bundled GSM8K questions, saved with save_pretrained, loaded back offline
by load_verifier and scored; cotnpot's average log-prob equals the one computed from transformers' own
outputs, and `cotnpot eval --verifier DIR` ranks with it."""
import json
import re
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


def test_found_by_a_breaker_scores_and_their_cache(saved_model, tmp_path):
    """Each failed before: two pairs with a NUL shared one cache key (one got the other's score); a cache filled
    with max_length gave its truncated scores to a run without; a lone surrogate raised the tokenizers'
    TypeError; an empty solution without EOS scored 0.0 (probability 1, the best score there is); a model
    left in train mode scored with dropout on."""
    from cotnpot.pipeline.data import CandidateTable, Candidate, Problem
    from cotnpot.verifier import ScoreCache, score_table
    _, directory, _ = saved_model
    model, tokenizer = load_verifier(str(directory))
    nul = [("a\0b", "c is the answer"), ("a", "b\0c is the answer")]
    table = CandidateTable("t", "cotnpot", [Problem(f"p{i}", q, "1", [Candidate(text=s, answer="1")])
                                            for i, (q, s) in enumerate(nul)])
    plain = score_table(table, model, tokenizer)
    cached = score_table(table, model, tokenizer, cache=ScoreCache(tmp_path / "c.jsonl", "m"))
    assert plain[0, 0] != plain[1, 0] and torch.equal(cached, plain)
    long_pair = [(QUESTIONS[0], "word " * 40)]
    long_table = CandidateTable("t", "cotnpot", [Problem("p", QUESTIONS[0], "1", [Candidate(text="word " * 40, answer="1")])])
    cache = ScoreCache(tmp_path / "m.jsonl", "m")
    short = score_table(long_table, model, tokenizer, max_length=len(tokenizer.prompt_ids(QUESTIONS[0])) + 5, cache=cache)
    full = score_table(long_table, model, tokenizer, cache=cache)
    assert torch.equal(full, score_solutions(model, tokenizer, long_pair)[None]) and not torch.equal(full, short)

    surrogate = score_solutions(model, tokenizer, [(QUESTIONS[0], "x = 1\ud800")])
    as_bytes = "x = 1\ud800".encode("utf-8", "surrogatepass").decode("utf-8", "replace")   # U+FFFD per byte
    assert "\ufffd" in as_bytes and surrogate.tolist() == score_solutions(model, tokenizer, [(QUESTIONS[0], as_bytes)]).tolist()
    with pytest.raises(TypeError, match="solution must be a str, got NoneType"):
        score_solutions(model, tokenizer, [(QUESTIONS[0], None)])

    no_eos = HFTokenizer(tokenizer.tok, add_eos=False)
    empty = score_solutions(model, no_eos, [(QUESTIONS[0], ""), (QUESTIONS[0], "The answer is 4.")])
    assert torch.isnan(empty[0]) and torch.isfinite(empty[1])

    model.train()
    try:
        model.config.attention_dropout = 0.5
        for layer in model.model.layers:
            layer.self_attn.attention_dropout = 0.5
        twice = [score_solutions(model, tokenizer, PAIRS[:2]) for _ in range(2)]
        assert torch.equal(twice[0], twice[1]) and model.training   # eval while scoring, its mode given back
    finally:
        model.config.attention_dropout = 0.0
        for layer in model.model.layers:
            layer.self_attn.attention_dropout = 0.0
        model.eval()


def test_a_pair_past_the_context_or_a_foreign_tokenizer_is_refused_by_name(saved_model):
    """The trainer refused both; scoring ran a Llama past its context silently and gave a bare IndexError for a
    token id past the vocabulary (and for GPT-2's learned positions)."""
    _, directory, _ = saved_model
    model, tokenizer = load_verifier(str(directory))
    context = model.config.max_position_embeddings
    # the pair named with its question too ("pair 1" alone had not said which problem: a new user)
    with pytest.raises(ValueError, match=rf"pair 1 of 2 \(question '{re.escape(QUESTIONS[0][:60])}\.\.\.'\): \d+ "
                                         rf"tokens, more than the model's context of {context}"):
        score_solutions(model, tokenizer, [PAIRS[0], (QUESTIONS[0], "word " * (2 * context))])
    cut = score_solutions(model, tokenizer, [(QUESTIONS[0], "word " * (2 * context))], max_length=context)
    assert torch.isfinite(cut).all()
    class Foreign(HFTokenizer):   # one more token than the model knows
        def encode_example(self, question, solution):
            ids, start = super().encode_example(question, solution)
            return ids + [model.get_input_embeddings().num_embeddings], start
    with pytest.raises(ValueError, match=r"pair 0 of 1 \(question .*\): token id .* but the model's vocabulary has"):
        score_solutions(model, Foreign(tokenizer.tok), PAIRS[:1])


def test_a_pad_token_outside_the_models_vocabulary_gives_the_same_scores(saved_model):
    """Found by a breaker: a [PAD] added to the tokenizer without resizing the model raised a bare IndexError
    in the embedding as soon as a batch held solutions of two lengths. Padding is masked out, so any id of
    the model's vocabulary gives the same scores."""
    _, directory, _ = saved_model
    model, tokenizer = load_verifier(str(directory))
    want = score_solutions(model, tokenizer, PAIRS, batch_size=1)   # no padding at all

    outside = HFTokenizer(tokenizer.tok)
    outside.pad_token_id = model.get_input_embeddings().num_embeddings + 3
    got = score_solutions(model, outside, PAIRS, batch_size=4)
    assert torch.allclose(got, want, atol=1e-5, rtol=0), (got, want)


def test_a_tokenizer_that_appends_eos_leaves_it_off_the_prompt():
    """A breaker: a tokenizer whose post-processor appends EOS (Llama's add_eos_token=True) put an end of
    sequence between the prompt and the solution, in training and in scoring. The prompt keeps what the
    tokenizer adds before it (BOS), not the EOS after it."""
    from tokenizers.processors import TemplateProcessing
    tokenizer = train_bpe_tokenizer(QUESTIONS[:50], vocab_size=300)
    plain = HFTokenizer(tokenizer).encode_example("What is 1+1?", "2")
    eos, bos = tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids("<pad>")
    tokenizer._tokenizer.post_processor = TemplateProcessing(single="<pad> $A <|endoftext|>",
                                                             special_tokens=[("<pad>", bos), ("<|endoftext|>", eos)])
    ids, start = HFTokenizer(tokenizer).encode_example("What is 1+1?", "2")
    assert ids[0] == bos and ids[start - 1] != eos and eos not in ids[:start]
    assert (ids[1:], start - 1) == plain   # the same text tokens, solution and final EOS


def test_threads_scoring_one_model_in_training_mode_take_turns_and_restore_the_mode():
    """Scoring switches the model to eval mode and back: two threads scoring one model at once had left it
    in eval mode, and one of them scored with dropout on (a reviewer: 2 of 5 trials)."""
    import threading
    tokenizer = train_bpe_tokenizer(QUESTIONS, vocab_size=400)
    model = tiny_causal_lm("llama", tokenizer, attention_dropout=0.5)
    tokenizer = HFTokenizer(tokenizer)
    pairs = [(q, "The answer is 18 because 9 * 2 = 18.") for q in QUESTIONS[:24]]
    want = score_solutions(model.eval(), tokenizer, pairs, batch_size=4)
    model.train()
    got = {}

    def score(name):
        for _ in range(3):
            got.setdefault(name, []).append(score_solutions(model, tokenizer, pairs, batch_size=4))

    threads = [threading.Thread(target=score, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert model.training
    for name in ("a", "b"):
        for scores in got[name]:
            assert torch.equal(scores, want), name
