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
    assert len(ctx.public().table("t").collect()) == 1
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
    assert len(ctx.public().table("t").collect()) >= 20
    assert _aggregates(ctx, "t")[4] == table.num_rows
    sql.register_table(ctx, "e", table.schema.empty_table())
    assert sql.execute(ctx, 'SELECT count(*) FROM "e"').column(0)[0].as_py() == 0
    assert ctx.public().table("e").schema().names == ["k", "x"]


_BOTH_WAYS = r"""
import json, sys
first = sys.argv[1] == "package"
if first:
    import datafusion  # the package is imported before the session
from duckpond import sql
from duckpond.errors import QueryError
import pyarrow as pa
n = 50_000
xs = [None if i % 11 == 0 else i / 4 for i in range(n)]
t = pa.table({"k": pa.array([i % 7 for i in range(n)]), "x": xs})
ctx = sql.session()
out = {"native": ctx.native, "package_loaded": "datafusion" in sys.modules}
sql.register_table(ctx, "t", t)
q = "SELECT count(x) AS c, sum(x) AS s, min(x) AS lo, max(x) AS hi, count(*) AS n FROM t"
got = sql.execute(ctx, q)
out["aggregates"] = got.to_pylist()[0]
out["by_key"] = sql.execute(ctx, "SELECT k, count(*) AS n FROM t GROUP BY k ORDER BY k").to_pylist()
bad_sql = (
    "CREATE TABLE y AS SELECT 1",
    "INSERT INTO t VALUES (1, 2.0)",
    "SET datafusion.execution.batch_size = 1",
)
for bad in bad_sql:
    try:
        sql.execute(ctx, bad)
        out.setdefault("refused", []).append(None)
    except QueryError as exc:
        out.setdefault("refused", []).append("read-only" in str(exc))
out["still_native"] = ctx.native and "datafusion" not in sys.modules
# another part of the process imports the package (a reduce computing its rows)
import datafusion as package
other = package.SessionContext()
other.register_record_batches("o", [t.to_batches()])
out["other"] = other.sql("SELECT count(*) AS n FROM o").to_pydict()["n"]
out["native_after_import"] = ctx.native
out["after_import"] = sql.execute(ctx, q).to_pylist()[0]
# what needs the package (a view over a registered table) keeps the tables registered so far
public = ctx.public()
sql.register_chunks(ctx, "v", [sql.Chunk(t.schema, table=t.slice(0, 10))], t.schema)
out["view"] = sql.execute(ctx, "SELECT count(*) AS n FROM v").to_pylist()[0]["n"]
out["after"] = sql.execute(ctx, "SELECT count(*) AS n FROM t").to_pylist()[0]["n"]
import datafusion
out["one_module"] = datafusion.SessionContext().ctx.__class__ is public.ctx.__class__
out["fresh"] = datafusion.SessionContext().sql("SELECT 41 + 1 AS a").to_pydict()["a"]
print(json.dumps(out))
"""


def test_a_query_over_tables_in_memory_runs_without_the_datafusion_package(tmp_path):
    """A new process's session runs queries over Arrow tables on DataFusion's native module
    alone (the package is not imported), with the same results and the same read-only
    refusals as a session of the package, also once another part of the process has imported
    the package; a call that needs the package keeps the tables registered; the package
    imported later works (one native module)."""
    import json
    import subprocess
    import sys

    runs = {}
    for way in ("native", "package"):
        proc = subprocess.run(
            [sys.executable, "-c", _BOTH_WAYS, way], capture_output=True, text=True, check=False
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
        runs[way] = json.loads(proc.stdout)
    native, package = runs["native"], runs["package"]
    assert native["native"] and not native["package_loaded"] and native["still_native"]
    assert native["native_after_import"]
    assert not package["native"] and package["package_loaded"]
    n = 50_000
    xs = [i / 4 for i in range(n) if i % 11]
    want = {"c": len(xs), "s": sum(xs), "lo": min(xs), "hi": max(xs), "n": n}
    for run in (native, package):
        agg = run["aggregates"]
        assert (agg["c"], agg["n"], agg["lo"], agg["hi"]) == (want["c"], n, want["lo"], want["hi"])
        assert math.isclose(agg["s"], want["s"], rel_tol=1e-12)
        assert run["by_key"] == [{"k": k, "n": len(range(k, n, 7))} for k in range(7)]
        assert run["refused"] == [True, True, True]
        assert run["other"] == [n] and run["after_import"] == run["aggregates"]
        assert (run["view"], run["after"]) == (10, n)
        assert run["one_module"] and run["fresh"] == [42]
