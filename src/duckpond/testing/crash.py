"""Run ``pond`` and kill it (``os._exit(137)``, like ``kill -9``) at a named fault point.

Usage::

    python -m duckpond.testing.crash before-data-commit -- mkdir /lost
    python -m duckpond.testing.crash after-data-commit@3 -- copy a.csv /a.csv

``NAME@N`` kills at the N-th time the point is reached (default the first). The fault points are
listed in :data:`duckpond.faults.POINTS`. The exit status is 137 when the point was reached, else
the command's own.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from duckpond import faults

__all__ = ["main"]

KILLED = 137


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) < 2 or args[1] != "--":
        print("usage: python -m duckpond.testing.crash NAME[@N] -- POND-ARGS...", file=sys.stderr)
        return 2
    name, _, nth = args[0].partition("@")
    if name not in faults.POINTS:
        print(f"unknown fault point {name!r} (known: {', '.join(faults.POINTS)})", file=sys.stderr)
        return 2
    remaining = [int(nth) if nth else 1]

    def handler(reached: str) -> None:
        if reached == name:
            remaining[0] -= 1
            if remaining[0] == 0:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(KILLED)

    faults.install(handler)
    from duckpond.cli.main import main as pond_main

    return pond_main(args[2:])


if __name__ == "__main__":
    sys.exit(main())
