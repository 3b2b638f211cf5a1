"""What a decision does in SkyPortal, and doing it with bounded retries.

:func:`plan` turns a decision into the requests to send (the *intent*, recorded in the state before
anything is sent), in this order: a candidate (with a configured ``filter_id``), the save (with the
candidate's ``ra``/``dec``, which SkyPortal needs for an object it does not know), the trail - a comment
saying what decided it and an annotation holding the BTSbot scores - and, when configured, a follow-up
request and its comment. Each action has a key that names what it does, not when: re-planning the same
source gives the same key, so an action is never recorded (or sent) twice.

:class:`ActionRunner` sends one action: up to ``max_attempts`` tries with exponential backoff on failures
that may pass (5xx, 408, 429, timeouts, connection errors). When they do not pass, the action stays
*pending* for the next run; only a permanent refusal (another 4xx, a facility's rejection) fails it, with
SkyPortal's reason. A 401 stops the sweep: every action stays pending until a good token comes.

A follow-up request is never made twice (:meth:`ActionRunner._followup`):

* before its POST the action records that a POST is going out (``post_sent_at``, committed first);
* every try starts with reading all of the source's requests (every page, the exact object id);
* after a POST whose answer was lost, a request on our allocation and target groups that appeared since is
  ours, whatever its payload (a facility may rewrite the payload it stores); none yet: the action waits
  (pending, across runs) for ``followup_grace`` seconds before a new POST may go out;
* else Kowalski's rule (:func:`followup_step`): a request on the same allocation, with overlapping target
  groups and the same payload apart from priority, dates and ``advanced`` (compared on the keys both
  have) blocks ours - whatever its status, a missing or unreadable one included - except a ``rejected``
  one and a ``failed`` one last modified more than 12 hours ago. A failed one younger than that makes ours
  wait (a new request goes out when it has expired; the action is not done without a request that
  counts). A matching request still ``submitted`` with a lower priority is raised to ours (``PUT``).

Saves, candidates and comments may be repeated harmlessly (SkyPortal re-activates a save and answers an
identical comment with the existing one); an annotation is read before it is posted (one per origin).
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .config import FollowupConfig, SkyPortalConfig
from .skyportal import AuthError, SkyPortal, SkyPortalError, UnexpectedAnswer

CANDIDATE = "candidate"
SAVE = "save"
COMMENT = "comment"
ANNOTATION = "annotation"
FOLLOWUP = "followup"
FOLLOWUP_COMMENT = "followup_comment"
#: the kinds in the order they are planned (and sent)
KINDS = (CANDIDATE, SAVE, COMMENT, ANNOTATION, FOLLOWUP, FOLLOWUP_COMMENT)
#: the action each kind waits for (sent only once that one is finished)
DEPENDS_ON = {SAVE: CANDIDATE, COMMENT: SAVE, ANNOTATION: SAVE, FOLLOWUP: SAVE, FOLLOWUP_COMMENT: FOLLOWUP}
#: payload keys left out when comparing follow-up requests (Kowalski's rule: priority, dates, advanced)
IGNORED_PAYLOAD_KEYS = frozenset({"priority", "urgency", "Urgency", "start_date", "end_date", "advanced"})
#: the payload keys SkyPortal reads a priority from, first present wins (higher number = higher priority)
PRIORITY_KEYS = ("priority", "urgency", "Urgency")
#: a failed request last modified longer ago than this no longer blocks a new one (Kowalski: the next night)
FAILED_REQUEST_EXPIRY = dt.timedelta(hours=12)
#: a request created up to this long before our POST was recorded still counts as ours (clock skew)
CLOCK_SKEW = dt.timedelta(minutes=5)
MAX_BACKOFF = 60.0


@dataclass(frozen=True)
class PlannedAction:
    kind: str
    key: str
    request: dict[str, Any]


@dataclass(frozen=True)
class DecisionFacts:
    """What the trail says about a decision: the triggering alert and the source's scores up to then."""

    object_id: str
    policy: str
    candid: int
    score: float
    threshold: float
    ra: float | None = None
    dec: float | None = None
    model: str | None = None
    max_score: float | None = None
    latest_score: float | None = None
    n_above: int | None = None


@dataclass
class Outcome:
    """How an action's sending ended: ``done`` (result holds what SkyPortal said), ``failed``
    (dead-lettered: a permanent refusal, ``error`` says why), ``pending`` (not finished: SkyPortal could
    not be reached, or the action waits; ``error`` says why), ``auth`` (the token was refused: pending)
    or ``interrupted`` (asked to stop between retries). ``stop``: the sweep should not go on (SkyPortal is
    unreachable or refuses the token: the other actions wait, uncharged). ``progress`` is kept in the
    state while the action is open (a follow-up's ``post_sent_at``). ``waiting``: pending because the
    action waits on what SkyPortal lists (a lost answer's grace window, a failed request's 12 h), not
    on a failure; ``wait_ends``: when that wait ends (the grace window: a new POST may go out then)."""

    state: str
    attempts: int = 0
    http_status: int | None = None
    result: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    stop: bool = False
    progress: dict[str, Any] = field(default_factory=dict)
    waiting: bool = False
    wait_ends: float | None = None


def _comparable_payload(payload: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in payload.items() if k not in IGNORED_PAYLOAD_KEYS}


def _iso(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%f")


def annotation_origin(skyportal: SkyPortalConfig, policy: str) -> str:
    """The annotation's origin: one annotation per source and origin (Kowalski: ``group:filter``)."""
    return f"{skyportal.origin}:{policy}"


def annotation_data(facts: DecisionFacts) -> dict[str, Any]:
    """The annotation's data: what a scanner filters and sorts candidates by."""
    data: dict[str, Any] = {"btsbot_max_score": facts.max_score, "btsbot_latest_score": facts.latest_score,
                            f"btsbot_alerts_above_{facts.threshold:g}": facts.n_above,
                            "btsbot_trigger_candid": facts.candid, "btsbot_trigger_score": facts.score}
    if facts.model:
        data["btsbot_model"] = facts.model
    return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in data.items() if v is not None}


def save_comment(facts: DecisionFacts) -> str:
    """The comment on a save: deterministic (a repeated POST is answered with the existing comment)."""
    model = f", model {facts.model}" if facts.model else ""
    return (f"Saved by btsbot-fast autoscan (policy {facts.policy}): BTSbot score {facts.score:.4f} at candid "
            f"{facts.candid}{model}.")


def followup_comment(policy: str, priority: Any) -> str:
    return f"Follow-up requested by btsbot-fast autoscan (policy {policy}) (priority: {priority})"


def plan(facts: DecisionFacts, skyportal: SkyPortalConfig | None, followup: FollowupConfig | None,
         now: dt.datetime) -> list[PlannedAction]:
    """The actions for a new decision (empty without SkyPortal settings). Follow-up dates are fixed here,
    at decision time (``now`` in UTC), so a resumed send is the request that was recorded."""
    if skyportal is None:
        return []
    oid = facts.object_id
    out: list[PlannedAction] = []
    position = {k: getattr(facts, k) for k in ("ra", "dec") if getattr(facts, k) is not None}
    if skyportal.filter_id is not None:
        out.append(PlannedAction(CANDIDATE, f"{CANDIDATE}:{skyportal.filter_id}:{facts.candid}",
                                 {"id": oid, **position, "filter_ids": [skyportal.filter_id],
                                  "passing_alert_id": facts.candid, "passed_at": _iso(now)}))
    save: dict[str, Any] = {"id": oid, "group_ids": list(skyportal.group_ids), "origin": skyportal.origin, **position}
    if skyportal.ignore_if_in_group_ids:
        save["ignore_if_in_group_ids"] = {k: list(v) for k, v in skyportal.ignore_if_in_group_ids.items()}
    save_key = SAVE + ":" + json.dumps({k: save[k] for k in ("group_ids", "ignore_if_in_group_ids") if k in save},
                                       sort_keys=True)
    out.append(PlannedAction(SAVE, save_key, save))
    if skyportal.comments:
        out.append(PlannedAction(COMMENT, f"{COMMENT}:{SAVE}:{facts.policy}",
                                 {"obj_id": oid, "text": save_comment(facts), "group_ids": list(skyportal.group_ids)}))
    if skyportal.annotations:
        origin = annotation_origin(skyportal, facts.policy)
        out.append(PlannedAction(ANNOTATION, f"{ANNOTATION}:{origin}",
                                 {"obj_id": oid, "origin": origin, "data": annotation_data(facts),
                                  "group_ids": list(skyportal.group_ids)}))
    if followup is not None:
        payload = dict(followup.payload)
        payload["start_date"] = _iso(now)
        payload["end_date"] = _iso(now + dt.timedelta(days=followup.validity_days))
        request = {"obj_id": oid, "allocation_id": followup.allocation_id,
                   "target_group_ids": list(followup.target_group_ids), "payload": payload,
                   **json.loads(json.dumps(dict(followup.constraints)))}  # SkyPortal reads them top-level
        key = FOLLOWUP + ":" + json.dumps({"allocation_id": followup.allocation_id,
                                           "target_group_ids": sorted(followup.target_group_ids),
                                           "payload": _comparable_payload(payload)}, sort_keys=True)
        out.append(PlannedAction(FOLLOWUP, key, request))
        if skyportal.comments:
            prio = _priority(payload)
            out.append(PlannedAction(FOLLOWUP_COMMENT, f"{COMMENT}:{FOLLOWUP}:{facts.policy}",
                                     {"obj_id": oid,
                                      "text": followup_comment(facts.policy, payload[prio[0]] if prio else "n/a"),
                                      "group_ids": list(followup.target_group_ids)}))
    return out


def annotation_update(facts: DecisionFacts, skyportal: SkyPortalConfig, latest_candid: int) -> PlannedAction:
    """A PUT of the annotation with the scores as they stand after alert ``latest_candid``."""
    origin = annotation_origin(skyportal, facts.policy)
    return PlannedAction(ANNOTATION, f"{ANNOTATION}:{origin}:{latest_candid}",
                         {"obj_id": facts.object_id, "origin": origin, "data": annotation_data(facts),
                          "group_ids": list(skyportal.group_ids)})


def describe(kind: str, request: dict[str, Any]) -> str:
    """One line saying what sending the action does (dry runs)."""
    oid = request.get("id") or request.get("obj_id") or "?"
    body = json.dumps(request, sort_keys=True)
    what = {CANDIDATE: f"POST /api/candidates {body}",
            SAVE: f"POST /api/sources {body}",
            COMMENT: f"POST /api/sources/{oid}/comments {body} (to the groups it is saved to)",
            FOLLOWUP_COMMENT: f"POST /api/sources/{oid}/comments {body} (once a follow-up request was made)",
            ANNOTATION: f"POST /api/sources/{oid}/annotations {body} (unless the source has this origin's)",
            FOLLOWUP: f"POST /api/followup_request {body} (unless a matching request exists)"}
    return what.get(kind, f"{kind} {body}")


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


def _status(existing: dict[str, Any]) -> str | None:
    """The request's status, lower-cased; None when missing or unreadable."""
    status = existing.get("status")
    return status.strip().lower() or None if isinstance(status, str) else None


def _naive_utc(value: Any) -> dt.datetime | None:
    """SkyPortal's ``isoformat()`` times (naive UTC, with or without microseconds); None if unreadable."""
    try:
        t = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return t.astimezone(dt.timezone.utc).replace(tzinfo=None) if t.tzinfo is not None else t


def _expired_failure(existing: dict[str, Any], now: dt.datetime) -> bool:
    """A failed request last modified more than 12 h ago (an unreadable date keeps it: it blocks)."""
    if "failed" not in (_status(existing) or ""):
        return False
    modified = _naive_utc(existing.get("modified"))
    return modified is not None and now - modified > FAILED_REQUEST_EXPIRY


def _target_groups(existing: dict[str, Any]) -> set[Any]:
    if "target_group_ids" in existing:
        return set(existing.get("target_group_ids") or [])
    return {g.get("id") for g in existing.get("target_groups") or [] if isinstance(g, dict)}


def same_target(existing: dict[str, Any], request: dict[str, Any]) -> bool:
    """Same allocation and at least one target group in common (Kowalski: any overlap)."""
    return (existing.get("allocation_id") == request["allocation_id"]
            and bool(_target_groups(existing) & set(request["target_group_ids"])))


def same_followup(existing: dict[str, Any], request: dict[str, Any]) -> bool:
    """Whether an existing SkyPortal follow-up request is the one ``request`` would make (Kowalski's rule):
    same allocation, overlapping target groups, same payload apart from priority, dates and ``advanced``.
    Payloads are compared on the keys both have: a facility may add keys to (or drop keys from) the payload
    it stores, and a request we cannot tell apart from ours blocks ours."""
    if not same_target(existing, request):
        return False
    payload = existing.get("payload")
    if not isinstance(payload, dict):
        return True  # unreadable: conservative, it blocks
    theirs, ours = _comparable_payload(payload), _comparable_payload(request["payload"])
    return all(theirs[k] == ours[k] for k in theirs.keys() & ours.keys())


def followup_step(existing_requests: list[dict[str, Any]], request: dict[str, Any],
                  now: dt.datetime) -> tuple[str, dict[str, Any] | None]:
    """What a follow-up try does given the source's requests (``now``: naive UTC): ``("post", None)``,
    ``("exists", r)``, ``("update", r)`` - raise ``r``'s priority to ours - or ``("wait", r)``: ``r`` failed
    less than 12 hours ago, a new request goes out once it has expired."""
    matching = [r for r in existing_requests if same_followup(r, request)
                and not (_status(r) or "").startswith("rejected") and not _expired_failure(r, now)]
    blocking = [r for r in matching if "failed" not in (_status(r) or "")]
    if not blocking:
        return ("wait", matching[0]) if matching else ("post", None)
    ours = _priority(request["payload"])
    # the lowest-priority match is the one to raise (Kowalski's order)
    lowest = min(blocking, key=lambda r: (_priority(r.get("payload")) or ("", float("inf")))[1])
    theirs = _priority(lowest.get("payload"))
    if "submitted" in (_status(lowest) or "") and ours is not None and theirs is not None and ours[1] > theirs[1]:
        return "update", lowest
    return "exists", lowest


def _ours(existing_requests: list[dict[str, Any]], request: dict[str, Any], posted_at: float) -> dict | None:
    """The request our earlier POST (recorded at Unix time ``posted_at``) made, if it is listed: on our
    allocation and target groups, created since (an unreadable creation time counts)."""
    since = dt.datetime.fromtimestamp(posted_at, tz=dt.timezone.utc).replace(tzinfo=None) - CLOCK_SKEW
    for r in existing_requests:
        if same_target(r, request):
            created = _naive_utc(r.get("created_at"))
            if created is None or created >= since:
                return r
    return None


class ActionRunner:
    """Sends actions through a :class:`SkyPortal` client with bounded retries (``client=None``: nothing is
    sent; the sender leaves the actions as they are)."""

    def __init__(self, client: SkyPortal | None, *, max_attempts: int = 4, backoff: float = 1.0,
                 sleep: Callable[[float], None] = time.sleep, should_stop: Callable[[], bool] = lambda: False,
                 clock: Callable[[], float] = time.time, followup_grace: float = 900.0,
                 update_annotations: bool = False):
        self.client = client
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.sleep = sleep
        self.should_stop = should_stop
        self.clock = clock
        self.followup_grace = followup_grace
        self.update_annotations = update_annotations

    def utcnow(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.clock(), tz=dt.timezone.utc).replace(tzinfo=None)

    def run(self, kind: str, request: dict[str, Any], *, progress: dict[str, Any] | None = None,
            before_attempt: Callable[[int], None] = lambda n: None,
            save_progress: Callable[[dict[str, Any]], None] = lambda p: None) -> Outcome:
        """Send one action. ``before_attempt(n)`` runs (and records the attempt) before each try;
        ``save_progress(p)`` commits what must be known before a request goes out (a follow-up POST)."""
        assert self.client is not None, "no SkyPortal client: nothing is sent"
        progress = dict(progress or {})

        def keep(p: dict[str, Any]) -> None:
            progress.clear()
            progress.update(p)
            save_progress(dict(p))

        last: SkyPortalError | None = None
        for attempt in range(1, self.max_attempts + 1):
            before_attempt(attempt)
            try:
                state, result, error = self._once(kind, request, progress, keep)
                if state == "wait":
                    return Outcome("pending", attempts=attempt, http_status=200, error=error, progress=progress,
                                   waiting=True, wait_ends=result.get("wait_ends"))
                return Outcome(state, attempts=attempt, http_status=200, result=result, error=error)
            except AuthError as exc:  # a refused token does not get better by asking again
                return Outcome("auth", attempts=attempt, http_status=exc.status, error=str(exc), stop=True,
                               progress=progress)
            except SkyPortalError as exc:
                last = exc
                if not exc.retryable:
                    return Outcome("failed", attempts=attempt, http_status=exc.status, error=str(exc))
            if attempt < self.max_attempts:
                self.sleep(min(self.backoff * 2 ** (attempt - 1), MAX_BACKOFF))
                if self.should_stop():
                    return Outcome("interrupted", attempts=attempt, http_status=last.status, error=str(last),
                                   progress=progress)
        assert last is not None
        unexpected = isinstance(last, UnexpectedAnswer)
        return Outcome("pending", attempts=self.max_attempts, http_status=last.status, progress=progress,
                       error=f"still pending after {self.max_attempts} attempts: {last}", stop=not unexpected)

    def _once(self, kind: str, request: dict[str, Any], progress: dict[str, Any],
              keep: Callable[[dict[str, Any]], None]) -> tuple[str, dict[str, Any], str | None]:
        """One try: ``(state, result, error)`` with state ``done``, ``failed`` or ``wait``; raises
        :class:`SkyPortalError` when SkyPortal did not answer with success."""
        client = self.client
        assert client is not None
        if kind == CANDIDATE:
            data = client.post_candidate(request)
            return "done", {"ids": data.get("ids")}, None
        if kind == SAVE:
            data = client.save_source(request)
            return "done", {"saved_to_groups": data.get("saved_to_groups")}, None
        if kind in (COMMENT, FOLLOWUP_COMMENT):
            oid = request["obj_id"]
            data = client.post_comment(oid, {"text": request["text"], "group_ids": request["group_ids"]})
            return "done", {"comment_id": data.get("comment_id")}, None
        if kind == ANNOTATION:
            return self._annotation(request)
        if kind == FOLLOWUP:
            return self._followup(request, progress, keep)
        raise ValueError(f"unknown action kind {kind!r}")

    def _annotation(self, request: dict[str, Any], again: bool = True) -> tuple[str, dict[str, Any], str | None]:
        client = self.client
        assert client is not None
        oid, origin = request["obj_id"], request["origin"]
        mine = [a for a in client.annotations(oid) if a.get("origin") == origin]
        if mine:
            if not self.update_annotations:
                return "done", {"existing": True, "id": mine[0].get("id")}, None
            body = {**request, "author_id": mine[0].get("author_id")}
            client.update_annotation(oid, mine[0]["id"], body)
            return "done", {"updated": True, "id": mine[0].get("id")}, None
        try:
            data = client.post_annotation(oid, request)
        except SkyPortalError as exc:
            if again and exc.status == 400 and "already exists" in str(exc):  # posted meanwhile: read it
                return self._annotation(request, again=False)
            raise
        return "done", {"id": data.get("annotation_id", data.get("id"))}, None

    def _followup(self, request: dict[str, Any], progress: dict[str, Any],
                  keep: Callable[[dict[str, Any]], None]) -> tuple[str, dict[str, Any], str | None]:
        client = self.client
        assert client is not None
        existing = client.followup_requests(request["obj_id"])
        now = self.utcnow()
        posted_at = progress.get("post_sent_at")
        if posted_at is not None:
            r = _ours(existing, request, posted_at)
            if r is not None:  # ours: made by the POST whose answer was lost
                return self._made(r.get("id"), r.get("status"), recovered=True)
            if self.clock() - posted_at < self.followup_grace:
                when = _iso(dt.datetime.fromtimestamp(posted_at, tz=dt.timezone.utc).replace(tzinfo=None))[:19]
                return "wait", {"wait_ends": posted_at + self.followup_grace}, (
                    f"waiting for a follow-up request posted at {when} UTC whose "
                                    "answer was lost to appear in SkyPortal; nothing is posted again meanwhile")
        step, found = followup_step(existing, request, now)
        if step == "exists":
            return "done", {"existing": True, "id": found.get("id"), "status": found.get("status")}, None
        if step == "update":
            key, _ = _priority(request["payload"])
            body = {"payload": {**found["payload"], key: request["payload"][key]},
                    "obj_id": request["obj_id"], "allocation_id": found["allocation_id"]}
            client.update_followup(found["id"], body)
            return "done", {"updated": True, "id": found.get("id"), key: request["payload"][key]}, None
        end = _naive_utc(request["payload"].get("end_date"))
        if end is not None and now > end:
            return "failed", {}, "not requested: the follow-up's validity_days passed before a request went out"
        if step == "wait":
            return "wait", {}, (f"SkyPortal's matching request {found.get('id')} failed ({found.get('status')!s}"
                                "); a new one goes out 12 h after it last changed")
        keep({"post_sent_at": self.clock()})  # committed before the POST: a lost answer is never re-posted blindly
        try:
            data = client.request_followup(request)
        except SkyPortalError as exc:
            if not exc.uncertain:
                keep({})  # SkyPortal answered: nothing was stored (a "failed to submit" 400 stays listed)
            raise
        if data.get("ignored"):
            return "done", {"ignored": True, "id": data.get("id"), "message": data.get("message")}, None
        if "id" not in data or data.get("id") is None:
            raise UnexpectedAnswer("POST /api/followup_request: success without a request id")
        return self._made(data.get("id"), data.get("request_status"), recovered=False)

    @staticmethod
    def _made(request_id: Any, status: Any, recovered: bool) -> tuple[str, dict[str, Any], str | None]:
        """A request we made, as SkyPortal holds it: done, unless the facility rejected it or it failed to
        submit. ``recovered``: found in the listing after our POST's answer was lost."""
        result: dict[str, Any] = {"id": request_id}
        if recovered:
            result["recovered"] = True
        if status is not None:
            result["status"] = status
        text = status.lower() if isinstance(status, str) else ""
        if text.startswith("rejected") or "failed" in text:
            return "failed", result, f"SkyPortal's request {request_id}: {status}"
        return "done", result, None


__all__ = ["ANNOTATION", "CANDIDATE", "COMMENT", "DEPENDS_ON", "FOLLOWUP", "FOLLOWUP_COMMENT", "KINDS", "SAVE",
           "ActionRunner", "DecisionFacts", "Outcome", "PlannedAction", "annotation_update", "describe",
           "followup_step", "plan", "same_followup", "same_target"]
