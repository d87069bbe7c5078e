"""The experiment's reasoner: a tiny LM trained on generated solutions, sampled with a calculator."""
import re

import pytest
import torch

from cotnpot import answer
from cotnpot.models.hf_tiny import train_bpe_tokenizer
from cotnpot.train.reasoner import (Calculator, ReasonerConfig, calculator_value, final_answer, reasoner_problems,
                                    sample_with_reasoner, train_reasoner)
from cotnpot.train.synthetic import generate_problems

ANNOTATION = re.compile(r"<<([^<>=]*)=([^<>]*)>>")


def test_calculator_values():
    assert calculator_value("12+30") == "42"
    assert calculator_value("7-9") == "-2"
    assert calculator_value("6*7") == "42"
    assert calculator_value("8/4") == "2"
    assert calculator_value("7/2") == "3.50"
    assert calculator_value("10/3") == "3.33"
    assert calculator_value(" 5 + 1 ") == "6"
    for not_one in ("5/0", "a+b", "1+2+3", "", "12"):
        assert calculator_value(not_one) is None


def test_final_answer_is_the_last_stated_one():
    assert final_answer("x\nThe answer is 12.") == "12"
    assert final_answer("The answer is 3. The answer is -4.") == "-4"
    assert final_answer("The answer is 2.50.") == "2.50"
    assert final_answer("no final line") == ""


def test_calculator_forces_the_value_after_an_open_annotation():
    tokenizer = train_bpe_tokenizer(["After buying 12 more: 30 + 12 = <<30+12=42>>42."] * 30, vocab_size=300)
    prompt = tokenizer("Q\n").input_ids
    written = tokenizer("We have 30 + 12 = <<30+12=").input_ids
    calculator = Calculator(tokenizer, len(prompt), rows=2)
    vocab = len(tokenizer)
    # row 0 has just opened an annotation and written "="; row 1 wrote "=" outside one
    row1 = tokenizer("We have 30 + 12 =").input_ids
    width = max(len(written), len(row1))
    ids = torch.full((2, len(prompt) + width), tokenizer.pad_token_id)
    ids[0, :len(prompt) + len(written)] = torch.tensor(prompt + written)
    ids[1, :len(prompt) + len(row1)] = torch.tensor(prompt + row1)
    # feed the rows token by token, as generate does, so the processor tracks the annotation state
    calculator_out = []
    for end in range(len(prompt) + 1, ids.shape[1] + 1):
        calculator_out = calculator(ids[:, :end], torch.zeros(2, vocab))
    expected = tokenizer("42>>").input_ids
    forced = []
    scores = calculator_out
    sequence = ids
    for _ in expected:
        token = int(scores[0].argmax())
        assert torch.isinf(scores[0]).sum() == vocab - 1    # exactly one token allowed
        forced.append(token)
        sequence = torch.cat([sequence, torch.tensor([[token], [tokenizer.pad_token_id]])], dim=1)
        scores = calculator(sequence, torch.zeros(2, vocab))
    assert tokenizer.decode(forced) == "42>>"
    assert not torch.isinf(scores).any()                      # nothing forced once the annotation is closed


def test_reasoner_never_trains_on_the_experiments_problems():
    experiment = generate_problems(200, seed=0)
    own = reasoner_problems(300, seed=0, avoid=experiment)
    assert len(own) == 300
    assert not {p.question for p in own} & {p.question for p in experiment}
    assert [p.question for p in own] == [p.question for p in reasoner_problems(300, seed=0, avoid=experiment)]
    assert [p.question for p in own] != [p.question for p in reasoner_problems(300, seed=1, avoid=experiment)]


def test_bad_reasoner_config_is_refused():
    with pytest.raises(ValueError, match="steps must be at least 1, got 0"):
        ReasonerConfig(steps=0)
    with pytest.raises(ValueError, match="temperature must be > 0"):
        ReasonerConfig(temperature=0.0)
    with pytest.raises(ValueError, match="at least one problem"):
        train_reasoner([], ReasonerConfig(steps=1))


@pytest.fixture(scope="module")
def briefly_trained():
    # 200 steps of 16 (40% of 250 of 32, the suite's slowest set-up at 71 s): as many right samples (3 of 48)
    config = ReasonerConfig(problems=400, steps=200, batch_size=16, problems_per_batch=8, max_new_tokens=100)
    model, tokenizer = train_reasoner(reasoner_problems(400, seed=0), config, seed=0)
    return model, tokenizer, config


def test_samples_are_labelled_seeded_and_their_annotations_computed(briefly_trained):
    model, tokenizer, config = briefly_trained
    problems = generate_problems(12, seed=3)
    torch.manual_seed(123)
    state = torch.get_rng_state()
    table = sample_with_reasoner(problems, model, tokenizer, n=4, seed=5, config=config)
    assert torch.equal(torch.get_rng_state(), state)   # the caller's random state is left as it was
    again = sample_with_reasoner(problems, model, tokenizer, n=4, seed=5, config=config)
    texts = [c.text for p in table.problems for c in p.candidates]
    assert texts == [c.text for p in again.problems for c in p.candidates]
    assert tokenizer.padding_side == "right"     # restored after sampling
    annotations = 0
    for problem, row in zip(problems, table.problems):
        assert len(row.candidates) == 4 and row.gold == str(problem.answer)
        for c in row.candidates:
            assert c.answer == final_answer(c.text)
            assert c.label == (c.answer == str(problem.answer))
            if c.answer:
                assert answer.extract_answer(c.text)[0] == c.answer
            for expression, value in ANNOTATION.findall(c.text):
                # the calculator wrote every annotation's value: always right
                if calculator_value(expression) is not None:
                    annotations += 1
                    assert value == calculator_value(expression), c.text
    assert annotations > 50
    # 200 steps give a reasoner that is right sometimes and wrong sometimes, with varied samples
    labels = [c.label for p in table.problems for c in p.candidates]
    assert 0 < sum(labels) < len(labels)
    assert len(set(texts)) > len(texts) // 2


@pytest.mark.parametrize("fast", [False, True])
def test_the_reasoner_autocasts_to_bf16_only_where_the_cpu_has_bf16_instructions(monkeypatch, fast):
    """The suite's 200-step reasoner ran for over 15 minutes on an AVX2 CPU, where torch's bf16 GEMM is a
    scalar fallback: bf16 autocast is now on only where the CPU has bf16 instructions (or when asked)."""
    import cotnpot.train.reasoner as reasoner
    seen, real = [], torch.autocast

    def spy(*args, **kwargs):   # the training step's bf16 autocast (a model may open others of its own)
        if kwargs.get("dtype") == torch.bfloat16:
            seen.append(kwargs.get("enabled", True))
        return real(*args, **kwargs)

    monkeypatch.setattr(reasoner, "cpu_has_fast_bf16", lambda: fast)
    monkeypatch.setattr(torch, "autocast", spy)
    config = ReasonerConfig(problems=8, steps=2, batch_size=2, hidden_size=16, layers=1, heads=2)
    train_reasoner(reasoner_problems(8, seed=0), config, seed=0)
    assert seen == [fast, fast]
    seen.clear()
    train_reasoner(reasoner_problems(8, seed=0), ReasonerConfig(**{**vars(config), "bf16": not fast}), seed=0)
    assert seen == [not fast, not fast]


def test_cpu_bf16_detection_agrees_with_the_kernels_cpu_flags():
    """cpu_has_fast_bf16 reads torch's cpuinfo; /proc/cpuinfo's flags are the kernel's own reading."""
    import platform
    from cotnpot._cpu import cpu_has_fast_bf16
    if platform.machine() not in ("x86_64", "AMD64"):
        pytest.skip("the flags compared are x86's")
    flags = set()
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("flags"):
                flags |= set(line.split(":", 1)[1].split())
    assert cpu_has_fast_bf16() == bool(flags & {"avx512_bf16", "amx_bf16"})
