"""``DIR/monitor.prom``: the monitor's figures in the Prometheus text format, for node_exporter's textfile
collector (``--collector.textfile.directory``; write DIR there or copy the file). Written with
``prometheus_client`` (the ``[metrics]`` extra), atomically (a scrape never reads half a file).

Every figure is a gauge labelled ``policy`` and ``window`` (``all`` / ``night`` / ... and
``last_30_nights``); a figure that is null in monitor.json (nothing classified, nothing saved by the
scanners) has no sample, so an alert on it waits for data instead of firing on a made-up zero.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..messages import install_hint

PROM_NAME = "monitor.prom"
INSTALL_HINT = "monitor.prom needs prometheus_client: " + install_hint("monitor")
PREFIX = "btsbot_fast_monitor_"
#: monitor.json field -> (metric suffix, help)
FIGURES = {
    "decided": ("decided", "Sources the policy selected in the window"),
    "classified": ("classified", "Selected sources with a truth class"),
    "real": ("real", "Selected, classified sources that are real extragalactic transients"),
    "unclassified": ("unclassified", "Selected sources without a truth class yet"),
    "purity": ("purity", "Real / classified among the selected sources"),
    "bts_bright": ("bts_bright", "BTS candidates that are real with peak magnitude <= 18.5"),
    "bts_bright_decided": ("bts_bright_decided", "Of the bright BTS sources, those the policy selected"),
    "completeness": ("completeness", "Selected bright BTS sources / bright BTS sources"),
}


class _Collector:
    def __init__(self, result: Mapping[str, Any], now: float):
        self.result, self.now = result, now

    def collect(self):
        from prometheus_client.core import GaugeMetricFamily

        windows = {self.result["window"]["name"]: self.result["policies"],
                   **{name: w["policies"] for name, w in self.result["windows"].items()}}
        for key, (suffix, text) in FIGURES.items():
            g = GaugeMetricFamily(PREFIX + suffix, text, labels=["policy", "window"])
            for window, policies in windows.items():
                for policy, figs in sorted(policies.items()):
                    if figs[key] is not None:
                        g.add_metric([policy, window], float(figs[key]))
            yield g
        delay = GaugeMetricFamily(PREFIX + "delay_median_seconds", "Median of the triggering alert's time minus "
                                  "the scanners' save time (seconds; negative: the bot was earlier)",
                                  labels=["policy", "window"])
        saved = GaugeMetricFamily(PREFIX + "delay_sources", "Selected sources with a scanners' save time",
                                  labels=["policy", "window"])
        for window, policies in windows.items():
            for policy, figs in sorted(policies.items()):
                d = figs["delays_days"]
                saved.add_metric([policy, window], float(d["n"]))
                if d["median"] is not None:
                    delay.add_metric([policy, window], float(d["median"]) * 86400.0)
        yield delay
        yield saved
        actions = GaugeMetricFamily(PREFIX + "actions", "SkyPortal actions of the policy's decisions, per state "
                                    "(pending, sending, done, failed)", labels=["policy", "state"])
        pending = GaugeMetricFamily(PREFIX + "pending_actions", "Actions not finished yet (pending or sending)",
                                    labels=["policy"])
        for policy, counts in sorted(self.result["actions"].items()):
            for state, n in sorted(counts.items()):
                actions.add_metric([policy, state], float(n))
            pending.add_metric([policy], float(counts.get("pending", 0) + counts.get("sending", 0)))
        yield actions
        yield pending
        yield GaugeMetricFamily(PREFIX + "last_run_timestamp_seconds", "When the monitor last measured (Unix time)",
                                value=self.now)


def require_prometheus_client() -> None:
    try:
        import prometheus_client  # noqa: F401
    except ImportError:
        raise ImportError(INSTALL_HINT) from None


def write_prom(result: Mapping[str, Any], out_dir: str | os.PathLike[str], now: float | None = None) -> Path:
    try:
        from prometheus_client import CollectorRegistry, write_to_textfile
    except ImportError:
        raise ImportError(INSTALL_HINT) from None
    registry = CollectorRegistry()
    registry.register(_Collector(result, time.time() if now is None else now))
    path = Path(out_dir) / PROM_NAME
    write_to_textfile(str(path), registry)
    return path


__all__ = ["FIGURES", "PREFIX", "PROM_NAME", "require_prometheus_client", "write_prom"]
