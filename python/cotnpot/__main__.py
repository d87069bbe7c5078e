"""``python -m cotnpot``: the command line (see cotnpot.cli)."""
import sys

from .cli import main

sys.exit(main())
