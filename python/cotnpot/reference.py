"""Pure-PyTorch reference implementations of cotnpot's ops: slow, obviously correct, used by the tests.

Each function has the signature and the semantics of the op of the same name in the cotnpot namespace.
"""
import math

import torch
from torch import Tensor


def token_logprob(logits: Tensor, labels: Tensor, ignore_index: int = -100, shift: bool = False) -> Tensor:
    """``log_softmax`` + ``gather`` in float32 (float64 for float64 logits); 0 at ignored positions."""
    if shift:
        logits, labels = logits[:, :-1], labels[:, 1:]
    compute = torch.float64 if logits.dtype == torch.float64 else torch.float32
    valid = labels != ignore_index
    safe = labels.masked_fill(~valid, 0)
    logp = torch.log_softmax(logits.to(compute), dim=-1).gather(-1, safe.unsqueeze(-1)).squeeze(-1)
    return logp.masked_fill(~valid, 0.0)


def sequence_logprob(logits: Tensor, labels: Tensor, ignore_index: int = -100, reduction: str = "sum",
                     shift: bool = False) -> Tensor:
    """Sum, mean over valid tokens (0 when there are none), or no reduction of :func:`token_logprob`."""
    logp = token_logprob(logits, labels, ignore_index, shift)
    if reduction == "none":
        return logp
    total = logp.sum(-1)
    if reduction == "sum":
        return total
    if reduction == "mean":
        used = labels[:, 1:] if shift else labels
        return total / (used != ignore_index).sum(-1).clamp_min(1).to(total.dtype)
    raise ValueError(f"reduction must be one of 'sum', 'mean', 'none', got {reduction!r}")


# --- verifier losses: each formula written out, in the order of docs/losses.md -------------------------

def _logsig(x: Tensor) -> Tensor:
    return torch.nn.functional.logsigmoid(x)


def simpo_loss(chosen_logps, rejected_logps, beta=2.0, gamma=None, gamma_beta_ratio=0.25, label_smoothing=0.0,
               loss_type="sigmoid", sft_weight=0.0):
    """SimPO as the SimPO authors' trainer writes it: logits = (chosen - rejected) - gamma / beta."""
    gamma_over_beta = (gamma / beta) if gamma is not None else gamma_beta_ratio
    logits = (chosen_logps - rejected_logps) - gamma_over_beta
    if loss_type == "sigmoid":
        losses = (-_logsig(beta * logits) * (1 - label_smoothing) - _logsig(-beta * logits) * label_smoothing)
    elif loss_type == "hinge":
        losses = torch.relu(1 - beta * logits)
    else:
        raise ValueError(loss_type)
    losses = losses + sft_weight * -chosen_logps
    return losses, beta * chosen_logps.detach(), beta * rejected_logps.detach()


def dpo_loss(chosen_logps, rejected_logps, ref_chosen_logps, ref_rejected_logps, beta=0.1, label_smoothing=0.0,
             loss_type="sigmoid", chosen_lengths=None, rejected_lengths=None, ipo_length_normalize=True,
             bco_delta=None, ipo_rewards_on_sums=False):
    """The DPO family with TRL's DPOTrainer.dpo_loss formulas."""
    pc, pr, rc, rr = chosen_logps, rejected_logps, ref_chosen_logps, ref_rejected_logps
    loss_type = "aot_pair" if loss_type == "aot_unpaired" else loss_type
    if loss_type == "ipo" and ipo_length_normalize:
        pc, rc = pc / chosen_lengths, rc / chosen_lengths
        pr, rr = pr / rejected_lengths, rr / rejected_lengths
    eps = label_smoothing
    chosen_logratios, rejected_logratios = pc - rc, pr - rr
    logits = (pc - pr) - (rc - rr)

    def sigmoid_form(x):
        return -_logsig(beta * x) * (1 - eps) - _logsig(-beta * x) * eps

    if loss_type == "sigmoid":
        losses = sigmoid_form(logits)
    elif loss_type == "hinge":
        losses = torch.relu(1 - beta * logits)
    elif loss_type == "ipo":
        losses = (logits - 1 / (2 * beta)) ** 2
    elif loss_type == "robust":
        losses = (-_logsig(beta * logits) * (1 - eps) + _logsig(-beta * logits) * eps) / (1 - 2 * eps)
    elif loss_type == "bco_pair":
        chosen_rewards, rejected_rewards = beta * chosen_logratios, beta * rejected_logratios
        delta = (torch.cat((chosen_rewards, rejected_rewards)).mean().detach() if bco_delta is None
                 else bco_delta.to(logits.dtype))
        losses = -_logsig(chosen_rewards - delta) - _logsig(-(rejected_rewards - delta))
    elif loss_type == "sppo_hard":
        losses = (chosen_logratios - 0.5 / beta) ** 2 + (rejected_logratios + 0.5 / beta) ** 2
    elif loss_type == "nca_pair":
        chosen_rewards, rejected_rewards = chosen_logratios * beta, rejected_logratios * beta
        losses = -_logsig(chosen_rewards) - 0.5 * _logsig(-chosen_rewards) - 0.5 * _logsig(-rejected_rewards)
    elif loss_type == "exo_pair":
        e = eps if eps != 0 else 1e-3
        x = beta * logits
        losses = x.sigmoid() * (_logsig(x) - math.log(1 - e)) + (-x).sigmoid() * (_logsig(-x) - math.log(e))
    elif loss_type == "aot":
        delta = torch.sort(pc - pr, dim=0).values - torch.sort(rc - rr, dim=0).values
        losses = sigmoid_form(delta)
    elif loss_type == "aot_pair":
        delta = torch.sort(chosen_logratios, dim=0).values - torch.sort(rejected_logratios, dim=0).values
        losses = sigmoid_form(delta)
    elif loss_type == "apo_zero":
        losses = (1 - torch.sigmoid(beta * chosen_logratios)) + torch.sigmoid(beta * rejected_logratios)
    elif loss_type == "apo_down":
        losses = torch.sigmoid(beta * chosen_logratios) + (1 - torch.sigmoid(beta * (chosen_logratios - rejected_logratios)))
    else:
        raise ValueError(loss_type)
    if loss_type == "ipo" and ipo_rewards_on_sums:
        chosen_logratios, rejected_logratios = chosen_logps - ref_chosen_logps, rejected_logps - ref_rejected_logps
    return losses, beta * chosen_logratios.detach(), beta * rejected_logratios.detach()


def orm_loss(scores, labels, mask, reduction="mean"):
    """Per-token BCE of sigmoid(scores) against the solution label, masked; mean over valid tokens."""
    target = labels.to(scores.dtype)[:, None].expand_as(scores)
    per_token = torch.nn.functional.binary_cross_entropy_with_logits(scores, target, reduction="none")
    per_token = per_token * mask
    if reduction == "none":
        return per_token
    if reduction == "sum":
        return per_token.sum()
    return per_token.sum() / mask.sum().clamp(min=1)


def orm_score(scores, mask, mode="last"):
    """sigmoid of the last valid token's score, or the mean sigmoid over valid tokens."""
    probs = torch.sigmoid(scores)
    if mode == "mean":
        return (probs * mask).sum(1) / mask.sum(1)
    last = torch.tensor([int(row.nonzero().max()) for row in mask])
    return probs[torch.arange(len(last)), last]


def best_of_n(scores, valid=None, keep=None, fallback="all"):
    """Row by row in Python: the first candidate with the highest score among the eligible ones."""
    P, N = scores.shape
    out = []
    for p in range(P):
        eligible = [n for n in range(N) if (valid is None or bool(valid[p, n])) and not math.isnan(float(scores[p, n]))]
        pool = eligible if keep is None else [n for n in eligible if bool(keep[p, n])]
        if keep is not None and not pool and fallback == "all":
            pool = eligible
        best = None
        for n in pool:
            if best is None or float(scores[p, n]) > float(scores[p, best]):
                best = n
        out.append(-1 if best is None else best)
    return torch.tensor(out, dtype=torch.long)


def vote(classes, valid=None, weights=None, keep=None, fallback="all"):
    """Row by row with an insertion-ordered dict: the most supported class, the first seen among ties."""
    P, N = classes.shape
    winners, indices, supports = [], [], []
    for p in range(P):
        def eligible(n):
            ok = (valid is None or bool(valid[p, n])) and int(classes[p, n]) >= 0
            return ok and (weights is None or math.isfinite(float(weights[p, n])))
        pool = [n for n in range(N) if eligible(n)]
        if keep is not None:
            kept = [n for n in pool if bool(keep[p, n])]
            pool = kept if kept or fallback == "none" else pool
        tally, first = {}, {}
        for n in pool:
            c = int(classes[p, n])
            tally[c] = tally.get(c, 0.0) + (1.0 if weights is None else float(weights[p, n]))
            first.setdefault(c, n)
        if not tally:
            winners.append(-1), indices.append(-1), supports.append(0.0)
            continue
        best = max(tally.values())
        c = next(c for c in tally if tally[c] == best)   # dicts keep insertion (first-seen) order
        winners.append(c), indices.append(first[c]), supports.append(tally[c])
    return (torch.tensor(winners, dtype=torch.long), torch.tensor(indices, dtype=torch.long),
            torch.tensor(supports, dtype=torch.float64))
