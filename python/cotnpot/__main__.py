"""``python -m cotnpot``: the command line (see cotnpot.cli)."""
import sys

from .cli import entry_point

sys.exit(entry_point())
