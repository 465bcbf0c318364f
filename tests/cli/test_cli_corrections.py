"""Fixing mistakes with history kept (issue 14): ``pond cat --version``, ``revert``,
``copy --replace``, ``rm-rows`` and ``diff``, through ``main(argv)`` on the real B01 and JFK data.

Every value check is count, sum, min, max of each numeric column (and the time column's count,
min, max), ours as ``pond cat --format parquet`` prints it against DuckDB over the raw rows we
expect; every change is also read with ``--at-txn`` of the transaction before it (the old
content) and after it.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import cli_testlib
import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from cli_testlib import B01_CSV, JFK_CSV, RunCli, snapshot

from duckpond.formats import read_csv_series
from duckpond.steward.pond import Pond
from duckpond.tinyfs import collapse

run_cli = cli_testlib.run_cli
pond_dir = cli_testlib.pond_dir

H = 3_600_000_000


def oracle(raw: pa.Table) -> dict[str, tuple]:
    """count, sum, min, max of every numeric column (time: count, min, max), by DuckDB."""
    con = duckdb.connect()
    con.register("raw", raw)
    out = {}
    for f in raw.schema:
        q = f'"{f.name}"'
        if pa.types.is_timestamp(f.type):
            sql = f"SELECT count({q}), min(epoch_us({q})), max(epoch_us({q})) FROM raw"
        else:
            sql = f"SELECT count({q}), round(sum({q}), 6), min({q}), max({q}) FROM raw"
        out[f.name] = tuple(con.execute(sql).fetchall()[0])
    return out


def stats(table: pa.Table) -> dict[str, tuple]:
    """The same figures by pyarrow over what the pond printed."""
    out: dict[str, tuple[Any, ...]] = {}
    for name in table.column_names:
        col = table.column(name)
        if pa.types.is_timestamp(col.type):
            ints = col.cast(pa.int64())
            out[name] = (len(col) - col.null_count, pc.min(ints).as_py(), pc.max(ints).as_py())
        else:
            total = pc.sum(col).as_py()
            out[name] = (
                len(col) - col.null_count,
                round(total, 6) if total is not None else None,
                pc.min(col).as_py(),
                pc.max(col).as_py(),
            )
    return out


def cat(run_cli: RunCli, path: str, *extra: str) -> pa.Table:
    r = run_cli("cat", path, "--format", "parquet", *extra)
    assert r.code == 0, r.err
    return pq.read_table(io.BytesIO(r.out))


def refused(run_cli: RunCli, pond_dir: Path, code: int, *argv: str, naming: str) -> str:
    """Run a command that must be refused: its exit status, one stderr line naming the path,
    the pond unchanged."""
    before = snapshot(pond_dir)
    r = run_cli(*argv)
    assert r.code == code, (r.code, r.err)
    assert len(r.err_lines) == 1 and naming in r.err, r.err
    assert snapshot(pond_dir) == before
    return r.err


def load_parts(pond_dir: Path, path: str, table: pa.Table, n: int) -> list[int]:
    """``table`` appended to ``path`` in ``n`` transactions (consecutive slices); their seqs."""
    pond = Pond.open(pond_dir)
    seqs = []
    step = -(-table.num_rows // n)
    for k in range(n):
        with pond.transaction(["append", path]) as tx:
            tx.root().append_series(path, table.slice(k * step, step), time_column="Timestamp")
        seqs.append(pond.txn_seq)
    return seqs


def txn(pond_dir: Path) -> int:
    return Pond.open(pond_dir).txn_seq


def us(text: str) -> int:
    from duckpond.times import parse_time

    return parse_time(text)


def outside(raw: pa.Table, start: int, end: int) -> pa.Table:
    t = raw.column("Timestamp").cast(pa.int64())
    return raw.filter(pc.or_(pc.less(t, start), pc.greater_equal(t, end)))


# --------------------------------------------------------------------------------------------
# rm-rows
# --------------------------------------------------------------------------------------------


def test_rm_rows_removes_a_window_keeps_history_and_survives_appends_and_collapse(
    run_cli: RunCli, pond_dir: Path, tmp_path: Path
) -> None:
    raw, _ = read_csv_series(B01_CSV)
    head, tail = raw.slice(0, 15_000), raw.slice(15_000)
    load_parts(pond_dir, "/b01.series", head, 20)  # 20 appends: the auto-collapse ran
    before = txn(pond_dir)
    start, end = "2016-05-01T00:00:00Z", "2016-05-03T12:00:00+02:00"  # an offset honoured
    r = run_cli("rm-rows", "/b01.series", "--start", start, "--end", end)
    assert r.code == 0, r.err
    want = outside(head, us(start), us(end))
    removed = head.num_rows - want.num_rows
    assert removed > 100 and f"{removed} rows removed" in r.text
    after = txn(pond_dir)
    assert after == before + 1
    assert stats(cat(run_cli, "/b01.series")) == oracle(want)
    assert stats(cat(run_cli, "/b01.series", "--at-txn", str(before))) == oracle(head)
    assert stats(cat(run_cli, "/b01.series", "--at-txn", str(after))) == oracle(want)
    # one correction version superseding only the versions that overlap the window
    node = Pond.open(pond_dir).root().resolve("/b01.series")
    fix = node.versions()[-1]
    assert collapse.is_correction(fix) and fix.extended_attributes["removed"] == removed
    assert len(collapse.replaced(fix)) >= 1 and len(node.live_versions()) > 1
    # the diff says what went
    r = run_cli("describe", "/b01.series")
    assert r.code == 0 and f"1 correction(s), last: v{fix.version} (rm-rows)" in r.text, r.text
    r = run_cli("show", "--txn", str(after))
    assert r.code == 0 and f"rm-rows: replaces v{collapse.replaced(fix)[0]}" in r.text, r.text
    r = run_cli("diff", "/b01.series")
    assert r.code == 0, r.err
    assert f"rows: +0 -{removed}" in r.text and "2016-05-01T00:00:00Z" in r.text
    # appending after the correction works, and 16 more appends collapse it with the rest
    load_parts(pond_dir, "/b01.series", tail, 17)
    full = pa.concat_tables([want, tail])
    assert stats(cat(run_cli, "/b01.series")) == oracle(full)
    r = run_cli("maintain")
    assert r.code == 0, r.err
    node = Pond.open(pond_dir).root().resolve("/b01.series")
    assert fix.version in collapse.superseded_by(node.versions()), "a collapse holds it"
    assert all(v.version != fix.version for v in node.live_versions())
    assert stats(cat(run_cli, "/b01.series")) == oracle(full)
    assert stats(cat(run_cli, "/b01.series", "--at-txn", str(before))) == oracle(head)
    # a window with no rows changes nothing
    seq = txn(pond_dir)
    r = run_cli("rm-rows", "/b01.series", "--start", "1999-01-01", "--end", "1999-02-01")
    assert r.code == 0 and "0 rows removed" in r.text
    assert txn(pond_dir) == seq


def test_describe_lists_versions_with_txn_rows_and_bounds_compactly(
    run_cli: RunCli, pond_dir: Path
) -> None:
    """Forty hourly-style appends (auto-collapsed in runs of 16) and an rm-rows: the text lists
    the last few versions and says how many more; ``--versions`` lists each on one line; the
    JSON list agrees with the stored versions and with ``cat --version`` of each."""
    import json
    import re

    raw, _ = read_csv_series(JFK_CSV)
    raw = raw.slice(0, 40 * 24)
    seqs = load_parts(pond_dir, "/jfk.series", raw, 40)
    r = run_cli("rm-rows", "/jfk.series", "--start", "2013-01-10", "--end", "2013-01-12")
    assert r.code == 0, r.err
    node = Pond.open(pond_dir).root().resolve("/jfk.series")
    history = node.versions()
    assert len(history) > 40, "auto-collapses and the correction add versions"
    fix = history[-1]
    held = collapse.superseded_by(history)

    r = run_cli("describe", "/jfk.series")
    assert r.code == 0, r.err
    lines = [x.strip() for x in r.text.splitlines()]
    listed = [x for x in lines if re.match(r"v\d+  txn ", x)]
    assert len(listed) == 5, r.text
    assert f"... {len(history) - 5} earlier (describe --versions lists all)" in lines
    assert listed[-1].startswith(f"v{fix.version}  txn {fix.txn_seq}  ")
    assert f"correction of {_one_or_run(collapse.replaced(fix))} (rm-rows), live" in listed[-1]

    r = run_cli("describe", "--versions", "/jfk.series")
    assert r.code == 0, r.err
    listed = [x.strip() for x in r.text.splitlines() if re.match(r"\s*v\d+  txn ", x)]
    assert len(listed) == len(history)
    for line, v in zip(listed, history, strict=True):
        assert line.startswith(f"v{v.version}  txn {v.txn_seq}  "), line
    first_collapse = next(v for v in history if collapse.children(v))
    line = listed[history.index(first_collapse)]
    assert "collapse of v1..v16 (16), " in line, line
    assert f"append, held by v{first_collapse.version}" in listed[0]
    assert listed[0].split("  ")[1] == f"txn {seqs[0]}"

    r = run_cli("describe", "--versions", "--format", "json", "/jfk.series")
    assert r.code == 0, r.err
    (entry,) = [json.loads(x) for x in r.text.splitlines()]
    rows = entry["version_list"]
    assert [x["version"] for x in rows] == [v.version for v in history]
    assert [x["txn"] for x in rows] == [v.txn_seq for v in history]
    live = {v.version for v in node.live_versions()}
    assert {x["version"] for x in rows if x["superseded_by"] is None} == live
    for x in rows:
        if x["version"] in held:
            assert x["superseded_by"] == held[x["version"]].version
    # each version's recorded rows and bounds are what cat --version K reads
    for x in (rows[0], rows[17], rows[-1]):
        got = cat(run_cli, "/jfk.series", "--version", str(x["version"]))
        assert got.num_rows == x["rows"]
        t = got.column("Timestamp")
        assert pc.min(t).as_py().isoformat().replace("+00:00", ".000000Z") == x["min_event_time"]
        assert pc.max(t).as_py().isoformat().replace("+00:00", ".000000Z") == x["max_event_time"]
    assert sum(x["rows"] for x in rows if x["kind"] == "append") == raw.num_rows


def _one_or_run(versions: list[int]) -> str:
    ns = sorted(versions)
    if len(ns) == 1:
        return f"v{ns[0]}"
    return f"v{ns[0]}..v{ns[-1]} ({len(ns)})"


def test_rm_rows_refusals_name_the_path_and_change_nothing(
    run_cli: RunCli, pond_dir: Path, tmp_path: Path
) -> None:
    raw, _ = read_csv_series(JFK_CSV)
    load_parts(pond_dir, "/jfk.series", raw, 2)
    note = tmp_path / "note.txt"
    note.write_text("hello\n")
    assert run_cli("copy", str(note), "/note.txt").code == 0
    assert run_cli("mkdir", "/d").code == 0
    args = ("--start", "2013-02-01", "--end", "2013-03-01")
    refused(run_cli, pond_dir, 2, "rm-rows", "/note.txt", *args, naming="/note.txt")
    refused(run_cli, pond_dir, 2, "rm-rows", "/d", *args, naming="/d")
    refused(run_cli, pond_dir, 3, "rm-rows", "/nope.series", *args, naming="/nope.series")
    err = refused(
        run_cli, pond_dir, 2, "rm-rows", "/jfk.series", "--start", "tomorrow", naming="--start"
    )
    assert "/jfk.series" in err
    refused(run_cli, pond_dir, 2, "rm-rows", "/jfk.series", naming="--start or --end")
    refused(
        run_cli,
        pond_dir,
        2,
        "rm-rows",
        "/jfk.series",
        "--start",
        "2013-03-01",
        "--end",
        "2013-02-01",
        naming="/jfk.series",
    )
    # one open side: everything from March on goes
    r = run_cli("rm-rows", "/jfk.series", "--start", "2013-03-01")
    assert r.code == 0, r.err
    t = raw.column("Timestamp").cast(pa.int64())
    assert stats(cat(run_cli, "/jfk.series")) == oracle(raw.filter(pc.less(t, us("2013-03-01"))))


# --------------------------------------------------------------------------------------------
# copy --replace
# --------------------------------------------------------------------------------------------


def test_copy_replace_makes_the_series_the_given_table(
    run_cli: RunCli, pond_dir: Path, tmp_path: Path
) -> None:
    raw, _ = read_csv_series(JFK_CSV)
    load_parts(pond_dir, "/jfk.series", raw, 5)
    before = txn(pond_dir)
    # the corrected export: a calibration offset on air temperature, a bad month gone, and a
    # column renamed (the schema need not merge with the old one)
    t = raw.column("Timestamp").cast(pa.int64())
    fixed = raw.filter(pc.or_(pc.less(t, us("2013-06-01")), pc.greater_equal(t, us("2013-07-01"))))
    fixed = fixed.set_column(
        fixed.schema.get_field_index("AirTemperature.C"),
        "AirTemperature.C",
        pc.add(fixed.column("AirTemperature.C"), 0.25),
    ).rename_columns([("Gust.m_s" if n == "WindGust.m_s" else n) for n in fixed.column_names])
    src = tmp_path / "fixed.parquet"
    pq.write_table(fixed, src)
    r = run_cli("copy", "--replace", f"host+series://{src}", "/jfk.series")
    assert r.code == 0, r.err
    after = txn(pond_dir)
    got = cat(run_cli, "/jfk.series")
    assert got.column_names == fixed.column_names
    assert stats(got) == oracle(fixed)
    assert stats(cat(run_cli, "/jfk.series", "--at-txn", str(before))) == oracle(raw)
    assert stats(cat(run_cli, "/jfk.series", "--at-txn", str(after))) == oracle(fixed)
    node = Pond.open(pond_dir).root().resolve("/jfk.series")
    assert [v.version for v in node.live_versions()] == [node.versions()[-1].version]
    # cat --version of an appended version still gives that version's own rows
    first = cat(run_cli, "/jfk.series", "--version", "1")
    assert stats(first) == oracle(raw.slice(0, first.num_rows))
    # copying onto it again appends the rows it does not hold (none)
    seq = txn(pond_dir)
    assert run_cli("copy", f"host+series://{src}", "/jfk.series").code == 0
    assert txn(pond_dir) == seq
    # refusals: not a series source, several sources, a target that is not a series
    csv = tmp_path / "a.csv"
    csv.write_text("Timestamp,v\n2024-01-01T00:00:00Z,1\n")
    assert run_cli("copy", str(csv), "/a.txt").code == 0
    refused(run_cli, pond_dir, 2, "copy", "--replace", str(csv), "/jfk.series", naming=str(csv))
    refused(
        run_cli,
        pond_dir,
        2,
        "copy",
        "--replace",
        f"host+series://{src}",
        f"host+series://{src}",
        "/jfk.series",
        naming="/jfk.series",
    )
    refused(
        run_cli,
        pond_dir,
        8,
        "copy",
        "--replace",
        f"host+csv+series://{csv}",
        "/a.txt",
        naming="/a.txt",
    )


# --------------------------------------------------------------------------------------------
# revert
# --------------------------------------------------------------------------------------------


def test_revert_a_series_after_a_bad_append_and_a_replace(
    run_cli: RunCli, pond_dir: Path, tmp_path: Path
) -> None:
    raw, _ = read_csv_series(B01_CSV)
    seqs = load_parts(pond_dir, "/b01.series", raw.slice(0, 10_000), 4)
    good = seqs[-1]
    bad = raw.slice(10_000, 500)
    bad = bad.set_column(1, "WaterTemperature.C", pc.multiply(bad.column(1), 100.0))
    load_parts(pond_dir, "/b01.series", bad, 1)
    r = run_cli("revert", "/b01.series", "--to-txn", str(good))
    assert r.code == 0, r.err
    reverted = txn(pond_dir)
    assert stats(cat(run_cli, "/b01.series")) == oracle(raw.slice(0, 10_000))
    both = pa.concat_tables([raw.slice(0, 10_000), bad])
    assert stats(cat(run_cli, "/b01.series", "--at-txn", str(reverted - 1))) == oracle(both)
    r = run_cli("diff", "/b01.series")
    assert r.code == 0 and "rows: +0 -500" in r.text, r.text
    # revert the revert: the bad rows are back; then a revert to the first load
    assert run_cli("revert", "/b01.series", "--to-txn", str(reverted - 1)).code == 0
    assert stats(cat(run_cli, "/b01.series")) == oracle(both)
    assert run_cli("revert", "/b01.series", "--to-txn", str(seqs[0])).code == 0
    assert stats(cat(run_cli, "/b01.series")) == oracle(raw.slice(0, 2_500))
    # appending after a revert works
    load_parts(pond_dir, "/b01.series", raw.slice(15_000, 100), 1)
    want = pa.concat_tables([raw.slice(0, 2_500), raw.slice(15_000, 100)])
    assert stats(cat(run_cli, "/b01.series")) == oracle(want)
    # refusals
    refused(run_cli, pond_dir, 3, "revert", "/b01.series", "--to-txn", "999", naming="999")
    refused(run_cli, pond_dir, 3, "revert", "/b01.series", "--to-txn", "1", naming="/b01.series")
    refused(run_cli, pond_dir, 3, "revert", "/", "--to-txn", "2", naming="/")


def test_revert_data_file_and_table_and_a_removed_file(
    run_cli: RunCli, pond_dir: Path, tmp_path: Path
) -> None:
    a = tmp_path / "notes.txt"
    a.write_text("calibrated 2024-05-01\nsonde A\n")
    assert run_cli("copy", str(a), "/notes.txt").code == 0
    first = txn(pond_dir)
    a.write_text("calibrated 2024-06-01\nsonde A\nsonde B\n")
    assert run_cli("copy", str(a), "/notes.txt").code == 0
    second = txn(pond_dir)
    r = run_cli("diff", "/notes.txt")
    assert r.code == 0
    assert r.text.splitlines()[2:] == [
        "@@ -1,2 +1,3 @@",
        "-calibrated 2024-05-01",
        "+calibrated 2024-06-01",
        " sonde A",
        "+sonde B",
    ]
    assert run_cli("revert", "/notes.txt", "--to-txn", str(first)).code == 0
    assert run_cli("cat", "/notes.txt").out == b"calibrated 2024-05-01\nsonde A\n"
    assert run_cli("cat", "/notes.txt", "--at-txn", str(second)).out.endswith(b"sonde B\n")
    assert run_cli("cat", "/notes.txt", "--version", "2").out.endswith(b"sonde B\n")
    assert run_cli("cat", "/notes.txt", "--version", "-1").out.endswith(b"sonde A\n")
    seq = txn(pond_dir)
    r = run_cli("revert", "/notes.txt", "--to-txn", str(first))  # already so: nothing written
    assert r.code == 0 and "unchanged" in r.text and txn(pond_dir) == seq
    refused(run_cli, pond_dir, 3, "cat", "/notes.txt", "--version", "9", naming="/notes.txt")
    # a table: jfk as Parquet, then a wrong one
    raw, _ = read_csv_series(JFK_CSV)
    good, wrong = tmp_path / "good.parquet", tmp_path / "wrong.parquet"
    pq.write_table(raw, good)
    pq.write_table(raw.slice(0, 10), wrong)
    assert run_cli("copy", f"host+table://{good}", "/jfk.table").code == 0
    t_good = txn(pond_dir)
    assert run_cli("copy", f"host+table://{wrong}", "/jfk.table").code == 0
    r = run_cli("diff", "/jfk.table")
    assert r.code == 0 and f"rows: +0 -{raw.num_rows - 10}" in r.text, r.text
    assert run_cli("revert", "/jfk.table", "--to-txn", str(t_good)).code == 0
    assert stats(cat(run_cli, "/jfk.table")) == oracle(raw)
    assert stats(cat(run_cli, "/jfk.table", "--at-txn", str(t_good + 1))) == oracle(
        raw.slice(0, 10)
    )
    assert stats(cat(run_cli, "/jfk.table", "--version", "2")) == oracle(raw.slice(0, 10))
    # a removed file comes back; the type must match
    assert run_cli("rm", "/notes.txt").code == 0
    assert run_cli("revert", "/notes.txt", "--to-txn", str(second)).code == 0
    assert run_cli("cat", "/notes.txt").out.endswith(b"sonde B\n")
    assert run_cli("rm", "/jfk.table").code == 0
    assert run_cli("copy", str(a), "/jfk.table.txt").code == 0
    assert run_cli("mv", "/jfk.table.txt", "/jfk.table").code == 0
    refused(
        run_cli, pond_dir, 8, "revert", "/jfk.table", "--to-txn", str(t_good), naming="/jfk.table"
    )


# --------------------------------------------------------------------------------------------
# diff of directories, between named transactions
# --------------------------------------------------------------------------------------------


def test_diff_directories_and_named_transactions(
    run_cli: RunCli, pond_dir: Path, tmp_path: Path
) -> None:
    a = tmp_path / "a.txt"
    a.write_text("a\n")
    assert run_cli("mkdir", "/d").code == 0
    t0 = txn(pond_dir)
    assert run_cli("copy", str(a), "/d/a.txt").code == 0
    assert run_cli("copy", str(a), "/d/b.txt").code == 0
    t2 = txn(pond_dir)
    assert run_cli("rm", "/d/a.txt").code == 0
    r = run_cli("diff", "/d", "--from-txn", str(t0), "--to-txn", str(t2))
    assert r.code == 0, r.err
    assert "entries: +2 -0" in r.text and '"name": "a.txt"' in r.text
    r = run_cli("diff", "/d")  # default: the last change, the rm
    assert r.code == 0
    assert "entries: +0 -1" in r.text and '- {"name": "a.txt"' in r.text
    r = run_cli("diff", "/d", "--from-txn", str(t2), "--to-txn", str(t2))
    assert r.code == 0 and "no change" in r.text
    refused(
        run_cli, pond_dir, 2, "diff", "/d", "--from-txn", str(t2), "--to-txn", str(t0), naming="/d"
    )
    refused(run_cli, pond_dir, 3, "diff", "/d", "--to-txn", "99", naming="99")
    refused(run_cli, pond_dir, 3, "diff", "/nope", naming="/nope")
