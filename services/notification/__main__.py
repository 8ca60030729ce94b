"""``python -m services.notification``: the same as ``shouwen notification``."""

from __future__ import annotations

import sys

from services.notification.worker import main

if __name__ == "__main__":
    sys.exit(main())
