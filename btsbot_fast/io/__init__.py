"""Readers: alert files, directories, tar archives and Parquet tables -> raw alert records. They never
build tensors."""

from .avro import AlertRecord, expand_paths, iter_buffers, read_alerts, records_from_buffer
from .parquet import is_parquet, records_from_parquet

__all__ = ["AlertRecord", "expand_paths", "is_parquet", "iter_buffers", "read_alerts", "records_from_buffer",
           "records_from_parquet"]
