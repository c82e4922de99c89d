"""``python -m avgen ...``: the same as the ``avgen`` command."""

import sys

from .cli import main

sys.exit(main())
