"""Output rows of the stream: one per alert record of a consumed message, and their encodings.

A row is built from a :class:`~btsbot_fast.rows.ScoreResult` plus where the message came from. Sinks
write :data:`OUTPUT_FIELDS` (btsbot_fast.rows.STREAM_COLUMNS); the per-batch hook also gets the score
columns the records do not carry, the candidate's ``magpsf`` and ``fid`` (:data:`HOOK_FIELDS`), which
autoscan policies need.
"""

from __future__ import annotations

import io
import json
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any

from ..rows import HOOK_FIELDS, MESSAGE_COLUMNS, SCORED_AT, STREAM_COLUMNS, ScoreResult, names, stream_avro_schema
from ..status import Status

#: fields of every output message and file row, in this order
OUTPUT_FIELDS = names(STREAM_COLUMNS)
OUTPUT_FORMATS = ("json", "avro")
#: the hook row's fields that come from the ScoreResult (the others say where the message came from)
_RESULT_FIELDS = tuple(f for f in HOOK_FIELDS if f not in names((*MESSAGE_COLUMNS, SCORED_AT)))


def utc_now() -> str:
    """The current time as ISO-8601 UTC with milliseconds, e.g. ``2024-05-01T03:04:05.678Z``."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def result_row(result: ScoreResult, topic: str, partition: int, offset: int, scored_at: str) -> dict[str, Any]:
    """The hook row (all :data:`HOOK_FIELDS`) for one scored record of message ``topic[partition]@offset``."""
    row = {name: getattr(result, name) for name in _RESULT_FIELDS}
    row.update(topic=topic, partition=partition, offset=offset, scored_at=scored_at)
    return row


def empty_message_row(model: str, model_version: str, topic: str, partition: int, offset: int,
                      scored_at: str, reason: str) -> dict[str, Any]:
    """The row for a message that holds no alert record at all (e.g. an Avro container with no records):
    its offset still gets an answer."""
    result = ScoreResult.unscored(Status.DECODE_ERROR, reason, model=model, model_version=model_version, source="",
                                  record_index=0)
    return result_row(result, topic, partition, offset, scored_at)


#: room kept in a Kafka message (message.max.bytes, librdkafka's default 1,000,000) for the key, the
#: headers and the Avro container's header beside the row's JSON size
MESSAGE_OVERHEAD_BYTES = 100_000


def unwritable_row(row: dict[str, Any], why: str) -> dict[str, Any]:
    """The row that replaces one no sink can write (a value of a type or size the output schema does not
    allow): the message keeps its place and gets an answer; the values go, the reason stays."""
    return {**empty_message_row(row["model"], row["model_version"], row["topic"], row["partition"], row["offset"],
                                row["scored_at"], f"cannot write this alert's row: {why}"),
            "status": Status.UNSUPPORTED_SCHEMA.label, "record_index": row["record_index"]}


def row_problem(row: dict[str, Any], max_bytes: int) -> str:
    """Why ``row`` cannot be written by every sink ('' when it can): its JSON encoding fails (NaN or inf,
    a type JSON lacks) or is too large for a Kafka message, or it does not fit the Avro output schema."""
    try:
        size = len(encode_json(row))
    except (TypeError, ValueError, OverflowError) as exc:
        return f"{type(exc).__name__}: {exc}"[:200]
    if size > max_bytes:
        return f"{size:,} bytes, more than the {max_bytes:,} an output message may carry"
    for name, fits in _field_checks():
        value = row[name]
        if not fits(value):
            return f"{name} {value!r:.40} does not fit the output schema"
    return ""


@lru_cache(maxsize=1)
def _field_checks() -> tuple:
    """(field, check) for every field of the output records: what fastavro's validation checks, at a
    tenth of its cost per row (a row is checked before any sink sees it)."""
    return tuple((c.name, c.fits) for c in STREAM_COLUMNS)


def output_view(row: dict[str, Any]) -> dict[str, Any]:
    """The row restricted to :data:`OUTPUT_FIELDS`, in order."""
    return {name: row[name] for name in OUTPUT_FIELDS}


def encode_json(row: dict[str, Any]) -> bytes:
    return json.dumps(output_view(row), ensure_ascii=False, allow_nan=False).encode("utf-8")


@lru_cache(maxsize=1)
def output_schema() -> dict[str, Any]:
    """The Avro schema of an output record (btsbot_fast.rows.stream_avro_schema), parsed."""
    import fastavro

    return fastavro.parse_schema(stream_avro_schema())


def encode_avro(row: dict[str, Any]) -> bytes:
    """One self-describing Avro object container (schema in its header) holding this row, the way ZTF
    itself publishes alerts: a reader needs no schema registry."""
    import fastavro

    buf = io.BytesIO()
    fastavro.writer(buf, output_schema(), [output_view(row)], codec="null")
    return buf.getvalue()


def encoder(fmt: str):
    """The message-value encoder for ``--output-format``."""
    if fmt not in OUTPUT_FORMATS:
        raise ValueError(f"unknown output format {fmt!r}; choose one of {', '.join(OUTPUT_FORMATS)}")
    return encode_json if fmt == "json" else encode_avro
