"""Prints cotnpot's requirements, one per line: pyproject.toml's dependencies and those of the extras
named on the command line, so the Makefile installs them (pinned by constraints.txt) before building."""
import sys
import tomllib
from pathlib import Path

project = tomllib.loads((Path(__file__).resolve().parent.parent / "pyproject.toml").read_text())["project"]
names = list(project["dependencies"])
for extra in sys.argv[1:]:
    names += project["optional-dependencies"][extra]
print("\n".join(dict.fromkeys(names)))
