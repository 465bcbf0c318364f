"""Reading Parquet files: pyarrow's reader, without importing ``pyarrow.parquet``.

``pyarrow.parquet`` imports ``pyarrow.fs``, and with it every filesystem pyarrow ships (S3, GCS,
Azure, HDFS, and ``ssl``): ~15 ms of every ``pond`` process, which reads local files and
in-memory buffers only. :class:`ParquetFile` below is the reader ``pyarrow.parquet.ParquetFile``
wraps (``pyarrow._parquet.ParquetReader``: the same C++ reader, the same options), opened on a
host path, a ``pyarrow.NativeFile`` or a file object. That reader is not pyarrow's public API:
when it is missing or refuses the call (another pyarrow), every function here uses
``pyarrow.parquet`` instead (same results; ``tests/core/test_parquet.py`` checks both).

Writing imports ``pyarrow.parquet`` where it writes (a transaction, an export, a site build).

Errors are pyarrow's (``pyarrow.ArrowInvalid`` for bytes that are not Parquet, ``OSError`` for
a file that cannot be read), as ``pyarrow.parquet`` raises them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pyarrow as pa

__all__ = ["ParquetFile", "read_metadata", "read_schema", "read_table"]

_native: bool | None = None  # whether pyarrow's reader takes our calls (None: not tried yet)


class ParquetFile:
    """One Parquet file opened for reading (the subset of ``pyarrow.parquet.ParquetFile`` the
    pond uses).

    Args:
        source: a host path (str), a ``pyarrow.NativeFile`` (``pa.BufferReader(data)``) or a
            binary file object.
        read_dictionary: columns read as dictionary arrays (names).

    Raises:
        pyarrow.ArrowInvalid: not a Parquet file (bad magic, truncated footer).
        OSError: the file cannot be opened or read.
    """

    def __init__(self, source: Any, *, read_dictionary: Sequence[str] | None = None) -> None:
        global _native
        self._reader: Any = None
        self._file: Any = None
        if _native is not False:
            try:
                from pyarrow._parquet import ParquetReader

                reader = ParquetReader()
                # as pyarrow.parquet.ParquetFile opens it (extension types: its default)
                reader.open(source, read_dictionary=read_dictionary, arrow_extensions_enabled=True)
            except (ImportError, AttributeError, TypeError):
                _native = False
            else:
                _native = True
                self._reader = reader
                return
        import pyarrow.parquet as pq

        self._file = pq.ParquetFile(source, read_dictionary=read_dictionary)

    @property
    def metadata(self) -> Any:
        """The footer (``pyarrow.parquet.FileMetaData``: rows, row groups, statistics)."""
        return self._reader.metadata if self._reader is not None else self._file.metadata

    @property
    def schema(self) -> Any:
        """The Parquet schema (``pyarrow.parquet.ParquetSchema``: leaf columns and paths)."""
        return self.metadata.schema

    @property
    def schema_arrow(self) -> pa.Schema:
        """The Arrow schema (with the file's schema metadata)."""
        return self._reader.schema_arrow if self._reader is not None else self._file.schema_arrow

    def read(self, columns: Sequence[str] | None = None, *, use_threads: bool = True) -> pa.Table:
        """Every row of ``columns`` (``None``: every column), as ``pyarrow.parquet`` takes them:
        a name is a column or the path of a nested one (``"probe.t"``), a struct's name reads
        every leaf under it, and a name the file does not have is left out."""
        if self._reader is None:
            return self._file.read(columns=columns, use_threads=use_threads)
        indices = None
        if columns is not None:
            paths = _nested_paths(self._reader.column_paths)
            indices = [i for c in columns for i in paths.get(c, ())]
        return self._reader.read_all(column_indices=indices, use_threads=use_threads)

    def iter_batches(self, batch_size: int = 65536) -> Iterator[pa.RecordBatch]:
        """Every row as record batches of at most ``batch_size`` rows, row group by row group."""
        if self._reader is None:
            batches: Iterator[pa.RecordBatch] = self._file.iter_batches(batch_size=batch_size)
        else:
            groups = list(range(self._reader.num_row_groups))
            batches = self._reader.iter_batches(batch_size, groups, None, use_threads=True)
        return batches


def read_table(source: Any, columns: Sequence[str] | None = None) -> pa.Table:
    """A whole Parquet file (or ``columns`` of it) as an Arrow table (see :class:`ParquetFile`)."""
    return ParquetFile(source).read(columns)


def read_metadata(source: Any) -> Any:
    """The footer of a Parquet file (``pyarrow.parquet.FileMetaData``)."""
    return ParquetFile(source).metadata


def read_schema(source: Any) -> pa.Schema:
    """The Arrow schema of a Parquet file."""
    return ParquetFile(source).schema_arrow


def _nested_paths(paths: Sequence[Sequence[str]]) -> dict[str, list[int]]:
    """Every dotted prefix of the leaf columns' paths -> the leaf indices under it."""
    out: dict[str, list[int]] = {}
    for i, path in enumerate(paths):
        key = ""
        for part in path:
            key = f"{key}.{part}" if key else part
            out.setdefault(key, []).append(i)
    return out
