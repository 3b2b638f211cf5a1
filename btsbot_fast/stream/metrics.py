"""Prometheus metrics of a running stream (``btsbot-fast stream --metrics-port PORT``): ``/metrics`` in the
Prometheus text format and ``/healthz`` (200 while the loop turns, 503 when it has not for a while).

``prometheus_client`` (the ``[metrics]`` extra) is imported only when metrics are asked for. The stream's
own counts are fed by :class:`~btsbot_fast.stream.stats.StreamStats` as they happen; the autoscan counts
are read from the autoscan state at scrape time (:func:`btsbot_fast.autoscan.state.metric_counts`), so
they are true whichever process decided or acted. The server listens on 127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from ..messages import install_hint

log = logging.getLogger("btsbot_fast.stream")

INSTALL_HINT = "--metrics-port needs prometheus_client: " + install_hint("metrics")
#: /healthz answers 503 when the loop has not turned for this long (stuck in a sink, the hook, a commit)
STALE_AFTER_SECONDS = 120.0
#: how often the loop asks the brokers for the lag (two requests per assigned partition)
LAG_INTERVAL_SECONDS = 5.0
#: batch_seconds buckets: a batch of 64 alerts takes ~0.1 s on one core; seconds mean trouble
BATCH_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


def require_prometheus() -> Any:
    try:
        import prometheus_client
    except ImportError:
        raise ImportError(INSTALL_HINT) from None
    return prometheus_client


def _state_errors() -> tuple[type[BaseException], ...]:
    import sqlite3

    try:
        import psycopg
    except ImportError:
        return (sqlite3.Error,)
    return (sqlite3.Error, psycopg.Error)


class _AutoscanCollector:
    """Decisions per policy, actions per kind and state, open actions: counted in the state when scraped."""

    def __init__(self, state: str):
        self.state = state

    def collect(self):
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        from ..autoscan.state import metric_counts

        try:
            counts = metric_counts(self.state)
        except _state_errors() as exc:  # the stream's own metrics are still served
            log.warning("autoscan metrics unavailable: %s: %s", type(exc).__name__, str(exc).strip()[:200])
            return []
        decisions = CounterMetricFamily("btsbot_fast_autoscan_decisions", "Decisions recorded in the autoscan "
                                        "state, per policy", labels=["policy"])
        for policy, n in sorted(counts.decisions.items()):
            decisions.add_metric([policy], n)
        actions = GaugeMetricFamily("btsbot_fast_autoscan_actions_total", "SkyPortal actions in the autoscan "
                                    "state, per kind and state (pending, sending, done, failed)",
                                    labels=["kind", "state"])
        for (kind, state), n in sorted(counts.actions.items()):
            actions.add_metric([kind, state], n)
        pending = GaugeMetricFamily("btsbot_fast_autoscan_pending_actions", "Actions not finished yet "
                                    "(pending, or sent with no recorded outcome)", value=counts.open_actions)
        refused = GaugeMetricFamily("btsbot_fast_autoscan_token_refused", "1 while SkyPortal refuses the token "
                                    "(HTTP 401): nothing is sent, every action stays pending",
                                    value=int(counts.token_refused))
        return [decisions, actions, pending, refused]


class StreamMetrics:
    """The stream's Prometheus metrics (its own registry) and the HTTP server that serves them."""

    def __init__(self, autoscan_state: str | None = None, stale_after: float = STALE_AFTER_SECONDS):
        prom = require_prometheus()
        self.registry = prom.CollectorRegistry()
        r = self.registry
        self.alerts = prom.Counter("btsbot_fast_alerts", "Alert rows written, per status", ["status"], registry=r)
        self.batches = prom.Counter("btsbot_fast_batches", "Batches of messages scored", registry=r)
        self.batch_seconds = prom.Histogram("btsbot_fast_batch_seconds", "Seconds from a batch's arrival to its "
                                            "rows handed to the outputs", buckets=BATCH_BUCKETS, registry=r)
        self.commits = prom.Counter("btsbot_fast_commits", "Offset commits that succeeded", registry=r)
        self.commit_failures = prom.Counter("btsbot_fast_commit_failures", "Offset commits that failed", registry=r)
        self.lag = prom.Gauge("btsbot_fast_consumer_lag", "Messages not yet committed per assigned partition "
                              "(high watermark - committed offset)", ["topic", "partition"], registry=r)
        if autoscan_state is not None:
            r.register(_AutoscanCollector(autoscan_state))
        self.stale_after = stale_after
        self._beat = time.monotonic()
        self._next_lag = 0.0
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def beat(self) -> None:
        """The loop turned (called every iteration)."""
        self._beat = time.monotonic()

    def lag_due(self) -> bool:
        now = time.monotonic()
        if now < self._next_lag:
            return False
        self._next_lag = now + LAG_INTERVAL_SECONDS
        return True

    def set_lag(self, lag: dict[tuple[str, int], int]) -> None:
        self.lag.clear()
        for (topic, partition), n in lag.items():
            self.lag.labels(topic, str(partition)).set(n)

    def _app(self):
        from prometheus_client import make_wsgi_app

        metrics = make_wsgi_app(self.registry)

        def app(environ, start_response):
            path = environ.get("PATH_INFO", "/")
            if path == "/metrics":
                return metrics(environ, start_response)
            if path == "/healthz":
                idle = time.monotonic() - self._beat
                ok = idle < self.stale_after
                body = ("ok\n" if ok else f"stalled: the stream loop has not turned for {idle:.0f} s\n").encode()
                start_response("200 OK" if ok else "503 Service Unavailable",
                               [("Content-Type", "text/plain; charset=utf-8")])
                return [body]
            start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
            return [b"not found: try /metrics or /healthz\n"]
        return app

    def serve(self, port: int, host: str = "127.0.0.1") -> int:
        """Serve /metrics and /healthz on a daemon thread; returns the port (useful with port 0)."""
        from wsgiref.simple_server import WSGIRequestHandler, make_server

        from prometheus_client.exposition import ThreadingWSGIServer

        class Quiet(WSGIRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # scrapes are not news
                pass

        try:
            self._server = make_server(host, port, self._app(), ThreadingWSGIServer, handler_class=Quiet)
        except OSError as exc:
            raise OSError(f"cannot serve metrics on {host}:{port}: {exc.strerror or exc}") from None
        self._thread = threading.Thread(target=self._server.serve_forever, name="btsbot-fast-metrics", daemon=True)
        self._thread.start()
        bound = self._server.server_port
        log.info("metrics on http://%s:%d/metrics (health: /healthz)", host, bound)
        return bound

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
