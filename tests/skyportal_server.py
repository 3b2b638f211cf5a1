"""A local SkyPortal stand-in for tests: a real HTTP server on 127.0.0.1 (stdlib http.server in threads)
that answers as SkyPortal's own handlers do (the facts autoscan acts on), with a record of every request.

* ``POST /api/candidates``: needs ``id``, ``filter_ids`` and ``passed_at`` (and ``ra``/``dec`` for an
  object it does not know); creates the object; answers ``{"ids": [...]}``.
  ``HEAD /api/candidates/{id}``, ``HEAD /api/sources/{id}``: 200 or 404.
* ``POST /api/sources``: an object it does not know needs ``ra`` and ``dec`` (else 400 "RA/Declination
  must not be null for a new Obj"); saves to ``group_ids`` (state: ``sources``: object -> groups);
  honours ``ignore_if_in_group_ids``; answers ``data.saved_to_groups``. Saving again is harmless.
  ``GET /api/sources/{id}`` gives the source with its groups, annotations and (``includeComments``) comments.
* ``POST /api/sources/{id}/comments``: an identical comment (text, author, groups) is answered with the
  existing ``comment_id`` and "Same comment already exists."
* ``GET``/``POST /api/sources/{id}/annotations``, ``PUT .../annotations/{annotation_id}``: at most one
  annotation per object and origin (a second POST: 400 "Annotation already exists").
* ``GET /api/followup_request?sourceID=X``: requests whose object id *contains* X, oldest first, 100 per
  page (``pageNumber``, ``numPerPage``), with ``totalMatches``; each with ``target_groups``, ``status``,
  ``created_at`` and ``modified`` as SkyPortal writes them (naive UTC ``isoformat()``: no fraction when
  the microseconds are 0).
* ``POST /api/followup_request``: stores the request (the facility's ``rewrite`` may change the stored
  payload), then "submits" it: ``facility`` is the status it gets - ``"submitted"`` (default),
  ``"pending submission"``, ``"rejected: <reason>"`` (still 200, with that ``request_status``) or
  ``"failed to submit: <error>"`` (400, the row stays). For a source in ``ignore_followup_for`` it answers
  success with ``{"id": null, "ignored": true, "message": ...}``.
* ``PUT /api/followup_request/{id}``: replaces the request's payload (404 for an unknown id).
* Any request with a token other than ``tokens`` gets 401 (``revoke()`` refuses the current one).
* Faults: ``fail(method, path, status, times, answer=None)`` answers ``status`` (with ``answer`` as the
  JSON body, e.g. a success in an odd shape) that many times without doing anything; ``down(seconds)``
  answers 503 to every request for that long (an outage); ``delay[(method, path)] = s`` does the work,
  then waits ``s`` seconds before answering (a client that gave up meanwhile sees a timeout although the
  request took effect).
"""

from __future__ import annotations

import datetime as dt
import json
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

PAGE_SIZE = 100


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any
    at: float


def _error(message: str, status: int = 400) -> tuple[int, dict[str, Any]]:
    return status, {"status": "error", "message": message, "data": {}}


def _success(data: Any, message: str = "") -> tuple[int, dict[str, Any]]:
    return 200, {"status": "success", "data": data, "message": message}


class SkyPortalServer:
    def __init__(self, token: str = "test-token-0123456789"):
        self.tokens = {token}
        self.token = token
        self.lock = threading.RLock()
        self.requests: list[Recorded] = []
        self.objects: dict[str, dict[str, Any]] = {}  # id -> {"ra", "dec"}
        self.sources: dict[str, set[int]] = {}
        self.candidates: list[dict[str, Any]] = []
        self.comments: list[dict[str, Any]] = []
        self.annotations: list[dict[str, Any]] = []
        self.followups: list[dict[str, Any]] = []
        self.ignore_followup_for: set[str] = set()
        self.facility = "submitted"
        self.rewrite: Callable[[dict[str, Any]], dict[str, Any]] | None = None
        self.faults: list[list[Any]] = []  # [method, path, status, remaining, answer]
        self.delay: dict[tuple[str, str], float] = {}
        #: follow-up requests are stored but not listed yet (SkyPortal's listing lagging its late stores)
        self.followups_unlisted = False
        self.down_until = 0.0
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- control ------------------------------------------------------------------------------------
    def start(self) -> SkyPortalServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _handle(self) -> None:
                server._dispatch(self)

            do_GET = do_POST = do_PUT = do_HEAD = _handle

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="skyportal-test-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    @property
    def url(self) -> str:
        assert self._httpd is not None
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def fail(self, method: str, path: str, status: int, times: int, answer: Any = None) -> None:
        with self.lock:
            self.faults.append([method, path, status, times, answer])

    def down(self, seconds: float) -> None:
        """Answer 503 to every request for the next ``seconds`` (the requests are still recorded)."""
        self.down_until = time.monotonic() + seconds

    def revoke(self) -> None:
        """Refuse the current token from now on (401 on every call)."""
        self.tokens = set()

    def calls(self, method: str | None = None, path: str | None = None) -> list[Recorded]:
        with self.lock:
            return [r for r in self.requests if (method is None or r.method == method)
                    and (path is None or r.path == path or (path.endswith("*") and r.path.startswith(path[:-1])))]

    def counts(self) -> dict[str, int]:
        """``"METHOD /path" -> requests recorded`` (object ids in paths replaced by ``{id}``)."""
        out: dict[str, int] = {}
        for r in self.calls():
            parts = r.path.split("/")
            if len(parts) > 3 and parts[2] == "sources":
                parts[3] = "{id}"
            if len(parts) > 5:
                parts[5] = "{n}"
            key = f"{r.method} {'/'.join(parts)}"
            out[key] = out.get(key, 0) + 1
        return out

    def followups_of(self, obj_id: str) -> list[dict[str, Any]]:
        with self.lock:
            return [f for f in self.followups if f["obj_id"] == obj_id]

    def add_followup(self, obj_id: str, allocation_id: int, target_group_ids: list[int], payload: dict[str, Any],
                     status: str | None = "submitted", modified: dt.datetime | None = None, **extra: Any) -> dict:
        """A request made by someone else (``status=None``: a row without one)."""
        t = modified or utcnow()
        with self.lock:
            f = {"id": len(self.followups) + 1, "obj_id": obj_id, "allocation_id": allocation_id,
                 "target_group_ids": list(target_group_ids), "payload": payload, "status": status,
                 "created_at": utc_iso(t), "modified": utc_iso(t), "requester_id": 2, **extra}
            if status is None:
                del f["status"]
            self.followups.append(f)
            return f

    # --- behaviour ----------------------------------------------------------------------------------
    def _dispatch(self, h: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(h.path)
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        path = parts.path
        rec = Recorded(h.command, path, parse_qs(parts.query), dict(h.headers.items()), body, time.time())
        with self.lock:
            self.requests.append(rec)
        if h.headers.get("Authorization") not in {f"token {t}" for t in self.tokens}:
            return self._reply(h, 401, {"status": "error", "message": "Unauthorized"})
        with self.lock:
            fault = next((f for f in self.faults if f[0] == h.command and f[1] == path and f[3] > 0), None)
            if fault is not None:
                fault[3] -= 1
        if fault is not None:
            return self._reply(h, fault[2], fault[4] if fault[4] is not None else
                               {"status": "error", "message": f"injected HTTP {fault[2]}"})
        if time.monotonic() < self.down_until:
            return self._reply(h, 503, {"status": "error", "message": "down for maintenance"})
        segments = [unquote(p) for p in path.strip("/").split("/")]
        try:
            with self.lock:
                status, answer = self._route(h.command, segments, rec.query, body)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            status, answer = _error(f"bad request: {exc}")
        pause = self.delay.get((h.command, path), 0.0)
        if pause:
            time.sleep(pause)
        self._reply(h, status, answer, head=h.command == "HEAD")

    def _route(self, method: str, seg: list[str], query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        if seg[:1] != ["api"] or len(seg) < 2:
            return _error(f"no route /{'/'.join(seg)}", 404)
        what, rest = seg[1], seg[2:]
        if what == "candidates":
            if method == "POST" and not rest:
                return self._candidate(body)
            if method == "HEAD" and len(rest) == 1:
                known = any(c["id"] == rest[0] for c in self.candidates)
                return (200, {}) if known else (404, {})
        if what == "sources":
            if method == "POST" and not rest:
                return self._save(body)
            if method == "HEAD" and len(rest) == 1:
                return (200, {}) if rest[0] in self.sources else (404, {})
            if method == "GET" and len(rest) == 1:
                return self._source(rest[0], query)
            if len(rest) == 2 and rest[1] == "comments" and method == "POST":
                return self._comment(rest[0], body)
            if len(rest) >= 2 and rest[1] == "annotations":
                return self._annotation(method, rest[0], rest[2:], body)
        if what == "followup_request":
            if method == "GET" and not rest:
                return self._list_followups(query)
            if method == "POST" and not rest:
                return self._request_followup(body)
            if method == "PUT" and len(rest) == 1:
                return self._update_followup(int(rest[0]), body)
        return _error(f"no route /{'/'.join(seg)}", 404)

    def _reply(self, h: BaseHTTPRequestHandler, status: int, answer: Any, head: bool = False) -> None:
        data = json.dumps(answer).encode()
        try:
            h.send_response(status)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(0 if head else len(data)))
            h.end_headers()
            if not head:
                h.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout) or was killed
            pass

    def _author(self) -> int:
        return 1

    def _ensure_object(self, oid: str, body: dict[str, Any]) -> tuple[int, Any] | None:
        if oid in self.objects:
            return None
        if body.get("ra") is None or body.get("dec") is None:
            return _error("RA/Declination must not be null for a new Obj")
        self.objects[oid] = {"ra": float(body["ra"]), "dec": float(body["dec"])}
        return None

    def _candidate(self, body: dict[str, Any]) -> tuple[int, Any]:
        oid = str(body["id"])
        if not body.get("filter_ids") or not body.get("passed_at"):
            return _error("Invalid/missing parameters: filter_ids and passed_at are required")
        refused = self._ensure_object(oid, body)
        if refused:
            return refused
        ids = []
        for fid in body["filter_ids"]:
            c = {"id": oid, "filter_id": int(fid), "passing_alert_id": body.get("passing_alert_id"),
                 "passed_at": body["passed_at"], "cid": len(self.candidates) + 1}
            self.candidates.append(c)
            ids.append(c["cid"])
        return _success({"ids": ids})

    def _save(self, body: dict[str, Any]) -> tuple[int, Any]:
        oid, groups = str(body["id"]), [int(g) for g in body["group_ids"]]
        refused = self._ensure_object(oid, body)
        if refused:
            return refused
        ignore = body.get("ignore_if_in_group_ids") or {}
        have = self.sources.setdefault(oid, set())
        saved, skipped = [], []
        for g in groups:
            if {int(x) for x in ignore.get(str(g), [])} & have:
                skipped.append(g)
            else:
                have.add(g)
                saved.append(g)
        return _success({"id": oid, "saved_to_groups": saved, "not_saved_to_groups": skipped})

    def _source(self, oid: str, query: dict[str, list[str]]) -> tuple[int, Any]:
        if oid not in self.sources:
            return _error(f"Source {oid} not found", 404)
        out = {"id": oid, **self.objects.get(oid, {}), "groups": [{"id": g, "active": True} for g in
                                                                  sorted(self.sources[oid])],
               "annotations": [a for a in self.annotations if a["obj_id"] == oid]}
        if query.get("includeComments") == ["true"]:
            out["comments"] = [c for c in self.comments if c["obj_id"] == oid]
        return _success(out)

    def _comment(self, oid: str, body: dict[str, Any]) -> tuple[int, Any]:
        if oid not in self.objects:
            return _error(f"Object {oid} not found", 400)
        text, groups = str(body["text"]), sorted(int(g) for g in body.get("group_ids") or [])
        for c in self.comments:
            if (c["obj_id"], c["text"], c["author_id"], c["group_ids"]) == (oid, text, self._author(), groups):
                return _success({"comment_id": c["id"]}, "Same comment already exists.")
        c = {"id": len(self.comments) + 1, "obj_id": oid, "text": text, "author_id": self._author(),
             "group_ids": groups}
        self.comments.append(c)
        return _success({"comment_id": c["id"]})

    def _annotation(self, method: str, oid: str, rest: list[str], body: Any) -> tuple[int, Any]:
        mine = [a for a in self.annotations if a["obj_id"] == oid]
        if method == "GET" and not rest:
            return _success(mine)
        if method == "POST" and not rest:
            if oid not in self.objects:
                return _error(f"Object {oid} not found", 400)
            if not isinstance(body.get("data"), dict) or not body.get("origin"):
                return _error("Invalid/missing parameters: data and origin are required")
            if any(a["origin"] == body["origin"] for a in mine):
                return _error("Annotation already exists")
            a = {"id": len(self.annotations) + 1, "obj_id": oid, "origin": body["origin"], "data": body["data"],
                 "author_id": self._author(), "group_ids": body.get("group_ids") or []}
            self.annotations.append(a)
            return _success({"annotation_id": a["id"]})
        if method == "PUT" and len(rest) == 1:
            found = next((a for a in mine if a["id"] == int(rest[0])), None)
            if found is None:
                return _error(f"Annotation {rest[0]} not found", 404)
            found.update(data=body["data"], origin=body.get("origin", found["origin"]))
            return _success({})
        return _error("no route", 404)

    def _list_followups(self, query: dict[str, list[str]]) -> tuple[int, Any]:
        needle = query.get("sourceID", [""])[0]
        page = int(query.get("pageNumber", ["1"])[0])
        per = int(query.get("numPerPage", [str(PAGE_SIZE)])[0])
        found = [] if self.followups_unlisted else sorted((f for f in self.followups if needle in f["obj_id"]),
                                                          key=lambda f: f["id"])
        listed = []
        for f in found[(page - 1) * per: page * per]:
            f = {**f, "target_groups": [{"id": g} for g in f["target_group_ids"]]}
            del f["target_group_ids"]
            listed.append(f)
        return _success({"followup_requests": listed, "totalMatches": len(found), "pageNumber": page,
                         "numPerPage": per})

    def _request_followup(self, body: dict[str, Any]) -> tuple[int, Any]:
        oid = str(body["obj_id"])
        if not isinstance(body["payload"], dict):
            raise ValueError("payload must be an object")
        if oid in self.ignore_followup_for:
            return _success({"id": None, "ignored": True, "message": "not_if_classified: source is classified"})
        known = {"obj_id", "allocation_id", "target_group_ids", "payload"}
        payload = self.rewrite(dict(body["payload"])) if self.rewrite else body["payload"]
        t = utcnow()
        f = {"id": len(self.followups) + 1, "obj_id": oid, "allocation_id": int(body["allocation_id"]),
             "target_group_ids": [int(g) for g in body["target_group_ids"]], "payload": payload,
             "status": "pending submission", "created_at": utc_iso(t), "modified": utc_iso(t), "requester_id": 1,
             "constraints": {k: v for k, v in body.items() if k not in known}}
        self.followups.append(f)
        f["status"] = self.facility  # submitted to the facility in the same call
        if self.facility.startswith("failed to submit"):
            return _error(self.facility)
        return _success({"id": f["id"], "request_status": f["status"]})

    def _update_followup(self, request_id: int, body: dict[str, Any]) -> tuple[int, Any]:
        if not isinstance(body.get("payload"), dict):
            raise ValueError("payload must be an object")
        found = next((f for f in self.followups if f["id"] == request_id), None)
        if found is None:
            return _error(f"no follow-up request {request_id}", 404)
        found["payload"] = body["payload"]
        found["modified"] = utc_iso()
        return _success({})


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def utc_iso(t: dt.datetime | None = None) -> str:
    """A time as SkyPortal writes ``created_at`` / ``modified``: naive UTC ``isoformat()`` (no fraction when
    the microseconds are 0)."""
    return (t or utcnow()).isoformat()


def kill_9_at_followup(server: SkyPortalServer, proc: subprocess.Popen, n: int, timeout: float = 60) -> None:
    """Wait until ``server`` holds ``n`` follow-up requests (with a ``delay`` on their POST, the n-th is
    still unanswered), then kill -9 ``proc``: a client killed between a request taking effect and its
    answer."""
    try:
        deadline = time.monotonic() + timeout
        while len(server.followups) < n and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.02)
        assert len(server.followups) == n, proc.stderr.read().decode() if proc.poll() is not None else "too slow"
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
