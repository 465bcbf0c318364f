"""A restore refuses a backup that would not restore whole, before writing (issue 12 #2, #6).

Hostile keys (a real moto_server holding them, and a folder), objects a manifest records that
are gone, table logs that are not whole, a control table ahead of its data: each is exit 8 with
nothing left at DEST (and nothing written anywhere else). A push cut short between the data
log and the control log restores to a pond whose ``pond log`` agrees with its data.
"""

from __future__ import annotations

import json
import os

import pytest
from remote_testlib import B01_CSV, as_of, content, history

from duckpond import Pond
from duckpond.errors import IntegrityError
from duckpond.remote import local_objects, open_remote, plan_restore, push, restore


def _commit(pond, rows: int, label: str) -> None:
    from duckpond.formats import read_csv_series

    table, tc = read_csv_series(B01_CSV)
    with pond.transaction(["append", label]) as tx:
        tx.root().append_series("/raw/b01.series", table.slice(100, rows), time_column=tc)


def _nothing_left(dest, parent) -> None:
    assert not dest.exists()
    assert not [p.name for p in parent.iterdir() if p.name.startswith(".tmp-restore-")]


# -- #2 hostile keys ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    [
        "data/../../escape/x",  # relative escape: DEST/data/../../escape/x
        "data/part_id=0/../../../escape/x",
        "data/./x",
        "data//x",
        "data/..\\..\\escape\\x",  # backslash tricks
    ],
)
def test_s3_backup_with_a_hostile_key_is_refused(example, moto, s3_url, tmp_path, cli, key):
    options = moto.options()
    push(example, s3_url, options=options)
    bucket, prefix = s3_url[len("s3://") :].split("/", 1)
    moto.client().put_object(Bucket=bucket, Key=f"{prefix}/{key}", Body=b"pwned")
    dest = tmp_path / "dest"
    opts = [a for k, v in options.items() for a in ("-o", f"{k}={v}")]
    code, out, err = cli("restore", s3_url, dest, *opts)
    assert code == 8, err
    assert out == "" and len(err) == 1
    assert err[0].startswith(f"pond: {s3_url}: the backup holds an unsafe object key ")
    _nothing_left(dest, tmp_path)
    assert not (tmp_path / "escape").exists()
    assert not any(p.name == "x" for p in tmp_path.rglob("x"))


def test_s3_key_naming_an_absolute_host_path_is_refused(example, moto, s3_url, tmp_path):
    """``<prefix>/data/../../../../<abs>`` wrote into any host folder before (the campaign)."""
    options = moto.options()
    push(example, s3_url, options=options)
    target = tmp_path / "elsewhere" / "planted.txt"
    bucket, prefix = s3_url[len("s3://") :].split("/", 1)
    up = "/".join([".."] * 40)
    moto.client().put_object(Bucket=bucket, Key=f"{prefix}/data/{up}{target}", Body=b"pwned")
    moto.client().put_object(Bucket=bucket, Key=f"{prefix}/{target}", Body=b"pwned")  # "p//abs"
    dest = tmp_path / "dest"
    with pytest.raises(IntegrityError, match="unsafe object key"):
        restore(s3_url, dest, options)
    _nothing_left(dest, tmp_path)
    assert not target.exists() and not (tmp_path / "elsewhere").exists()


@pytest.mark.parametrize("name", ["..\\..\\escape", "evil\nname", "tab\there"])
def test_folder_backup_with_a_hostile_name_is_refused(example, tmp_path, cli, name):
    remote = tmp_path / "remote"
    push(example, remote.as_uri())
    (remote / "data" / name).write_bytes(b"pwned")
    dest = tmp_path / "dest"
    code, _, err = cli("restore", remote.as_uri(), dest)
    assert code == 8 and len(err) == 1, err
    assert "unsafe object key" in err[0]
    _nothing_left(dest, tmp_path)


def test_a_key_that_is_also_a_folder_is_refused(example, moto, s3_url, tmp_path):
    options = moto.options()
    push(example, s3_url, options=options)
    bucket, prefix = s3_url[len("s3://") :].split("/", 1)
    blob = next(k for k in open_remote(s3_url, options).list_objects() if "_large_files" in k)
    moto.client().put_object(Bucket=bucket, Key=f"{prefix}/{blob}/inner", Body=b"x")
    with pytest.raises(IntegrityError, match="both an object and a folder"):
        plan_restore(open_remote(s3_url, options))
    with pytest.raises(IntegrityError):
        restore(s3_url, tmp_path / "dest", options)
    _nothing_left(tmp_path / "dest", tmp_path)


# -- #6 a backup missing what it recorded --------------------------------------------------------


def _drop_from_manifests(remote_dir, key: str) -> None:
    """Rewrite the manifests without ``key``: a backup whose manifests never knew it."""
    for path in (remote_dir / "_duckpond" / "manifests").iterdir():
        body = json.loads(path.read_text())
        body["objects"].pop(key, None)
        path.write_text(json.dumps(body))


@pytest.mark.parametrize("which", ["newest data commit", "middle data commit", "data file"])
def test_restore_refuses_a_backup_that_lost_a_recorded_object(example, tmp_path, cli, which):
    remote = tmp_path / "remote"
    push(example, remote.as_uri())
    logs = sorted(p.name for p in (remote / "data" / "_delta_log").glob("*.json"))
    assert len(logs) >= 4
    key = {
        "newest data commit": f"data/_delta_log/{logs[-1]}",
        "middle data commit": f"data/_delta_log/{logs[2]}",
        "data file": next(
            o.key for o in local_objects(example.path) if o.key.startswith("data/part_id=")
        ),
    }[which]
    remote.joinpath(*key.split("/")).unlink()
    dest = tmp_path / "dest"
    code, _, err = cli("restore", remote.as_uri(), dest)
    assert code == 8 and len(err) == 1, err
    assert f"{key}: recorded by a push, missing on the remote" in err[0]
    _nothing_left(dest, tmp_path)


def test_a_middle_commit_missing_from_log_and_manifest_is_refused(example, tmp_path):
    remote = tmp_path / "remote"
    push(example, remote.as_uri())
    key = "data/_delta_log/00000000000000000002.json"
    remote.joinpath(*key.split("/")).unlink()
    _drop_from_manifests(remote, key)
    with pytest.raises(IntegrityError, match=r"data/_delta_log lacks version\(s\) 2 "):
        restore(remote.as_uri(), tmp_path / "dest")
    _nothing_left(tmp_path / "dest", tmp_path)


def test_newest_commit_missing_from_log_and_manifest_is_refused(example, tmp_path):
    """The control table says txn N committed; the data log ends before it: before the fix the
    restore exited 0, dropped txn N and the next write reused its txn_seq."""
    remote = tmp_path / "remote"
    push(example, remote.as_uri())
    newest = max((remote / "data" / "_delta_log").glob("*.json"))
    newest.unlink()
    _drop_from_manifests(remote, f"data/_delta_log/{newest.name}")
    dest = tmp_path / "dest"
    with pytest.raises(IntegrityError, match="records transaction 4 as committed") as info:
        restore(remote.as_uri(), dest)
    assert info.value.exit_code == 8
    _nothing_left(dest, tmp_path)


def test_a_manifest_that_is_not_json_is_refused(example, tmp_path):
    remote = tmp_path / "remote"
    push(example, remote.as_uri())
    manifest = next((remote / "_duckpond" / "manifests").iterdir())
    manifest.write_text("{not json")
    with pytest.raises(IntegrityError, match="not valid JSON"):
        restore(remote.as_uri(), tmp_path / "dest")
    _nothing_left(tmp_path / "dest", tmp_path)


# -- #6 a push cut short: the restored log agrees with its data ----------------------------------


class _Cut(Exception):
    """Stands for the push process dying."""


def _push_cut(pond, url, *, after) -> list[str]:
    """Push, stopping right after the first object for which ``after(key)`` is true."""
    sent: list[str] = []

    def progress(key: str, size: int) -> None:
        sent.append(key)
        if after(key):
            raise _Cut(key)

    with pytest.raises(_Cut):
        push(pond, url, progress=progress, workers=1)
    return sent


def _agrees(restored, source) -> None:
    """The restored pond's log agrees with its data, and each committed txn reads as the
    source's did."""
    log = restored.log()
    committed = [t for t in log if t.outcome in {"committed", "recovered"}]
    assert max(t.txn_seq for t in committed) == restored.txn_seq
    assert [t.outcome for t in log if t.outcome == "pending"] == []
    for t in committed:
        assert as_of(restored.path, t.txn_seq) == as_of(source.path, t.txn_seq), t.txn_seq
    assert restored.verify() == []


@pytest.mark.parametrize("cut", ["after the data log", "inside the control log"])
def test_restore_of_a_push_cut_short_agrees_with_its_data(example, tmp_path, cli, cut):
    url = (tmp_path / "remote").as_uri()
    push(example, url)
    _commit(example, 30, "five")
    _commit(example, 40, "six")
    assert example.txn_seq == 6
    if cut == "after the data log":
        # every data-log entry sent, no control-log entry: the control table lacks txns 5 and 6
        new_data_logs = {
            o.key
            for o in local_objects(example.path)
            if o.key.startswith("data/_delta_log/") and o.key.endswith(".json")
        } - {k for k in os.listdir(tmp_path / "remote" / "data" / "_delta_log")}
        last = max(new_data_logs)
        sent = _push_cut(example, url, after=lambda k: k == last)
        assert not any(k.startswith("control/_delta_log/") for k in sent)
    else:
        # the control log arrives up to a 'begin' record: txn 6 begun, its end not sent
        sent = _push_cut(
            example,
            url,
            after=lambda k: k.startswith("control/_delta_log/") and k.endswith(".json"),
        )
    dest = tmp_path / "dest"
    code, out, err = cli("restore", url, dest)
    assert code == 0, err
    assert "settled transaction(s)" in out
    restored = Pond.open(dest)
    assert restored.txn_seq == 6
    _agrees(restored, example)
    outcomes = {t.txn_seq: t.outcome for t in restored.log()}
    assert outcomes[6] == "recovered" and outcomes[4] == "committed"
    # the restored pond writes on without reusing a txn_seq
    _commit(restored, 10, "seven")
    assert restored.txn_seq == 7
    # the next push completes the backup, which then restores whole and equal
    push(example, url)
    whole = tmp_path / "whole"
    report = restore(url, whole)
    assert report.settled == ()
    back = Pond.open(whole)
    assert (content(back), history(back)) == (content(example), history(example))


def test_first_push_cut_before_any_commit_arrived_is_refused(example, tmp_path, cli):
    url = (tmp_path / "remote").as_uri()
    _push_cut(example, url, after=lambda k: k.startswith("data/part_id="))
    dest = tmp_path / "dest"
    code, _, err = cli("restore", url, dest)
    assert code == 8 and len(err) == 1, err
    assert "no commit of the data table is in the backup" in err[0]
    _nothing_left(dest, tmp_path)


def test_restore_into_an_existing_empty_folder_keeps_it_on_success(example, tmp_path):
    url = (tmp_path / "remote").as_uri()
    push(example, url)
    dest = tmp_path / "empty"
    dest.mkdir(mode=0o750)
    dest.chmod(0o750)
    report = restore(url, dest)
    assert report.txn_seq == 4 and dest.is_dir()
    assert (dest.stat().st_mode & 0o777) == 0o750
    assert content(Pond.open(dest)) == content(example)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-restore-")]


def test_push_cut_between_a_checkpoint_and_its_commit_restores(example, tmp_path):
    """A push sends a checkpoint just before the commit of its version; cut in between, the
    restore leaves the checkpoint out (the table is whole without it) and settles the control
    table from the commits it has."""
    url = (tmp_path / "remote").as_uri()
    push(example, url)
    pushed = example.data_version
    log = example.path / "data" / "_delta_log"
    i = 0
    while not [p for p in log.glob("*.checkpoint.parquet") if int(p.name[:20]) > pushed]:
        _commit(example, 5 + i, f"grow-{i}")
        i += 1
    name = max(p.name for p in log.glob("*.checkpoint.parquet"))
    version = int(name[:20])
    checkpoint = f"data/_delta_log/{name}"
    assert example.data_version == version  # the newest commit made the checkpoint
    _push_cut(example, url, after=lambda k: k == checkpoint)
    plan = plan_restore(open_remote(url))
    assert plan.left_out == (checkpoint,) and plan.data_version == version - 1
    dest = tmp_path / "dest"
    report = restore(url, dest)
    restored = Pond.open(dest)
    assert restored.data_version == version - 1
    assert report.txn_seq == restored.txn_seq == example.txn_seq - 1
    assert not (dest / checkpoint).exists()
    _agrees(restored, example)


def test_an_aged_pond_whose_collapsed_chunks_are_gone_restores_whole(tmp_path, cli):
    """A collector's pond after ``maintain``: collapses hold the rows of versions whose own
    chunk files were deleted. Its backup restores, and every transaction reads as it did."""
    from duckpond.formats import read_csv_series

    table, tc = read_csv_series(B01_CSV)
    pond = Pond.init(tmp_path / "pond")
    for i in range(20):
        with pond.transaction(["append", str(i)]) as tx:
            tx.root().append_series("/b01.series", table.slice(100 + 10 * i, 10), time_column=tc)
    pond.maintain(collapse=False, retention_hours=0)
    large = pond.path / "data" / "_large_files"
    versions = pond.root().resolve("/b01.series").versions()
    gone = [v for v in versions if not (large / f"sha256={v.sha256}").exists()]
    assert len(gone) >= 16
    url = (tmp_path / "remote").as_uri()
    push(pond, url)
    dest = tmp_path / "dest"
    code, _, err = cli("restore", url, dest)
    assert code == 0 and err == [], err
    restored = Pond.open(dest)
    assert restored.txn_seq == pond.txn_seq == 21
    assert restored.verify() == []
    for seq in range(2, 22):
        then = [
            Pond.open(p, at_txn=seq).root().resolve("/b01.series").read_table().to_pylist()
            for p in (pond.path, dest)
        ]
        assert then[0] == then[1] and len(then[0]) == 10 * (seq - 1), seq
