"""python -m catdog_core.service SOCKET IDLE_SECONDS: one lane of the model service (see process)."""

import sys

from .process import main

sys.exit(main(sys.argv[1:]))
