"""``python -m services.relay [--once]``: the same as ``shouwen relay``."""

from __future__ import annotations

import argparse
import sys

from services.common.logs import configure
from services.common.settings import get_settings
from services.relay.relay import run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.relay", description=__doc__)
    parser.add_argument("--once", action="store_true", help="publish what is committed, exit")
    args = parser.parse_args(argv)
    settings = get_settings()
    configure(settings)
    try:
        run(settings, once=args.once)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
