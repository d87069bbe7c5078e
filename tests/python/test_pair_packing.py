"""The shared-prefix pair layout (cotnpot.train.packing): its structure on a hand-made pair, log-probs and
gradients equal to the concatenated layout's on real architectures, the trainer's choice of layout (and why),
and training that ends where the concatenated layout's training ends."""
import functools

import pytest
import torch

from cotnpot.logprob import sequence_logprob
from cotnpot.models import ByteTokenizer, TinyCausalLM, TinyConfig
from cotnpot.models.hf_tiny import tiny_causal_lm, train_bpe_tokenizer
from cotnpot.train import PreferenceCollator, PreferencePair, TrainConfig, VerifierTrainer
from cotnpot.train.packing import pack_pairs, packed_token_logps, shared_prefix_unsupported
from cotnpot.verifier import HFTokenizer

WORDS = ["What is 12 + 30? Think step by step.", "Tom has 5 apples and buys 7 more.",
         "A train goes 60 km in 2 hours; how fast is it?", "Half of 18 is 9, and 9 times 3 is 27."]


@pytest.fixture(scope="module")
def tokenizer():
    return train_bpe_tokenizer(WORDS * 10 + ["0 1 2 3 4 5 6 7 8 9 = + - The answer is"] * 10, vocab_size=300)


def varied_pairs():
    """Pairs whose solutions differ at the first token, share their first words, where the rejected one is
    a prefix of the chosen one, and of very different lengths (several pairs per packed row)."""
    return [
        PreferencePair("a", WORDS[0], "12 + 30 = 42. The answer is 42.", "12 + 30 = 43. The answer is 43."),
        PreferencePair("b", WORDS[1], "5 + 7 = 12. The answer is 12.", "The answer is 35."),
        PreferencePair("c", WORDS[2], "60 / 2 = 30. The answer is 30.", "60 / 2 = 30."),
        PreferencePair("d", WORDS[3], "27", "26"),
        PreferencePair("e", "Short?", "1", "2 + 2 = 4. 4 + 4 = 8. 8 + 8 = 16. 16 + 16 = 32. The answer is 32."),
    ]


def unpacked_logps(model, batch, reduction="sum"):
    logits = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits
    return sequence_logprob(logits, batch.labels, -100, reduction, shift=True)


def packed_logps(model, packed, reduction="sum"):
    tokens = packed_token_logps(model, (packed.input_ids, packed.attention_mask, packed.position_ids),
                                packed.source, packed.target)
    return packed.reduce(tokens, reduction)


def test_structure_of_one_packed_pair():
    # chosen = prompt [1, 2] + solution [3, 4, 5]; rejected = prompt [1, 2] + solution [3, 6]: prefix [1, 2, 3]
    packed = pack_pairs([([1, 2, 3, 4, 5], 2)], [([1, 2, 3, 6], 2)], pad_token_id=0)
    assert packed.input_ids.tolist() == [[1, 2, 3, 4, 5, 6]]
    # ORM reads each solution token where it sits: the chosen 3, 4, 5; the rejected 3 (shared) and 6
    assert packed.solution.tolist() == [2, 3, 4, 2, 5] and packed.solution_sequence.tolist() == [0, 0, 0, 1, 1]
    assert packed.position_ids.tolist() == [[0, 1, 2, 3, 4, 3]]
    mask = packed.attention_mask[0, 0].int().tolist()
    assert mask[4] == [1, 1, 1, 1, 1, 0]        # the chosen tail: causal
    assert mask[5] == [1, 1, 1, 0, 0, 1]        # the rejected tail: the shared prefix and itself
    # chosen scores 3, 4, 5 from positions 1, 2, 3; rejected scores 3 (from 1, shared) and 6 (from 2)
    assert packed.target.tolist() == [3, 4, 5, 3, 6]
    assert packed.source.tolist() == [1, 2, 3, 1, 2]
    assert packed.sequence.tolist() == [0, 0, 0, 1, 1] and packed.counts.tolist() == [3, 2]
    assert packed.tokens == 9


@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-10), (torch.float32, 2e-5)])
def test_packed_orm_scores_and_gradients_equal_the_concatenated_layouts(tokenizer, tmp_path, dtype, tol):
    """ORM in the shared-prefix layout: every solution token's score (its own hidden state through the head),
    each solution's final score and the loss's gradients as in TRL's concatenated layout."""
    torch.manual_seed(0)
    t = trainer(tokenizer, tmp_path, model=tiny_causal_lm("llama", tokenizer, hidden_size=32, layers=2, heads=4,
                                                          kv_heads=2).to(dtype), objective="orm")
    pairs = varied_pairs()
    batch, packed = t.collator(pairs), t.collator.pack(pairs)
    assert packed.solution_tokens() == batch.solution_tokens()
    got = t.policy(packed.input_ids, packed.attention_mask, packed.position_ids, packed.solution)
    want = t.policy(batch.input_ids, batch.attention_mask)[batch.labels != -100]
    torch.testing.assert_close(got, want, rtol=tol, atol=tol)

    def loss_and_gradients(b):
        t.policy.zero_grad()
        loss, info = t._orm_loss_sum(b)
        loss.backward()
        return loss.detach(), info, {n: p.grad.clone() for n, p in t.policy.named_parameters() if p.grad is not None}
    # each solution's final score: the score at its last solution token (computed here independently)
    scores = t.policy(batch.input_ids, batch.attention_mask)
    last = [int((row != -100).nonzero().max()) for row in batch.labels]
    want_final = torch.stack([scores[i, j] for i, j in enumerate(last)])
    for b in (packed, batch):
        torch.testing.assert_close(t._orm_scores(b)[2], want_final, rtol=tol, atol=tol)
    (loss_p, info_p, grads_p), (loss_c, info_c, grads_c) = loss_and_gradients(packed), loss_and_gradients(batch)
    torch.testing.assert_close(loss_p, loss_c, rtol=tol, atol=tol)
    assert info_p == info_c
    assert grads_p.keys() == grads_c.keys() and "head.linear.weight" in grads_p
    for name in grads_c:   # the prefix's gradient summed before RMSNorm's float32 rounding (see above)
        torch.testing.assert_close(grads_p[name], grads_c[name], rtol=2e-5, atol=2e-5, msg=name)


def test_units_share_rows_and_padding_reads_only_itself():
    packed = pack_pairs([([1, 2, 3, 4, 5, 6], 1), ([7, 8], 1), ([9, 10], 1)],
                        [([1, 2, 3, 9], 1), ([7, 9], 1), ([9, 11], 1)], pad_token_id=0)
    # units: 6 + 1 = 7, 2 + 1 = 3, 2 + 1 = 3 tokens; rows of 7: the two short units share the second
    assert packed.input_ids.tolist() == [[1, 2, 3, 4, 5, 6, 9], [7, 8, 9, 9, 10, 11, 0]]
    mask = packed.attention_mask[1, 0]
    assert not mask[3:6, :3].any() and not mask[:3, 3:].any()   # units never read each other
    assert mask[6].tolist() == [False] * 6 + [True]              # padding reads itself only (no empty row)
    assert packed.position_ids[1].tolist() == [0, 1, 1, 0, 1, 1, 0]


@pytest.mark.parametrize("architecture", ["llama", "qwen2"])
@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-10), (torch.float32, 2e-5)])
def test_packed_logprobs_and_gradients_equal_the_concatenated_layouts(tokenizer, architecture, dtype, tol):
    torch.manual_seed(0)
    model = tiny_causal_lm(architecture, tokenizer, hidden_size=32, layers=2, heads=4, kv_heads=2).to(dtype)
    assert shared_prefix_unsupported(model) is None
    collator = PreferenceCollator(HFTokenizer(tokenizer), max_length=128)
    pairs = varied_pairs()
    batch, packed = collator(pairs), collator.pack(pairs)
    assert packed.input_ids.numel() < batch.input_ids.numel()
    assert torch.equal(packed.counts, batch.label_counts())
    for reduction in ("sum", "mean"):
        expected = unpacked_logps(model, batch, reduction)
        got = packed_logps(model, packed, reduction)
        torch.testing.assert_close(got.to(expected.dtype), expected, rtol=tol, atol=tol * 10)

    def gradients(logps, weights):
        model.zero_grad()
        (logps().to(dtype) * weights).sum().backward()
        return {n: p.grad.clone() for n, p in model.named_parameters()}
    layouts = (lambda: unpacked_logps(model, batch), lambda: packed_logps(model, packed))
    # One sequence's gradient: the same operations in both layouts (pair 0's rejected solution reads the
    # prefix it shares with the chosen one).
    one = torch.zeros(2 * len(pairs), dtype=dtype)
    one[len(pairs)] = 1
    expected, got = (gradients(f, one) for f in layouts)
    for name in expected:
        torch.testing.assert_close(got[name], expected[name], rtol=tol, atol=tol, msg=name)
    # All sequences, weighted apart: the shared prefix's gradient is summed before Llama's and Qwen2's
    # RMSNorm round it to float32 (it computes in float32 whatever the model's dtype) in the packed
    # layout, after in the concatenated one: float32 rounding, in float64 models too.
    weights = torch.linspace(-1, 1, 2 * len(pairs), dtype=dtype)
    expected, got = (gradients(f, weights) for f in layouts)
    for name in expected:
        # in a float32 model also the sums' own rounding, at the gradient's scale: the tied embedding's (values
        # up to 19) came out 5.7e-6 apart on an Intel Xeon, which rounds its GEMMs differently from the AMD
        # EPYC this test first ran on
        scale = 1.0 if dtype == torch.float64 else max(1.0, expected[name].abs().max().item())
        torch.testing.assert_close(got[name], expected[name], rtol=2e-6, atol=2e-6 * scale, msg=name)


def trainer(tokenizer, tmp_path, model=None, **overrides):
    model = model if model is not None else tiny_causal_lm("llama", tokenizer, hidden_size=32, layers=1, heads=2,
                                                           kv_heads=1).double()
    config = TrainConfig(**{"batch_size": 5, "micro_batch_size": 5, "max_length": 128, "progress": False,
                            "lr": 1e-3, **overrides})
    tok = HFTokenizer(tokenizer) if not isinstance(model, TinyCausalLM) else ByteTokenizer()
    return VerifierTrainer(model, tok, config, tmp_path)


@pytest.mark.parametrize("objective", ["simpo", "dpo", "orm"])
def test_training_ends_where_the_concatenated_layout_ends(tokenizer, tmp_path, objective):
    runs = {}
    for layout in ("shared_prefix", "concatenated"):
        torch.manual_seed(0)
        t = trainer(tokenizer, tmp_path / layout, objective=objective, pair_layout=layout, epochs=3)
        t.train(varied_pairs())
        assert t.layout == layout
        runs[layout] = {k: v.detach().clone() for k, v in t.policy.state_dict().items()}   # the ORM head too
    before = tiny_causal_lm("llama", tokenizer, hidden_size=32, layers=1, heads=2, kv_heads=1).double().state_dict()
    assert any(not torch.allclose(before[k], runs["shared_prefix"][f"model.{k}"]) for k in before)
    for name, value in runs["concatenated"].items():
        # float32 rounding of the prefix's gradient by RMSNorm (see above), through a few Adam steps
        torch.testing.assert_close(runs["shared_prefix"][name], value, rtol=1e-5, atol=1e-6, msg=name)


def test_auto_layout_and_its_reasons(tokenizer, tmp_path):
    pairs = varied_pairs()
    t = trainer(tokenizer, tmp_path / "auto", max_steps=1)
    t.train(pairs)
    assert t.layout == "shared_prefix" and t.layout_reason.startswith("its packed forward agreed with the concatenated")
    orm = trainer(tokenizer, tmp_path / "orm", objective="orm", max_steps=1)
    orm.train(pairs)
    assert orm.layout == "shared_prefix" and "agreed" in orm.layout_reason   # checked on its first batch, by scores
    tiny = trainer(tokenizer, tmp_path / "tiny", model=TinyCausalLM(TinyConfig(dim=16, layers=1, heads=2, hidden=32)))
    assert tiny.layout == "concatenated" and "not a Hugging Face model" in tiny.layout_reason
    eager = tiny_causal_lm("llama", tokenizer, hidden_size=32, layers=1, heads=2, kv_heads=1)
    eager.config._attn_implementation = "eager"
    assert "'eager'" in trainer(tokenizer, tmp_path / "eager", model=eager).layout_reason
    with pytest.raises(ValueError, match="pair_layout='shared_prefix': .*'eager'"):
        trainer(tokenizer, tmp_path / "forced", model=eager, pair_layout="shared_prefix")
    with pytest.raises(ValueError, match="pair_layout must be one of"):
        trainer(tokenizer, tmp_path / "bad", pair_layout="packed")


@pytest.mark.parametrize("objective, what", [("simpo", "log-probs"), ("orm", "scores")])
def test_a_model_that_ignores_the_mask_falls_back_after_the_first_batch(tokenizer, tmp_path, objective, what):
    """The check on the first batch catches a decoder that accepts the arguments but does not honour them."""
    model = tiny_causal_lm("llama", tokenizer, hidden_size=32, layers=1, heads=2, kv_heads=1).double()
    decoder = model.model
    original = decoder.forward

    def ignoring_the_mask(*args, attention_mask=None, **kwargs):
        return original(*args, attention_mask=None, **kwargs)
    decoder.forward = functools.wraps(original)(ignoring_the_mask)
    t = trainer(tokenizer, tmp_path / "auto", model=model, max_steps=1, objective=objective)
    assert t.layout is None   # supported on paper: decided on the first batch
    t.train(varied_pairs())
    assert t.layout == "concatenated" and f"its packed {what} differ from the concatenated" in t.layout_reason
    forced = trainer(tokenizer, tmp_path / "forced", model=model, max_steps=1, pair_layout="shared_prefix",
                     objective=objective)
    with pytest.raises(ValueError, match=f"pair_layout='shared_prefix': its packed {what} differ"):
        forced.train(varied_pairs())


# ---- found by review: each failed before its fix -------------------------------------------------------------

def test_sliding_window_and_unknown_architectures_keep_the_concatenated_layout(tokenizer, tmp_path):
    """A custom 4-D mask replaces the model's own, so a sliding window would silently become full attention."""
    windowed = tiny_causal_lm("qwen2", tokenizer, hidden_size=32, layers=2, heads=2, kv_heads=1,
                              use_sliding_window=True, sliding_window=8, max_window_layers=0)
    assert "sliding" in shared_prefix_unsupported(windowed)
    t = trainer(tokenizer, tmp_path / "windowed", model=windowed)
    assert t.layout == "concatenated" and "sliding" in t.layout_reason
    with pytest.raises(ValueError, match="pair_layout='shared_prefix': .*sliding"):
        trainer(tokenizer, tmp_path / "forced", model=windowed, pair_layout="shared_prefix")
    other = tiny_causal_lm("llama", tokenizer, hidden_size=32, layers=1, heads=2, kv_heads=1)
    other.config.model_type = "some_hybrid"
    assert "'some_hybrid' is not among those checked" in trainer(tokenizer, tmp_path / "other", model=other).layout_reason
    assert trainer(tokenizer, tmp_path / "vouched", model=other, pair_layout="shared_prefix").layout is None


def test_dpo_references_are_computed_without_dropout(tokenizer, tmp_path):
    model = tiny_causal_lm("llama", tokenizer, hidden_size=32, layers=1, heads=2, kv_heads=1,
                           attention_dropout=0.3).double()
    t = trainer(tokenizer, tmp_path / "dpo", model=model, objective="dpo", max_steps=1)
    pairs = varied_pairs()
    model.train()
    t.compute_reference_logps(pairs)
    model.eval()
    batch = t.collator(pairs)
    expected = unpacked_logps(model, batch)
    from cotnpot.train.trainer import pair_key
    got = torch.tensor([t.ref_logps[pair_key(p)] for p in pairs], dtype=torch.float64)
    torch.testing.assert_close(got[:, 0], expected[:5].double(), rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(got[:, 1], expected[5:].double(), rtol=1e-9, atol=1e-9)


def patched_decoder(model, replacement):
    decoder = model.model
    original = decoder.forward
    decoder.forward = functools.wraps(original)(lambda *a, **kw: replacement(original, *a, **kw))
    return model


def test_a_packed_forward_that_raises_or_ignores_positions_falls_back(tokenizer, tmp_path):
    def raising(original, *args, attention_mask=None, **kwargs):
        if attention_mask is not None and attention_mask.dim() == 4:
            raise ValueError("too many values to unpack")
        return original(*args, attention_mask=attention_mask, **kwargs)

    def ignoring_positions(original, *args, position_ids=None, **kwargs):
        return original(*args, **kwargs)
    for name, replacement, reason in (("raising", raising, "packed forward failed .*too many values"),
                                      ("positions", ignoring_positions, "differ .* per token")):
        model = patched_decoder(tiny_causal_lm("llama", tokenizer, hidden_size=32, layers=1, heads=2,
                                               kv_heads=1).double(), replacement)
        t = trainer(tokenizer, tmp_path / name, model=model, max_steps=1)
        t.train(varied_pairs())
        assert t.layout == "concatenated", name
        assert __import__("re").search(reason, t.layout_reason), t.layout_reason


def test_the_layout_is_kept_across_a_resume_and_the_check_counts_no_truncation(tokenizer, tmp_path):
    def ignoring_the_mask(original, *args, attention_mask=None, **kwargs):
        return original(*args, attention_mask=None, **kwargs)
    model = patched_decoder(tiny_causal_lm("llama", tokenizer, hidden_size=32, layers=1, heads=2,
                                           kv_heads=1).double(), ignoring_the_mask)
    pairs = varied_pairs() * 2
    first = trainer(tokenizer, tmp_path / "run", model=model, epochs=2)
    first.train(pairs, stop_at_step=1)
    assert first.layout == "concatenated"
    resumed = trainer(tokenizer, tmp_path / "run", epochs=2)   # a model the check would accept
    resumed.train(pairs, resume=True)
    assert resumed.layout == "concatenated" and "differ" in resumed.layout_reason
    counts = {}
    for layout in ("auto", "concatenated"):
        t = trainer(tokenizer, tmp_path / f"cut-{layout}", pair_layout=layout, max_steps=1, max_length=50,
                    truncation="truncate")
        t.train(varied_pairs())
        counts[layout] = t.collator.truncated
    assert counts["auto"] == counts["concatenated"] > 0


def test_orm_accuracy_with_empty_solutions_agrees_across_layouts(tokenizer, tmp_path):
    """A solution without tokens (a tokenizer without EOS and an empty text) scores -inf in both layouts:
    the packed layout read another solution's token for it, and a micro-batch of only such raised."""
    t = trainer(tokenizer, tmp_path, objective="orm")
    t.collator.encode = lambda question, solution, where: ([5, 6] + [7] * len(solution.split()), 2)
    pairs = [PreferencePair("a", "q", "", "x y"), PreferencePair("b", "q", "x", "")]
    finals = [t._orm_scores(b)[2] for b in (t.collator.pack(pairs), t.collator(pairs))]
    for final in finals:
        assert final[0] == float("-inf") and final[3] == float("-inf") and torch.isfinite(final[[1, 2]]).all()
    torch.testing.assert_close(finals[0], finals[1])
    assert t._orm_loss_sum(t.collator.pack(pairs))[1] == t._orm_loss_sum(t.collator(pairs))[1]
    nothing = [PreferencePair("c", "q", "", "")]
    for batch in (t.collator.pack(nothing), t.collator(nothing)):
        loss, info = t._orm_loss_sum(batch)
        assert loss.item() == 0 and info["rewards/accuracies"] == 0.0


def test_orm_head_as_wide_as_the_last_hidden_state(tokenizer, tmp_path):
    """OPT projects its last hidden state to word_embed_proj_dim: an ORM head of hidden_size could not read
    it (both layouts failed; found by review)."""
    from transformers import AutoModelForCausalLM, OPTConfig
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(OPTConfig(
        vocab_size=len(tokenizer), hidden_size=32, word_embed_proj_dim=16, ffn_dim=64, num_hidden_layers=1,
        num_attention_heads=2, max_position_embeddings=512, pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id, bos_token_id=tokenizer.eos_token_id)).double()
    t = trainer(tokenizer, tmp_path, model=model, objective="orm", max_steps=1)
    assert t.head.linear.in_features == 16
    assert "loss" in t.train(varied_pairs())
