"""``pond export -p PATTERN... --dir D``: series as Hive-partitioned Parquet plus a manifest."""

from __future__ import annotations

import argparse
from typing import Any

DESCRIPTION = """\
Write the tables and series matching the patterns (a matched directory exports every table and
series below it) into the host folder DIR, for the website or any Parquet reader:

  DIR/<name>/res=<R>/year=YYYY/month=M/part.parquet   a res=<R>.series (temporal-reduce)
  DIR/<name>/year=YYYY/month=M/part.parquet           any other table or series
  DIR/manifest.json                                    every exported series, its files and spans

<name> is the pond path (the parent's for res=<R>.series, suffix dropped). Each part holds
Timestamp (UTC) then the other columns, sorted by time. Exporting again into the same DIR is
incremental: a part whose bytes would not change is left alone (same bytes, same mtime, so a sync
to a web host sends only what changed), parts the series no longer has are removed, and
--rebuild writes every part again. Series exported earlier into DIR stay listed. One line per
series says how many parts were written, left unchanged and removed. A pattern that matches
nothing is a warning; none matching anything is an error (exit 3).

--delta URL also writes each exported series as a Delta Lake table at URL/<name>[/res=<R>]
(a host folder or s3://bucket/prefix; -o endpoint_url=..., region=..., access_key_id=...,
secret_access_key='${env:VAR}' for S3), partitioned like the Parquet export (int columns year,
month, ...), for Spark, Trino, Athena, DuckDB or polars. Each export commits at most one Delta
version per series: new partitions added, changed ones replaced, vanished ones removed.
"""


def add_parser(
    subparsers: Any, *, common: argparse.ArgumentParser, reading: argparse.ArgumentParser
) -> None:
    p = subparsers.add_parser(
        "export",
        parents=[common, reading],
        help="export series as partitioned Parquet with a manifest",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "-p",
        "--pattern",
        dest="patterns",
        action="append",
        required=True,
        metavar="PATTERN",
        help="pond glob of tables/series (repeatable), e.g. '/reduced/**/res=*.series'",
    )
    p.add_argument("--dir", required=True, metavar="DIR", help="host folder (created if missing)")
    p.add_argument(
        "--temporal",
        default="year,month",
        metavar="LEVELS",
        help="partition levels, a prefix of year,month,day,hour (default: year,month; "
        "'none': one part per series)",
    )
    p.add_argument("--start", metavar="TIME", help="keep rows at or after TIME (ISO-8601, UTC)")
    p.add_argument("--end", metavar="TIME", help="keep rows before TIME (ISO-8601, UTC)")
    p.add_argument(
        "--rebuild",
        action="store_true",
        help="write every part again, even those whose bytes are unchanged",
    )
    p.add_argument(
        "--delta",
        metavar="URL",
        help="also bring a Delta Lake table per series at URL up to date (folder or s3://)",
    )
    p.add_argument(
        "-o",
        "--option",
        dest="options",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an S3 option of --delta (repeatable): endpoint_url, region, access_key_id, "
        "secret_access_key (as ${env:VAR}), session_token",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import sys
    from pathlib import Path

    from duckpond.cli.common import key_values, open_pond
    from duckpond.errors import UsageError, printable
    from duckpond.factories.export import MANIFEST, export
    from duckpond.units import format_bytes

    text = args.temporal.strip()
    levels = [] if text.lower() in {"", "none"} else [t.strip() for t in text.split(",")]
    options = key_values(args.options, "-o")
    if options and not args.delta:
        raise UsageError("-o options apply to --delta")
    pond = open_pond(args)
    manifest = export(
        pond, args.patterns, args.dir, levels, start=args.start, end=args.end, rebuild=args.rebuild
    )
    tables = []
    if args.delta:
        from duckpond.factories.delta_export import export_delta

        # every series of the folder is kept in step (an unchanged one commits nothing)
        tables = export_delta(manifest, args.delta, options)
    changes = manifest.changes
    written = set(changes.written)
    lines = []
    files = rows = size = 0
    for s in manifest.series:
        n_bytes = sum(f.bytes for f in s.files)
        files += len(s.files)
        rows += s.rows
        size += n_bytes
        res = f" res={s.resolution}" if s.resolution else ""
        base = s.name + (f"/res={s.resolution}/" if s.resolution else "/")
        n_written = sum(f.file in written for f in s.files)
        n_removed = sum(r.startswith(base) for r in changes.removed)
        lines.append(
            f"{s.name}{res}: {len(s.files)} files, {s.rows} rows, {format_bytes(n_bytes)}"
            f"  ({s.path})  wrote {n_written}, unchanged {len(s.files) - n_written}, "
            f"removed {n_removed}"
        )
    lines.append(
        f"{Path(args.dir) / MANIFEST}: {len(manifest.series)} series, {files} files, "
        f"{rows} rows, {format_bytes(size)}  wrote {len(changes.written)}, unchanged "
        f"{len(changes.unchanged)}, removed {len(changes.removed)}"
    )
    for t in tables:
        res = f" res={t.resolution}" if t.resolution else ""
        if t.version is None:
            lines.append(f"delta {t.name}{res}: unchanged  ({t.url})")
        else:
            lines.append(
                f"delta {t.name}{res}: version {t.version}, {t.rows} rows written  ({t.url})  "
                f"added {len(t.added)}, replaced {len(t.replaced)}, removed {len(t.removed)} "
                "partitions"
            )
    from duckpond.cli.common import OUTPUT

    if not OUTPUT.quiet:
        sys.stdout.write("\n".join(map(printable, lines)) + "\n")
    return 0
