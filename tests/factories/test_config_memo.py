"""Remembered configs (``Factory.load``): a new process reads a temporal-reduce node without
importing yaml or pydantic, and a remembered config is only ever the one validation gives."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest

from duckpond import Pond
from duckpond.errors import InvalidData
from duckpond.factories import resolver
from duckpond.factories.cache import Cache
from duckpond.factories.reduce import FACTORY, ReduceSettings
from duckpond.factories.registry import mknod

TIME = pa.timestamp("us", tz="UTC")
HOUR = 3_600_000_000
CONFIG = "input: /s.series\nresolutions: [' 1h', 6h]\naggregations: [avg, count]\n"

READ = """
import sys
from duckpond import Pond
from duckpond.factories import resolver
p = Pond.open(sys.argv[1], factories=resolver)
t = p.root().resolve(sys.argv[2]).read_table()
print(t.num_rows, sum(t.column(t.column_names[-1]).to_pylist()),
      "pydantic" in sys.modules, "yaml" in sys.modules)
"""


def _read(pond: Pond, path: str = "/r/res=1h.series") -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", READ, str(pond.path), path],
        capture_output=True,
        text=True,
        timeout=120,
        env={k: v for k, v in os.environ.items() if k != "DUCKPOND_CACHE"},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def _memo(pond: Pond) -> Path:
    (found,) = pond.layout.cache.rglob("config.dpc")
    return found


@pytest.fixture
def reduce_pond(fpond):
    rows = pa.table({"Timestamp": pa.array([k * HOUR for k in range(48)], TIME), "v": [1.0] * 48})
    with fpond.transaction(["load"]) as tx:
        tx.root().append_series("/s.series", rows, time_column="Timestamp")
        mknod(tx.root(), "temporal-reduce", "/r", CONFIG)
    return fpond


def test_a_new_process_reads_the_node_without_yaml_or_pydantic(reduce_pond) -> None:
    assert _read(reduce_pond) == ["48", "48", "True", "True"]  # validated, remembered
    assert _memo(reduce_pond).is_file()
    assert _read(reduce_pond) == ["48", "48", "False", "False"]
    assert _read(reduce_pond, "/r/res=6h.series") == ["8", "48", "False", "False"]


def test_the_remembered_config_is_what_validation_gives(reduce_pond) -> None:
    """Validated (the resolution ' 1h' stripped, defaults filled) and remembered alike."""
    node = Pond.open(reduce_pond.path, factories=resolver).root().resolve("/r")
    raw = CONFIG.encode()
    validated = FACTORY.parse(raw)
    assert isinstance(validated, ReduceSettings)
    assert validated.resolutions == ("1h", "6h") and validated.time_column == "Timestamp"
    assert FACTORY.load(raw, node) == validated  # validated, then written
    assert _memo(reduce_pond).is_file()
    assert FACTORY.load(raw, node) == validated  # read back
    assert validated.seconds() == {"1h": 3600, "6h": 21600}


def test_a_corrupt_stale_or_odd_memo_is_validated_again(reduce_pond) -> None:
    _read(reduce_pond)
    memo = _memo(reduce_pond)
    data = bytearray(memo.read_bytes())
    data[40] ^= 0x01  # the header: its checksum fails
    memo.write_bytes(bytes(data))
    assert _read(reduce_pond) == ["48", "48", "True", "True"]
    # stale: remembered for another config of the node
    with reduce_pond.transaction(["change"]) as tx:
        mknod(tx.root(), "temporal-reduce", "/r", CONFIG.replace("1h", "2h"), overwrite=True)
    assert _read(reduce_pond, "/r/res=2h.series") == ["24", "48", "True", "True"]
    assert _read(reduce_pond, "/r/res=2h.series") == ["24", "48", "False", "False"]
    # the right key over a header of another shape: never served
    cache = Cache(reduce_pond.layout.cache)
    entry = str(memo.relative_to(reduce_pond.layout.cache))[: -len(".dpc")]
    header = cache.header(entry)
    assert header is not None
    cache.put(entry, {**header, "config": {"input": "/s.series"}}, pa.table({}))
    assert _read(reduce_pond, "/r/res=2h.series") == ["24", "48", "True", "True"]


def test_an_invalid_config_is_never_remembered(reduce_pond) -> None:
    node = Pond.open(reduce_pond.path, factories=resolver).root().resolve("/r")
    with pytest.raises(InvalidData, match="resolutions"):
        FACTORY.load(b"input: /s.series\nresolutions: []\n", node)
    assert list(reduce_pond.layout.cache.rglob("config.dpc")) == []


def test_a_changed_validator_validates_again(reduce_pond, monkeypatch) -> None:
    from duckpond.factories import registry

    node = Pond.open(reduce_pond.path, factories=resolver).root().resolve("/r")
    before = FACTORY.memo(node, CONFIG.encode())
    monkeypatch.setitem(registry._SOURCE_DIGESTS, FACTORY.config_sources, "another source")
    after = FACTORY.memo(node, CONFIG.encode())
    assert before is not None and after is not None
    assert before[0] == after[0] and before[1] != after[1]


def test_listing_a_dynamic_file_does_not_build_it(fpond) -> None:
    """``pond list`` needs whether a node is a directory: a dynamic file is stored as one, so
    its factory's module and config are not loaded (pydantic and yaml not imported)."""
    with fpond.transaction(["mknod"]) as tx:
        mknod(
            tx.root(),
            "sql-derived",
            "/d.series",
            'patterns: {s: /s.series}\ntime_column: Timestamp\nquery: SELECT "Timestamp" FROM s\n',
        )
        tx.root().mkdir("/x")
    code = (
        "import sys\nfrom duckpond.cli.main import main\n"
        "status = main(['list', '/'])\n"
        "print(status, 'pydantic' in sys.modules, 'yaml' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "POND": str(fpond.path)},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["/d.series", "/x", "0", "False", "False"]
