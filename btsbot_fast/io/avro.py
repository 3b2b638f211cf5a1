"""The fastavro reader: one Avro Object Container File's bytes -> alert records.

A *buffer* is the bytes of one OCF: a ``.avro`` file, a member of a night's ``.tar.gz``, or a Kafka message
value. Each buffer yields one :class:`AlertRecord` per record it holds; a buffer that cannot be decoded (or
stops decoding part-way) yields one error record naming the source, so the run goes on and nothing is
silently dropped. This is the reference path (``--engine python``) and the native reader's fallback.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Iterator
from typing import Any

import cramjam
from fastavro.read import SchemaResolutionError
from fastavro.schema import SchemaParseException

from ..status import Status
from .records import (
    BAD_MAGIC,
    EMPTY_FILE,
    NOT_A_RECORD,
    AlertRecord,
    cannot_read,
    checked_ids,
    corrupt_avro,
    error_record,
    exception_detail,
    is_foreign,
    schema_name,
    unsupported_schema,
)

_AVRO_MAGIC = b"Obj\x01"
#: what fastavro raises on corrupt or hostile bytes (a bad varint, a short block, a bad codec stream, an
#: unknown union branch, a header whose schema JSON a flipped bit broke, a snappy block cramjam cannot
#: inflate...). Anything else (ImportError, MemoryError, AttributeError...) is not the data's fault and
#: propagates.
CORRUPT_AVRO_ERRORS = (ValueError, EOFError, KeyError, IndexError, TypeError, OverflowError, struct.error,
                       zlib.error, SchemaParseException, SchemaResolutionError, cramjam.DecompressionError)


def _candid_of(record: dict[str, Any]) -> Any:
    candid = record.get("candid")
    if candid is None:  # Spark/Fink files often keep candid only inside the candidate
        cand = record.get("candidate")
        if isinstance(cand, dict):
            candid = cand.get("candid")
    return candid


def records_from_buffer(source: str, data: bytes | Exception) -> Iterator[AlertRecord]:
    """Decode one OCF buffer into alert records; failures become error records."""
    if isinstance(data, Exception):
        yield error_record(source, 0, cannot_read(data))
        return
    if not data.startswith(_AVRO_MAGIC):
        yield error_record(source, 0, BAD_MAGIC if data else EMPTY_FILE)
        return
    import fastavro  # here: the native reader only needs it for buffers it hands back

    index = 0
    try:
        # block_reader yields a block only after its sync marker checked out, so records of a block
        # that is followed by garbage are never trusted (a record reader would yield them first)
        for block in fastavro.block_reader(io.BytesIO(data)):
            name = schema_name(block.writer_schema)
            foreign = is_foreign(name)
            for record in block:
                yield _to_alert_record(source, index, record, name, foreign)
                index += 1
    except CORRUPT_AVRO_ERRORS as exc:  # each corrupt source becomes one row
        yield error_record(source, index, corrupt_avro(index, _corruption(exc, index, len(data))))


#: fastavro's words for a header it cannot parse (the magic is checked before, so it is an Avro file)
_FASTAVRO_BAD_HEADER = "cannot read header"
#: what a user can do about a file cut short or damaged on the way
REFETCH = "copy or download it again"


def _corruption(exc: BaseException, index: int, size: int) -> str:
    """fastavro's error in words that say what happened to the file and what to do about it."""
    if index == 0 and isinstance(exc, ValueError) and str(exc).startswith(_FASTAVRO_BAD_HEADER):
        return (f"its header (the schema) cannot be read from these {size} bytes: the file is truncated or "
                f"corrupt; {REFETCH}")
    if isinstance(exc, EOFError):
        return f"the data ends early ({exception_detail(exc)}): the file is truncated; {REFETCH}"
    return exception_detail(exc)


def _to_alert_record(source: str, index: int, record: Any, name: str, foreign: bool) -> AlertRecord:
    if not isinstance(record, dict):
        return error_record(source, index, NOT_A_RECORD)
    objectId, candid, problem = checked_ids(record.get("objectId"), _candid_of(record))
    if foreign:
        return AlertRecord(source, index, objectId, candid, None, Status.UNSUPPORTED_SCHEMA, unsupported_schema(name))
    if problem:
        return AlertRecord(source, index, objectId, candid, None, Status.UNSUPPORTED_SCHEMA, problem)
    return AlertRecord(source, index, objectId, candid, record)


__all__ = ["records_from_buffer"]
