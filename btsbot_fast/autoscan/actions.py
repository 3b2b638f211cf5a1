"""What a decision does in SkyPortal, and doing it with bounded retries.

:func:`plan` turns a decision into the requests to send (the *intent*, recorded in the state before
anything is sent): a save, then - when configured - a follow-up request. Each action has a key that
names what it does, not when: re-planning the same source gives the same key, so an action is never
recorded (or sent) twice.

:class:`ActionRunner` sends one action: up to ``max_attempts`` tries with exponential backoff on
retryable failures (5xx, timeouts, connection errors); 401 and other 4xx answers are not retried. A
follow-up try is always "GET the source's requests, then POST only if none matches", so a retry after a
timed-out POST (or a restart after a crash mid-send) cannot make a second request. Saving twice is
harmless in SkyPortal, so a save is simply repeated.

Which existing request "matches" is Kowalski's rule (:func:`followup_step`): same allocation, target
groups and payload apart from priority and dates, among requests whose status is complete, submitted,
deleted or failed - except a failed one last modified more than 12 hours ago, which no longer blocks a
new request. A matching request still ``submitted`` with a lower priority than ours is raised to ours
(``PUT /api/followup_request/{id}``); a request we made ourselves (same payload, dates included) always
counts as made.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .config import FollowupConfig, SkyPortalConfig
from .skyportal import AuthError, SkyPortal, SkyPortalError

SAVE = "save"
FOLLOWUP = "followup"
#: payload keys left out when comparing follow-up requests (Kowalski's rule: priority and dates)
IGNORED_PAYLOAD_KEYS = frozenset({"priority", "urgency", "Urgency", "start_date", "end_date"})
#: the payload keys SkyPortal reads a priority from, first present wins (higher number = higher priority)
PRIORITY_KEYS = ("priority", "urgency", "Urgency")
#: statuses (substrings, any case) of existing requests that count; others (e.g. "pending") do not
COUNTED_STATUSES = ("complete", "submitted", "deleted", "failed")
#: a failed request last modified longer ago than this no longer blocks a new one (Kowalski: the next night)
FAILED_REQUEST_EXPIRY = dt.timedelta(hours=12)
MAX_BACKOFF = 60.0


@dataclass(frozen=True)
class PlannedAction:
    kind: str
    key: str
    request: dict[str, Any]


@dataclass
class Outcome:
    """How an action ended: ``done`` (result holds what SkyPortal said), ``failed`` (dead-lettered),
    ``dry_run`` (nothing sent) or ``interrupted`` (asked to stop between retries: still open)."""

    state: str
    attempts: int = 0
    http_status: int | None = None
    result: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


def _comparable_payload(payload: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in payload.items() if k not in IGNORED_PAYLOAD_KEYS}


def _iso(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%f")


def plan(object_id: str, skyportal: SkyPortalConfig | None, followup: FollowupConfig | None,
         now: dt.datetime) -> list[PlannedAction]:
    """The actions for a new decision on ``object_id`` (empty without SkyPortal settings). Follow-up dates
    are fixed here, at decision time (``now`` in UTC), so a resumed send is the request that was recorded."""
    if skyportal is None:
        return []
    save: dict[str, Any] = {"id": object_id, "group_ids": list(skyportal.group_ids), "origin": skyportal.origin}
    if skyportal.ignore_if_in_group_ids:
        save["ignore_if_in_group_ids"] = {k: list(v) for k, v in skyportal.ignore_if_in_group_ids.items()}
    save_key = SAVE + ":" + json.dumps({k: save[k] for k in ("group_ids", "ignore_if_in_group_ids") if k in save},
                                       sort_keys=True)
    out = [PlannedAction(SAVE, save_key, save)]
    if followup is not None:
        payload = dict(followup.payload)
        payload["start_date"] = _iso(now)
        payload["end_date"] = _iso(now + dt.timedelta(days=followup.validity_days))
        request = {"obj_id": object_id, "allocation_id": followup.allocation_id,
                   "target_group_ids": list(followup.target_group_ids), "payload": payload,
                   **json.loads(json.dumps(dict(followup.constraints)))}  # SkyPortal reads them top-level
        key = FOLLOWUP + ":" + json.dumps({"allocation_id": followup.allocation_id,
                                           "target_group_ids": sorted(followup.target_group_ids),
                                           "payload": _comparable_payload(payload)}, sort_keys=True)
        out.append(PlannedAction(FOLLOWUP, key, request))
    return out


def _priority(payload: Any) -> tuple[str, float] | None:
    if not isinstance(payload, dict):
        return None
    for key in PRIORITY_KEYS:
        if key in payload:
            try:
                return key, float(payload[key])
            except (TypeError, ValueError):
                return None
    return None


def _status(existing: dict[str, Any]) -> str:
    return str(existing.get("status") or "").lower()


def _expired_failure(existing: dict[str, Any], now: dt.datetime) -> bool:
    """A failed request last modified more than 12 h ago (an unreadable date keeps it: it blocks)."""
    if "failed" not in _status(existing):
        return False
    try:
        modified = dt.datetime.fromisoformat(str(existing.get("modified")).replace("Z", "+00:00"))
    except ValueError:
        return False
    if modified.tzinfo is not None:
        modified = modified.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return now - modified > FAILED_REQUEST_EXPIRY


def followup_step(existing_requests: list[dict[str, Any]], request: dict[str, Any],
                  now: dt.datetime) -> tuple[str, dict[str, Any] | None]:
    """What a follow-up try does given the source's requests (``now``: naive UTC):
    ``("post", None)``, ``("exists", r)`` or ``("update", r)`` - raise ``r``'s priority to ours."""
    for r in existing_requests:  # ours, from an earlier try whose answer was lost: made, whatever its status
        if same_followup(r, request) and r.get("payload") == request["payload"]:
            return "exists", r
    counted = [r for r in existing_requests if any(s in _status(r) for s in COUNTED_STATUSES)
               and not _expired_failure(r, now)]
    matching = [r for r in counted if same_followup(r, request)]
    if not matching:
        return "post", None
    ours = _priority(request["payload"])
    # the lowest-priority match is the one to raise (Kowalski's order)
    lowest = min(matching, key=lambda r: (_priority(r.get("payload")) or ("", float("inf")))[1])
    theirs = _priority(lowest.get("payload"))
    if "submitted" in _status(lowest) and ours is not None and theirs is not None and ours[1] > theirs[1]:
        return "update", lowest
    return "exists", lowest


def same_followup(existing: dict[str, Any], request: dict[str, Any]) -> bool:
    """Whether an existing SkyPortal follow-up request is the one ``request`` would make: same allocation,
    same target groups (as a set), same payload apart from priority and dates."""
    if existing.get("allocation_id") != request["allocation_id"]:
        return False
    if "target_group_ids" in existing:
        targets = existing.get("target_group_ids") or []
    else:
        targets = [g.get("id") for g in existing.get("target_groups") or [] if isinstance(g, dict)]
    if set(targets) != set(request["target_group_ids"]):
        return False
    payload = existing.get("payload")
    return isinstance(payload, dict) and _comparable_payload(payload) == _comparable_payload(request["payload"])


class ActionRunner:
    """Sends actions through a :class:`SkyPortal` client with bounded retries (``client=None``: dry run)."""

    def __init__(self, client: SkyPortal | None, *, max_attempts: int = 4, backoff: float = 1.0,
                 sleep: Callable[[float], None] = time.sleep, should_stop: Callable[[], bool] = lambda: False,
                 utcnow: Callable[[], dt.datetime] | None = None):
        self.client = client
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.sleep = sleep
        self.should_stop = should_stop
        self.utcnow = utcnow or (lambda: dt.datetime.now(dt.timezone.utc).replace(tzinfo=None))

    def run(self, kind: str, request: dict[str, Any], before_attempt: Callable[[int], None] = lambda n: None
            ) -> Outcome:
        """Send one action. ``before_attempt(n)`` runs (and records the attempt) before each try."""
        if self.client is None:
            return Outcome("dry_run")
        last: SkyPortalError | None = None
        for attempt in range(1, self.max_attempts + 1):
            before_attempt(attempt)
            try:
                result = self._once(kind, request)
                return Outcome("done", attempts=attempt, http_status=200, result=result)
            except AuthError as exc:  # a refused token does not get better by asking again
                return Outcome("failed", attempts=attempt, http_status=exc.status, error=str(exc))
            except SkyPortalError as exc:
                last = exc
                if not exc.retryable:
                    return Outcome("failed", attempts=attempt, http_status=exc.status, error=str(exc))
            if attempt < self.max_attempts:
                self.sleep(min(self.backoff * 2 ** (attempt - 1), MAX_BACKOFF))
                if self.should_stop():
                    return Outcome("interrupted", attempts=attempt, http_status=last.status, error=str(last))
        assert last is not None
        return Outcome("failed", attempts=self.max_attempts, http_status=last.status,
                       error=f"gave up after {self.max_attempts} attempts: {last}")

    def _once(self, kind: str, request: dict[str, Any]) -> dict[str, Any]:
        assert self.client is not None
        if kind == SAVE:
            data = self.client.save_source(request)
            return {"saved_to_groups": data.get("saved_to_groups")}
        if kind == FOLLOWUP:
            step, existing = followup_step(self.client.followup_requests(request["obj_id"]), request, self.utcnow())
            if step == "exists":
                return {"existing": True, "id": existing.get("id")}
            if step == "update":
                key, value = _priority(request["payload"])
                body = {"payload": {**existing["payload"], key: request["payload"][key]},
                        "obj_id": request["obj_id"], "allocation_id": existing["allocation_id"]}
                self.client.update_followup(existing["id"], body)
                return {"updated": True, "id": existing.get("id"), key: request["payload"][key]}
            data = self.client.request_followup(request)
            if data.get("ignored"):
                return {"ignored": True, "id": data.get("id"), "message": data.get("message")}
            return {"id": data.get("id")}
        raise ValueError(f"unknown action kind {kind!r}")


__all__ = ["FOLLOWUP", "SAVE", "ActionRunner", "Outcome", "PlannedAction", "followup_step", "plan", "same_followup"]
