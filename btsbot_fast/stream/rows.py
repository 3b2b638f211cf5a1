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

from ..scorer import ScoreResult
from ..status import Status

#: fields of every output message and file row, in this order
OUTPUT_FIELDS = ("objectId", "candid", "jd", "score", "precision", "status", "error", "model", "model_version",
                 "topic", "partition", "offset", "record_index", "scored_at")
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
        "precision": result.precision, "status": result.status, "error": result.error, "model": result.model,
        "model_version": result.model_version, "topic": topic, "partition": partition, "offset": offset,
        "record_index": result.record_index, "scored_at": scored_at, "magpsf": result.magpsf, "fid": result.fid,
    }


def empty_message_row(model: str, model_version: str, topic: str, partition: int, offset: int,
                      scored_at: str, reason: str) -> dict[str, Any]:
    """The row for a message that holds no alert record at all (e.g. an Avro container with no records):
    its offset still gets an answer."""
    return {
        "objectId": None, "candid": None, "jd": None, "score": None, "precision": None,
        "status": Status.DECODE_ERROR.label,
        "error": reason, "model": model, "model_version": model_version, "topic": topic,
        "partition": partition, "offset": offset, "record_index": 0, "scored_at": scored_at,
        "magpsf": None, "fid": None,
    }


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
