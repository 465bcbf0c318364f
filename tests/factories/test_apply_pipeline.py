"""pond apply: the example pipeline end to end (values against DuckDB), idempotence, errors."""

from __future__ import annotations

import pyarrow as pa
import pytest
from factory_testlib import B01_CSV, EXAMPLES, JFK_CSV, compare_reduced, duckdb_reduce

from duckpond.errors import AlreadyExists, InvalidData, NotFound, UsageError
from duckpond.pipeline import apply, apply_file

PIPELINE = EXAMPLES / "pipeline.yaml"
RESOLUTIONS = {"1h": 3600, "2h": 7200, "4h": 14400, "12h": 43200, "24h": 86400}
JFK = {
    "JFK.AirTemperature.C": "AirTemperature.C",
    "JFK.DewPoint.C": "DewPoint.C",
    "JFK.RelativeHumidity.percent": "RelativeHumidity.pct",
    "JFK.WindSpeed.mps": "WindSpeed.m_s",
    "JFK.BarometricPressure.hPa": "BarometricPressure.hPa",
}


@pytest.fixture(scope="module")
def applied(tmp_path_factory):
    from duckpond import Pond
    from duckpond.factories import resolver

    pond = Pond.init(tmp_path_factory.mktemp("example") / "pond", factories=resolver)
    report = apply_file(pond, PIPELINE)
    return pond, report


def test_example_pipeline_creates_everything_in_one_transaction(applied):
    pond, report = applied
    assert report.txn_seq == 2 == pond.txn_seq
    assert [(c.kind, c.path, c.action) for c in report.changes] == [
        ("mkdir", "/raw", "created"),
        ("copy", "/raw/jfk_weather_2013_hourly.series", "created"),
        ("copy", "/raw/b01_water_temperature_30min.series", "created"),
        ("mkdir", "/derived", "created"),
        ("mknod", "/derived/JFK.series", "created"),
        ("mknod", "/derived/B01.series", "created"),
        ("mkdir", "/combined", "created"),
        ("mknod", "/combined/all.series", "created"),
        ("mkdir", "/reduced", "created"),
        ("mknod", "/reduced/all", "created"),
    ]
    names = [n.name for n in pond.root().list("/reduced/all")]
    assert sorted(names) == sorted(f"res={r}.series" for r in RESOLUTIONS)
    assert pond.log()[-1].args == ("apply", "-f", str(PIPELINE))


@pytest.mark.parametrize("res", list(RESOLUTIONS))
def test_example_pipeline_values_equal_duckdb_over_the_raw_csv(applied, res):
    pond, _ = applied
    ours = pond.root().resolve(f"/reduced/all/res={res}.series").read_table()
    seconds = RESOLUTIONS[res]
    aggs = ("avg", "min", "max", "count")
    jfk = duckdb_reduce(JFK_CSV, list(JFK.values()), seconds)
    b01 = duckdb_reduce(B01_CSV, ["WaterTemperature.C"], seconds)
    # the combined series has the buckets of both; each scope's columns match its own CSV
    # and are empty (count 0) in the other's buckets
    ts = set(ours.column("Timestamp").cast(pa.int64()).to_pylist())
    assert ts == set(jfk) | set(b01)
    n = compare_reduced(ours, jfk, JFK, aggs, exact_buckets=False)
    n += compare_reduced(
        ours, b01, {"B01.WaterTemperature.C": "WaterTemperature.C"}, aggs, exact_buckets=False
    )
    assert n == ours.num_rows * 4 * 6


def test_reapplying_changes_nothing(applied):
    pond, _ = applied
    seq = pond.txn_seq
    report = apply_file(pond, PIPELINE)
    assert not report.changed
    assert report.txn_seq is None
    assert {c.action for c in report.changes} == {"unchanged"}
    assert pond.txn_seq == seq
    assert pond.log()[-1].outcome in {"completed", "committed"}


def test_template_variables_then_environment(fpond, tmp_path, monkeypatch):
    csv = tmp_path / "in.csv"
    csv.write_text("Timestamp,v\n2020-01-01T00:00:00Z,1.5\n2020-01-01T01:00:00Z,2.5\n")
    text = "kind: copy\nfrom: host+csv+series://{{ folder }}/in.csv\nto: /{{ NAME }}.series\n"
    monkeypatch.setenv("NAME", "from_env")
    report = apply(fpond, text, {"folder": str(tmp_path)})
    assert report.changes[0].path == "/from_env.series"
    report = apply(fpond, text, {"folder": str(tmp_path), "NAME": "from_var"})
    assert report.changes[0].path == "/from_var.series"
    seq = fpond.txn_seq
    monkeypatch.delenv("NAME")
    with pytest.raises(UsageError, match=r"'NAME' is undefined \(pass -e NAME=VALUE"):
        apply(fpond, text, {"folder": str(tmp_path)})
    assert fpond.txn_seq == seq


def test_growing_csv_appends_only_new_rows(fpond, tmp_path):
    csv = tmp_path / "log.csv"
    csv.write_text("Timestamp,v\n2020-01-01T00:00:00Z,1\n")
    text = f"kind: copy\nfrom: host+csv+series://{csv}\nto: /log.series\n"
    assert apply(fpond, text).changes[0].action == "created"
    with csv.open("a") as f:
        f.write("2020-01-01T01:00:00Z,2\n2020-01-01T02:00:00Z,3\n")
    change = apply(fpond, text).changes[0]
    assert (change.action, change.detail) == ("appended", "2 rows")
    assert apply(fpond, text).changes[0].action == "unchanged"
    t = fpond.root().resolve("/log.series").read_table()
    assert t.column("v").to_pylist() == [1, 2, 3]


def test_data_files_by_hash_and_configs_by_bytes(fpond, tmp_path):
    f = tmp_path / "notes.txt"
    f.write_text("one")
    text = (
        f"kind: copy\nfrom: host://{f}\nto: /notes.txt\n---\n"
        "kind: mknod\nfactory: temporal-reduce\npath: /r\n"
        "config: {input: /x.series, resolutions: [{{ res }}]}\n"
    )
    assert [c.action for c in apply(fpond, text, {"res": "1h"}).changes] == ["created", "created"]
    assert [c.action for c in apply(fpond, text, {"res": "1h"}).changes] == [
        "unchanged",
        "unchanged",
    ]
    f.write_text("two")
    assert [c.action for c in apply(fpond, text, {"res": "2h"}).changes] == ["updated", "updated"]
    assert fpond.root().resolve("/notes.txt").read_bytes() == b"two"
    assert [n.name for n in fpond.root().list("/r")] == ["res=2h.series"]


@pytest.mark.parametrize(
    ("text", "error", "words"),
    [
        ("kind: mkdir\n", InvalidData, "document 1: mkdir.path: Field required"),
        ("kind: rmdir\npath: /x\n", InvalidData, "document 1: "),
        ("kind: mkdir\npath: relative\n", InvalidData, "must be an absolute pond path"),
        ("- a\n- b\n", InvalidData, "document 1: a resource must be a mapping"),
        (
            "kind: mkdir\npath: /a\n---\nkind: mknod\nfactory: nope\npath: /b\n",
            InvalidData,
            "document 2 (mknod /b): factory: unknown factory 'nope'",
        ),
        (
            "kind: mknod\nfactory: temporal-reduce\npath: /b\nconfig: {input: /x}\n",
            InvalidData,
            "document 1 (mknod /b): invalid temporal-reduce config: resolutions: Field required",
        ),
        ("kind: copy\nfrom: ftp://x\nto: /a\n", InvalidData, "unknown source scheme"),
        (
            "kind: copy\nfrom: host:///definitely/not/here.csv\nto: /a\n",
            NotFound,
            "no such file or directory on the host",
        ),
        (
            "kind: mkdir\npath: /a\n---\nkind: mknod\nfactory: temporal-reduce\npath: /a\n"
            "config: {input: /x, resolutions: [1h]}\n---\nkind: mknod\nfactory: temporal-reduce\n"
            "path: /a\nconfig: {input: /y, resolutions: [1h]}\n",
            InvalidData,
            "document 2 (mknod /a): /a is also the target of document 1",
        ),
        ("kind: mkdir\npath: /a\n  bad: indent\n", InvalidData, "not valid YAML"),
        ("kind: mkdir\npath: /{{ oops\n", UsageError, "template error on line 2"),
    ],
)
def test_bad_pipelines_fail_before_any_change(fpond, text, error, words):
    seq = fpond.txn_seq
    with pytest.raises(error) as info:
        apply(fpond, text)
    assert words in str(info.value)
    assert fpond.txn_seq == seq


def test_an_error_while_applying_rolls_everything_back(fpond):
    with fpond.transaction(["setup"]) as tx:
        tx.root().write_file("/taken", b"a file")
    seq = fpond.txn_seq
    text = (
        "kind: mkdir\npath: /new\n---\n"
        "kind: mknod\nfactory: temporal-reduce\npath: /taken\n"
        "config: {input: /x, resolutions: [1h]}\n"
    )
    with pytest.raises(AlreadyExists, match="not a dynamic node"):
        apply(fpond, text)
    assert fpond.txn_seq == seq
    assert not fpond.root().exists("/new")


def test_example_pipeline_exports_for_the_site(applied, tmp_path):
    from duckpond.factories.export import export

    pond, _ = applied
    m = export(pond, ["/reduced/**/res=*.series"], tmp_path / "site-data")
    assert m.names() == ["reduced/all"]
    res = m.site_resolutions("reduced/all")
    assert [(r.name, r.seconds) for r in res] == [
        ("1h", 3600),
        ("2h", 7200),
        ("4h", 14400),
        ("12h", 43200),
        ("24h", 86400),
    ]
    # 2013-01 .. 2013-12 (JFK) and 2016-02 .. 2017-03 (B01): 26 monthly parts per resolution
    assert {len(r.files) for r in res} == {26}
    assert all(f.path.is_file() and f.rows > 0 for r in res for f in r.files)


def test_pipeline_in_a_fresh_process_exits_cleanly(tmp_path):
    """Known trap (docs/design.md): threaded scans can abort a process at exit; check status 0."""
    import subprocess
    import sys

    code = (
        "import sys, warnings\n"
        "from duckpond import Pond\n"
        "from duckpond.factories import resolver\n"
        "from duckpond.pipeline import apply_file\n"
        "from duckpond.factories.export import export\n"
        "pond = Pond.init(sys.argv[1], factories=resolver)\n"
        "apply_file(pond, sys.argv[2])\n"
        "pond = Pond.open(sys.argv[1], factories=resolver)\n"
        "rows = sum(n.read_table().num_rows for n in pond.root().list('/reduced/all'))\n"
        "export(pond, ['/reduced/all'], sys.argv[3])\n"
        "print(rows)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "p"), str(PIPELINE), str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert int(proc.stdout.strip()) > 18000
    assert (tmp_path / "out" / "manifest.json").is_file()
