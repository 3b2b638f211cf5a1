"""Autoscan inputs: what ``score`` takes (alert files, directories, tar nights, Parquet alert tables),
scored by the project's :class:`~btsbot_fast.scorer.Scorer`, plus score tables written by ``score``
(CSV, JSON Lines, Parquet), read as they are.

A path named on the command line is a score table when it is a ``.csv``/``.jsonl``/``.ndjson`` file, or
a ``.parquet``/``.pq`` file with a ``score`` column and no alert columns (the suffixes ``score -o`` writes:
:func:`~btsbot_fast.output.format_for`). Directories are walked by the Scorer
(score tables inside them are not picked up). Inputs are read in the order given; consecutive alert
inputs are scored in one Scorer pass.
"""

from __future__ import annotations

import csv
import itertools
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ..io.parquet import holds_alert_columns
from ..output import format_for

#: the columns autoscan needs from a score table (``score`` writes them all, with status and more)
NEEDED_COLUMNS = ("objectId", "candid", "jd", "magpsf", "fid", "score", "status")
#: the BTS candidate filter's verdict: needed with ``--candidates bts``
VERDICT_COLUMN = "bts_candidate"
#: used when present: the candidate's position (SkyPortal needs it to save an object it does not know) and
#: the model, named in the trail
OPTIONAL_COLUMNS = (VERDICT_COLUMN, "ra", "dec", "model", "model_version")


class InputError(ValueError):
    """A score table autoscan cannot use (the message names the file and the problem)."""


def _table_format(path: Path) -> str | None:
    """The score writer's format for this suffix (csv, jsonl, parquet), None for any other file."""
    try:
        return format_for(path)
    except ValueError:
        return None


def is_score_table(path: str | os.PathLike[str]) -> bool:
    p = Path(path)
    if p.is_dir():
        return False
    fmt = _table_format(p)
    if fmt != "parquet":
        return fmt is not None
    # alert columns, or no pyarrow / an unreadable file (holds_alert_columns cannot tell): the Scorer
    # reads it as an alert input and reports its problem. Else the schema is readable: a score column?
    if holds_alert_columns(p):
        return False
    import pyarrow.parquet as pq

    return "score" in pq.read_schema(p).names


def _check_columns(path: Path, columns: list[str] | None, candidates: str) -> None:
    missing = [c for c in NEEDED_COLUMNS if c not in (columns or [])]
    if missing:
        older = set(missing) <= {"jd", "magpsf", "fid"}
        hint = " (written by an older btsbot-fast: score the alerts again)" if older else ""
        raise InputError(f"{path}: a score table needs the columns {', '.join(NEEDED_COLUMNS)}; "
                         f"missing {', '.join(missing)}{hint}")
    if candidates == "bts" and VERDICT_COLUMN not in columns:
        raise InputError(f"{path}: no {VERDICT_COLUMN} column (written before btsbot-fast had the BTS candidate "
                         "filter): score the alerts again, or decide on every source with --candidates all")


def read_score_table(path: str | os.PathLike[str], candidates: str = "bts") -> Iterator[dict[str, Any]]:
    """The rows of a ``btsbot-fast score`` output (values as written: strings for CSV); with
    ``candidates="bts"`` the table must have the ``bts_candidate`` column."""
    path = Path(path)
    fmt = _table_format(path)
    if fmt == "csv":
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            _check_columns(path, reader.fieldnames, candidates)
            yield from reader
    elif fmt == "parquet":
        import pyarrow.parquet as pq

        f = pq.ParquetFile(path)
        names = f.schema_arrow.names
        _check_columns(path, names, candidates)
        columns = [*NEEDED_COLUMNS, *(c for c in OPTIONAL_COLUMNS if c in names)]
        for batch in f.iter_batches(batch_size=4096, columns=columns):
            yield from batch.to_pylist()
    else:
        with open(path, encoding="utf-8") as fh:
            checked = False
            for n, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise InputError(f"{path}:{n}: not a JSON line ({exc.msg})") from None
                if not isinstance(row, dict):
                    raise InputError(f"{path}:{n}: not a JSON object")
                if not checked:
                    _check_columns(path, list(row), candidates)
                    checked = True
                yield row


def result_rows(paths: list[Path], scorer: Callable[[], Any], candidates: str = "bts") -> Iterator[dict[str, Any]]:
    """Result rows for every input in order; ``scorer()`` builds the Scorer on first need."""
    for table, group in itertools.groupby(paths, key=is_score_table):
        group = list(group)
        if table:
            for p in group:
                yield from read_score_table(p, candidates)
        else:
            for result in scorer().score_files(group):
                yield result.as_dict()


def batched(rows: Iterator[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    while True:
        chunk = list(itertools.islice(rows, size))
        if not chunk:
            return
        yield chunk


__all__ = ["InputError", "batched", "is_score_table", "read_score_table", "result_rows"]
