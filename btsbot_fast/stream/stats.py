"""Running counts of the stream and their periodic report (a stderr line, and a JSON line for monitoring).

Nothing here ever sees the Kafka configuration, so no credential can reach a report.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, TextIO

from ..messages import plural
from .rows import utc_now


@dataclass
class StreamStats:
    """Counts since the start of the run, plus what the last report saw (for rates)."""

    started: float = field(default_factory=time.monotonic)
    messages: int = 0
    rows: int = 0
    batches: int = 0
    commits: int = 0
    commit_failures: int = 0
    status: Counter = field(default_factory=Counter)
    #: the Prometheus metrics fed with the same counts (btsbot_fast.stream.metrics), when served
    metrics: Any = None
    #: monotonic time of the first message and of the last batch made durable (throughput window)
    first_message: float | None = None
    last_durable: float | None = None
    _last_report: float = field(default_factory=time.monotonic)
    _last_messages: int = 0

    def count_batch(self, messages: int, rows: list[dict[str, Any]], seconds: float) -> None:
        if self.first_message is None and messages:
            self.first_message = time.monotonic()
        self.messages += messages
        self.rows += len(rows)
        self.batches += 1
        statuses = Counter(r["status"] for r in rows)
        self.status.update(statuses)
        if self.metrics is not None:
            for status, n in statuses.items():
                self.metrics.alerts.labels(status).inc(n)
            self.metrics.batches.inc()
            self.metrics.batch_seconds.observe(seconds)

    def count_commit(self, ok: bool) -> None:
        if ok:
            self.commits += 1
        else:
            self.commit_failures += 1
        if self.metrics is not None:
            (self.metrics.commits if ok else self.metrics.commit_failures).inc()

    @property
    def busy_seconds(self) -> float:
        """From the first message received to the last batch made durable."""
        if self.first_message is None or self.last_durable is None:
            return 0.0
        return self.last_durable - self.first_message

    def snapshot(self, lag: dict[str, int]) -> dict[str, Any]:
        now = time.monotonic()
        interval = max(now - self._last_report, 1e-9)
        rate = (self.messages - self._last_messages) / interval
        self._last_report, self._last_messages = now, self.messages
        busy = self.busy_seconds
        return {
            "time": utc_now(),
            "elapsed_s": round(now - self.started, 3),
            "alerts": self.messages,
            "rows": self.rows,
            "batches": self.batches,
            "commits": self.commits,
            "commit_failures": self.commit_failures,
            "interval_s": round(interval, 3),
            "alerts_per_s": round(rate, 2),
            "mean_alerts_per_s": round(self.messages / busy, 2) if busy > 0 else None,
            "status": dict(sorted(self.status.items())),
            "errors": sum(n for s, n in self.status.items() if s != "ok"),
            "lag": lag,
            "lag_total": sum(lag.values()),
        }


def format_line(snap: dict[str, Any]) -> str:
    errors = {s: n for s, n in snap["status"].items() if s != "ok"}
    err_text = ", ".join(f"{s} {n}" for s, n in errors.items()) or "none"
    lag = snap["lag"]
    lag_text = " ".join(f"{tp}={n}" for tp, n in list(lag.items())[:8]) + (" ..." if len(lag) > 8 else "")
    return (f"stream: {plural(snap['alerts'], 'alert')}, {plural(snap['rows'], 'row')}, "
            f"{snap['alerts_per_s']:,.1f} alerts/s; "
            f"errors: {err_text}; lag {snap['lag_total']}" + (f" ({lag_text})" if lag else ""))


class StatsReporter:
    """Writes a report every ``interval`` seconds: a line to ``stream`` (stderr) and, when a path is
    given, one JSON object per line to it (appended, flushed each time)."""

    def __init__(self, interval: float, stream: TextIO | None, json_path: str | os.PathLike[str] | None):
        self.interval = interval
        self.stream = stream
        self._json: TextIO | None = open(json_path, "a", encoding="utf-8") if json_path else None
        self._next = time.monotonic() + interval

    def due(self) -> bool:
        return self.interval > 0 and time.monotonic() >= self._next

    def report(self, snap: dict[str, Any], final: bool = False, line: bool = True) -> None:
        """Write ``snap`` as a JSON object (when a path was given) and, unless ``line`` is false, as a line."""
        self._next = time.monotonic() + self.interval
        if final:
            snap = {**snap, "final": True}
        if self.stream is not None and line:
            print(format_line(snap), file=self.stream, flush=True)
        if self._json is not None:
            self._json.write(json.dumps(snap) + "\n")
            self._json.flush()

    def close(self) -> None:
        if self._json is not None:
            self._json.close()
            self._json = None
