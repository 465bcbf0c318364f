"""Fixtures for the factory tests (helpers in factory_testlib.py): a fresh pond per test."""

from __future__ import annotations

import pytest
from factory_testlib import load_real


@pytest.fixture
def fpond(tmp_path):
    """A new pond that can read dynamic nodes (the built-in factory registry)."""
    from duckpond import Pond
    from duckpond.factories import resolver

    return Pond.init(tmp_path / "pond", factories=resolver)


@pytest.fixture(scope="module")
def real_pond(tmp_path_factory):
    """A pond with /raw/jfk.series and /raw/b01.series (shared by a module: read-only use)."""
    from duckpond import Pond
    from duckpond.factories import resolver

    pond = Pond.init(tmp_path_factory.mktemp("real") / "pond", factories=resolver)
    load_real(pond)
    return pond
