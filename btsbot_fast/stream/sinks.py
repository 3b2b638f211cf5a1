"""Where the stream's rows go: a Kafka topic and/or a file, each able to say when its rows are durable.

``write(rows)`` hands over a batch's rows; ``sync(force)`` makes everything written so far durable and
returns True, or returns False when the sink defers (a Parquet part is still filling; ``force`` makes it
write). The loop commits a batch's offsets only once every sink has returned True after that batch.

File sinks append across runs, one writer at a time (the lock of btsbot_fast.output: a second stream on
the same ``-o`` stops with an error). A run killed with SIGKILL may leave a torn last line in a JSON Lines or
CSV file: reopening truncates the file to its last complete line (those rows' offsets were never
committed, so they are scored again).
"""

from __future__ import annotations

import csv
import io
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from ..messages import plural
from ..output import OutputLock, OutputLockedError, format_for, require_pyarrow
from ..rows import STREAM_COLUMNS, Column, csv_cell
from .rows import OUTPUT_FIELDS, encode_json

log = logging.getLogger("btsbot_fast.stream")

#: a Parquet part is written when it holds this many rows or its first row is this old
PARQUET_ROLL_ROWS = 10_000
PARQUET_ROLL_SECONDS = 60.0


class SinkError(RuntimeError):
    """A sink could not make rows durable (delivery failed, disk full...): offsets must not be committed."""


def _lock(path: Path) -> OutputLock:
    try:
        return OutputLock(path)
    except OutputLockedError as exc:
        raise SinkError(str(exc)) from None


class Sink(Protocol):
    def write(self, rows: list[dict[str, Any]]) -> None: ...
    def sync(self, force: bool = False) -> bool: ...
    def close(self) -> None: ...


class KafkaTopicSink:
    """Produce one message per row (key = objectId) and wait for every delivery report on ``sync``."""

    def __init__(self, producer: Any, topic: str, encode: Callable[[dict[str, Any]], bytes],
                 redact: Callable[[str], str] = str):
        self.producer = producer
        self.topic = topic
        self.encode = encode
        self.redact = redact
        self._failure: str | None = None

    def _on_delivery(self, err: Any, msg: Any) -> None:
        if err is not None and self._failure is None:
            self._failure = f"delivery to topic {self.topic!r} failed: {err}"

    def write(self, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            key = row["objectId"].encode("utf-8") if row["objectId"] else None
            value = self.encode(row)
            while True:
                try:
                    self.producer.produce(self.topic, value=value, key=key, on_delivery=self._on_delivery)
                    break
                except BufferError:  # the local queue is full: let deliveries drain it
                    self.producer.poll(0.1)

    def sync(self, force: bool = False) -> bool:
        waited = 0.0
        while (left := self.producer.flush(5.0)) > 0:
            waited += 5.0
            log.warning("waiting for the Kafka brokers to acknowledge %s (%.0f s)", plural(left, "score message"),
                        waited)
        if self._failure is not None:
            raise SinkError(self.redact(self._failure))
        return True

    def close(self) -> None:
        self.producer.flush(10.0)


def _fsync_dir(path: Path) -> None:
    """Make a new directory entry durable (a file's fsync alone does not cover its name)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some file systems cannot fsync a directory; the data itself is fsynced
        pass
    finally:
        os.close(fd)


class _LineFileSink:
    """A text file of one row per line, appended to and fsynced on every ``sync``."""

    header: bytes = b""

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)
        self._lock = _lock(self.path)  # before the torn-line repair: no other writer's line is ever cut
        created = not self.path.exists()
        try:
            self._open(created)
        except BaseException:
            self._lock.release()
            raise

    def _open(self, created: bool) -> None:
        self._fh = open(self.path, "a+b")
        self.repaired_bytes = self._repair_torn_tail()
        if self._fh.seek(0, io.SEEK_END) == 0:
            self._fh.write(self.header)
        else:
            self._check_header()
        self.sync()
        if created:
            _fsync_dir(self.path.parent)

    def _repair_torn_tail(self) -> int:
        """Truncate to the last complete line; return how many bytes were cut."""
        size = self._fh.seek(0, io.SEEK_END)
        if size == 0:
            return 0
        pos = size
        while pos > 0:  # scan backwards for the last newline, 64 KiB at a time
            start = max(0, pos - 65536)
            self._fh.seek(start)
            chunk = self._fh.read(pos - start)
            if pos == size and chunk.endswith(b"\n"):
                return 0
            nl = chunk.rfind(b"\n")
            if nl >= 0:
                keep = start + nl + 1
                break
            pos = start
        else:
            keep = 0
        self._fh.truncate(keep)
        os.fsync(self._fh.fileno())
        log.warning("%s: cut a torn last line (%d bytes) left by an interrupted run; its rows' offsets "
                    "were not committed, so they are scored again", self.path, size - keep)
        return size - keep

    def _check_header(self) -> None:
        pass

    def _line(self, row: dict[str, Any]) -> bytes:
        raise NotImplementedError

    def write(self, rows: list[dict[str, Any]]) -> None:
        self._fh.write(b"".join(self._line(row) for row in rows))

    def sync(self, force: bool = False) -> bool:
        self._fh.flush()
        os.fsync(self._fh.fileno())
        return True

    def close(self) -> None:
        try:
            if not self._fh.closed:
                self.sync()
                self._fh.close()
        finally:
            self._lock.release()


class JsonlFileSink(_LineFileSink):
    def _line(self, row: dict[str, Any]) -> bytes:
        return encode_json(row) + b"\n"


def _csv_cell(column: Column, value: Any) -> Any:
    """`btsbot-fast score`'s cell, with line breaks in text made spaces: one row per line keeps torn-line
    repair exact."""
    value = csv_cell(column, value)
    return value.replace("\r", " ").replace("\n", " ") if isinstance(value, str) else value


class CsvFileSink(_LineFileSink):
    header = (",".join(OUTPUT_FIELDS) + "\n").encode()

    def _check_header(self) -> None:
        self._fh.seek(0)
        first = self._fh.readline()
        if first != self.header:
            raise SinkError(f"{self.path} exists with other columns; choose another file "
                            f"(expected the header {self.header.decode().strip()!r})")

    def write(self, rows: list[dict[str, Any]]) -> None:
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerows([_csv_cell(c, r[c.name]) for c in STREAM_COLUMNS] for r in rows)
        self._fh.write(buf.getvalue().encode("utf-8"))


class ParquetDatasetSink:
    """A Parquet dataset directory (``scores.parquet/part-*.parquet``, read whole by pyarrow, pandas,
    Spark). A Parquet file is only readable once its footer is written, so rows gather in memory and a
    part is written when it holds ``roll_rows`` rows or ``roll_seconds`` have passed (or on shutdown);
    until then ``sync`` returns False and those offsets wait to be committed."""

    def __init__(self, path: str | os.PathLike[str], roll_rows: int = PARQUET_ROLL_ROWS,
                 roll_seconds: float = PARQUET_ROLL_SECONDS):
        try:
            require_pyarrow()
        except ValueError as exc:
            raise SinkError(str(exc)) from None
        self.path = Path(path)
        if self.path.exists() and not self.path.is_dir():
            raise SinkError(f"{self.path} is a file; the stream writes a Parquet dataset directory there "
                            "(choose a new name)")
        self.path.mkdir(parents=True, exist_ok=True)
        self._lock = _lock(self.path)
        self.roll_rows = roll_rows
        self.roll_seconds = roll_seconds
        self._columns: dict[str, list[Any]] = {c: [] for c in OUTPUT_FIELDS}
        self._since = 0.0
        self._prefix = f"part-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{os.getpid()}"
        self._seq = 0

    def write(self, rows: list[dict[str, Any]]) -> None:
        if rows and not self._held:
            self._since = time.monotonic()
        for c, values in self._columns.items():
            values.extend(r[c] for r in rows)

    @property
    def _held(self) -> int:
        return len(self._columns["candid"])

    def sync(self, force: bool = False) -> bool:
        if not self._held:
            return True
        if not force and self._held < self.roll_rows and time.monotonic() - self._since < self.roll_seconds:
            return False
        self._write_part()
        return True

    def _write_part(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.table({c.name: pa.array(self._columns[c.name], type=c.arrow_type()) for c in STREAM_COLUMNS})
        name = f"{self._prefix}-{self._seq:05d}.parquet"
        tmp = self.path / f".{name}.tmp"  # readers skip dot files
        pq.write_table(table, tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, self.path / name)
        _fsync_dir(self.path)
        self._seq += 1
        self._columns = {c: [] for c in OUTPUT_FIELDS}

    def close(self) -> None:
        try:
            self.sync(force=True)
        finally:
            self._lock.release()


def open_file_sink(path: str | os.PathLike[str]) -> Sink:
    """The sink for ``path``, its format from the suffix as for ``btsbot-fast score``."""
    fmt = format_for(path)
    if fmt == "parquet":
        return ParquetDatasetSink(path)
    return JsonlFileSink(path) if fmt == "jsonl" else CsvFileSink(path)
