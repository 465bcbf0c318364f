"""``pond copy``: host files into the pond, or pond files out to a host folder.

Copy in (one transaction)::

    pond copy SRC... DEST          SRC: host:///f, host+table:///f, host+series:///f,
                                   host+csv+series:///f, or a plain host path (= host://)

Copy out (reads only; ``--at-txn`` allowed)::

    pond copy GLOB... host:///dir [--strip-prefix P]
"""

from __future__ import annotations

import argparse
from typing import Any

#: Show a progress bar (on a terminal) when a copy moves at least this much or this many files.
PROGRESS_BYTES = 8 << 20
PROGRESS_FILES = 20

DESCRIPTION = """\
Copy into the pond (one transaction; on any error nothing is copied):

  pond copy SRC... DEST

  SRC is a host file or folder, as a URL that says what it becomes:
    host:///abs/file            a data file (bytes, streamed); a plain path means the same
    host+table:///f.parquet     a table (a Parquet file)
    host+series:///f.parquet    a series chunk (a Parquet file with a time column)
    host+csv+series:///f.csv    a series parsed from CSV (plain, In-Situ, YSI EXO, loggers)
    host+csv+series://-         the same, from standard input (DEST names the series)
  A folder is copied recursively. If DEST is an existing directory, each SRC goes into it under
  its own name; otherwise DEST names the new file (or directory). Copying onto an existing file
  adds a new version unless the bytes are the same; onto a series, appends the rows it does not
  already hold (copying the same file twice changes nothing; a grown CSV adds its new rows).
  A plain host:// file is not stored under a .series or .table name (say host+csv+series://).

  CSV times: the time column is detected (Timestamp, timestamp, time, ts, datetime; In-Situ
  'Date Time'; EXO 'Date (...)' + 'Time (...)') unless --time-column names it; offsets (Z, +02:00)
  are honoured; times without one are in the zone the file states (In-Situ 'Time Zone:'), else
  UTC, unless --tz names one (IANA, or -06:00). A local time that does not exist (DST begins) or
  occurs twice (DST ends) is refused unless --nonexistent/--ambiguous say how to read it.
  In-Situ and EXO headers become <parameter>.<unit> names (Temperature (°C) (812345) ->
  Temperature.C), the headers as written kept in the version's attributes.

Copy out of the pond (reads only):

  pond copy GLOB... host:///dir [--strip-prefix P]

  Each match is written under dir at its pond path (less P): data files byte for byte, tables and
  series as Parquet (a series as the union of its versions). Matched directories are copied
  recursively; symlinks are followed.
"""


def add_parser(
    subparsers: Any, *, common: argparse.ArgumentParser, reading: argparse.ArgumentParser
) -> None:
    p = subparsers.add_parser(
        "copy",
        parents=[common, reading],
        help="copy host files in, or pond files out",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "sources", nargs="+", metavar="SRC", help="host URL/path (in) or pond glob (out)"
    )
    p.add_argument("dest", metavar="DEST", help="pond path (in) or host:///dir (out)")
    from duckpond.formats.flags import add_arguments

    add_arguments(p.add_argument_group("reading series (--time-column: any series source)"))
    p.add_argument(
        "--replace",
        action="store_true",
        help="copy in: the series at DEST becomes the rows of one series SRC (one correction "
        "version superseding its current versions; history kept)",
    )
    p.add_argument(
        "--strip-prefix",
        metavar="P",
        help="copy out: drop this pond directory prefix from the written paths",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from duckpond.errors import UsageError
    from duckpond.ops.copy import CopyOptions, HostSource, check_csv_source, parse_host_url

    dest_url = parse_host_url(args.dest) if "://" in args.dest else None
    if dest_url is not None:
        scheme, folder = dest_url
        if scheme != "host":
            raise UsageError("copy out writes to host:///dir (the types are kept)", args.dest)
        from duckpond.formats.flags import given_arguments

        for flag in given_arguments(args):
            raise UsageError(f"{flag} applies to copying in", args.dest)
        if args.replace:
            raise UsageError("--replace applies to copying in", args.dest)
        return copy_out(args, args.sources, folder)
    if args.at_txn is not None:
        raise UsageError("--at-txn applies to copying out (the pond is changed at its latest)")
    if args.strip_prefix is not None:
        raise UsageError("--strip-prefix applies to copying out (to host:///dir)")
    options = CopyOptions(time_column=args.time_column, tz=args.tz, csv=_csv_options(args))
    sources = [HostSource.parse(s, base_dir=Path.cwd()) for s in args.sources]
    for s in sources:
        check_csv_source(s, options)
    if args.replace:
        return replace_in(args, sources, args.dest, options)
    return copy_in(args, sources, args.dest, options)


def replace_in(args: argparse.Namespace, sources: list[Any], dest: str, options: Any) -> int:
    from duckpond.cli.common import write_transaction
    from duckpond.errors import UsageError
    from duckpond.ops import copy

    if len(sources) != 1:
        raise UsageError("--replace takes one series source", dest)
    with write_transaction(args) as (_, root):
        copy.replace_in(root, sources[0], dest, options)
    return 0


def copy_in(args: argparse.Namespace, sources: list[Any], dest: str, options: Any) -> int:
    from duckpond.cli.common import progress, write_transaction
    from duckpond.ops import copy

    files = copy.host_files(sources)
    total = sum(f.size for f in files)
    show = total >= PROGRESS_BYTES or len(files) >= PROGRESS_FILES
    # the bar outlives the transaction, so it also covers the commit
    with (
        progress("copying", total, in_bytes=True, show=show) as bar,
        write_transaction(args) as (_, root),
    ):
        copy.copy_in(root, sources, dest, options, progress=bar)
        bar.describe("committing")
    return 0


def copy_out(args: argparse.Namespace, patterns: list[str], folder: Any) -> int:
    from duckpond.cli.common import open_pond, progress
    from duckpond.ops import copy

    root = open_pond(args).root()
    files = copy.pond_files(root, patterns)
    total = sum(copy.stored_size(f) for f in files)
    show = total >= PROGRESS_BYTES or len(files) >= PROGRESS_FILES
    with progress("copying out", total, in_bytes=True, show=show) as bar:
        copy.copy_out(root, patterns, folder, strip_prefix=args.strip_prefix, progress=bar)
    return 0


def _csv_options(args: argparse.Namespace) -> Any:
    """The CSV flags other than --time-column and --tz (checked per file) as CsvOptions, or None.

    Raises:
        UsageError: a flag's value is not one the option takes (naming the flag).
    """
    from duckpond.errors import InvalidData, UsageError
    from duckpond.formats.flags import CSV_FLAGS, values_of_arguments
    from duckpond.formats.options import CsvOptions

    values = values_of_arguments(args)
    values.pop("time_column", None)
    values.pop("tz", None)
    if not values:
        return None
    try:
        return CsvOptions.of(values)
    except InvalidData as exc:
        field, _, cause = exc.message.partition(": ")
        spec = dict(CSV_FLAGS).get(field, {})
        flag = spec.get("flag", "--" + field.replace("_", "-"))
        raise UsageError(f"{flag}: {cause}" if cause else exc.message) from None
