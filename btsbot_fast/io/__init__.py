"""Readers: paths, archives, Avro and Parquet -> alert records. They never build tensors.

    records.py   AlertRecord and the words of reader-level outcomes (defined once)
    paths.py     what the inputs hold: (kind, path) per file; directory walks; archive members
    avro.py      the fastavro reader (the reference path, and the native reader's fallback)
    parquet.py   the Parquet reader and the Arrow -> Avro type rules
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator

from .avro import records_from_buffer
from .parquet import read_parquet, records_from_parquet
from .paths import ARCHIVE, AVRO, PARQUET, archive_buffers, expand_paths, iter_buffers, read_file
from .records import AlertRecord


def read_alerts(paths: Iterable[str | os.PathLike[str]]) -> Iterator[AlertRecord]:
    """All alert records from files, directories, archives and Parquet tables, in a stable order (the
    records the python engine preprocesses)."""
    for kind, path in expand_paths(paths):
        if kind == PARQUET:
            yield from records_from_parquet(path)
        elif kind == ARCHIVE:
            for source, data in archive_buffers(path):
                yield from records_from_buffer(source, data)
        else:
            yield from records_from_buffer(path, read_file(path))


__all__ = ["ARCHIVE", "AVRO", "PARQUET", "AlertRecord", "expand_paths", "iter_buffers", "read_alerts", "read_parquet",
           "records_from_buffer", "records_from_parquet"]
