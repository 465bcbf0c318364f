"""tlogfs: Delta-backed persistence of tinyfs (the oplog schema, large files)."""

from duckpond.tlogfs.delta import APP_ID, OPLOG_SCHEMA, DeltaPersistence

__all__ = ["APP_ID", "OPLOG_SCHEMA", "DeltaPersistence"]
