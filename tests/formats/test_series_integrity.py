"""No version can make its series unreadable; columns every output can show (issue 14, issue 12.8).

The property test appends chunks of arbitrary flat column types to one series, each in its own
transaction, and after every commit reads the series through every read path (Arrow union,
streaming batches, DataFusion SQL). A chunk that could break them must be refused (InvalidData)
with the pond unchanged.
"""

from __future__ import annotations

import io
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from duckpond import Pond
from duckpond.errors import InvalidData
from duckpond.formats import read_csv_series
from duckpond.timeseries import TIME_TYPE

TYPES = {
    "float64": (pa.float64(), st.floats(-1e6, 1e6, allow_nan=False)),
    "float32": (pa.float32(), st.floats(-1e3, 1e3, allow_nan=False, width=32)),
    "int64": (pa.int64(), st.integers(-(2**62), 2**62)),
    "int32": (pa.int32(), st.integers(-(2**31), 2**31 - 1)),
    "string": (pa.string(), st.sampled_from(["1.5", "ERR", "", "x"])),
    "bool": (pa.bool_(), st.booleans()),
    "null": (pa.null(), st.none()),
    "timestamp": (pa.timestamp("ms", tz="UTC"), st.integers(0, 2**40)),
}


@st.composite
def chunks(draw: st.DrawFn, start: int) -> pa.Table:
    rows = draw(st.integers(1, 4))
    columns: dict[str, pa.Array] = {
        "Timestamp": pa.array([start + k * 1_000_000 for k in range(rows)], TIME_TYPE)
    }
    for name in draw(st.lists(st.sampled_from(["a", "b", "c"]), unique=True, max_size=3)):
        kind, values = TYPES[draw(st.sampled_from(sorted(TYPES)))]
        cells = [draw(st.one_of(st.none(), values)) for _ in range(rows)]
        columns[name] = pa.array(cells, kind)
    return pa.table(columns)


def state(pond: Pond) -> tuple[int, int, int]:
    return pond.data_version, pond.txn_seq, pond.oplog().num_rows


def read_every_way(pond: Pond, path: str) -> int:
    np = pond.root().resolve(path)
    table = np.read_table()
    schema, batches = np.iter_batches()
    streamed = sum(b.num_rows for b in batches)
    assert schema.names == table.column_names
    counted = pond.sql("SELECT count(*) AS n FROM source", path).column("n")[0].as_py()
    every = pond.sql('SELECT * FROM source ORDER BY "Timestamp"', path)
    for name in table.column_names:
        pond.sql(f'SELECT count("{name}") AS n FROM source', path)
    assert table.num_rows == streamed == counted == every.num_rows
    return table.num_rows


@pytest.mark.slow
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_no_committed_version_makes_its_series_unreadable(tmp_path_factory, data) -> None:
    pond = Pond.init(tmp_path_factory.mktemp("pond") / "p")
    committed = 0
    for k in range(data.draw(st.integers(2, 4))):
        chunk = data.draw(chunks(start=k * 100_000_000))
        before = state(pond)
        try:
            with pond.transaction(["append"]) as tx:
                tx.root().append_series("/s.series", chunk, time_column="Timestamp")
        except InvalidData as exc:
            assert "cannot add these rows: column" in str(exc)
            assert str(exc).startswith("/s.series: ")
            assert state(pond) == before
            continue
        committed += chunk.num_rows
        assert read_every_way(pond, "/s.series") == committed


# --- the refusal names the column, the row and the file -------------------------------------


def test_text_arriving_in_a_number_column_is_refused_with_row_and_value(tmp_path: Path) -> None:
    pond = Pond.init(tmp_path / "p")
    first, tc = read_csv_series(b"Timestamp,Temp.C\n2024-01-01T00:00:00Z,1.5\n")
    with pond.transaction(["copy"]) as tx:
        tx.root().append_series("/s.series", first, time_column=tc)
    later, _ = read_csv_series(
        b"Timestamp,Temp.C\n2024-01-02T00:00:00Z,2.5\n2024-01-02T01:00:00Z,ERR\n"
    )
    before = state(pond)
    with pytest.raises(InvalidData) as info, pond.transaction(["copy"]) as tx:
        tx.root().append_series("/s.series", later, time_column=tc)
    message = str(info.value)
    assert message.startswith("/s.series: cannot add these rows: column 'Temp.C' holds string")
    assert "('ERR' at data row 2)" in message and "hold double there" in message
    assert "--null-value" in message
    assert state(pond) == before
    assert pond.root().resolve("/s.series").read_table().num_rows == 1


def test_numbers_merge_and_all_null_columns_fit_anything(tmp_path: Path) -> None:
    pond = Pond.init(tmp_path / "p")
    t = [pa.array([v * 3_600_000_000], TIME_TYPE) for v in range(4)]
    chunks = [
        pa.table({"Timestamp": t[0], "v": pa.array([1], pa.int64()), "w": pa.nulls(1)}),
        pa.table({"Timestamp": t[1], "v": pa.array([2.5]), "w": pa.array(["text"])}),
        pa.table({"Timestamp": t[2], "v": pa.nulls(1), "w": pa.nulls(1)}),
        pa.table({"Timestamp": t[3], "v": pa.array([4], pa.int32()), "x": pa.array([True])}),
    ]
    for chunk in chunks:
        with pond.transaction(["append"]) as tx:
            tx.root().append_series("/s.series", chunk)
    table = pond.root().resolve("/s.series").read_table().sort_by("Timestamp")
    assert table.schema.field("v").type == pa.float64()
    assert table.column("v").to_pylist() == [1.0, 2.5, None, 4.0]
    assert table.column("w").to_pylist() == [None, "text", None, None]
    assert read_every_way(pond, "/s.series") == 4


def test_integers_that_a_double_cannot_hold_do_not_join_a_double_column(tmp_path: Path) -> None:
    """Found by the property test: int64 2**53 + 1 merged into a double column broke every read."""
    big = 2**53 + 1
    t = [pa.array([v * 3_600_000_000], TIME_TYPE) for v in range(3)]
    pond = Pond.init(tmp_path / "a")
    with pond.transaction(["append"]) as tx:
        tx.root().append_series("/s.series", pa.table({"Timestamp": t[0], "v": [0.5]}))
    before = state(pond)
    with pytest.raises(InvalidData) as info, pond.transaction(["append"]) as tx:
        later = pa.array([3_600_000_000, 7_200_000_000], TIME_TYPE)
        tx.root().append_series("/s.series", pa.table({"Timestamp": later, "v": [7, big]}))
    assert f"column 'v' holds int64 ({big} at data row 2)" in str(info.value)
    assert "cannot hold exactly" in str(info.value)
    assert state(pond) == before
    # the other way round: the series holds the big integer, a double version arrives
    pond = Pond.init(tmp_path / "b")
    with pond.transaction(["append"]) as tx:
        tx.root().append_series("/s.series", pa.table({"Timestamp": t[0], "v": [big]}))
    before = state(pond)
    with (
        pytest.raises(InvalidData, match=f"the earlier versions hold {big} \\(int64\\)"),
        pond.transaction(["append"]) as tx,
    ):
        tx.root().append_series("/s.series", pa.table({"Timestamp": t[2], "v": [0.5]}))
    assert state(pond) == before
    # small integers and doubles merge
    with pond.transaction(["append"]) as tx:
        tx.root().append_series("/s.series", pa.table({"Timestamp": t[1], "v": [2**53]}))
    assert read_every_way(pond, "/s.series") == 2


# --- column names and nested types (issue 12 item 8) ----------------------------------------


def parquet(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (
            pa.Table.from_arrays(
                [pa.array([0], TIME_TYPE), pa.array([1]), pa.array([2])],
                names=["Timestamp", "v", "v"],
            ),
            "column name 'v' is repeated (columns 2 and 3)",
        ),
        (
            pa.Table.from_arrays(
                [pa.array([0], TIME_TYPE), pa.array([1])], names=["Timestamp", ""]
            ),
            "column 2 has no name",
        ),
        (
            pa.table({"Timestamp": pa.array([0], TIME_TYPE), "s": pa.array([{"a": 1}])}),
            "column 's' has the nested type struct<a: int64>",
        ),
        (
            pa.table({"Timestamp": pa.array([0], TIME_TYPE), "l": pa.array([[1, 2]])}),
            "nested type list<",
        ),
        (
            pa.table(
                {
                    "Timestamp": pa.array([0], TIME_TYPE),
                    "m": pa.array([[("k", 1)]], pa.map_(pa.string(), pa.int64())),
                }
            ),
            "nested type map<string, int64",
        ),
    ],
    ids=["duplicate", "empty", "struct", "list", "map"],
)
@pytest.mark.parametrize("file_type", ["file:table", "file:series"])
def test_tables_and_series_need_flat_uniquely_named_columns(
    tmp_path: Path, table: pa.Table, message: str, file_type: str
) -> None:
    pond = Pond.init(tmp_path / "p")
    before = state(pond)
    for data in (table, parquet(table), io.BytesIO(parquet(table))):
        with (
            pytest.raises(InvalidData, match=message.replace("(", r"\(").replace(")", r"\)")),
            pond.transaction(["copy"]) as tx,
        ):
            tx.root().write_file("/x", data, file_type=file_type)
    assert state(pond) == before


@pytest.mark.parametrize(
    ("csv", "message"),
    [
        (
            b"timestamp,v,v\n2024-01-01T00:00:00Z,1,2\n",
            "column name 'v' is repeated (columns 2 and 3)",
        ),
        (b"timestamp,,v\n2024-01-01T00:00:00Z,1,2\n", "column 2 of the header has no name"),
        (b"timestamp,v,\n2024-01-01T00:00:00Z,1,2\n", "column 3 of the header has no name"),
    ],
)
def test_csv_header_names_are_checked(csv: bytes, message: str) -> None:
    with pytest.raises(InvalidData) as info:
        read_csv_series(csv, path="/host/x.csv")
    assert str(info.value) == f"/host/x.csv: {message}"


def test_a_trailing_delimiter_is_not_a_column() -> None:
    table, _ = read_csv_series(b"timestamp,v,\n2024-01-01T00:00:00Z,1,\n2024-01-01T01:00:00Z,2,\n")
    assert table.column_names == ["timestamp", "v"]


def test_integers_beyond_int64_stay_text_never_floats() -> None:
    table, _ = read_csv_series(
        b"timestamp,id,small,real\n"
        b"2024-01-01T00:00:00Z,99999999999999999999,1,1e20\n"
        b"2024-01-01T01:00:00Z,-12345678901234567890123,2,2.5\n"
        b"2024-01-01T02:00:00Z,,3,3\n"
    )
    assert table.schema.field("id").type == pa.string()
    assert table.column("id").to_pylist() == [
        "99999999999999999999",
        "-12345678901234567890123",
        None,
    ]
    assert table.schema.field("small").type == pa.int64()
    assert table.schema.field("real").type == pa.float64()  # written as floats: stays floats
    big, _ = read_csv_series(b"timestamp,n\n2024-01-01T00:00:00Z,9223372036854775807\n")
    assert big.schema.field("n").type == pa.int64()  # the largest int64 is an int64
    assert big.column("n").to_pylist() == [2**63 - 1]
