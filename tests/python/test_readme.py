"""The README's Python tour (and docs/*.md's examples) name only what cotnpot has: every `cotnpot.…`
attribute chain (and every name imported from cotnpot) in their ```python blocks resolves, and every
keyword those calls pass is a parameter of the function, class or method called. The blocks use
placeholders (a model, input ids, files), so they are checked, not run."""
import ast
import importlib
import inspect
import re
from pathlib import Path

import pytest

import cotnpot

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"


def python_blocks(text):
    return re.findall(r"```python\n(.*?)```", text, re.S)


def attribute_chain(node):
    """["cotnpot", "DPOLoss", "trl"] for cotnpot.DPOLoss.trl; None for anything but names and attributes."""
    names = []
    while isinstance(node, ast.Attribute):
        names.append(node.attr)
        node = node.value
    return [node.id] + names[::-1] if isinstance(node, ast.Name) else None


def imported_names(tree):
    """{local name: module or object} for the block's imports from cotnpot (others are not the README's API)."""
    names = {"cotnpot": cotnpot}
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "cotnpot":
            module = importlib.import_module(node.module)
            for alias in node.names:
                value = getattr(module, alias.name, None)
                if value is None:   # a submodule imported by name
                    value = importlib.import_module(f"{node.module}.{alias.name}")
                names[alias.asname or alias.name] = value
    return names


def resolve(chain, names):
    obj = names[chain[0]]
    for attr in chain[1:]:
        obj = getattr(obj, attr)
    return obj


def instance_names(tree, names):
    """{name: class} for `name = cotnpot.Class(...)` and `with cotnpot.Class(...) as name`: their methods are
    the README's API too."""
    found = {}
    for node in ast.walk(tree):
        pairs = []
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            pairs.append((node.targets[0].id, node.value))
        elif isinstance(node, ast.With):
            pairs += [(item.optional_vars.id, item.context_expr) for item in node.items
                      if isinstance(item.optional_vars, ast.Name)]
        for name, value in pairs:
            chain = attribute_chain(value.func) if isinstance(value, ast.Call) else None
            if chain and chain[0] in names:
                try:
                    cls = resolve(chain, names)
                except AttributeError:
                    continue
                if inspect.isclass(cls):
                    found[name] = cls
    return found


def keyword_parameters(obj):
    """The keywords obj accepts, or None when any is (**kwargs, or no signature to read)."""
    try:
        signature = inspect.signature(obj)
    except (TypeError, ValueError):
        return None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in signature.parameters.values()):
        return None
    return {name for name, p in signature.parameters.items() if p.kind is not inspect.Parameter.POSITIONAL_ONLY}


def stale_references(code):
    """What in one block names something cotnpot does not have: ["cotnpot.x: ...", ...]."""
    tree = ast.parse(code)
    names, problems = imported_names(tree), []
    names.update(instance_names(tree, names))
    for node in ast.walk(tree):
        chain = attribute_chain(node) if isinstance(node, (ast.Attribute, ast.Name)) else None
        if chain and chain[0] in names:
            obj = names[chain[0]]
            for i, attr in enumerate(chain[1:], 1):
                if not hasattr(obj, attr):
                    problems.append(f"{'.'.join(chain[:i + 1])}: no such attribute")
                    break
                obj = getattr(obj, attr)
        if isinstance(node, ast.Call) and node.keywords:
            chain = attribute_chain(node.func)
            if not chain or chain[0] not in names:
                continue
            try:
                obj = resolve(chain, names)
            except AttributeError:
                continue   # reported above
            accepted = keyword_parameters(obj)
            for kw in node.keywords:
                if kw.arg is not None and accepted is not None and kw.arg not in accepted:
                    problems.append(f"{'.'.join(chain)}({kw.arg}=...): no such parameter")
    return problems


def test_the_readme_and_docs_name_only_what_cotnpot_has():
    assert len(python_blocks(README.read_text())) >= 8, "the README's Python tour is gone or not in ```python blocks"
    problems = [f"{path.name}: {p}" for path in [README, *sorted((ROOT / "docs").glob("*.md"))]
                for code in python_blocks(path.read_text()) for p in stale_references(code)]
    assert not problems, problems


@pytest.mark.parametrize("code, expected", [
    ("out = cotnpot.no_such_function(x)", "cotnpot.no_such_function: no such attribute"),
    ("s = cotnpot.sequence_logprob(logits, labels, no_such_keyword=1)",
     "cotnpot.sequence_logprob(no_such_keyword=...): no such parameter"),
    ("from cotnpot import answer\nanswer.no_such_grader('1', '1')", "answer.no_such_grader: no such attribute"),
    ("with cotnpot.Executor(workers=2) as ex:\n    ex.run(programs, no_such_option=1)",
     "ex.run(no_such_option=...): no such parameter"),
])
def test_the_check_finds_a_stale_name_or_keyword(code, expected):
    assert stale_references(code) == [expected]


def test_the_best_of_n_block_runs_as_written(monkeypatch):
    """The README's best-of-N tour runs top to bottom on the bundled file, and says what it returns (a new user:
    it had used `classes` before defining it, and names it never defined)."""
    block = next(b for b in python_blocks(README.read_text()) if "qwen25math_rm_maj" in b and "import torch" in b)
    monkeypatch.chdir(ROOT)
    scope = {}
    exec(compile(block, "README best-of-N", "exec"), scope)
    from cotnpot.pipeline import metrics
    c = scope["c"]
    assert round(metrics.accuracy_at_k("rm", c, 8).mean().item(), 2) == 0.94
    assert metrics.bootstrap_ci(scope["curve"][8].value)[:3] == (92.5, 87.5, 97.0)
    difference = metrics.paired_difference(scope["curve"][8], metrics.accuracy_curve("rm", c, [8])[8])
    assert difference.value == -1.5
