"""Result writers: CSV, JSON Lines, Parquet. One row per alert record, candid as int64.

Files are written to a temporary name beside the target and renamed into place only when the run
completes, so an existing file is never left half-overwritten. If the run dies, the rows written so far
are kept as ``<target>.partial`` (CSV/JSONL) for inspection. Files get the ordinary permissions a new file
gets (0666 less the umask), not the private ones of a temporary file.

One writer per output: a writer holds an exclusive ``flock`` on ``.<name>.lock`` beside the output (kept
as an empty file) while it writes, so a second ``score -o`` or ``stream -o`` on the same path stops with
a clear error instead of interleaving rows (or, for the stream's torn-line repair, cutting another
writer's line). The lock is the kernel's: it goes with the process, however it ends.
"""

from __future__ import annotations

import csv
import fcntl
import io
import json
import os
import secrets
import sys
from pathlib import Path
from typing import IO, Any

from .messages import install_hint
from .rows import SCORE_COLUMNS, csv_cell

#: the columns of every row, in order (btsbot_fast.rows: the fields of ScoreResult)
COLUMNS = tuple(c.name for c in SCORE_COLUMNS)
FORMATS = ("csv", "jsonl", "parquet")


def format_for(path: str | os.PathLike[str] | None, fmt: str | None = None) -> str:
    if fmt:
        if fmt not in FORMATS:
            raise ValueError(f"unknown output format {fmt!r}; choose one of {', '.join(FORMATS)}")
        return fmt
    if path is None:
        return "csv"
    suffix = Path(path).suffix.lower()
    known = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet", ".pq": "parquet"}
    if suffix not in known:
        raise ValueError(f"cannot tell the output format from {str(path)!r}; use .csv, .jsonl or .parquet")
    return known[suffix]


def require_pyarrow() -> None:
    """Parquet output needs pyarrow (the [parquet] extra): a ValueError saying how to install it."""
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise ValueError("parquet output needs pyarrow: " + install_hint("parquet")) from None


class OutputLockedError(OSError):
    """Another process is writing this output."""


class OutputLock:
    """An exclusive ``flock`` on ``.<name>.lock`` beside ``path``, held until :meth:`release`."""

    def __init__(self, path: str | os.PathLike[str]):
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        self.path = target.with_name(f".{target.name}.lock")
        self._fd: int | None = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._fd)
            self._fd = None
            raise OutputLockedError(f"{target} is being written by another process (it holds {self.path}); "
                                    "give each run its own output") from None

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the flock
            self._fd = None


def _new_temp_file(target: Path) -> tuple[int, Path]:
    """Create a fresh file beside ``target`` (mode 0666 less the umask, unlike ``mkstemp``'s 0600)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(100):
        tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"cannot create a temporary file beside {target}")


class ResultWriter:
    """Context manager: ``with ResultWriter(path) as w: w.write(row_dict)``."""

    def __init__(self, path: str | os.PathLike[str] | None, fmt: str | None = None):
        self.path = None if path is None or str(path) == "-" else Path(path)
        self.format = format_for(self.path, fmt)
        if self.path is None and self.format == "parquet":
            raise ValueError("parquet output needs a file path (-o out.parquet)")
        if self.format == "parquet":
            require_pyarrow()
        self.rows_written = 0
        self._tmp: Path | None = None
        self._fh: IO[str] | None = None
        self._csv: Any = None
        self._parquet_rows: dict[str, list[Any]] | None = None
        self._lock: OutputLock | None = None

    def __enter__(self) -> ResultWriter:
        if self.path is not None:
            self._lock = OutputLock(self.path)
        if self.format == "parquet":
            self._parquet_rows = {c: [] for c in COLUMNS}
        if self.path is None:
            self._fh = sys.stdout
        elif self.format != "parquet":
            fd, self._tmp = _new_temp_file(self.path)
            self._fh = io.open(fd, "w", newline="", encoding="utf-8")
        if self.format == "csv":
            self._csv = csv.writer(self._fh, lineterminator="\n")
            self._csv.writerow(COLUMNS)
        return self

    def write(self, row: dict[str, Any]) -> None:
        if self.format == "csv":
            self._csv.writerow([csv_cell(c, row[c.name]) for c in SCORE_COLUMNS])
        elif self.format == "jsonl":
            self._fh.write(json.dumps({c: row[c] for c in COLUMNS}) + "\n")
        else:
            for c in COLUMNS:
                self._parquet_rows[c].append(row[c])
        self.rows_written += 1

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            self._finish(exc_type)
        finally:
            if self._lock is not None:
                self._lock.release()

    def _finish(self, exc_type) -> None:
        if self.path is None:
            self._fh.flush()
            return
        if self.format == "parquet":
            if exc_type is None:
                self._write_parquet()
            return
        self._fh.close()
        if exc_type is None:
            os.replace(self._tmp, self.path)
        elif self.rows_written:
            os.replace(self._tmp, self.path.with_name(self.path.name + ".partial"))
        else:
            self._tmp.unlink(missing_ok=True)

    def _write_parquet(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.table({c.name: pa.array(self._parquet_rows[c.name], type=c.arrow_type()) for c in SCORE_COLUMNS})
        fd, tmp = _new_temp_file(self.path)
        os.close(fd)  # pyarrow rewrites the file in place; it keeps the mode it was created with
        try:
            pq.write_table(table, tmp)
            os.replace(tmp, self.path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
