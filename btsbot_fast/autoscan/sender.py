"""Sending the state's open actions to SkyPortal: inline, or from a background thread that scoring never waits on.

The state is the queue: a decision's actions are recorded as intents (``pending``) in the transaction
that records the decision, so whoever sends them - this process or another - finds them there.
:class:`Sender` makes one *sweep*: every open action, oldest first, claimed (PostgreSQL: an advisory lock
on it, so two workers never send one action), sent with bounded retries and exponential backoff
(:class:`~.actions.ActionRunner`; each try recorded before it goes out, its outcome after), released.
An action waits for the one it depends on (:data:`~.actions.DEPENDS_ON`: the save for its candidate,
the trail and the follow-up for the save, the follow-up's comment for the follow-up).

A follow-up that waits on SkyPortal's listing (the grace window after a lost answer, a failed request's
12 h) is looked at again by one sender at most every :data:`RECHECK_WAITING` seconds, and when its grace
window ends; the sweeps between pass it by unclaimed. That memory is this sender's alone (the state is
the record of what was sent: a skipped check sends nothing, and every POST is still preceded by reading
the listing and recording ``post_sent_at``).

Nothing is lost: an action whose tries all met failures that may pass (SkyPortal down, timeouts) stays
*pending* and the sweep ends there - the rest wait behind it, untried - so an outage costs one action's
tries per sweep, and everything goes out once SkyPortal answers again. A 401 ends the sweep the same way,
noted in the state (:data:`TOKEN_REFUSED`, read by the stream's metrics) until a sweep sends again. Only
a permanent refusal dead-letters an action.

:class:`SenderThread` runs sweeps in a thread of its own, with its own connection to the state: woken
when a batch records new intents, and every ``poll`` seconds (a PostgreSQL worker then also picks up what
a dead worker left); while SkyPortal is down or refuses the token, after a pause that doubles up to
:data:`MAX_PAUSE`. The live stream uses it, so a batch's offsets are committed once its intents are
durable, never after SkyPortal answered. ``btsbot-fast autoscan --send-pending STATE`` is one inline sweep.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from .actions import ANNOTATION, CANDIDATE, COMMENT, DEPENDS_ON, FOLLOWUP_COMMENT, SAVE, ActionRunner, Outcome
from .state import OPEN_STATES, TOKEN_REFUSED_KEY, ActionRow, Store

log = logging.getLogger("btsbot_fast.autoscan")

#: a decision, as the state keys it: (objectId, policy)
DecisionKey = tuple[str, str]


#: how often one sender re-reads SkyPortal's follow-up list for a follow-up that waits on it (seconds)
RECHECK_WAITING = 60.0

#: the state's note that SkyPortal refused the token (the time, ISO UTC); cleared by the next success
TOKEN_REFUSED = TOKEN_REFUSED_KEY


@dataclass
class SweepResult:
    """What one sweep did: actions ``sent`` (an outcome recorded), and why it stopped early, if it did:
    ``unreachable`` (SkyPortal did not answer well within the retries: the error) or ``auth_refused``."""

    sent: int = 0
    unreachable: str | None = None
    auth_refused: str | None = None


class Sender:
    """Sweeps the open actions of ``store`` through ``runner``.

    ``on_finished(store, key, resumed)`` is called for each decision of the sweep after its actions were
    sent (those another worker holds stay as they are; ``resumed``: the decision was not handed in through
    ``new``, and is reported only if this sweep sent one of its actions); ``on_outcome(kind, state,
    error)`` for each action that got an outcome (``pending`` included). Both are called on the sweeping
    thread with its ``store``. Without a SkyPortal client (no settings, or a dry run) nothing is sent and
    the queued actions stay as they are: only the new decisions are reported."""

    def __init__(self, store: Store, runner: ActionRunner, *, clock: Callable[[], float] = time.time,
                 on_finished: Callable[[Store, DecisionKey, bool], None] | None = None,
                 on_outcome: Callable[[str, str, str | None], None] | None = None,
                 on_swept: Callable[[SweepResult], None] | None = None,
                 should_stop: Callable[[], bool] = lambda: False):
        self.on_swept = on_swept
        #: the actions this sender tried that stay pending (not those another worker holds)
        self.left_pending: set[int] = set()
        #: waiting follow-ups (action id) and the clock time before which this sender passes them by
        self.recheck_at: dict[int, float] = {}
        self.store = store
        self.runner = runner
        self.clock = clock
        self.on_finished = on_finished
        self.on_outcome = on_outcome
        self.should_stop = should_stop

    def sweep(self, new: Iterable[DecisionKey] = (), send: bool = True) -> SweepResult:
        """Send every open action once through its retries. SkyPortal unreachable (after one action's
        retries) or refusing the token ends the sweep: the other actions wait, untried. ``send=False``
        (SkyPortal failed moments ago): only report the new decisions, their actions pending."""
        result = SweepResult()
        new = list(new)
        if self.runner.client is None or not send:
            for key in new:
                if self.on_finished is not None:
                    self.on_finished(self.store, key, False)
            return result
        groups: dict[DecisionKey, list[ActionRow]] = {key: [] for key in new}
        resumed: set[DecisionKey] = set()
        for action in self.store.open_actions():
            key = (action.object_id, action.policy)
            if key not in groups:
                groups[key] = []
                resumed.add(key)
            groups[key].append(action)
        for key, actions in groups.items():
            stopped = self.should_stop() or result.unreachable or result.auth_refused
            sent = False
            for action in [] if stopped else actions:
                if self.recheck_at.get(action.id, 0.0) > self.clock():
                    continue  # a waiting follow-up looked at moments ago: SkyPortal is not asked again yet
                owned = self.store.claim(action.id)
                if owned is None:  # finished meanwhile, or another worker is sending it
                    continue
                try:
                    outcome = self._send(owned)
                finally:
                    self.store.release(owned.id)
                if outcome is None:
                    continue
                sent = True
                result.sent += 1
                if outcome.state == "auth":
                    result.auth_refused = outcome.error
                elif outcome.stop:
                    result.unreachable = outcome.error
                if outcome.stop:
                    break
            if key in resumed and not sent:
                continue
            if self.on_finished is not None:
                self.on_finished(self.store, key, key in resumed)
        if result.auth_refused:
            if self.store.meta(TOKEN_REFUSED) is None:
                self.store.set_meta(TOKEN_REFUSED, _utc_iso(self.clock()))
            log.error("autoscan: SkyPortal refused the token (HTTP 401): nothing more is sent; every action stays "
                      "pending until a run with a good token")
        elif result.sent and self.store.meta(TOKEN_REFUSED) is not None and not result.unreachable:
            self.store.set_meta(TOKEN_REFUSED, None)
        if self.on_swept is not None:
            self.on_swept(result)
        return result

    def _send(self, action: ActionRow) -> Outcome | None:
        """Send one claimed action; its outcome (recorded), or None when it waits for another action."""
        store = self.store
        request = action.request
        dep = DEPENDS_ON.get(action.kind)
        found = store.action_outcome(action.object_id, dep) if dep else None
        if found is not None:
            dep_state, dep_result = found
            if dep_state in OPEN_STATES:
                return None  # being sent (here, later in this sweep, or by another worker)
            dep_result = dep_result or {}
            if dep_state == "failed" and dep != CANDIDATE:  # a save does not need its candidate
                what = "saving the source" if dep == SAVE else "the follow-up request"
                return self._finish(action, Outcome("failed", action.attempts, error=f"not sent: {what} failed"))
            if action.kind in (COMMENT, ANNOTATION) and isinstance(dep_result.get("saved_to_groups"), list):
                groups = dep_result["saved_to_groups"]
                if not groups and action.kind == COMMENT:  # Kowalski comments on the groups saved to only
                    return self._finish(action, Outcome("done", action.attempts,
                                                        result={"skipped": "saved to no group"}))
                request = {**request, "group_ids": groups or request["group_ids"]}
            if action.kind == FOLLOWUP_COMMENT and not _requested(dep_result):
                return self._finish(action, Outcome("done", action.attempts,
                                                    result={"skipped": "no follow-up request was made"}))
        base = action.attempts
        outcome = self.runner.run(action.kind, request, progress=action.result if action.state in OPEN_STATES
                                  else None,
                                  before_attempt=lambda n: store.mark_attempt(action.id, base + n, self.clock()),
                                  save_progress=lambda p: store.save_progress(action.id, p))
        outcome.attempts += base
        if outcome.state == "interrupted":  # stopping between retries: stays open for the next run
            return None
        return self._finish(action, outcome)

    def _finish(self, action: ActionRow, outcome: Outcome) -> Outcome:
        if outcome.state in ("pending", "auth"):
            self.store.finish(action, "pending", outcome.attempts, outcome.http_status, outcome.progress,
                              outcome.error, self.clock())
        else:
            self.store.finish(action, outcome.state, outcome.attempts, outcome.http_status, outcome.result,
                              outcome.error, self.clock())
        if outcome.state in ("pending", "auth"):
            self.left_pending.add(action.id)
        else:
            self.left_pending.discard(action.id)
        if outcome.waiting:
            recheck = self.clock() + RECHECK_WAITING
            self.recheck_at[action.id] = recheck if outcome.wait_ends is None else min(recheck, outcome.wait_ends)
        else:
            self.recheck_at.pop(action.id, None)
        if self.on_outcome is not None:
            self.on_outcome(action.kind, "pending" if outcome.state == "auth" else outcome.state, outcome.error)
        return outcome


def _requested(followup_result: dict) -> bool:
    """Whether a finished follow-up action made (or raised) a request of its own."""
    if followup_result.get("updated"):
        return True
    return (followup_result.get("id") is not None and not followup_result.get("existing")
            and not followup_result.get("ignored"))


def _utc_iso(t: float) -> str:
    return dt.datetime.fromtimestamp(t, tz=dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


#: the longest pause of the background sender between sweeps while SkyPortal is down (seconds)
MAX_PAUSE = 300.0


class SenderThread:
    """A :class:`Sender` in a daemon thread with its own state connection (``store``, closed by :meth:`stop`).

    ``sender_for(store, should_stop)`` builds the thread's :class:`Sender` (the runner's backoff sleep must
    wake on :meth:`stop`: use :meth:`wait`). An exception in the thread (the state became unusable) ends
    it and is kept in :attr:`error`; the caller raises it (the stream then stops without committing)."""

    def __init__(self, store: Store, sender_for: Callable[[Store, Callable[[], bool]], Sender], *,
                 poll: float = 5.0, max_pause: float = MAX_PAUSE):
        self.store = store
        self.poll = poll
        self.max_pause = max_pause
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._new: list[DecisionKey] = []
        self._new_lock = threading.Lock()
        self.error: BaseException | None = None
        self.sender = sender_for(store, self._stop.is_set)
        self._thread = threading.Thread(target=self._run, name="autoscan-sender", daemon=True)

    def start(self) -> SenderThread:
        self._thread.start()
        return self

    def wait(self, seconds: float) -> None:
        """The runner's backoff sleep: returns early when the thread is asked to stop."""
        self._stop.wait(seconds)

    def hand(self, keys: Iterable[DecisionKey]) -> None:
        """New decisions whose intents are committed: send (and report) them now."""
        with self._new_lock:
            self._new.extend(keys)
        self._wake.set()

    def _run(self) -> None:
        pause = self.poll
        try:
            while not self._stop.is_set():
                self._wake.clear()
                with self._new_lock:
                    new, self._new = self._new, []
                result = self.sender.sweep(new)
                if result.unreachable or result.auth_refused:
                    # SkyPortal down or refusing the token: try again later, less and less often (capped);
                    # new decisions keep being recorded meanwhile, their actions pending
                    log.warning("autoscan: actions stay pending (%s); next try in %.0f s",
                                result.auth_refused or result.unreachable, pause)
                    self._stop.wait(pause)
                    pause = min(pause * 2, self.max_pause)
                    continue
                pause = self.poll
                self._wake.wait(self.poll)
        except BaseException as exc:  # kept for the caller; the thread ends
            self.error = exc
            log.error("autoscan sender stopped: %s: %s", type(exc).__name__, exc)

    def stop(self, timeout: float | None = None) -> None:
        """Stop after the request in flight (its outcome recorded); what is still open stays in the state."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        self.store.close()


__all__ = ["RECHECK_WAITING", "TOKEN_REFUSED", "Sender", "SenderThread", "SweepResult"]

