"""Hand-computed values for every loss: the arithmetic is written next to each expected number.

log s(x) = -log(1 + e^-x); s = sigmoid.
"""
import math

import pytest
import torch

import cotnpot

t = torch.tensor


def softplus(x):          # log(1 + e^x) = -log s(-x)
    return math.log1p(math.exp(x))


def sig(x):
    return 1 / (1 + math.exp(-x))


# ---- SimPO: z = beta * (chosen - rejected) - gamma, gamma = 0.25 * beta by default ----------------------

@pytest.mark.parametrize("chosen, rejected, kwargs, expected", [
    # beta 2, gamma 0.5: z = 2 * (-1 + 2) - 0.5 = 1.5; -log s(1.5) = log(1 + e^-1.5) = 0.2014133
    (-1.0, -2.0, {}, softplus(-1.5)),
    # z = 2 * (-2 + 1) - 0.5 = -2.5; log(1 + e^2.5) = 2.5788897
    (-2.0, -1.0, {}, softplus(2.5)),
    # hinge: z = 2 * (-1 + 1.2) - 0.5 = -0.1; relu(1 - (-0.1)) = 1.1
    (-1.0, -1.2, {"loss_type": "hinge"}, 1.1),
    # label smoothing 0.1 at z = 1.5: 0.9 * log(1 + e^-1.5) + 0.1 * log(1 + e^1.5) = 0.3514133
    (-1.0, -2.0, {"label_smoothing": 0.1}, 0.9 * softplus(-1.5) + 0.1 * softplus(1.5)),
    # SFT term: + 1.0 * (-(-1.0)) on top of the first case = 1.2014133
    (-1.0, -2.0, {"sft_weight": 1.0}, softplus(-1.5) + 1.0),
    # TRL CPO convention: beta 0.1, gamma 0.5 absolute: z = 0.1 * 1 - 0.5 = -0.4; log(1 + e^0.4) = 0.9130153
    (-1.0, -2.0, {"beta": 0.1, "gamma": 0.5}, softplus(0.4)),
    # gamma_beta_ratio 1 with beta 3: z = 3 * 0.5 - 3 = -1.5; log(1 + e^1.5) = 1.7014133
    (-1.0, -1.5, {"beta": 3.0, "gamma_beta_ratio": 1.0}, softplus(1.5)),
])
def test_simpo_known_values(chosen, rejected, kwargs, expected):
    losses, chosen_r, rejected_r = cotnpot.simpo_loss(t([chosen]), t([rejected]), **kwargs)
    assert losses.item() == pytest.approx(expected, rel=1e-6)
    beta = kwargs.get("beta", 2.0)
    assert chosen_r.item() == pytest.approx(beta * chosen) and rejected_r.item() == pytest.approx(beta * rejected)


# ---- DPO family on (policy chosen, rejected, reference chosen, rejected) = (-10, -12, -11, -11), beta 0.1 -
# l = (-10 + 12) - (-11 + 11) = 2, cl = -10 + 11 = 1, rl = -12 + 11 = -1

PAIR = (-10.0, -12.0, -11.0, -11.0)


@pytest.mark.parametrize("loss_type, kwargs, expected", [
    ("sigmoid", {}, softplus(-0.2)),                                   # -log s(0.1 * 2) = 0.5981389
    ("sigmoid", {"beta": 0.5}, softplus(-1.0)),                        # -log s(0.5 * 2) = 0.3132617
    ("sigmoid", {"label_smoothing": 0.2}, 0.8 * softplus(-0.2) + 0.2 * softplus(0.2)),
    ("hinge", {}, 0.8),                                                # relu(1 - 0.2)
    ("hinge", {"beta": 1.0}, 0.0),                                     # relu(1 - 2)
    ("hinge", {"beta": 0.25}, 0.5),                                    # relu(1 - 0.5)
    ("ipo", {"ipo_length_normalize": False}, 9.0),                     # (2 - 1/(2 * 0.1))^2 = (2 - 5)^2
    ("ipo", {"ipo_length_normalize": False, "beta": 0.5}, 1.0),        # (2 - 1)^2
    ("robust", {"label_smoothing": 0.1}, (0.9 * softplus(-0.2) - 0.1 * softplus(0.2)) / 0.8),
    ("robust", {}, softplus(-0.2)),                                    # eps 0: plain sigmoid
    ("robust", {"label_smoothing": 0.25}, (0.75 * softplus(-0.2) - 0.25 * softplus(0.2)) / 0.5),
    ("sppo_hard", {}, 32.0),                                           # (1 - 5)^2 + (-1 + 5)^2
    ("sppo_hard", {"beta": 0.5}, 0.0),                                 # (1 - 1)^2 + (-1 + 1)^2
    ("sppo_hard", {"beta": 1.0}, 0.5),                                 # (1 - .5)^2 + (-1 + .5)^2
    # -log s(0.1) - 0.5 log s(-0.1) - 0.5 log s(0.1)   (cr = 0.1, rr = -0.1)
    ("nca_pair", {}, softplus(-0.1) + 0.5 * softplus(0.1) + 0.5 * softplus(-0.1)),
    ("nca_pair", {"beta": 1.0}, softplus(-1) + 0.5 * softplus(1) + 0.5 * softplus(-1)),
    ("nca_pair", {"beta": 2.0}, softplus(-2) + 0.5 * softplus(2) + 0.5 * softplus(-2)),
    ("apo_zero", {}, 1 - sig(0.1) + sig(-0.1)),                        # 0.9500417
    ("apo_zero", {"beta": 1.0}, 1 - sig(1) + sig(-1)),
    ("apo_zero", {"beta": 2.0}, 1 - sig(2) + sig(-2)),
    ("apo_down", {}, sig(0.1) + 1 - sig(0.2)),                         # s(b cl) + 1 - s(b (cl - rl))
    ("apo_down", {"beta": 1.0}, sig(1) + 1 - sig(2)),
    ("apo_down", {"beta": 2.0}, sig(2) + 1 - sig(4)),
    # one pair: d = mean(0.1, -0.1) = 0; -log s(0.1) - log s(-(-0.1))
    ("bco_pair", {}, 2 * softplus(-0.1)),
    ("bco_pair", {"bco_delta": t(0.3)}, softplus(-(0.1 - 0.3)) + softplus(-0.1 - 0.3)),
    ("bco_pair", {"bco_delta": t(-0.1)}, softplus(-0.2) + softplus(0.0)),
    # eps 0 -> 1e-3: s(.2)(log s(.2) - log .999) + s(-.2)(log s(-.2) - log .001)
    ("exo_pair", {}, sig(0.2) * (-softplus(-0.2) - math.log(0.999)) + sig(-0.2) * (-softplus(0.2) - math.log(1e-3))),
    ("exo_pair", {"label_smoothing": 0.1},
     sig(0.2) * (-softplus(-0.2) - math.log(0.9)) + sig(-0.2) * (-softplus(0.2) - math.log(0.1))),
    ("exo_pair", {"beta": 1.0, "label_smoothing": 0.5},
     sig(2) * (-softplus(-2) - math.log(0.5)) + sig(-2) * (-softplus(2) - math.log(0.5))),
])
def test_dpo_family_known_values(loss_type, kwargs, expected):
    losses, chosen_r, rejected_r = cotnpot.dpo_loss(*(t([x]) for x in PAIR), loss_type=loss_type, **kwargs)
    assert losses.item() == pytest.approx(expected, rel=1e-5, abs=1e-7)
    beta = kwargs.get("beta", 0.1)
    assert chosen_r.item() == pytest.approx(beta * 1.0) and rejected_r.item() == pytest.approx(beta * -1.0)


def test_ipo_length_normalized_known_values():
    # lengths 4 and 5: chosen -10/4 = -2.5, ref -11/4 = -2.75; rejected -12/5 = -2.4, ref -11/5 = -2.2
    # l = (-2.5 + 2.4) - (-2.75 + 2.2) = 0.45; (0.45 - 5)^2 = 20.7025
    losses, chosen_r, _ = cotnpot.dpo_loss(*(t([x]) for x in PAIR), loss_type="ipo",
                                           chosen_lengths=t([4]), rejected_lengths=t([5]))
    assert losses.item() == pytest.approx(20.7025, rel=1e-6)
    assert chosen_r.item() == pytest.approx(0.1 * 0.25)            # reward on the normalized log-probs
    # lengths 1 and 1 give the sum form: (2 - 5)^2 = 9; beta 0.5 with lengths 2, 2: l = 1, (1 - 1)^2 = 0
    assert cotnpot.dpo_loss(*(t([x]) for x in PAIR), loss_type="ipo", chosen_lengths=t([1]),
                            rejected_lengths=t([1]))[0].item() == pytest.approx(9.0)
    assert cotnpot.dpo_loss(*(t([x]) for x in PAIR), beta=0.5, loss_type="ipo", chosen_lengths=t([2.0]),
                            rejected_lengths=t([2.0]))[0].item() == pytest.approx(0.0, abs=1e-6)


def test_aot_known_values():
    # Two pairs. aot: sort(chosen - rejected) = sort([2, -1]) = [-1, 2]; sort(ref diff) = sort([0, 1]) = [0, 1]
    # delta = [-1, 1]; losses = [-log s(-0.1), -log s(0.1)]
    pc, pr, rc, rr = t([-10.0, -5.0]), t([-12.0, -4.0]), t([-11.0, -3.0]), t([-11.0, -4.0])
    losses, _, _ = cotnpot.dpo_loss(pc, pr, rc, rr, loss_type="aot")
    assert losses.tolist() == pytest.approx([softplus(0.1), softplus(-0.1)], rel=1e-6)
    # aot_pair: cl = [1, -2] -> sorted [-2, 1]; rl = [-1, 0] -> sorted [-1, 0]; delta = [-1, 1]
    losses, _, _ = cotnpot.dpo_loss(pc, pr, rc, rr, loss_type="aot_pair")
    assert losses.tolist() == pytest.approx([softplus(0.1), softplus(-0.1)], rel=1e-6)
    # aot_pair with beta 1: delta = [-1, 1] -> [-log s(-1), -log s(1)] = [log(1 + e), log(1 + e^-1)]
    losses, _, _ = cotnpot.dpo_loss(pc, pr, rc, rr, beta=1.0, loss_type="aot_pair")
    assert losses.tolist() == pytest.approx([softplus(1.0), softplus(-1.0)], rel=1e-6)
    # aot_pair with smoothing 0.2 at beta 0.1: 0.8 log(1 + e^0.1) + 0.2 log(1 + e^-0.1), and mirrored
    losses, _, _ = cotnpot.dpo_loss(pc, pr, rc, rr, loss_type="aot_pair", label_smoothing=0.2)
    assert losses.tolist() == pytest.approx([0.8 * softplus(0.1) + 0.2 * softplus(-0.1),
                                             0.8 * softplus(-0.1) + 0.2 * softplus(0.1)], rel=1e-6)
    # with smoothing 0.5 both elements are 0.5 * (log(1+e^-x) + log(1+e^x)), x = -0.1 and 0.1: equal
    losses, _, _ = cotnpot.dpo_loss(pc, pr, rc, rr, loss_type="aot", label_smoothing=0.5)
    assert losses[0].item() == pytest.approx(losses[1].item()) == pytest.approx(0.5 * (softplus(0.1) + softplus(-0.1)))


# ---- ORM ---------------------------------------------------------------------------------------------

def test_orm_known_values():
    scores = t([[0.0, 2.0, -1.0], [1.0, -3.0, 4.0]])
    mask = t([[True, True, False], [True, True, True]])
    # row 0, label 1: BCE(0, 1) = log 2, BCE(2, 1) = log(1 + e^-2); row 1, label 0: log(1 + e^1), log(1 + e^-3),
    # log(1 + e^4). Mean over the 5 valid tokens.
    per_token = [math.log(2), softplus(-2), softplus(1), softplus(-3), softplus(4)]
    labels = t([1, 0])
    assert cotnpot.orm_loss(scores, labels, mask).item() == pytest.approx(sum(per_token) / 5, rel=1e-6)
    assert cotnpot.orm_loss(scores, labels, mask, reduction="sum").item() == pytest.approx(sum(per_token), rel=1e-6)
    none = cotnpot.orm_loss(scores, labels, mask, reduction="none")
    assert none[0, 2].item() == 0.0 and none[1, 2].item() == pytest.approx(softplus(4), rel=1e-6)
    # scores: last valid token sigmoid: s(2) = 0.8807971, s(4) = 0.9820138; mean: (s(0) + s(2)) / 2 = 0.6903985
    assert cotnpot.orm_score(scores, mask).tolist() == pytest.approx([sig(2), sig(4)], rel=1e-6)
    assert cotnpot.orm_score(scores, mask, mode="mean").tolist() == pytest.approx(
        [(0.5 + sig(2)) / 2, (sig(1) + sig(-3) + sig(4)) / 3], rel=1e-6)
