"""FusedLinearSimPOLoss / FusedLinearDPOLoss: values and gradients (hidden states, weight, bias) equal to the
unfused losses on logits ``hidden @ weight.T + bias``, for every loss type; the head stays the model's."""
import copy

import pytest
import torch

import cotnpot
from cotnpot import DPO_LOSS_TYPES, DPOLoss, FusedLinearDPOLoss, FusedLinearSimPOLoss, SimPOLoss, sequence_logprob
from cotnpot.losses import SIMPO_LOSS_TYPES


def inputs(bias=True, B=3, T=7, H=6, V=37, seed=0):
    g = torch.Generator().manual_seed(seed)
    head = torch.nn.Linear(H, V, bias=bias).double()
    with torch.no_grad():
        head.weight.copy_(torch.randn(V, H, generator=g, dtype=torch.float64))
        if bias:
            head.bias.copy_(torch.randn(V, generator=g, dtype=torch.float64))
    hidden = torch.randn(2 * B, T, H, generator=g, dtype=torch.float64, requires_grad=True)
    labels = torch.randint(V, (2 * B, T), generator=g)
    labels[:, :2] = -100                 # the prompt
    labels[1, 5:] = -100                 # padding of different lengths
    labels[4, 4:] = -100
    return head, hidden, labels


def gradients(loss, head, hidden):
    wanted = [hidden, head.weight] + ([head.bias] if head.bias is not None else [])
    return torch.autograd.grad(loss, wanted)


def unfused_logps(head, hidden, labels, reduction):
    return sequence_logprob(head(hidden), labels, -100, reduction, shift=True)


@pytest.mark.parametrize("loss_type", SIMPO_LOSS_TYPES)
@pytest.mark.parametrize("bias", [False, True])
def test_simpo_equals_the_unfused_loss(loss_type, bias):
    head, hidden, labels = inputs(bias)
    options = dict(beta=2.0, gamma_beta_ratio=0.3, label_smoothing=0.1 if loss_type == "sigmoid" else 0.0,
                   loss_type=loss_type, sft_weight=0.5)
    fused = FusedLinearSimPOLoss(head, vocab_block=8, row_block=5, **options)(hidden, labels)
    logps = unfused_logps(head, hidden, labels, "mean")
    plain = SimPOLoss(**options)(logps[:3], logps[3:])
    torch.testing.assert_close(fused.loss, plain.loss, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(fused.chosen_rewards, plain.chosen_rewards, rtol=1e-12, atol=1e-12)
    for a, b in zip(gradients(fused.loss, head, hidden), gradients(plain.loss, head, hidden)):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("loss_type", DPO_LOSS_TYPES)
def test_every_dpo_loss_type_equals_the_unfused_loss(loss_type):
    head, hidden, labels = inputs(bias=True, seed=1)
    ref = torch.randn(2, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(2)) * 5 - 20
    fused_fn, plain_fn = FusedLinearDPOLoss(head, beta=0.1, loss_type=loss_type), DPOLoss(beta=0.1, loss_type=loss_type)
    fused = fused_fn(hidden, labels, ref[0], ref[1])
    logps = unfused_logps(head, hidden, labels, "sum")
    lengths = (labels[:, 1:] != -100).sum(-1)
    plain = plain_fn(logps[:3], logps[3:], ref[0], ref[1], lengths[:3], lengths[3:])
    torch.testing.assert_close(fused.loss, plain.loss, rtol=1e-10, atol=1e-12)
    for a, b in zip(gradients(fused.loss, head, hidden), gradients(plain.loss, head, hidden)):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)


def test_trl_conventions_and_float32():
    head, hidden, labels = inputs(bias=False, seed=3)
    ref = torch.full((2, 3), -15.0, dtype=torch.float64)
    fused = FusedLinearDPOLoss.trl(head, "ipo", beta=0.2)(hidden, labels, ref[0], ref[1])
    logps = unfused_logps(head, hidden, labels, "sum")
    lengths = (labels[:, 1:] != -100).sum(-1)
    plain = DPOLoss.trl("ipo", beta=0.2)(logps[:3], logps[3:], ref[0], ref[1], lengths[:3], lengths[3:])
    torch.testing.assert_close(fused.loss, plain.loss, rtol=1e-10, atol=1e-12)
    head32 = copy.deepcopy(head).float()
    h32 = hidden.detach().float()
    got = FusedLinearSimPOLoss(head32)(h32, labels).loss
    expected = FusedLinearSimPOLoss(head)(hidden, labels).loss   # float64 ground truth
    torch.testing.assert_close(got.double(), expected.detach(), rtol=1e-5, atol=1e-6)


def test_the_head_stays_the_models_and_bad_input():
    head, hidden, labels = inputs()
    loss_fn = FusedLinearSimPOLoss(head)
    assert list(loss_fn.state_dict()) == [] and list(loss_fn.parameters()) == []
    with torch.no_grad():
        head.weight.mul_(2)   # the model's head, read at every call
    logps = unfused_logps(head, hidden, labels, "mean")
    torch.testing.assert_close(loss_fn(hidden, labels).loss, SimPOLoss()(logps[:3], logps[3:]).loss)
    with pytest.raises(ValueError, match=r"hidden must be \[2B, T, H\].*\[5, 7, 6\]"):
        loss_fn(hidden[:5], labels[:5])
    with pytest.raises(TypeError, match="lm_head must have a 2-D weight"):
        FusedLinearSimPOLoss(torch.nn.ReLU())
    with pytest.raises(ValueError, match="beta must be finite and > 0"):
        FusedLinearDPOLoss(head, beta=0)
    assert cotnpot.FusedLinearSimPOLoss is FusedLinearSimPOLoss


def test_from_a_hugging_face_models_decoder():
    """What the docs say to do with an HF model gives the loss of its own logits."""
    from cotnpot.models.hf_tiny import tiny_causal_lm, train_bpe_tokenizer
    from cotnpot.train.packing import decoder_of
    tokenizer = train_bpe_tokenizer(["one two three four five six seven"] * 20, vocab_size=280)
    model = tiny_causal_lm("qwen2", tokenizer, hidden_size=32, layers=1, heads=2, kv_heads=1).double()
    ids = torch.randint(5, 280, (4, 9), generator=torch.Generator().manual_seed(0))
    mask = torch.ones_like(ids)
    labels = ids.clone()
    labels[:, :3] = -100
    hidden = decoder_of(model)(input_ids=ids, attention_mask=mask).last_hidden_state
    fused = FusedLinearSimPOLoss(model.get_output_embeddings())(hidden, labels).loss
    logps = sequence_logprob(model(input_ids=ids, attention_mask=mask).logits, labels, -100, "mean", shift=True)
    torch.testing.assert_close(fused, SimPOLoss()(logps[:2], logps[2:]).loss, rtol=1e-10, atol=1e-12)


def test_hidden_states_meet_the_heads_dtype():
    """bf16 hidden states (an autocast region) with an fp32 head: computed in the head's dtype."""
    head, hidden, labels = inputs(bias=False, seed=4)
    head32 = copy.deepcopy(head).float()
    got = FusedLinearSimPOLoss(head32)(hidden.detach().bfloat16(), labels).loss
    expected = FusedLinearSimPOLoss(head)(hidden.detach().bfloat16().double(), labels).loss
    torch.testing.assert_close(got.double(), expected, rtol=1e-5, atol=1e-6)


def test_a_model_is_taken_for_its_head_and_refused_where_its_logits_are_transformed():
    """Found by a breaker: Gemma 2's soft-capping and Cohere's and Granite's logit scaling come after the head,
    which the fused log-probs skip: their SimPO losses were 0.2% to 27% off, silently. Given the model, the
    fused losses check its config; a plain Llama's head gives the loss its head gives."""
    from transformers import AutoModelForCausalLM, CohereConfig, Gemma2Config, GraniteConfig, LlamaConfig
    small = dict(vocab_size=40, hidden_size=8, intermediate_size=16, num_hidden_layers=1, num_attention_heads=2,
                 num_key_value_heads=1, head_dim=4)
    for config, name in ((Gemma2Config(**small), "final_logit_softcapping=30.0"),
                         (CohereConfig(**small), "logit_scale=0.0625"),
                         (GraniteConfig(**small, logits_scaling=8.0), "logits_scaling=8.0")):
        model = AutoModelForCausalLM.from_config(config)
        for loss in (FusedLinearSimPOLoss, FusedLinearDPOLoss):
            with pytest.raises(ValueError, match=f"config sets {name}: its logits are not the LM head's plain"):
                loss(model)
    # a multimodal config keeps the text model's fields in its text config (Gemma 3): read too
    from cotnpot.train.packing import logit_transform
    from transformers import Gemma3Config
    gemma3 = Gemma3Config(text_config={**small, "final_logit_softcapping": 30.0})
    assert logit_transform(gemma3) == "final_logit_softcapping=30.0" and logit_transform(LlamaConfig(**small)) is None
    llama = AutoModelForCausalLM.from_config(LlamaConfig(**small)).double()
    g = torch.Generator().manual_seed(1)
    hidden, labels = torch.randn(4, 5, 8, generator=g, dtype=torch.float64), torch.randint(40, (4, 5), generator=g)
    want = FusedLinearSimPOLoss(llama.get_output_embeddings())(hidden, labels).loss
    assert torch.equal(FusedLinearSimPOLoss(llama)(hidden, labels).loss, want)
    logps = sequence_logprob(hidden @ llama.lm_head.weight.T, labels, reduction="mean", shift=True)
    assert torch.allclose(want, SimPOLoss()(logps[:2], logps[2:]).loss, atol=1e-12)


def test_soft_capped_and_scaled_logits_of_more_architectures_are_refused():
    """Found by a reviewer: RecurrentGemma's logits_soft_cap and xLSTM's output_logit_soft_cap (tanh(x/cap)*cap
    after the head) were not among the fields checked, and a RecurrentGemma's fused SimPO loss came out 112.3
    against 41.7 from its own logits. The others of the list change the logits (or the head's input) too."""
    import transformers
    from transformers import AutoModelForCausalLM, RecurrentGemmaConfig
    from cotnpot.train.packing import logit_transform
    config = RecurrentGemmaConfig(vocab_size=40, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                                  num_attention_heads=2, num_key_value_heads=1, lru_width=16, attention_window_size=8,
                                  block_types=["recurrent", "attention"])
    model = AutoModelForCausalLM.from_config(config)
    for loss in (FusedLinearSimPOLoss, FusedLinearDPOLoss):
        with pytest.raises(ValueError, match="config sets logits_soft_cap=30.0: its logits are not the LM head's"):
            loss(model)
    assert logit_transform(transformers.xLSTMConfig()) == "output_logit_soft_cap=30.0"
    for name in ("softcap", "output_multiplier", "logits_mup_width_multiplier"):
        assert logit_transform(transformers.PretrainedConfig(**{name: 2.0})) == f"{name}=2.0"


def test_a_head_replaced_after_the_loss_was_made_is_the_one_used():
    """Found by a reviewer: given the model, the loss had kept the head it found when it was made; after
    resize_token_embeddings (an untied head) it computed with the old one, and the new one got no gradient."""
    from transformers import AutoModelForCausalLM, LlamaConfig
    config = LlamaConfig(vocab_size=40, hidden_size=8, intermediate_size=16, num_hidden_layers=1, num_attention_heads=2,
                         num_key_value_heads=1, head_dim=4, tie_word_embeddings=False)
    model = AutoModelForCausalLM.from_config(config).double()
    loss_fn = FusedLinearSimPOLoss(model)
    model.resize_token_embeddings(48)
    g = torch.Generator().manual_seed(2)
    ids = torch.randint(40, (4, 6), generator=g)
    labels = ids.clone()
    labels[:, :2] = -100
    loss = loss_fn(model.model(input_ids=ids).last_hidden_state, labels).loss
    loss.backward()
    assert loss_fn.lm_head is model.lm_head and model.lm_head.weight.grad is not None
    with torch.no_grad():
        logps = sequence_logprob(model(input_ids=ids).logits, labels, reduction="mean", shift=True)
    torch.testing.assert_close(loss.detach(), SimPOLoss()(logps[:2], logps[2:]).loss)


def test_bad_block_options_and_references_fail_where_they_are_given():
    """Found by a reviewer: the loss modules took row_block=-1, block_memory_mb=0 or nan and vocab_block=2.5 and
    failed only at their first call; beside a row_block, block_memory_mb was not checked at all; a Python
    number as a reference log-prob raised an AttributeError."""
    head, hidden, labels = inputs()
    bad = ((ValueError, {"row_block": -1}, "row_block must be an int >= 0"),
           (TypeError, {"vocab_block": 2.5}, "vocab_block must be an int >= 0"),
           (ValueError, {"block_memory_mb": 0}, "block_memory_mb must be a finite number > 0"),
           (ValueError, {"block_memory_mb": float("nan")}, "block_memory_mb must be a finite number > 0"),
           (ValueError, {"row_block": 2, "block_memory_mb": -5}, "block_memory_mb must be a finite number > 0"),
           (ValueError, {"row_block": 2, "block_memory_mb": "lots"}, "block_memory_mb must be a finite"),
           # past int64: accepted here, then torch's "expected int, found int" at the first call (a breaker)
           (ValueError, {"row_block": 2 ** 63}, "row_block must be an int >= 0 .* that fits int64, got 9223372036854775808"),
           (ValueError, {"vocab_block": 2 ** 64}, "vocab_block must be an int >= 0 .* that fits int64"))
    for error, options, message in bad:
        for loss in (FusedLinearSimPOLoss, FusedLinearDPOLoss):
            with pytest.raises(error, match=message):
                loss(head, **options)
        with pytest.raises(error, match=message):
            cotnpot.fused_linear_logprob(hidden[:, 0], head.weight, labels[:, 0], **options)
    with pytest.raises(TypeError, match="ref_chosen_logps must be a tensor"):
        FusedLinearDPOLoss(head)(hidden, labels, -1.0, torch.zeros(3))
    with pytest.raises(TypeError, match="ref_rejected_logps must be a tensor"):
        FusedLinearDPOLoss(head)(hidden, labels, torch.zeros(3), [-2.0] * 3)


def test_a_hidden_or_head_that_is_no_float_is_refused_before_any_cast():
    """Found by a breaker: the modules cast hidden to the head's dtype before any check, so an integer hidden
    gave a loss, and an int8 (quantized) head's error blamed a float32 hidden."""
    head, hidden, labels = inputs()
    for loss in (FusedLinearSimPOLoss(head), FusedLinearDPOLoss(head)):
        args = (torch.zeros(3),) * 2 if isinstance(loss, FusedLinearDPOLoss) else ()
        with pytest.raises(TypeError, match=r"hidden must be floating-point, got torch.int64"):
            loss(hidden.round().long(), labels, *args)
    quantized = torch.nn.Linear(head.in_features, head.out_features, bias=False)
    quantized.weight = torch.nn.Parameter(torch.randint(-127, 127, quantized.weight.shape, dtype=torch.int8),
                                          requires_grad=False)
    with pytest.raises(TypeError, match=r"lm_head's weight must be floating-point, got torch.int8"):
        FusedLinearSimPOLoss(quantized)
