"""``pond copy`` with the CSV options: vendor exports, DST refusals, standard input, refusals
that leave the pond unchanged and name the file (exit statuses checked everywhere)."""

from __future__ import annotations

import sys
from pathlib import Path

import pyarrow as pa
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cli"))
import cli_testlib
from cli_testlib import pond_subprocess, snapshot

from duckpond import Pond

run_cli = cli_testlib.run_cli
pond_dir = cli_testlib.pond_dir

EXPORTS = Path(__file__).resolve().parents[2] / "data" / "vendor_exports"
LOGGER_FLAGS = (
    "--delimiter",
    ";",
    "--decimal",
    ",",
    "--null-value",
    "-9999",
    "--null-value",
    "NAN",
    "--null-value",
    "ERR",
    "--time-column",
    "Date/Time",
    "--time-format",
    "%d.%m.%Y %H:%M:%S",
)


def series(pond: Path, path: str) -> pa.Table:
    return Pond.open(pond).root().resolve(path).read_table()


def test_each_vendor_shape_with_its_flags(pond_dir: Path, run_cli) -> None:
    insitu = f"host+csv+series://{EXPORTS / 'insitu_b01_2016-11.csv'}"
    before = snapshot(pond_dir)
    refused = run_cli("copy", insitu, "/b01.series")
    assert refused.code == 8
    assert refused.err_lines == [
        f"pond: {EXPORTS / 'insitu_b01_2016-11.csv'}: time column 'Date Time' has "
        "'2016-11-06 01:00:00' at data row 339, a local time that occurs twice in "
        "America/New_York (clocks went back): give --ambiguous earliest, latest or infer (infer: "
        "rows were logged in time order)"
    ]
    assert snapshot(pond_dir) == before
    assert run_cli("copy", "--ambiguous", "infer", insitu, "/b01.series").code == 0
    exo = f"host+csv+series://{EXPORTS / 'exo_b01_2017-03.csv'}"
    assert run_cli("copy", "--tz", "America/New_York", exo, "/exo.series").code == 0
    logger = f"host+csv+series://{EXPORTS / 'logger_jfk_2013-07.csv'}"
    assert run_cli("copy", *LOGGER_FLAGS, logger, "/logger.series").code == 0
    jfk = f"host+csv+series://{EXPORTS / 'insitu_jfk_2013-03.csv'}"
    assert run_cli("copy", jfk, "/jfk.series").code == 0

    b01 = series(pond_dir, "/b01.series")
    assert b01.column_names == ["Timestamp", "Temperature.C"] and b01.num_rows == 674
    assert series(pond_dir, "/exo.series").column_names == ["Timestamp", "Site_Name", "Temp.C"]
    logged = series(pond_dir, "/logger.series")
    assert logged.num_rows == 744 and logged.column("Pressure_hPa").null_count == 84
    version = Pond.open(pond_dir).root().resolve("/jfk.series").versions()[-1]
    source = version.extended_attributes["source"]
    assert source["columns"]["Barometric_Pressure.mbar"] == "Barometric Pressure (mbar) (812346)"
    assert source["time_zone"] == "-05:00" and source["time_zone_from"] == "file"
    assert source["file"] == str(EXPORTS / "insitu_jfk_2013-03.csv")


def test_a_later_file_whose_column_turned_to_text_is_refused(
    pond_dir: Path, run_cli, tmp_path: Path
) -> None:
    first = tmp_path / "june.csv"
    first.write_text("Timestamp,Temp.C\n2024-06-01T00:00:00Z,12.5\n2024-06-01T01:00:00Z,12.7\n")
    later = tmp_path / "july.csv"
    later.write_text("Timestamp,Temp.C\n2024-07-01T00:00:00Z,14.5\n2024-07-01T01:00:00Z,ERR\n")
    assert run_cli("copy", f"host+csv+series://{first}", "/t.series").code == 0
    before = snapshot(pond_dir)
    r = run_cli("copy", f"host+csv+series://{later}", "/t.series")
    assert r.code == 8
    (line,) = r.err_lines
    assert line.startswith(f"pond: {later}: cannot be stored at /t.series: cannot add these rows: ")
    assert "column 'Temp.C' holds string ('ERR' at data row 2)" in line
    assert "--null-value" in line
    assert snapshot(pond_dir) == before
    # the fix the message names
    assert (
        run_cli("copy", "--null-value", "ERR", f"host+csv+series://{later}", "/t.series").code == 0
    )
    table = series(pond_dir, "/t.series").sort_by("Timestamp")
    assert table.column("Temp.C").to_pylist() == [12.5, 12.7, 14.5, None]
    # the series and every read of it still work
    r = run_cli(
        "cat", "/t.series", "--format", "csv", "--sql", 'SELECT avg("Temp.C") AS m FROM source'
    )
    assert r.code == 0 and r.text.splitlines()[1].startswith("13.2")


def test_standard_input(tmp_path: Path) -> None:
    pond = tmp_path / "pond"
    assert pond_subprocess("init", pond).returncode == 0
    data = (EXPORTS / "insitu_jfk_2013-03.csv").read_bytes()
    r = pond_subprocess("--pond", pond, "copy", "host+csv+series://-", "/jfk.series", input=data)
    assert r.returncode == 0, r.stderr
    table = series(pond, "/jfk.series")
    assert table.num_rows == 335
    source = Pond.open(pond).root().resolve("/jfk.series").versions()[-1].extended_attributes
    assert source["source"]["file"] == "<stdin>"
    bad = pond_subprocess(
        "--pond", pond, "copy", "host+csv+series://-", "/bad.series", input=b"a,b\n1,2\n"
    )
    assert bad.returncode == 8
    assert bad.stderr.decode().splitlines() == [
        "pond: <stdin>: no time column (looked for Timestamp, timestamp, time, ts, datetime; "
        "columns: a, b)"
    ]
    assert Pond.open(pond).root().lookup("/bad.series") is None


def test_standard_input_needs_a_name_and_the_csv_scheme(pond_dir: Path, run_cli) -> None:
    assert run_cli("mkdir", "/d").code == 0
    before = snapshot(pond_dir)
    r = run_cli("copy", "host+csv+series://-", "/d")
    assert r.code == 2 and "standard input has no file name" in r.err
    r = run_cli("copy", "host://-", "/x")
    assert r.code == 2 and "host+csv+series://- only" in r.err
    r = run_cli("copy", "host+csv+series://-", "host+csv+series://-", "/d")
    assert r.code == 2 and "standard input can be read once" in r.err
    assert snapshot(pond_dir) == before


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (("--decimal", ",", "host:///{f}", "/x"), 2, "--decimal applies to host+csv+series://"),
        (("--ambiguous", "infer", "/x", "host:///{d}"), 2, "--ambiguous applies to copying in"),
        (("--delimiter", ";;", "host+csv+series:///{f}", "/x"), 2, "--delimiter: must be one"),
        (("--ambiguous", "guess", "host+csv+series:///{f}", "/x"), 2, "invalid choice: 'guess'"),
        (("--tz", "Mars/Olympus", "host+csv+series:///{f}", "/x"), 8, "tz: unknown time zone"),
        (
            ("--time-format", "dd.mm", "host+csv+series:///{f}", "/x"),
            2,
            "--time-format: 'dd.mm' is not",
        ),
        (("--time-format", "%d.%m.%Y", "host+csv+series:///{f}", "/x"), 8, "does not match"),
        (("--skip-rows", "5", "host+csv+series:///{f}", "/x"), 8, "no header row after 5"),
        (("--shape", "exo", "host+csv+series:///{f}", "/x"), 8, "not an exo export"),
    ],
)
def test_bad_flags(pond_dir: Path, run_cli, tmp_path: Path, argv, code: int, message: str) -> None:
    f = tmp_path / "a.csv"
    f.write_text("Timestamp,v\n2024-01-01T00:00:00Z,1\n")
    before = snapshot(pond_dir)
    r = run_cli("copy", *(a.format(f=str(f).lstrip("/"), d=tmp_path) for a in argv))
    assert r.code == code, r.err
    assert message in r.err
    assert len(r.err_lines) == 1 or code == 2
    assert snapshot(pond_dir) == before


def test_help_lists_the_csv_flags(run_cli) -> None:
    r = run_cli("copy", "--help")
    assert r.code == 0
    for flag in (
        "--skip-rows",
        "--delimiter",
        "--decimal",
        "--date-column",
        "--time-format",
        "--null-value",
        "--ambiguous",
        "--nonexistent",
        "--shape",
        "--names",
        "--tz",
    ):
        assert flag in r.text, flag


@pytest.mark.parametrize("scheme", ["host+table", "host+series"])
@pytest.mark.parametrize(
    ("columns", "message"),
    [
        ({"v": pa.array([1]), "v ": None}, "column name 'v' is repeated (columns 2 and 3)"),
        ({"": pa.array([1])}, "column 2 has no name"),
        ({"s": pa.array([{"a": 1}])}, "column 's' has the nested type struct<a: int64>"),
        ({"l": pa.array([[1.5]])}, "column 'l' has the nested type list<"),
    ],
    ids=["duplicate", "empty", "struct", "list"],
)
def test_parquet_columns_every_output_can_show(
    pond_dir: Path, run_cli, tmp_path: Path, scheme: str, columns: dict, message: str
) -> None:
    import pyarrow.parquet as pq

    names = ["Timestamp", *(n.strip() for n in columns)]
    arrays = [pa.array([0], pa.timestamp("us", tz="UTC"))]
    arrays += [a if a is not None else pa.array([2]) for a in columns.values()]
    host = tmp_path / "bad.parquet"
    pq.write_table(pa.Table.from_arrays(arrays, names=names), host)
    before = snapshot(pond_dir)
    r = run_cli("copy", f"{scheme}://{host}", "/x")
    assert r.code == 8
    assert r.err_lines[0].startswith(f"pond: {host}: {message}")
    assert len(r.err_lines) == 1
    assert snapshot(pond_dir) == before
