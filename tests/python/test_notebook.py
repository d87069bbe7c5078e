"""examples/rerank.ipynb runs from top to bottom in the venv's Jupyter kernel (nbclient)."""
import os
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[2]


def test_rerank_notebook_runs(tmp_path):
    nb = nbformat.read(ROOT / "examples" / "rerank.ipynb", as_version=4)
    NotebookClient(nb, kernel_name="cotnpot", timeout=600, resources={"metadata": {"path": str(ROOT / "examples")}}).execute()
    outputs = {i: "".join(o.get("text", "") for o in c.get("outputs", [])) for i, c in enumerate(nb.cells)
               if c.cell_type == "code"}
    assert "openai 200 problems, 4 candidates each" in outputs[1]
    assert "grader agrees with the labels on 800 of 800" in outputs[3]
    table = outputs[9]
    assert "| CoTnPoT maj |" in table and "| maj |" in table
    assert any(o.get("output_type") == "display_data" and "image/png" in o.get("data", {})
               for o in nb.cells[11].outputs)   # the plot was drawn


def test_train_verifier_notebook_runs(tmp_path):
    nb = nbformat.read(ROOT / "examples" / "train_verifier.ipynb", as_version=4)
    # The notebook trains into a new temporary directory and leaves it to its reader: the test's own
    # directory stands in for the machine's /tmp, where every run had left a trained model behind.
    NotebookClient(nb, kernel_name="cotnpot", timeout=900, resources={"metadata": {"path": str(ROOT / "examples")}}
                   ).execute(env={**os.environ, "TMPDIR": str(tmp_path)})
    outputs = ["".join(o.get("text", "") for o in c.get("outputs", [])) for c in nb.cells if c.cell_type == "code"]
    assert "correct and" in outputs[0] and "pairs" in outputs[0]
    assert "held-out pairs of" in outputs[1]
    assert "| verifier (SimPO) best-of-4 |" in outputs[4] and "| majority vote |" in outputs[4]
    assert "model.safetensors" in outputs[5] and "tokenizer.json" in outputs[5]
