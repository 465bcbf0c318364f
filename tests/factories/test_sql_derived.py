"""sql-derived: SQL over named glob patterns; derived feeds derived; errors name the node."""

from __future__ import annotations

import pyarrow as pa
import pytest
from factory_testlib import TIME

from duckpond.errors import InvalidData, QueryError
from duckpond.factories.base import EmptyInputWarning
from duckpond.factories.registry import mknod
from duckpond.times import Window


def _t(hours, **cols):
    data = {"Timestamp": pa.array([h * 3_600_000_000 for h in hours], TIME)}
    data.update(cols)
    return pa.table(data)


@pytest.fixture
def sensors(fpond):
    with fpond.transaction(["load"]) as tx:
        r = tx.root()
        r.mkdir("/raw")
        r.mkdir("/derived")
        r.append_series("/raw/a.series", _t([0, 1], temp=[10.0, 11.0]))
        r.append_series("/raw/a.series", _t([2], temp=[12.0]))
        r.append_series("/raw/b.series", _t([1, 3], temp=[20.0, 21.0], cond=[5.0, 6.0]))
    return fpond


def _mk(pond, path, config, factory="sql-derived", overwrite=False):
    with pond.transaction(["mknod", path]) as tx:
        mknod(tx.root(), factory, path, config, overwrite=overwrite)


def _read(pond, path):
    return pond.root().resolve(path).read_table()


def test_rename_and_compute_a_series(sensors):
    _mk(
        sensors,
        "/derived/a.series",
        'patterns: {raw: /raw/a.series}\nquery: SELECT "Timestamp", temp * 1.8 + 32 AS '
        '"Temperature.F" FROM raw ORDER BY "Timestamp"\n',
    )
    np = sensors.root().resolve("/derived/a.series")
    assert np.file_type == "file:series"
    assert np.time_column() == "Timestamp"
    t = np.read_table()
    assert t.schema == pa.schema([("Timestamp", TIME), ("Temperature.F", pa.float64())])
    assert t.column("Temperature.F").to_pylist() == [50.0, 51.8, 53.6]
    # SQL through the pond works on it like on any series
    assert sensors.sql('SELECT max("Temperature.F") AS m FROM source', "/derived/a.series")[
        "m"
    ].to_pylist() == [53.6]


def test_several_matches_union_by_column_name(sensors):
    _mk(
        sensors,
        "/derived/all.series",
        'patterns: {raw: /raw/*.series}\nquery: SELECT * FROM raw ORDER BY "Timestamp", temp\n',
    )
    t = _read(sensors, "/derived/all.series")
    assert t.column_names == ["Timestamp", "temp", "cond"]
    assert t.column("temp").to_pylist() == [10.0, 11.0, 20.0, 12.0, 21.0]
    assert t.column("cond").to_pylist() == [None, None, 5.0, None, 6.0]


def test_derived_feeds_derived_and_follows_input_changes(sensors):
    _mk(
        sensors,
        "/derived/one.series",
        'patterns: {raw: /raw/a.series}\nquery: SELECT "Timestamp", temp + 1 AS t1 FROM raw\n',
    )
    _mk(
        sensors,
        "/derived/two.table",
        "patterns: {one: /derived/one.series}\n"
        "query: SELECT count(*) AS n, sum(t1) AS s FROM one\noutput: table\n",
    )
    np = sensors.root().resolve("/derived/two.table")
    assert np.file_type == "file:table"
    assert np.read_table().to_pylist() == [{"n": 3, "s": 36.0}]
    with sensors.transaction(["append"]) as tx:
        tx.root().append_series("/raw/a.series", _t([4], temp=[13.0]))
    assert np.read_table().to_pylist() == [{"n": 4, "s": 50.0}]
    # a config change is seen at once
    _mk(
        sensors,
        "/derived/one.series",
        'patterns: {raw: /raw/a.series}\nquery: SELECT "Timestamp", temp AS t1 FROM raw\n',
        overwrite=True,
    )
    assert sensors.root().resolve("/derived/two.table").read_table().to_pylist() == [
        {"n": 4, "s": 46.0}
    ]


def test_pattern_matching_nothing_gives_an_empty_result_and_says_so(sensors):
    _mk(
        sensors,
        "/derived/none.series",
        "patterns: {raw: /raw/*.series, gone: /nowhere/*.series}\nquery: SELECT * FROM gone\n",
    )
    with pytest.warns(EmptyInputWarning) as rec:
        t = _read(sensors, "/derived/none.series")
    assert t.num_rows == 0
    assert t.schema == pa.schema([("Timestamp", TIME)])
    assert "pattern gone (/nowhere/*.series) matches nothing" in str(rec[0].message)
    assert str(rec[0].message).startswith("/derived/none.series: ")


@pytest.mark.parametrize(
    ("query", "error", "words"),
    [
        ("SELEC nonsense", QueryError, "SQL: "),
        ("SELECT nope FROM raw", QueryError, "nope"),
        ("SELECT * FROM missing_table", QueryError, "missing_table"),
        ("SELECT temp FROM raw", InvalidData, "no usable time column"),
        (
            'SELECT CASE WHEN temp > 10 THEN "Timestamp" END AS "Timestamp", temp FROM raw',
            InvalidData,
            "not a series",
        ),
    ],
)
def test_bad_sql_fails_on_read_naming_the_node(sensors, query, error, words):
    _mk(sensors, "/derived/bad.series", f"patterns: {{raw: /raw/a.series}}\nquery: '{query}'\n")
    seq = sensors.txn_seq
    with pytest.raises(error) as info:
        _read(sensors, "/derived/bad.series")
    assert words in str(info.value)
    assert info.value.path == "/derived/bad.series"
    assert "\n" not in str(info.value)
    assert sensors.txn_seq == seq


def test_incompatible_matches_and_data_files_are_clear_errors(sensors):
    with sensors.transaction(["load"]) as tx:
        tx.root().append_series("/raw/c.series", _t([5], temp=["warm"]))
        tx.root().write_file("/raw/notes.txt", b"hello")
    _mk(
        sensors,
        "/derived/mixed.series",
        "patterns: {raw: /raw/*.series}\nquery: SELECT * FROM raw\n",
    )
    with pytest.raises(InvalidData, match="incompatible"):
        _read(sensors, "/derived/mixed.series")
    _mk(sensors, "/derived/txt.series", "patterns: {raw: /raw/*}\nquery: SELECT * FROM raw\n")
    with pytest.raises(InvalidData, match=r"patterns.raw \(/raw/\*\) matches /raw/notes.txt"):
        _read(sensors, "/derived/txt.series")


def test_relative_patterns_and_self_exclusion(sensors):
    with sensors.transaction(["load"]) as tx:
        tx.root().append_series("/derived/base.series", _t([0], v=[1.0]))
    # relative to the node's folder; /derived/*.series would include the node itself: skipped
    _mk(
        sensors,
        "/derived/count.series",
        'patterns: {d: "*.series"}\nquery: SELECT "Timestamp", v FROM d\n',
    )
    assert _read(sensors, "/derived/count.series").column("v").to_pylist() == [1.0]


def test_time_local_window_reads_only_that_window(sensors):
    _mk(
        sensors,
        "/derived/w.series",
        "patterns: {raw: /raw/a.series}\nquery: SELECT * FROM raw\ntime_local: true\n",
    )
    obj = sensors.fs.dynamic_object(sensors.root().resolve("/derived/w.series"))
    h = 3_600_000_000
    assert obj.read_table(Window(h, 3 * h)).column("temp").to_pylist() == [11.0, 12.0]
    assert obj.lineage().time_local
    assert len(obj.lineage().leaves) == 2


@pytest.mark.parametrize(
    "statement",
    [
        "COPY (SELECT * FROM raw) TO '{out}'",
        "CREATE EXTERNAL TABLE e STORED AS CSV LOCATION '{out}'",
        "CREATE TABLE t AS SELECT * FROM raw",
        "SET datafusion.execution.batch_size = 1",
    ],
)
def test_a_stored_query_may_only_read(sensors, tmp_path, statement):
    out = tmp_path / "written.csv"
    query = statement.format(out=out).replace("'", "''")
    _mk(sensors, "/derived/w.series", f"patterns: {{raw: /raw/a.series}}\nquery: '{query}'\n")
    with pytest.raises(QueryError, match="read-only") as info:
        _read(sensors, "/derived/w.series")
    assert info.value.path == "/derived/w.series"
    assert not out.exists()
