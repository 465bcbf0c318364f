"""``pond export --delta URL``: the exported series as Delta Lake tables, for engines at scale.

One Delta table per exported series (series differ in columns, so one table each keeps every
schema exact), at ``<URL>/<name>[/res=<R>]`` (the names of :mod:`duckpond.factories.export`),
on a host folder or S3-compatible storage (``s3://bucket/prefix``). Each table holds the rows of
the Hive-partitioned Parquet export, ``Timestamp`` (``timestamp[us, tz=UTC]``, Delta
``timestamp``) and the series' columns, partitioned by the export's temporal levels as ``int``
columns (``year``, ``month``, ...; none with ``--temporal none``). Spark, Trino, Athena,
DuckDB, polars and deltalake read it as a Delta table (https://github.com/delta-io/delta/blob/
master/PROTOCOL.md).

Incremental: the Parquet export decides what each partition holds; each table records, in the
commit info of its last commit (``duckpond.export``: the series' pond path and the sha256 of
every partition's ``part.parquet``), what it holds. An export then commits at most one Delta
version per series: new partitions are added, partitions whose bytes changed are replaced
(``overwrite`` with a partition predicate, Delta's ``replaceWhere``), partitions the series no
longer has are removed; a series with no change commits nothing. New columns are merged into
the table's schema. Older versions stay readable by Delta time travel until vacuumed.

S3 options (``-o KEY=VALUE``, the names of ``pond backup``): ``endpoint_url``, ``region``,
``access_key_id``, ``secret_access_key``, ``session_token`` (``${env:VAR}`` references are
expanded; unset, the usual ``AWS_*`` environment variables apply); an ``http://`` endpoint is
allowed; any other key is passed to delta-rs as written (``AWS_S3_LOCKING_PROVIDER``, ...).
One writer at a time per table: two exports to the same table at once may conflict (the later
fails and can be run again).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from duckpond.errors import InvalidData, UsageError

if TYPE_CHECKING:
    import pyarrow as pa

    from duckpond.factories.export import ExportedSeries, ExportManifest

__all__ = ["COMMIT_KEY", "DeltaExport", "export_delta", "storage_options", "table_url"]

#: The commit-info key under which each commit records what the table holds.
COMMIT_KEY: Final = "duckpond.export"
_S3_KEYS: Final = {
    "endpoint_url": "AWS_ENDPOINT_URL",
    "region": "AWS_REGION",
    "access_key_id": "AWS_ACCESS_KEY_ID",
    "secret_access_key": "AWS_SECRET_ACCESS_KEY",
    "session_token": "AWS_SESSION_TOKEN",
}


@dataclass(frozen=True, slots=True)
class DeltaExport:
    """What exporting one series to its Delta table did.

    Attributes:
        name, resolution: the series' export name.
        url: the table's location.
        version: the Delta version committed, or ``None`` (nothing changed).
        added, replaced, removed: partition keys (``year=2016/month=7``; ``""`` unpartitioned).
        rows: rows written in this commit.
    """

    name: str
    resolution: str | None
    url: str
    version: int | None
    added: tuple[str, ...] = ()
    replaced: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    rows: int = 0


def storage_options(url: str, options: Mapping[str, str] | None) -> dict[str, str]:
    """delta-rs storage options for ``url`` from the ``-o`` options (module docstring).

    Raises:
        UsageError: an ``${env:VAR}`` whose variable is unset; options for a local folder.
    """
    from duckpond.remote.store import expand_env

    options = dict(options or {})
    if not url.startswith("s3://"):
        if options:
            raise UsageError(f"options apply to s3:// tables only (got {', '.join(options)})", url)
        return {}
    out: dict[str, str] = {}
    for key, value in options.items():
        out[_S3_KEYS.get(key, key)] = expand_env(value, what=f"option {key}")
    if out.get("AWS_ENDPOINT_URL", "").startswith("http://"):
        out.setdefault("AWS_ALLOW_HTTP", "true")
    # single writer per table (module docstring): no lock service is needed for S3 renames
    out.setdefault("AWS_S3_ALLOW_UNSAFE_RENAME", "true")
    return out


def table_url(base: str, series: ExportedSeries) -> str:
    """``<base>/<name>[/res=<R>]``, a local path or an ``s3://`` URL."""
    tail = series.name + (f"/res={series.resolution}" if series.resolution else "")
    if "://" in base:
        return base.rstrip("/") + "/" + tail
    return str(Path(base).joinpath(*tail.split("/")))


def export_delta(
    manifest: ExportManifest,
    url: str,
    options: Mapping[str, str] | None = None,
    *,
    only: Sequence[str] | None = None,
) -> list[DeltaExport]:
    """Bring the Delta table of each series of ``manifest`` (those whose pond path is in
    ``only``, default all) up to date with its exported partitions (module docstring).

    Args:
        manifest: what :func:`duckpond.factories.export.export` wrote (its folder is read).
        url: a host folder or ``file:///dir`` or ``s3://bucket/prefix``.
        options: S3 options (module docstring).

    Raises:
        UsageError: bad options. InvalidData: a partition's columns cannot join the table.
        RemoteError: the store failed.
    """
    base = _normalize(url)
    storage = storage_options(base, options)
    done = []
    for series in manifest.series:
        if only is not None and series.path not in only:
            continue
        done.append(_export_series(manifest, series, table_url(base, series), storage))
    return done


def _normalize(url: str) -> str:
    if url.startswith("file://"):
        from duckpond.ops.copy import host_path_text

        return str(Path(host_path_text(url[len("file://") :])).resolve())
    if url.startswith("s3://"):
        return url
    if "://" in url:
        raise UsageError("a Delta export goes to a host folder or s3://bucket/prefix", url)
    return str(Path(url).resolve())


def _export_series(
    manifest: ExportManifest, series: ExportedSeries, url: str, storage: dict[str, str]
) -> DeltaExport:
    levels = list(manifest.temporal)
    parts = {_partition_key(f.file, levels): manifest.out_dir / f.file for f in series.files}
    hashes = {key: _sha256(path) for key, path in parts.items()}
    state = _state(url, storage)
    if state is None and not parts:
        return DeltaExport(series.name, series.resolution, url, None)
    held = state or {}
    added = sorted(k for k in parts if k not in held)
    replaced = sorted(k for k in parts if k in held and held[k] != hashes[k])
    removed = sorted(k for k in held if k not in parts)
    if state is not None and not (added or replaced or removed):
        return DeltaExport(series.name, series.resolution, url, None)
    data = _partitions_table([parts[k] for k in (*added, *replaced)], levels, series)
    # a table without our record (or none at all) is written whole
    predicate = _predicate([*replaced, *removed, *added], levels) if state else None
    record = {"version": 1, "series": series.path, "parts": hashes}
    version = _write(url, data, levels, predicate, storage, record)
    return DeltaExport(
        series.name,
        series.resolution,
        url,
        version,
        tuple(added),
        tuple(replaced),
        tuple(removed),
        data.num_rows,
    )


def _partition_key(file: str, levels: list[str]) -> str:
    """``reduced/all/res=1h/year=2016/month=7/part.parquet`` -> ``year=2016/month=7``."""
    if not levels:
        return ""
    return "/".join(file.split("/")[-1 - len(levels) : -1])


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _state(url: str, storage: dict[str, str]) -> dict[str, str] | None:
    """The partitions (key -> sha256) the table holds, ``{}`` if it exists without a record of
    ours (everything is written again), ``None`` if there is no table."""
    from deltalake import DeltaTable
    from deltalake.exceptions import TableNotFoundError

    from duckpond.errors import translate_errors

    with translate_errors(url, what="reading the Delta table"):
        try:
            table = DeltaTable(url, storage_options=storage or None)
        except TableNotFoundError:
            return None
        for commit in table.history():  # newest first
            text = commit.get(COMMIT_KEY)
            if text:
                try:
                    return dict(json.loads(text)["parts"])
                except (ValueError, KeyError, TypeError):
                    break
    return {}


def _partitions_table(files: list[Path], levels: list[str], series: ExportedSeries) -> pa.Table:
    """The rows of the given ``part.parquet`` files with their partition values as ``int``
    columns."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    tables = []
    for path in files:
        table = pq.read_table(path)
        values = (
            dict(part.split("=", 1) for part in path.parent.parts[-len(levels) :]) if levels else {}
        )
        for level in levels:
            column = pa.array([int(values[level])] * table.num_rows, pa.int32())
            table = table.append_column(level, column)
        tables.append(table)
    if not tables:  # partitions removed, none written: an empty table of the export's columns
        fields = [pa.field("Timestamp", pa.timestamp("us", tz="UTC"))]
        fields += [pa.field(level, pa.int32()) for level in levels]
        return pa.schema(fields).empty_table()
    try:
        return pa.concat_tables(tables, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise InvalidData(
            f"export --delta: partitions of {series.path} do not join: {exc}"
        ) from exc


def _predicate(keys: list[str], levels: list[str]) -> str | None:
    """``(year = 2016 AND month = 7) OR (...)`` naming the partitions a commit rewrites."""
    if not levels:
        return None  # one unpartitioned table: rewritten whole
    clauses = []
    for key in keys:
        terms = [f"{k} = {int(v)}" for k, v in (p.split("=", 1) for p in key.split("/"))]
        clauses.append("(" + " AND ".join(terms) + ")")
    return " OR ".join(clauses) if clauses else None


def _write(
    url: str,
    data: pa.Table,
    levels: list[str],
    predicate: str | None,
    storage: dict[str, str],
    record: dict[str, Any],
) -> int:
    from deltalake import CommitProperties, DeltaTable, write_deltalake

    from duckpond.errors import translate_errors

    if not url.startswith("s3://"):
        Path(url).mkdir(parents=True, exist_ok=True)
    props = CommitProperties(custom_metadata={COMMIT_KEY: json.dumps(record, sort_keys=True)})
    with translate_errors(url, what="writing the Delta table"):
        write_deltalake(
            url,
            data,
            mode="overwrite",
            predicate=predicate,
            partition_by=levels or None,
            schema_mode="merge",
            storage_options=storage or None,
            commit_properties=props,
        )
        return int(DeltaTable(url, storage_options=storage or None).version())
