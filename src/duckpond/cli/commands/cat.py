"""``pond cat PATH [--version K] [--sql Q] [--format table|csv|json|parquet]``: print a file or a
query."""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa

FORMATS = ("table", "csv", "json", "parquet")

#: Rows a terminal table shows (half from the start, half from the end).
TABLE_ROWS = 40
#: Rows per Parquet row group written (pyarrow's default bound), whatever the batches' sizes
#: (a query gives batches of 8,192 rows, a series one or more per version).
ROW_GROUP_ROWS = 1 << 20
#: Bytes (Arrow, in memory) a row group holds at most before it is written (wide rows).
ROW_GROUP_BYTES = 64 << 20

DESCRIPTION = """\
Print a pond file. A data file is written as its raw bytes. A table or series is printed as a
table on a terminal and as Parquet when stdout is not a terminal, unless --format says otherwise
(csv: with a header; json: one object per line; parquet: one file). A series is the union of all
its versions.

--version K prints one stored version's own content (a file's bytes, a table, one version of a
series: the rows appended then, or a collapse's or correction's rows); 'pond show' and 'pond
describe' list the versions. A negative K counts from the latest (-1).

--sql runs a query with DataFusion in which the file is the table 'source' (and the pond's oplog
is 'oplog'), e.g.

  pond cat /weather/jfk.series --sql "SELECT date_bin(INTERVAL '1 hour', \\"Timestamp\\") AS hour,
      avg(\\"AirTemperature.C\\") AS avg FROM source GROUP BY hour ORDER BY hour"

'csv://PATH' reads a data file holding CSV (with a header row) as a table, so --sql and --format
apply to it too.
"""


def add_parser(
    subparsers: Any, *, common: argparse.ArgumentParser, reading: argparse.ArgumentParser
) -> None:
    p = subparsers.add_parser(
        "cat",
        parents=[common, reading],
        help="print a file, or run SQL over a table or series",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("path", help="pond path, or csv://PATH for a data file holding CSV")
    p.add_argument("--sql", metavar="QUERY", help="SQL over the file, which is the table 'source'")
    p.add_argument(
        "--version",
        metavar="K",
        type=int,
        default=None,
        help="one stored version's content (default: the current content)",
    )
    p.add_argument(
        "--format",
        choices=FORMATS,
        default=None,
        help="output of a table or query (default: table on a terminal, else parquet)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import sys

    from duckpond.cli.common import binary_stdout, open_pond, stdout_is_tty
    from duckpond.errors import UsageError
    from duckpond.tinyfs.model import FileType

    pond = open_pond(args)
    fmt = args.format or ("table" if stdout_is_tty() else "parquet")
    if args.path.startswith("csv://"):
        path = args.path[len("csv://") :] or "/"
        table = _read_csv(pond.root().resolve(path), args.version)
        if args.sql is not None:
            from duckpond.sql import query_table

            table = query_table(table, args.sql, path)
        emit(table.schema, table.to_batches(), fmt)
        return 0
    nodepath = pond.root().resolve(args.path)
    if nodepath.is_dir:
        from duckpond.errors import IsADirectory

        raise IsADirectory("is a directory (use 'pond list')", nodepath.path)
    if args.version is not None and (args.sql is not None or nodepath.is_dynamic):
        what = "--sql" if args.sql is not None else "a dynamic node (it has no stored versions)"
        raise UsageError(f"--version does not apply to {what}", nodepath.path)
    if args.sql is not None:
        result = pond.sql(args.sql, nodepath.path)
        emit(result.schema, result.to_batches(), fmt)
        return 0
    if nodepath.file_type == FileType.DATA:
        if args.format is not None:
            raise UsageError(
                f"is a data file, printed as its bytes; to read it as a table use csv://{nodepath.path}",
                nodepath.path,
            )
        import shutil

        out = binary_stdout()
        with nodepath.open(args.version) as src:
            shutil.copyfileobj(src, out, 1 << 20)
        out.flush()
        sys.stdout.flush()
        return 0
    if args.version is not None:
        table = nodepath.read_table(args.version)
        emit(table.schema, table.to_batches(), fmt)
        return 0
    schema, batches = nodepath.iter_batches()
    emit(schema, batches, fmt)
    return 0


def _read_csv(nodepath: Any, version: int | None = None) -> pa.Table:
    """A data file's bytes parsed as CSV with a header (pyarrow's type inference)."""
    import pyarrow.csv as pcsv

    from duckpond.errors import InvalidData, translate_errors
    from duckpond.tinyfs.model import FileType

    if nodepath.file_type != FileType.DATA:
        raise InvalidData(
            f"is a {nodepath.file_type}; csv:// reads a data file holding CSV", nodepath.path
        )
    data = nodepath.read_bytes(version)
    if not data.strip():
        raise InvalidData("empty file, not CSV", nodepath.path)
    if b"\x00" in data[:65536]:
        raise InvalidData("binary data, not CSV text", nodepath.path)
    import pyarrow as pa

    with translate_errors(nodepath.path, what="reading CSV"):
        return pcsv.read_csv(pa.BufferReader(data))


# -- output ----------------------------------------------------------------------------------


def emit(schema: pa.Schema, batches: Iterable[pa.RecordBatch], fmt: str) -> None:
    """Write record batches to stdout in ``fmt`` (streamed, except the terminal table)."""
    from duckpond.cli.common import binary_stdout

    if fmt == "table":
        _print_table(schema, batches)
        return
    out = binary_stdout()
    if fmt == "parquet":
        import pyarrow.parquet as pq

        with pq.ParquetWriter(out, schema) as writer:
            for group in row_groups(schema, batches):
                writer.write_table(group, row_group_size=ROW_GROUP_ROWS)
    elif fmt == "csv":
        import pyarrow.csv as pcsv

        with pcsv.CSVWriter(out, schema) as writer:
            for batch in batches:
                writer.write_batch(batch)
    elif fmt == "json":
        for batch in batches:
            out.write("".join(_json_lines(batch)).encode("utf-8"))
    out.flush()


def _json_lines(batch: pa.RecordBatch) -> Iterator[str]:
    import json

    for row in batch.to_pylist():
        yield json.dumps({k: _json_value(v) for k, v in row.items()}, ensure_ascii=False) + "\n"


def _json_value(value: Any) -> Any:
    import datetime as dt
    import math

    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dt.datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dict):
        return {k: _json_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_value(v) for v in value]
    if isinstance(value, int | float | str | bool) or value is None:
        return value
    return str(value)


def _print_table(schema: pa.Schema, batches: Iterable[pa.RecordBatch]) -> None:
    """A rich table of the first and last rows, with the row count."""
    from collections import deque

    from rich.table import Table

    half = TABLE_ROWS // 2
    head: list[dict[str, Any]] = []
    tail: deque[dict[str, Any]] = deque(maxlen=half)
    count = 0
    for batch in batches:
        n = batch.num_rows
        count += n
        start = max(0, half - len(head))
        if start > 0:
            head.extend(batch.slice(0, start).to_pylist())
        if n > start:
            tail.extend(batch.slice(max(start, n - half)).to_pylist())
    import pyarrow as pa
    from rich.markup import escape

    table = Table(show_lines=False, header_style="bold")
    for field in schema:
        numeric = pa.types.is_integer(field.type) or pa.types.is_floating(field.type)
        table.add_column(
            f"{escape(field.name)}\n[dim]{escape(str(field.type))}[/dim]",
            overflow="fold",
            justify="right" if numeric else "left",
        )
    names = schema.names
    for row in head:
        table.add_row(*(_cell(row.get(n)) for n in names))
    if count > len(head) + len(tail):
        table.add_row(*("…" for _ in names))
    for row in tail:
        table.add_row(*(_cell(row.get(n)) for n in names))
    table.caption = f"{count} row{'s' if count != 1 else ''} × {len(names)} column" + (
        "s" if len(names) != 1 else ""
    )
    from duckpond.cli.common import console, stdout_is_tty

    # On a terminal rich fits the table to its width; elsewhere nothing is folded. Colors follow
    # --color and NO_COLOR.
    out = console() if stdout_is_tty() else console(width=100_000, highlight=False)
    out.print(table, crop=False)


def _cell(value: Any) -> str:
    from rich.markup import escape

    if value is None:
        return "[dim]NULL[/dim]"
    shown = _json_value(value)
    return escape(str(shown))


def row_groups(
    schema: pa.Schema,
    batches: Iterable[pa.RecordBatch],
    rows: int = ROW_GROUP_ROWS,
    max_bytes: int = ROW_GROUP_BYTES,
) -> Iterator[pa.Table]:
    """``batches`` regrouped as tables of ``rows`` rows, or fewer where the rows held reach
    ``max_bytes`` (wide rows) and at the end; none if there are no rows. Holds at most ``rows``
    rows or ``max_bytes`` bytes, plus a batch."""
    import pyarrow as pa

    held: list[pa.RecordBatch] = []
    n = size = 0
    for batch in batches:
        held.append(batch)
        n += batch.num_rows
        size += batch.nbytes
        while n >= rows:
            table = pa.Table.from_batches(held, schema)
            yield table.slice(0, rows)
            rest = table.slice(rows)
            held, n, size = rest.to_batches(), rest.num_rows, rest.nbytes
        if size >= max_bytes:
            yield pa.Table.from_batches(held, schema)
            held, n, size = [], 0, 0
    if n:
        yield pa.Table.from_batches(held, schema)
