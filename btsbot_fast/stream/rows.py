"""Output rows of the stream: one per alert record of a consumed message, and their encodings.

A row is built from a :class:`~btsbot_fast.scorer.ScoreResult` plus where the message came from. Sinks
write :data:`OUTPUT_FIELDS`; the per-batch hook also gets the candidate's ``magpsf`` and ``fid``
(:data:`HOOK_FIELDS`), which autoscan policies need.
"""

from __future__ import annotations

import io
import json
from datetime import datetime, timezone
from functools import lru_cache
from importlib import resources
from typing import Any

from ..prep.bts import NO_CANDIDATE, describe
from ..scorer import ScoreResult
from ..status import Status

#: fields of every output message and file row, in this order
OUTPUT_FIELDS = ("objectId", "candid", "jd", "score", "precision", "status", "error", "bts_candidate", "bts_reject",
                 "model", "model_version", "topic", "partition", "offset", "record_index", "scored_at")
#: what the per-batch hook receives: the output fields plus the candidate's magnitude and filter
HOOK_FIELDS = OUTPUT_FIELDS + ("magpsf", "fid")
OUTPUT_FORMATS = ("json", "avro")
SCHEMA_FILE = "score_record.avsc"


def utc_now() -> str:
    """The current time as ISO-8601 UTC with milliseconds, e.g. ``2024-05-01T03:04:05.678Z``."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def result_row(result: ScoreResult, topic: str, partition: int, offset: int, scored_at: str) -> dict[str, Any]:
    """The hook row (all :data:`HOOK_FIELDS`) for one scored record of message ``topic[partition]@offset``."""
    return {
        "objectId": result.objectId, "candid": result.candid, "jd": result.jd, "score": result.score,
        "precision": result.precision, "status": result.status, "error": result.error,
        "bts_candidate": result.bts_candidate, "bts_reject": result.bts_reject, "model": result.model,
        "model_version": result.model_version, "topic": topic, "partition": partition, "offset": offset,
        "record_index": result.record_index, "scored_at": scored_at, "magpsf": result.magpsf, "fid": result.fid,
    }


def empty_message_row(model: str, model_version: str, topic: str, partition: int, offset: int,
                      scored_at: str, reason: str) -> dict[str, Any]:
    """The row for a message that holds no alert record at all (e.g. an Avro container with no records):
    its offset still gets an answer."""
    return {
        "objectId": None, "candid": None, "jd": None, "score": None, "precision": None,
        "status": Status.DECODE_ERROR.label, "error": reason, "bts_candidate": None,
        "bts_reject": describe(NO_CANDIDATE)[1], "model": model, "model_version": model_version, "topic": topic,
        "partition": partition, "offset": offset, "record_index": 0, "scored_at": scored_at,
        "magpsf": None, "fid": None,
    }


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


_AVRO_FITS = {
    "null": lambda v: v is None,
    "boolean": lambda v: isinstance(v, bool),
    "string": lambda v: isinstance(v, str),
    "int": lambda v: isinstance(v, int) and not isinstance(v, bool) and -(1 << 31) <= v < 1 << 31,
    "long": lambda v: isinstance(v, int) and not isinstance(v, bool) and -(1 << 63) <= v < 1 << 63,
    "float": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "double": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
}


@lru_cache(maxsize=1)
def _field_checks() -> tuple:
    """(field, check) for every field of the Avro output schema: what fastavro's validation checks, at a
    tenth of its cost per row (a row is checked before any sink sees it)."""
    schema = json.loads(resources.files(__package__).joinpath(SCHEMA_FILE).read_text(encoding="utf-8"))
    checks = []
    for f in schema["fields"]:
        types = f["type"] if isinstance(f["type"], list) else [f["type"]]
        (fits,) = [_AVRO_FITS[t] for t in types if t != "null"]  # the schema's unions are [null, T]
        checks.append((f["name"], (lambda v, fits=fits: v is None or fits(v)) if "null" in types else fits))
    return tuple(checks)


def output_view(row: dict[str, Any]) -> dict[str, Any]:
    """The row restricted to :data:`OUTPUT_FIELDS`, in order."""
    return {name: row[name] for name in OUTPUT_FIELDS}


def encode_json(row: dict[str, Any]) -> bytes:
    return json.dumps(output_view(row), ensure_ascii=False, allow_nan=False).encode("utf-8")


@lru_cache(maxsize=1)
def output_schema() -> dict[str, Any]:
    """The Avro schema of an output record (kept in the package as ``score_record.avsc``), parsed."""
    import fastavro

    text = resources.files(__package__).joinpath(SCHEMA_FILE).read_text(encoding="utf-8")
    return fastavro.parse_schema(json.loads(text))


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
