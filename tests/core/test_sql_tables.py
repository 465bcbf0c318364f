"""Arrow tables registered in a DataFusion session (``duckpond.sql.register_table``)."""

from __future__ import annotations

import math

import pyarrow as pa
import pyarrow.compute as pc

from duckpond import sql


def _chunked(n_chunks: int, rows: int) -> pa.Table:
    parts = []
    for k in range(n_chunks):
        vals = [None if i % 7 == 3 else float(k * rows + i) / 3 for i in range(rows)]
        parts.append(pa.table({"k": pa.array([k] * rows, pa.int64()), "x": pa.array(vals)}))
    return pa.concat_tables(parts)


def _aggregates(ctx, name: str) -> tuple:
    got = sql.execute(ctx, f'SELECT count(x), sum(x), min(x), max(x), count(*) FROM "{name}"')
    return tuple(got.column(i)[0].as_py() for i in range(5))


def test_many_small_chunks_are_registered_as_few_batches_with_the_same_rows():
    """A reduced series is one small chunk per segment: registered combined (DataFusion's
    cost is per batch), every row and value kept."""
    table = _chunked(200, 30)
    assert table.column(0).num_chunks == 200
    ctx = sql.session()
    sql.register_table(ctx, "t", table)
    assert len(ctx.table("t").collect()) == 1
    count, total, lo, hi, rows = _aggregates(ctx, "t")
    x = table.column("x")
    assert (count, rows) == (len(x) - x.null_count, table.num_rows)
    assert math.isclose(total, pc.sum(x).as_py(), rel_tol=1e-12)
    assert (lo, hi) == (pc.min(x).as_py(), pc.max(x).as_py())
    ordered = sql.execute(ctx, 'SELECT k FROM "t"').column(0).to_pylist()
    assert ordered == table.column("k").to_pylist()  # in table order


def test_large_chunks_and_empty_tables_are_registered_as_they_are():
    table = _chunked(20, 9000)  # 20 chunks of 9,000 rows: not small
    ctx = sql.session()
    sql.register_table(ctx, "t", table)
    assert len(ctx.table("t").collect()) >= 20
    assert _aggregates(ctx, "t")[4] == table.num_rows
    sql.register_table(ctx, "e", table.schema.empty_table())
    assert sql.execute(ctx, 'SELECT count(*) FROM "e"').column(0)[0].as_py() == 0
    assert ctx.table("e").schema().names == ["k", "x"]
