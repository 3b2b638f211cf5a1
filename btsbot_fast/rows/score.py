"""The score row, defined once: :class:`ScoreResult`, one per alert record, and the columns every output
derives from it (names, types, nullability, order).

- ``btsbot-fast score`` files (CSV, JSON Lines, Parquet): :data:`SCORE_COLUMNS`, the fields of
  :class:`ScoreResult` in order.
- the stream's output records (JSON, Avro, its files): :data:`STREAM_COLUMNS`, the streamed score columns
  with ``source`` replaced by the message's ``topic``, ``partition`` and ``offset``, then ``scored_at``;
  the per-batch hook gets :data:`HOOK_FIELDS` (those plus the columns not streamed);
  :func:`stream_avro_schema` is the records' Avro schema.
- Spark: the ``result`` columns, named ``btsbot_<name>`` (:data:`SPARK_SCORE_COLUMNS`), appended to the
  alert's; with ``result_ids``, the ``id`` and ``candidate`` columns under their own names
  (:data:`SPARK_ID_COLUMNS`).
- readers of score tables (autoscan, report): :meth:`ScoreResult.from_cells`.

Adding a column: add the field here (with its column) and compute it where the scorer fills the others
(a ``candidate`` column: ``btsbot_fast.prep.variant.ROW_INFO`` and the native reader's row info).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from functools import lru_cache
from typing import Any

from ..prep.bts import NO_CANDIDATE, describe
from ..prep.variant import ROW_INFO
from ..status import Status
from .cells import PARSERS
from .columns import Column, names


def _column(type: str, nullable: bool, role: str, doc: str = "", *, streamed: bool = True) -> Any:
    # a value read from the candidate may be unknown to whoever builds a result (None by default)
    default = {"default": None} if role == "candidate" else {}
    return field(metadata={"column": (type, nullable, role, doc, streamed)}, **default)


@dataclass(kw_only=True)
class ScoreResult:
    """The outcome for one alert record: one row of ``btsbot-fast score``'s output.

    Every alert record gets one, also a record that could not be scored (its ``status`` and ``error``
    say why). ``as_dict()`` gives the row as the output files write it.

    Attributes
    ----------
    objectId : str or None
        The alert's object id (``ZTF20aajcdad``); None when the record could not be decoded.
    candid : int or None
        The alert's candidate id, a 64-bit integer.
    jd, ra, dec, magpsf, fid : float, float, float, float, int or None
        The candidate's time (Julian date), position (J2000 degrees), PSF magnitude and filter; None
        when the record has no readable candidate.
    score : float or None
        BTSbot's probability that the alert is a bright transient; None unless ``status == "ok"``.
    precision : str or None
        The model the score came from: ``"fp32"`` (the exact model) or ``"int8"`` (``precision="fast"``,
        away from every decision threshold; btsbot_fast/precision.py); None when there is no score.
    status : str
        The outcome, a :class:`~btsbot_fast.Status` label: ``"ok"``, ``"bad_cutout"``, ...
    error : str
        Why the record was not scored; ``""`` when it was.
    bts_candidate : bool or None
        The Bright Transient Survey filter's verdict (btsbot_fast/prep/bts.py), whatever the status;
        None when a field it reads is missing.
    bts_reject : str
        The criteria the alert fails, comma-separated (``"bright,stationary"``; ``""`` when it passes),
        or ``"missing:<field>"`` when the verdict is unknown (``"missing:candidate"`` for a record
        without a readable candidate).
    model, model_version : str
        Which model scored it (``"btsbot-v1.0.1"``, ``"1.0.1"``).
    source : str
        Where the record came from: the file, ``archive.tar.gz::member.avro``, or a buffer's name.
    record_index : int
        The record's index in its file or buffer.
    """

    objectId: str | None = _column("string", True, "id")
    candid: int | None = _column("long", True, "id")
    jd: float | None = _column("double", True, "candidate")
    ra: float | None = _column("double", True, "candidate", "the candidate's right ascension (J2000, degrees)")
    dec: float | None = _column("double", True, "candidate", "the candidate's declination (J2000, degrees)")
    magpsf: float | None = _column("float", True, "candidate", streamed=False)
    fid: int | None = _column("int", True, "candidate", streamed=False)
    score: float | None = _column("float", True, "result", "probability of a bright transient")
    precision: str | None = _column("string", True, "result", "the model the score came from: fp32 (exact) or "
                                    "int8 (--precision fast, away from every decision threshold); null without "
                                    "a score")
    status: str = _column("string", False, "result", "ok, decode_error, bad_cutout, missing_cutout, empty_cutout, "
                          "missing_field, unsupported_schema, model_error")
    error: str = _column("string", False, "result")
    bts_candidate: bool | None = _column("boolean", True, "result", "the BTS candidate filter's verdict; null when "
                                         "a field it reads is missing")
    bts_reject: str = _column("string", False, "result", "the filter's failed criteria, comma-separated ('' when "
                              "it passes), or missing:<field>")
    model: str = _column("string", False, "provenance")
    model_version: str = _column("string", False, "provenance")
    source: str = _column("string", False, "provenance")
    record_index: int = _column("long", False, "provenance")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def unscored(cls, status: Status, error: str, *, model: str, model_version: str, source: str,
                 record_index: int, objectId: str | None = None, candid: int | None = None) -> ScoreResult:
        """The row of a record that was never scored: no candidate was read, so no candidate values, no
        score and no verdict."""
        values: dict[str, Any] = {c.name: None for c in SCORE_COLUMNS if c.role in ("candidate", "result")}
        values.update(objectId=objectId, candid=candid, status=status.label, error=error,
                      bts_reject=describe(NO_CANDIDATE)[1], model=model, model_version=model_version, source=source,
                      record_index=record_index)
        return cls(**values)

    @classmethod
    def from_cells(cls, row: Mapping[str, Any]) -> ScoreResult:
        """A score table's row (CSV text cells, JSON or Parquet values; absent columns are null, or ''
        for text that is never null) typed by the column definitions; ``score`` is None unless the status
        is ``ok``."""
        values = {c.name: PARSERS[c.type](row.get(c.name)) for c in SCORE_COLUMNS}
        for c in SCORE_COLUMNS:
            if values[c.name] is None and not c.nullable:
                values[c.name] = 0 if c.type in ("long", "int") else ""
        if values["status"] != "ok":
            values["score"] = None
        return cls(**values)


#: the columns of a ``btsbot-fast score`` row, in order (the fields of ScoreResult)
SCORE_COLUMNS: tuple[Column, ...] = tuple(Column(f.name, *f.metadata["column"]) for f in fields(ScoreResult))
#: the columns the scorer reads from the candidate (``prep.variant.ROW_INFO`` computes them)
CANDIDATE_FIELDS = tuple(c.name for c in SCORE_COLUMNS if c.role == "candidate")

#: where a streamed message came from; in stream records they take the place of ``source``
MESSAGE_COLUMNS = (Column("topic", "string", False, "message", "where the alert was consumed"),
                   Column("partition", "int", False, "message"),
                   Column("offset", "long", False, "message"))
SCORED_AT = Column("scored_at", "string", False, "message", "ISO-8601 UTC")


def _stream_columns() -> tuple[Column, ...]:
    out: list[Column] = []
    for c in SCORE_COLUMNS:
        if c.name == "source":
            out += MESSAGE_COLUMNS
        elif c.name == "record_index":  # within one Kafka message
            out.append(Column(c.name, "int", False, c.role, "the record's index in the message's Avro container "
                              "(0 for ZTF's one-alert messages)"))
        elif c.streamed:
            out.append(c)
    return (*out, SCORED_AT)


#: the fields of every stream output message and file row, in this order
STREAM_COLUMNS = _stream_columns()
#: what the stream's per-batch hook receives: the stream fields plus the score columns not streamed
HOOK_FIELDS = names(STREAM_COLUMNS) + tuple(c.name for c in SCORE_COLUMNS if not c.streamed)

#: Spark: the columns appended to every row (the result columns, prefixed) and, with ``result_ids``,
#: the alert's ids and candidate values as scoring read them, before them
SPARK_PREFIX = "btsbot_"
SPARK_SCORE_COLUMNS: tuple[Column, ...] = tuple(
    Column(SPARK_PREFIX + c.name, c.type, True, c.role, c.doc) for c in SCORE_COLUMNS if c.role == "result")
SPARK_ID_COLUMNS: tuple[Column, ...] = tuple(c for c in SCORE_COLUMNS if c.role in ("id", "candidate"))


@lru_cache(maxsize=1)
def stream_avro_schema() -> dict[str, Any]:
    """The Avro schema of a stream output record (a plain dict; ``fastavro.parse_schema`` it to write)."""
    return {"type": "record", "name": "score", "namespace": "btsbot_fast",
            "doc": "One BTSbot result for one ZTF alert record consumed from Kafka (btsbot-fast stream "
                   "--output-format avro). score is null unless status is ok.",
            "fields": [c.avro_field() for c in STREAM_COLUMNS]}


_CANDIDATE_COLUMNS = {c.name: c for c in SCORE_COLUMNS if c.role == "candidate"}


def candidate_values(values: Sequence[float | None]) -> dict[str, Any]:
    """The candidate columns from one row of ``Batch.info`` (values in ROW_INFO order, None for null), typed."""
    return {name: None if v is None else _CANDIDATE_COLUMNS[name].python_type(v) for name, v in zip(ROW_INFO, values)}


__all__ = ["CANDIDATE_FIELDS", "HOOK_FIELDS", "MESSAGE_COLUMNS", "SCORED_AT", "SCORE_COLUMNS", "SPARK_ID_COLUMNS",
           "SPARK_PREFIX", "SPARK_SCORE_COLUMNS", "STREAM_COLUMNS", "ScoreResult", "candidate_values",
           "stream_avro_schema"]
