"""Bad arguments to the Python API get an error that names the argument and the value seen (found by a
breaker: each of these had raised AttributeError, IndexError or torch's own message naming neither, or had
gone on silently)."""
import math

import pytest
import torch

import cotnpot
from cotnpot import answer
from cotnpot.pipeline.metrics import bootstrap_ci

t = torch.tensor
ROW = t([[1, 2]])


@pytest.mark.parametrize("call, error, message", [
    (lambda: cotnpot.concatenate_pairs(None, ROW, ROW, ROW, ROW, ROW), TypeError,
     "concatenate_pairs: chosen_input_ids must be a Tensor, got NoneType"),
    (lambda: cotnpot.concatenate_pairs(ROW, ROW, ROW, ROW, ROW, t([1, 2])), ValueError,
     r"concatenate_pairs: rejected_labels must be 2-D \[B, T\], got shape \(2,\)"),
    (lambda: cotnpot.concatenate_pairs(ROW, ROW, ROW.byte(), ROW, ROW, ROW.byte()), ValueError,
     r"concatenate_pairs: ignore_index -100 does not fit the tensor's dtype torch.uint8 \(\[0, 255\]\)"),
    (lambda: cotnpot.concatenate_pairs(ROW, ROW, ROW, ROW[:, :1], ROW[:, :1], ROW[:, :1], pad_token_id=0.5),
     TypeError, "concatenate_pairs: pad_token_id must be an int, got 0.5"),
    (lambda: cotnpot.fused_sequence_logprob(None, torch.zeros(3, 4), torch.zeros(1, 2, dtype=torch.long)),
     TypeError, "fused_sequence_logprob: hidden must be a Tensor, got NoneType"),
    (lambda: cotnpot.fused_sequence_logprob(torch.zeros(1, 2, 4), torch.zeros(3, 4), [[0, 1]]),
     TypeError, "fused_sequence_logprob: labels must be a Tensor, got list"),
    (lambda: cotnpot.DPOLoss(loss_type="bco_pair")(None, t([1.0]), t([1.0]), t([1.0])), RuntimeError,
     "dpo_loss: chosen_logps must be a tensor, got None"),
    (lambda: bootstrap_ci(torch.rand(50), variance=torch.ones(3)), ValueError,
     r"bootstrap_ci: variance must have per_problem's shape \(50,\), got \(3,\)"),
    (lambda: bootstrap_ci(torch.rand(50), variance=-torch.ones(50)), ValueError,
     "bootstrap_ci: variance must be finite and non-negative, got -1.0 at problem 0"),
    (lambda: bootstrap_ci(torch.rand(50), confidence=1.5), ValueError, r"bootstrap_ci: confidence must be in \(0, 1\), got 1.5"),
    (lambda: bootstrap_ci(torch.rand(50), confidence=math.nan), ValueError, "confidence must be in .*, got nan"),
    (lambda: bootstrap_ci(torch.rand(50), resamples=0), ValueError, "bootstrap_ci: resamples must be an int >= 1, got 0"),
    (lambda: bootstrap_ci(torch.rand(5, 5)), ValueError, r"bootstrap_ci: per_problem must be 1-D \[P\], got shape \(5, 5\)"),
    # a str is a sequence of characters: grade("12", "12") had graded them one by one ([True, True])
    (lambda: answer.grade("12", "12"), TypeError,
     "grade: golds must be a sequence of answers \\(each str or bytes\\), got a single str '12'"),
    (lambda: answer.grade(["12"], b"12"), TypeError, "grade: preds must be a sequence of answers .*got a single bytes"),
    (lambda: answer.group_answers("1/2"), TypeError, "group_answers: answers must be a sequence of answers"),
])
def test_a_bad_argument_is_named_with_its_value(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_bootstrap_ci_takes_numpy_and_tensor_scalars_as_before_its_checks():
    """A reviewer: the new checks refused np.int64 resamples and np.float32 or 0-d tensor confidences, which
    had worked."""
    import numpy as np
    x = torch.tensor([0.0, 1.0] * 25, dtype=torch.float64)
    want = bootstrap_ci(x, resamples=100, confidence=0.9)
    assert bootstrap_ci(x, resamples=np.int64(100), confidence=np.float64(0.9)) == want
    assert bootstrap_ci(x, resamples=torch.tensor(100), confidence=torch.tensor(0.9, dtype=torch.float64)) == want
    with pytest.raises(ValueError, match="resamples must be an int >= 1, got 2.5"):
        bootstrap_ci(x, resamples=2.5)


def test_the_checked_calls_still_compute_what_they_did():
    ids, mask, labels = cotnpot.concatenate_pairs(ROW, ROW, ROW, ROW[:, :1], ROW[:, :1], ROW[:, :1], pad_token_id=7)
    assert ids.tolist() == [[1, 2], [1, 7]] and mask.tolist() == [[1, 2], [1, 0]] and labels.tolist() == [[1, 2], [1, -100]]
    x = torch.tensor([0.0, 1.0] * 25, dtype=torch.float64)
    plain, with_zero_variance = bootstrap_ci(x), bootstrap_ci(x, variance=torch.zeros(50))
    assert plain == with_zero_variance and plain.value == pytest.approx(50.0) and plain.low < 50.0 < plain.high


def test_strict_json_writes_a_non_finite_float_key_by_its_name():
    """Found by a breaker: a NaN or infinite dict key failed the whole dump ("Out of range float values are
    not JSON compliant"); values were already written as null. Such a key is written as json.dumps names it;
    one that would then repeat another key is refused rather than lose a value (a reviewer)."""
    import json

    from cotnpot import strict_json
    text = strict_json.dumps({math.nan: 1, math.inf: math.nan, -math.inf: [math.inf], 0.5: 2})
    assert json.loads(text) == {"NaN": 1, "Infinity": None, "-Infinity": [None], "0.5": 2}
    with pytest.raises(ValueError, match="the dict key nan would be written as 'NaN', which another key already is"):
        strict_json.dumps({"NaN": 1, math.nan: 2})
    with pytest.raises(ValueError, match="would be written as 'NaN'"):
        strict_json.dumps({math.nan: 1, float("nan"): 2})   # two NaN objects: two keys of a dict


def test_fused_ipo_with_a_sequence_without_scored_tokens_says_where_its_lengths_come_from():
    """Found by a breaker: the message named chosen_lengths, which the caller of FusedLinearDPOLoss never
    passes (the module counts each sequence's scored tokens)."""
    head = torch.nn.Linear(4, 6, bias=False)
    hidden, labels = torch.randn(2, 3, 4), torch.tensor([[0, 1, 2], [0, -100, -100]])
    loss = cotnpot.FusedLinearDPOLoss(head, loss_type="ipo")
    with pytest.raises(ValueError, match=r"FusedLinearDPOLoss: loss_type 'ipo' averages over each sequence's scored "
                                         r"tokens \(labels other than ignore_index -100, after the shift\), and "
                                         r"labels\[1\] has none \(dpo_loss: rejected_lengths"):
        loss(hidden, labels, t([-1.0]), t([-2.0]))
    assert torch.isfinite(cotnpot.FusedLinearDPOLoss(head, loss_type="sigmoid")(hidden, labels, t([-1.0]), t([-2.0])).loss)
