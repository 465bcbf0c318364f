"""Vendor column headers -> ``<parameter>.<unit>`` column names, traceably.

Instrument software writes a parameter, its unit and sometimes the sensor's serial number in one
header. The pond names columns ``<parameter>.<unit>`` (``WaterTemperature.C``, ``WindSpeed.m_s``),
so the readers of vendor exports map each header and keep the header as written in the series'
attributes (``extended_attributes["source"]["columns"]`` of the version: new name -> header).

Two header forms are recognized:

* In-Situ (Aqua TROLL, VuSitu, HydroVu exports): ``<parameter> (<unit>)`` optionally followed by
  `` (<serial>)`` (digits): ``Temperature (°C) (812345)`` -> ``Temperature.C``;
  ``Dissolved Oxygen (concentration) (mg/L) (812345)`` -> ``Dissolved_Oxygen_concentration.mg_L``.
* YSI EXO (KorEXO exports): ``<parameter> <unit>``, the unit being the longest trailing run of
  words (at most two) found in :data:`UNITS`: ``Temp °C`` -> ``Temp.C``, ``ODO % sat`` ->
  ``ODO.pct_sat``, ``Pressure psi a`` -> ``Pressure.psi_a``. A header that is only a unit (``pH``)
  or has no known unit (``Site Name``) keeps its parameter alone (``pH``, ``Site_Name``).

Units are spelled as in :data:`UNITS` (``°C`` -> ``C``, ``µS/cm`` -> ``uS_cm``, ``%`` -> ``pct``);
a unit not in the table, and every parameter, is cleaned by :func:`clean`: ``µ``/``μ`` -> ``u``,
``%`` -> ``pct``, ``°`` dropped, every run of other characters than letters, digits, ``_`` and
``-`` -> ``_``, no ``_`` at either end. A header that cleans to nothing keeps its text.

When two headers map to one name (two sensors of one parameter), each of them takes its serial
number into the parameter (``Temperature_812345.C``); without serial numbers that is an error.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final

from duckpond.errors import InvalidData

__all__ = ["UNITS", "clean", "exo_name", "in_situ_name", "map_names", "sanitize_name"]

UNITS: Final[dict[str, str]] = {
    # temperature
    "°C": "C",
    "℃": "C",
    "deg C": "C",
    "degC": "C",
    "C": "C",
    "°F": "F",
    "℉": "F",
    "F": "F",
    "K": "K",
    # ratios
    "%": "pct",
    "% sat": "pct_sat",
    "%sat": "pct_sat",
    "%Sat": "pct_sat",
    "% Sat": "pct_sat",
    "% saturation": "pct_sat",
    "% local": "pct_local",
    "% CB": "pct_CB",
    "ppt": "ppt",
    "ppm": "ppm",
    "psu": "PSU",
    "PSU": "PSU",
    # conductivity, concentration, optics
    "µS/cm": "uS_cm",
    "μS/cm": "uS_cm",
    "uS/cm": "uS_cm",
    "mS/cm": "mS_cm",
    "S/m": "S_m",
    "mg/L": "mg_L",
    "mg/l": "mg_L",
    "µg/L": "ug_L",
    "μg/L": "ug_L",
    "ug/L": "ug_L",
    "g/cm³": "g_cm3",
    "NTU": "NTU",
    "FNU": "FNU",
    "RFU": "RFU",
    "QSU": "QSU",
    "pH": "pH",
    "mV": "mV",
    "V": "V",
    "volt": "V",
    "Ω-cm": "ohm_cm",
    "ohm-cm": "ohm_cm",
    # pressure, length, speed, angle
    "psi": "psi",
    "psi a": "psi_a",
    "psia": "psi_a",
    "psi g": "psi_g",
    "psig": "psi_g",
    "kPa": "kPa",
    "hPa": "hPa",
    "Pa": "Pa",
    "mbar": "mbar",
    "bar": "bar",
    "mmHg": "mmHg",
    "inHg": "inHg",
    "m": "m",
    "cm": "cm",
    "mm": "mm",
    "km": "km",
    "ft": "ft",
    "in": "in",
    "m/s": "m_s",
    "ft/s": "ft_s",
    "km/h": "km_h",
    "mph": "mph",
    "deg": "deg",
    "°": "deg",
}
"""Unit spellings of In-Situ and EXO exports -> the unit part of a pond column name."""

_SANITIZE_HYDROVU: Final = re.compile(r"[\s./]+")
_IN_SITU: Final = re.compile(r"^(?P<param>.+?) \((?P<unit>[^()]*)\)(?: \((?P<serial>\d+)\))?$")


def sanitize_name(name: str) -> str:
    """Make a HydroVu or LakeTech parameter or unit name safe as one part of a dotted name.

    Every run of whitespace, ``.`` and ``/`` becomes one ``_``; ``_`` at either end is dropped.
    ``"Dissolved Oxygen"`` -> ``"Dissolved_Oxygen"``, ``"mg/L"`` -> ``"mg_L"``,
    ``"m/s"`` -> ``"m_s"``; ``"°C"`` and ``"%"`` are unchanged.

    Raises:
        InvalidData: the name is empty after sanitizing.
    """
    cleaned = _SANITIZE_HYDROVU.sub("_", name).strip("_")
    if not cleaned:
        raise InvalidData(f"name {name!r} is empty after sanitizing")
    return cleaned


def clean(text: str) -> str:
    """A header part as a name part (module docstring); may return ``""``."""
    text = text.replace("µ", "u").replace("μ", "u").replace("%", "pct").replace("°", "")
    return re.sub(r"[^\w-]+", "_", text).strip("_")


def _unit(text: str) -> str:
    return UNITS.get(text.strip(), "") or clean(text)


def _join(param: str, unit: str) -> str:
    p = clean(param)
    return f"{p}.{unit}" if p and unit else p


def in_situ_name(header: str) -> tuple[str, str | None]:
    """``(name, serial)`` of an In-Situ header; a header not of that form is only cleaned."""
    m = _IN_SITU.match(header.strip())
    if m is None:
        return clean(header) or header, None
    name = _join(m.group("param"), _unit(m.group("unit")))
    return name or header, m.group("serial")


def exo_name(header: str) -> tuple[str, str | None]:
    """``(name, None)`` of a KorEXO header (``Temp °C`` -> ``Temp.C``)."""
    words = header.split()
    for n in (2, 1):
        if len(words) > n:
            tail = " ".join(words[-n:])
            if tail in UNITS:
                name = _join(" ".join(words[:-n]), UNITS[tail])
                return name or header, None
    return clean(header) or header, None


def map_names(headers: Sequence[str], form: str, *, path: str | None = None) -> dict[str, str]:
    """Map each header of ``form`` (``in-situ`` or ``exo``) to its pond name.

    Returns:
        header -> name, for every header; names are unique.

    Raises:
        InvalidData: two headers map to one name and have no serial numbers to tell them apart.
    """
    one = in_situ_name if form == "in-situ" else exo_name
    mapped = {h: one(h) for h in headers}
    by_name: dict[str, list[str]] = {}
    for header, (name, _serial) in mapped.items():
        by_name.setdefault(name, []).append(header)
    out: dict[str, str] = {}
    for header, (name, serial) in mapped.items():
        if len(by_name[name]) == 1:
            out[header] = name
            continue
        serials = [mapped[h][1] for h in by_name[name]]
        if any(s is None for s in serials) or len(set(serials)) != len(serials):
            others = ", ".join(repr(h) for h in by_name[name])
            raise InvalidData(
                f"columns {others} would all be named {name!r}: give --names as-written", path
            )
        param, dot, unit = name.partition(".")
        out[header] = f"{param}_{serial}{dot}{unit}"
    taken = [n for n in out.values()]
    if len(set(taken)) != len(taken):
        duplicate = next(n for n in taken if taken.count(n) > 1)
        raise InvalidData(
            f"two columns would be named {duplicate!r}: give --names as-written", path
        )
    return out
