"""One set of copy rules for `pond copy`, `pond apply` and library callers (duckpond.ops.copy)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from duckpond import Pond
from duckpond.errors import AlreadyExists, InvalidData, UsageError
from duckpond.ops.copy import CopyOptions, HostSource, copy_in
from duckpond.pipeline import apply, apply_files

REPO = Path(__file__).resolve().parents[2]
B01 = (
    REPO
    / "data"
    / "neracoos_b01_water_temperature_30min"
    / "neracoos_b01_water_temperature_30min.csv"
)


def _copy(pond: Pond, src: str, dest: str, **options: Any):
    with pond.transaction(["copy", src, dest]) as tx:
        return copy_in(tx.root(), [HostSource.parse(src)], dest, CopyOptions(**options))


def _stats(table: pa.Table, column: str) -> tuple[int, float, float, float]:
    col = table.column(column)
    return (
        table.num_rows,
        pc.sum(col).as_py(),
        pc.min(col).as_py(),
        pc.max(col).as_py(),
    )


@pytest.fixture
def pond(tmp_path: Path) -> Pond:
    return Pond.init(tmp_path / "pond")


def test_the_same_csv_twice_appends_nothing_and_commits_nothing(pond: Pond) -> None:
    [first] = _copy(pond, f"host+csv+series://{B01}", "/b01.series")
    assert first.action == "created"
    seq = pond.txn_seq
    [again] = _copy(pond, f"host+csv+series://{B01}", "/b01.series")
    assert again.action == "unchanged"
    assert pond.txn_seq == seq  # no commit
    t = pond.root().resolve("/b01.series").read_table()
    assert t.num_rows == len(B01.read_text().splitlines()) - 1  # every row of the CSV, once
    assert len(pond.root().resolve("/b01.series").versions()) == 1


def test_a_grown_csv_adds_only_its_new_rows_and_late_rows_are_kept(
    pond: Pond, tmp_path: Path
) -> None:
    lines = B01.read_text().splitlines(keepends=True)
    header, rows = lines[0], lines[1:]
    part = tmp_path / "part.csv"
    part.write_text(header + "".join(rows[1000:2000]))
    _copy(pond, f"host+csv+series://{part}", "/b.series")
    grown = tmp_path / "grown.csv"  # the same export a day later: the old rows and new ones
    grown.write_text(header + "".join(rows[1000:2100]))
    [c] = _copy(pond, f"host+csv+series://{grown}", "/b.series")
    assert (c.action, c.detail) == ("appended", "100 rows")
    late = tmp_path / "late.csv"  # older rows arrive late, with some already held
    late.write_text(header + "".join(rows[900:1010]))
    [c] = _copy(pond, f"host+csv+series://{late}", "/b.series")
    assert (c.action, c.detail) == ("appended", "100 rows")
    whole = tmp_path / "whole.csv"
    whole.write_text(header + "".join(rows[900:2100]))
    got = pond.root().resolve("/b.series").read_table()
    from duckpond.formats import read_csv_series

    want, _ = read_csv_series(whole)
    column = "WaterTemperature.C"
    assert _stats(got, column) == _stats(want, column)
    assert got.sort_by("Timestamp").equals(want.sort_by("Timestamp"))


def test_rows_with_empty_cells_are_recognised_when_copied_again(pond: Pond, tmp_path: Path) -> None:
    csv = tmp_path / "odd.csv"
    csv.write_text(
        "time,a,b\n2024-03-10T01:00:00Z,,x\n2024-03-10T02:00:00Z,nan,\n2024-03-10T03:00:00Z,1.5,y\n"
    )
    _copy(pond, f"host+csv+series://{csv}", "/odd.series")
    [c] = _copy(pond, f"host+csv+series://{csv}", "/odd.series")
    assert c.action == "unchanged"
    assert pond.root().resolve("/odd.series").read_table().num_rows == 3


def test_data_files_and_tables_get_a_version_only_when_the_bytes_change(
    pond: Pond, tmp_path: Path
) -> None:
    f = tmp_path / "notes.txt"
    f.write_bytes(b"one")
    assert _copy(pond, str(f), "/notes.txt")[0].action == "created"
    assert _copy(pond, str(f), "/notes.txt")[0].action == "unchanged"
    f.write_bytes(b"two")
    assert _copy(pond, str(f), "/notes.txt")[0].action == "updated"
    node = pond.root().resolve("/notes.txt")
    assert [v.version for v in node.versions()] == [1, 2] and node.read_bytes() == b"two"


def test_refusals_name_the_path_and_change_nothing(pond: Pond, tmp_path: Path) -> None:
    csv = tmp_path / "a.csv"
    csv.write_text("Timestamp,v\n2024-01-01T00:00:00Z,1\n")
    _copy(pond, f"host+csv+series://{csv}", "/a.series")
    seq = pond.txn_seq
    with pytest.raises(UsageError, match="host\\+csv\\+series://") as info:
        _copy(pond, str(csv), "/new.series")  # a CSV stored as bytes under a series name
    assert info.value.path == "/new.series"
    with pytest.raises(InvalidData, match="is a file:series, not a file:data"):
        _copy(pond, f"host://{csv}", "/a.series")
    with pond.transaction(["mkdir"]) as tx:
        tx.root().mkdir("/d")
    seq = pond.txn_seq
    from duckpond.ops.copy import copy_file_in

    with pytest.raises(AlreadyExists, match="exists as a directory"), pond.transaction([""]) as tx:
        copy_file_in(tx.root(), HostSource.parse(str(csv)), csv, "/d")
    assert pond.txn_seq == seq


def test_apply_copies_a_host_folder_like_pond_copy(pond: Pond, tmp_path: Path) -> None:
    folder = tmp_path / "inbox"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text("a")
    (folder / "sub" / "b.txt").write_text("b")
    report = apply(pond, f"kind: copy\nfrom: host://{folder}\nto: /in\n")
    assert {(c.path, c.action) for c in report.changes if c.kind == "copy"} == {
        ("/in/a.txt", "created"),
        ("/in/sub/b.txt", "created"),
    }
    assert pond.root().resolve("/in/sub/b.txt").read_bytes() == b"b"
    again = apply(pond, f"kind: copy\nfrom: host://{folder}\nto: /in\n")
    assert again.txn_seq is None and not again.changed


def test_several_pipeline_files_apply_in_one_transaction(pond: Pond, tmp_path: Path) -> None:
    a = tmp_path / "a.yaml"
    b = tmp_path / "b.yaml"
    a.write_text("kind: mkdir\npath: /from_a\n")
    b.write_text("kind: mkdir\npath: /from_b\n")
    seq = pond.txn_seq
    report = apply_files(pond, [a, b])
    assert report.txn_seq == seq + 1 and pond.txn_seq == seq + 1
    assert pond.root().exists("/from_a") and pond.root().exists("/from_b")
    c = tmp_path / "c.yaml"
    c.write_text("kind: mknod\nfactory: nope\npath: /x\n")  # a bad second file: nothing applied
    a.write_text("kind: mkdir\npath: /new_a\n")
    with pytest.raises(InvalidData, match=r"c\.yaml: document 1"):
        apply_files(pond, [a, c])
    assert not pond.root().exists("/new_a") and pond.txn_seq == seq + 1


def test_pipeline_templates_are_sandboxed(pond: Pond, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    hostile = (
        "kind: mkdir\n"
        f"path: /{{{{ cycler.__init__.__globals__.os.popen('touch {marker}').read() }}}}x\n"
    )
    with pytest.raises(UsageError, match=r"sandbox|undefined"):
        apply(pond, hostile)
    assert not marker.exists()


def test_secret_looking_environment_variables_are_not_visible(
    pond: Pond, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("S3_SECRET_ACCESS_KEY", "hunter2")
    monkeypatch.setenv("SITE_NAME", "lake")
    report = apply(pond, "kind: mkdir\npath: /{{ SITE_NAME }}\n")
    assert [c.path for c in report.changes] == ["/lake"]
    with pytest.raises(UsageError, match=r"looks like a secret.*\$\{env:S3_SECRET_ACCESS_KEY\}"):
        apply(pond, "kind: mkdir\npath: /{{ S3_SECRET_ACCESS_KEY }}\n")
    assert not any("hunter2" in n.path for n in pond.root().walk("/"))


def _b01_parquet(tmp_path: Path, name: str, time_type: pa.DataType) -> tuple[Path, pa.Table]:
    from duckpond.formats import read_csv_series

    table, _ = read_csv_series(B01)
    t = table.set_column(0, pa.field("Timestamp", time_type), table.column(0).cast(time_type))
    path = tmp_path / name
    import pyarrow.parquet as pq

    pq.write_table(t, path, row_group_size=5000)
    return path, table


def test_parquet_needing_no_rewrite_is_stored_as_it_is_and_never_shared(
    pond: Pond, tmp_path: Path
) -> None:
    """A new series from Parquet whose time column is already timestamp[us, UTC]: its bytes are
    kept (a marker before the footer makes each version's bytes its own); two series from the
    same file survive a collapse and a maintain of one of them; any other time type is
    rewritten."""
    import pyarrow.parquet as pq

    src, table = _b01_parquet(tmp_path, "b01.parquet", pa.timestamp("us", tz="UTC"))
    [made] = _copy(pond, f"host+series://{src}", "/a.series")
    assert made.action == "created" and made.detail == f"{table.num_rows} rows"
    _copy(pond, f"host+series://{src}", "/b.series")
    root = pond.root()
    a, b = (root.resolve(p).latest() for p in ("/a.series", "/b.series"))
    assert a.sha256 != b.sha256, "no two versions share bytes"
    stored = pond.fs.persistence.blob_path(a)
    assert stored is not None
    raw, kept = src.read_bytes(), Path(stored).read_bytes()
    footer = len(raw) - 8 - int.from_bytes(raw[-8:-4], "little")  # where the footer starts
    assert kept[:footer] == raw[:footer] and kept[-(len(raw) - footer) :] == raw[footer:]
    assert b"duckpond.node_id=" in kept[footer : len(kept) - (len(raw) - footer)]
    assert b"duckpond.node_id" not in (pq.read_metadata(stored).metadata or {})  # footer as is
    assert a.min_event_time == pc.min(table.column(0)).value
    assert a.max_event_time == pc.max(table.column(0)).value
    assert a.extended_attributes["rows"] == table.num_rows
    col = "WaterTemperature.C"
    want = _stats(table, col)
    for path in ("/a.series", "/b.series"):
        assert _stats(root.resolve(path).read_table(), col) == want
        assert _stats(pq.read_table(stored), col) == want
    # appends, a collapse of /a, and a maintain deleting what the collapse superseded
    day = 86_400_000_000
    for k in range(16):
        more = table.slice(k * 10, 10)
        shifted = pc.add(more.column(0).cast(pa.int64()), 3_000 * day + k)
        more = more.set_column(0, "Timestamp", shifted.cast(pa.timestamp("us", tz="UTC")))
        with pond.transaction(["append"]) as tx:
            tx.root().append_series("/a.series", more)
    assert pond.maintain(retention_hours=0).superseded_removed >= 1
    root = pond.root()
    assert _stats(root.resolve("/b.series").read_table(), col) == want
    assert root.resolve("/a.series").read_table().num_rows == table.num_rows + 160
    assert pond.verify() == []
    # another time type is normalized, so the file is rewritten; the rows are the same
    ns, _ = _b01_parquet(tmp_path, "ns.parquet", pa.timestamp("ns"))
    _copy(pond, f"host+series://{ns}", "/c.series")
    c = pond.root().resolve("/c.series")
    rewritten = pond.fs.persistence.blob_path(c.latest())
    assert rewritten is not None
    assert b"duckpond.node_id" in (pq.read_metadata(rewritten).metadata or {})  # pyarrow wrote it
    assert c.schema().field("Timestamp").type == pa.timestamp("us", tz="UTC")
    assert _stats(c.read_table(), col) == want


def test_a_parquet_file_that_changes_after_its_check_is_refused(
    pond: Pond, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bytes stored as they are must be the bytes checked: a file rewritten between the
    check and the copy (an instrument's software still writing it) is refused, pond unchanged."""
    import os

    from duckpond.tinyfs.fs import FS

    src, _ = _b01_parquet(tmp_path, "b01.parquet", pa.timestamp("us", tz="UTC"))
    real = FS.store_chunk_file

    def rewritten_meanwhile(self, source, *args):
        st = source.stat()
        os.utime(source, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
        return real(self, source, *args)

    monkeypatch.setattr(FS, "store_chunk_file", rewritten_meanwhile)
    seq = pond.txn_seq
    with pytest.raises(InvalidData, match="changed while it was being copied") as info:
        _copy(pond, f"host+series://{src}", "/a.series")
    assert info.value.path == str(src)
    assert pond.txn_seq == seq and pond.root().lookup("/a.series") is None
