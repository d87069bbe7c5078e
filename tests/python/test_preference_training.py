"""Chosen/rejected log-probs from one forward pass in both layouts, and 20 SimPO steps on a tiny model that
match the pure-PyTorch reference step by step."""
import copy
from types import SimpleNamespace

import pytest
import torch
from torch import nn

import cotnpot
from cotnpot import reference

VOCAB, PAD, IGNORE = 24, 0, -100


class TinyLM(nn.Module):
    """A few layers with the Hugging Face call convention: model(input_ids, attention_mask).logits."""

    def __init__(self, hidden=16):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, hidden)
        self.mix = nn.Linear(2 * hidden, hidden)
        self.out = nn.Linear(hidden, VOCAB)
        self.calls = 0

    def forward(self, input_ids, attention_mask):
        self.calls += 1
        h = self.embed(input_ids) * attention_mask.unsqueeze(-1)
        previous = torch.nn.functional.pad(h, (0, 0, 1, 0))[:, :-1]   # each position also sees the one before
        return SimpleNamespace(logits=self.out(torch.tanh(self.mix(torch.cat([h, previous], -1)))))


def make_batch(seed, pairs=4, prompt=3):
    """Right-padded chosen and rejected batches of different lengths; labels hide prompt and padding."""
    g = torch.Generator().manual_seed(seed)

    def side(max_len):
        lengths = torch.randint(prompt + 2, max_len + 1, (pairs,), generator=g)
        ids = torch.randint(1, VOCAB, (pairs, max_len), generator=g)
        mask = torch.arange(max_len)[None] < lengths[:, None]
        ids = ids.masked_fill(~mask, PAD)
        labels = ids.masked_fill(~mask, IGNORE)
        labels[:, :prompt] = IGNORE
        return ids, mask.long(), labels

    return side(9), side(7)


def reference_logps(model, ids, mask, labels, reduction):
    """Two separate forward passes and log_softmax + gather: what the helper must reproduce."""
    return reference.sequence_logprob(model(ids, mask).logits, labels, reduction=reduction, shift=True)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_both_layouts_give_the_reference_logprobs_in_one_forward_pass(reduction):
    torch.manual_seed(0)
    model = TinyLM()
    (c_ids, c_mask, c_labels), (r_ids, r_mask, r_labels) = make_batch(1)
    want_chosen = reference_logps(model, c_ids, c_mask, c_labels, reduction)
    want_rejected = reference_logps(model, r_ids, r_mask, r_labels, reduction)

    model.calls = 0
    separate = cotnpot.preference_logprobs(model, c_ids, c_mask, c_labels, r_ids, r_mask, r_labels, reduction=reduction)
    assert model.calls == 1
    ids, mask, labels = cotnpot.concatenate_pairs(c_ids, c_mask, c_labels, r_ids, r_mask, r_labels)
    assert ids.shape == (8, 9)
    concatenated = cotnpot.preference_logprobs(model, ids, mask, labels, reduction=reduction)
    for got in (separate, concatenated):
        torch.testing.assert_close(got.chosen, want_chosen, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(got.rejected, want_rejected, rtol=1e-5, atol=1e-5)
        assert got.chosen_lengths.tolist() == (c_labels[:, 1:] != IGNORE).sum(-1).tolist()
        assert got.rejected_lengths.tolist() == (r_labels[:, 1:] != IGNORE).sum(-1).tolist()


def test_layout_errors():
    model = TinyLM()
    (c_ids, c_mask, c_labels), (r_ids, r_mask, r_labels) = make_batch(2)
    with pytest.raises(ValueError, match="even batch size, got 3"):
        cotnpot.preference_logprobs(model, c_ids[:3], c_mask[:3], c_labels[:3])
    with pytest.raises(ValueError, match="pass all of rejected_input_ids"):
        cotnpot.preference_logprobs(model, c_ids, c_mask, c_labels, rejected_input_ids=r_ids)
    with pytest.raises(ValueError, match="must pair up, got 4 chosen and 3 rejected"):
        cotnpot.concatenate_pairs(c_ids, c_mask, c_labels, r_ids[:3], r_mask[:3], r_labels[:3])
    with pytest.raises(ValueError, match="chosen_labels must have the shape of chosen_input_ids"):
        cotnpot.concatenate_pairs(c_ids, c_mask, c_labels[:, :4], r_ids, r_mask, r_labels)


STEPS = 20
MARGIN_GAIN = 3.0   # rise of the mean reward margin beta * (chosen - rejected) over the 20 steps (0.6 -> 4.9 seen)


def test_simpo_training_matches_reference_step_by_step():
    torch.manual_seed(0)
    ours = TinyLM()
    theirs = copy.deepcopy(ours)
    opt_ours = torch.optim.SGD(ours.parameters(), lr=0.5)
    opt_theirs = torch.optim.SGD(theirs.parameters(), lr=0.5)
    loss_fn = cotnpot.SimPOLoss()
    (c_ids, c_mask, c_labels), (r_ids, r_mask, r_labels) = make_batch(3)

    margins = []
    for step in range(STEPS):
        logps = cotnpot.preference_logprobs(ours, c_ids, c_mask, c_labels, r_ids, r_mask, r_labels)
        out = loss_fn(logps.chosen, logps.rejected)
        opt_ours.zero_grad()
        out.loss.backward()
        opt_ours.step()

        ref_chosen = reference_logps(theirs, c_ids, c_mask, c_labels, "mean")
        ref_rejected = reference_logps(theirs, r_ids, r_mask, r_labels, "mean")
        ref_loss = reference.simpo_loss(ref_chosen, ref_rejected)[0].mean()
        opt_theirs.zero_grad()
        ref_loss.backward()
        opt_theirs.step()

        assert out.loss.item() == pytest.approx(ref_loss.item(), rel=1e-4, abs=1e-5), f"step {step}"
        margins.append(out.reward_margin.item())

    assert margins[-1] - margins[0] > MARGIN_GAIN, margins
    for p, q in zip(ours.parameters(), theirs.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-3, atol=1e-4)
