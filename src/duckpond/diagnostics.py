"""Logging for DuckPond: ``DUCKPOND_LOG=off|info|debug`` (default off), lines on stderr.

Library modules call :func:`get_logger` and log what they read, wrote and committed and how long it
took; nothing is printed unless the environment (or :func:`configure`) turns logging on. Lines are
``<time> <level> duckpond.<area>: <message>``.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

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


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is when a record is emitted (not the stream of the
    first configure: a library caller or a test may have replaced it since)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


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
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
        _configured = True
    logger.setLevel(lvl)
    logger.propagate = False
