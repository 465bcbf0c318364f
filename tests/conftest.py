"""Shared fixtures: a fresh pond per test under tmp_path (STYLE.md 6)."""

from __future__ import annotations

import pytest


@pytest.fixture
def pond(tmp_path):
    from duckpond import Pond

    return Pond.init(tmp_path / "pond")
