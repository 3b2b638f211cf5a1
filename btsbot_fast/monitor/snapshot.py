"""The autoscan state as the monitor reads it: read-only, never in a running stream's way.

* SQLite: opened ``?mode=ro`` (a URI): the file is never written and no lock file is taken, so it is read
  while ``stream --autoscan`` or ``autoscan`` holds it. In WAL mode (what autoscan sets) readers and the
  writer do not wait for each other; the reads are one short read transaction (one consistent snapshot).
* PostgreSQL: autocommit, ``default_transaction_read_only`` on: every SELECT is its own read-only
  transaction, holding no row lock, no advisory lock and nothing past its own statement.

Only what the monitor needs is read: every decision, every BTS candidate, the brightest magnitude of those
sources, and the actions per policy and state.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..autoscan.state import (
    POSTGRES_INSTALL_HINT,
    SCHEMA_VERSION,
    DecisionRow,
    StateError,
    is_postgres_location,
    safe_url,
)

_IN_CHUNK = 500


@dataclass
class Snapshot:
    location: str  # fit for messages (no password)
    decisions: list[DecisionRow]
    #: object_id -> (jd, recorded_at) of the source's first BTS-candidate alert
    candidates: dict[str, tuple[float, float]]
    #: object_id -> brightest magpsf among the state's alerts of that source (decided and candidate sources)
    brightest: dict[str, float]
    #: (policy, state) -> actions
    actions: dict[tuple[str, str], int] = field(default_factory=dict)

    @property
    def policies(self) -> list[str]:
        return sorted({d.policy for d in self.decisions} | {p for p, _ in self.actions})


def _tables(execute: Any, postgres: bool) -> set[str]:
    if postgres:
        sql = "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
    else:
        sql = "SELECT name FROM sqlite_master WHERE type = 'table'"
    return {r[0] for r in execute(sql).fetchall()}


def _read(execute: Any, postgres: bool, where: str) -> Snapshot:
    tables = _tables(execute, postgres)
    if "decisions" not in tables:
        raise StateError(f"{where} is not an autoscan state (no decisions table)")
    if "meta" in tables:
        row = execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        if row is not None and row[0] != SCHEMA_VERSION:
            raise StateError(f"state schema version {row[0]} is not the {SCHEMA_VERSION} this btsbot-fast reads")
    decisions = [DecisionRow(r[0], r[1], int(r[2]), float(r[3]), float(r[4]), None if r[5] is None else float(r[5]),
                             float(r[6]), bool(r[7]))
                 for r in execute("SELECT object_id, policy, candid, jd, score, magpsf, decided_at, live "
                                  "FROM decisions ORDER BY decided_at, object_id, policy").fetchall()]
    candidates: dict[str, tuple[float, float]] = {}
    if "candidates" in tables:  # states made before candidates were recorded have none
        candidates = {r[0]: (float(r[1]), float(r[2]))
                      for r in execute("SELECT object_id, jd, recorded_at FROM candidates").fetchall()}
    actions: dict[tuple[str, str], int] = {}
    if "actions" in tables:
        actions = {(p, s): int(n) for p, s, n in
                   execute("SELECT policy, state, COUNT(*) FROM actions GROUP BY policy, state").fetchall()}
    wanted = sorted({d.object_id for d in decisions} | set(candidates))
    brightest: dict[str, float] = {}
    sql = "SELECT object_id, MIN(magpsf) FROM alerts WHERE magpsf IS NOT NULL AND {in} GROUP BY object_id"
    for fragment, params in _in(wanted, postgres):
        for oid, mag in execute(sql.replace("{in}", fragment), params).fetchall():
            brightest[oid] = float(mag)
    return Snapshot(where, decisions, candidates, brightest, actions)


def _in(values: Sequence[str], postgres: bool) -> list[tuple[str, list[Any]]]:
    if not values:
        return []
    if postgres:
        return [("object_id = ANY(%s)", [list(values)])]
    return [(f"object_id IN ({', '.join('?' * len(chunk))})", list(chunk))
            for chunk in (values[i:i + _IN_CHUNK] for i in range(0, len(values), _IN_CHUNK))]


def read_snapshot(location: str | os.PathLike[str]) -> Snapshot:
    """Everything the monitor needs from an autoscan state, read without writing or locking anything."""
    text = os.fspath(location)
    where = safe_url(text)
    if is_postgres_location(text):
        try:
            import psycopg
        except ImportError as exc:
            raise ImportError(POSTGRES_INSTALL_HINT) from exc
        try:
            with psycopg.connect(text, autocommit=True) as db:
                db.execute("SET default_transaction_read_only = on")
                return _read(lambda sql, params=(): db.execute(sql, params), True, where)
        except psycopg.Error as exc:
            line = str(exc).strip().splitlines()
            raise StateError(f"cannot read the state {where}: {type(exc).__name__}: {line[0] if line else ''}") \
                from None
    if "://" in text:
        raise StateError(f"unknown state location {where!r}: give a file, a postgresql:// URL or a libpq "
                         "connection string")
    path = Path(text)
    if not path.is_file():
        raise StateError(f"no autoscan state at {path}")
    try:
        db = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True, timeout=10)
    except sqlite3.Error as exc:
        raise StateError(f"cannot open the state {path}: {exc}") from None
    try:
        db.execute("BEGIN")  # one read snapshot for every SELECT (WAL: the writer goes on meanwhile)
        return _read(db.execute, False, where)
    except sqlite3.DatabaseError as exc:
        raise StateError(f"cannot read the state {path}: {exc}") from None
    finally:
        db.close()


__all__ = ["Snapshot", "read_snapshot"]
