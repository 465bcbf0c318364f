"""Parquet reading without ``pyarrow.parquet`` (``duckpond.parquet``): pyarrow's own reader, the
same results as ``pyarrow.parquet`` gives, and the fallback to it."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from duckpond import parquet
from duckpond.parquet import ParquetFile, read_metadata, read_schema, read_table

TIME = pa.timestamp("us", tz="UTC")


@pytest.fixture(params=["native", "fallback"])
def path_taken(request, monkeypatch):
    """Each test with pyarrow's reader and with the ``pyarrow.parquet`` fallback."""
    monkeypatch.setattr(parquet, "_native", None if request.param == "native" else False)
    return request.param


def _file(tmp_path, row_group_size: int = 3) -> str:
    """Three columns of other shapes than ours: a struct, a map, text with nulls; 3 row groups."""
    table = pa.table(
        {
            "Zeit": pa.array([0, 1, 2, 3, 4, 5, 6], TIME),
            "probe": pa.array(
                [{"t": 1.5, "tag": "a"}, None, {"t": -0.0, "tag": None}] * 2 + [None]
            ),
            "flags": pa.array(
                [[("k", 1)], [], None, [("x", 2), ("y", 3)], [], [], [("z", 0)]],
                pa.map_(pa.string(), pa.int64()),
            ),
            "site": ["B01", None, "JFK", "B01", "", "JFK", None],
        }
    )
    path = str(tmp_path / "f.parquet")
    pq.write_table(table, path, row_group_size=row_group_size)
    return path


def test_reads_what_pyarrow_parquet_reads(tmp_path, path_taken):
    path = _file(tmp_path)
    ref = pq.ParquetFile(path)
    ours = ParquetFile(path)
    assert (ours._reader is not None) == (path_taken == "native")
    assert ours.read().equals(ref.read())
    for columns in (["site"], ["probe", "Zeit"], ["probe.t"], ["flags"], []):
        assert ours.read(columns).equals(ref.read(columns=columns)), columns
    assert ours.read(["site"], use_threads=False).equals(ref.read(columns=["site"]))
    assert ours.schema_arrow == ref.schema_arrow
    assert [ours.schema.column(i).path for i in range(len(ours.schema))] == [
        ref.schema.column(i).path for i in range(len(ref.schema))
    ]
    assert ours.metadata.num_rows == 7 and ours.metadata.num_row_groups == 3
    got = list(ours.iter_batches(2))
    assert [b.num_rows for b in got] == [b.num_rows for b in ref.iter_batches(batch_size=2)]
    assert pa.Table.from_batches(got).equals(ref.read())
    with open(path, "rb") as f:
        data = f.read()
    assert read_table(pa.BufferReader(data), ["site"]).equals(ref.read(columns=["site"]))
    assert read_table(io.BytesIO(data)).equals(ref.read())
    assert read_schema(path) == ref.schema_arrow
    assert read_metadata(pa.BufferReader(data)).num_rows == 7
    dictionary = ParquetFile(path, read_dictionary=["site"]).read(["site"])
    assert dictionary.equals(pq.ParquetFile(path, read_dictionary=["site"]).read(columns=["site"]))
    assert pa.types.is_dictionary(dictionary.schema.field("site").type)


def test_refuses_what_pyarrow_parquet_refuses(tmp_path, path_taken):
    path = _file(tmp_path)
    # a name the file does not have is left out, as pyarrow.parquet leaves it out
    missing = ParquetFile(path).read(["no such column", "site"])
    assert missing.equals(pq.ParquetFile(path).read(columns=["no such column", "site"]))
    with pytest.raises(pa.ArrowInvalid):
        ParquetFile(pa.BufferReader(b"PAR1 this is not a parquet file PAR1"))
    with open(path, "rb") as f:
        data = f.read()
    with pytest.raises(pa.ArrowInvalid):
        ParquetFile(pa.BufferReader(data[: len(data) // 2]))  # truncated: no footer
    with pytest.raises(OSError):
        ParquetFile(str(tmp_path / "missing.parquet"))


def test_a_reading_process_does_not_import_pyarrow_parquet(pond_with_series):
    """``pond list`` and ``pond cat --sql`` read the Delta log, the oplog and a series' chunks:
    none of it imports ``pyarrow.parquet`` (and with it ``pyarrow.fs``, ``ssl``: ~15 ms). This
    fails if the installed pyarrow no longer takes the reader's calls (the fallback is used)."""
    code = (
        "import os, sys\nfrom duckpond.cli.main import main\n"
        "null = os.open(os.devnull, os.O_WRONLY); keep = os.dup(1); os.dup2(null, 1)\n"
        "a = main(['list', '/'])\n"
        "b = main(['cat', '/s.series', '--format', 'csv',\n"
        "          '--sql', 'SELECT count(*) FROM source'])\n"
        "os.dup2(keep, 1)\n"
        "heavy = ('pyarrow.parquet', 'pyarrow.fs', 'ssl')\n"
        "print(a, b, sorted(m for m in heavy if m in sys.modules))\n"
    )
    env = {**os.environ, "POND": str(pond_with_series.path)}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["0", "0", "[]"], done.stdout


@pytest.fixture
def pond_with_series(tmp_path):
    from duckpond import Pond

    pond = Pond.init(tmp_path / "pond")
    for day in range(3):
        with pond.transaction(["append"]) as tx:
            rows = pa.table({"Timestamp": pa.array([day * 86_400_000_000], TIME), "v": [1.0]})
            tx.root().append_series("/s.series", rows, time_column="Timestamp")
    return pond
