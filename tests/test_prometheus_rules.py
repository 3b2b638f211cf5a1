"""The shipped Prometheus alert rules (deploy/prometheus/btsbot-fast-rules.yml) under ``promtool test
rules``: each alert fires on the series that should fire it, with the labels and annotations an
on-call person reads, only after its ``for`` duration, and stays silent on healthy series. The
series carry the metric names the stream (btsbot_fast/stream/metrics.py) and the monitor
(btsbot_fast/monitor/prom.py) export. A live Prometheus scraping a real stream is test_monitor's."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

RULES = Path(__file__).resolve().parents[1] / "deploy" / "prometheus" / "btsbot-fast-rules.yml"
STREAM = 'job="btsbot-fast-stream"'
MINUTES_IN_51H = 51 * 60


def series(name: str, labels: str, values: str) -> dict:
    return {"series": f"{name}{{{labels}}}", "values": values}


def alert(name: str, at: str, *firing: dict) -> dict:
    return {"alertname": name, "eval_time": at, "exp_alerts": list(firing)}


def firing(labels: dict, summary: str, description: str) -> dict:
    return {"exp_labels": labels, "exp_annotations": {"summary": summary, "description": description}}


STREAM_DOWN = ("The stream's /metrics has not answered for 5 minutes: the process stopped or hangs. Alerts are not "
               "being scored.")
STALLED = "Consumer lag is {} and no batch was scored for 10 minutes. Check /healthz and the stream's log."
LAG = ("The consumer lag has grown for 30 minutes (now above 1000 messages): more threads, more consumers in the "
       "group, or a slower output.")
COMMITS = "Offset commits failed in the last 15 minutes: a restart would score those alerts again."
PENDING = ("Saves or follow-up requests are queued and retried. Check SkyPortal and the token; "
           "`btsbot-fast autoscan --send-pending STATE` sends them.")
DEAD = ("SkyPortal refused them for good; the reasons are in the state's dead_letters table. Fix the cause, then "
        "`btsbot-fast autoscan --send-pending STATE --retry-failed`.")
PURITY = ("Fewer than 85% of the classified sources the policy selected are real extragalactic transients (the "
          "BTSbot team measured 93-96%). Look at the false positives in monitor.json / the night page: the model "
          "may be drifting.")
STALE = "monitor.prom is older than 48 hours: is the morning `btsbot-fast monitor` job still scheduled?"

TESTS = [
    {   # the stream: one instance of each kind per alert, on one-minute samples
        "interval": "1m",
        "input_series": [
            series("up", f'{STREAM},instance="gone:9"', "1 1 0x20"),
            series("up", f'{STREAM},instance="alive:9"', "1x22"),
            # stalled: messages waiting (two partitions, summed) and the batch counter flat
            series("btsbot_fast_consumer_lag", f'{STREAM},instance="stalled:9",topic="ztf",partition="0"', "20x40"),
            series("btsbot_fast_consumer_lag", f'{STREAM},instance="stalled:9",topic="ztf",partition="1"', "30x40"),
            series("btsbot_fast_batches_total", f'{STREAM},instance="stalled:9"', "100x40"),
            # busy: the same lag, but batches scored every minute
            series("btsbot_fast_consumer_lag", f'{STREAM},instance="busy:9",topic="ztf",partition="0"', "50x40"),
            series("btsbot_fast_batches_total", f'{STREAM},instance="busy:9"', "0+10x40"),
            # idle: nothing scored because nothing waits
            series("btsbot_fast_consumer_lag", f'{STREAM},instance="idle:9",topic="ztf",partition="0"', "0x40"),
            series("btsbot_fast_batches_total", f'{STREAM},instance="idle:9"', "100x40"),
            # commit failures: new ones every minute, or old ones only (the counter flat)
            series("btsbot_fast_commit_failures_total", f'{STREAM},instance="failing:9"', "0+1x40"),
            series("btsbot_fast_commit_failures_total", f'{STREAM},instance="recovered:9"', "3x40"),
        ],
        "alert_rule_test": [
            alert("BtsbotFastStreamDown", "4m"),  # down since 2m: pending, not firing yet
            alert("BtsbotFastStreamDown", "10m", firing(
                {"severity": "critical", "job": "btsbot-fast-stream", "instance": "gone:9"},
                "btsbot-fast stream gone:9 is not answering scrapes", STREAM_DOWN)),
            alert("BtsbotFastStreamStalled", "8m"),  # flat for 8 minutes: not yet
            alert("BtsbotFastStreamStalled", "25m", firing(
                {"severity": "critical", "instance": "stalled:9"},
                "btsbot-fast stream stalled:9 has messages waiting but scores nothing", STALLED.format(50))),
            alert("BtsbotFastCommitFailures", "10m"),
            alert("BtsbotFastCommitFailures", "30m", firing(
                {"severity": "warning", "job": "btsbot-fast-stream", "instance": "failing:9"},
                "btsbot-fast stream failing:9 fails to commit offsets", COMMITS)),
        ],
    },
    {   # the lag over two hours
        "interval": "1m",
        "input_series": [
            # growing: 20 more messages waiting every minute, above 1000 from the start
            series("btsbot_fast_consumer_lag", f'{STREAM},instance="behind:9",topic="ztf",partition="0"',
                   "1001+20x120"),
            # large but steady: scoring as fast as ZTF sends
            series("btsbot_fast_consumer_lag", f'{STREAM},instance="steady:9",topic="ztf",partition="0"', "5000x120"),
            # growing but small
            series("btsbot_fast_consumer_lag", f'{STREAM},instance="small:9",topic="ztf",partition="0"', "0+5x120"),
            # was growing, then caught up and shrinking (still above 1000)
            series("btsbot_fast_consumer_lag", f'{STREAM},instance="catching-up:9",topic="ztf",partition="0"',
                   "2000+50x40 4000-50x80"),
        ],
        "alert_rule_test": [
            alert("BtsbotFastLagGrowing", "20m"),
            alert("BtsbotFastLagGrowing", "90m", firing(
                {"severity": "warning", "instance": "behind:9"},
                "btsbot-fast stream behind:9 falls behind the alert stream", LAG)),
        ],
    },
    {   # autoscan's actions in the stream's state
        "interval": "1m",
        "input_series": [
            series("btsbot_fast_autoscan_pending_actions", f'{STREAM},instance="stuck:9"', "3x90"),
            series("btsbot_fast_autoscan_pending_actions", f'{STREAM},instance="flowing:9"', "3x30 0x60"),
            series("btsbot_fast_autoscan_actions_total", f'{STREAM},instance="stuck:9",kind="save",state="failed"',
                   "2x10"),
            series("btsbot_fast_autoscan_actions_total", f'{STREAM},instance="stuck:9",kind="save",state="done"',
                   "40x10"),
            series("btsbot_fast_autoscan_actions_total", f'{STREAM},instance="stuck:9",kind="followup",state="failed"',
                   "0x10"),
        ],
        "alert_rule_test": [
            alert("BtsbotFastActionsPending", "50m"),
            alert("BtsbotFastActionsPending", "80m", firing(
                {"severity": "warning", "job": "btsbot-fast-stream", "instance": "stuck:9"},
                "3 SkyPortal action(s) waiting for an hour on stuck:9", PENDING)),
            alert("BtsbotFastActionsDeadLettered", "1m", firing(
                {"severity": "warning", "job": "btsbot-fast-stream", "instance": "stuck:9", "kind": "save",
                 "state": "failed"},
                "2 SkyPortal save action(s) dead-lettered", DEAD)),
        ],
    },
    {   # the morning monitor's textfile, over two days and a bit
        "interval": "1m",
        "input_series": [
            series("btsbot_fast_monitor_purity", 'job="node",instance="h:9",policy="drifting",window="last_30_nights"',
                   "0.7x90"),
            series("btsbot_fast_monitor_classified",
                   'job="node",instance="h:9",policy="drifting",window="last_30_nights"', "25x90"),
            # low purity on too few classified sources to say
            series("btsbot_fast_monitor_purity", 'job="node",instance="h:9",policy="few",window="last_30_nights"',
                   "0.5x90"),
            series("btsbot_fast_monitor_classified", 'job="node",instance="h:9",policy="few",window="last_30_nights"',
                   "10x90"),
            # good over 30 nights, one bad week
            series("btsbot_fast_monitor_purity", 'job="node",instance="h:9",policy="good",window="last_30_nights"',
                   "0.95x90"),
            series("btsbot_fast_monitor_classified", 'job="node",instance="h:9",policy="good",window="last_30_nights"',
                   "100x90"),
            series("btsbot_fast_monitor_purity", 'job="node",instance="h:9",policy="good",window="last_7_nights"',
                   "0.5x90"),
            series("btsbot_fast_monitor_classified", 'job="node",instance="h:9",policy="good",window="last_7_nights"',
                   "50x90"),
            # last ran at time 0 and never since; and one that ran every minute (its value: the time it ran)
            series("btsbot_fast_monitor_last_run_timestamp_seconds", 'job="node",instance="old:9"',
                   f"0x{MINUTES_IN_51H}"),
            series("btsbot_fast_monitor_last_run_timestamp_seconds", 'job="node",instance="fresh:9"',
                   f"0+60x{MINUTES_IN_51H}"),
        ],
        "alert_rule_test": [
            alert("BtsbotFastPurityLow", "50m"),
            alert("BtsbotFastPurityLow", "80m", firing(
                {"severity": "warning", "job": "node", "instance": "h:9", "policy": "drifting",
                 "window": "last_30_nights"},
                "btsbot-fast drifting: purity 70% over the last 30 nights", PURITY)),
            alert("BtsbotFastMonitorStale", "48h30m"),  # stale for 30 minutes: pending
            alert("BtsbotFastMonitorStale", "50h", firing(
                {"severity": "info", "job": "node", "instance": "old:9"},
                "btsbot-fast monitor has not run for two days", STALE)),
        ],
    },
]


def test_every_shipped_alert_fires_on_its_series_and_not_on_healthy_ones(tmp_path):
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool (the Debian package prometheus) is not installed")
    tested = {case["alertname"] for t in TESTS for case in t["alert_rule_test"] if case["exp_alerts"]}
    shipped = set()
    for line in RULES.read_text().splitlines():
        if line.strip().startswith("- alert:"):
            shipped.add(line.split(":", 1)[1].strip())
    assert tested == shipped, (shipped - tested, tested - shipped)
    spec = tmp_path / "rules_test.yml"  # JSON is YAML
    spec.write_text(json.dumps({"rule_files": [str(RULES)], "evaluation_interval": "1m", "tests": TESTS}, indent=1))
    res = subprocess.run([promtool, "test", "rules", str(spec)], capture_output=True, text=True, check=False,
                         timeout=120)
    assert res.returncode == 0 and "SUCCESS" in res.stdout, res.stdout + res.stderr


def test_a_wrong_expectation_fails(tmp_path):
    """The check above can fail: a healthy instance expected to fire makes promtool say so."""
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool (the Debian package prometheus) is not installed")
    wrong = json.loads(json.dumps(TESTS[0]))
    wrong["alert_rule_test"] = [alert("BtsbotFastStreamStalled", "25m", firing(
        {"severity": "critical", "instance": "busy:9"},
        "btsbot-fast stream busy:9 has messages waiting but scores nothing", STALLED.format(50)))]
    spec = tmp_path / "rules_test.yml"
    spec.write_text(json.dumps({"rule_files": [str(RULES)], "evaluation_interval": "1m", "tests": [wrong]}))
    res = subprocess.run([promtool, "test", "rules", str(spec)], capture_output=True, text=True, check=False,
                         timeout=120)
    assert res.returncode != 0 and "stalled:9" in res.stdout + res.stderr, res.stdout + res.stderr
