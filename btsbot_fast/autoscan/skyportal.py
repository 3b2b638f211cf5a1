"""A small SkyPortal (Fritz) API client for the calls autoscan makes, as Kowalski makes them.

* ``POST /api/candidates`` ``{"id", "ra", "dec", "filter_ids", "passing_alert_id", "passed_at"}`` - list the
  object on the scanning page under a filter (creates the object if SkyPortal does not know it);
* ``POST /api/sources`` ``{"id", "group_ids", "origin", "ra", "dec"[, "ignore_if_in_group_ids"]}`` - save;
* ``POST /api/sources/{id}/comments`` ``{"text", "group_ids"}`` - a comment (an identical one is not repeated);
* ``GET``/``POST /api/sources/{id}/annotations``, ``PUT /api/sources/{id}/annotations/{annotation_id}``;
* ``GET /api/followup_request?sourceID=...`` - the source's follow-up requests (every page, exact object id);
* ``POST /api/followup_request`` ``{"obj_id", "allocation_id", "target_group_ids", "payload"}`` (+ constraints);
* ``PUT /api/followup_request/{id}`` ``{"payload", "obj_id", "allocation_id"}`` - raise a request's priority.

Authentication is the header ``Authorization: token <TOKEN>``. The token lives in the HTTP session only:
it is not in ``repr``, in error messages or in any log line. One call = one HTTP request; retrying is the
caller's decision (:mod:`.actions`), because a follow-up retry must repeat its GET check too.

Errors say whether they may pass (:attr:`SkyPortalError.retryable`: 5xx, 408, 429, timeouts, connection
failures) and whether the request may have taken effect although no answer says so
(:attr:`SkyPortalError.uncertain`: a timeout, a connection lost after sending, a 5xx from a proxy).

Built on ``requests`` (the ``[autoscan]`` extra): connection pooling, timeouts and JSON handling that we
would otherwise re-implement over ``urllib``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from ..messages import install_hint
from .config import TOKEN_ENV

INSTALL_HINT = "acting on SkyPortal needs requests: " + install_hint("autoscan")
#: follow-up requests per page of ``GET /api/followup_request`` (SkyPortal's default and maximum)
PAGE_SIZE = 100
#: pages read at most for one source (100 000 requests: an answer that never ends is not read forever)
MAX_PAGES = 1000
#: HTTP statuses that may pass by themselves: retried, the action stays pending
RETRYABLE_STATUSES = frozenset({408, 429})


class SkyPortalError(Exception):
    """A call that did not succeed. ``retryable``: it may pass by itself (the action stays pending);
    ``uncertain``: the request may have taken effect although no answer says so."""

    def __init__(self, message: str, *, status: int | None = None, retryable: bool = False,
                 uncertain: bool = False):
        super().__init__(message)
        self.status = status
        self.retryable = retryable
        self.uncertain = uncertain


class AuthError(SkyPortalError):
    """HTTP 401: the token was refused. Never retried; every action stays pending."""


class UnexpectedAnswer(SkyPortalError):
    """A success answer in a shape autoscan does not know: nothing is concluded from it (the action stays
    pending, retried later)."""

    def __init__(self, message: str):
        super().__init__(message, status=200, retryable=True)


class SkyPortal:
    def __init__(self, url: str, token: str, *, timeout: float = 10.0):
        try:
            import requests
        except ImportError as exc:
            raise ImportError(INSTALL_HINT) from exc
        self._requests = requests
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._session = requests.Session()
        self._session.headers["Authorization"] = f"token {token}"
        self._session.headers["User-Agent"] = "btsbot-fast-autoscan"

    def __repr__(self) -> str:
        return f"SkyPortal({self.url!r})"

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> SkyPortal:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def call(self, method: str, path: str, *, body: dict[str, Any] | None = None,
             params: dict[str, Any] | None = None) -> Any:
        """One request; the answer's ``data`` on ``{"status": "success"}``, else :class:`SkyPortalError`."""
        what = f"{method} {path}"
        try:
            r = self._session.request(method, self.url + path, json=body, params=params, timeout=self.timeout)
        except self._requests.ConnectTimeout:
            raise SkyPortalError(f"{what}: could not connect within {self.timeout:g} s", retryable=True) from None
        except self._requests.Timeout:
            raise SkyPortalError(f"{what}: no answer within {self.timeout:g} s", retryable=True,
                                 uncertain=True) from None
        except self._requests.ConnectionError as exc:
            # refused or unresolvable: the request never left; a connection lost later: it may have arrived
            never_sent = "NewConnectionError" in repr(exc) or "NameResolutionError" in repr(exc)
            raise SkyPortalError(f"{what}: connection failed ({type(exc).__name__})", retryable=True,
                                 uncertain=not never_sent) from None
        except self._requests.RequestException as exc:
            raise SkyPortalError(f"{what}: {type(exc).__name__}", retryable=True, uncertain=True) from None
        code = r.status_code
        if code == 401:
            raise AuthError(f"{what}: SkyPortal refused the token (HTTP 401); check ${TOKEN_ENV} or the token file",
                            status=401)
        try:
            answer = r.json()
        except ValueError:
            answer = None
        retryable = code >= 500 or code in RETRYABLE_STATUSES
        if not isinstance(answer, dict):
            raise SkyPortalError(f"{what}: HTTP {code}, not a JSON object", status=code, retryable=retryable,
                                 uncertain=code >= 500 or code == 200)
        if code >= 400 or answer.get("status") != "success":
            message = str(answer.get("message", ""))[:300]
            raise SkyPortalError(f"{what}: HTTP {code}: {message or 'no message'}", status=code,
                                 retryable=retryable, uncertain=code >= 500)
        return answer.get("data")

    def _object(self, method: str, path: str, **kw: Any) -> dict[str, Any]:
        data = self.call(method, path, **kw)
        if data is None:
            return {}
        if not isinstance(data, dict):
            raise UnexpectedAnswer(f"{method} {path}: data is a {type(data).__name__}, not an object")
        return data

    def post_candidate(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._object("POST", "/api/candidates", body=body)

    def save_source(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._object("POST", "/api/sources", body=body)

    def post_comment(self, obj_id: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._object("POST", f"/api/sources/{quote(obj_id, safe='')}/comments", body=body)

    def annotations(self, obj_id: str) -> list[dict[str, Any]]:
        path = f"/api/sources/{quote(obj_id, safe='')}/annotations"
        data = self.call("GET", path)
        if not isinstance(data, list) or not all(isinstance(a, dict) for a in data):
            raise UnexpectedAnswer(f"GET {path}: not a list of annotations")
        return data

    def post_annotation(self, obj_id: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._object("POST", f"/api/sources/{quote(obj_id, safe='')}/annotations", body=body)

    def update_annotation(self, obj_id: str, annotation_id: Any, body: dict[str, Any]) -> dict[str, Any]:
        return self._object("PUT", f"/api/sources/{quote(obj_id, safe='')}/annotations/{int(annotation_id)}",
                            body=body)

    def followup_requests(self, obj_id: str) -> list[dict[str, Any]]:
        """Every follow-up request of ``obj_id``: all pages read (``sourceID`` matches substrings of object
        ids, so only those of exactly this object are kept). An answer in another shape raises
        :class:`UnexpectedAnswer`: a request we cannot see is not taken to be absent."""
        found: list[dict[str, Any]] = []
        total = None
        for page in range(1, MAX_PAGES + 1):
            data = self.call("GET", "/api/followup_request",
                             params={"sourceID": obj_id, "pageNumber": page, "numPerPage": PAGE_SIZE})
            listed = data.get("followup_requests") if isinstance(data, dict) else None
            if not isinstance(listed, list) or not all(isinstance(r, dict) for r in listed):
                raise UnexpectedAnswer("GET /api/followup_request: no list of follow-up requests in the answer")
            total = data.get("totalMatches", total)
            found.extend(listed)
            if not listed or len(listed) < PAGE_SIZE or (isinstance(total, int) and len(found) >= total):
                break
        else:
            raise UnexpectedAnswer(f"GET /api/followup_request: more than {MAX_PAGES} pages")
        if isinstance(total, int) and len(found) < total:
            raise UnexpectedAnswer(f"GET /api/followup_request: {len(found)} of {total} requests listed")
        return [r for r in found if r.get("obj_id") == obj_id]

    def request_followup(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._object("POST", "/api/followup_request", body=body)

    def update_followup(self, request_id: Any, body: dict[str, Any]) -> dict[str, Any]:
        return self._object("PUT", f"/api/followup_request/{int(request_id)}", body=body)


__all__ = ["AuthError", "SkyPortal", "SkyPortalError", "UnexpectedAnswer"]
