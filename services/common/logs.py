"""How every Shouwen process logs: ``setup_logging()`` (level from the settings, to stderr)."""

from __future__ import annotations

import logging
import sys

from services.common.settings import get_settings


def setup_logging() -> None:
    logging.basicConfig(
        level=get_settings().log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # kafka-python logs every connection at INFO; keep `make up` readable.
    logging.getLogger("kafka").setLevel(logging.WARNING)
