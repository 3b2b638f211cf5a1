"""Autoscan: scored alert rows -> per-source decisions -> SkyPortal actions, exactly once.

:class:`Autoscan` is what both the ``autoscan`` command and the live stream call. Its contract
(:meth:`Autoscan.process`):

* **Input**: an iterable of result rows, dicts with at least ``objectId``, ``candid``, ``jd``, ``magpsf``,
  ``fid``, ``score``, ``status`` and (with ``candidates = "bts"``, the default) ``bts_candidate``
  (``ScoreResult.as_dict()`` and the rows of a ``score`` table fit; other keys are ignored; a row
  without ``bts_candidate`` raises ``ValueError``: it was made before the filter existed). Rows whose
  status is not ``ok`` (or with no score or jd) are recorded and counted as failures and take no part in
  the policy or in candidacy. Rows without objectId or candid cannot be recorded; they are counted.
* **One transaction per call**: every row is stored (idempotent by candid) and each source's first
  candidate alert recorded (an earlier one arriving late replaces it), then each touched source that
  has no decision yet is judged on its whole scored history in jd order
  (:meth:`~btsbot_fast.policies.Policy.walk`: the first alert at which it is a candidate and the policy
  holds). A new decision and its actions (the intent) are committed together with the alerts.
* **Then the actions are sent** (:mod:`.sender`): by default synchronously, before ``process`` returns,
  each attempt committed before it is sent and each outcome after; actions left unfinished by an earlier
  process that died are resumed by the first call (and by every call, so that live workers pick up a dead
  worker's leftovers). After :meth:`Autoscan.start_sender` (the live stream) a background thread sends
  them instead and ``process`` returns as soon as the intents are committed: scoring never waits for
  SkyPortal.
* **Returns** the decisions made by this call, plus decisions whose unfinished actions it resumed, each
  with its actions' outcomes (with a background sender: as they stand, ``pending``); the same lines go to
  the decisions file when configured, once a decision's actions are finished.
* **Decisions taken before SkyPortal (or ``[followup]``) was configured** get the missing kinds of action
  planned when an :class:`Autoscan` opens the state (a follow-up only while the decision is younger than
  ``validity_days``; older ones are counted and logged), and sent like any other.
* **Re-delivery is harmless**: rows already stored change nothing, a decided source is never decided
  again, a finished action is never sent again. So the stream may call ``process`` after a batch's
  outputs are durable and commit its offsets after ``process`` returns; a crash in between re-delivers
  the batch and nothing is repeated.
* **Raises** only when the state cannot be used (:class:`~.state.StateError`, database errors): then the
  caller must not commit its offsets. SkyPortal failures never raise: what may pass (an outage, a refused
  token) leaves the actions ``pending`` for the next sweep or run (:attr:`RunStats.unreachable`,
  :attr:`RunStats.auth_refused` say why); a permanent refusal makes a ``failed`` action with a dead-letter
  row, and the run goes on.
* **Without SkyPortal settings, or in a dry run**, nothing is sent and queued actions stay as they are.

One :class:`Autoscan` per thread; several processes need a PostgreSQL state.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import threading
import time
from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np

from ..messages import plural
from ..rows import ScoreResult
from .actions import (
    ANNOTATION,
    CANDIDATE,
    COMMENT,
    FOLLOWUP,
    FOLLOWUP_COMMENT,
    KINDS,
    SAVE,
    ActionRunner,
    DecisionFacts,
    annotation_update,
    plan,
)
from .config import AutoscanConfig, load_config
from .sender import MAX_PAUSE, DecisionKey, Sender, SenderThread, SweepResult
from .skyportal import SkyPortal
from .state import AlertRow, DecisionRow, StateError, Store, open_store

log = logging.getLogger("btsbot_fast.autoscan")

#: Julian date of the Unix epoch
JD_UNIX_EPOCH = 2440587.5
_TRANSACTION_TRIES = 5
#: seconds ``process`` records without sending after SkyPortal failed (doubled at each failure)
QUIET_PAUSE = 10.0
#: the trail (and a candidate) planned for an earlier decision only while the action it goes with is not
#: done yet: an old save gets no comment when the trail is switched on later
_LATE_TRAIL_GATE = {CANDIDATE: SAVE, COMMENT: SAVE, ANNOTATION: SAVE, FOLLOWUP_COMMENT: FOLLOWUP}


def jd_to_unix(jd: float) -> float:
    return (jd - JD_UNIX_EPOCH) * 86400.0


def unix_to_utc(t: float) -> dt.datetime:
    """A Unix time as a naive UTC datetime."""
    return dt.datetime.fromtimestamp(t, tz=dt.timezone.utc).replace(tzinfo=None)


@dataclass
class Decision:
    """A source selected by the policy at its triggering alert, with what was done about it."""

    objectId: str
    policy: str
    candid: int
    jd: float
    score: float
    magpsf: float | None
    decided_at: float  # Unix time
    live: bool
    actions: list[dict[str, Any]] = field(default_factory=list)
    resumed: bool = False
    dry_run: bool = False

    @property
    def latency_s(self) -> float | None:
        """Seconds from the triggering alert's exposure (jd) to the decision; meaningful live only."""
        return self.decided_at - jd_to_unix(self.jd) if self.live else None

    def as_dict(self) -> dict[str, Any]:
        out = {"objectId": self.objectId, "policy": self.policy, "candid": self.candid, "jd": self.jd,
               "score": self.score, "magpsf": self.magpsf,
               "decided_at": unix_to_utc(self.decided_at).isoformat(timespec="milliseconds") + "Z", "live": self.live,
               "actions": self.actions}
        if self.live:
            out["latency_s"] = round(self.latency_s, 3)
        if self.resumed:
            out["resumed"] = True
        if self.dry_run:
            out["dry_run"] = True
        return out


@dataclass
class RunStats:
    """What one run (one :class:`Autoscan`) saw and did; the nightly report is made from it."""

    rows: int = 0
    scored: int = 0
    failed: int = 0  # rows with a status other than ok, or no score / jd
    unusable: int = 0  # rows without objectId or candid (cannot be recorded)
    new_alerts: int = 0
    duplicates: int = 0  # candids already in the state (re-delivered or replayed)
    sources: set[str] = field(default_factory=set)
    candidate_sources: set[str] = field(default_factory=set)  # with a scored alert that passed the BTS filter
    decisions: Counter = field(default_factory=Counter)  # per policy
    actions: Counter = field(default_factory=Counter)  # per (kind, state)
    failure_messages: Counter = field(default_factory=Counter)
    planned_late: Counter = field(default_factory=Counter)  # per kind: actions planned for earlier decisions
    latencies: list[float] = field(default_factory=list)
    #: why sending stopped early, if it did: SkyPortal refused the token, or could not be reached
    auth_refused: str | None = None
    unreachable: str | None = None
    # for the figure: every new scored alert (jd, score; compact: a night is a few 100k) and each decision
    alert_jd: array = field(default_factory=lambda: array("d"))
    alert_score: array = field(default_factory=lambda: array("d"))
    decision_points: list[tuple[float, float, str]] = field(default_factory=list)

    def actions_in(self, state: str) -> int:
        """How many actions, of every kind, this run left in ``state`` (``done``, ``failed`` or ``pending``)."""
        return sum(n for (_, s), n in self.actions.items() if s == state)


class Autoscan:
    """Decide and act on scored alerts; see the module docstring for the :meth:`process` contract.

    ``live=True`` (the stream) marks decisions as live, which gives them a latency (alert jd -> decision).
    ``dry_run=True`` sends nothing and leaves the state as it was. ``token`` overrides the configured
    token source (tests); ``sleep`` and ``clock`` are the retry backoff's and the decisions' time.
    """

    def __init__(self, config: AutoscanConfig, *, dry_run: bool = False, live: bool = False,
                 token: str | None = None, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.time):
        self.config = config
        self.policy = config.parsed_policy
        self.candidates = config.candidates
        self.dry_run = dry_run
        self.live = live
        self.clock = clock
        self.stats = RunStats()
        self._lock = threading.Lock()  # stats and the decisions file, shared with the sender thread
        self._thread: SenderThread | None = None
        client = None
        sp = config.skyportal
        if sp is not None and not dry_run:
            client = SkyPortal(sp.url, token if token is not None else sp.token(), timeout=sp.timeout)
        self.runner = self._runner(client, sleep)
        self._out: IO[str] | None = None
        self._reported: list[Decision] = []  # what an inline sweep reported, returned by process/resume
        self._quiet_until = 0.0  # after SkyPortal failed: process() sends again from then on
        self._pause = QUIET_PAUSE
        try:
            self.store: Store = open_store(config.state, dry_run=dry_run)
        except BaseException:
            if client is not None:
                client.close()
            raise
        try:
            if config.decisions is not None:
                path = Path(config.decisions)
                path.parent.mkdir(parents=True, exist_ok=True)
                self._out = open(path, "a", encoding="utf-8")
            self._plan_missing()
        except BaseException:
            self.close()
            raise
        self.sender = self._sender(self.store, self.runner)

    @classmethod
    def from_toml(cls, path: str | os.PathLike[str], **kwargs: Any) -> Autoscan:
        """An :class:`Autoscan` from a TOML file (:func:`~.config.load_config`); ``kwargs`` as for the class."""
        return cls(load_config(path), **kwargs)

    # --- the hook ---------------------------------------------------------------------------------
    def process(self, rows: Iterable[Mapping[str, Any]]) -> list[Decision]:
        """Record a batch of result rows, decide, act; returns this call's decisions (module docstring)."""
        with self._lock:  # the row counts share RunStats with the sender thread
            alerts, repeated = self._alert_rows(rows)
        now = self.clock()
        for attempt in range(1, _TRANSACTION_TRIES + 1):
            try:
                with self.store.transaction():
                    made, new = self._ingest(alerts, now)
                break
            except self.store.retryable_errors:
                if attempt == _TRANSACTION_TRIES:
                    raise
                time.sleep(0.05 * attempt)
        with self._lock:
            self.stats.new_alerts += len(new)
            self.stats.duplicates += len(alerts) - len(new) + repeated
            self.stats.sources.update(a.object_id for a in alerts)
            for a in new:
                if a.score is not None:
                    self.stats.alert_jd.append(a.jd)
                    self.stats.alert_score.append(a.score)
        keys = [(m.object_id, m.policy) for m in made]
        if self._thread is not None:  # the sender reports them (file, stats) when their actions are finished
            self._check_sender()
            self._thread.hand(keys)
            return [d for d in (self._decision(self.store, key, False) for key in keys) if d is not None]
        return self._sweep(keys)

    def start_sender(self, poll: float = 5.0) -> None:
        """Send actions from a background thread (own state connection) from now on: ``process`` only
        records them. Starts with what earlier runs left open. No-op without SkyPortal or in a dry run."""
        if self._thread is not None or self.runner.client is None:
            return
        sp = self.config.skyportal
        assert sp is not None

        def sender_for(store: Store, should_stop: Callable[[], bool]) -> Sender:
            runner = self._runner(self.runner.client, lambda s: thread.wait(s), should_stop)
            return self._sender(store, runner, should_stop)

        thread = SenderThread(self.store.sibling(), sender_for, poll=poll)
        self._thread = thread
        thread.start()

    def stop_sender(self) -> int:
        """Stop the background sender after its request in flight; returns how many actions stay open
        (sent by the next run, or ``btsbot-fast autoscan --send-pending``)."""
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.stop()
            if thread.error is not None:
                raise StateError(f"the autoscan sender failed: {type(thread.error).__name__}: {thread.error}")
        return self.store.open_action_count()

    def _check_sender(self) -> None:
        if self._thread is not None and self._thread.error is not None:
            error = self._thread.error
            raise StateError(f"the autoscan sender failed: {type(error).__name__}: {error}") from error

    def resume(self, force: bool = True) -> list[Decision]:
        """Send the actions left unfinished (by an earlier run, or by this one while SkyPortal failed);
        ``process`` does this too, but while SkyPortal is failing only every so often (``force=False``:
        only if such a pause has passed)."""
        if self._thread is not None:
            self._thread.hand([])
            return []
        return self._sweep([], force=force)

    def retry_failed(self) -> int:
        """Put dead-lettered actions back in the queue (sent by the next ``process``/``resume``)."""
        return self.store.retry_failed()

    def close(self) -> None:
        try:
            if self._thread is not None:
                self.stop_sender()
        finally:
            try:
                self.store.close()
            finally:
                if self._out is not None:
                    self._out.close()
                    self._out = None
                if self.runner.client is not None:
                    self.runner.client.close()

    def __enter__(self) -> Autoscan:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _alert_rows(self, rows: Iterable[Mapping[str, Any]]) -> tuple[list[AlertRow], int]:
        """The batch's recordable rows (first of each candid) and how many repeated a candid of the batch."""
        out: dict[int, AlertRow] = {}
        repeated = 0
        st = self.stats
        for r in rows:
            st.rows += 1
            # the one typed reader of score tables; a table without a status column holds scored rows
            row = ScoreResult.from_cells(r if r.get("status") else {**r, "status": "ok"})
            oid, candid = row.objectId, row.candid
            if not oid or candid is None:
                st.unusable += 1
                st.failure_messages["no objectId or candid"] += 1
                continue
            status, jd, score = row.status, row.jd, row.score
            if status != "ok" or score is None or jd is None:
                st.failed += 1
                st.failure_messages[status if status != "ok" else "no score or jd"] += 1
                score = None
                if status == "ok":
                    status = "incomplete_row"
            else:
                st.scored += 1
            if self.candidates == "bts" and "bts_candidate" not in r:
                raise ValueError(f"the row of candid {candid} has no bts_candidate (made before the BTS candidate "
                                 "filter: score the alerts again, or decide on every source with candidates 'all')")
            if candid in out:
                repeated += 1
                continue
            verdict = row.bts_candidate
            if verdict and score is not None:
                st.candidate_sources.add(oid)
            model = " ".join(v for v in (row.model, row.model_version) if v) or None
            out[candid] = AlertRow(oid, candid, jd, score, row.magpsf, row.fid, status, verdict, row.ra, row.dec,
                                   model)
        return list(out.values()), repeated

    def _ingest(self, alerts: list[AlertRow], now: float) -> tuple[list[DecisionRow], list[AlertRow]]:
        """Store the batch and judge its undecided sources (inside the caller's transaction)."""
        store, policy = self.store, self.policy
        store.lock_sources([a.object_id for a in alerts], now)
        known = store.known_alerts([a.candid for a in alerts])
        new = [a for a in alerts if a.candid not in known]
        scored_late = [a for a in alerts if known.get(a.candid) is False and a.score is not None]
        store.insert_alerts(new, now)
        store.add_scores(scored_late)
        # every row's verdict, replayed ones too: a state made before the filter learns candidacy on replay
        became = store.record_candidacy(alerts, now)
        touched = sorted({a.object_id for a in (*new, *scored_late) if a.score is not None} | became)
        undecided = sorted(set(touched) - store.decided(touched, policy.name))
        history = store.history(undecided)
        since = store.candidacy(undecided) if self.candidates == "bts" else {}
        made: list[DecisionRow] = []
        for oid in undecided:
            h = history.get(oid)
            if not h or (self.candidates == "bts" and oid not in since):
                continue
            scores = np.array([x[2] for x in h], dtype=np.float64)
            mags = np.array([np.nan if x[3] is None else x[3] for x in h], dtype=np.float64)
            # the recorded first candidate alert (jd, candid) stands for every verdict: the history is in
            # the same (jd, candid) order, so the source is a candidate from that alert on
            verdicts = (np.array([(x[1], x[0]) >= since[oid] for x in h], dtype=bool)
                        if self.candidates == "bts" else None)
            i = policy.walk(scores, mags, verdicts=verdicts)
            if i < 0:
                continue
            candid, jd, score, mag = h[i]
            d = DecisionRow(oid, policy.name, candid, jd, score, mag, now, self.live)
            if store.insert_decision(d):
                for action in plan(self._facts(d, h), self.config.skyportal, self.config.followup, unix_to_utc(now)):
                    store.insert_action(oid, policy.name, action.kind, action.key, action.request, now)
                made.append(d)
        sp = self.config.skyportal
        if sp is not None and sp.annotations and sp.update_annotations:
            # decided sources with new scores: their annotation is PUT anew (one action per latest alert)
            earlier = sorted(set(touched) - set(undecided))
            for oid, h in store.history(earlier).items():
                d = store.decision(oid, policy.name)
                if d is not None:
                    action = annotation_update(self._facts(d, h), sp, h[-1][0])
                    store.insert_action(oid, policy.name, action.kind, action.key, action.request, now)
        return made, [*new, *scored_late]

    def _facts(self, d: DecisionRow, history: list[tuple[int, float, float, float | None]]) -> DecisionFacts:
        """What the trail says about decision ``d``, from the source's scored history (jd order)."""
        details = self.store.alert_details(d.object_id)
        ra, dec, model = details.get(d.candid, (None, None, None))
        if ra is None or dec is None:  # the trigger came from a table without them: any alert's position
            ra, dec = next(((a, b) for a, b, _ in details.values() if a is not None and b is not None), (None, None))
        scores = [x[2] for x in history]
        return DecisionFacts(d.object_id, d.policy, d.candid, d.score, self.policy.threshold, ra, dec, model,
                             max(scores) if scores else None, scores[-1] if scores else None,
                             sum(x > self.policy.threshold for x in scores))

    def _runner(self, client: SkyPortal | None, sleep: Callable[[float], None],
                should_stop: Callable[[], bool] = lambda: False) -> ActionRunner:
        sp = self.config.skyportal
        if sp is None:
            return ActionRunner(None)
        return ActionRunner(client, max_attempts=sp.max_attempts, backoff=sp.backoff, sleep=sleep,
                            should_stop=should_stop, clock=self.clock, followup_grace=sp.followup_grace,
                            update_annotations=sp.update_annotations)

    def _plan_missing(self) -> None:
        """Plan the configured kinds of action that earlier decisions of this policy never got (decided
        without SkyPortal, or before ``[followup]``); a follow-up only while the decision is younger than
        ``validity_days`` - an older source's spectrum window has passed."""
        sp, fu = self.config.skyportal, self.config.followup
        if sp is None:
            return
        now = self.clock()
        too_old = 0
        probe = DecisionFacts("-", self.policy.name, 0, 0.0, self.policy.threshold)
        kinds = {a.kind for a in plan(probe, sp, fu, unix_to_utc(now))}
        with self.store.transaction():
            for kind in (k for k in KINDS if k in kinds):
                for d in self.store.decisions_without(self.policy.name, kind):
                    if kind in (FOLLOWUP, FOLLOWUP_COMMENT) and now - d.decided_at > fu.validity_days * 86400.0:
                        too_old += kind == FOLLOWUP
                        continue
                    gate = _LATE_TRAIL_GATE.get(kind)
                    if gate is not None and self.store.action_state(d.object_id, gate) == "done":
                        continue  # no comment (or candidate) long after the save it belongs with
                    facts = self._facts(d, self.store.history([d.object_id]).get(d.object_id, []))
                    for action in plan(facts, sp, fu, unix_to_utc(now)):
                        if action.kind == kind:
                            self.store.insert_action(d.object_id, d.policy, kind, action.key, action.request, now)
                            self.stats.planned_late[kind] += 1
        for kind, n in sorted(self.stats.planned_late.items()):
            log.warning("autoscan: %s had no %s action: planned now",
                        plural(n, f"earlier {self.policy.name} decision"), kind)
        if too_old:
            log.warning("autoscan: %s older than validity_days (%g) get no follow-up request",
                        plural(too_old, f"earlier {self.policy.name} decision"), fu.validity_days)

    def _sender(self, store: Store, runner: ActionRunner,
                should_stop: Callable[[], bool] = lambda: False) -> Sender:
        return Sender(store, runner, clock=self.clock, should_stop=should_stop,
                      on_finished=lambda st, key, resumed: self._report(st, key, resumed),
                      on_outcome=self._count_outcome, on_swept=self._note)

    def _sweep(self, new: list[DecisionKey], force: bool = False) -> list[Decision]:
        """Send the open actions inline and return the decisions reported meanwhile. After SkyPortal
        failed (down, or refusing the token) ``process`` records without sending for a pause that doubles
        up to :data:`~.sender.MAX_PAUSE` (a night's batches do not each wait through the retries)."""
        self._reported = []
        self.sender.sweep(new, send=force or self.clock() >= self._quiet_until)
        out, self._reported = self._reported, []
        return out

    def _note(self, result: SweepResult) -> None:
        with self._lock:  # as the last sweep that sent left it
            self.stats.auth_refused, self.stats.unreachable = result.auth_refused, result.unreachable
            if result.auth_refused or result.unreachable:
                self._quiet_until = self.clock() + self._pause
                self._pause = min(self._pause * 2, MAX_PAUSE)
            elif result.sent:
                self._pause = QUIET_PAUSE

    def _count_outcome(self, kind: str, state: str, error: str | None) -> None:
        if state == "pending":  # not an outcome yet: the run's end counts what stays open (in the state)
            return
        with self._lock:
            self.stats.actions[(kind, state)] += 1
            if error:
                self.stats.failure_messages[error[:160]] += 1

    def _decision(self, store: Store, key: DecisionKey, resumed: bool) -> Decision | None:
        row = store.decision(*key)
        if row is None:
            return None
        return Decision(row.object_id, row.policy, row.candid, row.jd, row.score, row.magpsf, row.decided_at,
                        row.live, store.actions_of(row.object_id), resumed=resumed, dry_run=self.dry_run)

    def _report(self, store: Store, key: DecisionKey, resumed: bool) -> None:
        """The decision with its actions as they stand, counted and written to the decisions file."""
        d = self._decision(store, key, resumed)
        if d is None:
            return
        with self._lock:
            if not resumed:
                self.stats.decisions[d.policy] += 1
                self.stats.decision_points.append((d.jd, d.score, d.objectId))
                if d.latency_s is not None:
                    self.stats.latencies.append(d.latency_s)
            if self._out is not None:
                self._out.write(json.dumps(d.as_dict()) + "\n")
                self._out.flush()
            if self._thread is None:
                self._reported.append(d)


__all__ = ["Autoscan", "Decision", "RunStats", "jd_to_unix", "unix_to_utc"]
