"""``python -m services.routing``: the same as ``shouwen routing``."""

from __future__ import annotations

import sys

from services.routing.worker import main

if __name__ == "__main__":
    sys.exit(main())
