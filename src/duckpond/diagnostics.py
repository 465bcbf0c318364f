"""Logging for DuckPond: ``DUCKPOND_LOG=off|info|debug`` (default off), lines on stderr.

Library modules call :func:`get_logger` and log what they read, wrote and committed and how long it
took; nothing is printed unless the environment (or :func:`configure`) turns logging on. Lines are
``<time> <level> duckpond.<area>: <message>``.
"""

from __future__ import annotations

import logging
import os
import sys

__all__ = ["configure", "get_logger", "level_from_env"]

_LEVELS = {"off": None, "info": logging.INFO, "debug": logging.DEBUG}
_configured = False


def get_logger(area: str) -> logging.Logger:
    """The logger ``duckpond.<area>``."""
    return logging.getLogger(f"duckpond.{area}")


def level_from_env() -> str:
    """The ``DUCKPOND_LOG`` setting, normalized (unknown values mean ``off``)."""
    value = os.environ.get("DUCKPOND_LOG", "off").strip().lower()
    return value if value in _LEVELS else "off"


def configure(level: str | None = None) -> None:
    """Send ``duckpond.*`` logs to stderr at ``level`` (default: from ``DUCKPOND_LOG``)."""
    global _configured
    name = level or level_from_env()
    logger = logging.getLogger("duckpond")
    lvl = _LEVELS.get(name)
    if lvl is None:
        logger.setLevel(logging.CRITICAL + 1)
        logger.propagate = False
        return
    if not _configured:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
        _configured = True
    logger.setLevel(lvl)
    logger.propagate = False
