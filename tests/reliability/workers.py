"""Child processes of the concurrency tests: ``python workers.py ROLE POND SECONDS OUT [...]``.

Each runs ``pond`` commands in a loop through :func:`duckpond.cli.main.main` (a fresh
``Pond.open`` each time, exactly what a new ``pond`` process does, without paying interpreter
start-up per command) and writes a JSON report to OUT: the exit status of every command, the
stderr of every unexpected one, and (writers) which of its changes exited 0.

- ``reader``: list, log, status, describe, cat --sql, show, list --at-txn, in turn.
- ``writer NAME``: alternately ``mkdir /NAME/dI`` and an append of one new row to
  ``/NAME.series`` (``copy host+csv+series://...``); every 25th command a ``maintain``.
- ``ager``: keeps every Delta log file of the pond older than two hours, as in a pond written
  once an hour by cron, so each checkpoint's log cleanup deletes what openers may be reading.
"""

from __future__ import annotations

import collections
import contextlib
import io
import json
import os
import sys
import time
from pathlib import Path

READS = [
    ["list"],
    ["log"],
    ["status"],
    ["describe", "/seed.series"],
    ["cat", "/seed.series", "--sql", "SELECT count(*) AS n FROM source", "--format", "csv"],
    ["show", "--txn", "2"],
    ["list", "--at-txn", "2"],
]


def run(pond: str, argv: list[str]) -> tuple[int, str]:
    from duckpond.cli.main import main

    err = io.StringIO()
    out = io.TextIOWrapper(io.BytesIO())
    with contextlib.redirect_stderr(err):
        saved, sys.stdout = sys.stdout, out
        try:
            code = main(["--pond", pond, *argv])
        finally:
            sys.stdout = saved
    return code, err.getvalue().strip()


def reader(pond: str, seconds: float) -> dict[str, object]:
    codes: collections.Counter[int] = collections.Counter()
    errors = []
    end = time.monotonic() + seconds
    i = 0
    while time.monotonic() < end:
        argv = READS[i % len(READS)]
        i += 1
        code, err = run(pond, argv)
        codes[code] += 1
        if code != 0:
            errors.append([argv, code, err])
    return {"codes": codes, "errors": errors[:20]}


def writer(pond: str, seconds: float, name: str, work: Path) -> dict[str, object]:
    codes: collections.Counter[int] = collections.Counter()
    errors = []
    done: list[list[object]] = []  # [kind, i] of the changes that exited 0
    end = time.monotonic() + seconds
    i = 0
    csv = work / f"{name}.csv"
    while time.monotonic() < end:
        i += 1
        kind: str | None
        if i % 25 == 0:
            argv, kind = ["maintain"], None
        elif i % 2:
            argv, kind = ["mkdir", "-p", f"/{name}/d{i}"], "mkdir"
        else:
            csv.write_text(f"Timestamp,v\n2024-01-01T00:{i // 60 % 60:02d}:{i % 60:02d}Z,{i}\n")
            argv, kind = ["copy", f"host+csv+series://{csv}", f"/{name}.series"], "row"
        code, err = run(pond, argv)
        codes[code] += 1
        if code not in (0, 6):
            errors.append([argv, code, err])
        if kind is not None and code == 0:
            done.append([kind, i])
    return {"codes": codes, "errors": errors[:20], "done": done}


def ager(pond: str, seconds: float) -> dict[str, object]:
    end = time.monotonic() + seconds
    aged = 0
    while time.monotonic() < end:
        old = time.time() - 7200
        for table in ("data", "control"):
            log = os.path.join(pond, table, "_delta_log")
            for name in os.listdir(log):
                path = os.path.join(log, name)
                with contextlib.suppress(FileNotFoundError):
                    if os.stat(path).st_mtime > old + 60:
                        os.utime(path, (old, old))
                        aged += 1
        time.sleep(0.02)
    return {"aged": aged}


def main() -> None:
    role, pond, seconds, out = sys.argv[1], sys.argv[2], float(sys.argv[3]), Path(sys.argv[4])
    if role == "reader":
        report = reader(pond, seconds)
    elif role == "writer":
        report = writer(pond, seconds, sys.argv[5], out.parent)
    else:
        report = ager(pond, seconds)
    out.write_text(json.dumps(report))


if __name__ == "__main__":
    main()
