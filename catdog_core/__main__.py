"""python -m catdog_core ...: the command line (see catdog_core.cli)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
