"""The conformance suites (duckpond.testing.conformance) against both backends: tinyfs through
each, and the Persistence protocol of each."""

from __future__ import annotations

import pytest

from duckpond.testing.conformance import (
    DeltaHarness,
    DeltaStore,
    FSConformance,
    MemoryHarness,
    MemoryStore,
    PersistenceConformance,
)


class TestMemoryFS(FSConformance):
    @pytest.fixture
    def fsx(self, tmp_path):
        with MemoryHarness(tmp_path) as harness:
            yield harness


class TestDeltaFS(FSConformance):
    @pytest.fixture
    def fsx(self, tmp_path):
        with DeltaHarness(tmp_path) as harness:
            yield harness


class TestMemoryPersistence(PersistenceConformance):
    @pytest.fixture
    def store(self):
        return MemoryStore()


class TestDeltaPersistence(PersistenceConformance):
    @pytest.fixture
    def store(self, tmp_path):
        return DeltaStore(tmp_path)
