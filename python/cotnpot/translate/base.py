"""The translator interface."""
from dataclasses import dataclass
from typing import List, Optional, Protocol, Sequence


@dataclass(frozen=True)
class Request:
    question: str       # the problem statement
    text: str           # the candidate: a CoT solution (cot2pot) or a program (code2text)
    kind: str = "cot2pot"   # "cot2pot": write a program; "code2text": explain the program in words


class Translator(Protocol):
    """Turns each request into its translation, in order; None where it could not (an error is recorded)."""
    name: str       # identifies the model (part of cache keys)
    template: str   # identifies the prompt template (part of cache keys)
    llm_calls: int  # LLM calls per request (0 for the offline translator): what CoTnPoT costs in compute

    def translate(self, requests: Sequence[Request]) -> List[Optional[str]]:
        ...
