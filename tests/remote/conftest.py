"""Fixtures for the backup and mirror tests (helpers in remote_testlib.py)."""

from __future__ import annotations

import pytest
from remote_testlib import SECRET, SECRET_ENV, MotoServer, build_example_pond, copy_pond


@pytest.fixture(scope="session")
def moto(tmp_path_factory: pytest.TempPathFactory):
    """One moto_server for the session; each test takes its own bucket."""
    server = MotoServer(tmp_path_factory.mktemp("moto"))
    server.start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
def s3_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SECRET_ENV, SECRET)


@pytest.fixture
def s3_url(moto: MotoServer, s3_env: None) -> str:
    return f"s3://{moto.new_bucket()}/backups/pond1"


@pytest.fixture(scope="session")
def example_template(tmp_path_factory: pytest.TempPathFactory):
    path = tmp_path_factory.mktemp("template") / "pond"
    build_example_pond(path)
    return path


@pytest.fixture
def example(example_template, tmp_path):
    """A fresh copy of the example pond (same pond id in every test: buckets differ)."""
    return copy_pond(example_template, tmp_path / "pond")


@pytest.fixture(params=["s3", "file"])
def target(request, moto: MotoServer, tmp_path, s3_env):
    """(url, options) of an empty remote, once per backend."""
    if request.param == "s3":
        return f"s3://{moto.new_bucket()}/backups/pond1", moto.options()
    return (tmp_path / "remote").as_uri(), {}


@pytest.fixture
def cli(capfdbinary: pytest.CaptureFixture[bytes]):
    """``cli(*argv)`` runs ``pond ARGV`` in this process: (exit status, stdout, stderr lines)."""
    import os
    import sys

    from duckpond.cli.main import main

    def run(*argv) -> tuple[int, str, list[str]]:
        capfdbinary.readouterr()
        code = main([os.fspath(a) for a in argv])
        sys.stdout.flush()
        sys.stderr.flush()
        out, err = capfdbinary.readouterr()
        return code, out.decode(), err.decode().splitlines()

    return run
