"""The factory registry: list, mknod validation (errors name the field), run, resolver."""

from __future__ import annotations

import pyarrow as pa
import pytest

from duckpond.errors import AlreadyExists, InvalidData, PondError, ReadOnly, UsageError
from duckpond.factories.registry import (
    FACTORIES,
    Command,
    Factory,
    get_factory,
    list_factories,
    mknod,
    run,
)


def _series(values, start_h=0):
    n = len(values)
    ts = pa.array([(start_h + i) * 3_600_000_000 for i in range(n)], pa.timestamp("us", "UTC"))
    return pa.table({"Timestamp": ts, "v": pa.array(values, pa.float64())})


def test_list_factories_names_kinds_descriptions():
    listed = {name: (desc, kind) for name, desc, kind in list_factories()}
    assert listed["sql-derived"][1] == "file"
    assert listed["timeseries-join"][1] == "file"
    assert listed["temporal-reduce"][1] == "dir"
    assert all(desc for desc, _ in listed.values())
    assert [n for n, _, _ in list_factories()] == sorted(listed)
    assert get_factory("temporal-reduce").name == "temporal-reduce"


# (factory, config, the field the message must name, other words it must contain)
BAD_CONFIGS = [
    ("temporal-reduce", "resolutions: [1h]\n", "input", "Field required"),
    ("temporal-reduce", "input: /a\nresolutions: [1x]\n", "resolutions[0]", "<n>s"),
    ("temporal-reduce", "input: /a\nresolutions: [0h]\n", "resolutions[0]", "<n>s"),
    ("temporal-reduce", "input: /a\nresolutions: []\n", "resolutions", "at least 1"),
    ("temporal-reduce", "input: /a\nresolutions: [1h, 60m]\n", "resolutions", "repeats"),
    ("temporal-reduce", "input: /a\nresolutions: [1d, 24h]\n", "resolutions", "86400"),
    (
        "temporal-reduce",
        "input: /a\nresolutions: [1h]\naggregations: [avg, median]\n",
        "aggregations[1]",
        "avg",
    ),
    ("temporal-reduce", "input: /a\nresolutions: [1h]\ncolumns: []\n", "columns", "at least 1"),
    ("temporal-reduce", "input: /a\nresolutions: [1h]\nbogus: 1\n", "bogus", "Extra inputs"),
    ("temporal-reduce", "input: ''\nresolutions: [1h]\n", "input", "must not be empty"),
    (
        "sql-derived",
        "patterns: {Bad-Name: /a}\nquery: SELECT 1\n",
        "patterns.Bad-Name",
        "lower-case SQL name",
    ),
    ("sql-derived", "patterns: {a: /a}\n", "query", "Field required"),
    ("sql-derived", "patterns: {}\nquery: SELECT 1\n", "patterns", "at least 1"),
    ("sql-derived", "patterns: {a: /a}\nquery: SELECT 1\noutput: csv\n", "output", "series"),
    ("sql-derived", "patterns: {a: /a}\nquery: '  '\n", "query", "must not be empty"),
    ("timeseries-join", "inputs: []\n", "inputs", "at least 1"),
    (
        "timeseries-join",
        "inputs:\n  - {pattern: /a, scope: A}\n  - {pattern: /b}\n",
        "inputs[1].scope",
        "Field required",
    ),
    (
        "timeseries-join",
        "inputs:\n  - {pattern: /a, scope: A, start: yesterday}\n",
        "inputs[0].start",
        "ISO-8601",
    ),
    (
        "timeseries-join",
        "inputs:\n  - {pattern: /a, scope: A, start: 2016-02-01, end: 2016-01-01}\n",
        "inputs[0]",
        "start must be before end",
    ),
]


@pytest.mark.parametrize(("factory", "config", "field", "words"), BAD_CONFIGS)
def test_invalid_config_names_the_field_and_leaves_the_pond_unchanged(
    fpond, factory, config, field, words
):
    before = fpond.txn_seq
    with pytest.raises(InvalidData) as info, fpond.transaction(["mknod"]) as tx:
        mknod(tx.root(), factory, "/node", config)
    msg = str(info.value)
    assert msg.startswith("/node: invalid " + factory + " config: ")
    assert f"{field}:" in msg, msg
    assert words in msg, msg
    assert "\n" not in msg
    assert fpond.txn_seq == before
    assert not fpond.root().exists("/node")


@pytest.mark.parametrize(
    ("config", "words"),
    [
        ("input: [unclosed\n", "not valid YAML"),
        ("- just\n- a list\n", "must be a YAML mapping"),
        ("just a string", "must be a YAML mapping"),
    ],
)
def test_config_that_is_not_a_yaml_mapping(fpond, config, words):
    with pytest.raises(InvalidData, match=words), fpond.transaction(["mknod"]) as tx:
        mknod(tx.root(), "temporal-reduce", "/node", config)
    assert fpond.txn_seq == 1


def test_unknown_factory_is_a_usage_error_listing_the_known_ones(fpond):
    with pytest.raises(UsageError) as info, fpond.transaction(["mknod"]) as tx:
        mknod(tx.root(), "no-such-factory", "/node", "a: 1\n")
    assert "unknown factory 'no-such-factory'" in str(info.value)
    assert "temporal-reduce" in str(info.value)
    assert info.value.path == "/node"
    assert fpond.txn_seq == 1


def test_mknod_stores_config_and_overwrite_adds_a_version(fpond):
    cfg = "input: /s.series\nresolutions: [1h]\n"
    with fpond.transaction(["mknod"]) as tx:
        np = mknod(tx.root(), "temporal-reduce", "/r", cfg)
    assert np.path == "/r"
    latest = fpond.root().resolve("/r").latest()
    assert latest.factory == "temporal-reduce"
    assert latest.content == cfg.encode()
    assert latest.file_type == "dir:dynamic"
    with pytest.raises(AlreadyExists), fpond.transaction(["mknod"]) as tx:
        mknod(tx.root(), "temporal-reduce", "/r", cfg)
    with fpond.transaction(["mknod"]) as tx:
        mknod(
            tx.root(),
            "temporal-reduce",
            "/r",
            "input: /s.series\nresolutions: [2h]\n",
            overwrite=True,
        )
    assert [v.version for v in fpond.root().resolve("/r").versions()] == [1, 2]
    assert [n.name for n in fpond.root().list("/r")] == ["res=2h.series"]


def test_dynamic_nodes_are_read_only_with_deterministic_child_ids(fpond):
    from duckpond import Pond
    from duckpond.factories import resolver

    with fpond.transaction(["setup"]) as tx:
        r = tx.root()
        r.append_series("/s.series", _series([1.0, 2.0]))
        mknod(r, "temporal-reduce", "/r", "input: /s.series\nresolutions: [1h, 2h]\n")
    ids = [n.node.node_id for n in fpond.root().list("/r")]
    again = Pond.open(fpond.path, factories=resolver)
    assert [n.node.node_id for n in again.root().list("/r")] == ids
    assert len(set(ids)) == 2
    with pytest.raises(ReadOnly), fpond.transaction(["write"]) as tx:
        tx.root().write_file("/r/res=1h.series", _series([3.0]), file_type="file:series")
    with pytest.raises(PondError), fpond.transaction(["write"]) as tx:
        tx.root().mkdir("/r/sub")
    assert again.root().resolve("/r/res=2h.series").read_table().num_rows == 1


def test_a_stored_node_of_an_unknown_factory_fails_on_read_naming_it(fpond):
    with fpond.transaction(["raw"]) as tx:
        tx.root().create_dynamic("/odd", "vanished-factory", b"a: 1\n", directory=False)
    with pytest.raises(UsageError) as info:
        fpond.root().resolve("/odd").read_table()
    assert "unknown factory 'vanished-factory'" in str(info.value)
    assert info.value.path == "/odd"


def test_run_a_command_read_only_and_writing(fpond):
    from pydantic import BaseModel

    class Cfg(BaseModel):
        target: str

    calls = []

    def peek(ctx, args):
        calls.append((ctx.node.path, ctx.config.target, args))
        return "peeked"

    def touch(ctx, args):
        ctx.root.write_file(ctx.config.target, b"touched " + " ".join(args).encode())
        return "touched"

    class Node:
        file_type = "file:data"

        def read_table(self):
            raise NotImplementedError

        def read_bytes(self):
            return b"node"

    test_factory = Factory(
        name="tester",
        kind="file",
        description="a test factory with commands",
        config_model=Cfg,
        build=lambda np, cfg, raw: Node(),
        commands={
            "peek": Command("peek", peek, "look"),
            "touch": Command("touch", touch, "write a file", writes=True),
        },
    )
    reg = FACTORIES.with_factories(test_factory)
    from duckpond import Pond

    fpond = Pond.open(fpond.path, factories=reg.resolver())
    with fpond.transaction(["mknod"]) as tx:
        mknod(tx.root(), "tester", "/t", "target: /out.txt\n", registry=reg)
    seq = fpond.txn_seq
    assert run(fpond, "/t", "peek", ["a", "b"], registry=reg) == "peeked"
    assert calls == [("/t", "/out.txt", ["a", "b"])]
    assert fpond.txn_seq == seq  # a read-only command commits nothing
    assert run(fpond, "/t", "touch", ["x"], registry=reg) == "touched"
    assert fpond.txn_seq == seq + 1
    assert fpond.root().resolve("/out.txt").read_bytes() == b"touched x"
    assert fpond.log()[-1].args == ("run", "/t", "touch", "x")
    with pytest.raises(UsageError, match=r"no command 'nope' \(commands: peek, touch\)"):
        run(fpond, "/t", "nope", registry=reg)
    with pytest.raises(UsageError, match="not a dynamic node"):
        run(fpond, "/out.txt", "peek", registry=reg)
    # built-in factories that do not act say so
    with fpond.transaction(["mknod"]) as tx:
        mknod(tx.root(), "temporal-reduce", "/r", "input: /x\nresolutions: [1h]\n")
    with pytest.raises(UsageError, match=r"commands: none"):
        run(fpond, "/r", "collect")


def test_each_builtin_name_imports_only_its_module() -> None:
    """BUILTIN_BY_NAME names every built-in factory and the module that defines it, and reading
    one dynamic node (a new process resolving one name) imports only that module."""
    import ast
    import subprocess
    import sys

    from duckpond.factories.registry import BUILTIN_BY_NAME, BUILTIN_MODULES, Registry

    everything = Registry()
    assert sorted(everything) == sorted(BUILTIN_BY_NAME)
    assert sorted(set(BUILTIN_BY_NAME.values())) == sorted(BUILTIN_MODULES)
    for name, module in BUILTIN_BY_NAME.items():
        assert everything[name].build.__module__ == f"duckpond.factories.{module}", name
    code = (
        "import sys\n"
        "from duckpond.factories.registry import Registry\n"
        "Registry().get('temporal-reduce')\n"
        "print(sorted(m for m in sys.modules if m.startswith('duckpond.factories.')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = ast.literal_eval(out.stdout)  # a printed list of module names
    assert "duckpond.factories.reduce" in loaded
    assert not {"duckpond.factories.sitegen", "duckpond.factories.hydrovu"} & set(loaded), loaded
