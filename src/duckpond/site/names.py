"""Column names to charts: instrument, parameter and unit of a reduced column, labels, grouping.

The website groups the columns of a page by unit, one chart per unit, whatever their naming.
:func:`parse_column` reads a column's *base* name (a reduced column without its ``.avg``/
``.min``/``.max``/``.count`` suffix) in each of these shapes:

=====================================  ==========  ================  ========
base name                              instrument  parameter         unit
=====================================  ==========  ================  ========
``B01.WaterTemperature.C``             ``B01``     WaterTemperature  ``°C``
``Site.A.Conductivity.uS_cm``          ``Site.A``  Conductivity      ``µS/cm``
``Conductivity.uS_cm``                 --          Conductivity      ``µS/cm``
``Temperature (°C) (812345)``          ``812345``  Temperature       ``°C``
``B01.Temperature (°C) (812345)``      ``B01 812345``  Temperature   ``°C``
``Depth (m)``                          --          Depth             ``m``
``JFK.Visibility``                     ``JFK``     Visibility        none
``pH``, ``Battery``                    --          the name          none
=====================================  ==========  ================  ========

Vendor names with the unit in parentheses (``Parameter (unit) (serial)``) are those of In-Situ,
YSI and logger CSV exports (see the instrument-files issue). A dotted name of three or more parts
follows docs/design.md's ``<instrument>.<parameter>.<unit>``, so its last part is the unit even when
it is not in :data:`UNITS` (it is then shown as written).

A two-part name ``A.B`` is ``<parameter>.<unit>`` when ``B`` looks like a unit
(:func:`looks_like_unit`), else ``<instrument>.<parameter>`` with no unit. ``B`` looks like a unit
when it is a known unit (:data:`UNITS` or the site's ``units`` map: ``Level.ft``,
``Turbidity.NTU``, ``DO.mgL``, ``Flow.gpm``) or, with no spaces and at most 12 characters, is
spelled wholly from unit symbols: an optional SI prefix (``k m c u µ n``) and a symbol (``g L gal
ft m s h d min mol W Pa ...``) with a power (``m3``, ``m²``), joined by ``_``, ``/``, ``-``,
``per`` or ``p`` for "per" (``L_min``, ``ft3_s``, ``umol_m2_s``, ``lpm``, ``gph``), or a mass or
volume run into a volume or time (``ugL``, ``cfh``). So ``Flow.gal_h`` and ``Flow.lps`` read as
parameter + unit, while ``JFK.Visibility``, ``B01.Battery``, ``Sonde.DO`` or ``Sonde.Temp`` stay
instrument + parameter. ``X.pH`` is instrument ``X``, parameter pH in pH (the unit that names its
parameter). Tokens that say "no unit" (``unitless``, ``dimensionless``, ``none``, ``-``) give no
unit.

A column with no unit gets a chart of its own, and two columns share a chart (a y axis) only when
their units are the same symbol after :func:`unit_symbol` (``C``, ``degC`` and ``°C`` are one unit;
``mbar`` and ``hPa`` are kept apart, as written). A unit that says nothing more than its parameter
(pH in pH) is not repeated after the parameter's name (:func:`unit_adds_nothing`): the chart is
"pH", not "pH (pH)"; its y axis is still labelled pH.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

__all__ = [
    "UNITS",
    "ColumnName",
    "humanize",
    "looks_like_unit",
    "parse_column",
    "unit_adds_nothing",
    "unit_symbol",
]

# token (as columns spell it) -> symbol. HydroVu names become column parts with "/" and spaces
# turned into "_" (duckpond.hydrovu.client.sanitize_name), so "mg_L" is "mg/L".
_UNIT_TABLE: Final[dict[str, tuple[str, ...]]] = {
    "°C": ("C", "degC", "deg_C", "°C", "ºC", "Celsius", "celsius", "DegC"),
    "°F": ("F", "degF", "deg_F", "°F", "Fahrenheit"),
    "K": ("K", "kelvin"),
    "µS/cm": ("uS_cm", "uScm", "uS/cm", "µS/cm", "μS/cm", "µS_cm", "μS_cm", "microS_cm"),
    "mS/cm": ("mS_cm", "mS/cm", "mScm"),
    "S/m": ("S_m", "S/m"),
    "dS/m": ("dS_m", "dS/m"),
    "m/s": ("m_s", "mps", "m/s", "ms-1", "m_s-1"),
    "km/h": ("km_h", "km/h", "kph", "kmh"),
    "mph": ("mph",),
    "kn": ("kn", "kt", "knots", "kts"),
    "hPa": ("hPa", "hpa"),
    "mbar": ("mbar", "mb", "millibar"),
    "kPa": ("kPa", "kpa"),
    "Pa": ("Pa",),
    "psi": ("psi", "PSI", "lb_in2"),
    "inHg": ("inHg", "in_Hg"),
    "mmHg": ("mmHg", "mm_Hg"),
    "%": ("%", "pct", "percent", "Percent", "PCT", "%sat", "pct_sat"),
    "mg/L": ("mg_L", "mg/L", "mgL", "mg_l", "mg/l", "MGL", "mgl"),
    "µg/L": ("ug_L", "µg/L", "μg/L", "ug/L", "µg_L", "μg_L", "ugL", "ugl"),
    "g/kg": ("g_kg", "g/kg"),
    "mmol/L": ("mmol_L", "mmol/L"),
    "µmol/L": ("umol_L", "µmol/L", "μmol/L", "umol/L", "µmol_L"),
    "ppm": ("ppm",),
    "ppb": ("ppb",),
    "ppt": ("ppt",),
    "PSU": ("PSU", "psu"),
    "NTU": ("NTU", "ntu"),
    "FTU": ("FTU", "ftu"),
    "FNU": ("FNU", "fnu"),
    "RFU": ("RFU", "rfu"),
    "pH": ("pH", "pH_units", "pHunits"),
    "mV": ("mV", "mv"),
    "V": ("V", "volts", "Volts"),
    "mA": ("mA",),
    "A": ("A",),
    "W/m²": ("W_m2", "W/m2", "W/m²", "W_m^2", "Wm2"),
    "m": ("m", "meters", "metres"),
    "km": ("km",),
    "mi": ("mi", "miles"),
    "cm": ("cm",),
    "mm": ("mm",),
    "ft": ("ft", "feet", "FT"),
    "ft/s": ("ft_s", "ft/s", "fps"),
    "in": ("in", "inches"),
    "mm/h": ("mm_h", "mm/h", "mm_hr"),
    "in/h": ("in_h", "in/h", "in_hr"),
    "°": ("deg", "degrees", "°", "degree"),
    "m³/s": ("m3_s", "m3/s", "m³/s", "cms"),
    "ft³/s": ("ft3_s", "ft3/s", "ft³/s", "cfs", "CFS"),
    "ft³/min": ("ft3_min", "ft3/min", "ft³/min", "cfm", "CFM"),
    "L/s": ("L_s", "L/s", "l_s", "lps", "LPS"),
    "L/min": ("L_min", "L/min", "l_min", "lpm", "LPM"),
    "gal/min": ("gpm", "GPM", "gal_min", "gal/min"),
    "gal/h": ("gph", "GPH", "gal_h", "gal/h"),
    "gal/d": ("gpd", "GPD", "gal_d", "gal/d"),
    "Mgal/d": ("MGD", "mgd", "Mgal_d", "Mgal/d"),
    "L": ("L", "l", "liters", "litres"),
    "gal": ("gal", "gallons"),
    "µmol/m²/s": ("umol_m2_s", "µmol/m²/s", "µmol_m2_s", "umol/m2/s"),
    "s": ("s", "sec", "seconds"),
    "min": ("min", "minutes"),
    "h": ("h", "hr", "hours"),
    "d": ("d", "day", "days"),
}

#: Known unit tokens (as column names spell them) and the symbol shown for each.
UNITS: Final[dict[str, str]] = {
    token: symbol for symbol, tokens in _UNIT_TABLE.items() for token in tokens
}

_VENDOR: Final = re.compile(
    r"^(?P<param>[^()]*?)\s*\((?P<unit>[^()]*)\)(?:\s*\((?P<tag>[^()]*)\))?$"
)
_SERIAL: Final = re.compile(r"^[A-Za-z]{0,3}[-#]?\d[\w-]*$")


@dataclass(frozen=True)
class ColumnName:
    """A reduced column's base name, read: ``instrument`` and ``unit`` may be ``None``.

    ``unit`` is the symbol to show (``"°C"``) and the key charts are grouped by; ``unit_token``
    is the unit as the name spells it (``"C"``).
    """

    base: str
    instrument: str | None
    parameter: str
    unit_token: str | None
    unit: str | None


def unit_symbol(token: str, units: Mapping[str, str] | None = None) -> str | None:
    """The symbol of a unit token: the site's ``units`` map first, then :data:`UNITS`.

    Spellings that differ only by ``_`` for ``/`` or ``u`` for ``µ`` are the same unit
    (``uS_cm`` -> ``µS/cm``). Returns ``None`` for a token that is not a known unit.
    """
    units = units or {}
    if token in units:
        return units[token]
    if token in UNITS:
        return UNITS[token]
    for variant in (token.replace("_", "/"), token.replace("u", "µ", 1)):
        if variant in UNITS:
            return UNITS[variant]
    stripped = token.strip()
    if stripped != token:
        return unit_symbol(stripped, units)
    return None


#: Unit tokens that say the quantity has no unit (read as no unit at all).
NO_UNIT: Final[frozenset[str]] = frozenset(
    {"unitless", "Unitless", "dimensionless", "none", "None", "-"}
)
#: Units that name their own parameter: ``X.pH`` is parameter pH (in pH) of instrument ``X``.
_SELF_NAMED: Final[frozenset[str]] = frozenset({"pH"})

# looks_like_unit's spelling of a unit: [prefix] symbol [power], joined by separators
_PREFIX: Final = "(?:k|m|c|u|µ|μ|n)"
_SYMBOL: Final = "(?:gal|mol|min|ft|in|yd|mi|lb|oz|Wh|Pa|Hz|cf|g|L|l|m|s|h|d|W|V|A|°C|°F|%|°)"
_POWER: Final = "(?:\\^?[23]|[²³]|-1)?"
_TERM: Final = f"{_PREFIX}?{_SYMBOL}{_POWER}"
# a mass or volume run into a volume or time with no separator: mgL, ugL, cfs, cfh
_RUN: Final = f"(?:{_PREFIX}?g|cf|gal)(?:L|l|s|m|h|d|min)"
_UNIT_LIKE: Final = re.compile(f"(?:{_RUN}|{_TERM}(?:(?:_|/|-|per|p){_TERM})*)")


def looks_like_unit(token: str, units: Mapping[str, str] | None = None) -> bool:
    """Whether the last part of a two-part name is a unit (see the module docstring): a known
    unit, or a short token (no spaces, at most 12 characters) spelled from unit symbols."""
    token = token.strip()
    if unit_symbol(token, units) is not None:
        return True
    if not token or len(token) > 12 or any(c.isspace() for c in token):
        return False
    return _UNIT_LIKE.fullmatch(token) is not None


def _shown(token: str, units: Mapping[str, str] | None) -> str:
    """The symbol of a unit token: known, else as written (``gal_s`` -> ``gal/s``)."""
    symbol = unit_symbol(token, units)
    if symbol is not None:
        return symbol
    if token.count("_") == 1 and _UNIT_LIKE.fullmatch(token):
        return token.replace("_", "/")
    return token


def parse_column(base: str, units: Mapping[str, str] | None = None) -> ColumnName:
    """Instrument, parameter and unit of a base column name (see the module docstring)."""
    m = _VENDOR.match(base.strip())
    if m is not None and m.group("param"):
        param = m.group("param").strip()
        unit_text = m.group("unit").strip()
        tag = (m.group("tag") or "").strip() or None
        instrument_parts: list[str] = []
        if "." in param:  # a join's scope before a vendor name: B01.Temperature (°C)
            prefix, param = param.rsplit(".", 1)
            instrument_parts.append(prefix)
        if tag is None and _SERIAL.match(unit_text) and unit_symbol(unit_text, units) is None:
            tag, unit_text = unit_text, ""  # "Battery (812345)": a serial, no unit
        if tag is not None:
            instrument_parts.append(tag)
        if unit_text in NO_UNIT:
            unit_text = ""
        return ColumnName(
            base,
            " ".join(instrument_parts) or None,
            param,
            unit_text or None,
            _shown(unit_text, units) if unit_text else None,
        )
    parts = base.split(".")
    if len(parts) >= 3 and all(parts):
        token = parts[-1]
        if token in NO_UNIT:
            return ColumnName(base, ".".join(parts[:-2]), parts[-2], None, None)
        return ColumnName(base, ".".join(parts[:-2]), parts[-2], token, _shown(token, units))
    if len(parts) == 2 and all(parts):
        first, token = parts
        if token in NO_UNIT:
            return ColumnName(base, None, first, None, None)
        if looks_like_unit(token, units):
            symbol = _shown(token, units)
            if symbol in _SELF_NAMED and unit_symbol(first, units) != symbol:
                return ColumnName(base, first, symbol, token, symbol)  # B01.pH
            return ColumnName(base, None, first, token, symbol)
        return ColumnName(base, first, token, None, None)
    return ColumnName(base, None, base, None, None)


def unit_adds_nothing(unit: str | None, parameters: Sequence[str]) -> bool:
    """Whether a chart's unit says nothing more than its parameters: no unit, or a unit that is
    each parameter's own name (pH in pH). The unit is then not repeated after the name
    ("pH", not "pH (pH)"); the y axis is still labelled with it."""
    if not unit:
        return True
    key = unit.casefold().replace(" ", "")
    return bool(parameters) and all(p.casefold().replace(" ", "") == key for p in parameters)


#: Labels of common parameter abbreviations (a site's ``parameters`` map comes first).
DEFAULT_LABELS: Final[dict[str, str]] = {
    "SpCond": "Specific conductance",
    "SpecCond": "Specific conductance",
    "Cond": "Conductivity",
    "DO": "Dissolved oxygen",
    "ODO": "Dissolved oxygen",
    "ODOSat": "Dissolved oxygen saturation",
    "DOSat": "Dissolved oxygen saturation",
    "TDS": "Total dissolved solids",
    "ORP": "Oxidation-reduction potential",
    "Sal": "Salinity",
    "Temp": "Temperature",
    "WTemp": "Water temperature",
    "ATemp": "Air temperature",
    "Baro": "Barometric pressure",
    "RH": "Relative humidity",
    "ChlA": "Chlorophyll a",
}

_SPLIT: Final = re.compile(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def humanize(name: str, labels: Mapping[str, str] | None = None) -> str:
    """A readable label for a parameter name: the site's ``labels`` map first, then
    :data:`DEFAULT_LABELS`, else the words of the name (split at ``_``, spaces and camel case),
    the first capitalised and the others in lower case unless they are acronyms or hold digits.

    ``WaterTemperature`` -> ``Water temperature``, ``RelativeHumidity`` -> ``Relative humidity``,
    ``Dissolved_Oxygen`` -> ``Dissolved oxygen``, ``pH`` -> ``pH``, ``NO3N`` -> ``NO3N``,
    ``PM2.5`` -> ``PM2.5``, ``ChlorophyllRFU`` -> ``Chlorophyll RFU``.
    """
    if labels and name in labels:
        return labels[name]
    if name in DEFAULT_LABELS:
        return DEFAULT_LABELS[name]
    if re.fullmatch(r"[a-z]{1,2}[A-Z][A-Za-z]?", name):  # pH, mV, kPa: as written
        return name
    words = [w for chunk in name.replace("_", " ").split() for w in _SPLIT.split(chunk) if w]
    if not words:
        return name
    out = []
    for i, w in enumerate(words):
        if w.isupper() or any(c.isdigit() for c in w) or (len(w) > 1 and w[1:] != w[1:].lower()):
            out.append(w)
        elif i == 0:
            out.append(w[0].upper() + w[1:])
        else:
            out.append(w.lower())
    return " ".join(out)


def group_by_unit(names: Sequence[ColumnName]) -> list[list[ColumnName]]:
    """Columns grouped for charts, in first-seen order: one group per unit symbol; a column
    without a unit is a group of its own."""
    groups: dict[str, list[ColumnName]] = {}
    for n in names:
        key = f"unit:{n.unit}" if n.unit is not None else f"column:{n.base}"
        groups.setdefault(key, []).append(n)
    return list(groups.values())
