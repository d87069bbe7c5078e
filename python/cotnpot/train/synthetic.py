"""A seeded generator of GSM8K-style multi-step arithmetic word problems with step-by-step solutions
carrying ``<<expr=value>>`` calculator annotations, and a sampler of N candidate solutions per problem
whose errors look like a model's.

The sampler is rule-based: a solver that follows the problem's steps and, on a wrong sample, makes one
slip of the kinds reasoners make — a wrong operation, a number copied wrongly from the question, a
dropped step, an arithmetic slip inside a step, or a final line that does not match the last result.
The model-sampled alternative is :mod:`cotnpot.train.reasoner` (a tiny LM trained on other problems'
solutions, sampled with a calculator). The rule-based slips give a controlled mix of labelled errors,
some of which CoTnPoT's offline translator can catch (arithmetic slips, a wrong final line: the program's result disagrees with the CoT) and some it cannot (a wrong operation, a wrong number, a
dropped step: the arithmetic is right, the reasoning is not), as with real reasoners.

    >>> problems = generate_problems(2, seed=0)
    >>> "<<" in problems[0].solution and problems[0].answer == problems[0].steps[-1][2]
    True
"""
import random
from dataclasses import dataclass
from typing import List, Tuple

from ..pipeline.data import Candidate, CandidateTable, Problem

NAMES = ["Ava", "Ben", "Chloe", "Diego", "Emma", "Farid", "Grace", "Hugo", "Ines", "Jamal", "Kira", "Liam"]
ITEMS = ["apple", "marble", "sticker", "book", "pencil", "cookie", "shell", "card", "stamp", "coin"]
SLIPS = ("wrong operation", "wrong number", "dropped step", "arithmetic slip", "wrong final line")

# One operation: (question phrase, solution phrase, operator); {b} is the operand.
OPERATIONS = [
    ("buys {b} more", "After buying {b} more", "+"),
    ("finds {b} more", "After finding {b} more", "+"),
    ("gives away {b}", "After giving away {b}", "-"),
    ("loses {b}", "After losing {b}", "-"),
    ("then gets {b} times as many", "With {b} times as many", "*"),
    ("shares them equally among {b} friends and keeps one share", "One share of {b}", "/"),
]


@dataclass
class WordProblem:
    id: str
    question: str
    start: int
    steps: List[Tuple[str, int, int]]   # (operator, operand, result) per step
    phrases: List[str]                  # the solution's phrase of each step
    item: str
    name: str
    answer: int
    solution: str                       # the gold step-by-step solution


def _apply(op: str, x: int, b: int) -> int:
    return {"+": x + b, "-": x - b, "*": x * b, "/": x // b}[op]


def generate_problems(n: int, seed: int = 0, min_steps: int = 2, max_steps: int = 4) -> List[WordProblem]:
    rng = random.Random(seed)
    problems = []
    while len(problems) < n:
        name, item = rng.choice(NAMES), rng.choice(ITEMS)
        x = start = rng.randint(5, 60)
        steps, asked, phrases = [], [], []
        for _ in range(rng.randint(min_steps, max_steps)):
            ask, say, op = rng.choice(OPERATIONS)
            if op == "-":
                b = rng.randint(1, max(1, x - 1))
            elif op == "*":
                b = rng.randint(2, 4)
            elif op == "/":
                divisors = [d for d in range(2, 7) if x % d == 0]
                if not divisors:
                    continue
                b = rng.choice(divisors)
            else:
                b = rng.randint(2, 40)
            x = _apply(op, x, b)
            steps.append((op, b, x))
            asked.append(ask.format(b=b))
            phrases.append(say.format(b=b))
        if len(steps) < min_steps or x <= 0 or x > 5000:
            continue
        question = (f"{name} has {start} {item}s. {name} " + ", then ".join(asked) +
                    f". How many {item}s does {name} have now?")
        pid = f"s{seed}-{len(problems)}"
        problems.append(WordProblem(pid, question, start, steps, phrases, item, name, x,
                                    render(start, steps, phrases, item, x)))
    return problems


def render(start: int, steps, phrases, item: str, final: int, written=None) -> str:
    """A step-by-step solution; ``written[i]`` overrides the value written in step i (an arithmetic slip)."""
    lines = [f"We start with {start} {item}s."]
    x = start
    for i, ((op, b, result), phrase) in enumerate(zip(steps, phrases)):
        shown = written[i] if written and i in written else result
        lines.append(f"{phrase}: {x} {op} {b} = <<{x}{op}{b}={shown}>>{shown}.")
        x = shown
    lines.append(f"The answer is {final}.")
    return "\n".join(lines)


def sample_solution(problem: WordProblem, rng: random.Random, p_correct: float) -> Tuple[str, int, str]:
    """(solution text, its final answer, the slip made or "") for one sample."""
    steps = list(problem.steps)
    if rng.random() < p_correct:
        return problem.solution, problem.answer, ""
    slip = rng.choice(SLIPS)
    phrases = list(problem.phrases)
    written = None
    i = rng.randrange(len(steps))
    if slip == "dropped step" and len(steps) > 1:
        del steps[i], phrases[i]
    elif slip == "wrong operation":
        op, b, _ = steps[i]
        steps[i] = (rng.choice([o for o in "+-*" if o != op]), b, 0)
    elif slip == "wrong number":
        op, b, _ = steps[i]
        numbers = [problem.start] + [s[1] for s in problem.steps]
        other = [v for v in numbers if v != b] or [b + 1]
        steps[i] = (op, rng.choice(other) if op != "/" else b, 0)
        if op == "/":
            slip = "arithmetic slip"
    # Recompute the chain after the slip (a reasoner carries its own mistakes forward).
    x, recomputed = problem.start, []
    for op, b, _ in steps:
        if op == "/" and (b == 0 or x % b):
            op = "-"
        x = _apply(op, x, b)
        recomputed.append((op, b, x))
    final = x
    if slip == "arithmetic slip":
        j = rng.randrange(len(recomputed))
        written = {j: recomputed[j][2] + rng.choice([-10, -2, -1, 1, 2, 10])}
        x = written[j]   # carried forward from the wrong value
        for k in range(j + 1, len(recomputed)):
            op, b, _ = recomputed[k]
            x = _apply(op if not (op == "/" and x % b) else "-", x, b)
            recomputed[k] = (recomputed[k][0], b, x)
        final = x
    if slip == "wrong final line":
        final = x + rng.choice([-3, -1, 1, 2, 5, 10])
    return render(problem.start, recomputed, phrases, problem.item, final, written), final, slip


def sample_candidates(problems: List[WordProblem], n: int = 16, seed: int = 0) -> CandidateTable:
    """N candidates per problem; each problem gets its own success rate (20%..85%), so majority voting
    sometimes fails, as on real benchmarks. Labels: final answer == gold."""
    rng = random.Random(seed + 10_000)
    out = []
    for problem in problems:
        p_correct = rng.uniform(0.2, 0.85)
        candidates = []
        for _ in range(n):
            text, final, slip = sample_solution(problem, rng, p_correct)
            candidates.append(Candidate(text=text, answer=str(final), label=final == problem.answer, source=slip))
        out.append(Problem(problem.id, problem.question, str(problem.answer), candidates))
    return CandidateTable("synthetic", "synthetic", out)
