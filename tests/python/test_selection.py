"""Selection ops (best-of-N, votes, filters with fall-back) against the row-by-row references."""
import pytest
import torch

import cotnpot
from cotnpot import reference


def random_case(P, N, seed, ties=True):
    g = torch.Generator().manual_seed(seed)
    scores = (torch.randint(0, 3, (P, N), generator=g).float() if ties else torch.randn(P, N, generator=g))
    classes = torch.randint(-1, max(N, 1), (P, N), generator=g)
    lengths = torch.randint(0, N + 1, (P,), generator=g)   # ragged groups, some empty
    valid = torch.arange(N).expand(P, N) < lengths[:, None]
    keep = torch.rand(P, N, generator=g) < 0.4           # some rows lose every candidate
    return scores, classes, valid, keep


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("fallback", ["all", "none"])
def test_best_of_n_matches_reference(seed, fallback):
    P, N = 7, 1 + seed % 6
    scores, _, valid, keep = random_case(P, N, seed, ties=seed % 2 == 0)
    for args in ((scores,), (scores, valid), (scores, valid, keep)):
        got = cotnpot.best_of_n(*args, fallback=fallback)
        assert torch.equal(got, reference.best_of_n(*args, fallback=fallback)), (args, got)


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("fallback", ["all", "none"])
def test_vote_matches_reference(seed, fallback):
    P, N = 7, 1 + seed % 6
    scores, classes, valid, keep = random_case(P, N, seed)
    weights = torch.randn(P, N, generator=torch.Generator().manual_seed(seed)).abs()
    for kwargs in ({}, {"valid": valid}, {"valid": valid, "keep": keep}, {"weights": weights, "valid": valid},
                   {"weights": scores, "keep": keep}):
        got = cotnpot.vote(classes, fallback=fallback, **kwargs)
        want = reference.vote(classes, fallback=fallback, **kwargs)
        for a, b in zip(got, want):
            assert torch.equal(a, b), (kwargs, got, want)


def test_known_values():
    scores = torch.tensor([[0.5, 2.0, 2.0, 1.0], [float("nan"), -float("inf"), 3.0, 3.0]])
    valid = torch.tensor([[True, True, True, True], [True, True, False, False]])
    assert cotnpot.best_of_n(scores).tolist() == [1, 2]                 # ties -> the first; NaN never wins
    assert cotnpot.best_of_n(scores, valid).tolist() == [1, 1]          # an eligible -inf beats nothing
    keep = torch.tensor([[True, False, False, True], [False, False, True, True]])
    assert cotnpot.best_of_n(scores, valid, keep).tolist() == [3, 1]    # row 1: all filtered -> best of all
    assert cotnpot.best_of_n(scores, valid, keep, fallback="none").tolist() == [3, -1]
    classes = torch.tensor([[2, 0, 0, 2, 1], [0, 1, 1, -1, -1]])
    v = cotnpot.vote(classes)
    assert v.answer_class.tolist() == [2, 1] and v.index.tolist() == [0, 1] and v.support.tolist() == [2.0, 2.0]
    w = cotnpot.vote(classes, weights=torch.tensor([[0.1, 0.5, 0.6, 0.1, 0.9], [5.0, 1.0, 1.0, 9.0, 9.0]]))
    assert w.answer_class.tolist() == [0, 0] and w.index.tolist() == [1, 0]
    assert w.support.tolist() == pytest.approx([1.1, 5.0])


def test_n_equals_one_and_empty():
    assert cotnpot.best_of_n(torch.tensor([[3.0], [1.0]])).tolist() == [0, 0]
    assert cotnpot.best_of_n(torch.zeros(3, 0)).tolist() == [-1, -1, -1]
    assert cotnpot.best_of_n(torch.zeros(0, 4)).tolist() == []
    assert cotnpot.vote(torch.tensor([[0], [-1]])).answer_class.tolist() == [0, -1]


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_dtypes_agree_with_float32(dtype):
    scores = torch.randn(20, 9, generator=torch.Generator().manual_seed(3))
    rounded = scores.to(dtype)
    assert torch.equal(cotnpot.best_of_n(rounded), reference.best_of_n(rounded.float()))


def test_bad_input_messages():
    with pytest.raises(RuntimeError, match="best_of_n: scores must be 2-D"):
        cotnpot.best_of_n(torch.zeros(3))
    with pytest.raises(RuntimeError, match="best_of_n: scores must be floating-point, got Long"):
        cotnpot.best_of_n(torch.zeros(2, 3, dtype=torch.long))
    with pytest.raises(RuntimeError, match=r"best_of_n: valid must have shape \[2, 3\], got \[2, 4\]"):
        cotnpot.best_of_n(torch.zeros(2, 3), torch.ones(2, 4, dtype=torch.bool))
    with pytest.raises(RuntimeError, match="best_of_n: keep must be bool, got Float"):
        cotnpot.best_of_n(torch.zeros(2, 3), keep=torch.ones(2, 3))
    with pytest.raises(RuntimeError, match='fallback must be "all" or "none", got "best"'):
        cotnpot.best_of_n(torch.zeros(2, 3), fallback="best")
    with pytest.raises(RuntimeError, match=r"vote: classes must be ids in \[0, N\) = \[0, 3\).*got 3"):
        cotnpot.vote(torch.tensor([[0, 1, 3]]))
    with pytest.raises(RuntimeError, match="vote: classes must be int64 or int32"):
        cotnpot.vote(torch.zeros(1, 3))
    with pytest.raises(RuntimeError, match=r"vote: weights must have shape \[1, 3\], got \[1, 2\]"):
        cotnpot.vote(torch.zeros(1, 3, dtype=torch.long), weights=torch.ones(1, 2))


def test_outputs_are_not_differentiable_even_from_inputs_that_need_a_gradient():
    """Scores and weights that require grad: without an Autograd kernel, vote's `support` got a grad_fn whose
    backward warned "an autograd kernel was not registered ... silently incorrect behavior"."""
    import warnings
    weights = torch.tensor([[1.0, 2.0, 3.0]], requires_grad=True)
    scores = torch.tensor([[0.1, 0.7, 0.3]], requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = cotnpot.vote(torch.tensor([[0, 1, 1]]), None, weights)
        picked = cotnpot.best_of_n(scores)
    assert result.support.tolist() == [5.0] and picked.tolist() == [1]
    for out in (*result, picked):
        assert not out.requires_grad and out.grad_fn is None
    with torch.inference_mode():   # and below autograd, unchanged
        assert cotnpot.vote(torch.tensor([[0, 1, 1]]), None, weights.detach()).support.tolist() == [5.0]
