"""``python -m cli``: the ``capture-status`` command."""

import sys

from cli.main import main

sys.exit(main())
