"""A small SkyPortal (Fritz) API client for the four calls autoscan makes, as Kowalski makes them.

* ``POST /api/sources`` ``{"id", "group_ids", "origin"[, "ignore_if_in_group_ids"]}`` - save a source;
* ``GET /api/followup_request?sourceID=...`` - the source's follow-up requests;
* ``POST /api/followup_request`` ``{"obj_id", "allocation_id", "target_group_ids", "payload"}`` (+ constraints);
* ``PUT /api/followup_request/{id}`` ``{"payload", "obj_id", "allocation_id"}`` - raise a request's priority.

Authentication is the header ``Authorization: token <TOKEN>``. The token lives in the HTTP session only:
it is not in ``repr``, in error messages or in any log line. One call = one HTTP request; retrying is the
caller's decision (:mod:`.actions`), because a follow-up retry must repeat its GET check too.

Built on ``requests`` (the ``[autoscan]`` extra): connection pooling, timeouts and JSON handling that we
would otherwise re-implement over ``urllib``.
"""

from __future__ import annotations

from typing import Any

from ..messages import install_hint
from .config import TOKEN_ENV

INSTALL_HINT = "acting on SkyPortal needs requests: " + install_hint("autoscan")


class SkyPortalError(Exception):
    """A call that did not succeed. ``retryable``: a 5xx answer, a timeout or a connection failure."""

    def __init__(self, message: str, *, status: int | None = None, retryable: bool = False):
        super().__init__(message)
        self.status = status
        self.retryable = retryable


class AuthError(SkyPortalError):
    """HTTP 401: the token was refused. Never retried."""


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
             params: dict[str, Any] | None = None) -> dict[str, Any]:
        """One request; the answer's ``data`` on ``{"status": "success"}``, else :class:`SkyPortalError`."""
        what = f"{method} {path}"
        try:
            r = self._session.request(method, self.url + path, json=body, params=params, timeout=self.timeout)
        except self._requests.Timeout:
            raise SkyPortalError(f"{what}: no answer within {self.timeout:g} s", retryable=True) from None
        except self._requests.ConnectionError as exc:
            raise SkyPortalError(f"{what}: connection failed ({type(exc).__name__})", retryable=True) from None
        except self._requests.RequestException as exc:
            raise SkyPortalError(f"{what}: {type(exc).__name__}", retryable=True) from None
        code = r.status_code
        if code == 401:
            raise AuthError(f"{what}: SkyPortal refused the token (HTTP 401); check ${TOKEN_ENV} or the token file",
                            status=401)
        try:
            answer = r.json()
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise SkyPortalError(f"{what}: HTTP {code}, not a JSON object", status=code, retryable=code >= 500)
        if code >= 400 or answer.get("status") != "success":
            message = str(answer.get("message", ""))[:300]
            raise SkyPortalError(f"{what}: HTTP {code}: {message or 'no message'}", status=code,
                                 retryable=code >= 500 or code == 429)
        data = answer.get("data")
        return data if isinstance(data, dict) else {}

    def save_source(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.call("POST", "/api/sources", body=body)

    def followup_requests(self, obj_id: str) -> list[dict[str, Any]]:
        data = self.call("GET", "/api/followup_request", params={"sourceID": obj_id})
        found = data.get("followup_requests", [])
        return [r for r in found if isinstance(r, dict)] if isinstance(found, list) else []

    def request_followup(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.call("POST", "/api/followup_request", body=body)

    def update_followup(self, request_id: Any, body: dict[str, Any]) -> dict[str, Any]:
        return self.call("PUT", f"/api/followup_request/{int(request_id)}", body=body)


__all__ = ["AuthError", "SkyPortal", "SkyPortalError"]
