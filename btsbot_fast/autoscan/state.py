"""The autoscan state: per-source alert history, decisions, actions (intent and outcome), dead letters.

Two stores share one schema and one set of SQL statements:

* :class:`SQLiteStore` (default, ``--state FILE``): an embedded database in WAL mode with
  ``synchronous=FULL`` (a committed intent survives a power cut). One process at a time: the store holds
  an exclusive lock on ``FILE.lock`` while open, so an action found half-sent at start-up belongs to a
  process that has died and is resumed.
* :class:`PostgresStore` (``--state postgresql://...`` or a libpq ``host=... dbname=...`` string, the
  ``[postgres]`` extra, psycopg 3) for several workers. Ingesting a batch locks its sources' rows
  (``SELECT ... FOR UPDATE``, in a sorted order), so two workers never judge the same source on
  different halves of its history; sending an action holds a
  session-level advisory lock on the action's id (two-key form, under the fixed project key
  :data:`ADVISORY_NAMESPACE`), released by the server when the worker's connection dies - TCP keepalives
  (:data:`PG_KEEPALIVES`, set on both ends of the connection) make a vanished host's connection die
  within about a minute - so a live worker's send is never duplicated and a dead worker's is resumed.

Tables: ``alerts`` (one row per candid: the same alert seen twice changes nothing, except that a row
recorded without a score gets one if the alert is later scored), ``sources``, ``candidates`` (a source's
first scored alert, in jd order, that passed the BTS candidate filter: replaced only by an earlier one
arriving late; added to states made before it, by ``CREATE TABLE IF NOT EXISTS``), ``decisions`` (one
per source and policy, never changed), ``actions`` (one per source and action key, in one of
:data:`ACTION_STATES`: ``pending`` -> ``sending`` -> ``done`` | ``failed``; :meth:`Store.action_counts`
counts them; an open action's ``result`` holds its progress: a follow-up's ``post_sent_at``, committed
before its POST goes out), ``dead_letters`` (one row per failed action, for a person to look at), ``meta``
(the schema version; :data:`TOKEN_REFUSED_KEY` while SkyPortal refuses the token).

With ``dry_run=True`` the run sees its own writes and the state is left as it was: SQLite keeps them in
one transaction rolled back on close (the file serves one process anyway; a state that does not exist is
not created - the run works in memory - and a lock file the run made is removed); PostgreSQL reads the shared
state without locking anything and writes into a private in-memory copy of the rows it touches
(:class:`PostgresDryRunStore`), so live workers never wait on a dry run.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import sqlite3
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ..messages import install_hint

SCHEMA_VERSION = "1"
#: the ``meta`` note that SkyPortal refused the token (the time, ISO UTC), set and cleared by the sender
TOKEN_REFUSED_KEY = "skyportal_token_refused_at"
POSTGRES_INSTALL_HINT = "a PostgreSQL state needs psycopg 3: " + install_hint("postgres")
#: SQLite's limit on bound parameters is 999 on old builds: membership tests go in chunks of this size
_IN_CHUNK = 500

# Portable SQL: {id} and {float} are filled per dialect; '?' placeholders (PostgreSQL: %s).
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sources (
  object_id TEXT PRIMARY KEY,
  first_seen {float} NOT NULL);
CREATE TABLE IF NOT EXISTS alerts (
  candid BIGINT PRIMARY KEY,
  object_id TEXT NOT NULL,
  jd {float}, score {float}, magpsf {float}, fid INTEGER,
  status TEXT NOT NULL,
  seen_at {float} NOT NULL,
  ra {float}, dec {float}, model TEXT);
CREATE INDEX IF NOT EXISTS alerts_by_object ON alerts (object_id, jd);
CREATE TABLE IF NOT EXISTS candidates (
  object_id TEXT PRIMARY KEY,
  candid BIGINT NOT NULL, jd {float} NOT NULL,
  recorded_at {float} NOT NULL);
CREATE TABLE IF NOT EXISTS decisions (
  object_id TEXT NOT NULL,
  policy TEXT NOT NULL,
  candid BIGINT NOT NULL, jd {float} NOT NULL, score {float} NOT NULL, magpsf {float},
  decided_at {float} NOT NULL,
  live INTEGER NOT NULL,
  PRIMARY KEY (object_id, policy));
CREATE TABLE IF NOT EXISTS actions (
  id {id},
  object_id TEXT NOT NULL,
  policy TEXT NOT NULL,
  kind TEXT NOT NULL,
  action_key TEXT NOT NULL,
  request TEXT NOT NULL,
  state TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  http_status INTEGER, result TEXT, error TEXT,
  created_at {float} NOT NULL, sent_at {float}, finished_at {float},
  UNIQUE (object_id, action_key));
CREATE INDEX IF NOT EXISTS actions_by_state ON actions (state);
CREATE TABLE IF NOT EXISTS dead_letters (
  id {id},
  action_id BIGINT NOT NULL,
  object_id TEXT NOT NULL,
  kind TEXT NOT NULL,
  request TEXT NOT NULL,
  http_status INTEGER,
  error TEXT NOT NULL,
  created_at {float} NOT NULL);
"""

#: an action's states: ``pending`` (intent recorded; not tried yet, or its tries met only failures that may
#: pass - SkyPortal down, a refused token - or it waits, e.g. for a follow-up whose answer was lost to
#: appear), ``sending`` (a try went out and has no recorded outcome yet: in flight, between retries, or its
#: process died), ``done`` (SkyPortal answered success: saved, requested, found existing, updated, or
#: ignored by a constraint), ``failed`` (dead-lettered: a permanent refusal, with its reason)
ACTION_STATES = ("pending", "sending", "done", "failed")
#: an action not finished: queued, or sent with no recorded outcome
OPEN_STATES = ("pending", "sending")
_OPEN_SQL = "state IN ({})".format(", ".join(f"'{s}'" for s in OPEN_STATES))


def _decision_counts(execute: Any) -> dict[str, int]:
    """``policy -> decisions``, through ``execute`` of a store or of a connection of its own (metrics)."""
    return {p: int(n) for p, n in execute("SELECT policy, COUNT(*) FROM decisions GROUP BY policy").fetchall()}


def _action_counts(execute: Any) -> dict[tuple[str, str], int]:
    """``(kind, state) -> actions``, through ``execute`` of a store or of a connection of its own."""
    rows = execute("SELECT kind, state, COUNT(*) FROM actions GROUP BY kind, state").fetchall()
    return {(k, s): int(n) for k, s, n in rows}


class StateError(RuntimeError):
    """The state cannot be opened or used (locked by another process, unreachable, wrong version)."""


@dataclass(frozen=True)
class AlertRow:
    """One scored (or failed) alert as the state keeps it."""

    object_id: str
    candid: int
    jd: float | None
    score: float | None
    magpsf: float | None
    fid: int | None
    status: str
    bts_candidate: bool | None = None  # the BTS candidate filter's verdict (None: unknown)
    ra: float | None = None
    dec: float | None = None
    model: str | None = None  # "name version" of the model that scored it


@dataclass(frozen=True)
class DecisionRow:
    object_id: str
    policy: str
    candid: int
    jd: float
    score: float
    magpsf: float | None
    decided_at: float
    live: bool


@dataclass(frozen=True)
class ActionRow:
    id: int
    object_id: str
    policy: str
    kind: str
    key: str
    request: dict[str, Any]
    state: str
    attempts: int
    #: an open action's progress (a follow-up's ``post_sent_at``), a finished one's result
    result: dict[str, Any] | None = None


#: a libpq connection string (``host=db.example.org dbname=autoscan user=btsbot``): it starts with ``key=``
_LIBPQ_KEY_VALUE = re.compile(r"\s*[A-Za-z_][A-Za-z0-9_]*\s*=")
_LIBPQ_PASSWORD = re.compile(r"(^|\s)password\s*=\s*('(?:[^'\\]|\\.)*'|\S*)")


def is_postgres_location(location: str) -> bool:
    """Whether a state location names PostgreSQL: a ``postgresql://`` / ``postgres://`` URL or a libpq
    ``key=value`` connection string (never a SQLite file of that name: write ``./host=x`` for one)."""
    return location.startswith(("postgresql://", "postgres://")) or _LIBPQ_KEY_VALUE.match(location) is not None


def safe_url(url: str) -> str:
    """A state location fit for messages: a PostgreSQL URL or connection string without its password."""
    if "://" not in url:
        if _LIBPQ_KEY_VALUE.match(url):
            return " ".join(_LIBPQ_PASSWORD.sub(" ", url).split())
        return url
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        user, host = netloc.rsplit("@", 1)
        netloc = f"{user.split(':', 1)[0]}@{host}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


class Store(ABC):
    """The statements both databases run; subclasses supply the connection and the locking."""

    placeholder = "?"

    def __init__(self, dry_run: bool = False):
        self.dry_run = dry_run

    @property
    def retryable_errors(self) -> tuple[type[BaseException], ...]:
        """Errors after which a rolled-back transaction may simply be run again (PostgreSQL deadlocks)."""
        return ()

    @property
    @abstractmethod
    def errors(self) -> tuple[type[BaseException], ...]:
        """The database driver's errors (the state became unusable: disk, server, connection)."""

    # --- per dialect --------------------------------------------------------------------------------
    @abstractmethod
    def _execute(self, sql: str, params: Sequence[Any] = ()) -> Any: ...

    @abstractmethod
    def _executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None: ...

    @abstractmethod
    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One atomic unit (in a dry run: a savepoint inside the run's never-committed transaction)."""

    @abstractmethod
    def lock_sources(self, object_ids: Sequence[str], now: float) -> None:
        """Create missing ``sources`` rows; where rows can be locked, lock them until the transaction ends."""

    @abstractmethod
    def claim(self, action_id: int) -> ActionRow | None:
        """The action, if it is still open and this worker may send it now (else None)."""

    def release(self, action_id: int) -> None:  # noqa: B027 - nothing to release where claims hold no lock
        """Give up the claim taken by :meth:`claim`."""

    @abstractmethod
    def close(self) -> None: ...

    @abstractmethod
    def _columns(self, table: str) -> set[str]:
        """The column names of ``table``."""

    @abstractmethod
    def _in(self, column: str, values: Sequence[Any]) -> list[tuple[str, list[Any]]]:
        """``(sql fragment, params)`` pieces testing ``column`` for membership in ``values``."""

    def _sql(self, sql: str) -> str:
        return sql if self.placeholder == "?" else sql.replace("?", self.placeholder)

    def _select_in(self, sql: str, column: str, values: Sequence[Any], before: Sequence[Any] = ()) -> list[tuple]:
        out: list[tuple] = []
        for fragment, params in self._in(column, list(values)):
            out.extend(self._execute(sql.replace("{in}", fragment), [*before, *params]).fetchall())
        return out

    def _create_schema(self, float_type: str, id_type: str) -> None:
        for statement in _SCHEMA.format(float=float_type, id=id_type).split(";"):
            if statement.strip():
                self._execute(statement)
        for column, kind in (("ra", float_type), ("dec", float_type), ("model", "TEXT")):
            if column not in self._columns("alerts"):  # a state made before the score rows had them
                self._execute(f"ALTER TABLE alerts ADD COLUMN {column} {kind}")
        row = self._execute(self._sql("SELECT value FROM meta WHERE key = ?"), ["schema_version"]).fetchone()
        if row is None:
            self._execute(self._sql("INSERT INTO meta (key, value) VALUES (?, ?)"), ["schema_version", SCHEMA_VERSION])
        elif row[0] != SCHEMA_VERSION:
            raise StateError(f"state schema version {row[0]} is not the {SCHEMA_VERSION} this btsbot-fast writes")

    # --- alerts and decisions ---------------------------------------------------------------------
    def known_alerts(self, candids: Sequence[int]) -> dict[int, bool]:
        """``candid -> has a score`` for the candids already in the state."""
        rows = self._select_in("SELECT candid, score FROM alerts WHERE {in}", "candid", candids)
        return {int(c): s is not None for c, s in rows}

    def insert_alerts(self, rows: Sequence[AlertRow], now: float) -> None:
        self._executemany(self._sql(
            "INSERT INTO alerts (candid, object_id, jd, score, magpsf, fid, status, seen_at, ra, dec, model) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (candid) DO NOTHING"),
            [(r.candid, r.object_id, r.jd, r.score, r.magpsf, r.fid, r.status, now, r.ra, r.dec, r.model)
             for r in rows])

    def add_scores(self, rows: Sequence[AlertRow]) -> None:
        """Give a score to alerts recorded earlier without one."""
        self._executemany(self._sql(
            "UPDATE alerts SET jd = ?, score = ?, magpsf = ?, fid = ?, status = ?, ra = COALESCE(?, ra), "
            "dec = COALESCE(?, dec), model = COALESCE(?, model) WHERE candid = ? AND score IS NULL"),
            [(r.jd, r.score, r.magpsf, r.fid, r.status, r.ra, r.dec, r.model, r.candid) for r in rows])

    def alert_details(self, object_id: str) -> dict[int, tuple[float | None, float | None, str | None]]:
        """``candid -> (ra, dec, model)`` of the source's alerts."""
        rows = self._execute(self._sql("SELECT candid, ra, dec, model FROM alerts WHERE object_id = ?"),
                             [object_id]).fetchall()
        return {int(c): (ra, dec, m) for c, ra, dec, m in rows}

    def decided(self, object_ids: Sequence[str], policy: str) -> set[str]:
        rows = self._select_in(self._sql("SELECT object_id FROM decisions WHERE policy = ? AND {in}"), "object_id",
                               object_ids, before=[policy])
        return {r[0] for r in rows}

    def history(self, object_ids: Sequence[str]) -> dict[str, list[tuple[int, float, float, float | None]]]:
        """Each source's scored alerts ``(candid, jd, score, magpsf)`` in jd order (ties by candid)."""
        rows = self._select_in("SELECT object_id, candid, jd, score, magpsf FROM alerts "
                               "WHERE score IS NOT NULL AND jd IS NOT NULL AND {in}", "object_id", object_ids)
        out: dict[str, list[tuple[int, float, float, float | None]]] = {}
        for oid, candid, jd, score, mag in sorted(rows, key=lambda r: (r[0], r[2], r[1])):
            out.setdefault(oid, []).append((int(candid), float(jd), float(score), None if mag is None else float(mag)))
        return out

    def candidacy(self, object_ids: Sequence[str]) -> dict[str, tuple[float, int]]:
        """``object_id -> (jd, candid)`` of each source's first candidate alert, for the candidate sources."""
        rows = self._select_in("SELECT object_id, jd, candid FROM candidates WHERE {in}", "object_id", object_ids)
        return {oid: (float(jd), int(candid)) for oid, jd, candid in rows}

    def record_candidacy(self, alerts: Sequence[AlertRow], now: float) -> set[str]:
        """Record the sources that the candidate alerts among ``alerts`` make candidates, or candidates
        earlier (a late alert); returns those sources. Only scored alerts count. Inside the caller's
        transaction, with the sources locked (:meth:`lock_sources`)."""
        first: dict[str, tuple[float, int]] = {}
        for a in alerts:
            if a.bts_candidate is True and a.score is not None and a.jd is not None:
                key = (a.jd, a.candid)
                first[a.object_id] = min(first.get(a.object_id, key), key)
        known = self.candidacy(sorted(first))
        changed = {oid: key for oid, key in first.items() if oid not in known or key < known[oid]}
        self._executemany(self._sql(
            "INSERT INTO candidates (object_id, candid, jd, recorded_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (object_id) DO UPDATE SET candid = excluded.candid, jd = excluded.jd, "
            "recorded_at = excluded.recorded_at"),
            [(oid, candid, jd, now) for oid, (jd, candid) in sorted(changed.items())])
        return set(changed)

    def insert_decision(self, d: DecisionRow) -> bool:
        cur = self._execute(self._sql(
            "INSERT INTO decisions (object_id, policy, candid, jd, score, magpsf, decided_at, live) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (object_id, policy) DO NOTHING"),
            [d.object_id, d.policy, d.candid, d.jd, d.score, d.magpsf, d.decided_at, int(d.live)])
        return cur.rowcount == 1

    def decision(self, object_id: str, policy: str) -> DecisionRow | None:
        row = self._execute(self._sql(
            "SELECT object_id, policy, candid, jd, score, magpsf, decided_at, live FROM decisions "
            "WHERE object_id = ? AND policy = ?"), [object_id, policy]).fetchone()
        return None if row is None else DecisionRow(row[0], row[1], int(row[2]), row[3], row[4], row[5], row[6],
                                                    bool(row[7]))

    # --- actions ----------------------------------------------------------------------------------
    def insert_action(self, object_id: str, policy: str, kind: str, key: str, request: dict[str, Any],
                      now: float) -> None:
        """Record an intent (state ``pending``); an action with the same source and key is kept as it is."""
        self._execute(self._sql(
            "INSERT INTO actions (object_id, policy, kind, action_key, request, state, attempts, created_at) "
            "VALUES (?, ?, ?, ?, ?, 'pending', 0, ?) ON CONFLICT (object_id, action_key) DO NOTHING"),
            [object_id, policy, kind, key, json.dumps(request, sort_keys=True), now])

    _ACTION_COLUMNS = "id, object_id, policy, kind, action_key, request, state, attempts, result"

    @staticmethod
    def _action(row: tuple) -> ActionRow:
        return ActionRow(int(row[0]), row[1], row[2], row[3], row[4], json.loads(row[5]), row[6], int(row[7]),
                         json.loads(row[8]) if row[8] else None)

    def open_actions(self) -> list[ActionRow]:
        """Actions not finished (pending, or sent with no recorded outcome), oldest first."""
        rows = self._execute(f"SELECT {self._ACTION_COLUMNS} FROM actions WHERE {_OPEN_SQL} ORDER BY id").fetchall()
        return [self._action(r) for r in rows]

    def _open_action(self, action_id: int) -> ActionRow | None:
        """The action as the state has it now, if it is still open (else None)."""
        row = self._execute(self._sql(f"SELECT {self._ACTION_COLUMNS} FROM actions WHERE id = ?"),
                            [action_id]).fetchone()
        action = None if row is None else self._action(row)
        return action if action is not None and action.state in OPEN_STATES else None

    def actions_of(self, object_id: str) -> list[dict[str, Any]]:
        rows = self._execute(self._sql(
            "SELECT kind, state, attempts, http_status, result, error FROM actions WHERE object_id = ? ORDER BY id"),
            [object_id]).fetchall()
        return [{"kind": k, "state": s, "attempts": a, "http_status": h,
                 "result": json.loads(r) if r else None, "error": e} for k, s, a, h, r, e in rows]

    def mark_attempt(self, action_id: int, attempt: int, now: float) -> None:
        """The intent of one try, committed before the request goes out."""
        with self.transaction():
            self._execute(self._sql("UPDATE actions SET state = 'sending', attempts = ?, sent_at = ? WHERE id = ?"),
                          [attempt, now, action_id])

    def save_progress(self, action_id: int, progress: dict[str, Any]) -> None:
        """What must be durable before a request goes out (a follow-up's ``post_sent_at``), committed."""
        with self.transaction():
            self._execute(self._sql("UPDATE actions SET result = ? WHERE id = ?"),
                          [json.dumps(progress, sort_keys=True) if progress else None, action_id])

    def finish(self, action: ActionRow, state: str, attempts: int, http_status: int | None,
               result: dict[str, Any] | None, error: str | None, now: float) -> None:
        """The outcome; a failed action also gets a dead-letter row. ``pending``: still open (``result``
        is its progress), with the last error."""
        if state == "pending":
            with self.transaction():
                self._execute(self._sql(
                    "UPDATE actions SET state = 'pending', attempts = ?, http_status = ?, result = ?, error = ? "
                    "WHERE id = ?"),
                    [attempts, http_status, json.dumps(result, sort_keys=True) if result else None, error, action.id])
            return
        with self.transaction():
            self._execute(self._sql(
                "UPDATE actions SET state = ?, attempts = ?, http_status = ?, result = ?, error = ?, finished_at = ? "
                "WHERE id = ?"),
                [state, attempts, http_status, json.dumps(result, sort_keys=True) if result is not None else None,
                 error, now, action.id])
            if state == "failed":
                self._execute(self._sql(
                    "INSERT INTO dead_letters (action_id, object_id, kind, request, http_status, error, created_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)"),
                    [action.id, action.object_id, action.kind, json.dumps(action.request, sort_keys=True),
                     http_status, error or "", now])

    def action_state(self, object_id: str, kind: str) -> str | None:
        found = self.action_outcome(object_id, kind)
        return None if found is None else found[0]

    def action_outcome(self, object_id: str, kind: str) -> tuple[str, dict[str, Any] | None] | None:
        """``(state, result)`` of the source's first action of ``kind``, None when it has none."""
        row = self._execute(self._sql("SELECT state, result FROM actions WHERE object_id = ? AND kind = ? ORDER BY id"),
                            [object_id, kind]).fetchone()
        return None if row is None else (row[0], json.loads(row[1]) if row[1] else None)

    def retry_failed(self) -> int:
        """Put failed (dead-lettered) actions back to ``pending``, from scratch (a re-driven follow-up
        reads the source's requests and follows the matching rules anew); their dead-letter rows stay."""
        with self.transaction():
            cur = self._execute("UPDATE actions SET state = 'pending', result = NULL, error = NULL "
                                "WHERE state = 'failed'")
            return max(cur.rowcount, 0)

    def set_meta(self, key: str, value: str | None) -> None:
        """A note in the state (``value=None`` removes it), committed: e.g. when SkyPortal refused the token."""
        with self.transaction():
            self._execute(self._sql("DELETE FROM meta WHERE key = ?"), [key])
            if value is not None:
                self._execute(self._sql("INSERT INTO meta (key, value) VALUES (?, ?)"), [key, value])

    def meta(self, key: str) -> str | None:
        row = self._execute(self._sql("SELECT value FROM meta WHERE key = ?"), [key]).fetchone()
        return None if row is None else row[0]

    def dead_letter_count(self) -> int:
        return int(self._execute("SELECT COUNT(*) FROM dead_letters").fetchone()[0])

    # --- what the state holds, for reports and metrics (read at any time, from any connection) -------
    def action_counts(self) -> dict[tuple[str, str], int]:
        """``(kind, state) -> count`` over every action in the state (states: :data:`ACTION_STATES`)."""
        return _action_counts(self._execute)

    def open_action_count(self) -> int:
        """Actions not finished yet (:data:`OPEN_STATES`): what the sender still has to send."""
        return int(self._execute(f"SELECT COUNT(*) FROM actions WHERE {_OPEN_SQL}").fetchone()[0])

    def decision_counts(self) -> dict[str, int]:
        """``policy -> decisions`` in the state."""
        return _decision_counts(self._execute)

    # --- planning actions for earlier decisions -------------------------------------------------------
    def decisions_without(self, policy: str, kind: str) -> list[DecisionRow]:
        """The policy's decisions that have no action of ``kind`` (decided before it was configured)."""
        rows = self._execute(self._sql(
            "SELECT object_id, policy, candid, jd, score, magpsf, decided_at, live FROM decisions d "
            "WHERE policy = ? AND NOT EXISTS (SELECT 1 FROM actions a WHERE a.object_id = d.object_id "
            "AND a.kind = ?) ORDER BY decided_at, object_id"), [policy, kind]).fetchall()
        return [DecisionRow(r[0], r[1], int(r[2]), r[3], r[4], r[5], r[6], bool(r[7])) for r in rows]

    def sibling(self) -> Store:
        """Another connection to the same state, for a second thread of this process (the sender)."""
        raise NotImplementedError(f"{type(self).__name__} has no second connection")

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class SQLiteStore(Store):
    """``process_lock=False``: a second connection of the process that holds the lock (:meth:`sibling`), or
    a private in-memory database (``path=":memory:"``)."""

    def __init__(self, path: str | os.PathLike[str], dry_run: bool = False, *, process_lock: bool = True):
        super().__init__(dry_run)
        self._db = None
        self._lock = None
        self._lock_made = False  # a dry run removes the lock file it made: it leaves no file behind
        self.path = Path(path)
        if dry_run and process_lock and not self.path.exists():
            # nothing to read: the run works on a private, empty database and creates no file
            path, process_lock = ":memory:", False
        if process_lock:
            if not dry_run:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            self._lock, self._lock_made = _lock_file(self.path.with_name(self.path.name + ".lock"), self.path)
        self._depth = 0
        try:
            # check_same_thread=False: the sender thread's connection is opened and closed by the main thread
            self._db = sqlite3.connect(os.fspath(path), isolation_level=None, timeout=30.0,
                                       check_same_thread=False)
            if not dry_run:  # (a dry run changes nothing, not even the journal mode)
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=FULL")
            if dry_run:
                self._db.execute("BEGIN IMMEDIATE")
                self._depth = 1
            with self.transaction():
                self._create_schema("DOUBLE PRECISION", "INTEGER PRIMARY KEY AUTOINCREMENT")
        except sqlite3.DatabaseError as exc:
            self._unlock()
            raise StateError(f"cannot open the state {self.path}: {exc}") from None

    def _unlock(self) -> None:
        if self._lock is None:
            return
        if self._lock_made and self.dry_run:
            try:  # while still holding the lock: a process that opens it meanwhile checks the inode
                os.unlink(self._lock.name)
            except OSError:
                pass
        self._lock.close()
        self._lock = None

    @property
    def errors(self) -> tuple[type[BaseException], ...]:
        return (sqlite3.Error,)

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self._db.execute(sql, params)

    def _executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        self._db.executemany(sql, rows)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        if self._depth:
            name = f"sp{self._depth}"
            self._db.execute(f"SAVEPOINT {name}")
            self._depth += 1
            try:
                yield
            except BaseException:
                self._db.execute(f"ROLLBACK TO {name}")
                self._db.execute(f"RELEASE {name}")
                raise
            finally:
                self._depth -= 1
            self._db.execute(f"RELEASE {name}")
            return
        self._db.execute("BEGIN IMMEDIATE")
        self._depth = 1
        try:
            yield
        except BaseException:
            self._depth = 0
            self._db.execute("ROLLBACK")
            raise
        self._depth = 0
        self._db.execute("COMMIT")

    def lock_sources(self, object_ids: Sequence[str], now: float) -> None:
        # the write transaction (BEGIN IMMEDIATE) already excludes every other writer
        self._executemany("INSERT INTO sources (object_id, first_seen) VALUES (?, ?) ON CONFLICT (object_id) "
                          "DO NOTHING",
                          [(o, now) for o in sorted(set(object_ids))])

    def claim(self, action_id: int) -> ActionRow | None:
        # one process per state file (the lock file), one sending thread in it: an open action is never
        # being sent by anyone else
        return self._open_action(action_id)

    def _columns(self, table: str) -> set[str]:
        return {r[1] for r in self._db.execute(f"PRAGMA table_info({table})")}

    def sibling(self) -> SQLiteStore:
        # the process lock is this store's: the sibling must be closed first (Autoscan.close does)
        return SQLiteStore(self.path, process_lock=False)

    def _in(self, column: str, values: Sequence[Any]) -> list[tuple[str, list[Any]]]:
        return [(f"{column} IN ({', '.join('?' * len(chunk))})", chunk)
                for chunk in (values[i:i + _IN_CHUNK] for i in range(0, len(values), _IN_CHUNK))]

    def close(self) -> None:
        if self._db is None:
            return
        try:
            if self.dry_run and self._db.in_transaction:
                self._db.execute("ROLLBACK")
            self._db.close()
        finally:
            self._db = None
            self._unlock()


def _lock_file(lock_path: Path, state: Path) -> tuple[Any, bool]:
    """The state's process lock: an exclusive ``flock`` on ``lock_path`` (and whether this call created
    the file). The locked file must still be the one at ``lock_path``: a dry run removes a lock file it
    made, so a process that opened it just before holds a lock on a file nobody else will see."""
    while True:
        made = not lock_path.exists()
        fh = open(lock_path, "a+")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.close()
            raise StateError(f"{state} is in use by another autoscan process; a SQLite state serves one "
                             "process at a time (use a postgresql:// state for several workers)") from None
        try:
            if os.fstat(fh.fileno()).st_ino == os.stat(lock_path).st_ino:
                return fh, made
        except FileNotFoundError:
            pass
        fh.close()  # removed meanwhile: lock the file that is there now


#: the fixed first key of every advisory lock btsbot-fast takes (two-key form ``pg_advisory_lock(int, int)``):
#: "btsb"; other applications' locks on the same server (one-key form, or another first key) never collide
ADVISORY_NAMESPACE = 0x62747362
#: second key of the lock serializing schema creation (action ids, the other second keys, start at 1)
_SCHEMA_LOCK_KEY = 0
#: TCP keepalives on the state connection: libpq's on our side (a dead server is noticed) and the server's
#: ``tcp_keepalives_*`` for this session (a dead worker host is noticed): probes after 30 s idle, every 10 s,
#: 3 unanswered -> the connection is closed, the backend ends and its advisory locks are released
#: (about 60 s). ``tcp_user_timeout`` (ms) bounds unacknowledged writes the same way. A URL or
#: ``PGOPTIONS`` setting of the same names is kept (libpq ones in the URL take precedence).
PG_KEEPALIVES = {"idle": 30, "interval": 10, "count": 3}
_PG_USER_TIMEOUT_MS = 60_000


def _lock_key(action_id: int) -> int:
    """An action id as the second (int4) advisory-lock key (ids past 2**31 wrap: a shared key only makes a
    claim wait for the next sweep, it never lets two workers send one action)."""
    return (action_id + 2**31) % 2**32 - 2**31


def _pg_connect(psycopg: Any, url: str, autocommit: bool) -> Any:
    from psycopg.conninfo import conninfo_to_dict

    given = conninfo_to_dict(url)
    client = {"keepalives": 1, "keepalives_idle": PG_KEEPALIVES["idle"],
              "keepalives_interval": PG_KEEPALIVES["interval"], "keepalives_count": PG_KEEPALIVES["count"],
              "tcp_user_timeout": _PG_USER_TIMEOUT_MS}
    db = psycopg.connect(url, autocommit=True, **{k: v for k, v in client.items() if k not in given})
    # the server side, for this session only (Unix-socket connections ignore them)
    for name, value in (("tcp_keepalives_idle", PG_KEEPALIVES["idle"]),
                        ("tcp_keepalives_interval", PG_KEEPALIVES["interval"]),
                        ("tcp_keepalives_count", PG_KEEPALIVES["count"]),
                        ("tcp_user_timeout", _PG_USER_TIMEOUT_MS)):
        db.execute(f"SET {name} = {int(value)}")
    db.autocommit = autocommit
    return db


def _pg_error_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}"


class PostgresStore(Store):
    placeholder = "%s"

    def __init__(self, url: str):
        super().__init__(dry_run=False)
        try:
            import psycopg
        except ImportError as exc:
            raise ImportError(POSTGRES_INSTALL_HINT) from exc
        self._psycopg = psycopg
        self.url = url
        try:
            # autocommit: every transaction is an explicit conn.transaction() block
            self._db = _pg_connect(psycopg, url, autocommit=True)
        except psycopg.Error as exc:
            raise StateError(f"cannot connect to the state {safe_url(url)}: {_pg_error_line(exc)}") from None
        try:
            with self.transaction():
                self._execute("SELECT pg_advisory_xact_lock(%s, %s)", [ADVISORY_NAMESPACE, _SCHEMA_LOCK_KEY])
                self._create_schema("DOUBLE PRECISION", "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY")
        except psycopg.Error as exc:
            self._db.close()
            raise StateError(f"cannot set up the state in {safe_url(url)}: {type(exc).__name__}: {exc}") from None

    @property
    def errors(self) -> tuple[type[BaseException], ...]:
        return (self._psycopg.Error,)

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self._db.execute(sql, params)

    def _executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        rows = list(rows)
        if rows:
            with self._db.cursor() as cur:
                cur.executemany(sql, rows)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self._db.transaction():
            yield

    def lock_sources(self, object_ids: Sequence[str], now: float) -> None:
        ids = sorted(set(object_ids))
        if not ids:
            return
        # sorted inserts and sorted row locks: two workers wait for each other instead of deadlocking
        self._executemany("INSERT INTO sources (object_id, first_seen) VALUES (%s, %s) ON CONFLICT (object_id) "
                          "DO NOTHING", [(o, now) for o in ids])
        self._execute("SELECT object_id FROM sources WHERE object_id = ANY(%s) ORDER BY object_id FOR UPDATE",
                      [ids]).fetchall()

    def claim(self, action_id: int) -> ActionRow | None:
        # a session-level lock: held across the commits of the attempt and the outcome, dropped by the
        # server if this worker's connection dies, so the action becomes claimable again
        got = self._execute("SELECT pg_try_advisory_lock(%s, %s)",
                            [ADVISORY_NAMESPACE, _lock_key(action_id)]).fetchone()[0]
        if not got:
            return None
        action = self._open_action(action_id)  # read after locking: sees a finished send's outcome
        if action is None:
            self.release(action_id)
        return action

    def release(self, action_id: int) -> None:
        self._execute("SELECT pg_advisory_unlock(%s, %s)", [ADVISORY_NAMESPACE, _lock_key(action_id)]).fetchone()

    def _columns(self, table: str) -> set[str]:
        return {r[0] for r in self._execute("SELECT column_name FROM information_schema.columns WHERE table_name = %s "
                                            "AND table_schema = current_schema()", [table]).fetchall()}

    def sibling(self) -> PostgresStore:
        return PostgresStore(self.url)

    def _in(self, column: str, values: Sequence[Any]) -> list[tuple[str, list[Any]]]:
        return [(f"{column} = ANY(%s)", [values])] if values else []

    def close(self) -> None:
        if self._db is None:
            return
        try:
            self._db.close()
        finally:
            self._db = None

    @property
    def retryable_errors(self) -> tuple[type[BaseException], ...]:
        errors = self._psycopg.errors
        return (errors.DeadlockDetected, errors.SerializationFailure)


class PostgresDryRunStore(SQLiteStore):
    """A dry run on a PostgreSQL state: nothing is locked or written there. Reads are single autocommit
    statements (no transaction, no row lock stays open); every write goes to a private in-memory SQLite
    copy of the schema, seeded with the shared rows of a source when the run first touches it (and, at
    start, of the sources with unfinished or failed actions, which a run resumes or retries)."""

    def __init__(self, url: str):
        try:
            import psycopg
        except ImportError as exc:
            raise ImportError(POSTGRES_INSTALL_HINT) from exc
        self.url = url
        try:
            self._pg = _pg_connect(psycopg, url, autocommit=True)
        except psycopg.Error as exc:
            raise StateError(f"cannot connect to the state {safe_url(url)}: {_pg_error_line(exc)}") from None
        super().__init__(":memory:", dry_run=True, process_lock=False)
        self._pg_errors = (psycopg.Error,)
        self._seeded: set[str] = set()
        tables = [r[0] for r in self._db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
        try:
            # the per-source tables the shared state has (none in a database no live run has used yet)
            self._by_source = [t for t in tables
                               if any(c[1] == "object_id" for c in self._db.execute(f"PRAGMA table_info({t})"))
                               and self._pg.execute("SELECT to_regclass(%s) IS NOT NULL", [t]).fetchone()[0]]
            if self._pg.execute("SELECT to_regclass('meta') IS NOT NULL").fetchone()[0]:
                row = self._pg.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
                if row is not None and row[0] != SCHEMA_VERSION:
                    raise StateError(f"state schema version {row[0]} is not the {SCHEMA_VERSION} this btsbot-fast "
                                     "writes")
            if "actions" in self._by_source:
                ids = [r[0] for r in self._pg.execute("SELECT DISTINCT object_id FROM actions WHERE state <> 'done'")]
                self._seed(ids)
        except psycopg.Error as exc:
            self.close()
            raise StateError(f"cannot read the state {safe_url(url)}: {_pg_error_line(exc)}") from None
        except StateError:
            self.close()
            raise

    @property
    def errors(self) -> tuple[type[BaseException], ...]:
        return (sqlite3.Error, *self._pg_errors)

    def _seed(self, object_ids: Sequence[str]) -> None:
        """Copy the shared rows of sources this run has not touched yet into the private copy."""
        todo = sorted(set(object_ids) - self._seeded)
        if not todo:
            return
        for table in self._by_source:
            cur = self._pg.execute(f"SELECT * FROM {table} WHERE object_id = ANY(%s)", [todo])
            columns = [d.name for d in cur.description]
            rows = cur.fetchall()
            if rows:
                self._db.executemany(f"INSERT OR IGNORE INTO {table} ({', '.join(columns)}) "
                                     f"VALUES ({', '.join('?' * len(columns))})", rows)
        self._seeded.update(todo)

    def lock_sources(self, object_ids: Sequence[str], now: float) -> None:
        self._seed(object_ids)
        super().lock_sources(object_ids, now)

    def dead_letter_count(self) -> int:
        """The shared state's dead letters (a dry run makes none there)."""
        if "dead_letters" not in self._by_source:
            return 0
        return int(self._pg.execute("SELECT COUNT(*) FROM dead_letters").fetchone()[0])

    def sibling(self) -> Store:
        raise NotImplementedError("a dry run sends nothing: it has no sender")

    def close(self) -> None:
        try:
            super().close()
        finally:
            if self._pg is not None:
                self._pg.close()
                self._pg = None


def open_store(location: str | os.PathLike[str], dry_run: bool = False) -> Store:
    """A :class:`PostgresStore` for ``postgresql://`` / ``postgres://`` URLs and libpq ``key=value``
    connection strings, else a :class:`SQLiteStore`."""
    text = os.fspath(location)
    if is_postgres_location(text):
        return PostgresDryRunStore(text) if dry_run else PostgresStore(text)
    if "://" in text:
        raise StateError(f"unknown state location {safe_url(text)!r}: give a file or a postgresql:// URL")
    return SQLiteStore(text, dry_run=dry_run)


@dataclass
class MetricCounts:
    decisions: dict[str, int]  # per policy
    actions: dict[tuple[str, str], int]  # per (kind, state)
    open_actions: int
    #: SkyPortal refused the token at the last sweep (every action stays pending until a good one)
    token_refused: bool = False


def metric_counts(location: str | os.PathLike[str]) -> MetricCounts:
    """Counts for the stream's metrics, read on a connection of their own (the caller is the metrics
    server's thread; the worker's connection stays its own). Only committed rows are seen."""
    text = os.fspath(location)
    postgres = is_postgres_location(text)
    if postgres:
        import psycopg

        db: Any = psycopg.connect(text, autocommit=True)
    else:
        db = sqlite3.connect(f"{Path(text).absolute().as_uri()}?mode=ro", uri=True, timeout=5)
    try:
        decisions, actions = _decision_counts(db.execute), _action_counts(db.execute)
        placeholder = "%s" if postgres else "?"
        refused = db.execute(f"SELECT count(*) FROM meta WHERE key = {placeholder}",
                             [TOKEN_REFUSED_KEY]).fetchone()[0]
    finally:
        db.close()
    return MetricCounts(decisions, actions, sum(n for (_, s), n in actions.items() if s in OPEN_STATES),
                        bool(refused))


__all__ = ["ACTION_STATES", "ADVISORY_NAMESPACE", "OPEN_STATES", "PG_KEEPALIVES", "ActionRow", "AlertRow",
           "DecisionRow", "MetricCounts", "PostgresDryRunStore", "PostgresStore", "SQLiteStore", "StateError", "Store",
           "is_postgres_location", "metric_counts", "open_store", "safe_url"]
