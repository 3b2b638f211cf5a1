"""Sending the state's open actions to SkyPortal: inline, or from a background thread that scoring never waits on.

The state is the queue: a decision's actions are recorded as intents (``pending``) in the transaction
that records the decision, so whoever sends them - this process or another - finds them there.
:class:`Sender` makes one *sweep*: every open action, oldest first, claimed (PostgreSQL: an advisory lock
on it, so two workers never send one action), sent with bounded retries and exponential backoff
(:class:`~.actions.ActionRunner`; each try recorded before it goes out, its outcome after), released.
A follow-up waits for its source's save. After ``max_attempts`` tries an action is dead-lettered.

While SkyPortal is down the sweep retries the oldest action only - the rest wait behind it, uncharged -
so an outage costs one request per backoff step, not one per action, and a long outage dead-letters
(at most) that one action per ``max_attempts`` tries.

:class:`SenderThread` runs sweeps in a thread of its own, with its own connection to the state: woken
when a batch records new intents, and every ``poll`` seconds (a PostgreSQL worker then also picks up what
a dead worker left). The live stream uses it, so a batch's offsets are committed once its intents are
durable, never after SkyPortal answered. ``btsbot-fast autoscan --send-pending STATE`` is one inline sweep.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable

from .actions import FOLLOWUP, SAVE, ActionRunner
from .state import OPEN_STATES, ActionRow, Store

log = logging.getLogger("btsbot_fast.autoscan")

#: a decision, as the state keys it: (objectId, policy)
DecisionKey = tuple[str, str]


class Sender:
    """Sweeps the open actions of ``store`` through ``runner``.

    ``on_finished(store, key, resumed)`` is called for each decision of the sweep after its actions were
    sent (those another worker holds stay as they are; ``resumed``: the decision was not handed in through
    ``new``, and is reported only if this sweep sent one of its actions); ``on_outcome(kind, state,
    error)`` for each action finished. Both are called on the sweeping thread with its ``store``."""

    def __init__(self, store: Store, runner: ActionRunner, *, clock: Callable[[], float] = time.time,
                 on_finished: Callable[[Store, DecisionKey, bool], None] | None = None,
                 on_outcome: Callable[[str, str, str | None], None] | None = None,
                 should_stop: Callable[[], bool] = lambda: False):
        self.store = store
        self.runner = runner
        self.clock = clock
        self.on_finished = on_finished
        self.on_outcome = on_outcome
        self.should_stop = should_stop

    def sweep(self, new: Iterable[DecisionKey] = ()) -> int:
        """Send every open action once through its retries; returns how many actions were sent."""
        groups: dict[DecisionKey, list[ActionRow]] = {key: [] for key in new}
        resumed: set[DecisionKey] = set()
        for action in self.store.open_actions():
            key = (action.object_id, action.policy)
            if key not in groups:
                groups[key] = []
                resumed.add(key)
            groups[key].append(action)
        sent_total = 0
        for key, actions in groups.items():
            if self.should_stop():
                break
            sent = False
            for action in actions:
                owned = self.store.claim(action.id)
                if owned is None:  # finished meanwhile, or another worker is sending it
                    continue
                try:
                    sent = self._send(owned) or sent
                finally:
                    self.store.release(owned.id)
            sent_total += sent
            if key in resumed and not sent:
                continue
            if self.on_finished is not None:
                self.on_finished(self.store, key, key in resumed)
        return sent_total

    def _send(self, action: ActionRow) -> bool:
        store = self.store
        if action.kind == FOLLOWUP:
            save = store.action_state(action.object_id, SAVE)
            if save in OPEN_STATES:
                return False  # the save is being sent (here, later in this sweep, or by another worker)
            if save == "failed":
                store.finish(action, "failed", action.attempts, None, None,
                             "not sent: saving the source failed", self.clock())
                self._outcome(action.kind, "failed", None)
                return True
        base = action.attempts
        outcome = self.runner.run(action.kind, action.request,
                                  before_attempt=lambda n: store.mark_attempt(action.id, base + n, self.clock()))
        if outcome.state == "interrupted":  # stopping between retries: stays open (``sending``) for the next run
            return False
        store.finish(action, outcome.state, base + outcome.attempts, outcome.http_status, outcome.result,
                     outcome.error, self.clock())
        self._outcome(action.kind, outcome.state, outcome.error)
        return True

    def _outcome(self, kind: str, state: str, error: str | None) -> None:
        if self.on_outcome is not None:
            self.on_outcome(kind, state, error)


class SenderThread:
    """A :class:`Sender` in a daemon thread with its own state connection (``store``, closed by :meth:`stop`).

    ``sender_for(store, should_stop)`` builds the thread's :class:`Sender` (the runner's backoff sleep must
    wake on :meth:`stop`: use :meth:`wait`). An exception in the thread (the state became unusable) ends
    it and is kept in :attr:`error`; the caller raises it (the stream then stops without committing)."""

    def __init__(self, store: Store, sender_for: Callable[[Store, Callable[[], bool]], Sender], *,
                 poll: float = 5.0):
        self.store = store
        self.poll = poll
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
        try:
            while not self._stop.is_set():
                self._wake.clear()
                with self._new_lock:
                    new, self._new = self._new, []
                self.sender.sweep(new)
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


__all__ = ["Sender", "SenderThread"]

