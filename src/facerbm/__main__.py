"""``python -m facerbm``: the command line."""

import sys

from facerbm.cli import main

sys.exit(main())
