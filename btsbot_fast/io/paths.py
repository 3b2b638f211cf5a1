"""What the paths on a command line hold: files as given, directories walked, and the buffers of the
fastavro path (files read, tar archive members streamed by the native archive reader).

Classification happens once, here: every input becomes ``(kind, path)`` with kind ``avro`` (an Avro file:
read as one OCF buffer), ``archive`` (a ``.tar``/``.tar.gz``/``.tgz`` night, read as a stream, never
extracted) or ``parquet`` (a Parquet alert table). The readers consume that stream; none of them looks at
suffixes again.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from .parquet import holds_alert_columns

AVRO, ARCHIVE, PARQUET = "avro", "archive", "parquet"

#: file names a directory walk picks up (everything else in a directory is ignored)
ALERT_SUFFIXES = (".avro",)
ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz")
PARQUET_SUFFIXES = (".parquet",)


def kind_of(name: str) -> str | None:
    """The kind a file name says it holds (None: not an alert file)."""
    low = name.lower()
    if low.endswith(ALERT_SUFFIXES):
        return AVRO
    if low.endswith(ARCHIVE_SUFFIXES):
        return ARCHIVE
    if low.endswith(PARQUET_SUFFIXES):
        return PARQUET
    return None


def expand_paths(paths: Iterable[str | os.PathLike[str]]) -> Iterator[tuple[str, str]]:
    """``(kind, path)`` for every input: files as given (read as Avro unless their name says archive or
    Parquet), directories walked recursively in sorted order for ``.avro`` files, archives and Parquet
    files that hold alert columns (catalogue and light-curve tables in a walk are passed over like any
    other non-alert file; a Parquet file named explicitly is always read)."""
    for p in paths:
        top = str(Path(p))
        if not os.path.isdir(top):
            yield kind_of(top) or AVRO, top
            continue
        for root, dirs, files in os.walk(top):
            dirs.sort()
            files.sort()
            for name in files:
                kind = kind_of(name)
                if kind is None:
                    continue
                path = os.path.join(root, name)
                if kind != PARQUET or holds_alert_columns(path):
                    yield kind, path


def archive_buffers(path: str) -> Iterator[tuple[str, bytes | Exception]]:
    """``(source, bytes)`` per alert member of a tar archive (``archive::member``), in archive order, or
    ``(source, error)`` for a member that cannot be read (a link, a device; the archive itself when it is
    damaged). Read by the native archive reader (csrc/archive.hpp): hard links are followed."""
    from .. import _core

    for name, data, error in _core.ArchiveMembers(path, path):
        yield name, (data if data is not None else OSError(error))


def read_file(path: str) -> bytes | OSError:
    """A file's bytes, or the OSError that says why it cannot be read."""
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError as exc:
        return exc


def iter_buffers(paths: Iterable[str | os.PathLike[str]]) -> Iterator[tuple[str, bytes | Exception]]:
    """``(source, bytes | error)`` per Avro file and archive member under ``paths`` (Parquet files are
    not Avro buffers: :func:`btsbot_fast.io.read_alerts` reads them)."""
    for kind, path in expand_paths(paths):
        if kind == ARCHIVE:
            yield from archive_buffers(path)
        elif kind == AVRO:
            yield path, read_file(path)


__all__ = ["ALERT_SUFFIXES", "ARCHIVE", "ARCHIVE_SUFFIXES", "AVRO", "PARQUET", "PARQUET_SUFFIXES", "archive_buffers",
           "expand_paths", "iter_buffers", "kind_of", "read_file"]
