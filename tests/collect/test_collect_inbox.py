"""The inbox factory: host files into the pond once, by content hash; LakeTech pivots."""

from __future__ import annotations

import gzip
import runpy
import shutil
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from collect_testlib import (
    B01_CSV,
    DATA,
    JFK_CSV,
    ROOT,
    SAMPLE,
    make_node,
    new_pond,
    read_csv_us,
    run_node,
    state,
)

from duckpond.errors import InvalidData, NotFound, UsageError
from duckpond.factories import inbox
from duckpond.formats.laketech import read_laketech

NY = ZoneInfo("America/New_York")
HEADER = "Timestamp,Series Name,Location,Parameter,Value,Offset\n"


def inbox_config(pattern: str | Path, fmt: str = "data", folder: str = "/inbox", extra: str = ""):
    return f"pattern: '{pattern}'\nfolder: {folder}\nformat: {fmt}\n{extra}"


# --------------------------------------------------------------------------------------------
# data files
# --------------------------------------------------------------------------------------------


def test_ingest_copies_new_and_changed_files_once(tmp_path: Path) -> None:
    host = tmp_path / "in"
    host.mkdir()
    (host / "a.txt").write_bytes(b"alpha\n")
    (host / "b.bin").write_bytes(bytes(range(256)) * 400)  # 100 KiB: a large file
    (host / ".hidden").write_bytes(b"not matched")
    pond = new_pond(tmp_path)
    make_node(pond, "inbox", "/in", inbox_config(f"{host}/*"))

    report = run_node(pond, "/in", "ingest")
    assert isinstance(report, inbox.IngestReport)
    assert [(Path(f.source).name, f.action) for f in report.files] == [
        ("a.txt", "created"),
        ("b.bin", "created"),
    ]
    root = pond.root()
    assert root.resolve("/inbox/a.txt").read_bytes() == b"alpha\n"
    assert root.resolve("/inbox/b.bin").read_bytes() == (host / "b.bin").read_bytes()

    before = state(pond)
    again = run_node(pond, "/in", "ingest")
    assert [f.action for f in again.files] == ["skipped", "skipped"]
    assert state(pond) == before  # nothing new: no commit at all

    (host / "a.txt").write_bytes(b"alpha, edited\n")
    third = run_node(pond, "/in", "ingest")
    assert [f.action for f in third.files] == ["updated", "skipped"]
    a = root.resolve("/inbox/a.txt")
    assert a.read_bytes() == b"alpha, edited\n" and len(a.versions()) == 2
    assert len(root.resolve("/inbox/b.bin").versions()) == 1

    record = root.resolve("/in").read_table()
    assert record.schema == inbox.RECORD_SCHEMA
    rows = {r["name"]: r for r in record.to_pylist()}
    assert rows["a.txt"]["action"] == "updated"
    assert rows["a.txt"]["sha256"] == a.latest().sha256
    assert rows["b.bin"]["txn_seq"] < rows["a.txt"]["txn_seq"]
    # the record is hidden from ordinary globs
    assert [np.path for np in root.glob("/inbox/*")] == ["/inbox/a.txt", "/inbox/b.bin"]


def test_recursive_pattern_keeps_subfolders(tmp_path: Path, monkeypatch) -> None:
    host = tmp_path / "in"
    (host / "2024" / "05").mkdir(parents=True)
    (host / "top.csv").write_text("x\n")
    (host / "2024" / "05" / "deep.csv").write_text("y\n")
    (host / "2024" / "skip.txt").write_text("z\n")
    monkeypatch.setenv("INBOX_TEST_DIR", str(host))
    pond = new_pond(tmp_path)
    make_node(pond, "inbox", "/in", inbox_config("${env:INBOX_TEST_DIR}/**/*.csv"))
    report = run_node(pond, "/in", "ingest")
    assert sorted(f.path for f in report.files) == ["/inbox/2024/05/deep.csv", "/inbox/top.csv"]
    assert pond.root().resolve("/inbox/2024/05/deep.csv").read_text() == "y\n"


def test_root_folder_and_missing_host_folder(tmp_path: Path) -> None:
    host = tmp_path / "in"
    host.mkdir()
    (host / "a.txt").write_text("a\n")
    pond = new_pond(tmp_path)
    make_node(pond, "inbox", "/in", inbox_config(f"{host}/*.txt", folder="/"))
    assert [f.path for f in run_node(pond, "/in", "ingest").files] == ["/a.txt"]
    assert pond.root().resolve("/in").read_table()["name"].to_pylist() == ["a.txt"]

    make_node(pond, "inbox", "/typo", inbox_config(f"{host}-typo/*.txt"))
    with pytest.raises(NotFound, match="in-typo of pattern"):
        run_node(pond, "/typo", "ingest")


def test_two_files_for_one_pond_name_are_refused(tmp_path: Path) -> None:
    host = tmp_path / "in"
    host.mkdir()
    (host / "a.csv").write_text("Timestamp,v\n2020-01-01T00:00:00Z,1\n")
    (host / "a.txt").write_text("Timestamp,v\n2020-01-01T00:00:00Z,1\n")
    pond = new_pond(tmp_path)
    make_node(pond, "inbox", "/in", inbox_config(f"{host}/a.*", "csv-series"))
    before = state(pond)
    with pytest.raises(InvalidData, match=r"would both be stored as /inbox/a\.series"):
        run_node(pond, "/in", "ingest")
    assert state(pond) == before


def test_plan_says_what_ingest_will_do_and_writes_nothing(tmp_path: Path) -> None:
    host = tmp_path / "in"
    (host / "sub").mkdir(parents=True)
    (host / "a.csv").write_text("Timestamp,v\n2020-01-01T00:00:00Z,1\n")
    (host / "sub" / "b.csv").write_text("Timestamp,v\n2020-01-01T00:00:00Z,2\n")
    pond = new_pond(tmp_path)
    make_node(pond, "inbox", "/in", inbox_config(f"{host}/**/*.csv", "csv-series"))
    before = state(pond)
    plan = run_node(pond, "/in", "plan")
    assert state(pond) == before
    assert isinstance(plan, inbox.IngestPlan)
    assert [(f.name, f.path, f.becomes, f.skip) for f in plan.files] == [
        ("a.series", "/inbox/a.series", "file:series", None),
        ("sub/b.series", "/inbox/sub/b.series", "file:series", None),
    ]
    assert plan.files[0].size == len("Timestamp,v\n2020-01-01T00:00:00Z,1\n")
    assert str(plan).splitlines()[-1] == f"2 to ingest, 0 skipped (2 match {host}/**/*.csv)"
    report = run_node(pond, "/in", "ingest")
    assert [f.action for f in report.files] == ["created", "created"]
    (host / "a.csv").write_text("Timestamp,v\n2020-01-01T00:00:00Z,1\n2020-01-01T01:00:00Z,3\n")
    txn = pond.txn_seq
    before = state(pond)
    plan = run_node(pond, "/in", "plan")
    assert state(pond) == before
    assert [(f.name, f.skip) for f in plan.files] == [
        ("a.series", None),
        ("sub/b.series", f"ingested in txn {txn}, unchanged since"),
    ]
    assert "skip -> /inbox/sub/b.series (file:series): ingested in txn" in str(plan)
    with pytest.raises(UsageError, match="plan takes no arguments"):
        run_node(pond, "/in", "plan", "now")


def test_csv_options_and_attributes_through_the_inbox(tmp_path: Path) -> None:
    host = tmp_path / "in"
    host.mkdir()
    (host / "lake.csv").write_bytes(
        b"# logger 17\r\nZeit;Temp (\xc2\xb0C);Druck\r\n"
        b"31.03.2024 01:30;4,5;-9999\r\n31.03.2024 03:00;4,25;1013,5\r\n"
    )
    pond = new_pond(tmp_path)
    make_node(
        pond,
        "inbox",
        "/in",
        inbox_config(
            f"{host}/*.csv",
            "csv-series",
            extra="skip_rows: 1\ntime_column: Zeit\ntime_format: '%d.%m.%Y %H:%M'\n"
            "decimal: ','\nnull_values: [-9999]\ntz: Europe/Berlin\nnames: parameter.unit\n",
        ),
    )
    run_node(pond, "/in", "ingest")
    series = pond.root().resolve("/inbox/lake.series")
    table = series.read_table()
    assert table.column_names == ["Zeit", "Temp.C", "Druck"]
    assert table.column("Temp.C").to_pylist() == [4.5, 4.25]
    assert table.column("Druck").to_pylist() == [None, 1013.5]
    assert table.column("Zeit").cast(pa.int64()).to_pylist() == [
        int(datetime(2024, 3, 31, 0, 30, tzinfo=UTC).timestamp() * 1e6),
        int(datetime(2024, 3, 31, 1, 0, tzinfo=UTC).timestamp() * 1e6),
    ]
    source = series.versions()[-1].extended_attributes["source"]
    assert source["columns"] == {"Temp.C": "Temp (°C)"}
    assert source["time_zone"] == "Europe/Berlin" and source["file"] == str(host / "lake.csv")


def test_a_dst_gap_in_an_inbox_file_commits_nothing(tmp_path: Path) -> None:
    host = tmp_path / "in"
    host.mkdir()
    (host / "a_good.csv").write_text("time,v\n2024-03-31 01:30,1\n")
    (host / "gap.csv").write_text("time,v\n2024-03-31 01:30,1\n2024-03-31 02:30,2\n")
    pond = new_pond(tmp_path)
    make_node(
        pond,
        "inbox",
        "/in",
        inbox_config(f"{host}/*.csv", "csv-series", extra="tz: Europe/Berlin\n"),
    )
    before = state(pond)
    with pytest.raises(InvalidData) as info:
        run_node(pond, "/in", "ingest")
    assert str(info.value).startswith(
        f"{host / 'gap.csv'}: time column 'time' has '2024-03-31 02:30'"
    )
    assert "does not exist in Europe/Berlin" in str(info.value)
    assert state(pond) == before


def test_no_arguments_and_unset_variable(tmp_path: Path, monkeypatch) -> None:
    pond = new_pond(tmp_path)
    make_node(pond, "inbox", "/in", inbox_config("${env:INBOX_UNSET_VAR}/*.csv"))
    monkeypatch.delenv("INBOX_UNSET_VAR", raising=False)
    with pytest.raises(UsageError, match="pattern: environment variable INBOX_UNSET_VAR"):
        run_node(pond, "/in", "ingest")
    with pytest.raises(UsageError, match="takes no arguments"):
        run_node(pond, "/in", "ingest", "extra")


# --------------------------------------------------------------------------------------------
# csv-series
# --------------------------------------------------------------------------------------------


def test_csv_series_growth_is_appended_and_edits_replace(tmp_path: Path) -> None:
    lines = B01_CSV.read_text().splitlines(keepends=True)
    host = tmp_path / "in"
    host.mkdir()
    export = host / "b01.csv"
    export.write_text("".join(lines[:5001]))  # header + 5000 rows
    (host / "other.csv.gz").write_bytes(gzip.compress("".join(lines[:11]).encode()))
    pond = new_pond(tmp_path)
    make_node(pond, "inbox", "/in", inbox_config(f"{host}/*.csv*", "csv-series"))

    first = run_node(pond, "/in", "ingest")
    assert [(f.path, f.action, f.rows) for f in first.files] == [
        ("/inbox/b01.series", "created", 5000),
        ("/inbox/other.series", "created", 10),
    ]

    export.write_text("".join(lines))  # the export grew: all 19,225 rows
    second = run_node(pond, "/in", "ingest")
    assert [(f.action, f.rows) for f in second.files] == [("appended", 14_225), ("skipped", 0)]
    series = pond.root().resolve("/inbox/b01.series")
    assert len(series.versions()) == 2
    oracle = read_csv_us(B01_CSV)
    assert series.read_table().sort_by("Timestamp").equals(oracle)

    edited = list(lines)
    edited[100] = edited[100].split(",")[0] + ",99.5\n"  # a correction in the past
    export.write_text("".join(edited))
    third = run_node(pond, "/in", "ingest")
    assert [(f.action, f.rows) for f in third.files] == [("replaced", 19_225), ("skipped", 0)]
    table = pond.root().resolve("/inbox/b01.series").read_table().sort_by("Timestamp")
    assert table.num_rows == 19_225  # replaced, not appended: no duplicates
    assert table["WaterTemperature.C"][99].as_py() == 99.5

    export.write_text("".join(edited).replace("\n", "\r\n"))  # new bytes, same data
    fourth = run_node(pond, "/in", "ingest")
    assert [f.action for f in fourth.files] == ["unchanged", "skipped"]


def test_csv_series_local_times(tmp_path: Path) -> None:
    host = tmp_path / "in"
    host.mkdir()
    (host / "local.csv").write_text("when,v\n2020-07-01 12:00,1.5\n2020-12-01 12:00,2.5\n")
    pond = new_pond(tmp_path)
    make_node(
        pond,
        "inbox",
        "/in",
        inbox_config(
            f"{host}/*.csv", "csv-series", extra="time_column: when\ntz: America/New_York\n"
        ),
    )
    run_node(pond, "/in", "ingest")
    np = pond.root().resolve("/inbox/local.series")
    assert np.time_column() == "when"
    times = [t.isoformat() for t in np.read_table()["when"].to_pylist()]
    assert times == ["2020-07-01T16:00:00+00:00", "2020-12-01T17:00:00+00:00"]


# --------------------------------------------------------------------------------------------
# LakeTech
# --------------------------------------------------------------------------------------------


def _local_month_bounds(month: str) -> tuple[datetime, datetime]:
    year, mon = map(int, month.split("-"))
    start = datetime(year, mon, 1, tzinfo=NY)
    end = datetime(year + (mon == 12), mon % 12 + 1, 1, tzinfo=NY)
    return start, end


def _oracle(csv: Path, month: str, columns: list[str], location: str) -> pa.Table:
    """The wide bundled CSV, rows in the local month with at least one of ``columns``."""
    table = read_csv_us(csv)
    start, end = _local_month_bounds(month)
    ts = table["Timestamp"]
    keep = pc.and_(
        pc.greater_equal(ts, pa.scalar(start, pa.timestamp("us", tz="UTC"))),
        pc.less(ts, pa.scalar(end, pa.timestamp("us", tz="UTC"))),
    )
    table = table.filter(keep).select(["Timestamp", *columns])
    any_value = pc.is_valid(table[columns[0]])
    for c in columns[1:]:
        any_value = pc.or_(any_value, pc.is_valid(table[c]))
    table = table.filter(any_value)
    renamed = ["Timestamp"] + [f"{location}.{c}" for c in columns]
    return table.rename_columns(renamed)


@pytest.fixture
def sample_pond(tmp_path: Path):
    host = tmp_path / "in"
    shutil.copytree(SAMPLE, host, ignore=shutil.ignore_patterns("*.md"))
    pond = new_pond(tmp_path)
    make_node(pond, "inbox", "/lt", inbox_config(f"{host}/*.csv", "laketech", folder="/laketech"))
    report = run_node(pond, "/lt", "ingest")
    return pond, host, report


def test_laketech_sample_pivot_equals_the_source(sample_pond) -> None:
    pond, _, report = sample_pond
    assert [(Path(f.path).name, f.action) for f in report.files] == [
        ("B01_2016-10.series", "created"),
        ("B01_2016-11.series", "created"),
        ("JFK_2013-03.series", "created"),
        ("JFK_2013-11.series", "created"),
    ]
    jfk_cols = ["AirTemperature.C", "RelativeHumidity.pct", "WindSpeed.m_s"]
    cases = [
        ("B01_2016-10", B01_CSV, ["WaterTemperature.C"], "B01"),
        ("B01_2016-11", B01_CSV, ["WaterTemperature.C"], "B01"),
        ("JFK_2013-03", JFK_CSV, jfk_cols, "JFK"),
        ("JFK_2013-11", JFK_CSV, jfk_cols, "JFK"),
    ]
    for stem, csv, columns, location in cases:
        got = pond.root().resolve(f"/laketech/{stem}.series").read_table()
        want = _oracle(csv, stem.split("_")[1], columns, location)
        assert got.column_names == want.column_names, stem
        assert got.equals(want), stem
        assert got.num_rows > 600


def test_laketech_offsets_resolve_the_repeated_hour(sample_pond) -> None:
    pond, host, _ = sample_pond
    table = pond.root().resolve("/laketech/B01_2016-11.series").read_table()
    # 01:00 and 01:30 local occur twice on 2016-11-06; the Offset tells them apart.
    text = (host / "B01_2016-11.csv").read_text()
    assert text.count("2016-11-06 01:00:00,") == 2
    times = [t.isoformat() for t in table["Timestamp"].to_pylist()]
    assert {
        "2016-11-06T05:00:00+00:00",
        "2016-11-06T05:30:00+00:00",
        "2016-11-06T06:00:00+00:00",
        "2016-11-06T06:30:00+00:00",
    } <= set(times)
    assert len(set(times)) == len(times) == text.count("\n") - 1


def test_laketech_reingest_and_one_changed_file(sample_pond) -> None:
    pond, host, _ = sample_pond
    before = state(pond)
    assert not run_node(pond, "/lt", "ingest").ingested
    assert state(pond) == before
    # One more day arrives in the November export: only it is read, only the new rows appended.
    extra = "".join(
        f"2016-11-30 {h:02d}:00:00,B01 WaterTemperature (C),B01,WaterTemperature,9.{h},-05:00\n"
        for h in range(24)
    )
    path = host / "B01_2016-11.csv"
    lines = path.read_text().splitlines(keepends=True)
    kept = [ln for ln in lines if not ln.startswith("2016-11-30")]
    path.write_text("".join(kept))
    report = run_node(pond, "/lt", "ingest")
    assert [(Path(f.path).name, f.action) for f in report.ingested] == [
        ("B01_2016-11.series", "replaced")
    ]
    path.write_text("".join(kept) + extra)
    report = run_node(pond, "/lt", "ingest")
    assert [(Path(f.path).name, f.action, f.rows) for f in report.ingested] == [
        ("B01_2016-11.series", "appended", 24)
    ]
    series = pond.root().resolve("/laketech/B01_2016-11.series")
    assert len(series.versions()) == 2  # the replaced node + the appended day
    assert series.read_table().num_rows == len(kept) - 1 + 24


def test_sample_regenerates_identically(tmp_path: Path) -> None:
    script = runpy.run_path(str(ROOT / "scripts" / "make_laketech_sample.py"))
    written = script["make_sample"](DATA, tmp_path / "sample")
    assert [p.name for p in written] == sorted(p.name for p in SAMPLE.glob("*.csv"))
    for p in written:
        assert p.read_bytes() == (SAMPLE / p.name).read_bytes(), p.name
    assert "make_laketech_sample.py" in (SAMPLE / "PROVENANCE.md").read_text()


def test_read_laketech_offsets_units_and_duplicates() -> None:
    text = HEADER + (
        "2020-01-01 00:00:00,Lake Shore DO (mg/L),Lake Shore,DO,8.5,-05:00\n"
        "2020-01-01 00:00:00,Lake Shore DO (mg/L),Lake Shore,DO,8.5,-0500\n"  # same: kept once
        "2020-01-01 01:00:00,Lake Shore DO (mg/L),Lake Shore,DO,,-5\n"  # no reading
        "2020-01-01 01:00:00,Lake Shore Temp,Lake Shore,Temp,3.25,-5.0\n"
        "2020-01-01 07:00:00,Lake Shore Temp,Lake Shore,Temp,NaN,Z\n"
        "2020-01-01 07:00:00,Lake Shore Temp,Lake Shore,Temp,4,+00:00\n"
        "2020-01-01 12:00:00,Lake Shore pH (pH),Lake Shore,pH,7.1,+05:30\n"
    )
    table = read_laketech(text.encode(), units={"Temp": "C"})
    assert table.column_names == [
        "Timestamp",
        "Lake_Shore.DO.mg_L",
        "Lake_Shore.Temp.C",
        "Lake_Shore.pH.pH",
    ]
    rows = [
        (r["Timestamp"].isoformat(), r["Lake_Shore.DO.mg_L"], r["Lake_Shore.Temp.C"])
        for r in table.to_pylist()
    ]
    assert rows == [
        ("2020-01-01T05:00:00+00:00", 8.5, None),
        ("2020-01-01T06:00:00+00:00", None, 3.25),
        ("2020-01-01T06:30:00+00:00", None, None),  # pH 12:00 +05:30
        ("2020-01-01T07:00:00+00:00", None, 4.0),
    ]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("Timestamp,Location,Value\n2020-01-01 00:00:00,X,1\n", "no column 'Series Name'"),
        (HEADER, "no readings"),
        (HEADER + "2020-01-01 00:00:00,X a (C),X,a,1,-25:00\n", "data row 1: bad Offset '-25:00'"),
        (
            HEADER
            + "2020-01-01 00:00:00,X a (C),X,a,1,+01:00\n"
            + "2020-01-01 xx,X a (C),X,a,1,+01:00\n",
            "row 2",
        ),
        (
            HEADER + "2020-01-01 00:00:00,X a (C),X,a,1,Z\n2020-01-01 01:00:00,X a (C),X,a,abc,Z\n",
            "data row 2: bad Value 'abc'",
        ),
        (HEADER + "2020-01-01 00:00:00,X a,X,a,1,Z\n", "data row 1: no unit for Parameter 'a'"),
        (HEADER + "2020-01-01 00:00:00,X a (C),,a,1,Z\n", "data row 1: empty Location"),
        (
            HEADER
            + "2020-01-01 00:00:00,X a (C),X,a,1,Z\n"
            + "2020-01-01 01:00:00,X a (C),X,a,2,+01:00\n",
            "data rows 1 and 2: two different readings of X.a.C at 2020-01-01T00:00:00Z",
        ),
        (HEADER + "2020-01-01 00:00:00,X a (C),X,a,1,Z,extra\n", "not a readable CSV"),
    ],
)
def test_bad_laketech_file_is_a_clear_error_and_commits_nothing(
    tmp_path: Path, body: str, message: str
) -> None:
    host = tmp_path / "in"
    host.mkdir()
    shutil.copy(SAMPLE / "JFK_2013-03.csv", host / "a_good.csv")
    (host / "b_bad.csv").write_text(body)
    pond = new_pond(tmp_path)
    make_node(pond, "inbox", "/lt", inbox_config(f"{host}/*.csv", "laketech"))
    before = state(pond)
    with pytest.raises(InvalidData) as info:
        run_node(pond, "/lt", "ingest")
    assert message in str(info.value)
    assert str(info.value).startswith(f"{host / 'b_bad.csv'}:")
    assert state(pond) == before  # the good file was not committed either
    assert pond.root().lookup("/inbox") is None


def test_bad_csv_series_file_commits_nothing(tmp_path: Path) -> None:
    host = tmp_path / "in"
    host.mkdir()
    (host / "ok.csv").write_text("Timestamp,v\n2020-01-01T00:00:00Z,1\n")
    (host / "ragged.csv").write_text("Timestamp,v\n2020-01-01T00:00:00Z,1\n2020-01-01T01:00:00Z\n")
    pond = new_pond(tmp_path)
    make_node(pond, "inbox", "/in", inbox_config(f"{host}/*.csv", "csv-series"))
    before = state(pond)
    with pytest.raises(InvalidData, match=r"ragged\.csv"):
        run_node(pond, "/in", "ingest")
    assert state(pond) == before
    (host / "ragged.csv").unlink()
    assert [f.action for f in run_node(pond, "/in", "ingest").files] == ["created"]


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("folder: /x\n", "pattern: Field required"),
        ("pattern: /a/*\nfolder: /x\nformat: xml\n", "format: Input should be"),
        ("pattern: /a/*\nfolder: /x\ntz: America/New_York\n", "tz applies to format csv-series"),
        ("pattern: /a/*\nfolder: /x\ndelimiter: ';'\n", "delimiter applies to format csv-series"),
        (
            "pattern: /a/*\nfolder: /x\nformat: csv-series\ndelimiter: ';;'\n",
            "delimiter: must be one character other than a quote or newline",
        ),
        (
            "pattern: /a/*\nfolder: /x\nformat: csv-series\nambiguous: guess\n",
            "ambiguous: Input should be 'error', 'earliest', 'latest' or 'infer'",
        ),
        (
            "pattern: /a/*\nfolder: /x\nformat: csv-series\ndate_column: D\n",
            "date_column needs time_column",
        ),
        ("pattern: /a/*\nfolder: /x\nformat: csv-series\ntz: Mars/Base\n", "unknown time zone"),
        ("pattern: /a/*\nfolder: /x\nformat: csv-series\nunits: {a: b}\n", "units applies to"),
        ("pattern: '${HOME}/*'\nfolder: /x\n", "bad reference"),
        ('pattern: /a/*\nfolder: "/x/\\0"\n', "folder: not a valid pond path"),
    ],
)
def test_config_errors_name_the_field(tmp_path: Path, config: str, message: str) -> None:
    pond = new_pond(tmp_path)
    with pytest.raises(InvalidData) as info:
        make_node(pond, "inbox", "/in", config)
    assert message in str(info.value)
