"""The experiment's reasoner: a tiny causal LM that cotnpot trains on generated problems' gold solutions,
then samples N candidate solutions per problem from, with a calculator as GSM8K's models have one.

Why a model and not rules: its mistakes are its own. A briefly trained tiny Llama copies a wrong number
from the question, swaps or drops a step, miscopies the previous result into the next step or into the
final line, and does so more on long problems than on short ones, in proportions nobody chose. Each
problem gets its own difficulty from the model, as on real benchmarks.

The calculator (:class:`Calculator`) is GSM8K's: when the model has written ``<<a op b=``, the value of
``a op b`` and ``>>`` are forced, so the arithmetic inside annotations is always right and the model's
slips are in what it chose to compute and in what it copies afterwards — the slips CoTnPoT's offline
translator can catch (a written value that disagrees with the annotation) and the ones it cannot (a wrong
number or operation computed correctly).

The reasoner never sees the experiment's problems: it trains on problems of its own seed stream, and any
whose question equals one of the experiment's is left out.
"""
import random
import re
from dataclasses import dataclass
from fractions import Fraction
from typing import List, Optional, Sequence, Tuple

import torch
from transformers import LogitsProcessor

from .._cpu import cpu_has_fast_bf16
from ..logprob import sequence_logprob
from ..pipeline.data import Candidate, CandidateTable, Problem
from ..verifier import pad_examples
from .synthetic import WordProblem, generate_problems

_EXPRESSION = re.compile(r"(\d+)\s*([-+*/])\s*(\d+)")
_FINAL = re.compile(r"The answer is (-?\d+(?:\.\d+)?)\.")


@dataclass
class ReasonerConfig:
    problems: int = 2000          # training problems, from the reasoner's own seed stream
    steps: int = 700              # optimizer steps of supervised fine-tuning
    batch_size: int = 32
    lr: float = 3e-3              # one-cycle schedule to this peak
    hidden_size: int = 128
    layers: int = 2
    heads: int = 4
    vocab_size: int = 600         # byte-level BPE, trained on the reasoner's own problems
    temperature: float = 1.0
    max_new_tokens: int = 160     # a 4-step solution is ~70 tokens
    problems_per_batch: int = 16  # when sampling: x n sequences decoded together
    bf16: Optional[bool] = None   # bfloat16 autocast in training; None: where the CPU has bf16 instructions

    def __post_init__(self):
        for name in ("problems", "steps", "batch_size", "hidden_size", "layers", "heads", "max_new_tokens",
                     "problems_per_batch"):
            if getattr(self, name) < 1:
                raise ValueError(f"ReasonerConfig.{name} must be at least 1, got {getattr(self, name)}")
        if not self.temperature > 0:
            raise ValueError(f"ReasonerConfig.temperature must be > 0, got {self.temperature}")

    def trains_in_bf16(self) -> bool:
        """bf16 autocast in training: as asked, else where it is fast. Without bf16 instructions torch's CPU bf16
        GEMM is a scalar fallback, and the test suite's 200-step reasoner had run for over 15 minutes on an AVX2
        machine (see cotnpot._cpu)."""
        return cpu_has_fast_bf16() if self.bf16 is None else self.bf16


def calculator_value(expression: str) -> Optional[str]:
    """The value of ``a op b`` as a calculator prints it (exact integers; two decimals otherwise), or None
    when the expression is not one (then nothing is forced and the model writes on)."""
    match = _EXPRESSION.fullmatch(expression.strip())
    if not match:
        return None
    a, op, b = int(match.group(1)), match.group(2), int(match.group(3))
    if op == "/":
        if b == 0:
            return None
        value = Fraction(a, b)
        return str(value.numerator) if value.denominator == 1 else f"{float(value):.2f}"
    return str({"+": a + b, "-": a - b, "*": a * b}[op])


class Calculator(LogitsProcessor):
    """A ``transformers`` logits processor that forces a calculator's result after ``<<a op b=``.

    Per row it tracks whether the text is inside an annotation (vectorized over rows: which tokens open or
    close one, which end with ``=``); only rows that just wrote ``=`` inside an annotation are decoded.
    ``prompt_length`` is where generation starts (the prompt's own text never triggers it)."""

    def __init__(self, tokenizer, prompt_length: int, rows: int):
        pieces = [tokenizer.decode([i]) for i in range(len(tokenizer))]
        self.opens = torch.tensor(["<<" in p for p in pieces])
        self.closes = torch.tensor([">>" in p for p in pieces])
        self.ends_with_equals = torch.tensor([p.endswith("=") for p in pieces])
        self.tokenizer = tokenizer
        self.prompt_length = prompt_length
        self.inside = torch.zeros(rows, dtype=torch.bool)
        self.forced: dict = {}   # row -> token ids still to force

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if input_ids.shape[1] > self.prompt_length:
            last = input_ids[:, -1].cpu()
            self.inside = (self.inside | self.opens[last]) & ~self.closes[last]
            for row in torch.nonzero(self.inside & self.ends_with_equals[last]).flatten().tolist():
                if self.forced.get(row):
                    continue
                written = self.tokenizer.decode(input_ids[row, self.prompt_length:].tolist())
                value = calculator_value(written[written.rfind("<<") + 2:-1])
                if value is not None:
                    self.forced[row] = self.tokenizer(value + ">>").input_ids
        for row, queue in self.forced.items():
            if queue:
                token = queue.pop(0)
                scores[row, :] = float("-inf")
                scores[row, token] = 0.0
        return scores


def reasoner_problems(n: int, seed: int, avoid: Sequence[WordProblem] = ()) -> List[WordProblem]:
    """``n`` training problems for the reasoner of experiment seed ``seed``: their own seed stream, and
    none whose question is one of ``avoid``'s (the experiment's problems stay unseen)."""
    taken = {p.question for p in avoid}
    pool = generate_problems(n + len(taken), seed=1_000_003 + seed)
    return [p for p in pool if p.question not in taken][:n]


def _prompt(question: str) -> str:
    return question + "\n"


def train_reasoner(problems: Sequence[WordProblem], config: ReasonerConfig = ReasonerConfig(), seed: int = 0,
                   progress: bool = False):
    """A tiny Llama fine-tuned on ``problems``' gold solutions (the question is the prompt, masked out of
    the loss; the loss is cotnpot's sequence log-prob per token). Returns (model, tokenizer)."""
    from tqdm.auto import tqdm
    from ..models.hf_tiny import tiny_causal_lm, train_bpe_tokenizer

    if not problems:
        raise ValueError("train_reasoner needs at least one problem")
    tokenizer = train_bpe_tokenizer([_prompt(p.question) + p.solution for p in problems], config.vocab_size)
    model = tiny_causal_lm("llama", tokenizer, hidden_size=config.hidden_size, layers=config.layers,
                           heads=config.heads, kv_heads=config.heads, seed=seed)
    examples = []
    for p in problems:
        prompt = tokenizer(_prompt(p.question)).input_ids
        examples.append((prompt + tokenizer(p.solution).input_ids + [tokenizer.eos_token_id], len(prompt)))
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.lr, total_steps=config.steps,
                                                   pct_start=0.05)
    rng = random.Random(seed)
    bf16 = config.trains_in_bf16()
    model.train()
    bar = tqdm(range(config.steps), desc="train reasoner", disable=not progress, leave=False)
    for _ in bar:
        chunk = [examples[i] for i in rng.sample(range(len(examples)), min(config.batch_size, len(examples)))]
        ids, labels, mask = pad_examples(chunk, tokenizer.pad_token_id)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logits = model(input_ids=ids, attention_mask=mask).logits
        tokens = (labels[:, 1:] != -100).sum()
        loss = -sequence_logprob(logits.float(), labels, shift=True).sum() / tokens
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        bar.set_postfix(nll=f"{loss.item():.3f}")
    return model.eval(), tokenizer


def final_answer(text: str) -> str:
    """The number after the last "The answer is", or "" when the sample never says one."""
    found = _FINAL.findall(text)
    return found[-1] if found else ""


def sample_with_reasoner(problems: Sequence[WordProblem], model, tokenizer, n: int = 16, seed: int = 0,
                         config: ReasonerConfig = ReasonerConfig(), progress: bool = False) -> CandidateTable:
    """``n`` sampled solutions per problem (temperature ``config.temperature``, the calculator on), labelled
    by their final answer against the gold one; seeded, so a rerun samples the same table, and the caller's
    random state is left as it was."""
    from tqdm.auto import tqdm
    from transformers import LogitsProcessorList

    # Seeded without touching the caller's random state: generate() draws from the global generators
    device = next(model.parameters()).device
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        side = tokenizer.padding_side
        tokenizer.padding_side = "left"   # prompts end where generation starts
        out: List[Problem] = []
        try:
            starts = range(0, len(problems), config.problems_per_batch)
            for start in tqdm(starts, desc="sample candidates", disable=not progress, leave=False):
                chunk = problems[start:start + config.problems_per_batch]
                inputs = tokenizer([_prompt(p.question) for p in chunk], return_tensors="pt", padding=True)
                calculator = Calculator(tokenizer, inputs.input_ids.shape[1], len(chunk) * n)
                with torch.no_grad():
                    generated = model.generate(**inputs, do_sample=True, temperature=config.temperature, top_k=0,
                                               num_return_sequences=n, max_new_tokens=config.max_new_tokens,
                                               logits_processor=LogitsProcessorList([calculator]),
                                               pad_token_id=tokenizer.pad_token_id)
                texts = tokenizer.batch_decode(generated[:, inputs.input_ids.shape[1]:], skip_special_tokens=True)
                for i, problem in enumerate(chunk):
                    candidates = []
                    for text in texts[i * n:(i + 1) * n]:
                        text = text.strip()
                        answer = final_answer(text)
                        candidates.append(Candidate(text=text, answer=answer, label=answer == str(problem.answer),
                                                    source="reasoner"))
                    out.append(Problem(problem.id, problem.question, str(problem.answer), candidates))
        finally:
            tokenizer.padding_side = side
    return CandidateTable("synthetic", "synthetic", out)


def reasoner_candidates(problems: Sequence[WordProblem], n: int = 16, seed: int = 0,
                        config: ReasonerConfig = ReasonerConfig(), progress: bool = False) -> Tuple[CandidateTable, dict]:
    """Train a reasoner that has not seen ``problems`` and sample ``n`` candidates for each. Returns the
    table and what the reasoner was (its size and training)."""
    model, tokenizer = train_reasoner(reasoner_problems(config.problems, seed, problems), config, seed, progress)
    table = sample_with_reasoner(problems, model, tokenizer, n, seed, config, progress)
    # bf16 says how it trained, which the CPU decides where config.bf16 is None: its samples depend on it
    info = {"parameters": sum(p.numel() for p in model.parameters()), "train_problems": config.problems,
            "steps": config.steps, "temperature": config.temperature, "bf16": config.trains_in_bf16()}
    return table, info
