"""How quantities are shown to people: byte sizes in one base and one unit style.

Sizes are binary (1 KiB = 1024 bytes), written ``512 B``, ``1.5 KiB``, ``20.0 MiB``: the style of
``ls -h`` and of the IEC prefixes, used by every command and report (times: :mod:`duckpond.times`).
"""

from __future__ import annotations

__all__ = ["format_bytes"]

_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def format_bytes(size: int) -> str:
    """Bytes for people: ``512 B``, ``1.5 KiB``, ``20.0 MiB`` (powers of 1024)."""
    value = float(size)
    for unit in _UNITS:
        if abs(value) < 1024 or unit == _UNITS[-1]:
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")  # pragma: no cover
