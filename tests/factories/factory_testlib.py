"""Helpers for the factory tests: real data, an independent DuckDB oracle, value comparison."""

from __future__ import annotations

import math
from pathlib import Path

import duckdb
import pyarrow as pa

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "data"
JFK_CSV = DATA / "jfk_weather_2013_hourly" / "jfk_weather_2013_hourly.csv"
B01_CSV = DATA / "neracoos_b01_water_temperature_30min" / "neracoos_b01_water_temperature_30min.csv"
EXAMPLES = REPO / "examples"
TIME = pa.timestamp("us", tz="UTC")
H = 3_600_000_000  # one hour in µs


def us(text: str) -> int:
    """ISO-8601 (Z) -> µs since the epoch."""
    from datetime import datetime

    t = datetime.fromisoformat(text)
    return int(t.timestamp()) * 1_000_000 + t.microsecond


def load_real(pond) -> None:
    """/raw/jfk.series and /raw/b01.series from the bundled CSVs (one version each)."""
    from duckpond.formats import read_csv_series

    with pond.transaction(["load"]) as tx:
        r = tx.root()
        r.mkdir("/raw")
        for name, path in (("jfk", JFK_CSV), ("b01", B01_CSV)):
            table, tc = read_csv_series(path)
            r.append_series(f"/raw/{name}.series", table, time_column=tc)


def duckdb_reduce(source: str | Path | pa.Table, columns: list[str], seconds: int) -> dict:
    """Independent oracle: bucket start (µs) -> {column: (avg, min, max, count)}.

    Buckets are computed by integer floor division of epoch µs in DuckDB (not date_bin); the
    source is a CSV path (read by DuckDB itself) or an Arrow table.
    """
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    if isinstance(source, pa.Table):
        con.register("src", source)
        rel = "src"
    else:
        rel = f"read_csv('{source}')"
    w = seconds * 1_000_000
    aggs = ", ".join(f'avg("{c}"), min("{c}"), max("{c}"), count("{c}")' for c in columns)
    q = (
        f'SELECT floor(epoch_us("Timestamp"::TIMESTAMPTZ) / {w})::BIGINT * {w} AS b, {aggs} '
        f"FROM {rel} GROUP BY b ORDER BY b"
    )
    out = {}
    for row in con.sql(q).fetchall():
        vals = row[1:]
        out[row[0]] = {c: tuple(vals[4 * i : 4 * i + 4]) for i, c in enumerate(columns)}
    return out


def close(a, b, rel: float = 1e-9) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=rel, abs_tol=1e-12)


def compare_reduced(
    ours: pa.Table,
    expected: dict,
    columns: dict[str, str],
    aggs: tuple[str, ...] = ("avg", "min", "max"),
    *,
    exact_buckets: bool = True,
) -> int:
    """Check every value of ``ours`` against the oracle; return the number of values compared.

    Args:
        ours: a temporal-reduce output (Timestamp + ``<column>.<agg>``).
        expected: :func:`duckdb_reduce` output.
        columns: our column name -> the oracle's column name.
        aggs: the aggregations present in ``ours``.
        exact_buckets: our buckets must be exactly the oracle's (else: a superset, where the
            extra buckets have no value for these columns).
    """
    assert ours.schema.field("Timestamp").type == TIME
    ts = ours.column("Timestamp").cast(pa.int64()).to_pylist()
    assert ts == sorted(ts) and len(set(ts)) == len(ts), "bucket starts sorted and unique"
    data = {name: ours.column(name).to_pylist() for name in ours.column_names}
    index = {"avg": 0, "min": 1, "max": 2, "count": 3}
    if exact_buckets:
        assert set(ts) == set(expected), (
            f"buckets differ: only ours {sorted(set(ts) - set(expected))[:5]}, "
            f"only theirs {sorted(set(expected) - set(ts))[:5]}"
        )
    else:
        assert set(expected) <= set(ts)
    n = 0
    for i, b in enumerate(ts):
        for ours_col, their_col in columns.items():
            row = expected.get(b)
            for agg in aggs:
                got = data[f"{ours_col}.{agg}"][i]
                want: float | None
                if row is None:
                    want = 0 if agg == "count" else None
                else:
                    want = row[their_col][index[agg]]
                    if agg == "count":
                        want = int(want)
                    elif want is not None:
                        want = float(want)
                assert close(got, want), f"{ours_col}.{agg} at {b}: ours {got}, DuckDB {want}"
                n += 1
    return n
