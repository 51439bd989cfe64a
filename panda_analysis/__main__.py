"""``python -m panda_analysis`` runs the ``panda-analysis`` command."""

from __future__ import annotations

import sys

from panda_analysis.cli import main

if __name__ == "__main__":
    sys.exit(main())
