"""Every selection method `cotnpot eval` reports, in one registry: what it is called, which task it is
for (math or code), which metric computes it, what it needs, what it costs in LLM calls, how it picks one
candidate, and the rule text the report prints. The evaluation's plan (math and code), the
compute-matched view, the per-problem picks and the rules all read it, so a method is added in one place.
"""
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple


@dataclass(frozen=True)
class Method:
    name: str                      # the report's row: "maj", "cotnpot rm", ...
    metric: str                    # cotnpot.pipeline.metrics method
    classes: Optional[str] = None  # answer classes it votes over: "grader" or "exact"
    needs: Tuple[str, ...] = ()    # inputs beyond labels: "scores", "weights", "keep"
    translates: bool = False       # CoTnPoT: one translation per candidate (its LLM calls: the translator's)
    pick: Optional[str] = None     # how one candidate is picked: "vote" or "best" (None: no single pick)
    rule: str = ""                 # the report's rule text; {tie}, {judged}, {best} filled per tie rule
    task: str = "math"             # "math" (answers) or "code" (programs judged by tests)
    view: Optional[str] = None     # code: which verifier scores ("code" or "explanation+code")


REGISTRY: Tuple[Method, ...] = (
    Method("pass", "pass", rule="unbiased pass@k (Chen et al. 2021)"),
    Method("maj", "maj", "grader", pick="vote",
           rule="majority over answer classes of cotnpot's grader (group_answers); {tie}; {judged}"),
    Method("maj (exact)", "maj", "exact", pick="vote",
           rule="majority over exact answer strings, the empty answer counted as one (Qwen2.5-Math rm_maj_eval); "
                "{tie}"),
    Method("rm", "rm", needs=("scores",), pick="best", rule="best-of-N by the file's verifier/reward score; {best}"),
    Method("weighted", "weighted", "grader", needs=("weights",), pick="vote",
           rule="votes weighted by the file's scores (non-negative); {tie}"),
    Method("cotnpot maj", "filtered_maj", "grader", needs=("keep",), translates=True, pick="vote",
           rule="CoTnPoT: majority over the candidates whose program agrees with their CoT answer; a subset with "
                "none falls back to all its candidates"),
    Method("cotnpot rm", "filtered", needs=("scores", "keep"), translates=True, pick="best",
           rule="CoTnPoT: best verifier score among the consistent candidates; a subset with none falls back to "
                "all its candidates"),
    # Code tasks: correctness from the tests; the verifier reads the program, or the coder LLM's explanation
    # followed by the program (CoTnPoT's direction for code); cotnpot's own example-test filter.
    Method("pass", "pass", task="code", rule="unbiased pass@k over candidates passing all tests"),
    Method("random", "random", task="code", rule="any one candidate"),
    Method("rm (code)", "rm", needs=("scores",), pick="best", task="code", view="code",
           rule="best verifier score of the program alone; {best}"),
    Method("rm (explanation+code)", "rm", needs=("scores",), translates=True, pick="best", task="code",
           view="explanation+code", rule="best verifier score of the LLM's explanation followed by the program; {best}"),
    Method("rm (code) + example filter", "filtered", needs=("scores", "keep"), pick="best", task="code", view="code",
           rule="cotnpot's own addition: the best program among those passing the prompt's example test (all kept "
                "when every one fails); the example test is then held out of grading for every method"),
    Method("rm (explanation+code) + example filter", "filtered", needs=("scores", "keep"), translates=True,
           pick="best", task="code", view="explanation+code",
           rule="as rm (explanation+code), among the candidates passing the prompt's example test (all kept when "
                "every one fails)"),
)
BY_NAME: Dict[str, Method] = {m.name: m for m in REGISTRY if m.task == "math"}
CODE_BY_NAME: Dict[str, Method] = {m.name: m for m in REGISTRY if m.task == "code"}

TIE_TEXT = {
    "fair": {"tie": "ties: each tied class counts equally (an exact expectation)",
             "judged": "a class is judged by the share of its members that are correct (cotnpot's grader is not "
                       "transitive: one class can hold members with different labels)",
             "best": "ties: each tied top candidate counts equally"},
    "first": {"tie": "ties: the class seen first (the harness rule)", "judged": "a class is judged by its first member",
              "best": "ties: the first"},
}


def available(inputs: Dict[str, bool], task: str = "math", views: Tuple[str, ...] = ()) -> List[Method]:
    """The task's methods whose inputs are there (``inputs``: name -> present; code: ``views``, the verifier
    scores there are)."""
    return [m for m in REGISTRY if m.task == task and all(inputs.get(n, False) for n in m.needs)
            and (m.view is None or m.view in views)]


def rules(task: str, ties: str) -> Dict[str, str]:
    """Every method's rule text for one task."""
    return {m.name: rule_text(m, ties) for m in REGISTRY if m.task == task}


def rule_text(method: Method, ties: str) -> str:
    return method.rule.format(**TIE_TEXT[ties])


def calls_per_candidate(name: str, llm_calls_per_translation: int) -> int:
    """LLM calls a method spends per candidate: the sample, plus its translation for CoTnPoT (none for a
    translator that calls no model). Rows that are not methods (mean) count one."""
    method = BY_NAME.get(name)
    return 1 + (llm_calls_per_translation if method is not None and method.translates else 0)
