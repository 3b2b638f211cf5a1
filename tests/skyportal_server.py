"""A local SkyPortal stand-in for tests: a real HTTP server on 127.0.0.1 (stdlib http.server in a thread)
with the behaviour of the three endpoints autoscan calls, and a record of every request.

* ``POST /api/sources``: saves ``id`` to ``group_ids`` (state: source -> groups); honours
  ``ignore_if_in_group_ids``; answers ``data.saved_to_groups``. Saving again is harmless.
* ``GET /api/followup_request?sourceID=X``: ``data.followup_requests`` for X (with ``target_groups`` as
  SkyPortal lists them: ``[{"id": g}]``, ``status`` and ``modified``, naive UTC ISO).
* ``POST /api/followup_request``: stores a request (status ``submitted``; the constraint keys are kept
  under ``constraints``) and answers ``{"id": n}``; for a source in ``ignore_followup_for`` answers
  success with ``{"id": null, "ignored": true, "message": ...}``.
* ``PUT /api/followup_request/{id}``: replaces the request's payload (404 for an unknown id).
* Any request with a token other than ``tokens`` gets 401.
* Faults: ``fail(method, path, status, times)`` answers ``status`` that many times without doing
  anything; ``down(seconds)`` answers 503 to every request for that long (an outage);
  ``delay[(method, path)] = s`` does the work, then waits ``s`` seconds before answering (a client that
  gave up meanwhile sees a timeout although the request took effect).
"""

from __future__ import annotations

import datetime as dt
import json
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any
    at: float


class SkyPortalServer:
    def __init__(self, token: str = "test-token-0123456789"):
        self.tokens = {token}
        self.token = token
        self.lock = threading.Lock()
        self.requests: list[Recorded] = []
        self.sources: dict[str, set[int]] = {}
        self.followups: list[dict[str, Any]] = []
        self.ignore_followup_for: set[str] = set()
        self.faults: list[list[Any]] = []  # [method, path, status, remaining]
        self.delay: dict[tuple[str, str], float] = {}
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

            do_GET = do_POST = do_PUT = _handle

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

    def fail(self, method: str, path: str, status: int, times: int) -> None:
        with self.lock:
            self.faults.append([method, path, status, times])

    def down(self, seconds: float) -> None:
        """Answer 503 to every request for the next ``seconds`` (the requests are still recorded)."""
        self.down_until = time.monotonic() + seconds

    def calls(self, method: str | None = None, path: str | None = None) -> list[Recorded]:
        with self.lock:
            return [r for r in self.requests if (method is None or r.method == method)
                    and (path is None or r.path == path)]

    def followups_of(self, obj_id: str) -> list[dict[str, Any]]:
        with self.lock:
            return [f for f in self.followups if f["obj_id"] == obj_id]

    # --- behaviour ----------------------------------------------------------------------------------
    def _dispatch(self, h: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(h.path)
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        rec = Recorded(h.command, parts.path, parse_qs(parts.query), dict(h.headers.items()), body, time.time())
        with self.lock:
            self.requests.append(rec)
        if h.headers.get("Authorization") not in {f"token {t}" for t in self.tokens}:
            return self._reply(h, 401, {"status": "error", "message": "Unauthorized"})
        with self.lock:
            fault = next((f for f in self.faults if f[0] == h.command and f[1] == parts.path and f[3] > 0), None)
            if fault is not None:
                fault[3] -= 1
        if fault is not None:
            return self._reply(h, fault[2], {"status": "error", "message": f"injected HTTP {fault[2]}"})
        if time.monotonic() < self.down_until:
            return self._reply(h, 503, {"status": "error", "message": "down for maintenance"})
        key = (h.command, parts.path)
        try:
            if key == ("POST", "/api/sources"):
                status, answer = self._save(body)
            elif key == ("GET", "/api/followup_request"):
                status, answer = self._list_followups(rec.query)
            elif key == ("POST", "/api/followup_request"):
                status, answer = self._request_followup(body)
            elif h.command == "PUT" and parts.path.startswith("/api/followup_request/"):
                status, answer = self._update_followup(int(parts.path.rsplit("/", 1)[1]), body)
            else:
                status, answer = 404, {"status": "error", "message": f"no route {parts.path}"}
        except (KeyError, TypeError, ValueError) as exc:
            status, answer = 400, {"status": "error", "message": f"bad request: {exc}"}
        pause = self.delay.get(key, 0.0)
        if pause:
            time.sleep(pause)
        self._reply(h, status, answer)

    def _reply(self, h: BaseHTTPRequestHandler, status: int, answer: dict[str, Any]) -> None:
        data = json.dumps(answer).encode()
        try:
            h.send_response(status)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            h.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout) or was killed
            pass

    def _save(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        oid, groups = str(body["id"]), [int(g) for g in body["group_ids"]]
        ignore = body.get("ignore_if_in_group_ids") or {}
        with self.lock:
            have = self.sources.setdefault(oid, set())
            saved, skipped = [], []
            for g in groups:
                if set(int(x) for x in ignore.get(str(g), [])) & have:
                    skipped.append(g)
                else:
                    have.add(g)
                    saved.append(g)
        return 200, {"status": "success", "data": {"id": oid, "saved_to_groups": saved,
                                                   "not_saved_to_groups": skipped}}

    def _list_followups(self, query: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        oid = query["sourceID"][0]
        found = [{**f, "target_groups": [{"id": g} for g in f["target_group_ids"]]} for f in self.followups_of(oid)]
        for f in found:
            del f["target_group_ids"]
        return 200, {"status": "success", "data": {"followup_requests": found, "totalMatches": len(found)}}

    def _request_followup(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        oid = str(body["obj_id"])
        if not isinstance(body["payload"], dict):
            raise ValueError("payload must be an object")
        if oid in self.ignore_followup_for:
            return 200, {"status": "success", "data": {"id": None, "ignored": True,
                                                       "message": "not_if_classified: source is classified"}}
        known = {"obj_id", "allocation_id", "target_group_ids", "payload"}
        with self.lock:
            n = len(self.followups) + 1
            self.followups.append({"id": n, "obj_id": oid, "allocation_id": int(body["allocation_id"]),
                                   "target_group_ids": [int(g) for g in body["target_group_ids"]],
                                   "payload": body["payload"], "status": "submitted", "modified": utc_iso(),
                                   "constraints": {k: v for k, v in body.items() if k not in known}})
        return 200, {"status": "success", "data": {"id": n}}

    def _update_followup(self, request_id: int, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if not isinstance(body.get("payload"), dict):
            raise ValueError("payload must be an object")
        with self.lock:
            found = next((f for f in self.followups if f["id"] == request_id), None)
            if found is None:
                return 404, {"status": "error", "message": f"no follow-up request {request_id}"}
            found["payload"] = body["payload"]
            found["modified"] = utc_iso()
        return 200, {"status": "success", "data": {}}


def utc_iso(t: dt.datetime | None = None) -> str:
    """A time as SkyPortal writes ``modified``: naive UTC, ISO with microseconds."""
    t = t or dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    return t.strftime("%Y-%m-%dT%H:%M:%S.%f")


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
