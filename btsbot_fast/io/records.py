"""Alert records and the words of reader-level outcomes, defined once for every reader.

An :class:`AlertRecord` is one record of a source (a file, an archive member, a Kafka message value, a
Parquet row) or the failure to read one. The messages below are the only place reader-level outcomes are
worded: the fastavro and Parquet readers use them directly, and the native reader (csrc/avro/reader.hpp)
reports facts (a reason and a detail) that btsbot_fast/prep/native_avro.py words with them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..messages import plural
from ..status import Status

#: writer-schema names of alert packets this scorer knows are not ZTF alerts
FOREIGN_SCHEMA_PREFIXES = ("zuds.", "lsst.")

EMPTY_FILE = "empty file"
BAD_MAGIC = "not an Avro object container file (bad magic)"
NOT_A_RECORD = "record is not an Avro record"


@dataclass
class AlertRecord:
    """One alert record (or the failure to read one) from a source. ``record`` is the decoded alert as
    fastavro gives it, or None where the record was read natively (its fields went straight to C++)."""

    source: str
    index: int
    objectId: str | None
    candid: int | None
    record: dict[str, Any] | None
    status: Status = Status.OK
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.status == Status.OK


def error_record(source: str, index: int, message: str, status: Status = Status.DECODE_ERROR) -> AlertRecord:
    return AlertRecord(source, index, None, None, None, status, message)


def corrupt_avro(index: int, detail: str) -> str:
    """A source whose Avro data breaks at record ``index``."""
    where = f" after {plural(index, 'record')}" if index else ""
    return f"corrupt Avro data{where}: {detail}"


def corrupt_parquet(index: int, detail: str) -> str:
    where = f" after {plural(index, 'row')}" if index else ""
    return f"corrupt Parquet data{where}: {detail}"


def cannot_read(detail: Any) -> str:
    """A file, archive or archive member that cannot be read (``detail``: an OSError or its text)."""
    return f"cannot read file: {detail}"


def exception_detail(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def checked_ids(objectId: Any, candid: Any) -> tuple[str | None, int | None, str]:
    """A record's ``objectId`` and ``candid`` as the rows carry them (a string, a 64-bit integer), and why
    not ('' when both are usable): a schema that types them otherwise (a numeric objectId, a double or
    string candid) makes the record UNSUPPORTED_SCHEMA, never a row no sink can write."""
    problems = []
    if objectId is not None and not isinstance(objectId, str):
        problems.append(f"objectId is {type(objectId).__name__} {objectId!r:.40}, expected a string")
        objectId = None
    if candid is not None and (isinstance(candid, bool) or not isinstance(candid, int)
                               or not -(1 << 63) <= candid < 1 << 63):
        problems.append(f"candid is {type(candid).__name__} {candid!r:.40}, expected a 64-bit integer")
        candid = None
    return objectId, candid, "; ".join(problems)


def schema_name(schema: Any) -> str:
    """A writer schema's full name (Avro "Names": namespace + name); for a top-level union of named
    types, the last one's (the alert comes last by convention)."""
    if isinstance(schema, dict):
        name = schema.get("name", "")
        if isinstance(name, str) and name and "." not in name and isinstance(schema.get("namespace"), str) \
                and schema["namespace"]:
            return f"{schema['namespace']}.{name}"
        return str(name)
    if isinstance(schema, list):
        names = [schema_name(s) for s in schema if isinstance(s, dict)]
        return names[-1] if names else ""
    return str(schema)


def is_foreign(name: str) -> bool:
    """Whether a schema name is a known non-ZTF alert (its rows are UNSUPPORTED_SCHEMA)."""
    return name.lower().startswith(FOREIGN_SCHEMA_PREFIXES)


def unsupported_schema(name: str) -> str:
    return f"schema {name!r} is not a ZTF alert (BTSbot scores ZTF alerts)"


__all__ = [
    "BAD_MAGIC", "EMPTY_FILE", "FOREIGN_SCHEMA_PREFIXES", "NOT_A_RECORD", "AlertRecord", "cannot_read", "checked_ids",
    "corrupt_avro", "corrupt_parquet", "error_record", "exception_detail", "is_foreign", "schema_name",
    "unsupported_schema",
]
