"""Readers: alert files, directories and tar archives -> raw alert records. They never build tensors."""

from .avro import AlertRecord, expand_paths, iter_buffers, read_alerts, records_from_buffer

__all__ = ["AlertRecord", "expand_paths", "iter_buffers", "read_alerts", "records_from_buffer"]
