"""Truth from SkyPortal (``monitor --skyportal-url``): per source, ``GET /api/sources/{id}`` gives its
classifications (the human ones: ``ml == false``), its ``tns_name`` and, per group, when it was saved there
(the scanners' group: ``--scanner-group-id``).

The answers are cached in a SQLite file of the monitor's own (``--cache``, default ``DIR/skyportal_cache.sqlite``),
not in the autoscan state: the monitor only reads the state, so a running stream never waits for it and a
read-only database role is enough. A cached source is asked about again only while the answer can still
change in a way that matters (not classified yet, or not saved to the scanners' group yet), and then at
most once per ``refresh`` (12 h by default): a nightly run asks about what is new.

Polite: at most ``concurrency`` requests at once and ``rate`` per second, each retried with a doubling
pause on a 5xx answer, a timeout or a connection failure (up to ``max_attempts``). A source still without
an answer is left out of this run (and asked again next time); a refused token (401) stops the run.
The token is read as autoscan reads it (``--token-file`` or ``$SKYPORTAL_TOKEN``) and never logged.
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..autoscan.skyportal import AuthError, SkyPortal, SkyPortalError
from .truth import Truth, parse_time_jd

log = logging.getLogger("btsbot_fast.monitor")

REFRESH_SECONDS = 12 * 3600.0
CACHE_NAME = "skyportal_cache.sqlite"
_CACHE_SCHEMA = """
CREATE TABLE IF NOT EXISTS sources (
  url TEXT NOT NULL, object_id TEXT NOT NULL,
  found INTEGER NOT NULL,
  classification TEXT, tns_name TEXT,
  groups TEXT NOT NULL,            -- JSON {group_id: saved_at as a Julian date}
  fetched_at DOUBLE PRECISION NOT NULL,
  PRIMARY KEY (url, object_id))
"""


@dataclass(frozen=True)
class SourceAnswer:
    object_id: str
    found: bool  # False: SkyPortal does not know the source (404)
    classification: str | None
    tns_name: str | None
    groups: dict[int, float]  # group id -> saved_at (JD)
    fetched_at: float

    def truth(self, scanner_group_id: int | None, url: str) -> Truth:
        saved = self.groups.get(scanner_group_id) if scanner_group_id is not None else None
        return Truth(self.object_id, self.classification, None, saved, self.tns_name, url)


def human_classification(classifications: Any) -> str | None:
    """The latest classification a person made (``ml`` false), by ``modified`` / ``created_at``."""
    if not isinstance(classifications, list):
        return None
    human = [c for c in classifications if isinstance(c, dict) and not c.get("ml")
             and isinstance(c.get("classification"), str) and c["classification"].strip()]
    if not human:
        return None
    latest = max(human, key=lambda c: str(c.get("modified") or c.get("created_at") or ""))
    return latest["classification"].strip()


def parse_source(object_id: str, data: dict[str, Any], now: float) -> SourceAnswer:
    """A ``GET /api/sources/{id}`` answer's ``data`` as the monitor keeps it (odd shapes give no value)."""
    groups: dict[int, float] = {}
    for g in data.get("groups") or []:
        if not isinstance(g, dict) or g.get("saved_at") in (None, ""):
            continue
        try:
            groups[int(g["id"])] = parse_time_jd(str(g["saved_at"]))
        except (KeyError, TypeError, ValueError):
            continue
    tns = data.get("tns_name")
    return SourceAnswer(object_id, True, human_classification(data.get("classifications")),
                        tns.strip() if isinstance(tns, str) and tns.strip() else None, groups, now)


class AnswerCache:
    """The cache file (SQLite): one row per SkyPortal URL and source."""

    def __init__(self, path: str | os.PathLike[str], url: str):
        self.path, self.url = Path(path), url
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
        self._db.execute(_CACHE_SCHEMA)
        self._lock = threading.Lock()

    def load(self) -> dict[str, SourceAnswer]:
        rows = self._db.execute("SELECT object_id, found, classification, tns_name, groups, fetched_at FROM sources "
                                "WHERE url = ?", [self.url]).fetchall()
        return {oid: SourceAnswer(oid, bool(found), cls, tns, {int(k): float(v) for k, v in json.loads(groups).items()},
                                  float(at)) for oid, found, cls, tns, groups, at in rows}

    def put(self, a: SourceAnswer) -> None:
        with self._lock, self._db:
            self._db.execute("INSERT OR REPLACE INTO sources (url, object_id, found, classification, tns_name, groups, "
                             "fetched_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                             [self.url, a.object_id, int(a.found), a.classification, a.tns_name,
                              json.dumps({str(k): v for k, v in sorted(a.groups.items())}), a.fetched_at])

    def close(self) -> None:
        self._db.close()


def needs_asking(answer: SourceAnswer | None, scanner_group_id: int | None, now: float, refresh: float) -> bool:
    if answer is None:
        return True
    settled = answer.classification is not None and (scanner_group_id is None or scanner_group_id in answer.groups)
    return not settled and now - answer.fetched_at >= refresh


class _Pace:
    """At most ``rate`` request starts per second, across threads."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        self.gap = 1.0 / rate if rate > 0 else 0.0
        self.next = 0.0
        self.lock = threading.Lock()
        self.clock, self.sleep = clock, sleep

    def wait(self) -> None:
        with self.lock:
            now = self.clock()
            start = max(now, self.next)
            self.next = start + self.gap
        if start > now:
            self.sleep(start - now)


@dataclass
class FetchStats:
    cached: int = 0
    asked: int = 0
    answered: int = 0
    unknown: int = 0  # 404: SkyPortal does not know the source
    unanswered: int = 0  # still failing after the retries: asked again next run


def fetch_truth(object_ids: Iterable[str], *, url: str, token: str, cache: AnswerCache,
                scanner_group_id: int | None, timeout: float = 10.0, concurrency: int = 4, rate: float = 10.0,
                max_attempts: int = 3, backoff: float = 1.0, refresh: float = REFRESH_SECONDS,
                sleep: Callable[[float], None] = time.sleep) -> tuple[dict[str, Truth], FetchStats]:
    """Truth for ``object_ids`` from SkyPortal, through the cache; :class:`AuthError` on a refused token."""
    now = time.time()
    known = cache.load()
    ids = sorted(set(object_ids))
    todo = [oid for oid in ids if needs_asking(known.get(oid), scanner_group_id, now, refresh)]
    stats = FetchStats(cached=len(ids) - len(todo), asked=len(todo))
    pace = _Pace(rate, sleep=sleep)
    local = threading.local()
    clients: list[SkyPortal] = []
    clients_lock = threading.Lock()

    def client() -> SkyPortal:
        if getattr(local, "client", None) is None:  # a session per thread: requests' sessions are not shared
            local.client = SkyPortal(url, token, timeout=timeout)
            with clients_lock:
                clients.append(local.client)
        return local.client

    def ask(oid: str) -> SourceAnswer | None:
        for attempt in range(max_attempts):
            pace.wait()
            try:
                data = client().call("GET", f"/api/sources/{oid}")
                return parse_source(oid, data, time.time())
            except AuthError:
                raise
            except SkyPortalError as exc:
                if exc.status == 404:
                    return SourceAnswer(oid, False, None, None, {}, time.time())
                if not exc.retryable or attempt + 1 == max_attempts:
                    log.warning("monitor: no answer for %s: %s", oid, exc)
                    return None
                sleep(min(backoff * 2 ** attempt, 60.0))
        return None

    try:
        with cf.ThreadPoolExecutor(max(1, concurrency), thread_name_prefix="btsbot-fast-monitor") as pool:
            futures = {pool.submit(ask, oid): oid for oid in todo}
            try:
                for f in cf.as_completed(futures):
                    answer = f.result()
                    if answer is None:
                        stats.unanswered += 1
                        continue
                    cache.put(answer)
                    known[answer.object_id] = answer
                    stats.answered += 1
                    stats.unknown += not answer.found
            except AuthError:
                for f in futures:
                    f.cancel()
                raise
    finally:
        for c in clients:
            c.close()
    truth = {oid: known[oid].truth(scanner_group_id, url) for oid in ids if oid in known and known[oid].found}
    return truth, stats


def cached_truth(cache_path: str | os.PathLike[str], url: str | None, scanner_group_id: int | None) -> dict[str, Truth]:
    """What a cache file already holds (no request): for pages built without network access."""
    path = Path(cache_path)
    if not path.is_file():
        return {}
    db = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True)
    try:
        rows = db.execute("SELECT url, object_id, classification, tns_name, groups FROM sources WHERE found = 1"
                          + (" AND url = ?" if url else ""), [url] if url else []).fetchall()
    except sqlite3.Error:
        return {}
    finally:
        db.close()
    out = {}
    for u, oid, cls, tns, groups in rows:
        saved = {int(k): float(v) for k, v in json.loads(groups).items()}
        out[oid] = Truth(oid, cls, None, saved.get(scanner_group_id) if scanner_group_id is not None else None, tns, u)
    return out


__all__ = ["CACHE_NAME", "REFRESH_SECONDS", "AnswerCache", "FetchStats", "SourceAnswer", "cached_truth",
           "fetch_truth", "human_classification", "needs_asking", "parse_source"]
