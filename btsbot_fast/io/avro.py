"""Avro alert readers (fastavro); :func:`read_alerts` also dispatches ``.parquet`` files to
:mod:`btsbot_fast.io.parquet`.

A *buffer* is the bytes of one Avro Object Container File: a ``.avro`` file, a member of a night's
``.tar.gz``, or a Kafka message value. Each buffer yields one :class:`AlertRecord` per record it holds;
a buffer that cannot be decoded (or stops decoding part-way) yields one error record naming the source,
so the run goes on and nothing is silently dropped.
"""

from __future__ import annotations

import io
import os
import tarfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fastavro

from ..status import Status

#: file names a directory walk picks up (everything else in a directory is ignored)
ALERT_SUFFIXES = (".avro",)
ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz")

#: writer-schema names of alert packets this scorer knows are not ZTF alerts
_FOREIGN_SCHEMA_PREFIXES = ("zuds.", "lsst.")

_AVRO_MAGIC = b"Obj\x01"


@dataclass
class AlertRecord:
    """One alert record (or the failure to read one) from a source."""

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


def _is_archive(name: str) -> bool:
    return name.lower().endswith(ARCHIVE_SUFFIXES)


def expand_paths(paths: Iterable[str | os.PathLike[str]], parquet: bool = True) -> Iterator[Path]:
    """Files as given; directories walked recursively (sorted) for ``.avro`` files, tar archives and
    (``parquet=True``) ``.parquet`` files that hold alert columns (catalogue and light-curve tables in a
    walk are passed over like any other non-alert file; a Parquet file named explicitly is always read)."""
    from .parquet import holds_alert_columns, is_parquet

    for p in paths:
        path = Path(p)
        if path.is_dir():
            for root, dirs, files in os.walk(path):
                dirs.sort()
                for name in sorted(files):
                    if name.lower().endswith(ALERT_SUFFIXES) or _is_archive(name):
                        yield Path(root) / name
                    elif parquet and is_parquet(name) and holds_alert_columns(Path(root) / name):
                        yield Path(root) / name
        else:
            yield path


def iter_buffers(paths: Iterable[str | os.PathLike[str]]) -> Iterator[tuple[str, bytes | Exception]]:
    """Yield ``(source, bytes)`` per alert file or archive member, or ``(source, error)`` for a file
    that cannot be read. Archives are read as streams, never extracted to disk. Avro only: Parquet
    files (walked or named) are skipped here; :func:`read_alerts` reads them with
    :func:`~btsbot_fast.io.parquet.records_from_parquet`."""
    from .parquet import is_parquet

    for path in expand_paths(paths, parquet=False):
        if is_parquet(path.name):
            continue
        source = str(path)
        if _is_archive(path.name):
            yield from _iter_archive(path)
            continue
        try:
            yield source, path.read_bytes()
        except OSError as exc:
            yield source, exc


def _iter_archive(path: Path) -> Iterator[tuple[str, bytes | Exception]]:
    source = str(path)
    try:
        # "r|*": a forward-only stream with transparent gzip; members are read in archive order
        with tarfile.open(source, mode="r|*") as tar:
            for member in tar:
                if not member.isfile() or not member.name.lower().endswith(ALERT_SUFFIXES):
                    continue
                fh = tar.extractfile(member)
                name = f"{source}::{member.name}"
                if fh is None:
                    yield name, OSError("unreadable archive member")
                    continue
                yield name, fh.read()
    except (tarfile.TarError, OSError, EOFError) as exc:
        yield source, ValueError(f"corrupt archive: {exc}")


def _schema_name(schema: Any) -> str:
    if isinstance(schema, dict):
        return str(schema.get("name", ""))
    if isinstance(schema, list):  # a union of named types; the alert is the last one by convention
        names = [s.get("name", "") for s in schema if isinstance(s, dict)]
        return names[-1] if names else ""
    return str(schema)


def _candid_of(record: dict[str, Any]) -> int | None:
    candid = record.get("candid")
    if candid is None:  # Spark/Fink files often keep candid only inside the candidate
        cand = record.get("candidate")
        if isinstance(cand, dict):
            candid = cand.get("candid")
    return int(candid) if candid is not None else None


def records_from_buffer(source: str, data: bytes | Exception) -> Iterator[AlertRecord]:
    """Decode one OCF buffer into alert records; failures become error records."""
    if isinstance(data, Exception):
        yield AlertRecord(source, 0, None, None, None, Status.DECODE_ERROR, f"cannot read file: {data}")
        return
    if not data.startswith(_AVRO_MAGIC):
        what = "empty file" if not data else "not an Avro object container file (bad magic)"
        yield AlertRecord(source, 0, None, None, None, Status.DECODE_ERROR, what)
        return
    index = 0
    try:
        # block_reader yields a block only after its sync marker checked out, so records of a block
        # that is followed by garbage are never trusted (a record reader would yield them first)
        for block in fastavro.block_reader(io.BytesIO(data)):
            name = _schema_name(block.writer_schema)
            foreign = name.lower().startswith(_FOREIGN_SCHEMA_PREFIXES)
            for record in block:
                yield _to_alert_record(source, index, record, name, foreign)
                index += 1
    except Exception as exc:  # fastavro raises many types on corrupt input; each becomes one row
        detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        where = f" after {index} record(s)" if index else ""
        yield AlertRecord(source, index, None, None, None, Status.DECODE_ERROR,
                          f"corrupt Avro data{where}: {detail}")


def _to_alert_record(source: str, index: int, record: Any, schema_name: str, foreign: bool) -> AlertRecord:
    if not isinstance(record, dict):
        return AlertRecord(source, index, None, None, None, Status.DECODE_ERROR, "record is not an Avro record")
    objectId, candid = record.get("objectId"), _candid_of(record)
    if foreign:
        return AlertRecord(source, index, objectId, candid, None, Status.UNSUPPORTED_SCHEMA,
                           f"schema {schema_name!r} is not a ZTF alert (BTSbot scores ZTF alerts)")
    return AlertRecord(source, index, objectId, candid, record)


def read_alerts(paths: Iterable[str | os.PathLike[str]]) -> Iterator[AlertRecord]:
    """All alert records from files, directories, archives and Parquet tables, in a stable order."""
    from .parquet import is_parquet, records_from_parquet

    for path in expand_paths(paths):
        if is_parquet(path.name):
            yield from records_from_parquet(path)
            continue
        for source, data in iter_buffers([path]):
            yield from records_from_buffer(source, data)
