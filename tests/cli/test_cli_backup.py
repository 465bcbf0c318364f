"""``pond backup``, ``restore`` and ``mirror`` through ``main(argv)`` with ``file://`` remotes,
the auto push and auto sync after write commands, and one S3 round trip against moto_server."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import cli_testlib
import pytest
from cli_testlib import B01_CSV, REPO, RunCli, pond_subprocess

run_cli = cli_testlib.run_cli
pond_dir = cli_testlib.pond_dir


@pytest.fixture
def b01_pond(pond_dir: Path, run_cli: RunCli) -> Path:
    """A pond with a directory, a series (B01) and a small data file, in three transactions."""
    assert run_cli("mkdir", "/raw").code == 0
    assert run_cli("copy", f"host+csv+series://{B01_CSV}", "/raw/b01.series").code == 0
    notes = pond_dir.parent / "notes.txt"
    notes.write_text("buoy B01\n")
    assert run_cli("copy", notes, "/notes.txt").code == 0
    return pond_dir


def delta_log(table: Path) -> set[str]:
    return {p.name for p in (table / "_delta_log").glob("*.json")}


def test_round_trip(b01_pond: Path, run_cli: RunCli, tmp_path: Path) -> None:
    remote = tmp_path / "remote"
    r = run_cli("backup", "add", "usb", remote)
    assert (r.code, r.text) == (0, f"usb: {remote.as_uri()}\n")
    assert run_cli("backup", "add", "usb", remote).code == 4  # exists
    assert run_cli("backup", "add", "usb", remote, "--replace").code == 0
    r = run_cli(
        "backup",
        "add",
        "s3",
        "s3://bucket/pond",
        "-o",
        "endpoint_url=http://127.0.0.1:9",
        "-o",
        "secret_access_key=${env:MY_SECRET}",
    )
    assert r.code == 0, r.err
    assert run_cli("backup", "list").text.splitlines() == [
        "s3   s3://bucket/pond  endpoint_url=http://127.0.0.1:9 secret_access_key=${env:MY_SECRET}",
        f"usb  {remote.as_uri()}",
    ]
    # a secret in clear, an option without '=', a file remote with options: usage errors
    assert run_cli("backup", "add", "x", "s3://b/p", "-o", "secret_access_key=abc").code == 2
    assert run_cli("backup", "add", "x", "s3://b/p", "-o", "endpoint_url").code == 2
    assert run_cli("backup", "add", "x", tmp_path / "r2", "-o", "region=x").code == 2
    r = run_cli("backup", "push")  # two remotes, none named
    assert r.code == 2 and "name one" in r.err
    assert run_cli("backup", "remove", "s3").code == 0
    assert run_cli("backup", "remove", "s3").code == 3

    r = run_cli("backup", "push")  # the only remote
    assert r.code == 0, r.err
    assert r.text.startswith(f"{remote.as_uri()}: sent ") and r.err == ""
    assert run_cli("backup", "push", "usb").text.startswith(f"{remote.as_uri()}: up to date (")
    r = run_cli("backup", "verify", "usb")
    assert (r.code, r.err) == (0, "")
    assert r.text.endswith("no problems\n")
    assert run_cli("backup", "verify", "usb", "--deep").code == 0

    dest = tmp_path / "restored"
    r = run_cli("restore", remote.as_uri(), dest)
    assert r.code == 0, r.err
    assert r.text.startswith("restored pond ") and f"into {dest}" in r.text
    original = run_cli("log").text
    assert run_cli("--pond", dest, "log").text == original
    assert run_cli("--pond", dest, "cat", "/notes.txt").out == b"buoy B01\n"
    assert run_cli("restore", remote.as_uri(), dest).code == 4  # not empty
    assert run_cli("restore", (tmp_path / "nothing").as_uri(), tmp_path / "r3").code == 3


def test_verify_finds_a_corrupt_object(b01_pond: Path, run_cli: RunCli, tmp_path: Path) -> None:
    remote = tmp_path / "remote"
    assert run_cli("backup", "add", "usb", remote).code == 0
    assert run_cli("backup", "push").code == 0
    victim = max((remote / "data").rglob("*.parquet"), key=lambda p: p.stat().st_size)
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0xFF
    victim.write_bytes(bytes(data))
    r = run_cli("backup", "verify")
    assert r.code == 8
    lines = r.text.splitlines()
    assert "1 problem(s)" in lines[0]
    assert len(lines) == 2 and victim.name in lines[1]
    assert r.err_lines == [f"pond: {remote.as_uri()}: backup not whole: 1 problem(s)"]


def test_push_to_another_ponds_remote(
    b01_pond: Path, run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    remote = tmp_path / "remote"
    assert run_cli("backup", "add", "usb", remote).code == 0
    assert run_cli("backup", "push").code == 0
    other = tmp_path / "other"
    monkeypatch.setenv("POND", str(other))
    assert run_cli("init").code == 0
    assert run_cli("backup", "add", "usb", remote).code == 0
    r = run_cli("backup", "push", "usb")
    assert r.code == 4 and len(r.err_lines) == 1, r.err
    r = run_cli("backup", "verify", "usb")
    assert r.code == 8 and "another pond" in r.text


def test_mirror_sync_and_rebuild(b01_pond: Path, run_cli: RunCli, tmp_path: Path) -> None:
    mirror = tmp_path / "mirror"
    r = run_cli("mirror", "sync", mirror)
    assert (r.code, r.err) == (0, "")
    assert r.text.startswith(f"{mirror}: 3 written, 0 deleted, 0 unchanged")
    assert (mirror / "notes.txt").read_text() == "buoy B01\n"
    assert (mirror / "raw" / "b01.series").read_bytes()[:4] == b"PAR1"
    (mirror / "notes.txt").write_text("edited by hand\n")
    r = run_cli("mirror", "sync", mirror)
    assert r.code == 0
    assert "1 changed by hand" in r.text
    assert len(r.err_lines) == 1
    assert r.err_lines[0].startswith("pond: warning: mirror: notes.txt: ")
    assert (mirror / "notes.txt").read_text() == "edited by hand\n"
    r = run_cli("mirror", "sync", mirror, "--rebuild")
    assert (r.code, r.err) == (0, "")
    assert r.text.rstrip().endswith("(rebuilt)")
    assert (mirror / "notes.txt").read_text() == "buoy B01\n"
    # a folder that is not a mirror is refused
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "f").write_text("x")
    assert run_cli("mirror", "sync", tmp_path / "busy").code == 2


def test_auto_push_and_sync_after_writes(b01_pond: Path, run_cli: RunCli, tmp_path: Path) -> None:
    remote = tmp_path / "remote"
    mirror = tmp_path / "mirror"
    assert run_cli("backup", "add", "usb", remote).code == 0
    assert run_cli("backup", "auto", "usb").text == "auto push: usb\n"
    assert run_cli("backup", "list").text.endswith("(auto push)\n")
    assert run_cli("mirror", "auto", mirror).text == f"auto mirror sync: {mirror}\n"
    assert not remote.exists()  # setting it pushes nothing

    r = run_cli("mkdir", "/new")
    assert (r.code, r.out, r.err) == (0, b"", "")
    assert delta_log(remote / "data") == delta_log(b01_pond / "data")
    assert delta_log(remote / "control") <= delta_log(b01_pond / "control")
    assert (mirror / "new").is_dir() and (mirror / "raw" / "b01.series").is_file()
    r = run_cli("backup", "verify")
    assert r.code == 0 and "not pushed" not in r.text

    r = run_cli("copy", remote / "pond.json", "/pond.json")  # a second write command
    assert r.code == 0, r.err
    assert delta_log(remote / "data") == delta_log(b01_pond / "data")
    assert (mirror / "pond.json").read_bytes() == (remote / "pond.json").read_bytes()

    # a failing auto push is a warning; the command succeeds and the commit stands
    (remote / "pond.json").write_text('{"format": "duckpond-backup", "pond_id": "someone-else"}')
    r = run_cli("mkdir", "/newer")
    assert r.code == 0
    assert len(r.err_lines) == 1, r.err
    assert r.err_lines[0].startswith("pond: warning: auto push to usb failed")
    assert "/newer" in run_cli("list", "/").text

    assert run_cli("backup", "auto", "--off").text == "auto push: off\n"
    assert run_cli("mirror", "auto", "--off").text == "auto mirror sync: off\n"
    assert run_cli("backup", "auto").code == 2  # NAME or --off
    assert run_cli("backup", "auto", "usb", "--off").code == 2
    assert run_cli("backup", "auto", "nope").code == 3
    r = run_cli("mkdir", "/newest")
    assert (r.code, r.err) == (0, "")
    assert not (mirror / "newest").exists()


def test_auto_settings_match_the_library() -> None:
    from duckpond import mirror
    from duckpond.remote.config import AUTO_PUSH
    from duckpond.steward.hooks import AUTO_SETTINGS

    assert AUTO_SETTINGS == (AUTO_PUSH, mirror.AUTO_SYNC)


def test_write_without_auto_settings_imports_no_remote_code(tmp_path: Path) -> None:
    """After a commit with no auto push or sync set, nothing of duckpond.remote is imported."""
    env = {"POND": str(tmp_path / "pond")}
    assert pond_subprocess("init", env=env).returncode == 0
    code = (
        "import sys; from duckpond.cli.main import main; "
        "rc = main(['mkdir', '/a']); "
        "print(rc, sorted(m for m in sys.modules if m.startswith(('duckpond.remote', "
        "'duckpond.mirror'))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, **env},
        capture_output=True,
        check=True,
        timeout=120,
    )
    assert out.stdout == b"0 []\n", out.stderr


def test_real_processes_exit_zero(tmp_path: Path) -> None:
    env = {"POND": str(tmp_path / "pond")}
    remote = tmp_path / "remote"

    def ok(*argv: str | os.PathLike[str]) -> bytes:
        r = pond_subprocess(*argv, env=env)
        assert r.returncode == 0, (argv, r.returncode, r.stderr.decode())
        assert r.stderr == b""
        return r.stdout

    ok("init")
    ok("backup", "add", "usb", remote)
    ok("backup", "auto", "usb")
    ok("mkdir", "/a")  # pushed after the commit
    assert b"up to date" in ok("backup", "push")
    ok("restore", remote, tmp_path / "restored")
    ok("mirror", "sync", tmp_path / "mirror")


def remote_testlib() -> ModuleType:
    """tests/remote/remote_testlib.py (moto_server helpers), imported by path."""
    name = "remote_testlib"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, REPO / "tests" / "remote" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def test_s3_round_trip(
    b01_pond: Path, run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lib = remote_testlib()
    if not lib.MOTO_SERVER.exists():
        pytest.skip("moto_server is not installed")
    server = lib.MotoServer(tmp_path)
    server.start()
    try:
        monkeypatch.setenv(lib.SECRET_ENV, lib.SECRET)
        url = f"s3://{server.new_bucket()}/backups/b01"
        options = [f"{k}={v}" for k, v in server.options().items()]
        opts = [arg for o in options for arg in ("-o", o)]
        assert run_cli("backup", "add", "s3", url, *opts).code == 0
        listed = run_cli("backup", "list").text
        assert f"secret_access_key=${{env:{lib.SECRET_ENV}}}" in listed
        assert lib.SECRET not in listed
        r = run_cli("backup", "push", "s3")
        assert r.code == 0 and "sent" in r.text, r.err
        assert run_cli("backup", "verify", "s3").code == 0
        dest = tmp_path / "restored"
        r = run_cli("restore", url, dest, *opts)
        assert r.code == 0, r.err
        assert run_cli("--pond", dest, "log").text == run_cli("log").text
        server.kill()  # the store is gone: exit 9, one line
        r = run_cli("backup", "push", "s3")
        assert r.code == 9 and len(r.err_lines) == 1, r.err
    finally:
        server.kill()


def test_run_that_writes_commits_and_pushes(
    b01_pond: Path, run_cli: RunCli, tmp_path: Path
) -> None:
    """``pond run <inbox> ingest`` commits its own transaction; the auto push follows it."""
    host = tmp_path / "drop"
    host.mkdir()
    (host / "a.txt").write_text("first\n")
    config = tmp_path / "inbox.yaml"
    config.write_text(f"pattern: {host}/*.txt\nfolder: /inbox\n")
    assert run_cli("mknod", "inbox", "/drop", "--config", config).code == 0
    remote = tmp_path / "remote"
    assert run_cli("backup", "add", "usb", remote).code == 0
    assert run_cli("backup", "auto", "usb").code == 0
    r = run_cli("run", "/drop", "ingest")
    assert r.code == 0, r.err
    assert r.text.splitlines()[-1].startswith("1 files ingested, 0 already in the pond")
    assert run_cli("cat", "/inbox/a.txt").out == b"first\n"
    assert delta_log(remote / "data") == delta_log(b01_pond / "data")
    assert run_cli("log").text.splitlines()[-1].endswith("run /drop ingest")
    r = run_cli("run", "/drop", "ingest")  # nothing new: no commit
    assert r.code == 0 and r.text.splitlines()[-1].startswith("0 files ingested, 1 already")


def test_push_dry_run_and_status(b01_pond: Path, run_cli: RunCli, tmp_path: Path) -> None:
    remote = tmp_path / "remote"
    assert "backup" not in run_cli("status").text  # no remote: no backup line
    assert run_cli("backup", "add", "usb", remote).code == 0
    committed = [line for line in run_cli("log").text.splitlines() if " committed " in line]
    status = run_cli("status")
    assert status.code == 0
    assert f"backup usb:   {remote.as_uri()}  no push recorded, {len(committed)} txns behind\n" in (
        status.text
    )

    r = run_cli("backup", "push", "--dry-run")
    assert (r.code, r.err) == (0, "")
    lines = r.text.splitlines()
    assert lines[0].startswith(f"{remote.as_uri()}: would send ") and "0 already there" in lines[0]
    sends = [line.split()[1] for line in lines[1:]]
    assert all(line.startswith("  send    ") for line in lines[1:])
    assert sends[-1].startswith("control/_delta_log/") and any("data/part_id=" in k for k in sends)
    assert not remote.exists()  # nothing was sent, not even pond.json

    r = run_cli("backup", "push")
    assert r.code == 0 and r.text.startswith(f"{remote.as_uri()}: sent {len(sends)} objects (")
    shown = run_cli("status").text
    assert f"backup usb:   {remote.as_uri()}  last push 20" in shown
    assert f"Z (txn {len(committed)}), 0 txns behind\n" in shown

    assert run_cli("mkdir", "/more").code == 0
    assert ", 1 txns behind\n" in run_cli("status").text
    r = run_cli("backup", "push", "-n")
    assert r.code == 0
    new = [line.split()[1] for line in r.text.splitlines()[1:]]
    assert new and all(k.startswith(("data/", "control/")) for k in new)
    assert not any(k in sends for k in new if not k.endswith("_last_checkpoint"))
    assert run_cli("backup", "push").text.startswith(f"{remote.as_uri()}: sent {len(new)} objects")
    assert run_cli("backup", "push", "--dry-run").text == (
        f"{remote.as_uri()}: up to date ({len(sends) + len(new)} objects); nothing to send\n"
    )


def test_mirror_sync_dry_run(b01_pond: Path, run_cli: RunCli, tmp_path: Path) -> None:
    mirror = tmp_path / "mirror"
    r = run_cli("mirror", "sync", mirror, "--dry-run")
    assert (r.code, r.err) == (0, "")
    assert r.text.splitlines() == [
        f"{mirror}: would write 3, delete 0, record 0; 0 unchanged",
        "  write  notes.txt  9 B",
        "  write  raw",
        r.text.splitlines()[3],
    ]
    assert r.text.splitlines()[3].startswith("  write  raw/b01.series  ")
    assert not mirror.exists()
    assert run_cli("mirror", "sync", mirror).code == 0
    (mirror / "notes.txt").write_text("mine\n")
    assert run_cli("rm", "/notes.txt").code == 0
    r = run_cli("mirror", "sync", mirror, "-n")
    assert r.code == 0 and r.err == ""
    assert r.text.splitlines() == [
        f"{mirror}: would write 0, delete 0, record 0; 2 unchanged, 1 changed by hand (left alone)",
        "  keep   notes.txt: changed by hand; the pond no longer has it (left in place)",
    ]
    assert (mirror / "notes.txt").read_text() == "mine\n"
    assert run_cli("mirror", "sync", tmp_path / "busy-file", "-n").code == 0  # a new folder
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "f").write_text("x")
    assert run_cli("mirror", "sync", tmp_path / "busy", "--dry-run").code == 2


def test_real_process_refuses_a_hostile_backup(tmp_path: Path) -> None:
    """``pond restore`` of a folder backup holding an unsafe key: exit 8, one line, no DEST."""
    env = {"POND": str(tmp_path / "pond")}
    remote = tmp_path / "remote"
    for argv in (("init",), ("mkdir", "/a"), ("backup", "push", remote.as_uri())):
        assert pond_subprocess(*argv, env=env).returncode == 0, argv
    (remote / "data" / "..\\..\\evil").write_bytes(b"x")
    dest = tmp_path / "dest"
    r = pond_subprocess("restore", remote, dest)
    assert r.returncode == 8, r.stderr
    assert r.stdout == b""
    lines = r.stderr.decode().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"pond: {remote.as_uri()}: the backup holds ")
    assert "unsafe object key" in lines[0]
    assert not dest.exists() and not list(tmp_path.glob(".tmp-restore-*"))
