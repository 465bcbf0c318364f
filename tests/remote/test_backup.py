"""Backup, verify and restore against a real S3 protocol server (moto_server) and a folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
from remote_testlib import (
    B01_CSV,
    SECRET,
    SECRET_ENV,
    MotoServer,
    all_bytes,
    content,
    history,
)

from duckpond import Pond
from duckpond.errors import AlreadyExists, IntegrityError, NotFound, RemoteError, UsageError
from duckpond.remote import (
    PondMismatch,
    add_backup,
    after_commit,
    get_backup,
    list_backups,
    local_objects,
    open_remote,
    push,
    remove_backup,
    restore,
    set_auto_push,
    verify,
)
from duckpond.remote.store import FileRemote
from duckpond.steward.hooks import CommitHookWarning


def _small_commit(pond, rows: int = 48) -> None:
    from duckpond.formats import read_csv_series

    table, tc = read_csv_series(B01_CSV)
    with pond.transaction(["append", "b01", str(rows)]) as tx:
        tx.root().append_series("/raw/b01.series", table.slice(0, rows), time_column=tc)


def _assert_same_pond(a, b) -> None:
    assert b.pond_id == a.pond_id
    assert content(b) == content(a)
    assert history(b) == history(a)
    assert all_bytes(b) == all_bytes(a)
    assert b.root().resolve("/latest").read_table().equals(a.root().resolve("/latest").read_table())


# -- round trip ----------------------------------------------------------------------------


def test_push_verify_restore_round_trip(example, target, tmp_path):
    url, options = target
    local = local_objects(example.path)
    report = push(example, url, options=options)
    assert report.objects_sent == len(local) > 20
    assert set(report.sent) == {o.key for o in local}
    assert report.skipped == 0 and report.manifest is not None
    assert report.bytes_sent == sum(o.size for o in local) + report.overhead_bytes
    # the log goes last, in version order: data table, then control table
    logs = [k for k in report.sent if "/_delta_log/" in k]
    assert report.sent[-len(logs) :] == logs
    data_logs = [k for k in logs if k.startswith("data/")]
    assert data_logs == sorted(data_logs)
    assert logs.index(data_logs[-1]) < min(logs.index(k) for k in logs if k.startswith("control/"))

    checked = verify(example, url, options=options)
    assert checked.ok, checked.problems
    assert checked.unpushed == [] and checked.checked == len(local)
    assert verify(example, url, options=options, deep=True).ok

    again = push(example, url, options=options)
    assert (again.objects_sent, again.bytes_sent, again.skipped) == (0, 0, len(local))

    restored = restore(url, tmp_path / "restored", options)
    assert restored.pond_id == example.pond_id
    assert restored.txn_seq == example.txn_seq == 4
    assert restored.file_versions_checked >= 6 and restored.settled == ()
    back = Pond.open(tmp_path / "restored")
    _assert_same_pond(example, back)
    # the restored pond carries on: a commit, then a push to the same remote
    _small_commit(back)
    assert push(back, url, options=options).objects_sent > 0


def test_restored_pond_keeps_its_backup_settings(example, s3_url, moto, tmp_path):
    add_backup(example, "offsite", s3_url, moto.options())
    assert push(example, "offsite").objects_sent > 0
    restore(s3_url, tmp_path / "r", moto.options())
    back = Pond.open(tmp_path / "r")
    assert get_backup(back).name == "offsite"
    assert push(back).objects_sent == 0  # same pond id, nothing new


def test_bucket_holds_a_standard_delta_table(example, s3_url, moto):
    """A Delta reader opens the backed-up oplog straight from the bucket (exit status 0)."""
    remote = open_remote(s3_url, moto.options())
    push(example, remote)
    code = textwrap.dedent(
        """
        import json, sys
        from deltalake import DeltaTable, QueryBuilder
        uri, opts = sys.argv[1], json.loads(sys.argv[2])
        dt = DeltaTable(uri, storage_options=opts)
        n = QueryBuilder().register("oplog", dt).execute(
            "SELECT count(*) AS n, count(DISTINCT node_id) AS nodes FROM oplog").read_all()
        print(json.dumps({"version": dt.version(), "partitions": dt.metadata().partition_columns,
                          "rows": n.column("n")[0].as_py(), "nodes": n.column("nodes")[0].as_py()}))
        """
    )
    run = subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            remote.delta_uri("data"),
            json.dumps(remote.delta_storage_options()),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    got = json.loads(run.stdout)
    oplog = example.oplog()
    assert got["version"] == example.data_version
    assert got["partitions"] == ["part_id"]
    assert got["rows"] == oplog.num_rows
    assert got["nodes"] == len(set(oplog.column("node_id").to_pylist()))


# -- incremental ---------------------------------------------------------------------------


def test_incremental_push_sends_only_new_objects(example, s3_url, moto):
    options = moto.options()
    push(example, s3_url, options=options)
    before = {o.key: o.path.read_bytes() for o in local_objects(example.path)}
    _small_commit(example)
    after = {o.key: o.path.read_bytes() for o in local_objects(example.path)}
    # new objects, and _last_checkpoint if the commit made a checkpoint (the one mutable file)
    new = {k: len(b) for k, b in after.items() if before.get(k) != b}
    assert new, "a commit adds objects"
    new_bytes = sum(new.values())

    report = push(example, s3_url, options=options)
    assert set(report.sent) == set(new)
    assert report.objects_sent == len(new)
    assert report.skipped == len(after) - len(new)
    assert report.bytes_sent <= 2 * new_bytes, (report.bytes_sent, new_bytes)
    listing = open_remote(s3_url, options).list_objects()
    assert all(k in listing for k in after)
    assert verify(example, s3_url, options=options).ok


def test_verify_lists_unpushed_objects_apart_from_problems(example, s3_url, moto):
    options = moto.options()
    push(example, s3_url, options=options)
    _small_commit(example)
    report = verify(example, s3_url, options=options)
    assert report.ok and report.unpushed
    assert any("/_delta_log/" in k for k in report.unpushed)


# -- a server killed mid-push ----------------------------------------------------------------


@pytest.mark.parametrize("where", ["data files", "log"])
def test_push_cut_short_by_a_killed_server_resumes(example, tmp_path, monkeypatch, where):
    monkeypatch.setenv(SECRET_ENV, SECRET)
    server = MotoServer(tmp_path, record=True)
    server.start()
    try:
        bucket = server.new_bucket()
        url, options = f"s3://{bucket}/p", server.options(max_attempts="1")
        objects = local_objects(example.path)
        total = len(objects)
        # "log": every log entry but the control table's last one (and _last_checkpoint)
        mutable = sum(1 for o in objects if o.mutable)
        cut = 5 if where == "data files" else total - 1 - mutable

        def kill_after(key: str, size: int, seen: list[str] = []) -> None:  # noqa: B006
            seen.append(key)
            if len(seen) == cut:
                server.wait_recorded(seen)  # what it acknowledged is kept, as a real store's
                server.kill()

        with pytest.raises(RemoteError):
            push(example, url, options=options, progress=kill_after, workers=2)

        server.restart()  # replays what the first server stored: a store keeps what it has
        remote = open_remote(url, options)
        stored = {k for k in remote.list_objects() if k.split("/")[0] in {"data", "control"}}
        assert cut <= len(stored) < total
        early = tmp_path / "early"
        if where == "data files":
            # no commit reached the remote yet: not a pond, and restore says so
            with pytest.raises(IntegrityError):
                restore(url, early, options)
            assert not early.exists()
        else:
            # the remote holds a whole, possibly older, pond: it restores and reads
            report = restore(url, early, options)
            assert report.txn_seq == example.txn_seq
            assert content(Pond.open(early)) == content(example)

        resumed = push(example, url, options=options)
        assert resumed.objects_sent == total - len(stored)
        assert resumed.skipped == len(stored)  # checked through the ETag, adopted in the manifest
        assert verify(example, url, options=options).ok
        restore(url, tmp_path / "whole", options)
        _assert_same_pond(example, Pond.open(tmp_path / "whole"))
    finally:
        server.kill()


def test_unreachable_server_is_a_remote_error(example, s3_env):
    from remote_testlib import free_port

    options = {
        "endpoint_url": f"http://127.0.0.1:{free_port()}",
        "access_key_id": "x",
        "secret_access_key": f"${{env:{SECRET_ENV}}}",
        "max_attempts": "1",
    }
    with pytest.raises(RemoteError) as info:
        push(example, "s3://nowhere/p", options=options)
    assert "s3://nowhere/p" in str(info.value)


def test_missing_bucket_is_a_remote_error(example, moto, s3_env):
    with pytest.raises(RemoteError, match="bucket does not exist"):
        push(example, "s3://no-such-bucket-here/p", options=moto.options())


# -- corruption ----------------------------------------------------------------------------


def _corrupt(url: str, options, key: str, moto: MotoServer | None) -> None:
    """Flip bytes in a remote object, keeping its size (what bit rot would do)."""
    remote = open_remote(url, options)
    data = bytearray(remote.get_bytes(key))
    mid = len(data) // 2
    data[mid : mid + 8] = bytes(b ^ 0xFF for b in data[mid : mid + 8])
    if moto is not None:
        bucket, prefix = url[len("s3://") :].split("/", 1)
        moto.client().put_object(Bucket=bucket, Key=f"{prefix}/{key}", Body=bytes(data))
    else:
        assert isinstance(remote, FileRemote)
        path = remote.root.joinpath(*key.split("/"))
        path.write_bytes(bytes(data))


@pytest.mark.parametrize("which", ["large file", "data file", "log entry"])
def test_corrupted_remote_object_reported_and_restore_refuses(
    example, target, moto, tmp_path, which
):
    url, options = target
    push(example, url, options=options)
    keys = [o.key for o in local_objects(example.path)]
    key = {
        "large file": next(k for k in keys if "/_large_files/" in k),
        "data file": next(k for k in keys if k.startswith("data/part_id=")),
        "log entry": "data/_delta_log/00000000000000000002.json",
    }[which]
    _corrupt(url, options, key, moto if url.startswith("s3:") else None)

    report = verify(example, url, options=options)
    assert not report.ok
    assert len(report.problems) == 1 and key in report.problems[0], report.problems
    assert not verify(example, url, options=options, deep=True).ok

    dest = tmp_path / "restored"
    with pytest.raises(IntegrityError) as info:
        restore(url, dest, options)
    assert key in str(info.value)
    assert not dest.exists()

    # the next push puts the pond's copy back
    repaired = push(example, url, options=options)
    assert repaired.repaired == [key] and repaired.sent == [key]
    assert verify(example, url, options=options).ok


def test_restore_refuses_a_large_file_that_does_not_match_the_oplog(example, tmp_path):
    """Corruption the manifest cannot see (it was pushed corrupt): the pond-level check."""
    blob = next((example.path / "data" / "_large_files").iterdir())
    data = bytearray(blob.read_bytes())
    data[10] ^= 0xFF
    url = (tmp_path / "remote").as_uri()
    push(example, url)
    remote_blob = tmp_path / "remote" / "data" / "_large_files" / blob.name
    remote_blob.write_bytes(bytes(data))
    # pretend it was pushed like this: rewrite the manifest with the corrupt bytes' sha256
    import hashlib

    manifests = list((tmp_path / "remote" / "_duckpond" / "manifests").iterdir())
    spec = json.loads(manifests[0].read_text())
    entry = spec["objects"][f"data/_large_files/{blob.name}"]
    entry["sha256"] = hashlib.sha256(bytes(data)).hexdigest()
    manifests[0].write_text(json.dumps(spec))
    with pytest.raises(IntegrityError, match="sha256"):
        restore(url, tmp_path / "dest")
    assert not (tmp_path / "dest").exists()


def test_restore_into_an_existing_empty_folder_leaves_it_empty_on_failure(example, tmp_path):
    url = (tmp_path / "remote").as_uri()
    push(example, url)
    blob = next((tmp_path / "remote" / "data" / "_large_files").iterdir())
    blob.write_bytes(b"x" * blob.stat().st_size)
    dest = tmp_path / "empty"
    dest.mkdir()
    with pytest.raises(IntegrityError):
        restore(url, dest)
    assert dest.is_dir() and list(dest.iterdir()) == []


# -- pond identity and refusals --------------------------------------------------------------


def test_push_to_another_ponds_remote_is_refused(example, target, tmp_path):
    url, options = target
    push(example, url, options=options)
    remote = open_remote(url, options)
    before = remote.list_objects()
    other = Pond.init(tmp_path / "other")
    with pytest.raises(PondMismatch, match="another pond") as info:
        push(other, url, options=options)
    assert example.pond_id in str(info.value) and other.pond_id in str(info.value)
    assert info.value.exit_code == 4
    assert remote.list_objects() == before
    report = verify(other, url, options=options)
    assert not report.ok and "another pond" in report.problems[0]


def test_push_into_a_foreign_non_empty_location_is_refused(example, tmp_path):
    (tmp_path / "stuff").mkdir()
    (tmp_path / "stuff" / "notes.txt").write_text("mine")
    with pytest.raises(PondMismatch, match="not a DuckPond backup"):
        push(example, (tmp_path / "stuff").as_uri())
    assert sorted(p.name for p in (tmp_path / "stuff").iterdir()) == ["notes.txt"]


def test_restore_refusals(example, tmp_path):
    with pytest.raises(NotFound, match="no DuckPond backup"):
        restore((tmp_path / "nothing").as_uri(), tmp_path / "d1")
    url = (tmp_path / "remote").as_uri()
    push(example, url)
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "f").write_text("x")
    with pytest.raises(AlreadyExists):
        restore(url, busy)
    assert (busy / "f").read_text() == "x"


# -- settings ------------------------------------------------------------------------------


def test_backup_remotes_in_settings_keep_env_references(example, moto, s3_url):
    cfg = add_backup(example, "offsite", s3_url, moto.options())
    assert cfg.options["secret_access_key"] == f"${{env:{SECRET_ENV}}}"
    add_backup(example, "usb", str(example.path.parent / "usb"))
    assert [r.name for r in list_backups(example)] == ["offsite", "usb"]
    assert get_backup(example, "usb").url.startswith("file:///")
    # the secret itself is nowhere in the pond
    raw = b"".join(p.read_bytes() for p in (example.path / "control").rglob("*") if p.is_file())
    assert SECRET.encode() not in raw
    with pytest.raises(AlreadyExists):
        add_backup(example, "usb", "file:///tmp/x")
    with pytest.raises(UsageError, match="env:VAR"):
        add_backup(example, "bad", s3_url, {"secret_access_key": "hunter2"})
    with pytest.raises(UsageError, match="unknown option"):
        add_backup(example, "bad", s3_url, {"colour": "blue"})
    with pytest.raises(UsageError, match="unsupported remote"):
        add_backup(example, "bad", "ftp://host/x")
    with pytest.raises(UsageError, match="several"):
        get_backup(example)
    remove_backup(example, "usb")
    assert get_backup(example).name == "offsite"
    with pytest.raises(NotFound):
        remove_backup(example, "usb")


def test_unset_env_reference_is_a_usage_error(example, moto, s3_url, monkeypatch):
    add_backup(example, "offsite", s3_url, moto.options())
    monkeypatch.delenv(SECRET_ENV)
    with pytest.raises(UsageError, match=SECRET_ENV):
        push(example, "offsite")


def test_auto_push_after_commit(example, tmp_path):
    url = (tmp_path / "remote").as_uri()
    add_backup(example, "usb", url)
    assert after_commit(example).push is None  # not enabled yet
    set_auto_push(example, "usb")
    assert verify(example, "usb").problems == ["no pond.json: nothing was ever pushed here"]
    _small_commit(example)  # the commit itself pushes (a library user gets the hooks too)
    assert verify(example, "usb").ok and verify(example, "usb").unpushed == []
    done = after_commit(example)
    assert done.errors == [] and done.push is not None and done.push.objects_sent == 0
    # a failing auto push never raises: the commit stands, and a warning says what to do
    os.chmod(tmp_path / "remote", 0o500)
    try:
        if os.geteuid() != 0:  # root writes anyway
            with pytest.warns(CommitHookWarning, match="pond backup push usb"):
                _small_commit(example)
            failed = after_commit(example)
            assert failed.push is None and "pond backup push usb" in failed.errors[0]
    finally:
        os.chmod(tmp_path / "remote", 0o755)
    set_auto_push(example, None)
    assert after_commit(example).push is None


def test_push_waits_for_a_running_transaction(example, tmp_path):
    """The local listing is taken between transactions (the write lock)."""
    url = (tmp_path / "remote").as_uri()
    with example.transaction(["slow"]) as tx:
        tx.root().write_file("/docs/new.txt", b"new")
        from duckpond.errors import PondLocked

        with pytest.raises(PondLocked):
            push(Pond.open(example.path), url, lock_timeout=0.2)
    assert push(example, url).objects_sent > 0
    assert verify(example, url).ok


def test_many_manifests_are_merged(example, tmp_path, monkeypatch):
    import duckpond.remote.backup as push_module

    monkeypatch.setattr(push_module, "MAX_MANIFESTS", 3)
    url = (tmp_path / "remote").as_uri()
    push(example, url)
    for i in range(5):
        _small_commit(example, rows=5 + i)
        push(example, url)
        manifests = list((tmp_path / "remote" / "_duckpond" / "manifests").iterdir())
        assert 1 <= len(manifests) <= 3
    assert verify(example, url).ok
    restore(url, tmp_path / "r")
    assert content(Pond.open(tmp_path / "r")) == content(example)


def test_maintained_pond_checkpoint_pushed_last_and_once(example, tmp_path):
    url = (tmp_path / "remote").as_uri()
    push(example, url)
    example.maintain()
    report = push(example, url)
    assert report.sent[-1].endswith("_last_checkpoint")
    assert any(k.endswith(".checkpoint.parquet") for k in report.sent)
    again = push(example, url)
    assert (again.objects_sent, again.manifest) == (0, None)
    assert verify(example, url).ok
    restore(url, tmp_path / "r")
    back = Pond.open(tmp_path / "r")
    assert content(back) == content(example)
    assert history(back) == history(example)


def test_multipart_objects_are_checked_through_the_manifest(example, s3_url, moto, monkeypatch):
    """An object uploaded in parts has an ETag that is no MD5: verify falls back on the
    fingerprint recorded at push, and on downloading it when that changed."""
    import duckpond.remote.store as store

    monkeypatch.setattr(store, "MULTIPART_THRESHOLD", 100_000)
    options = moto.options()
    push(example, s3_url, options=options)
    remote = open_remote(s3_url, options)
    listing = remote.list_objects()
    key = max((k for k in listing if "/_large_files/" in k), key=lambda k: listing[k].size)
    assert listing[key].size >= 100_000
    assert "-" in remote.list_objects()[key].fingerprint  # a multipart ETag
    assert verify(example, s3_url, options=options).ok
    _corrupt(s3_url, options, key, moto)
    report = verify(example, s3_url, options=options)
    assert len(report.problems) == 1 and key in report.problems[0]


def test_report_summaries(example, tmp_path):
    url = (tmp_path / "remote").as_uri()
    first = push(example, url)
    assert first.summary().startswith(f"{url}: sent {first.objects_sent} objects (")
    assert push(example, url).summary() == f"{url}: up to date ({first.objects_sent} objects)"
    assert (
        verify(example, url).summary()
        == f"{url}: {first.objects_sent} objects checked, no problems"
    )
    r = restore(url, tmp_path / "r")
    assert r.summary().startswith(f"restored pond {example.pond_id} as of transaction 4 into ")


def test_object_lost_on_the_remote_is_a_problem(example, tmp_path):
    url = (tmp_path / "remote").as_uri()
    push(example, url)
    key = next(o.key for o in local_objects(example.path) if o.key.startswith("data/part_id="))
    open_remote(url).delete([key])
    report = verify(example, url)
    assert report.problems == [f"{key}: missing on the remote, though it was pushed"]
    assert push(example, url).sent == [key]
    assert verify(example, url).ok


def test_files_deleted_during_a_push_still_go_up(example, tmp_path):
    """A vacuum or log cleanup during a push cannot take listed files away (hard-link pins)."""
    want_content, want_history = content(example), history(example)
    url = (tmp_path / "remote").as_uri()
    deleted: list[str] = []

    def vacuum_everything(key: str, size: int) -> None:
        if not deleted:
            for o in local_objects(example.path):
                if o.key != key and o.key.startswith("control/"):
                    o.path.unlink()
                    deleted.append(o.key)

    report = push(example, url, progress=vacuum_everything, workers=1)
    assert deleted and report.vanished == []
    assert set(deleted) <= set(report.sent)
    assert not list((example.path / "cache").glob("push-pins-*"))
    restore(url, tmp_path / "r")
    back = Pond.open(tmp_path / "r")
    assert (content(back), history(back)) == (want_content, want_history)


def test_stale_pins_of_dead_pushes_are_removed(example, tmp_path):
    stale = example.path / "cache" / "push-pins-999999999-abc"
    stale.mkdir(parents=True)
    (stale / "0").write_bytes(b"x")
    push(example, (tmp_path / "remote").as_uri())
    assert not stale.exists()
